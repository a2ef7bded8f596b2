//! The client against a fake agent.

use serde_json::{Value, json};
use weft_api::{Page, Status};

use super::fake::{self, FakeAgent};
use super::*;

const STATUS: &str = r#"{"site":"a","version":"0.1.0","uptime_s":12.5,"sites":2,"sites_up":1,
"paths":4,"paths_up":2,"flows":3,"policy_name":"corp","policy_version":2,"failovers":1,
"last_event_id":42,"failovers_by_reason":[],"drops":[],"policy_denied":[]}"#;

#[test]
fn a_content_length_body_is_decoded_into_the_api_type() {
    let agent = FakeAgent::unix(vec![fake::json(200, STATUS)]);
    let s: Status = agent.client(None).get("/api/v1/status").unwrap();
    assert_eq!((s.site.as_str(), s.paths_up, s.last_event_id), ("a", 2, 42));
    let req = agent.request();
    assert!(req.starts_with("GET /api/v1/status HTTP/1.1\r\n"), "{req}");
    assert!(req.contains("Connection: close\r\n"), "{req}");
    assert!(!req.contains("Authorization"), "no token over the socket: {req}");
}

#[test]
fn a_chunked_body_split_across_reads_is_decoded() {
    let (a, b) = STATUS.split_at(40);
    let agent = FakeAgent::unix(vec![fake::chunked("application/json", &[a, b], true)]);
    let s: Status = agent.client(None).get("/api/v1/status").unwrap();
    assert_eq!(s.policy_name, "corp");
}

#[test]
fn tcp_requests_carry_the_bearer_token_and_post_json() {
    let agent = FakeAgent::tcp(vec![fake::json(200, "{\"ok\":true}")]);
    let v: Value = agent.client(Some("s3cret")).post("/api/v1/x", &json!({"probes": 3})).unwrap();
    assert_eq!(v["ok"], true);
    let req = agent.request();
    assert!(req.contains("Authorization: Bearer s3cret\r\n"), "{req}");
    assert!(req.contains("Content-Type: application/json\r\n"), "{req}");
    assert!(req.ends_with("\r\n\r\n{\"probes\":3}"), "{req}");
}

#[test]
fn a_401_is_an_auth_error_with_exit_code_4() {
    let body = r#"{"code":"unauthorized","message":"no token"}"#;
    let agent = FakeAgent::unix(vec![fake::json(401, body), fake::json(403, body)]);
    let e = agent.client(None).get::<Value>("/api/v1/status").unwrap_err();
    assert!(matches!(&e, ClientError::Auth { status: 401, error } if error.message == "no token"));
    assert_eq!(e.exit_code(), 4);
    assert!(e.to_string().starts_with("unauthorized: no token; pass --token"), "{e}");
    let e = agent.client(None).delete("/api/v1/sites/b").unwrap_err();
    assert_eq!(e.exit_code(), 4);
    assert!(e.to_string().contains("scope"), "{e}");
}

