//! Global traffic management in a namespace lab: a DNS site (also the
//! controller and CA holder) answering for global services whose endpoints
//! run in three regions' sites, clients asking with `dig` (with and
//! without an EDNS client subnet), a service killed, a region's paths
//! browned out, a drain, and canaries — one that fails its checks and is
//! rolled back by the leader, one that reaches 100 %.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use weft_lab::Impairment;
use weftd::mesh::files::init_ca;

use crate::mesh::{seed_addr, token};
use crate::support::{Harness, wait_for};

const ZONE: &str = "gtm.test";
const DNS_PORT: &str = "5353";

/// A tiny HTTP server: answers every GET with `CODE`. (`server_bind` is
/// `TCPServer`'s: `HTTPServer`'s looks the address up in DNS, which in a lab
/// namespace waits for a resolver that is not there.)
const SERVER: &str = r#"
import http.server, socketserver, sys
code = int(sys.argv[3])
class S(http.server.ThreadingHTTPServer):
    def server_bind(self):
        socketserver.TCPServer.server_bind(self)
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(code)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a):
        pass
S((sys.argv[1], int(sys.argv[2])), H).serve_forever()
"#;

/// `METHOD path` with a JSON body on site `i`'s socket: (status, body as
/// JSON, or as a string when it is not JSON).
fn call(h: &Harness, i: usize, method: &str, path: &str, body: &Value) -> (u16, Value) {
    let out = std::process::Command::new("curl")
        .args(["-s", "--max-time", "20", "-w", "\n%{http_code}", "-X", method])
        .args(["-H", "Content-Type: application/json", "--data-binary", &body.to_string()])
        .arg("--unix-socket")
        .arg(h.socket(i))
        .arg(format!("http://weft{path}"))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.trim_end().rsplit_once('\n').unwrap_or(("", text.trim()));
    let v = serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_owned()));
    (code.parse().unwrap_or(0), v)
}

