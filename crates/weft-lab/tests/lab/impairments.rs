//! Delay, loss, outages and order, observed with ping and UDP through the lab.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use weft_lab::{Impairment, Lab, LinkChange};

use crate::common::{build, lab, ping, reachable};

#[test]
fn a_clean_lab_connects_every_uplink_pair() {
    let lab = lab(2, 2);
    for ua in 0..2 {
        for ub in 0..2 {
            let (from, to) = (lab.addr("a", ua).unwrap(), lab.addr("b", ub).unwrap());
            assert!(reachable(&lab, "a", from, to), "a:{ua} -> b:{ub} unreachable");
        }
    }
}

#[test]
fn a_40ms_delay_on_one_uplink_gives_an_80ms_round_trip() {
    let mut lab = lab(2, 2);
    lab.set_link("a", 0, Impairment::delay(Duration::from_millis(40))).unwrap();
    let (a0, a1, b0, b1) = (
        lab.addr("a", 0).unwrap(),
        lab.addr("a", 1).unwrap(),
        lab.addr("b", 0).unwrap(),
        lab.addr("b", 1).unwrap(),
    );
    let slow = ping(&lab, "a", a0, b0, 10, "0.05");
    assert_eq!(slow.received, slow.sent, "a delay alone must not lose packets");
    let rtt = slow.avg_ms.expect("replies on the delayed uplink");
    eprintln!("RTT over a:0 with 40 ms one-way delay: {rtt:.2} ms");
    assert!((72.0..=88.0).contains(&rtt), "RTT {rtt} ms not within 80 ms ± 10 %");
    let fast = ping(&lab, "a", a1, b1, 5, "0.05").avg_ms.expect("replies on the clean uplink");
    assert!(fast < 5.0, "the clean uplink got slower too: {fast} ms");
}

/// Sends `n` numbered datagrams from site a (uplink `ua`) to site b (uplink `ub`)
/// and returns the sequence numbers received, in arrival order.
fn udp_run(lab: &Lab, ua: usize, ub: usize, n: u32, settle: Duration) -> Vec<u32> {
    let dst = SocketAddr::from((lab.addr("b", ub).unwrap(), 9000));
    let src = SocketAddr::from((lab.addr("a", ua).unwrap(), 0));
    let rx = lab.in_site("b", || UdpSocket::bind(dst)).unwrap().expect("bind receiver");
    let tx = lab.in_site("a", || UdpSocket::bind(src)).unwrap().expect("bind sender");
    rx.set_read_timeout(Some(settle)).unwrap();
    let receiver = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        while let Ok(len) = rx.recv(&mut buf) {
            if len >= 4 {
                got.push(u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]));
            }
        }
        got
    });
    for i in 0..n {
        tx.send_to(&i.to_be_bytes(), dst).expect("send");
        if i % 50 == 49 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    receiver.join().expect("receiver thread")
}

#[test]
fn ten_percent_loss_is_observed_over_2000_packets() {
    let mut lab = build(Lab::builder().sites(2).uplinks(1).seed(7));
    lab.set_link("a", 0, Impairment::loss(0.10)).unwrap();
    let got = udp_run(&lab, 0, 0, 2000, Duration::from_millis(500));
    let loss = 1.0 - got.len() as f64 / 2000.0;
    eprintln!("observed loss {:.2} % over 2000 datagrams", loss * 100.0);
    assert!((0.07..=0.13).contains(&loss), "loss {loss} not within 10 % ± 3 %");
    let stats = lab.emulator_stats().unwrap();
    assert_eq!(stats.dropped_loss, 2000 - got.len() as u64, "{stats:?}");
}

#[test]
fn without_jitter_packets_keep_their_order() {
    let mut lab = lab(2, 1);
    lab.set_link("a", 0, Impairment::delay(Duration::from_millis(10))).unwrap();
    let got = udp_run(&lab, 0, 0, 1000, Duration::from_millis(300));
    assert_eq!(got.len(), 1000);
    assert!(got.windows(2).all(|w| w[0] < w[1]), "reordered without jitter");
}

