//! QoS and bandwidth reservations in running agents: shaped uplinks have a
//! lane per class and mark outer packets with their class's DSCP;
//! a reservation is admitted on the lowest-latency uplink
//! with room, refused with the figures when nothing fits, preempts a lower
//! priority (held down, then re-admitted when room returns), shows up as a
//! lane of its own, is audited and raises events, and survives a restart.

mod mesh;

use std::time::Duration;

use serde_json::{Value, json};
use weft_lab::LinkChange;

use crate::support::{Harness, wait_for};

fn reserve(h: &Harness, rate: &str, priority: u8) -> (u16, Value) {
    let body = json!({"to": h.name(1), "class": "bulk", "rate": rate, "priority": priority});
    h.call(0, "POST", "/api/v1/reservations", Some(&body))
}

fn lanes(h: &Harness, uplink: &str) -> Vec<String> {
    let q = h.get(0, "/api/v1/qos").unwrap_or(Value::Null);
    q["uplinks"]
        .as_array()
        .and_then(|u| u.iter().find(|u| u["uplink"] == uplink))
        .and_then(|u| u["lanes"].as_array())
        .map(|l| l.iter().filter_map(|l| l["name"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

#[test]
fn shaped_uplinks_mark_dscp_and_reservations_are_admitted_refused_preempted_and_readmitted() {
    let mut h = Harness::new("qos", 2, 2, "fast");
    for site in &h.sites {
        let text = std::fs::read_to_string(&site.config).expect("read config");
        let text = text.replace("[[uplink]]\n", "[[uplink]]\ncapacity = \"50mbit\"\n");
        std::fs::write(&site.config, text).expect("write config");
    }
    // u1 is the slower uplink: admission prefers u0.
    let slower = LinkChange { delay: Some("15ms".into()), ..LinkChange::default() };
    h.lab.change_link(0, 1, &slower).expect("delay a:u1");
    let pid = h.start_agent(0);
    h.start_agent(1);
    h.wait_ping(0, h.overlay(1), Duration::from_secs(20));
    wait_for("both uplinks of a shaped, with class lanes", Duration::from_secs(10), || {
        let (u0, u1) = (lanes(&h, "u0"), lanes(&h, "u1"));
        (u0.contains(&"realtime".to_owned()) && u1.contains(&"bulk".to_owned())).then_some(())
    });

    // Outer DSCP by class: ICMP is `interactive` in the lab's class map (AF41).
    let nft = "add table inet weftdscp\n\
               add chain inet weftdscp o { type filter hook output priority 0; }\n\
               add rule inet weftdscp o udp dport 51820 ip dscp af41 counter\n\
               add rule inet weftdscp o udp dport 51820 ip dscp 0 counter\n";
    let script = h.dir.join("dscp.nft");
    std::fs::write(&script, nft).expect("write nft script");
    h.lab.exec_ok(0, &["nft", "-f", script.to_str().expect("path")]).expect("nft");
    assert_eq!(h.ping(0, h.overlay(1), 5), 5);
    let rules =
        h.lab.exec_ok(0, &["nft", "list", "chain", "inet", "weftdscp", "o"]).expect("nft list");
    let af41 = rules.lines().find(|l| l.contains("dscp af41")).unwrap_or_default().to_owned();
    assert!(af41.contains("counter packets") && !af41.contains("counter packets 0 "), "{rules}");

    // 40 Mbit/s reservable per uplink (80 % of 50). The first goes on u0
    // once both paths are up and measured.
    let first = wait_for("the first reservation", Duration::from_secs(15), || {
        let (code, made) = reserve(&h, "20mbit", 1);
        (code == 201 && made["reservation"]["uplink"] == "u0").then_some(made)
    });
    let r1 = first["reservation"]["id"].as_str().expect("id").to_owned();
    assert_eq!(first["reservation"]["state"], "admitted", "{first}");

    let (code, refused) = reserve(&h, "45mbit", 1);
    assert_eq!(code, 409, "{refused}");
    let reason = refused["message"].as_str().unwrap_or_default();
    assert!(
        reason.contains("45.0 Mbit/s")
            && reason.contains("does not fit")
            && reason.contains("u0 20.0 Mbit/s"),
        "{refused}"
    );
    let (code, bad) = reserve(&h, "fast", 1);
    assert_eq!((code, &bad["code"]), (422, &json!("invalid_reservation")), "{bad}");

    let (code, second) = reserve(&h, "35mbit", 1);
    assert_eq!((code, &second["reservation"]["uplink"]), (201, &json!("u1")), "{second}");
    let r2 = second["reservation"]["id"].as_str().expect("id").to_owned();

    // 25 at priority 9: 20 free on u0, 5 on u1; r1 (priority 1) gives way on
    // u0 and has nowhere to go.
    let (code, urgent) = reserve(&h, "25mbit", 9);
    assert_eq!((code, &urgent["reservation"]["uplink"]), (201, &json!("u0")), "{urgent}");
    let r3 = urgent["reservation"]["id"].as_str().expect("id").to_owned();
    let preempted = urgent["preempted"].as_array().expect("preempted");
    assert_eq!(preempted.len(), 1, "{urgent}");
    assert_eq!((&preempted[0]["id"], &preempted[0]["state"]), (&json!(r1), &json!("preempted")));

    // The send path has a lane per admitted reservation on its uplink.
    wait_for("lanes of the admitted reservations", Duration::from_secs(5), || {
        let (u0, u1) = (lanes(&h, "u0"), lanes(&h, "u1"));
        (u0.contains(&r3) && !u0.contains(&r1) && u1.contains(&r2)).then_some(())
    });

    // Room returns on u1: r1 comes back there by itself.
    let (code, gone) = h.call(0, "DELETE", &format!("/api/v1/reservations/{r2}"), None);
    assert_eq!((code, &gone["id"]), (200, &json!(r2)), "{gone}");
    let list = wait_for("r1 re-admitted on u1", Duration::from_secs(5), || {
        let list = h.get(0, "/api/v1/reservations")?;
        let r = list.as_array()?.iter().find(|r| r["id"] == r1.as_str())?.clone();
        (r["state"] == "admitted" && r["uplink"] == "u1").then_some(list)
    });
    assert_eq!(list.as_array().map(Vec::len), Some(2), "{list}");
    assert_eq!(h.call(0, "DELETE", "/api/v1/reservations/r999", None).0, 404);

    let actions = h.audit_actions(0);
    for a in
        ["reservation.create", "reservation.preempt", "reservation.delete", "reservation.readmit"]
    {
        assert!(actions.iter().any(|x| x == a), "{a} audited: {actions:?}");
    }
    let events = h.get(0, "/api/v1/events/history?limit=500").expect("events");
    let messages: Vec<&str> = events["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["kind"] == "reservation_changed")
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert!(
        messages.iter().any(|m| m.contains(&format!("{r1} preempted by {r3}"))),
        "{messages:?}"
    );

    // They survive a restart and are enforced again.
    h.lab.kill(pid);
    std::thread::sleep(Duration::from_millis(500));
    h.start_agent(0);
    let after = wait_for("reservations after a restart", Duration::from_secs(10), || {
        let l = h.get(0, "/api/v1/reservations")?;
        (l == list).then_some(l)
    });
    assert_eq!(after, list);
    wait_for("lanes after a restart", Duration::from_secs(10), || {
        let (u0, u1) = (lanes(&h, "u0"), lanes(&h, "u1"));
        (u0.contains(&r3) && u1.contains(&r1)).then_some(())
    });

    // A reservation for one app of the running policy: its route's class.
    let policy = "[policy]\nname = \"apps\"\ndefault = \"allow\"\n\n[apps.rsync]\nprotocol = \"tcp\"\nports = [873]\n\n[[route]]\nname = \"rsync\"\napp = \"rsync\"\nclass = \"bulk\"\n";
    let out = std::process::Command::new("curl")
        .args(["-sf", "--max-time", "10", "--data-binary", policy, "--unix-socket"])
        .arg(h.socket(0))
        .arg("http://weft/api/v1/policy")
        .output()
        .expect("curl");
    assert!(out.status.success(), "policy apply: {}", String::from_utf8_lossy(&out.stdout));
    let body = json!({"to": h.name(1), "app": "rsync", "rate": "5mbit"});
    // Right after the restart the paths may not be up yet.
    let (code, made) = wait_for("the paths after the restart", Duration::from_secs(15), || {
        let (code, made) = h.call(0, "POST", "/api/v1/reservations", Some(&body));
        let waiting = made["message"].as_str().is_some_and(|m| m.contains("no usable path"));
        (!waiting).then_some((code, made))
    });
    assert_eq!(code, 201, "{made}");
    assert_eq!(
        (&made["reservation"]["app"], &made["reservation"]["class"]),
        (&json!("rsync"), &json!("bulk"))
    );
    let body = json!({"to": h.name(1), "app": "backup", "rate": "5mbit"});
    let (code, refused) = h.call(0, "POST", "/api/v1/reservations", Some(&body));
    assert_eq!(code, 422, "{refused}");
    assert!(
        refused["message"].as_str().is_some_and(|m| m.contains("apps with routes: rsync")),
        "{refused}"
    );
    let both = json!({"to": h.name(1), "app": "rsync", "class": "bulk", "rate": "5mbit"});
    assert_eq!(h.call(0, "POST", "/api/v1/reservations", Some(&both)).0, 422);
}
