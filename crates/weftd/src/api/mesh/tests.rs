//! The mesh endpoints' checks, error mapping and round trips with a fake
//! mesh thread (a std thread answering [`MeshCtl`]).

use std::sync::mpsc;

use super::*;

fn code(f: &Failure) -> (u16, &str) {
    (f.0.as_u16(), f.1.code.as_str())
}

/// A change to a token request.
type Edit = Box<dyn FnOnce(&mut MeshTokenCreate)>;

fn token_req(f: impl FnOnce(&mut MeshTokenCreate)) -> ApiResult<MeshTokenCreate> {
    let mut r = MeshTokenCreate::default();
    f(&mut r);
    checked_token_request(r)
}

fn status() -> MeshStatus {
    MeshStatus {
        site: "paris".into(),
        ca_fingerprint: "0011223344556677".into(),
        ca_holder: true,
        topology: "full-mesh".into(),
        cert_serial: 3,
        cert_expires_unix_s: 1_700_086_400,
        cert_renew_unix_s: 1_700_057_600,
        revocation_version: 0,
        members: Vec::new(),
        counters: Vec::new(),
    }
}

/// A mesh thread answering every request with `answer`, until the sender is dropped.
fn fake_mesh(
    answer: impl Fn(MeshCtl) + Send + 'static,
) -> (Sender<MeshCtl>, std::thread::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel::<MeshCtl>();
    let t = std::thread::spawn(move || {
        while let Ok(m) = rx.recv() {
            answer(m);
        }
    });
    (tx, t)
}

#[test]
fn an_empty_token_request_gets_the_defaults() {
    let r = token_req(|_| {}).unwrap();
    assert_eq!(r.ttl_s, Some(3600));
    assert_eq!(r.uses, Some(1));
    assert_eq!(r.role.as_deref(), Some("site"));
    assert_eq!(r.region.as_deref(), Some(""));
    assert_eq!(r.prefixes, None);
}

#[test]
fn each_invalid_token_field_is_a_400_naming_the_field() {
    let cases: Vec<(&str, Edit)> = vec![
        ("ttl_s", Box::new(|r| r.ttl_s = Some(59))),
        ("ttl_s", Box::new(|r| r.ttl_s = Some(2_592_001))),
        ("uses", Box::new(|r| r.uses = Some(0))),
        ("uses", Box::new(|r| r.uses = Some(10_001))),
        ("role", Box::new(|r| r.role = Some(String::new()))),
        ("role", Box::new(|r| r.role = Some("Hub".into()))),
        ("region", Box::new(|r| r.region = Some("eu west".into()))),
        ("region", Box::new(|r| r.region = Some("a".repeat(64)))),
        ("prefixes", Box::new(|r| r.prefixes = Some(vec![]))),
        ("prefixes", Box::new(|r| r.prefixes = Some(vec!["10.0.0.0/8".into(); 65]))),
        ("learn", Box::new(|r| r.learn = Some(vec![]))),
        ("learn", Box::new(|r| r.learn = Some(vec!["10.60.0.0/16".into(); 9]))),
    ];
    for (field, f) in cases {
        let e = token_req(f).unwrap_err();
        assert_eq!(code(&e), (400, "invalid_request"), "{e:?}");
        assert!(e.1.message.starts_with(&format!("{field}: ")), "{e:?}");
    }
}

#[test]
fn a_prefix_that_is_not_cidr_without_host_bits_is_a_422() {
    for bad in ["10.1.0.0/33", "10.1.0.1/16", "not-a-prefix"] {
        let e = token_req(|r| r.prefixes = Some(vec![bad.into()])).unwrap_err();
        assert_eq!(code(&e), (422, "invalid_prefix"), "{e:?}");
        assert!(e.1.message.starts_with("prefixes: "), "{e:?}");
    }
}

#[test]
fn a_learn_range_that_is_not_cidr_without_host_bits_is_a_422() {
    for bad in ["10.60.0.0/33", "10.60.0.1/16", "on-prem"] {
        let e = token_req(|r| r.learn = Some(vec![bad.into()])).unwrap_err();
        assert_eq!(code(&e), (422, "invalid_prefix"), "{e:?}");
        assert!(e.1.message.starts_with("learn: "), "{e:?}");
    }
    let ok = token_req(|r| r.learn = Some(vec!["10.60.0.0/16".into(); 8])).unwrap();
    assert_eq!(ok.learn.map(|l| l.len()), Some(8));
}

