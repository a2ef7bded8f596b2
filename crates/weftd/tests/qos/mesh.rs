//! Mesh-wide reservations through the control plane: made at the
//! controller, admitted against the source's uplink and the destination's
//! downlink, placed and enforced at the source, shown everywhere, refused
//! with the short end's figures, preempted by priority and re-admitted by
//! the leader when room returns; refused at a site that is not a
//! controller.

use std::time::Duration;

use serde_json::{Value, json};

use crate::control::single_controller_lab_with;
use crate::support::{Harness, wait_for};

fn find(h: &Harness, i: usize, id: &str) -> Option<Value> {
    let list = h.get(i, "/api/v1/reservations")?;
    list.as_array()?.iter().find(|r| r["id"] == id).cloned()
}

fn lanes(h: &Harness, i: usize) -> Vec<String> {
    let q = h.get(i, "/api/v1/qos").unwrap_or(Value::Null);
    q["uplinks"][0]["lanes"]
        .as_array()
        .map(|l| l.iter().filter_map(|l| l["name"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

#[test]
fn mesh_wide_reservations_are_admitted_against_both_ends_and_enforced_at_their_source() {
    // a (the controller) and b: 100 Mbit/s; c: 50 Mbit/s, so 40 reservable
    // at its downlink.
    let h = single_controller_lab_with("qosmesh", |h| {
        for (i, site) in h.sites.iter().enumerate() {
            let cap = if i == 2 { "50mbit" } else { "100mbit" };
            let text = std::fs::read_to_string(&site.config).expect("read config");
            let text = text.replace("[[uplink]]\n", &format!("[[uplink]]\ncapacity = \"{cap}\"\n"));
            std::fs::write(&site.config, text).expect("write config");
        }
    });
    let (site_a, site_b, site_c) = (h.name(0), h.name(1), h.name(2));
    let ask = |from: &str, rate: &str, priority: u8| json!({"from": from, "to": site_c, "class": "bulk", "rate": rate, "priority": priority});

    // Once the controller has every site's link state: b → c, 30 Mbit/s.
    let made = wait_for("the first mesh-wide reservation", Duration::from_secs(30), || {
        let (code, made) =
            h.call(0, "POST", "/api/v1/reservations", Some(&ask(&site_b, "30mbit", 1)));
        (code == 201).then_some(made)
    });
    let m1 = made["reservation"]["id"].as_str().expect("id").to_owned();
    assert!(m1.starts_with('m'), "{made}");
    assert_eq!(
        (&made["reservation"]["from"], &made["reservation"]["state"]),
        (&json!(site_b), &json!("admitted"))
    );

    // b, the source, places it on its uplink and gives it a lane; c shows it.
    wait_for("m1 placed at b", Duration::from_secs(10), || {
        let r = find(&h, 1, &m1)?;
        (r["state"] == "admitted" && r["uplink"] == "u0").then_some(())
    });
    wait_for("m1's lane at b", Duration::from_secs(5), || lanes(&h, 1).contains(&m1).then_some(()));
    wait_for("m1 shown at c", Duration::from_secs(5), || {
        let r = find(&h, 2, &m1)?;
        (r["from"] == site_b.as_str() && r["uplink"].is_null()).then_some(())
    });

    // a's uplink has room, c's downlink does not: refused, naming c.
    let (code, refused) =
        h.call(0, "POST", "/api/v1/reservations", Some(&ask(&site_a, "20mbit", 0)));
    assert_eq!(code, 409, "{refused}");
    let why = refused["message"].as_str().unwrap_or_default();
    assert!(
        why.contains(&format!(
            "{site_c}'s downlink has 10.0 Mbit/s free of 40.0 Mbit/s reservable"
        )),
        "{refused}"
    );

    // At a higher priority it preempts m1, which b stops enforcing.
    let (code, urgent) =
        h.call(0, "POST", "/api/v1/reservations", Some(&ask(&site_a, "20mbit", 5)));
    assert_eq!(code, 201, "{urgent}");
    let m2 = urgent["reservation"]["id"].as_str().expect("id").to_owned();
    assert_eq!(urgent["preempted"][0]["id"], m1.as_str(), "{urgent}");
    assert_eq!(urgent["preempted"][0]["state"], "preempted", "{urgent}");
    wait_for("m1 preempted at b, its lane gone", Duration::from_secs(10), || {
        let r = find(&h, 1, &m1)?;
        (r["state"] == "preempted" && !lanes(&h, 1).contains(&m1)).then_some(())
    });
    wait_for("b's metrics counting m1 as preempted", Duration::from_secs(5), || {
        let m = h.metrics_text(1);
        (m.lines().any(|l| l == "weft_qos_reservations{state=\"preempted\"} 1")
            && m.lines().any(|l| l == "weft_qos_reservations{state=\"admitted\"} 1"))
        .then_some(())
    });
    wait_for("m2 placed at a", Duration::from_secs(10), || {
        (find(&h, 0, &m2)?["uplink"] == "u0" && lanes(&h, 0).contains(&m2)).then_some(())
    });

    // A site that is not a controller cannot make or end one.
    let (code, body) = h.call(1, "POST", "/api/v1/reservations", Some(&ask(&site_b, "1mbit", 0)));
    assert_eq!((code, body["code"].as_str()), (409, Some("not_a_controller")), "{body}");
    assert_eq!(h.call(1, "DELETE", &format!("/api/v1/reservations/{m2}"), None).0, 409);
    let (code, bad) = h.call(
        0,
        "POST",
        "/api/v1/reservations",
        Some(&json!({"from": site_c, "to": site_c, "class": "bulk", "rate": "1mbit"})),
    );
    assert_eq!((code, bad["code"].as_str()), (422, Some("invalid_reservation")), "{bad}");

    // m2 ends: the leader re-admits m1 and b enforces it again.
    let (code, gone) = h.call(0, "DELETE", &format!("/api/v1/reservations/{m2}"), None);
    assert_eq!((code, &gone["id"]), (200, &json!(m2)), "{gone}");
    wait_for("m1 back at b", Duration::from_secs(10), || {
        let r = find(&h, 1, &m1)?;
        (r["state"] == "admitted" && r["uplink"] == "u0" && lanes(&h, 1).contains(&m1))
            .then_some(())
    });
    wait_for("m2 gone everywhere", Duration::from_secs(10), || {
        (find(&h, 0, &m2).is_none() && find(&h, 2, &m2).is_none()).then_some(())
    });
    assert_eq!(h.call(0, "DELETE", "/api/v1/reservations/m999", None).0, 404);
}
