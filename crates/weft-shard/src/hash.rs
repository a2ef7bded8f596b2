//! The fixed hash functions behind the assignment.
//!
//! Everything here is a pure function of its input bytes, identical on every
//! run and every controller: no per-process seeds.

/// FNV-1a, 64-bit: a stable hash of a name.
pub(crate) fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The SplitMix64 finaliser: a bijective mix in which every input bit affects
/// every output bit. FNV alone mixes its last bytes poorly.
pub(crate) fn mix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The rendezvous hash of one (shard, controller) pair, from the shard number
/// and the controller's name hash.
pub(crate) fn pair_hash(shard: u32, controller_hash: u64) -> u64 {
    mix64(controller_hash ^ mix64(u64::from(shard)))
}

/// The weighted rendezvous key of a pair: `-ln(u) / weight` with `u` in
/// `(0, 1]` taken from the pair hash. The smallest key wins (an exponential
/// race), so a controller of weight `w` is first for a shard with probability
/// `w / Σw`. With equal weights the order is the order of the hashes.
///
/// `f64::ln` is deterministic for a given build and target; maps are computed
/// by the leader and published, so no two builds need to agree bit for bit.
pub(crate) fn race_key(hash: u64, weight: u32) -> f64 {
    let u = ((hash >> 11) + 1) as f64 / (1u64 << 53) as f64;
    -u.ln() / f64::from(weight)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_the_published_test_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn mix_spreads_neighbouring_inputs() {
        let a = mix64(1);
        let b = mix64(2);
        assert!((a ^ b).count_ones() > 16, "{a:x} {b:x}");
    }

    #[test]
    fn race_keys_are_finite_and_favour_heavier_controllers() {
        for h in [0, 1, u64::MAX, 0x8000_0000_0000_0000] {
            let k = race_key(h, 1);
            assert!(k.is_finite() && k >= 0.0, "{h:x} -> {k}");
            assert!(race_key(h, 4) <= k);
        }
    }
}
