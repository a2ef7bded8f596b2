//! `weft-flood-gen`: a flood of WireGuard handshake initiations from spoofed
//! sources, for the flood benchmark (`bench/flood.sh`).
//!
//! Sends 148-byte initiations whose MAC1 is valid for `--pubkey` (so they
//! pass the cheap check and, without limits, would each cost the responder a
//! X25519 operation) and whose rest is random, from `--sources` addresses
//! counted up from `--source-base`, to `--dst`, at `--pps` for `--secs`
//! seconds. Raw IPv4 socket (`IPPROTO_RAW`, the kernel fills in the checksum
//! and length): needs `CAP_NET_RAW`. Prints one line at the end:
//! `sent=N errors=E secs=S pps=P`.
//!
//! Usage: `weft-flood-gen --dst 198.18.2.2:51820 --pubkey BASE64 [--pps 100000]
//! [--secs 10] [--sources 1024] [--source-base 100.64.0.1]`

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use weft_dataplane::wg::{HANDSHAKE_INIT_LEN, seal_mac1};
use weft_types::PublicKey;

/// Different initiations cycled through (sender index and contents).
const TEMPLATES: usize = 256;
/// Sends per pacing tick.
const TICK: Duration = Duration::from_millis(1);

struct Args {
    dst: SocketAddrV4,
    pubkey: PublicKey,
    pps: u64,
    secs: f64,
    sources: u32,
    source_base: Ipv4Addr,
}

fn args() -> Result<Args> {
    let mut it = std::env::args().skip(1);
    let (mut dst, mut pubkey) = (None, None);
    let (mut pps, mut secs, mut sources): (u64, f64, u32) = (100_000, 10.0, 1024);
    let mut source_base = Ipv4Addr::new(100, 64, 0, 1);
    while let Some(a) = it.next() {
        let mut v = || it.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--dst" => match v()?.parse::<SocketAddr>()? {
                SocketAddr::V4(d) => dst = Some(d),
                SocketAddr::V6(_) => bail!("--dst: IPv4 only"),
            },
            "--pubkey" => pubkey = Some(PublicKey::from_base64(v()?.trim())?),
            "--pps" => pps = v()?.parse()?,
            "--secs" => secs = v()?.parse()?,
            "--sources" => sources = v()?.parse()?,
            "--source-base" => source_base = v()?.parse()?,
            other => bail!("unknown argument {other:?}"),
        }
    }
    if pps == 0 || sources == 0 || !secs.is_finite() || secs <= 0.0 {
        bail!("--pps, --sources and --secs must be positive");
    }
    Ok(Args {
        dst: dst.context("--dst IP:PORT is required")?,
        pubkey: pubkey.context("--pubkey BASE64 (the target's public key) is required")?,
        pps,
        secs,
        sources,
        source_base,
    })
}

/// IPv4 + UDP + a sealed initiation; the source address is patched per send.
fn templates(a: &Args) -> Result<Vec<Vec<u8>>> {
    let mut out = Vec::with_capacity(TEMPLATES);
    for i in 0..TEMPLATES {
        let mut init = [0u8; HANDSHAKE_INIT_LEN];
        getrandom::fill(&mut init[4..]).context("random bytes")?;
        init[..4].copy_from_slice(&1u32.to_le_bytes());
        init[4..8].copy_from_slice(&u32::try_from(i).unwrap_or(0).to_le_bytes());
        init[132..].fill(0); // no MAC2: no cookie
        seal_mac1(&a.pubkey, &mut init);
        let udp_len = u16::try_from(8 + init.len()).unwrap_or(u16::MAX);
        let mut p = vec![0u8; 20 + 8];
        p[0] = 0x45;
        p[8] = 64;
        p[9] = 17;
        p[16..20].copy_from_slice(&a.dst.ip().octets());
        let sport = 40_000 + u16::try_from(i).unwrap_or(0);
        p[20..22].copy_from_slice(&sport.to_be_bytes());
        p[22..24].copy_from_slice(&a.dst.port().to_be_bytes());
        p[24..26].copy_from_slice(&udp_len.to_be_bytes());
        p.extend_from_slice(&init);
        out.push(p);
    }
    Ok(out)
}

fn run() -> Result<()> {
    let a = args()?;
    let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(libc_ipproto_raw())))
        .context("opening a raw socket (needs CAP_NET_RAW)")?;
    let dst = SockAddr::from(SocketAddrV4::new(*a.dst.ip(), 0));
    let mut packets = templates(&a)?;
    let base = u32::from(a.source_base);
    let per_tick = (a.pps as f64 * TICK.as_secs_f64()).max(1.0);
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(a.secs);
    let (mut sent, mut errors, mut due, mut n) = (0u64, 0u64, 0.0f64, 0u64);
    let mut tick = start;
    while Instant::now() < end {
        due += per_tick;
        while (sent + errors) as f64 <= due {
            let p = &mut packets[(n % TEMPLATES as u64) as usize];
            let src = base.wrapping_add(u32::try_from(n % u64::from(a.sources)).unwrap_or(0));
            p[12..16].copy_from_slice(&src.to_be_bytes());
            match socket.send_to(p, &dst) {
                Ok(_) => sent += 1,
                Err(_) => errors += 1,
            }
            n += 1;
        }
        tick += TICK;
        let now = Instant::now();
        if tick > now {
            std::thread::sleep(tick - now);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!("sent={sent} errors={errors} secs={secs:.2} pps={:.0}", sent as f64 / secs);
    Ok(())
}

/// `IPPROTO_RAW`: a raw socket that sends whole IPv4 packets (`IP_HDRINCL`).
const fn libc_ipproto_raw() -> i32 {
    255
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("weft-flood-gen: {e:#}");
            ExitCode::FAILURE
        }
    }
}
