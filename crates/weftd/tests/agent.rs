//! Acceptance tests of the running agent: `weftd` processes in the sites of a
//! namespace lab (`weft-lab`), driven through real traffic and read through
//! `/api/v1/paths`. They need root; each builds its own lab, so they run in
//! parallel, and the lab's drop kills every process they started.
//!
//! When a test fails, the agents' logs are printed (see `support::Harness`).

mod api;
mod bgp;
mod console;
mod control;
mod crash;
mod disk;
mod flood;
mod gtm;
mod ipsec;
mod mesh;
mod offload;
mod policy;
mod profiles;
mod qos;
mod support;
mod uapi;
mod zt;

use std::hash::Hasher as _;
use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use weft_dataplane::probe::{ProbeFields, ProbeKey, encode_probe};
use weft_lab::Impairment;
use weftd::agent::read_private_key;

use support::{Harness, active_uplink, count, paths, states, wait_for};

/// Bytes of the bulk transfer.
const TRANSFER_BYTES: usize = 8 << 20;

#[test]
fn two_sites_bring_all_paths_up_ping_and_carry_a_tcp_transfer_intact() {
    let mut h = Harness::new("transfer", 2, 2, "adaptive");
    h.start_agent(0);
    h.start_agent(1);
    for (site, peer) in [(0, "b"), (1, "a")] {
        wait_for(&format!("4 paths up in site {site}"), Duration::from_secs(20), || {
            let s = h.try_status(site)?;
            let ps = paths(&s);
            (ps.len() == 4 && ps.iter().all(|p| p["peer"] == peer && p["state"] == "up"))
                .then_some(())
        });
    }
    let first = h.wait_ping(0, h.overlay(1), Duration::from_secs(10));
    assert_eq!(h.ping(1, h.overlay(0), 3), 3, "ping from b to a over the overlay");
    eprintln!("first ping a -> b answered after {first:?}");

    let server_addr = SocketAddr::from((h.overlay(1), 5001));
    let listener =
        h.lab.in_site(1, || TcpListener::bind(server_addr)).expect("in site").expect("bind");
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().expect("accept");
        let mut hasher = std::hash::DefaultHasher::new();
        let mut total = 0usize;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = conn.read(&mut buf).expect("read");
            if n == 0 {
                break;
            }
            hasher.write(&buf[..n]);
            total += n;
        }
        (total, hasher.finish())
    });
    let mut client = h
        .lab
        .in_site(0, || TcpStream::connect_timeout(&server_addr, Duration::from_secs(10)))
        .expect("in site")
        .expect("connect over the overlay");
    client.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
    let data = pseudo_random(TRANSFER_BYTES, 0x5eed_f00d);
    let mut hasher = std::hash::DefaultHasher::new();
    hasher.write(&data);
    let sent_hash = hasher.finish();
    let t = Instant::now();
    for chunk in data.chunks(64 * 1024) {
        client.write_all(chunk).expect("send over the overlay");
    }
    drop(client);
    let (received, received_hash) = server.join().expect("server thread");
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(received, TRANSFER_BYTES, "bytes received");
    assert_eq!(received_hash, sent_hash, "the transfer arrived altered");
    eprintln!(
        "transfer: {} MiB in {secs:.2} s = {:.1} Mbit/s",
        TRANSFER_BYTES >> 20,
        TRANSFER_BYTES as f64 * 8.0 / secs / 1e6
    );
    eprintln!("failovers on clean uplinks: {}", h.try_status(0).expect("status")["failovers"]);
    let wg = h.lab.exec_ok(0, &["wg", "show", &h.sites[0].interface, "latest-handshakes"]);
    let wg = wg.expect("wg show against weftd");
    let handshake: u64 =
        wg.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("handshake time");
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    assert!(now.abs_diff(handshake) < 120, "no recent handshake in `wg show`: {wg}");
}

/// `len` bytes of xorshift output.
fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

