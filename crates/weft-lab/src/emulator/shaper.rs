//! The emulator's decision logic, free of I/O: per-address impairments, the loss
//! draw, the release time of each packet and the time-ordered queue.
//!
//! Time comes in as an argument, so the tests drive it with made-up instants.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use weft_types::SeededRng;

use super::control::EmulatorStats;
use crate::impairment::Impairment;

/// Most packets held at once; beyond that new packets are dropped (a full buffer).
pub(crate) const MAX_HELD: usize = 20_000;

/// What to do with one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Drop it (loss, outage or full queue; counted in the stats).
    Drop,
    /// Write it back now.
    Send,
    /// Hold it until the instant, then write it back.
    Hold(Instant),
}

struct Held {
    at: Instant,
    seq: u64,
    buf: Vec<u8>,
    len: usize,
}

impl PartialEq for Held {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Held {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// Impairment state and the delay queue.
pub(crate) struct Shaper {
    links: HashMap<Ipv4Addr, Impairment>,
    /// Latest release time per (source, destination), to keep order without jitter.
    last_release: HashMap<(Ipv4Addr, Ipv4Addr), Instant>,
    /// Every packet due at or before this instant has been released.
    released_until: Option<Instant>,
    heap: BinaryHeap<Reverse<Held>>,
    seq: u64,
    rng: SeededRng,
    stats: EmulatorStats,
}

impl Shaper {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            links: HashMap::new(),
            last_release: HashMap::new(),
            released_until: None,
            heap: BinaryHeap::new(),
            seq: 0,
            rng: SeededRng::new(seed),
            stats: EmulatorStats::default(),
        }
    }

    /// Sets the impairment of the uplink owning `addr`; a clean one removes it.
    pub(crate) fn set(&mut self, addr: Ipv4Addr, imp: Impairment) {
        if imp.needs_emulator() {
            self.links.insert(addr, imp);
        } else {
            self.links.remove(&addr);
        }
    }

    /// Current counters.
    pub(crate) fn stats(&self) -> EmulatorStats {
        EmulatorStats { held: self.heap.len() as u64, links: self.links.len() as u64, ..self.stats }
    }

    /// Counts a failed write back.
    pub(crate) fn count_write_error(&mut self) {
        self.stats.write_errors += 1;
    }

    fn one_way(&mut self, imp: &Impairment) -> Option<(Duration, bool)> {
        if imp.down {
            self.stats.dropped_down += 1;
            return None;
        }
        let loss = imp.loss.fraction();
        if loss > 0.0 && self.rng.chance(loss) {
            self.stats.dropped_loss += 1;
            return None;
        }
        let mut d = imp.delay.as_secs_f64();
        let jittered = !imp.jitter.is_zero();
        if jittered {
            let j = imp.jitter.as_secs_f64();
            d = (d + self.rng.uniform(-j, j)).max(0.0);
        }
        Some((Duration::from_secs_f64(d), jittered))
    }

    /// Decides the fate of one packet read at `now`.
    pub(crate) fn decide(&mut self, now: Instant, packet: &[u8]) -> Decision {
        self.stats.received += 1;
        let Some((src, dst)) = ipv4_endpoints(packet) else {
            return Decision::Send;
        };
        let mut delay = Duration::ZERO;
        let mut jittered = false;
        for addr in [src, dst] {
            if let Some(imp) = self.links.get(&addr).copied() {
                let Some((d, j)) = self.one_way(&imp) else { return Decision::Drop };
                delay += d;
                jittered |= j;
            }
        }
        let mut at = now + delay;
        let mut behind_held = false;
        if !jittered {
            // FIFO per (source, destination): never release before an earlier
            // packet of the same pair, even when the delay was just lowered.
            let key = (src, dst);
            if let Some(&prev) = self.last_release.get(&key) {
                let still_held =
                    !self.heap.is_empty() && self.released_until.is_none_or(|r| prev > r);
                if still_held {
                    at = at.max(prev);
                    behind_held = true;
                }
            }
            self.last_release.insert(key, at);
        }
        if at <= now && !behind_held {
            Decision::Send
        } else if self.heap.len() >= MAX_HELD {
            self.stats.dropped_overflow += 1;
            Decision::Drop
        } else {
            Decision::Hold(at)
        }
    }

    /// Queues a packet decided [`Decision::Hold`].
    pub(crate) fn hold(&mut self, at: Instant, buf: Vec<u8>, len: usize) {
        self.seq += 1;
        self.heap.push(Reverse(Held { at, seq: self.seq, buf, len }));
    }

