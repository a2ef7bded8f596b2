//! Integration tests of `weft_dataplane::sys` on real namespaces: each test
//! builds its own lab (removed on drop) and needs root.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use weft_dataplane::sys::netlink::Op;
use weft_dataplane::sys::{
    DEFAULT_BUFFER, DEFAULT_SLOT, GRO_SLOT, IfAddr, MAX_BATCH, PacketBatch, RecvBatch, Rtnl,
    SendBatch, TunConfig, TunDevice, TunWriteBatch, UplinkConfig, UplinkSocket,
};
use weft_lab::Lab;
use weft_types::IpPrefix;

fn lab(sites: usize) -> Lab {
    assert!(
        rustix::process::geteuid().is_root(),
        "the sys tests need root (CAP_NET_ADMIN, CAP_SYS_ADMIN, /dev/net/tun): run them as root"
    );
    Lab::builder().sites(sites).uplinks(1).build().expect("building a lab")
}

fn uplink(lab: &Lab, site: &str) -> UplinkSocket {
    let local = SocketAddr::from((lab.addr(site, 0).expect("site address"), 0));
    lab.in_site(site, || UplinkSocket::bind(&UplinkConfig::new(local).device("u0")))
        .expect("entering the site")
        .expect("binding an uplink socket")
}

fn prefix(s: &str) -> IpPrefix {
    IpPrefix::parse(s).expect("valid prefix")
}

#[test]
fn forced_buffers_are_at_least_7_mib_inside_a_site_namespace() {
    let lab = lab(1);
    let sock = uplink(&lab, "a");
    assert!(sock.buffers().warnings.is_empty(), "{:?}", sock.buffers().warnings);
    let fd = socket2::SockRef::from(&sock);
    let (recv, send) = (fd.recv_buffer_size().unwrap(), fd.send_buffer_size().unwrap());
    assert!(recv >= DEFAULT_BUFFER, "SO_RCVBUF is {recv}");
    assert!(send >= DEFAULT_BUFFER, "SO_SNDBUF is {send}");
    assert_eq!((sock.buffers().recv, sock.buffers().send), (recv, send));
    assert_eq!(sock.device(), Some("u0"));
}

#[test]
fn a_batch_of_64_datagrams_from_site_a_reaches_site_b_intact_with_its_source() {
    let lab = lab(2);
    let (tx, rx) = (uplink(&lab, "a"), uplink(&lab, "b"));
    let (from, to) = (tx.local_addr().unwrap(), rx.local_addr().unwrap());
    rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();

    let mut out = SendBatch::new(64, DEFAULT_SLOT);
    for i in 0..64u32 {
        let payload: Vec<u8> = (0..100 + i).map(|j| (i + j) as u8).collect();
        out.push(to, &payload).unwrap();
    }
    assert_eq!(tx.send_batch(&out).unwrap(), 64);

    let mut got = BTreeSet::new();
    let mut batch = RecvBatch::new(64, DEFAULT_SLOT);
    while got.len() < 64 {
        rx.recv_batch(&mut batch).expect("datagrams within 2 s");
        for (src, data) in batch.iter() {
            assert_eq!(src, from);
            let i = data.len() as u32 - 100;
            assert!(
                data.iter().enumerate().all(|(j, b)| *b == (i + j as u32) as u8),
                "datagram {i}"
            );
            assert!(got.insert(i), "datagram {i} twice");
        }
    }

    rx.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let err = rx.recv_batch(&mut batch).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
    assert!(batch.is_empty());
}

