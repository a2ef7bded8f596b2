//! The data plane's kernel offloads end to end, between two agents: TCP
//! super-packets (TSO) read from the TUN device and coalesced back (GRO), UDP
//! segmentation (USO, and UDP GSO/GRO on the uplinks), over IPv4 and IPv6,
//! with offloads on and switched off. Every byte is checked.

use std::hash::Hasher as _;
use std::io::{Read as _, Write as _};
use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use weft_dataplane::sys::{GRO_SLOT, RecvBatch, SendBatch, UplinkConfig, UplinkSocket};

use super::pseudo_random;
use super::support::{Harness, wait_for};

/// Bytes of each bulk TCP transfer.
const TCP_BYTES: usize = 16 << 20;

/// A two-site lab whose sites also serve `fd77:N::/64` (N as in
/// `10.77.N.0/24`), with `extra` lines in each `[site]` section; agents
/// started, IPv4 overlay answering, IPv6 addresses `fd77:N::1` on the TUN
/// devices.
fn dual_stack_lab(test: &str, extra: &str) -> Harness {
    let mut h = Harness::new(test, 2, 1, "adaptive");
    for g in &h.sites {
        let mut text = std::fs::read_to_string(&g.config).expect("read config");
        for n in 1..=h.sites.len() {
            let v4 = format!("\"10.77.{n}.0/24\"");
            text = text.replace(&v4, &format!("{v4}, \"fd77:{n}::/64\""));
        }
        text = text.replacen("[site]\n", &format!("[site]\n{extra}"), 1);
        std::fs::write(&g.config, text).expect("write config");
    }
    h.start_agent(0);
    h.start_agent(1);
    h.wait_ping(0, h.overlay(1), Duration::from_secs(20));
    for i in 0..2 {
        let addr = format!("{}/64", v6(&h, i));
        let iface = h.sites[i].interface.clone();
        h.lab
            .exec_ok(i, &["ip", "-6", "addr", "add", &addr, "dev", &iface, "nodad"])
            .expect("IPv6 address on the TUN device");
    }
    h
}

/// The IPv6 overlay address of site `i`.
fn v6(h: &Harness, i: usize) -> Ipv6Addr {
    let n = u16::from(h.overlay(i).octets()[2]);
    Ipv6Addr::new(0xfd77, n, 0, 0, 0, 0, 0, 1)
}

/// The `offloads` list of the agent's status in site `i`: (kind, enabled).
fn offloads(h: &Harness, i: usize) -> Vec<(String, bool)> {
    let status = wait_for("status", Duration::from_secs(10), || h.get(i, "/api/v1/status"));
    let list = status["offloads"].as_array().cloned().unwrap_or_default();
    list.iter()
        .map(|o| (o["kind"].as_str().unwrap_or("?").to_owned(), o["enabled"] == true))
        .collect()
}

/// Sends `bytes` pseudo-random bytes over TCP from site `from` to `to`
/// (an overlay address of site `to_site`) in 64 KiB writes, so the kernel
/// hands the TUN device TSO super-packets; asserts they arrive intact and
/// returns the goodput in Mbit/s.
pub(crate) fn tcp_transfer(
    h: &Harness,
    from: usize,
    to_site: usize,
    to: IpAddr,
    bytes: usize,
) -> f64 {
    let server_addr = SocketAddr::new(to, 5002);
    let listener =
        h.lab.in_site(to_site, || TcpListener::bind(server_addr)).expect("in site").expect("bind");
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
        .in_site(from, || TcpStream::connect_timeout(&server_addr, Duration::from_secs(10)))
        .expect("in site")
        .unwrap_or_else(|e| panic!("connect to {server_addr} over the overlay: {e}"));
    client.set_write_timeout(Some(Duration::from_mins(1))).unwrap();
    let data = pseudo_random(bytes, 0x7e50_0ff1 ^ bytes as u64);
    let mut hasher = std::hash::DefaultHasher::new();
    hasher.write(&data);
    let t = Instant::now();
    for chunk in data.chunks(64 * 1024) {
        client.write_all(chunk).expect("send over the overlay");
    }
    drop(client);
    let (received, received_hash) = server.join().expect("server thread");
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(received, bytes, "bytes received from {from} to {to}");
    assert_eq!(received_hash, hasher.finish(), "the transfer to {to} arrived altered");
    bytes as f64 * 8.0 / secs / 1e6
}

/// The payload of UDP datagram `seq`: its number, then bytes derived from it.
fn datagram(seq: u32, len: usize) -> Vec<u8> {
    let mut d = seq.to_be_bytes().to_vec();
    d.extend(pseudo_random(len - 4, u64::from(seq) + 1));
    d
}

