//! A scripted fake agent for tests: a listener on a thread that answers each
//! connection with the next scripted answer, then closes it, and reports
//! every request it read.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use super::{Client, Target};

/// One scripted answer: pieces written one after another with a short pause
/// between them (so the client sees separate reads), then the close.
pub(crate) type Answer = Vec<Vec<u8>>;

/// A fake agent; its socket file is removed when it is dropped.
pub(crate) struct FakeAgent {
    target: Target,
    requests: mpsc::Receiver<String>,
}

/// A socket path no other test uses.
pub(crate) fn unique_socket_path() -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    std::env::temp_dir().join(format!(
        "weft-test-{}-{}.sock",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

/// An answer with a JSON body and `Content-Length`.
pub(crate) fn json(status: u16, body: &str) -> Answer {
    vec![
        format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    ]
}

/// A chunked answer, one piece per chunk; `end` writes the last chunk.
pub(crate) fn chunked(content_type: &str, chunks: &[&str], end: bool) -> Answer {
    let mut out = vec![
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        .into_bytes(),
    ];
    out.extend(chunks.iter().map(|c| format!("{:x}\r\n{c}\r\n", c.len()).into_bytes()));
    if end {
        out.push(b"0\r\n\r\n".to_vec());
    }
    out
}

/// Reads one request (head and `Content-Length` body) as text.
fn read_request(r: &mut impl BufRead) -> String {
    let mut text = String::new();
    let mut length = 0;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        text.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0; length];
    let _ = r.read_exact(&mut body);
    text.push_str(&String::from_utf8_lossy(&body));
    text
}

fn answer<S: Read + Write>(stream: S, answer: &Answer, requests: &mpsc::Sender<String>) {
    let mut r = BufReader::new(stream);
    let _ = requests.send(read_request(&mut r));
    let mut s = r.into_inner();
    for (i, piece) in answer.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
        if s.write_all(piece).and_then(|()| s.flush()).is_err() {
            return;
        }
    }
}

impl FakeAgent {
    /// A fake agent on a fresh unix socket.
    pub(crate) fn unix(answers: Vec<Answer>) -> Self {
        let path = unique_socket_path();
        let listener = UnixListener::bind(&path).expect("bind a test socket");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for a in &answers {
                let Ok((s, _)) = listener.accept() else { return };
                answer(s, a, &tx);
            }
        });
        Self { target: Target::Unix(path), requests: rx }
    }

    /// A fake agent on a loopback TCP port.
    pub(crate) fn tcp(answers: Vec<Answer>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a test port");
        let addr = listener.local_addr().expect("local address").to_string();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for a in &answers {
                let Ok((s, _)) = listener.accept() else { return };
                answer(s, a, &tx);
            }
        });
        Self { target: Target::Tcp(addr), requests: rx }
    }

    /// A client of this agent, with `token` if given.
    pub(crate) fn client(&self, token: Option<&str>) -> Client {
        Client::to(self.target.clone(), token)
    }

    /// The next request it read (waits up to five seconds).
    pub(crate) fn request(&self) -> String {
        self.requests.recv_timeout(Duration::from_secs(5)).expect("a request reached the fake")
    }
}

impl Drop for FakeAgent {
    fn drop(&mut self) {
        if let Target::Unix(p) = &self.target {
            let _ = std::fs::remove_file(p);
        }
    }
}