#[test]
fn runs_of_same_size_datagrams_go_out_segmented_and_come_back_apart_intact_and_in_order() {
    let lab = lab(2);
    let (tx, rx) = (uplink(&lab, "a"), uplink(&lab, "b"));
    assert!(tx.gso() && rx.gro(), "this kernel has UDP GSO and GRO");
    let to = rx.local_addr().unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    // Runs: 50 x 1200 (two GSO sends: 54 000 and 6 000 bytes), a shorter last
    // one, singles, then another size.
    let mut sizes: Vec<usize> = vec![1200; 50];
    sizes.extend([700, 1200, 33, 33, 33]);
    sizes.extend([1400; 20]);
    let mut out = SendBatch::new(MAX_BATCH, DEFAULT_SLOT);
    for (i, &len) in sizes.iter().enumerate() {
        let payload: Vec<u8> = (0..len).map(|j| (i * 7 + j) as u8).collect();
        out.push(to, &payload).unwrap();
    }
    assert_eq!(tx.send_batch(&out).unwrap(), sizes.len());

    let mut batch = RecvBatch::new(8, GRO_SLOT);
    let mut i = 0;
    let mut most = 0;
    while i < sizes.len() {
        most = most.max(rx.recv_batch(&mut batch).expect("datagrams within 2 s"));
        for (_, data) in batch.iter() {
            assert_eq!(data.len(), sizes[i], "datagram {i}");
            assert!(data.iter().enumerate().all(|(j, b)| *b == (i * 7 + j) as u8), "datagram {i}");
            i += 1;
        }
    }
    assert!(most > batch.capacity(), "no receive coalesced datagrams (at most {most})");
}

#[test]
fn datagrams_dropped_for_a_full_receive_buffer_are_counted() {
    let lab = lab(2);
    let tx = uplink(&lab, "a");
    let local = SocketAddr::from((lab.addr("b", 0).expect("site address"), 0));
    let rx = lab
        .in_site("b", || {
            UplinkSocket::bind(&UplinkConfig::new(local).buffers(4096, 0).offload(false))
        })
        .expect("entering the site")
        .expect("binding a small-buffered socket");
    let to = rx.local_addr().unwrap();
    for _ in 0..64 {
        tx.send_to(&[7; 1000], to).unwrap();
    }
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(rx.overflows(), 0, "counted before any receive");
    // The kernel stamps the count on datagrams queued after the drops.
    let mut batch = RecvBatch::new(64, DEFAULT_SLOT);
    rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut got = rx.recv_batch(&mut batch).expect("what the buffer held");
    tx.send_to(b"last", to).unwrap();
    got += rx.recv_batch(&mut batch).expect("the datagram after the drops");
    assert!(rx.overflows() > 0 && got < 65, "{got} received, {} counted", rx.overflows());
    assert_eq!(rx.overflows() as usize, 65 - got, "every drop counted");
}

#[test]
fn packets_routed_to_a_tun_device_nobody_reads_are_counted_as_dropped() {
    let lab = lab(1);
    let (tun, tx) = lab
        .in_site("a", || -> Result<_, Box<dyn std::error::Error + Send + Sync>> {
            let tun = TunDevice::create(&TunConfig::new("wt0").offload(true))?;
            let mut nl = Rtnl::open()?;
            nl.add_address("wt0", IfAddr::from(IpPrefix::host("10.99.0.1".parse()?)))?;
            nl.add_route("wt0", prefix("10.200.0.0/16"))?;
            let tx = std::net::UdpSocket::bind("10.99.0.1:0")?;
            for _ in 0..2000 {
                tx.send_to(b"x", "10.200.0.9:9")?;
            }
            Ok((tun, nl.tx_dropped("wt0")?))
        })
        .expect("entering the site")
        .expect("a TUN device and a burst to it");
    assert!(tx >= 1000, "only {tx} of 2000 packets counted as dropped by a queue of 500");
    drop(tun);
}