#[test]
fn weftd_interoperates_with_wireguard_go_and_recovers_when_it_restarts() {
    let mut h = Harness::new("interop", 2, 1, "adaptive");
    let (a_addr, b_addr) = (h.lab.addr(0, 0).unwrap(), h.lab.addr(1, 0).unwrap());
    let config = h.dir.join("a-stock.toml");
    std::fs::write(
        &config,
        format!(
            "[site]\nname = \"a\"\nprivate_key_file = \"a.key\"\naddress = \"10.77.1.1/24\"\n\
             prefixes = [\"10.77.1.0/24\"]\ninterface = \"{}\"\n\n\
             [[uplink]]\nname = \"u0\"\nbind = \"{a_addr}:51820\"\npriority = 1\n\n\
             [[peer]]\nname = \"b\"\npublic_key = \"{}\"\nprefixes = [\"10.77.2.0/24\"]\n\
             endpoints = [\"{b_addr}:51820\"]\nstock = true\nkeepalive = \"1s\"\n",
            h.sites[0].interface,
            h.sites[1].public_key.to_base64()
        ),
    )
    .unwrap();
    h.start_agent_with(0, &config);
    let iface = format!("wg{}", h.sites[1].interface);
    assert!(iface.len() <= 15, "{iface}");
    let mut wg = start_wireguard_go(&mut h, &iface, a_addr, 0);
    let (a, b) = (h.overlay(0), h.overlay(1));
    let t = h.wait_ping(0, b, Duration::from_secs(15));
    eprintln!("a -> b through wireguard-go answered after {t:?}");
    assert!(h.ping(1, a, 3) >= 2, "ping from wireguard-go's site to weftd's");
    // Bulk TCP both ways with weftd's offloads on (TSO super-packets split
    // for the stock peer, its segments coalesced into the TUN device).
    for (from, to, addr) in [(0, 1, b), (1, 0, a)] {
        let mbps = offload::tcp_transfer(&h, from, to, addr.into(), 4 << 20);
        eprintln!("TCP {from} -> {to} with wireguard-go: {mbps:.0} Mbit/s");
    }

    h.lab.kill(wg);
    assert_eq!(h.ping(0, b, 1), 0, "ping a -> b answered with wireguard-go stopped");
    wg = start_wireguard_go(&mut h, &iface, a_addr, 1);
    let t = h.wait_ping(0, b, Duration::from_secs(20));
    eprintln!("after the wireguard-go restart, a -> b answered again after {t:?}");
    assert!(h.ping(1, a, 3) >= 2, "ping b -> a after the wireguard-go restart");
    h.lab.kill(wg);
}

/// Starts and configures `wireguard-go -f IFACE` as site b, peer of weftd in a
/// (`$WIREGUARD_GO` when set, else the one on the `PATH`).
fn start_wireguard_go(h: &mut Harness, iface: &str, a_addr: Ipv4Addr, run: usize) -> u32 {
    let sock = wireguard_socket(iface);
    let log = h.dir.join(format!("wireguard-go-{run}.log"));
    let file = std::fs::File::create(&log).unwrap();
    // WIREGUARD_GO picks another build (e.g. a modern one with offloads).
    let program = std::env::var("WIREGUARD_GO").unwrap_or_else(|_| "wireguard-go".to_owned());
    let mut cmd = h.lab.command(1, &program).unwrap();
    cmd.args(["-f", iface])
        .env("LOG_LEVEL", "verbose")
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file);
    let pid = h.lab.spawn_command(cmd).expect("start wireguard-go");
    h.add_log(&format!("wireguard-go run {run}"), log);
    wait_for(&format!("{}", sock.display()), Duration::from_secs(5), || {
        sock.exists().then_some(())
    });
    let key = h.dir.join("b.key");
    let endpoint = format!("{a_addr}:51820");
    let a_pub = h.sites[0].public_key.to_base64();
    let commands: [&[&str]; 4] = [
        &[
            "wg",
            "set",
            iface,
            "private-key",
            key.to_str().unwrap(),
            "listen-port",
            "51820",
            "peer",
            &a_pub,
            "allowed-ips",
            "10.77.1.0/24",
            "endpoint",
            &endpoint,
            "persistent-keepalive",
            "1",
        ],
        &["ip", "addr", "add", "10.77.2.1/24", "dev", iface],
        &["ip", "link", "set", iface, "up"],
        &["ip", "route", "add", "10.77.1.0/24", "dev", iface],
    ];
    for c in commands {
        h.lab.exec_ok(1, c).unwrap_or_else(|e| panic!("{c:?}: {e}"));
    }
    pid
}

/// The UAPI socket `wg` uses for `iface`.
fn wireguard_socket(iface: &str) -> std::path::PathBuf {
    Path::new("/var/run/wireguard").join(format!("{iface}.sock"))
}

/// A one-way UDP stream over the overlay: sequence number and send time in
/// every datagram, receive times recorded.
struct Stream {
    stop: Arc<AtomicBool>,
    sender: JoinHandle<u64>,
    receiver: JoinHandle<Vec<(u64, Instant)>>,
}

impl Stream {
    fn start(h: &Harness, from: usize, to: usize, port: u16, interval: Duration) -> Self {
        let rx = h.udp_in(to, SocketAddr::from((h.overlay(to), port)));
        rx.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let tx = h.udp_in(from, SocketAddr::from((h.overlay(from), 0)));
        let dst = SocketAddr::from((h.overlay(to), port));
        let stop = Arc::new(AtomicBool::new(false));
        let receiver = std::thread::spawn({
            let stop = stop.clone();
            move || receive_stream(&rx, &stop)
        });
        let sender = std::thread::spawn({
            let stop = stop.clone();
            move || send_stream(&tx, dst, interval, &stop)
        });
        Self { stop, sender, receiver }
    }