/// `dig` from site `from` against the DNS site: the answer's addresses and
/// the whole output.
fn dig(h: &Harness, from: usize, qname: &str, extra: &[&str]) -> (Vec<String>, String) {
    let server = format!("@{}", h.overlay(0));
    let mut argv = vec!["dig", &server, "-p", DNS_PORT, qname, "A", "+time=1", "+tries=2"];
    argv.extend_from_slice(extra);
    let out = h.lab.exec(from, &argv).expect("dig (make deps installs bind9-dnsutils)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut answers = Vec::new();
    let mut in_answer = false;
    for line in text.lines() {
        if line.starts_with(";; ANSWER SECTION") {
            in_answer = true;
        } else if line.trim().is_empty() {
            in_answer = false;
        } else if in_answer && let Some(a) = line.split_whitespace().last() {
            answers.push(a.to_owned());
        }
    }
    (answers, text)
}

/// The single address answered for the service `name` to site `from`.
fn answer(h: &Harness, from: usize, name: &str) -> Option<String> {
    let (a, _) = dig(h, from, &format!("{name}.{ZONE}"), &[]);
    (a.len() == 1).then(|| a[0].clone())
}

fn endpoint(h: &Harness, i: usize, region: &str, version: &str, port: u16) -> Value {
    json!({"id": format!("{region}-{version}"), "site": h.name(i), "region": region,
           "address": h.overlay(i).to_string(), "port": port, "version": version})
}

/// Starts an HTTP server answering `code` on site `i`'s overlay address,
/// and waits until the DNS site reaches it over the fabric.
fn server(h: &mut Harness, i: usize, port: u16, code: u16) -> u32 {
    let script = h.dir.join("gtm-server.py");
    std::fs::write(&script, SERVER).unwrap();
    let (addr, port_s, code_s) = (h.overlay(i).to_string(), port.to_string(), code.to_string());
    let argv = ["python3", script.to_str().unwrap(), &addr, &port_s, &code_s];
    let pid = h.lab.spawn(i, &argv).expect("python3 http server");
    let url = format!("http://{addr}:{port}/");
    wait_for(&format!("{url} answering"), Duration::from_secs(10), || {
        let out = h.lab.exec(
            0,
            &["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "1", &url],
        );
        (String::from_utf8_lossy(&out.ok()?.stdout) == code_s).then_some(())
    });
    pid
}

fn healthy(h: &Harness, service: &str, id: &str) -> Option<bool> {
    let g = h.get(0, "/api/v1/gtm")?;
    let svc = g["services"].as_array()?.iter().find(|s| s["name"] == service)?.clone();
    svc["endpoints"].as_array()?.iter().find(|e| e["id"] == id)?["healthy"].as_bool()
}

fn shift(h: &Harness, id: &str) -> Value {
    let v = h.get(0, "/api/v1/gtm/shifts").unwrap_or(Value::Null);
    v.as_array().and_then(|a| a.iter().find(|s| s["id"] == id).cloned()).unwrap_or(Value::Null)
}

fn start_shift(h: &Harness, body: &Value) -> String {
    let (code, answer) = call(h, 0, "POST", "/api/v1/gtm/shifts", body);
    assert_eq!(code, 200, "{answer}");
    answer["shift"]["id"].as_str().expect("shift id").to_owned()
}

/// Site 0 (d): controller, CA holder, DNS. Sites 1..=3 (a, b, c) in
/// regions eu, us, ap, with one-way uplink delays of 5, 15 and 40 ms.
fn lab() -> Harness {
    let mut h = Harness::with_options("gtm", 4, 1, "adaptive", true);
    for (i, ms) in [(0, 2), (1, 5), (2, 15), (3, 40)] {
        h.lab.set_link(i, 0, Impairment::delay(Duration::from_millis(ms))).unwrap();
    }
    let region = |i: usize, name: &str, extra: &str| {
        format!(
            "[[dns.region]]\nname = \"{name}\"\nprefixes = [\"{}/32\", \"{extra}\"]\nsites = [\"{}\"]\n",
            h.overlay(i),
            h.name(i)
        )
    };
    let dns = format!(
        "\n[controller]\n\n[dns]\nlisten = \"0.0.0.0:{DNS_PORT}\"\nzone = \"{ZONE}\"\nttl = \"5s\"\n{}{}{}",
        region(1, "eu", "198.51.100.0/24"),
        region(2, "us", "203.0.113.0/24"),
        region(3, "ap", "192.0.2.0/24"),
    );
    let path = h.sites[0].config.clone();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{text}{dns}")).unwrap();
    init_ca(&h.sites[0].state_dir).expect("weft ca init");
    h.start_agent(0);
    wait_for("the controller to lead", Duration::from_secs(20), || {
        (h.get(0, "/api/v1/control")?["role"] == "leader").then_some(())
    });
    let seed = seed_addr(&h);
    let joins = token(&h, 3);
    for i in 1..4 {
        h.start_agent_args(i, &["--join", &joins, "--seed", &seed]);
    }
    wait_for("a mesh of 4 with paths from the DNS site", Duration::from_secs(40), || {
        let m = h.get(0, "/api/v1/mesh")?;
        (m["members"].as_array()?.len() == 3).then_some(())?;
        let t = h.get(0, "/api/v1/topology")?;
        let up = t["edges"].as_array()?.iter().filter(|e| e["state"] == "up").count();
        (up >= 3).then_some(())
    });
    h
}

#[test]
fn gtm_answers_by_region_health_and_rtt_and_its_shifts_roll_back_by_themselves() {
    let mut h = lab();
    let [eu_site, us_site, ap_site] = [1, 2, 3];
    let addr = |h: &Harness, i: usize| h.overlay(i).to_string();
    let eu = server(&mut h, eu_site, 8080, 200);
    for i in [us_site, ap_site] {
        server(&mut h, i, 8080, 200);
    }

    // A global service in three regions, checked over the fabric.
    let check = json!({"kind": "http", "path": "/health", "interval_ms": 400, "timeout_ms": 300, "fall": 2, "rise": 2});
    let endpoints = [
        endpoint(&h, eu_site, "eu", "v1", 8080),
        endpoint(&h, us_site, "us", "v1", 8080),
        endpoint(&h, ap_site, "ap", "v1", 8080),
    ];
    let spec = json!({"endpoints": endpoints, "ttl": 5, "check": check});
    let (code, body) = call(&h, 0, "PUT", "/api/v1/gtm/services/app", &spec);
    assert_eq!((code, body["kind"].as_str()), (200, Some("gtm_set_service")), "{body}");
    wait_for("app's endpoints healthy on the DNS site", Duration::from_secs(20), || {
        ["eu-v1", "us-v1", "ap-v1"]
            .iter()
            .all(|e| healthy(&h, "app", e) == Some(true))
            .then_some(())
    });

    // Each region's clients get their own region's endpoint.
    wait_for("every region answered locally", Duration::from_secs(30), || {
        [eu_site, us_site, ap_site]
            .iter()
            .all(|&i| answer(&h, i, "app") == Some(addr(&h, i)))
            .then_some(())
    });
    // With ECS the subnet decides (asked from another region), and the
    // scope echoed is the region table's prefix (/24).
    let (ans, text) = dig(&h, ap_site, &format!("app.{ZONE}"), &["+subnet=198.51.100.0/24"]);
    assert_eq!(ans, vec![addr(&h, eu_site)], "{text}");
    assert!(text.contains("CLIENT-SUBNET: 198.51.100.0/24/24"), "ECS scope echoed: {text}");
    // Negative answers: NXDOMAIN with the SOA; REFUSED outside the zone.
    let (ans, text) = dig(&h, eu_site, &format!("nosuch.{ZONE}"), &[]);
    assert!(ans.is_empty() && text.contains("status: NXDOMAIN") && text.contains("SOA"), "{text}");
    let (_, text) = dig(&h, eu_site, "example.org", &[]);
    assert!(text.contains("status: REFUSED"), "{text}");
    // The same over TCP.
    let (ans, text) = dig(&h, us_site, &format!("app.{ZONE}"), &["+tcp"]);
    assert_eq!(ans, vec![addr(&h, us_site)], "over TCP: {text}");

    // Killing eu's service moves eu's clients to the next nearest (us)
    // within the checks' detection time (eu_site caching resolver adds eu_site TTL).
    let killed = Instant::now();
    h.lab.kill(eu);
    let moved = wait_for("eu moved to us", Duration::from_secs(10), || {
        let now = answer(&h, eu_site, "app");
        if killed.elapsed() > Duration::from_secs(8) {
            let x = h.get(0, &format!("/api/v1/gtm/explain?name=app&from={}", addr(&h, eu_site)));
            eprintln!("gtm: eu answered {now:?}; explain: {x:?}");
        }
        (now == Some(addr(&h, us_site))).then(|| killed.elapsed())
    });
    eprintln!("gtm: eu's clients moved {} ms after the kill", moved.as_millis());
    assert!(moved <= Duration::from_millis(2 * 400 + 300 + 1500), "moved after {moved:?}");

    // A 200 ms brownout on us's uplink moves eu's clients on to ap.
    h.lab.set_link(us_site, 0, Impairment::delay(Duration::from_millis(215))).unwrap();
    let browned = Instant::now();
    wait_for("eu moved to ap under the brownout", Duration::from_secs(30), || {
        (answer(&h, eu_site, "app") == Some(addr(&h, ap_site))).then_some(())
    });
    eprintln!("gtm: the brownout moved eu's clients in {} ms", browned.elapsed().as_millis());
    h.lab.set_link(us_site, 0, Impairment::delay(Duration::from_millis(15))).unwrap();
    server(&mut h, eu_site, 8080, 200);
    wait_for("eu answered locally again", Duration::from_secs(30), || {
        (answer(&h, eu_site, "app") == Some(addr(&h, eu_site))).then_some(())
    });
    let x = h.get(0, &format!("/api/v1/gtm/explain?name=app&from={}", addr(&h, eu_site))).unwrap();
    assert_eq!((x["region"].as_str(), x["endpoint"].as_str()), (Some("eu"), Some("eu-v1")), "{x}");

    // A drain of site eu_site moves eu away; aborting it brings eu back.
    let drain = json!({"kind": "drain", "site": h.name(eu_site), "service": "app", "step_pct": 50, "step_ms": 300});
    let id = start_shift(&h, &drain);
    wait_for("the drain done and eu moved", Duration::from_secs(10), || {
        (shift(&h, &id)["state"] == "done" && answer(&h, eu_site, "app") == Some(addr(&h, us_site)))
            .then_some(())
    });
    let (code, body) = call(&h, 0, "POST", &format!("/api/v1/gtm/shifts/{id}/abort"), &json!({}));
    assert_eq!(code, 200, "{body}");
    wait_for("eu back after the abort", Duration::from_secs(10), || {
        (answer(&h, eu_site, "app") == Some(addr(&h, eu_site))).then_some(())
    });

    // A canary whose new version fails its checks is rolled back by the
    // leader within two steps, with the reason in the audit log.
    server(&mut h, us_site, 8081, 500);
    let web = json!({"endpoints": [endpoint(&h, eu_site, "eu", "v1", 8080), endpoint(&h, us_site, "us", "v2", 8081)],
                     "serving": "v1", "check": check, "ttl": 5});
    assert_eq!(call(&h, 0, "PUT", "/api/v1/gtm/services/web", &web).0, 200);
    let canary = json!({"kind": "canary", "service": "web", "stable": "v1", "canary": "v2",
                        "steps": [20, 50, 100], "step_ms": 2000, "max_error_pct": 10.0, "min_samples": 3});
    let started = Instant::now();
    let id = start_shift(&h, &canary);
    let s = wait_for("the failing canary rolled back", Duration::from_secs(10), || {
        let s = shift(&h, &id);
        (s["state"] == "rolled_back").then_some(s)
    });
    let took = started.elapsed();
    eprintln!("gtm: the failing canary rolled back after {} ms", took.as_millis());
    assert!(took <= Duration::from_secs(5), "within two steps: {took:?}");
    assert!(s["reason"].as_str().unwrap_or("").contains("error rate"), "{s}");
    let audit = h.get(0, "/api/v1/control/audit?limit=50").expect("the control store's audit");
    let rolled = audit.as_array().unwrap().iter().any(|r| {
        r["action"].as_str().is_some_and(|act| {
            act.contains(&format!("rolled_back {id}")) && act.contains("error rate")
        })
    });
    assert!(rolled, "the rollback and its reason are audited: {audit}");
    let events = h.get(0, "/api/v1/events/history?limit=1000").expect("events");
    let told = events["items"].as_array().unwrap().iter().any(|e| {
        e["kind"] == "gtm_changed"
            && e["message"].as_str().is_some_and(|m| m.contains(&format!("{id} rolled_back")))
    });
    assert!(told, "the rollback is on the event stream: {events}");
    wait_for("web answers v1 everywhere again", Duration::from_secs(10), || {
        [eu_site, us_site, ap_site]
            .iter()
            .all(|&i| answer(&h, i, "web") == Some(addr(&h, eu_site)))
            .then_some(())
    });

    // A healthy canary reaches 100 % and its version serves.
    server(&mut h, ap_site, 8081, 200);
    let api = json!({"endpoints": [endpoint(&h, eu_site, "eu", "v1", 8080), endpoint(&h, ap_site, "ap", "v2", 8081)],
                     "serving": "v1", "check": check, "ttl": 5});
    assert_eq!(call(&h, 0, "PUT", "/api/v1/gtm/services/api", &api).0, 200);
    wait_for("api's v2 healthy", Duration::from_secs(10), || {
        (healthy(&h, "api", "ap-v2") == Some(true)).then_some(())
    });
    let canary = json!({"kind": "canary", "service": "api", "stable": "v1", "canary": "v2",
                        "steps": [50, 100], "step_ms": 1500, "max_error_pct": 10.0, "min_samples": 2});
    let id = start_shift(&h, &canary);
    wait_for("the healthy canary done", Duration::from_secs(15), || {
        (shift(&h, &id)["state"] == "done").then_some(())
    });
    wait_for("api's v2 serves eu too", Duration::from_secs(10), || {
        (answer(&h, eu_site, "api") == Some(addr(&h, ap_site))).then_some(())
    });

    let (_, metrics) = call(&h, 0, "GET", "/metrics", &Value::Null);
    let m = metrics.as_str().unwrap_or_default();
    assert!(m.contains("weft_gtm_answers_total{name=\"app\""), "answers counted");
    assert!(m.contains("weft_gtm_dns_other_total{outcome=\"nxdomain\"}"), "NXDOMAIN counted");
}