#[test]
fn a_404_is_an_api_error_with_its_code_and_exit_code_1() {
    let agent = FakeAgent::unix(vec![
        fake::json(404, r#"{"code":"not_found","message":"no path 9"}"#),
        vec![b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n".to_vec()],
    ]);
    let e = agent.client(None).get::<Value>("/api/v1/paths/9").unwrap_err();
    assert_eq!(e.api_code(), Some("not_found"));
    assert_eq!(e.to_string(), "not_found: no path 9");
    assert_eq!(e.exit_code(), 1);
    let e = agent.client(None).get::<Value>("/api/v1/paths/9").unwrap_err();
    assert_eq!(e.to_string(), "http_502: Bad Gateway");
}

#[test]
fn a_missing_socket_is_unreachable_with_exit_code_3() {
    let path = fake::unique_socket_path();
    let e =
        Client::to(Target::Unix(path.clone()), None).get::<Value>("/api/v1/status").unwrap_err();
    assert!(matches!(e, ClientError::Unreachable { .. }), "{e:?}");
    assert_eq!(e.exit_code(), 3);
    let msg = e.to_string();
    assert!(msg.starts_with(&format!("cannot reach the agent at {}", path.display())), "{msg}");
    assert!(msg.contains("is weftd running?"), "{msg}");
}

#[test]
fn the_default_socket_falls_back_to_tcp_when_absent() {
    let agent = FakeAgent::tcp(vec![fake::json(200, STATUS)]);
    let Target::Tcp(addr) = agent.client(None).targets[0].clone() else { unreachable!() };
    let mut c = AgentArgs::default().client();
    c.targets = vec![Target::Unix(fake::unique_socket_path()), Target::Tcp(addr.clone())];
    let s: Status = c.get("/api/v1/status").unwrap();
    assert_eq!(s.site, "a");
    assert_eq!(c.name(), addr);

    let mut c = AgentArgs::default().client();
    c.targets = vec![Target::Unix(fake::unique_socket_path()), Target::Tcp("127.0.0.1:1".into())];
    let e = c.get::<Value>("/").unwrap_err();
    assert!(e.to_string().contains(".sock or 127.0.0.1:1 ("), "{e}");
}

#[test]
fn agent_args_pick_tcp_with_the_token_or_the_socket_without_one() {
    let args = AgentArgs { agent: Some("http://10.0.0.1:7420/".into()), ..AgentArgs::default() };
    assert_eq!(args.client().targets, vec![Target::Tcp("10.0.0.1:7420".into())]);
    let args = AgentArgs { socket: Some("/run/w.sock".into()), ..AgentArgs::default() };
    let c = args.client();
    assert_eq!(c.targets, vec![Target::Unix("/run/w.sock".into())]);
    assert_eq!(c.token_for(&c.targets[0]), None);
    let args = AgentArgs { token: Some(" t0k \n".into()), ..AgentArgs::default() };
    let c = args.client();
    assert_eq!(c.token_for(&Target::Unix(DEFAULT_SOCKET.into())).as_deref(), Some("t0k"));
    let args = AgentArgs { token_file: Some("/nonexistent/token".into()), ..AgentArgs::default() };
    assert_eq!(args.client().token_for(&Target::Tcp(DEFAULT_TCP.into())), None);
}

#[test]
fn an_answer_that_is_not_http_is_a_protocol_error() {
    let agent = FakeAgent::unix(vec![vec![b"SSH-2.0-OpenSSH_9.6\r\n".to_vec()]]);
    let e = agent.client(None).get::<Value>("/").unwrap_err();
    assert!(matches!(e, ClientError::Protocol { .. }), "{e:?}");
    assert_eq!(e.exit_code(), 1);
}

#[test]
fn a_silent_agent_times_out() {
    let path = fake::unique_socket_path();
    let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let c = Client::to(Target::Unix(path.clone()), None).with_timeout(Duration::from_millis(100));
    let e = c.get::<Value>("/").unwrap_err();
    let _ = std::fs::remove_file(&path);
    assert!(matches!(e, ClientError::Timeout { .. }), "{e:?}");
}

#[test]
fn pagination_follows_next_cursor_until_it_is_absent() {
    let mut asked = Vec::new();
    let items = collect_pages(|cursor| {
        asked.push(cursor.map(ToOwned::to_owned));
        let (items, next) = match cursor {
            None => (vec![1, 2], Some("c1")),
            Some("c1") => (vec![3], Some("c2")),
            Some("c2") => (vec![4], None),
            Some(other) => panic!("unexpected cursor {other}"),
        };
        Ok(Page { items, next_cursor: next.map(Into::into), total: 4 })
    })
    .unwrap();
    assert_eq!(items, vec![1, 2, 3, 4]);
    assert_eq!(asked, vec![None, Some("c1".into()), Some("c2".into())]);

    let looping =
        collect_pages(|_| Ok(Page { items: vec![0], next_cursor: Some("x".into()), total: 9 }));
    assert!(looping.unwrap_err().to_string().contains("talking to the agent"));
}

#[test]
fn get_all_sends_the_filters_and_the_cursor_over_the_wire() {
    let agent = FakeAgent::unix(vec![
        fake::json(200, r#"{"items":[{"id":1}],"next_cursor":"n/2","total":2}"#),
        fake::json(200, r#"{"items":[{"id":2}],"total":2}"#),
    ]);
    let q = Query::default().opt("site", Some("b c")).opt("state", None::<&str>);
    let all = agent.client(None).get_all("/api/v1/paths", &q).unwrap();
    assert_eq!(all, vec![json!({"id":1}), json!({"id":2})]);
    assert!(agent.request().starts_with("GET /api/v1/paths?site=b%20c&limit=1000 HTTP/1.1"));
    assert!(agent.request().starts_with("GET /api/v1/paths?site=b%20c&limit=1000&cursor=n%2F2 "));
}

#[test]
fn event_streams_send_last_event_id_and_yield_events() {
    let agent = FakeAgent::unix(vec![fake::chunked(
        "text/event-stream",
        &[": hi\n\nid: 5\nevent: path_up\nda", "ta: {\"x\":1}\n\n"],
        true,
    )]);
    let events: Vec<_> =
        agent.client(None).event_stream("/api/v1/events", Some(4)).unwrap().collect();
    let req = agent.request();
    assert!(req.contains("Last-Event-ID: 4\r\n") && req.contains("Accept: text/event-stream"));
    assert_eq!(events.len(), 1, "{events:?}");
    let e = events[0].as_ref().unwrap();
    assert_eq!(
        (e.id.as_deref(), e.event.as_deref(), e.data.as_str()),
        (Some("5"), Some("path_up"), "{\"x\":1}")
    );
}

#[test]
fn an_event_stream_that_is_not_one_is_refused() {
    let agent = FakeAgent::unix(vec![
        fake::json(200, "[]"),
        fake::json(404, r#"{"code":"not_found","message":"no"}"#),
    ]);
    let e = agent.client(None).event_stream("/api/v1/events", None).err().unwrap();
    assert!(matches!(e, ClientError::Protocol { .. }), "{e:?}");
    let e = agent.client(None).event_stream("/api/v1/events", None).err().unwrap();
    assert_eq!(e.api_code(), Some("not_found"));
}

#[test]
fn query_values_and_segments_are_percent_encoded() {
    assert_eq!(encode("tcp:10.0.1.5:1234-10.0.2.7:443"), "tcp%3A10.0.1.5%3A1234-10.0.2.7%3A443");
    assert_eq!(encode("a~b_c.d"), "a~b_c.d");
    assert_eq!(Query::default().to_string(), "");
    assert_eq!(Query::default().push("a", 1).push("b", "x&y").to_string(), "?a=1&b=x%26y");
}
