//! The web console in a real browser: headless Chromium (Debian's `chromium`
//! and `chromium-driver`), driven over `WebDriver`, against two live agents in
//! a namespace lab. Screenshots of every page go to
//! `target/tmp/console/*.png` (`CARGO_TARGET_TMPDIR`).

mod webdriver;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;
use weft_lab::Impairment;

use crate::api::client;
use crate::support::{Harness, wait_for};
use webdriver::Browser;

const BASE: &str = "http://127.0.0.1:7420";

/// The policy the test starts from (v1), so a rollback has somewhere to go.
const BASELINE: &str = "[policy]\nname = \"console-base\"\ndefault = \"allow\"\n";

fn shots() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console")
}

/// Logs in with `secret` on the login page and waits for the overview.
fn log_in(b: &Browser, h: &Harness, secret: &str) {
    b.go(h, &format!("{BASE}/ui"));
    assert!(b.url(h).ends_with("/ui/login"), "without a session /ui sends to the login page");
    b.type_into(h, "#token", secret);
    b.click(h, "#login");
    b.wait_js(
        h,
        "the overview after login",
        Duration::from_secs(20),
        "return document.querySelector('#sites') !== null;",
    );
}

#[test]
fn the_console_shows_every_site_live_path_state_and_policy_changes_and_hides_mutations_from_read_tokens()
 {
    let mut h = Harness::new("console", 2, 2, "adaptive");
    h.start_agent(0);
    h.start_agent(1);
    wait_for("4 paths up in site a", Duration::from_secs(20), || {
        let page = h.get(0, "/api/v1/paths")?;
        let items = page["items"].as_array()?;
        (items.len() == 4 && items.iter().all(|p| p["state"] == "up")).then_some(())
    });
    let admin = std::fs::read_to_string(h.sites[0].state_dir.join("api.token")).unwrap();
    let admin = admin.trim().to_owned();
    let r = client::local(
        &h,
        0,
        "POST",
        "/api/v1/tokens",
        Some(r#"{"name":"viewer","scope":"read"}"#),
        &[],
    );
    assert_eq!(r.code, 201, "{}", r.text);
    let read = r.json()["secret"].as_str().unwrap().to_owned();
    let r = client::local(&h, 0, "POST", "/api/v1/policy", Some(BASELINE), &[]);
    assert_eq!((r.code, r.json()["version"].as_u64()), (200, Some(1)), "{}", r.text);

    let dir = h.dir.join("browser");
    let b = Browser::start(&mut h, 0, &dir, shots());

    // Login page, then every site on the overview.
    b.go(&h, &format!("{BASE}/ui/login"));
    b.shot(&h, "login");
    log_in(&b, &h, &admin);
    assert_eq!(b.count(&h, "#sites tr[data-site='a']"), 1, "the local site");
    assert_eq!(b.count(&h, "#sites tr[data-site='b']"), 1, "the peer site");
    assert_eq!(b.text(&h, "#c-up .n"), "4", "4 paths up on the overview");
    b.shot(&h, "overview");

    // A path's charts: uPlot draws, and the live values arrive over SSE.
    b.go(&h, &format!("{BASE}/ui/paths"));
    b.shot(&h, "paths");
    let first =
        b.js(&h, "return document.querySelector('#paths tr[data-path]').dataset.path;", &[]);
    let first = first.as_str().unwrap().to_owned();
    b.click(&h, &format!("#paths a[href='/ui/paths/{first}']"));
    b.wait_js(
        &h,
        "three uPlot charts",
        Duration::from_secs(20),
        "return document.querySelectorAll('.chart canvas').length >= 3;",
    );
    b.wait_js(
        &h,
        "three live points on the RTT chart",
        Duration::from_secs(20),
        "return Number(document.querySelector('#rtt-chart').dataset.points || 0) >= 3;",
    );
    assert_eq!(b.count(&h, "#test-now"), 1, "an admin may test a path now");
    b.click(&h, "#test-now");
    b.wait_js(
        &h,
        "the test's answer",
        Duration::from_secs(20),
        "return document.querySelector('#test-out').dataset.status === '200';",
    );
    b.shot(&h, "path-detail");

    // Cut an uplink: its paths turn down on the open page, without a reload.
    b.go(&h, &format!("{BASE}/ui/paths"));
    b.js(&h, "window.__weftNoReload = 1; return true;", &[]);
    let uplink = h.lab.sites()[0].uplinks[0].name.clone();
    h.lab.set_link(0, 0, Impairment::down()).unwrap();
    let script = format!(
        "return [...document.querySelectorAll('#paths tr[data-path]')]
           .filter(r => r.cells[2].textContent === {uplink:?})
           .every(r => r.dataset.state === 'down') && window.__weftNoReload === 1;"
    );
    b.wait_js(&h, "the cut uplink's paths shown down", Duration::from_secs(20), &script);
    b.shot(&h, "path-down");
    let down =
        b.js(&h, "return document.querySelector('#paths tr[data-state=down]').dataset.path;", &[]);
    b.go(&h, &format!("{BASE}/ui/paths/{}", down.as_str().unwrap()));
    b.wait_js(
        &h,
        "the path's timeline showing it going down",
        Duration::from_secs(20),
        "return document.querySelector(\"#timeline tr[data-kind='path_down']\") !== null;",
    );
    h.lab.set_link(0, 0, Impairment::default()).unwrap();

    // Policies as admin: check (result shown), apply, see v2 live, roll back to v1.
    b.go(&h, &format!("{BASE}/ui/policies"));
    assert_eq!(b.text(&h, "#running-version"), "v1");
    assert!(
        b.js(&h, "return document.querySelector('#apply').disabled;", &[]) == true,
        "apply waits for a check"
    );
    b.type_into(&h, "#candidate", "\n# changed in the console\n");
    b.click(&h, "#check");
    b.wait_js(&h, "the check's answer", Duration::from_secs(20), "return document.querySelector('#apply-out').dataset.status === '200' && !document.querySelector('#apply').disabled;");
    b.js(
        &h,
        "document.querySelector('#apply-out').scrollIntoView({block: 'end'}); return true;",
        &[],
    );
    b.shot(&h, "policies-check");
    b.click(&h, "#apply");
    b.wait_js(
        &h,
        "v2 in force on the page",
        Duration::from_secs(20),
        "return document.querySelector('#running-version').textContent === 'v2';",
    );
    b.shot(&h, "policies-applied");
    b.click(&h, "#rollback");
    b.wait_js(
        &h,
        "v1 in force again",
        Duration::from_secs(20),
        "return document.querySelector('#running-version').textContent === 'v1';",
    );
    let running = client::local(&h, 0, "GET", "/api/v1/policy", None, &[]).json();
    assert_eq!(running["version"], 1, "the rollback reached the agent: {running}");
    b.go(&h, &format!("{BASE}/ui/policies?a=1&b=2"));
    let added = b.js(
        &h,
        "return [...document.querySelectorAll('#diff .add')].map(e => e.textContent);",
        &[],
    );
    assert_eq!(added, json!(["+ ", "+ # changed in the console"]), "the diff of v1 and v2");

    // The other pages render.
    for (page, shot, css) in [
        ("/ui/events", "events", "#events"),
        ("/ui/flows", "flows", "#flows"),
        ("/ui/registry", "registry", "#not-controller"),
        ("/ui/topology", "topology", "#topology circle[data-site='b']"),
    ] {
        b.go(&h, &format!("{BASE}{page}"));
        assert_eq!(b.count(&h, css), 1, "{page} shows {css}");
        b.shot(&h, shot);
    }
    assert_eq!(b.count(&h, "#matrix td[data-cell]"), 2, "the matrix: site b by uplinks u0 and u1");
    assert_eq!(b.count(&h, "#topology line[data-edge='b']"), 1, "one edge to b");
    b.go(&h, &format!("{BASE}/ui/flows"));
    b.type_into(&h, "#x-src", &h.overlay(0).to_string());
    b.type_into(&h, "#x-dst", &h.overlay(1).to_string());
    b.type_into(&h, "#x-dport", "40000");
    b.click(&h, "#explain button[type=submit]");
    b.wait_js(
        &h,
        "the explanation of a flow to b",
        Duration::from_secs(20),
        "const t = document.querySelector('#explain-out').textContent; return t.startsWith('HTTP 200') && t.includes('\"b\"');",
    );
    b.go(&h, &format!("{BASE}/ui/events?kind=policy_applied"));
    assert!(
        b.count(&h, "#events tr[data-kind='policy_applied']") >= 2,
        "the filtered events show the applies"
    );
    assert_eq!(
        b.count(&h, "#events tr[data-kind='path_down']"),
        0,
        "the filter keeps only its kind"
    );
    assert!(
        b.count(&h, "#audit tr[data-action='policy.rollback']") >= 1,
        "an admin sees the audit log"
    );

    // Phone width, dark theme.
    b.size(&h, 390, 844);
    b.go(&h, &format!("{BASE}/ui"));
    b.click(&h, "#theme");
    b.shot(&h, "overview-phone-theme");
    b.size(&h, 1280, 900);

    // A cookie is no use from another origin.
    let tcp = h.lab.in_site(0, || std::net::TcpStream::connect("127.0.0.1:7420")).unwrap().unwrap();
    let forged = raw(
        tcp,
        &format!(
            "POST /api/v1/policy/rollback HTTP/1.1\r\nHost: 127.0.0.1:7420\r\nOrigin: http://evil.example\r\n\
         Cookie: weft_console={admin}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
        ),
    );
    assert!(forged.starts_with("HTTP/1.1 403"), "a cross-site mutation with the cookie: {forged}");
    let tcp = h.lab.in_site(0, || std::net::TcpStream::connect("127.0.0.1:7420")).unwrap().unwrap();
    let login =
        raw(tcp, "GET /ui/login HTTP/1.1\r\nHost: 127.0.0.1:7420\r\nConnection: close\r\n\r\n");
    assert!(
        login.to_ascii_lowercase().contains("frame-ancestors 'none'"),
        "console pages refuse to be framed: {login}"
    );

    // Read-only: no mutating buttons, and the server refuses anyway.
    b.click(&h, "header form button");
    b.wait_js(
        &h,
        "the login page after logout",
        Duration::from_secs(20),
        "return document.querySelector('#token') !== null;",
    );
    log_in(&b, &h, &read);
    assert_eq!(b.text(&h, "#scope"), "read");
    b.go(&h, &format!("{BASE}/ui/policies"));
    assert_eq!(
        b.count(&h, "#apply, #check, #rollback, .rollback-to, #candidate"),
        0,
        "a read token sees no policy buttons"
    );
    b.shot(&h, "policies-read-only");
    b.go(&h, &format!("{BASE}/ui/paths/{first}"));
    assert_eq!(b.count(&h, "#test-now"), 0, "a read token sees no test button");
    b.go(&h, &format!("{BASE}/ui/events"));
    assert_eq!(b.count(&h, "#audit"), 0, "a read token sees no audit log");
    let code = b.js(
        &h,
        "return fetch('/api/v1/policy/rollback', {method: 'POST', body: '{}', headers: {'Content-Type': 'application/json'}}).then(r => r.status);",
        &[],
    );
    assert_eq!(code, json!(403), "the API refuses a read token's mutation from the console");
    b.quit(&h);
}

fn raw(mut s: std::net::TcpStream, req: &str) -> String {
    use std::io::{Read as _, Write as _};
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn on_a_controller_the_console_shows_the_leader_cordons_a_site_and_aborts_a_traffic_shift() {
    let mut h = crate::control::single_controller_lab("conreg");
    let admin = std::fs::read_to_string(h.sites[0].state_dir.join("api.token")).unwrap();
    let admin = admin.trim().to_owned();
    let c = h.name(2);
    let dir = h.dir.join("browser");
    let b = Browser::start(&mut h, 0, &dir, shots());
    log_in(&b, &h, &admin);
    b.wait_js(
        &h,
        "the leader on the overview",
        Duration::from_secs(20),
        "return document.querySelector('#c-leader') !== null;",
    );
    b.wait_js(
        &h,
        "certificate expiry of every site",
        Duration::from_secs(20),
        "return [...document.querySelectorAll('#sites tr[data-site]')].every(r => /^20\\d\\d-/.test(r.cells[8].textContent));",
    );
    b.shot(&h, "overview-controller");

    // A GTM drain of c (a service with one endpoint there), shown with its state.
    let spec = json!({"endpoints": [{"id": "eu-v1", "site": c, "region": "eu",
        "address": h.overlay(2).to_string(), "port": 8080, "version": "v1"}], "ttl": 5});
    let r = client::local(&h, 0, "PUT", "/api/v1/gtm/services/app", Some(&spec.to_string()), &[]);
    assert_eq!(r.code, 200, "{}", r.text);
    let drain =
        json!({"kind": "drain", "site": c, "service": "app", "step_pct": 50, "step_ms": 300});
    let r = client::local(&h, 0, "POST", "/api/v1/gtm/shifts", Some(&drain.to_string()), &[]);
    assert_eq!(r.code, 200, "{}", r.text);
    let shift = r.json()["shift"]["id"].as_str().unwrap().to_owned();

    b.go(&h, &format!("{BASE}/ui/registry"));
    assert_eq!(b.count(&h, "#registry tr[data-site]"), 3, "every registered site");
    let done = format!(
        "return document.querySelector(\"#shifts tr[data-shift='{shift}'] [data-state='done']\") !== null;"
    );
    b.wait_js(&h, "the drain shown done", Duration::from_secs(20), &done);
    b.click(&h, &format!("#shifts button[aria-label='Abort shift {shift}']"));
    let aborted = format!(
        "return document.querySelector(\"#shifts tr[data-shift='{shift}'] [data-state='aborted']\") !== null;"
    );
    b.wait_js(&h, "the drain aborted from the page", Duration::from_secs(20), &aborted);
    assert_eq!(b.count(&h, "#shards"), 1, "the shard owners");
    b.click(&h, &format!("#registry tr[data-site='{c}'] button[aria-label='Cordon {c}']"));
    let cordoned = format!(
        "return document.querySelector(\"#registry tr[data-site='{c}'] [data-state='cordoned']\") !== null;"
    );
    b.wait_js(&h, "the site shown cordoned without a reload", Duration::from_secs(20), &cordoned);
    b.shot(&h, "registry-controller");
    let r = client::local(&h, 0, "GET", "/api/v1/registry/sites?cordoned=true", None, &[]);
    let page = r.json();
    let listed: Vec<&str> =
        page["items"].as_array().unwrap().iter().filter_map(|s| s["site"].as_str()).collect();
    assert_eq!(listed, [c.as_str()], "the cordon reached the registry: {}", r.text);
    b.go(&h, &format!("{BASE}/ui/topology"));
    let marked = format!(
        "return document.querySelector(\"#topology a[aria-label='site {c} (cordoned)']\") !== null;"
    );
    b.wait_js(&h, "the cordoned site marked on the topology", Duration::from_secs(20), &marked);
    // The mesh-wide matrix: every site to each of the two others, from
    // the sites' link-state advertisements.
    let full = "return document.querySelectorAll('#mesh-matrix td[data-mesh-cell]').length >= 6;";
    b.wait_js(&h, "the mesh-wide site x site matrix", Duration::from_secs(20), full);
    b.shot(&h, "topology-mesh");
    b.quit(&h);
}
