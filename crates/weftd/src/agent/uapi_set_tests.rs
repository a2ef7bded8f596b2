use super::*;

fn kv(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

fn p(s: &str) -> IpPrefix {
    IpPrefix::parse(s).unwrap()
}

const OWN: PrivateKey = PrivateKey([7; 32]);

fn peer(key: u8, name: &str, prefix: &str, owner: Owner) -> PeerView {
    PeerView {
        name: SiteId::new(name).unwrap(),
        key: PublicKey([key; 32]),
        prefixes: vec![p(prefix)],
        endpoints: vec!["198.18.0.2:51820".parse().unwrap()],
        keepalive: None,
        psk: None,
        owner,
    }
}

fn run(peers: &[PeerView], text: &str) -> Result<Vec<Change>, Refusal> {
    let local = [p("10.77.1.0/24")];
    let dev = DeviceView {
        private_key: &OWN,
        public_key: PublicKey([8; 32]),
        listen_port: 51820,
        local_prefixes: &local,
        peers,
    };
    plan(&kv(text), &dev)
}

fn hex(b: u8) -> String {
    PublicKey([b; 32]).to_hex()
}

fn errno(r: Result<Vec<Change>, Refusal>) -> i32 {
    r.expect_err("refused").errno
}

#[test]
fn wg_set_adds_a_stock_peer_with_its_endpoint_keepalive_psk_and_allowed_ips() {
    let req = format!(
        "public_key={}\npreshared_key={}\nendpoint=198.18.5.2:51820\npersistent_keepalive_interval=25\n\
         replace_allowed_ips=true\nallowed_ip=10.99.0.0/24\nallowed_ip=10.99.1.5/32",
        hex(3),
        hex(9)
    );
    let changes = run(&[], &req).unwrap();
    let [Change::Up { spec, psk, renew }] = changes.as_slice() else { panic!("{changes:?}") };
    assert_eq!(spec.name.as_str(), &format!("wg-{}", &hex(3)[..8]));
    assert!(spec.stock && spec.dynamic && !renew);
    assert_eq!(spec.endpoints, ["198.18.5.2:51820".parse().unwrap()]);
    assert_eq!(spec.prefixes, [p("10.99.0.0/24"), p("10.99.1.5/32")]);
    assert_eq!(spec.keepalive, Some(Duration::from_secs(25)));
    assert_eq!(*psk, Some(Psk([9; 32])));
}

#[test]
fn changing_a_stock_peer_keeps_what_the_request_does_not_name() {
    let mut old = peer(3, "wg-03030303", "10.99.0.0/24", Owner::Uapi);
    old.keepalive = Some(25);
    let req = format!("public_key={}\nallowed_ip=10.99.2.0/24", hex(3));
    let changes = run(&[old.clone()], &req).unwrap();
    let [Change::Up { spec, renew: false, .. }] = changes.as_slice() else { panic!("{changes:?}") };
    assert_eq!(spec.prefixes, [p("10.99.0.0/24"), p("10.99.2.0/24")], "appended");
    assert_eq!(
        (spec.endpoints.clone(), spec.keepalive),
        (old.endpoints.clone(), Some(Duration::from_secs(25)))
    );
    // A new keepalive needs a new session; the same values change nothing.
    let req = format!("public_key={}\npersistent_keepalive_interval=0", hex(3));
    let changes = run(&[old.clone()], &req).unwrap();
    assert!(
        matches!(changes.as_slice(), [Change::Up { renew: true, spec, .. }] if spec.keepalive.is_none())
    );
    let req = format!("public_key={}\nendpoint=198.18.0.2:51820", hex(3));
    assert_eq!(run(&[old], &req).unwrap(), []);
}

#[test]
fn remove_takes_a_stock_peer_away_and_ignores_an_unknown_one() {
    let old = peer(3, "wg-03030303", "10.99.0.0/24", Owner::Uapi);
    let changes = run(&[old], &format!("public_key={}\nremove=true", hex(3))).unwrap();
    assert_eq!(
        changes,
        [Change::Remove { site: SiteId::new("wg-03030303").unwrap(), key: PublicKey([3; 32]) }]
    );
    assert_eq!(run(&[], &format!("public_key={}\nremove=true", hex(4))).unwrap(), []);
    assert_eq!(
        run(&[], &format!("public_key={}\nupdate_only=true\nendpoint=1.2.3.4:5", hex(4))).unwrap(),
        []
    );
}

#[test]
fn what_weft_owns_is_refused_with_eperm_unless_it_is_left_as_it_is() {
    assert_eq!(errno(run(&[], &format!("private_key={}", hex(1)))), EPERM);
    assert_eq!(run(&[], &format!("private_key={}", OWN.to_hex())).unwrap(), []);
    assert_eq!(errno(run(&[], "listen_port=4000")), EPERM);
    assert_eq!(run(&[], "listen_port=51820\nfwmark=0").unwrap(), []);
    assert_eq!(errno(run(&[], "fwmark=7")), EPERM);
    assert_eq!(errno(run(&[], "replace_peers=true")), EPERM);
    let configured = peer(2, "b", "10.77.2.0/24", Owner::Config);
    let member = peer(5, "lyon", "10.77.5.0/24", Owner::Mesh);
    for (who, site) in [(2, "site b of the configuration"), (5, "site lyon of the mesh")] {
        for change in [
            "remove=true",
            "endpoint=1.2.3.4:5",
            "allowed_ip=10.1.0.0/16",
            "persistent_keepalive_interval=5",
        ] {
            let r = run(
                &[configured.clone(), member.clone()],
                &format!("public_key={}\n{change}", hex(who)),
            );
            let refusal = r.expect_err(change);
            assert_eq!(refusal.errno, EPERM, "{change}");
            assert!(refusal.why.contains(site), "{}", refusal.why);
        }
    }
    // Naming a mesh peer without changing it (wg syncconf does) is fine.
    assert_eq!(run(&[member], &format!("public_key={}\nprotocol_version=1", hex(5))).unwrap(), []);
}

#[test]
fn a_request_is_refused_whole_with_the_errno_that_names_the_problem() {
    let configured = peer(2, "b", "10.77.2.0/24", Owner::Config);
    // Another site's prefix, or this site's own.
    for prefix in ["10.77.2.128/25", "10.77.1.9/32"] {
        let req = format!("public_key={}\nendpoint=1.2.3.4:5\nallowed_ip={prefix}", hex(3));
        assert_eq!(errno(run(std::slice::from_ref(&configured), &req)), EADDRINUSE, "{prefix}");
    }
    // Two stock peers of one request may not claim the same prefix either.
    let req = format!(
        "public_key={}\nendpoint=1.2.3.4:5\nallowed_ip=10.99.0.0/24\npublic_key={}\nendpoint=1.2.3.4:6\nallowed_ip=10.99.0.0/16",
        hex(3),
        hex(4)
    );
    assert_eq!(errno(run(&[], &req)), EADDRINUSE);
    assert_eq!(
        errno(run(&[], &format!("public_key={}\nallowed_ip=10.99.0.0/24", hex(3)))),
        EDESTADDRREQ
    );
    assert_eq!(
        errno(run(&[], &format!("public_key={}\nendpoint=1.2.3.4:5", PublicKey([8; 32]).to_hex()))),
        EINVAL
    );
    for bad in [
        "frob=1".to_owned(),
        "public_key=zz".to_owned(),
        format!("public_key={}\nendpoint=nowhere", hex(3)),
        format!("public_key={}\nallowed_ip=10.0.0.0/33", hex(3)),
        format!("public_key={}\npersistent_keepalive_interval=70000", hex(3)),
        format!("public_key={}\nprotocol_version=2", hex(3)),
        format!("public_key={}\nremove=yes", hex(3)),
        format!("public_key={}\nfrob=1", hex(3)),
    ] {
        assert_eq!(errno(run(&[], &bad)), EINVAL, "{bad}");
    }
}

#[test]
fn the_stock_name_is_a_valid_site_id_from_the_key() {
    assert_eq!(stock_name(&PublicKey([0xab; 32])).as_str(), "wg-abababab");
}

#[test]
fn the_fuzz_entry_answers_with_changes_or_an_errno() {
    let req = |t: &str| fuzz_plan(&kv(t));
    assert_eq!(req(&format!("public_key={}\nendpoint=192.0.2.1:5", hex(5))), Ok(1));
    assert_eq!(req(&format!("public_key={}\nremove=true", hex(4))), Ok(1));
    assert_eq!(req(&format!("public_key={}\nremove=true", hex(2))), Err(EPERM));
    assert_eq!(req("listen_port=1"), Err(EPERM));
}