#[test]
fn a_tun_device_gets_addresses_and_routes_through_netlink() {
    let lab = lab(1);
    let tun = lab
        .in_site("a", || -> Result<TunDevice, Box<dyn std::error::Error + Send + Sync>> {
            let tun = TunDevice::create(&TunConfig::new("wt0"))?;
            let mut nl = Rtnl::open()?;
            nl.set_mtu("wt0", 1380)?;
            nl.set_up("wt0")?;
            for _ in 0..2 {
                // The second round shows that adds are idempotent.
                nl.add_address("wt0", IfAddr::new("10.99.0.1".parse()?, 24))?;
                nl.add_address("wt0", IfAddr::new("fd99::1".parse()?, 64))?;
                nl.add_route("wt0", prefix("10.200.0.0/16"))?;
                nl.add_route("wt0", prefix("fd98::/64"))?;
                nl.add_route("wt0", prefix("10.201.0.0/16"))?;
            }
            nl.del_route("wt0", prefix("10.201.0.0/16"))?;
            nl.del_route("wt0", prefix("10.201.0.0/16"))?;
            assert_eq!(nl.link_index("wt0")?, tun.index()?);
            Ok(tun)
        })
        .expect("entering the site")
        .expect("configuring the TUN device");

    let addrs = lab.exec_ok("a", &["ip", "-j", "addr", "show", "dev", "wt0"]).unwrap();
    for want in ["\"10.99.0.1\"", "\"prefixlen\":24", "\"fd99::1\"", "\"mtu\":1380", "UP"] {
        assert!(addrs.contains(want), "{want} missing from {addrs}");
    }
    let routes = lab.exec_ok("a", &["ip", "route", "show", "dev", "wt0"]).unwrap();
    assert!(routes.contains("10.200.0.0/16"), "{routes}");
    assert!(!routes.contains("10.201.0.0/16"), "deleted route still there: {routes}");
    let routes6 = lab.exec_ok("a", &["ip", "-6", "route", "show", "dev", "wt0"]).unwrap();
    assert!(routes6.contains("fd98::/64"), "{routes6}");
    drop(tun);
    let gone = lab.exec("a", &["ip", "link", "show", "wt0"]).unwrap();
    assert!(!gone.status.success(), "wt0 outlived its TunDevice");
}

#[test]
fn a_ping_to_a_routed_prefix_comes_out_of_the_tun_device() {
    ping_comes_out(false);
}

#[test]
fn a_ping_comes_out_of_an_offloading_tun_device_without_its_virtio_header() {
    ping_comes_out(true);
}

fn ping_comes_out(offload: bool) {
    let mut lab = lab(1);
    let tun = lab
        .in_site("a", || -> Result<TunDevice, Box<dyn std::error::Error + Send + Sync>> {
            let tun = TunDevice::create(&TunConfig::new("wt0").offload(offload))?;
            assert_eq!(tun.offloads().tso, offload, "{:?}", tun.offload_error());
            let mut nl = Rtnl::open()?;
            nl.add_address("wt0", IfAddr::from(IpPrefix::host("10.99.0.1".parse()?)))?;
            nl.add_route("wt0", prefix("10.200.0.0/16"))?;
            Ok(tun)
        })
        .expect("entering the site")
        .expect("configuring the TUN device");
    lab.spawn("a", &["ping", "-c", "20", "-i", "0.2", "10.200.0.7"]).unwrap();

    let target = Ipv4Addr::new(10, 200, 0, 7);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut batch = PacketBatch::new(8, 2048);
    'read: loop {
        let left = deadline.checked_duration_since(Instant::now()).expect("no echo request in 5 s");
        if tun.read_batch(&mut batch, Some(left)).is_err() {
            continue;
        }
        for p in batch.iter() {
            let is_v4 = p.len() >= 28 && p[0] >> 4 == 4;
            if !is_v4 || p[9] != 1 || p[16..20] != target.octets() {
                continue;
            }
            let ihl = usize::from(p[0] & 0x0f) * 4;
            assert_eq!(p[ihl], 8, "ICMP type is echo request");
            assert_eq!(IpAddr::from([p[12], p[13], p[14], p[15]]), IpAddr::from([10, 99, 0, 1]));
            break 'read;
        }
    }
}

#[test]
fn a_packet_written_to_the_tun_device_is_delivered_in_the_namespace() {
    written_packet_is_delivered(false);
}