    /// Stops both ends; (datagrams sent, (sequence number, arrival) per datagram).
    fn finish(self) -> (u64, Vec<(u64, Instant)>) {
        self.stop.store(true, Ordering::Relaxed);
        (self.sender.join().unwrap(), self.receiver.join().unwrap())
    }
}

fn send_stream(tx: &UdpSocket, dst: SocketAddr, interval: Duration, stop: &AtomicBool) -> u64 {
    let start = Instant::now();
    let mut seq = 0u64;
    let mut buf = [0u8; 100];
    while !stop.load(Ordering::Relaxed) {
        let due = start + interval * u32::try_from(seq).unwrap_or(u32::MAX);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        buf[..8].copy_from_slice(&seq.to_le_bytes());
        let sent_ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        buf[8..16].copy_from_slice(&sent_ns.to_le_bytes());
        let _ = tx.send_to(&buf, dst);
        seq += 1;
    }
    seq
}

fn receive_stream(rx: &UdpSocket, stop: &AtomicBool) -> Vec<(u64, Instant)> {
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while !stop.load(Ordering::Relaxed) {
        if let Ok(n) = rx.recv(&mut buf)
            && n >= 16
        {
            got.push((u64::from_le_bytes(buf[..8].try_into().unwrap()), Instant::now()));
        }
    }
    got
}

/// The largest gap between consecutive arrivals, and where it ended.
fn largest_gap(arrivals: &[(u64, Instant)]) -> (Duration, Instant) {
    arrivals
        .windows(2)
        .map(|w| (w[1].1 - w[0].1, w[1].1))
        .max_by_key(|(gap, _)| *gap)
        .expect("at least two datagrams arrived")
}

/// Index of the uplink named `name` in site `site`.
fn uplink_index(h: &Harness, site: usize, name: &str) -> usize {
    h.lab.sites()[site].uplinks.iter().position(|u| u.name == name).expect("uplink name")
}

#[test]
fn cutting_the_active_uplink_fails_a_udp_stream_over_in_under_a_second() {
    let mut h = Harness::new("failover", 2, 2, "adaptive");
    h.start_agent(0);
    h.start_agent(1);
    h.wait_ping(0, h.overlay(1), Duration::from_secs(20));
    let stream = Stream::start(&h, 0, 1, support::FLOW_PORT, Duration::from_millis(1));
    let active =
        wait_for("a best-effort path carrying the stream", Duration::from_secs(10), || {
            let s = h.try_status(0)?;
            active_uplink(&s, "b", "best-effort")
        });
    // Let the stream settle on its path before cutting it.
    std::thread::sleep(Duration::from_secs(1));
    let u = uplink_index(&h, 0, &active);
    h.lab.set_link(0, u, Impairment::down()).unwrap();
    let cut = Instant::now();
    let moved = wait_for("best-effort to leave the cut uplink", Duration::from_secs(10), || {
        let s = h.try_status(0)?;
        active_uplink(&s, "b", "best-effort").filter(|n| *n != active)
    });
    let moved_after = cut.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    let (sent, arrivals) = stream.finish();
    let end = Instant::now();
    let (gap, gap_end) = largest_gap(&arrivals);
    let after_cut = arrivals.iter().filter(|(_, t)| *t > cut + gap).count();
    eprintln!(
        "failover {active} -> {moved}: status moved after {moved_after:?}; largest gap {gap:?} \
         (ended {:?} after the cut); {}/{sent} datagrams arrived, {after_cut} after the gap",
        gap_end.saturating_duration_since(cut),
        arrivals.len()
    );
    assert!(gap < Duration::from_secs(1), "largest gap in the stream: {gap:?}");
    assert!(gap_end > cut, "the largest gap ({gap:?}) was not the failover");
    let last = arrivals.last().unwrap().1;
    assert!(end - last < Duration::from_millis(200), "the stream stopped after the failover");
    assert!(after_cut > 1000, "only {after_cut} datagrams after the failover");
}