    /// The next release time, if anything is held.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(h)| h.at)
    }

    /// Pops one packet due at `now` (buffer and length), in release order.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Vec<u8>, usize)> {
        match self.heap.peek() {
            Some(Reverse(h)) if h.at <= now => {}
            _ => {
                self.released_until = Some(now);
                return None;
            }
        }
        self.heap.pop().map(|Reverse(h)| (h.buf, h.len))
    }

    /// Counts a packet written back.
    pub(crate) fn count_sent(&mut self) {
        self.stats.sent += 1;
    }
}

/// Source and destination of an IPv4 packet; `None` for anything else.
pub(crate) fn ipv4_endpoints(p: &[u8]) -> Option<(Ipv4Addr, Ipv4Addr)> {
    if p.len() < 20 || p[0] >> 4 != 4 {
        return None;
    }
    let src = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
    let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
    Some((src, dst))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 2);
    const B: Ipv4Addr = Ipv4Addr::new(198, 18, 2, 2);

    fn packet(src: Ipv4Addr, dst: Ipv4Addr, tag: u8) -> Vec<u8> {
        let mut p = vec![0u8; 28];
        p[0] = 0x45;
        p[12..16].copy_from_slice(&src.octets());
        p[16..20].copy_from_slice(&dst.octets());
        p[27] = tag;
        p
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn feed(s: &mut Shaper, now: Instant, p: Vec<u8>) -> Decision {
        let d = s.decide(now, &p);
        if let Decision::Hold(at) = d {
            let len = p.len();
            s.hold(at, p, len);
        }
        d
    }

    fn drain(s: &mut Shaper, now: Instant) -> Vec<u8> {
        let mut tags = Vec::new();
        while let Some((buf, len)) = s.pop_due(now) {
            tags.push(buf[len - 1]);
        }
        tags
    }

    #[test]
    fn clean_links_send_at_once_and_foreign_packets_pass() {
        let mut s = Shaper::new(1);
        let now = Instant::now();
        assert_eq!(s.decide(now, &packet(A, B, 0)), Decision::Send);
        assert_eq!(s.decide(now, &[0x60; 40]), Decision::Send);
    }

    #[test]
    fn delays_on_both_ends_add_up() {
        let mut s = Shaper::new(1);
        s.set(A, Impairment::delay(ms(40)));
        s.set(B, Impairment::delay(ms(10)));
        let now = Instant::now();
        assert_eq!(feed(&mut s, now, packet(A, B, 1)), Decision::Hold(now + ms(50)));
        assert_eq!(s.next_deadline(), Some(now + ms(50)));
        assert!(drain(&mut s, now + ms(49)).is_empty());
        assert_eq!(drain(&mut s, now + ms(50)), [1]);
    }

    #[test]
    fn without_jitter_order_is_kept_even_when_the_delay_drops() {
        let mut s = Shaper::new(1);
        let t0 = Instant::now();
        s.set(A, Impairment::delay(ms(40)));
        feed(&mut s, t0, packet(A, B, 1));
        s.set(A, Impairment::delay(ms(5)));
        feed(&mut s, t0 + ms(1), packet(A, B, 2));
        s.set(A, Impairment::NONE);
        assert!(matches!(feed(&mut s, t0 + ms(2), packet(A, B, 3)), Decision::Hold(_)));
        assert!(drain(&mut s, t0 + ms(39)).is_empty());
        assert_eq!(drain(&mut s, t0 + ms(40)), [1, 2, 3]);
        assert_eq!(feed(&mut s, t0 + ms(41), packet(A, B, 4)), Decision::Send);
    }

    #[test]
    fn jitter_spreads_delays_around_the_mean() {
        let mut s = Shaper::new(7);
        s.set(A, Impairment { delay: ms(20), jitter: ms(5), ..Impairment::NONE });
        let now = Instant::now();
        let mut sum = 0.0;
        for i in 0..2000 {
            let Decision::Hold(at) = s.decide(now, &packet(A, B, (i % 250) as u8)) else {
                panic!()
            };
            let d = (at - now).as_secs_f64() * 1e3;
            assert!((15.0..=25.0).contains(&d), "{d}");
            sum += d;
        }
        assert!((sum / 2000.0 - 20.0).abs() < 0.5);
    }

    #[test]
    fn loss_matches_its_rate_and_down_drops_everything() {
        let mut s = Shaper::new(3);
        s.set(A, Impairment::loss(0.1));
        let now = Instant::now();
        let dropped =
            (0..20_000).filter(|_| s.decide(now, &packet(B, A, 0)) == Decision::Drop).count();
        assert!((1_800..2_200).contains(&dropped), "{dropped}");
        s.set(A, Impairment::down());
        assert_eq!(s.decide(now, &packet(A, B, 0)), Decision::Drop);
        assert_eq!(s.decide(now, &packet(B, A, 0)), Decision::Drop);
        let st = s.stats();
        assert_eq!(st.dropped_down, 2);
        assert_eq!(st.dropped_loss, dropped as u64);
    }
}