/// Sends `bursts` bursts of 40 datagrams of `len` bytes from site 0 to
/// `to` (site 1) through [`UplinkSocket`] batches, so same-size runs leave
/// as one `UDP_SEGMENT` send (USO into the TUN device when the kernel has
/// it); receives them with UDP GRO. Asserts every datagram that arrives is
/// intact and not duplicated and that nearly all arrive.
fn udp_bursts(h: &Harness, to: IpAddr, len: usize, bursts: u32) {
    let from = if to.is_ipv4() { IpAddr::from(h.overlay(0)) } else { IpAddr::from(v6(h, 0)) };
    let dst = SocketAddr::new(to, 5003);
    let rx = h
        .lab
        .in_site(1, || UplinkSocket::bind(&UplinkConfig::new(dst)))
        .expect("in site")
        .expect("bind the receiver");
    rx.set_read_timeout(Some(Duration::from_millis(1500))).unwrap();
    let tx = h
        .lab
        .in_site(0, || UplinkSocket::bind(&UplinkConfig::new(SocketAddr::new(from, 0))))
        .expect("in site")
        .expect("bind the sender");
    let receiver = std::thread::spawn(move || {
        let mut batch = RecvBatch::new(16, GRO_SLOT);
        let mut seen = std::collections::BTreeSet::new();
        let mut bad = 0usize;
        while rx.recv_batch(&mut batch).is_ok() {
            for (_, d) in batch.iter() {
                let seq = u32::from_be_bytes(d[..4].try_into().unwrap_or_default());
                if d != datagram(seq, len).as_slice() || !seen.insert(seq) {
                    bad += 1;
                }
            }
        }
        (seen.len(), bad)
    });
    let mut send = SendBatch::new(40, len);
    let mut seq = 0;
    for _ in 0..bursts {
        send.clear();
        for _ in 0..40 {
            send.push(dst, &datagram(seq, len)).expect("fits");
            seq += 1;
        }
        assert_eq!(tx.send_batch(&send).expect("send"), 40);
        std::thread::sleep(Duration::from_millis(5));
    }
    let (got, bad) = receiver.join().expect("receiver thread");
    assert_eq!(bad, 0, "datagrams to {to} altered or duplicated");
    let sent = bursts as usize * 40;
    assert!(got * 100 >= sent * 95, "only {got} of {sent} datagrams of {len} bytes reached {to}");
}

/// Large UDP datagrams (IP-fragmented inside the tunnel) from site 0 to `to`
/// with a plain socket; asserts they arrive intact.
fn udp_fragmented(h: &Harness, to: IpAddr) {
    let from = if to.is_ipv4() { IpAddr::from(h.overlay(0)) } else { IpAddr::from(v6(h, 0)) };
    let rx = h.udp_in(1, SocketAddr::new(to, 5004));
    rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let tx = h.udp_in(0, SocketAddr::new(from, 0));
    let mut buf = vec![0u8; 65_536];
    for seq in 0..20 {
        let d = datagram(seq, 8000 + seq as usize);
        tx.send_to(&d, SocketAddr::new(to, 5004)).expect("send");
        let n = recv(&rx, &mut buf).unwrap_or_else(|| panic!("datagram {seq} to {to} lost"));
        assert!(buf[..n] == d[..], "datagram {seq} to {to} altered");
    }
}

fn recv(rx: &UdpSocket, buf: &mut [u8]) -> Option<usize> {
    rx.recv(buf).ok()
}

/// Everything this module checks, in one lab.
fn check_traffic(h: &Harness) {
    for to in [IpAddr::from(h.overlay(1)), IpAddr::from(v6(h, 1))] {
        let mbps = tcp_transfer(h, 0, 1, to, TCP_BYTES);
        eprintln!("TCP to {to}: {} MiB at {mbps:.0} Mbit/s", TCP_BYTES >> 20);
        udp_bursts(h, to, 1200, 25);
        udp_bursts(h, to, 333, 10);
        udp_fragmented(h, to);
    }
    let back = tcp_transfer(h, 1, 0, IpAddr::from(v6(h, 0)), TCP_BYTES / 4);
    eprintln!("TCP back over IPv6: {back:.0} Mbit/s");
}

#[test]
fn tso_sized_tcp_and_segmented_udp_cross_the_tunnel_intact_over_ipv4_and_ipv6() {
    let h = dual_stack_lab("offload", "");
    let on = offloads(&h, 0);
    eprintln!("offloads: {on:?}");
    let kinds: Vec<&str> = on.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["tun_tso", "tun_uso", "udp_gso", "udp_gro"]);
    // Every kernel this runs on (Linux 5.0 and later) has these.
    for kind in ["tun_tso", "udp_gso", "udp_gro"] {
        assert!(on.contains(&(kind.to_owned(), true)), "{kind} not in use: {on:?}");
    }
    check_traffic(&h);
    let drops = wait_for("status", Duration::from_secs(5), || h.get(1, "/api/v1/status"));
    eprintln!("drops at the receiver: {}", drops["drops"]);
}

/// A ping of `size` payload bytes with DF from site 0 to site 1's overlay
/// address: (answered, what ping printed).
fn df_ping(h: &Harness, size: usize) -> (bool, String) {
    let to = h.overlay(1).to_string();
    let size = size.to_string();
    let args = ["ping", "-n", "-c", "1", "-W", "2", "-M", "do", "-s", &size, &to];
    let out = h.lab.exec(0, &args).expect("run ping");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn full_mtu_packets_cross_with_offloads_on_and_larger_ones_with_df_are_refused_with_the_mtu() {
    let h = dual_stack_lab("offmtu", "");
    // 1392 + 8 (ICMP) + 20 (IPv4) = 1420, the overlay MTU.
    let (ok, text) = df_ping(&h, 1392);
    assert!(ok, "a full-MTU ping was not answered: {text}");
    let (ok, text) = df_ping(&h, 1393);
    assert!(!ok, "a ping one byte over the MTU with DF was answered: {text}");
    assert!(text.contains("1420"), "the refusal does not name the MTU: {text}");
}

#[test]
fn with_offloads_switched_off_the_plain_path_carries_the_same_traffic_intact() {
    let h = dual_stack_lab("nooffload", "offload = false\n");
    let off = offloads(&h, 0);
    assert_eq!(off.len(), 4, "{off:?}");
    assert!(off.iter().all(|(_, on)| !on), "offloads in use though switched off: {off:?}");
    let text = h.metrics_text(0);
    assert!(text.contains("weft_dataplane_offload{kind=\"tun_tso\"} 0"), "{text}");
    check_traffic(&h);
}