#[test]
fn loss_on_the_active_uplink_moves_the_realtime_class_off_it() {
    // With 10 % loss each way (~19 % of probe round trips) the realtime class
    // leaves the lossy uplink either for an SLA breach (loss over the window)
    // or because three probes in a row were lost (the path is declared Down):
    // whichever the dice give first. Both are failovers away from loss.
    let mut h = Harness::new("brownout", 2, 2, "adaptive");
    h.start_agent(0);
    h.start_agent(1);
    h.wait_ping(0, h.overlay(1), Duration::from_secs(20));
    let stream = Stream::start(&h, 0, 1, 5060, Duration::from_millis(20));
    let active = wait_for("a realtime path", Duration::from_secs(10), || {
        let s = h.try_status(0)?;
        active_uplink(&s, "b", "realtime")
    });
    std::thread::sleep(Duration::from_millis(500));
    let moved_off = |s: &serde_json::Value| {
        count(&s["failovers"], "sla_breach") + count(&s["failovers"], "path_down")
    };
    let before = moved_off(&h.try_status(0).expect("status"));
    let u = uplink_index(&h, 0, &active);
    h.lab.set_link(0, u, Impairment::loss(0.10)).unwrap();
    let t = Instant::now();
    let (moved, status) =
        wait_for("realtime to leave the lossy uplink", Duration::from_secs(15), || {
            let s = h.try_status(0)?;
            let now = active_uplink(&s, "b", "realtime")?;
            (now != active && moved_off(&s) > before).then_some((now, s))
        });
    let moved_after = t.elapsed();
    let (sent, arrivals) = stream.finish();
    eprintln!(
        "brownout: realtime moved {active} -> {moved} {moved_after:?} after 10 % loss began; \
         failovers {}; {}/{sent} datagrams arrived",
        status["failovers"],
        arrivals.len()
    );
    assert!(
        moved_off(&status) > before,
        "no SLA-breach or path-down failover since the loss began ({before} before): {} ({:?})",
        status["failovers"],
        states(&status)
    );
}

#[test]
fn garbage_forged_and_replayed_probes_are_counted_and_dropped_without_harm() {
    // Site c runs no agent: it is the identity the valid forged probe claims, so
    // that the far-future counter only advances the replay window of a peer
    // nobody uses (see the report on replay-window poisoning).
    let mut h = Harness::new("badinput", 3, 1, "adaptive");
    h.start_agent(0);
    h.start_agent(1);
    h.wait_ping(0, h.overlay(1), Duration::from_secs(20));
    let target = SocketAddr::from((h.lab.addr(0, 0).unwrap(), 51820));
    let b_sock = h.udp_in(1, SocketAddr::from((h.lab.addr(1, 0).unwrap(), 0)));
    let key = |i: usize| read_private_key(&h.dir.join(format!("{}.key", h.name(i)))).unwrap();
    let a_pub = h.sites[0].public_key;

    let mut junk = pseudo_random(33, 7);
    junk[0] = 0xee;
    for _ in 0..100 {
        b_sock.send_to(&junk, target).unwrap();
    }

    let b_key = ProbeKey::derive(&key(1), &a_pub).unwrap();
    let fields = ProbeFields { path_token: 1, seq: 1, timestamp_us: 1 };
    let mut probe = [0u8; 56];
    let now_us =
        u64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros()).unwrap();
    for i in 0..50u64 {
        let n = encode_probe(&b_key, now_us + 1_000_000_000_000 + i, &fields, &mut probe).unwrap();
        assert_eq!((n, probe[0]), (56, 0x57));
        probe[55] ^= 0x5a;
        b_sock.send_to(&probe, target).unwrap();
    }

    let c_sock = h.udp_in(2, SocketAddr::from((h.lab.addr(2, 0).unwrap(), 51820)));
    c_sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let c_key = ProbeKey::derive(&key(2), &a_pub).unwrap();
    // A counter days ahead of a's clock is refused before it can poison the
    // replay window (counters are Unix microseconds).
    let mut future = [0u8; 56];
    encode_probe(&c_key, now_us + 1_000_000_000_000, &fields, &mut future).unwrap();
    c_sock.send_to(&future, target).unwrap();
    encode_probe(&c_key, now_us, &fields, &mut probe).unwrap();
    c_sock.send_to(&probe, target).unwrap();
    // a also probes c's address itself: skip those, wait for the echo.
    let mut echo = [0u8; 128];
    wait_for("an echo of the valid forged probe", Duration::from_secs(5), || {
        let (n, _) = c_sock.recv_from(&mut echo).ok()?;
        (n == 56 && echo[0] == 0x58).then_some(())
    });
    c_sock.send_to(&probe, target).unwrap();

    let status = wait_for("the drops to be counted", Duration::from_secs(10), || {
        let s = h.try_status(0)?;
        let d = &s["drops"];
        (count(d, "garbage") >= 100
            && count(d, "probe_bad_mac") >= 50
            && count(d, "probe_replayed") >= 1
            && count(d, "probe_from_the_future") >= 1)
            .then_some(s)
    });
    eprintln!("drops after bad input: {}", status["drops"]);
    assert_eq!(count(&status["drops"], "probe_too_old"), 0, "{}", status["drops"]);
    assert_eq!(h.ping(0, h.overlay(1), 3), 3, "ping a -> b after the bad input");
    assert_eq!(h.ping(1, h.overlay(0), 3), 3, "ping b -> a after the bad input");
}