#[test]
fn the_bounds_of_every_token_field_are_accepted() {
    let r = token_req(|r| {
        r.ttl_s = Some(60);
        r.uses = Some(10_000);
        r.role = Some("hub".into());
        r.region = Some("a".repeat(63));
        r.prefixes = Some(vec!["10.1.0.0/16".into(), "fd00::/8".into()]);
    })
    .unwrap();
    assert_eq!((r.ttl_s, r.uses), (Some(60), Some(10_000)));
    assert!(token_req(|r| r.ttl_s = Some(2_592_000)).is_ok());
    assert!(token_req(|r| r.region = Some("eu-west-2".into())).is_ok());
}

#[test]
fn a_revocation_needs_a_valid_site_id() {
    assert_eq!(checked_site(&MeshRevoke { site: "paris".into() }).unwrap(), "paris");
    let e = checked_site(&MeshRevoke { site: String::new() }).unwrap_err();
    assert_eq!(code(&e), (400, "invalid_request"));
    assert!(e.1.message.starts_with("site: "), "{e:?}");
}

#[test]
fn refusals_map_to_their_status_and_code() {
    let r = |kind| MeshRefusal { kind, message: "why".into() };
    assert_eq!(code(&refusal(r(RefusalKind::NotCaHolder))), (409, "not_ca_holder"));
    assert_eq!(code(&refusal(r(RefusalKind::Invalid))), (400, "invalid_request"));
    assert_eq!(code(&refusal(r(RefusalKind::NotFound))), (404, "not_found"));
    assert_eq!(refusal(r(RefusalKind::NotFound)).1.message, "why");
}

#[tokio::test(flavor = "current_thread")]
async fn an_agent_without_a_mesh_answers_not_in_mesh() {
    let e = ask_mesh(None, MESH_WAIT, |reply| MeshCtl::Status { reply }).await.unwrap_err();
    assert_eq!(code(&e), (409, "not_in_mesh"));
    assert!(e.1.message.contains("--join"), "{e:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn the_status_and_a_token_round_trip_through_the_mesh_thread() {
    let (tx, t) = fake_mesh(|m| match m {
        MeshCtl::Status { reply } => {
            let _ = reply.send(status());
        }
        MeshCtl::CreateToken { req, reply } => {
            let _ = reply.send(Ok(MeshToken {
                token: "weft1.AAAA".into(),
                id: "00".repeat(16),
                expires_unix_s: 1_700_000_000 + req.ttl_s.unwrap(),
                uses: req.uses.unwrap(),
                role: req.role.unwrap(),
                region: req.region.unwrap(),
            }));
        }
        MeshCtl::Revoke { site, reply, .. } => {
            let _ = reply.send(Err(MeshRefusal {
                kind: RefusalKind::NotFound,
                message: format!("no site {site}"),
            }));
        }
        MeshCtl::Publish(_)
        | MeshCtl::StopPublishing
        | MeshCtl::Ack { .. }
        | MeshCtl::EnrolAnswer { .. }
        | MeshCtl::RequestSvid(_)
        | MeshCtl::SendSvid { .. }
        | MeshCtl::ApplyRevocations { .. } => {}
    });
    let s = ask_mesh(Some(&tx), MESH_WAIT, |reply| MeshCtl::Status { reply }).await.unwrap();
    assert_eq!(s, status());
    let req = token_req(|r| r.uses = Some(5)).unwrap();
    let tok = ask_mesh(Some(&tx), MESH_WAIT, |reply| MeshCtl::CreateToken { req, reply })
        .await
        .unwrap()
        .unwrap();
    assert_eq!((tok.uses, tok.role.as_str(), tok.expires_unix_s), (5, "site", 1_700_003_600));
    let e = ask_mesh(Some(&tx), MESH_WAIT, |reply| MeshCtl::Revoke {
        site: "x".into(),
        client: false,
        reply,
    })
    .await
    .unwrap()
    .map_err(refusal)
    .unwrap_err();
    assert_eq!(code(&e), (404, "not_found"));
    drop(tx);
    t.join().unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn a_mesh_thread_that_is_late_or_gone_is_a_503() {
    // Holds every request without answering.
    let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = held.clone();
    let (tx, _t) = fake_mesh(move |m| keep.lock().unwrap().push(m));
    let e = ask_mesh(Some(&tx), Duration::from_millis(50), |reply| MeshCtl::Status { reply })
        .await
        .unwrap_err();
    assert_eq!(code(&e), (503, "unavailable"));

    let (gone, rx) = mpsc::channel::<MeshCtl>();
    drop(rx);
    let e = ask_mesh(Some(&gone), MESH_WAIT, |reply| MeshCtl::Status { reply }).await.unwrap_err();
    assert_eq!(code(&e), (503, "unavailable"));
    // A thread that drops the reply channel is as good as gone.
    let (dropper, _t2) = fake_mesh(drop);
    let e =
        ask_mesh(Some(&dropper), MESH_WAIT, |reply| MeshCtl::Status { reply }).await.unwrap_err();
    assert_eq!(code(&e), (503, "unavailable"));
}