#[test]
fn a_packet_written_to_an_offloading_tun_device_is_delivered_in_the_namespace() {
    written_packet_is_delivered(true);
}

fn written_packet_is_delivered(offload: bool) {
    let lab = lab(1);
    let (tun, rx) = lab
        .in_site("a", || -> Result<_, Box<dyn std::error::Error + Send + Sync>> {
            let tun = TunDevice::create(&TunConfig::new("wt0").offload(offload))?;
            Rtnl::open()?.add_address("wt0", IfAddr::new("10.99.0.1".parse()?, 24))?;
            let rx = std::net::UdpSocket::bind("10.99.0.1:4000")?;
            rx.set_read_timeout(Some(Duration::from_secs(2)))?;
            Ok((tun, rx))
        })
        .expect("entering the site")
        .expect("configuring the TUN device");
    let mut batch = PacketBatch::new(2, 2048);
    batch.push(&udp_packet([10, 99, 0, 2], [10, 99, 0, 1], 4000, b"hello")).unwrap();
    assert_eq!(tun.write_batch(&batch).unwrap(), 1);
    let mut buf = [0; 64];
    let (n, src) = rx.recv_from(&mut buf).expect("the datagram written to the TUN device");
    assert_eq!(&buf[..n], b"hello");
    assert_eq!(src, "10.99.0.2:5000".parse().unwrap());
    // The same through the coalescing write.
    let mut gro = TunWriteBatch::new(4);
    for payload in [&b"one"[..], b"two"] {
        gro.push(&udp_packet([10, 99, 0, 2], [10, 99, 0, 1], 4000, payload)).unwrap();
    }
    assert_eq!(tun.write_coalesced(&mut gro).unwrap(), 2);
    assert!(gro.is_empty());
    for want in [&b"one"[..], b"two"] {
        let (n, _) = rx.recv_from(&mut buf).expect("a datagram of the coalescing write");
        assert_eq!(&buf[..n], want);
    }
}

/// An IPv4/UDP packet with a correct header checksum and no UDP checksum.
fn udp_packet(src: [u8; 4], dst: [u8; 4], dport: u16, payload: &[u8]) -> Vec<u8> {
    let total = (28 + payload.len()) as u16;
    let mut p = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0];
    p[2..4].copy_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    let sum: u32 = p.chunks(2).map(|w| u32::from(u16::from_be_bytes([w[0], w[1]]))).sum();
    let sum = (sum & 0xffff) + (sum >> 16);
    let sum = !(((sum & 0xffff) + (sum >> 16)) as u16);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(&5000u16.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&(8 + payload.len() as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    p
}

#[test]
fn netlink_errors_name_the_operation_the_interface_and_the_errno() {
    let lab = lab(1);
    let (lookup, route) = lab
        .in_site("a", || {
            let mut nl = Rtnl::open().expect("opening rtnetlink");
            (
                nl.link_index("nope0").unwrap_err(),
                nl.add_route("nope0", prefix("10.5.0.0/16")).unwrap_err(),
            )
        })
        .expect("entering the site");
    for e in [&lookup, &route] {
        let msg = e.to_string();
        assert!(msg.contains("\"nope0\""), "{msg}");
        assert_eq!(e.errno(), Some(libc::ENODEV), "{msg}");
    }
    assert_eq!(lookup.op(), Op::GetLink);
    let bad = lab
        .in_site("a", || {
            let mut nl = Rtnl::open().expect("opening rtnetlink");
            nl.add_route("u0", prefix("10.6.0.0/16")).and_then(|()| nl.set_mtu("u0", 10))
        })
        .expect("entering the site")
        .unwrap_err();
    assert_eq!(bad.op(), Op::SetMtu);
    assert!(bad.to_string().starts_with("set mtu 10 on interface \"u0\": "), "{bad}");
    assert_eq!(bad.errno(), Some(libc::EINVAL));
}
