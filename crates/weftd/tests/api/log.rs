//! The log at run time: `--log-format json` lines, `GET/PUT /api/v1/log`
//! (admin only, audited, in force at once), and request ids tying an API
//! call to its audit record and the log lines it causes.

use std::time::Duration;

use serde_json::Value;

use super::client;
use crate::support::{Harness, wait_for};

/// The agent's JSON log lines (every line must be one).
fn json_lines(h: &Harness) -> Vec<Value> {
    h.last_log(0)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect()
}

fn lines_of(h: &Harness, request: &str) -> Vec<Value> {
    json_lines(h).into_iter().filter(|l| l["request_id"] == request).collect()
}

fn audit_of(h: &Harness, request: &str) -> Vec<Value> {
    let page = client::local(h, 0, "GET", "/api/v1/audit?limit=1000", None, &[]).json();
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["request_id"] == request)
        .cloned()
        .collect()
}

fn set_level(h: &Harness, level: &str, request: &str) -> client::Reply {
    let body = format!("{{\"level\":\"{level}\"}}");
    client::local(h, 0, "PUT", "/api/v1/log", Some(&body), &[("X-Request-Id", request)])
}

#[test]
fn the_log_level_changes_at_run_time_and_request_ids_tie_calls_to_audit_records_and_log_lines() {
    let mut h = Harness::new("logs", 2, 1, "adaptive");
    h.start_agent_args(0, &["--log-format", "json"]);
    wait_for("the API", Duration::from_secs(15), || h.get(0, "/api/v1/log"));
    let log = client::local(&h, 0, "GET", "/api/v1/log", None, &[]).json();
    assert_eq!((log["level"].as_str(), log["format"].as_str()), (Some("info"), Some("json")));
    // The start-up lines: every field, the agent's site, no request id.
    let start = json_lines(&h);
    let up = start.iter().find(|l| l["msg"].as_str().is_some_and(|m| m.starts_with("site a up")));
    let up = up.unwrap_or_else(|| panic!("no start-up line in {start:?}"));
    assert_eq!((up["level"].as_str(), up["component"].as_str()), (Some("info"), Some("agent")));
    assert_eq!(up["site"], "a");
    let ts = up["ts"].as_str().unwrap();
    assert!(ts.len() == 24 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T', "{ts}");
    assert!(up.get("request_id").is_none(), "{up}");

    // Only admins read or set it.
    let r = client::local(
        &h,
        0,
        "POST",
        "/api/v1/tokens",
        Some(r#"{"name":"ops","scope":"operate"}"#),
        &[],
    );
    let operate = r.json()["secret"].as_str().unwrap().to_owned();
    assert_eq!(client::tcp(&h, 0, "GET", "/api/v1/log", None, Some(&operate)).code, 403);
    let body = r#"{"level":"debug"}"#;
    assert_eq!(client::tcp(&h, 0, "PUT", "/api/v1/log", Some(body), Some(&operate)).code, 403);
    assert_eq!(client::local(&h, 0, "GET", "/api/v1/log", None, &[]).json()["level"], "info");

    // Level error: the change and what follows at info are not logged, but audited.
    let r = set_level(&h, "error", "quiet-1");
    assert_eq!((r.code, r.header("x-request-id").as_deref()), (200, Some("quiet-1")), "{}", r.text);
    assert_eq!(r.json()["level"], "error");
    let t = client::local(
        &h,
        0,
        "POST",
        "/api/v1/tokens",
        Some(r#"{"name":"ci","scope":"read"}"#),
        &[("X-Request-Id", "muted-2")],
    );
    assert_eq!(t.code, 201, "{}", t.text);
    let change = audit_of(&h, "quiet-1");
    assert_eq!(change.len(), 1, "{change:?}");
    assert_eq!(change[0]["action"], "log.level");
    assert_eq!(
        (change[0]["before"].as_str(), change[0]["after"].as_str()),
        (Some("info"), Some("error"))
    );
    assert_eq!(audit_of(&h, "muted-2")[0]["action"], "token.create");
    assert!(
        lines_of(&h, "quiet-1").is_empty() && lines_of(&h, "muted-2").is_empty(),
        "{:?}",
        json_lines(&h)
    );

    // Back to debug: the call's own line and the change's line carry its id.
    let r = set_level(&h, "debug", "loud-3");
    assert_eq!(r.code, 200, "{}", r.text);
    assert_eq!(client::local(&h, 0, "GET", "/api/v1/log", None, &[]).json()["level"], "debug");
    let lines = wait_for("the lines of loud-3", Duration::from_secs(5), || {
        let l = lines_of(&h, "loud-3");
        (l.len() >= 2).then_some(l)
    });
    let msgs: Vec<&str> = lines.iter().filter_map(|l| l["msg"].as_str()).collect();
    assert!(msgs.contains(&"API: PUT /api/v1/log -> 200 (request loud-3)"), "{msgs:?}");
    assert!(msgs.iter().any(|m| m.starts_with("log level error -> debug")), "{msgs:?}");
    assert!(lines.iter().all(|l| l["component"] == "api" && l["site"] == "a"), "{lines:?}");
    assert_eq!(audit_of(&h, "loud-3")[0]["after"], "debug");
    // At debug, reads are logged too (at info they are not: see the end).
    client::local(&h, 0, "GET", "/api/v1/status", None, &[]);
    let read = wait_for("the debug line of a read", Duration::from_secs(5), || {
        json_lines(&h).into_iter().find(|l| l["msg"] == "API: GET /api/v1/status -> 200")
    });
    assert_eq!((read["level"].as_str(), read.get("request_id")), (Some("debug"), None), "{read}");

    // A policy apply: its audit record and the control loop's effect line.
    let policy = "[policy]\nname = \"open\"\ndefault = \"allow\"\n";
    let r = client::local(
        &h,
        0,
        "POST",
        "/api/v1/policy",
        Some(policy),
        &[("X-Request-Id", "apply-4")],
    );
    assert_eq!(r.code, 200, "{}", r.text);
    assert_eq!(audit_of(&h, "apply-4")[0]["action"], "policy.apply");
    let effect = wait_for("the policy's effect line", Duration::from_secs(5), || {
        lines_of(&h, "apply-4").into_iter().find(|l| l["component"] == "policy")
    });
    assert!(effect["msg"].as_str().unwrap().starts_with("policy \"open\" version"), "{effect}");

    // Without a usable client id the agent draws one; reads get none.
    let r = set_level(&h, "info", "has a space");
    let id = r.header("x-request-id").unwrap();
    assert!(id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    assert_eq!(audit_of(&h, &id)[0]["after"], "info");
    let r = client::local(&h, 0, "GET", "/api/v1/peers", None, &[]);
    assert_eq!((r.code, r.header("x-request-id")), (200, None));
    let read = json_lines(&h).into_iter().find(|l| l["msg"] == "API: GET /api/v1/peers -> 200");
    assert!(read.is_none(), "a read is not logged at info: {read:?}");
    let r = set_level(&h, "verbose", "bad-5");
    assert_eq!(r.code, 400, "{}", r.text);
    assert!(audit_of(&h, "bad-5").is_empty());
    // No secret in any line: the two token secrets made above never appear.
    let text = h.last_log(0);
    assert!(!text.contains(&operate) && !text.contains(t.json()["secret"].as_str().unwrap()));
}