#[test]
fn jitter_spreads_round_trips_around_the_delay() {
    let mut lab = lab(2, 1);
    let change = LinkChange {
        delay: Some("20ms".into()),
        jitter: Some("5ms".into()),
        ..LinkChange::default()
    };
    lab.change_link("a", "u0", &change).unwrap();
    let p = ping(&lab, "a", lab.addr("a", 0).unwrap(), lab.addr("b", 0).unwrap(), 20, "0.02");
    let rtt = p.avg_ms.unwrap();
    assert!((34.0..=46.0).contains(&rtt), "RTT {rtt} ms, expected about 40 ms");
}

#[test]
fn down_stops_that_uplink_only_and_up_restores_it() {
    let mut lab = lab(2, 2);
    let (a0, a1, b0, b1) = (
        lab.addr("a", 0).unwrap(),
        lab.addr("a", 1).unwrap(),
        lab.addr("b", 0).unwrap(),
        lab.addr("b", 1).unwrap(),
    );
    let t = Instant::now();
    lab.change_link("a", 0, &LinkChange { down: Some(true), ..LinkChange::default() }).unwrap();
    eprintln!("--down applied in {:?}", t.elapsed());
    assert!(!reachable(&lab, "a", a0, b0), "a:0 still carries traffic while down");
    assert!(!reachable(&lab, "a", a0, b1), "a:0 still carries traffic while down");
    assert!(reachable(&lab, "a", a1, b1), "a:1 was cut too");
    assert!(reachable(&lab, "a", a1, b0), "b:0 was cut too");
    assert!(
        reachable(&lab, "b", b0, b1) || reachable(&lab, "b", b1, b0),
        "site b lost its uplinks"
    );
    // The site's interface stays up with its address: a cut beyond the CPE.
    let link = lab.exec_ok("a", &["ip", "-br", "addr", "show", "dev", "u0"]).unwrap();
    assert!(link.contains("UP") && link.contains(&a0.to_string()), "{link}");
    let t = Instant::now();
    lab.change_link("a", 0, &LinkChange { down: Some(false), ..LinkChange::default() }).unwrap();
    eprintln!("--up applied in {:?}", t.elapsed());
    assert!(reachable(&lab, "a", a0, b0), "a:0 did not come back");
}

#[test]
fn rate_limits_throughput_on_that_uplink() {
    let mut lab = lab(2, 1);
    lab.change_link("a", 0, &LinkChange { rate: Some("20mbit".into()), ..LinkChange::default() })
        .unwrap();
    let b0 = lab.addr("b", 0).unwrap().to_string();
    let server = lab.spawn("b", &["iperf3", "-s", "-1", "-B", &b0]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let out = lab.exec_ok("a", &["iperf3", "-c", &b0, "-t", "2", "-J"]).unwrap();
    lab.kill(server);
    let bps = out
        .split("\"sum_received\"")
        .nth(1)
        .and_then(|s| s.split("\"bits_per_second\":").nth(1))
        .and_then(|s| s.split([',', '}']).next())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .expect("iperf3 JSON");
    eprintln!("TCP over a 20mbit uplink: {:.1} Mbit/s", bps / 1e6);
    assert!((14e6..=21e6).contains(&bps), "{bps} bit/s through a 20mbit uplink");
}

#[test]
fn via_emulator_sends_clean_traffic_through_the_emulator() {
    let lab = build(Lab::builder().sites(2).uplinks(1).via_emulator(true));
    let before = lab.emulator_stats().unwrap().received;
    assert!(reachable(&lab, "a", lab.addr("a", 0).unwrap(), lab.addr("b", 0).unwrap()));
    let after = lab.emulator_stats().unwrap();
    assert!(after.received >= before + 4, "{after:?}");
}
