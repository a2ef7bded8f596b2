//! A small W3C `WebDriver` client for the console test: Debian's `chromedriver`
//! started inside a lab site (so the browser sees the agent at
//! `127.0.0.1:7420` like a local operator), driving headless Chromium with a
//! fresh profile. Raw HTTP/1.1 over a TCP connection opened in the site's
//! namespace; JSON bodies.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::support::{Harness, wait_for};

/// chromedriver's port inside the site.
const PORT: u16 = 9515;

/// The W3C key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A browser session in site `site` of the harness's lab. Every command
/// takes the harness (its lab opens the connection in the site's namespace),
/// so the test keeps it free to change the lab in between.
pub(crate) struct Browser {
    site: usize,
    session: String,
    /// Where screenshots go.
    shots: PathBuf,
}

fn exchange(mut s: TcpStream, method: &str, path: &str, body: Option<&Value>) -> Value {
    let body = body.map(Value::to_string).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{PORT}\r\nConnection: close\r\n\
         Content-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("send to chromedriver");
    // chromedriver may keep the connection open: read the head, then
    // Content-Length bytes (or chunks up to the last one).
    let mut raw = Vec::new();
    let mut buf = vec![0_u8; 16384];
    let complete = |raw: &[u8]| -> bool {
        let text = String::from_utf8_lossy(raw);
        let Some((head, body)) = text.split_once("\r\n\r\n") else { return false };
        let head = head.to_ascii_lowercase();
        if let Some(n) = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|n| n.trim().parse::<usize>().ok())
        {
            return body.len() >= n;
        }
        head.contains("transfer-encoding: chunked") && body.ends_with("0\r\n\r\n")
    };
    while !complete(&raw) {
        let n = s.read(&mut buf).expect("read chromedriver's answer");
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_owned()
    };
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{method} {path}: {e}: {head}\n{body}"))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

fn call(h: &Harness, site: usize, method: &str, path: &str, body: Option<&Value>) -> Value {
    let s = h
        .lab
        .in_site(site, || TcpStream::connect(("127.0.0.1", PORT)))
        .expect("in site")
        .expect("connect to chromedriver");
    s.set_read_timeout(Some(Duration::from_mins(1))).unwrap();
    exchange(s, method, path, body)
}

impl Browser {
    /// Starts chromedriver in site `site` and opens a headless Chromium
    /// session with a fresh profile under `dir` (the lab kills chromedriver
    /// and its browser when it is dropped; [`Browser`]'s drop ends the session).
    pub(crate) fn start(h: &mut Harness, site: usize, dir: &Path, shots: PathBuf) -> Self {
        let log = dir.join("chromedriver.log");
        let profile = dir.join("chromium-profile");
        std::fs::create_dir_all(&profile).unwrap();
        std::fs::create_dir_all(&shots).unwrap();
        let port = format!("--port={PORT}");
        let log_arg = format!("--log-path={}", log.display());
        h.lab.spawn(site, &["chromedriver", &port, &log_arg]).expect("start chromedriver");
        h.add_log("chromedriver", log);
        let h: &Harness = h;
        wait_for("chromedriver to answer", Duration::from_secs(20), || {
            let s = h.lab.in_site(site, || TcpStream::connect(("127.0.0.1", PORT))).ok()?.ok()?;
            s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
            (exchange(s, "GET", "/status", None)["value"]["ready"] == true).then_some(())
        });
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,900",
        ];
        let mut args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args},
        }}});
        let r = call(h, site, "POST", "/session", Some(&caps));
        let session = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {r}"))
            .to_owned();
        Self { site, session, shots }
    }

    fn cmd(&self, h: &Harness, method: &str, what: &str, body: Option<&Value>) -> Value {
        let path = format!("/session/{}{what}", self.session);
        let t = Instant::now();
        let r = call(h, self.site, method, &path, body);
        if t.elapsed() > Duration::from_secs(5) {
            eprintln!(
                "webdriver: {method} {what} {} took {:?}",
                body.map(Value::to_string).unwrap_or_default(),
                t.elapsed()
            );
        }
        assert!(
            r["value"]["error"].is_null(),
            "WebDriver {method} {what} failed: {}",
            r["value"]["message"]
        );
        r["value"].clone()
    }

    /// Opens `url` and waits for the document.
    pub(crate) fn go(&self, h: &Harness, url: &str) {
        self.cmd(h, "POST", "/url", Some(&json!({ "url": url })));
    }

    /// The current URL.
    pub(crate) fn url(&self, h: &Harness) -> String {
        self.cmd(h, "GET", "/url", None).as_str().unwrap_or_default().to_owned()
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page.
    pub(crate) fn js(&self, h: &Harness, script: &str, args: &[Value]) -> Value {
        self.cmd(h, "POST", "/execute/sync", Some(&json!({ "script": script, "args": args })))
    }

    /// The element `css` (it must exist).
    pub(crate) fn find(&self, h: &Harness, css: &str) -> String {
        let v =
            self.cmd(h, "POST", "/element", Some(&json!({"using": "css selector", "value": css})));
        v[ELEMENT].as_str().unwrap_or_else(|| panic!("no element {css}: {v}")).to_owned()
    }

    /// How many elements match `css`.
    pub(crate) fn count(&self, h: &Harness, css: &str) -> usize {
        let v =
            self.cmd(h, "POST", "/elements", Some(&json!({"using": "css selector", "value": css})));
        v.as_array().map_or(0, Vec::len)
    }

    /// Clicks the element `css`.
    pub(crate) fn click(&self, h: &Harness, css: &str) {
        let e = self.find(h, css);
        self.cmd(h, "POST", &format!("/element/{e}/click"), Some(&json!({})));
    }

    /// Types `text` into the element `css`.
    pub(crate) fn type_into(&self, h: &Harness, css: &str, text: &str) {
        let e = self.find(h, css);
        self.cmd(h, "POST", &format!("/element/{e}/value"), Some(&json!({ "text": text })));
    }

    /// The visible text of `css`.
    pub(crate) fn text(&self, h: &Harness, css: &str) -> String {
        let e = self.find(h, css);
        self.cmd(h, "GET", &format!("/element/{e}/text"), None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Resizes the window.
    pub(crate) fn size(&self, h: &Harness, width: u32, height: u32) {
        self.cmd(h, "POST", "/window/rect", Some(&json!({ "width": width, "height": height })));
    }

    /// Saves a PNG of the viewport as `name.png`.
    pub(crate) fn shot(&self, h: &Harness, name: &str) {
        let b64 = self.cmd(h, "GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap_or_default())
            .expect("screenshot is base64");
        std::fs::write(self.shots.join(format!("{name}.png")), png).expect("write screenshot");
    }

    /// Polls the page until `script` returns something truthy (JSON
    /// `true`, a non-empty string or a number), or fails after `within`.
    pub(crate) fn wait_js(&self, h: &Harness, what: &str, within: Duration, script: &str) -> Value {
        let start = Instant::now();
        loop {
            let v = self.js(h, script, &[]);
            let truthy = match &v {
                Value::Bool(b) => *b,
                Value::String(s) => !s.is_empty(),
                Value::Number(_) | Value::Array(_) | Value::Object(_) => true,
                Value::Null => false,
            };
            if truthy {
                return v;
            }
            assert!(
                start.elapsed() < within,
                "timed out after {within:?} waiting for {what} (on {})",
                self.url(h)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Browser {
    /// Ends the session (the browser exits; chromedriver dies with the lab).
    pub(crate) fn quit(self, h: &Harness) {
        let path = format!("/session/{}", self.session);
        let _ = call(h, self.site, "DELETE", &path, None);
    }
}
