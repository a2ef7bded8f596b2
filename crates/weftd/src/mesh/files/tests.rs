//! The mesh files against temporary state directories.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use weft_layout::mesh::{CA_PUB, write_atomic};
use weft_mesh::identity::{CertBody, Label, PrefixList};
use weft_types::{PublicKey, SiteId};

use super::*;

/// A state directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("weftd-mesh-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

fn cert(ca: &MeshCa, key: &SiteKey) -> SiteCert {
    ca.issue_cert(CertBody {
        serial: 7,
        site: SiteId::new("paris").unwrap(),
        role: Label::new("site").unwrap(),
        region: Label::new("eu-west").unwrap(),
        prefixes: PrefixList::new(vec!["10.1.0.0/16".parse().unwrap()]).unwrap(),
        site_key: key.public(),
        wg_key: PublicKey([3; 32]),
        not_before: 1_700_000_000,
        not_after: 1_700_086_400,
        learn_ranges: weft_mesh::identity::LearnRanges::default(),
    })
}

#[test]
fn absent_files_load_as_none() {
    let d = TempDir::new("absent");
    let f = MeshFiles::open(&d.0).unwrap();
    assert!(f.load_ca().unwrap().is_none());
    assert!(f.load_ca_public().unwrap().is_none());
    assert!(f.load_site_key().unwrap().is_none());
    assert!(f.load_cert().unwrap().is_none());
    assert!(f.load_enroller().unwrap().is_none());
    assert!(f.load_generation().unwrap().is_none());
    assert!(f.load_seeds().unwrap().is_none());
}

#[test]
fn the_directory_is_0700_and_every_file_0600_whatever_the_umask() {
    let d = TempDir::new("modes");
    let dir = d.0.join(MESH_DIR);
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    let f = MeshFiles::open(&d.0).unwrap();
    assert_eq!(mode(&dir), 0o700);
    f.load_or_create_site_key().unwrap();
    f.save_ca_public(&MeshCa::from_seed(&[1; 32]).public()).unwrap();
    f.save_enroller(&EnrollerState::default()).unwrap();
    f.bump_generation().unwrap();
    f.save_seeds(&["hub.example:7946".to_owned()]).unwrap();
    for name in [SITE_KEY, CA_PUB, ENROLLER, GENERATION, SEEDS] {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
    let leftovers: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.contains("tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn the_site_key_is_created_once_and_then_reloaded() {
    let d = TempDir::new("sitekey");
    let f = MeshFiles::open(&d.0).unwrap();
    let a = f.load_or_create_site_key().unwrap().public();
    let b = f.load_or_create_site_key().unwrap().public();
    assert_eq!(a, b);
    assert_eq!(MeshFiles::open(&d.0).unwrap().load_site_key().unwrap().unwrap().public(), a);
}

#[test]
fn a_secret_readable_by_others_is_refused() {
    let d = TempDir::new("secretmode");
    let f = MeshFiles::open(&d.0).unwrap();
    f.load_or_create_site_key().unwrap();
    fs::set_permissions(f.dir().join(SITE_KEY), fs::Permissions::from_mode(0o644)).unwrap();
    let e = f.load_site_key().unwrap_err().to_string();
    assert!(e.contains("mode 0644") && e.contains("chmod 600"), "{e}");
}

#[test]
fn corrupt_files_are_errors_naming_the_file_and_the_fault() {
    let d = TempDir::new("corrupt");
    let f = MeshFiles::open(&d.0).unwrap();
    let put = |name: &str, text: &str| write_atomic(f.dir(), name, text.as_bytes()).unwrap();
    let err = |e: anyhow::Error| format!("{e:#}");

    put(SITE_KEY, "secret-looking-garbage\n");
    let e = err(f.load_site_key().unwrap_err());
    assert!(e.contains("site.key is corrupt") && e.contains("`weft-site-key1."), "{e}");
    assert!(!e.contains("garbage"), "a secret file's content is never echoed: {e}");
    put(SITE_CERT, "AAAA\n");
    let e = err(f.load_cert().unwrap_err());
    assert!(e.contains("site.cert is corrupt: not a site certificate"), "{e}");
    put(ENROLLER, "{\"next_serial\":");
    let e = err(f.load_enroller().unwrap_err());
    assert!(e.contains("enroller.json is corrupt: not an enroller state"), "{e}");
    put(GENERATION, "seven\n");
    let e = err(f.load_generation().unwrap_err());
    assert!(e.contains("generation is corrupt") && e.contains("\"seven\""), "{e}");
    assert!(f.bump_generation().is_err(), "a corrupt generation is not reset silently");
    put(SEEDS, "hub.example:7946\n\nhub2.example\n");
    let e = err(f.load_seeds().unwrap_err());
    assert!(e.contains("seeds is corrupt: line 3") && e.contains("HOST:PORT"), "{e}");
    fs::write(f.dir().join(SITE_CERT), [0xff, 0xfe]).unwrap();
    let e = err(f.load_cert().unwrap_err());
    assert!(e.contains("not UTF-8"), "{e}");
}

#[test]
fn certificates_enroller_state_and_seeds_round_trip() {
    let d = TempDir::new("roundtrip");
    let f = MeshFiles::open(&d.0).unwrap();
    let ca = MeshCa::from_seed(&[1; 32]);
    let key = SiteKey::from_seed(&[2; 32]);
    let c = cert(&ca, &key);
    f.save_cert(&c).unwrap();
    assert_eq!(f.load_cert().unwrap().unwrap().encode(), c.encode());

    let mut state = EnrollerState { next_serial: 42, ..EnrollerState::default() };
    state.token_uses.insert(weft_mesh::identity::TokenId([9; 16]), 3);
    state.sites.insert(
        SiteId::new("paris").unwrap(),
        weft_mesh::identity::SiteRecord {
            site_key: key.public(),
            last_serial: 41,
            prefixes: weft_mesh::identity::PrefixList::default(),
        },
    );
    f.save_enroller(&state).unwrap();
    assert_eq!(f.load_enroller().unwrap(), Some(state));

    let seeds = vec!["hub.example:7946".to_owned(), "[2001:db8::1]:7946".to_owned()];
    f.save_seeds(&seeds).unwrap();
    assert_eq!(f.load_seeds().unwrap(), Some(seeds));
    assert!(f.save_seeds(&["no-port".to_owned()]).is_err());
    assert!(f.save_seeds(&["h:0".to_owned()]).is_err());
}

#[test]
fn the_generation_counts_starts_from_one() {
    let d = TempDir::new("gen");
    let f = MeshFiles::open(&d.0).unwrap();
    assert_eq!(f.bump_generation().unwrap(), 1);
    assert_eq!(f.bump_generation().unwrap(), 2);
    assert_eq!(MeshFiles::open(&d.0).unwrap().bump_generation().unwrap(), 3);
    assert_eq!(f.load_generation().unwrap(), Some(3));
}

#[test]
fn a_write_replaces_the_file_atomically_and_clears_a_stale_temp_file() {
    let d = TempDir::new("atomic");
    let f = MeshFiles::open(&d.0).unwrap();
    // A crash between create and rename leaves a temp file; the next write copes.
    fs::write(f.dir().join(format!(".{GENERATION}.tmp")), b"junk").unwrap();
    f.bump_generation().unwrap();
    let old = fs::metadata(f.dir().join(GENERATION)).unwrap();
    // A reader holding the old file keeps reading the old contents.
    let held = fs::read_to_string(f.dir().join(GENERATION)).unwrap();
    f.bump_generation().unwrap();
    let new = fs::metadata(f.dir().join(GENERATION)).unwrap();
    assert_ne!(old.ino(), new.ino(), "replaced by rename, not rewritten in place");
    assert_eq!(held.trim(), "1");
    assert_eq!(f.load_generation().unwrap(), Some(2));
    assert!(!f.dir().join(format!(".{GENERATION}.tmp")).exists());
}

#[test]
fn the_enroller_ledger_keys_tokens_by_hex_id_and_refuses_a_bad_one() {
    let d = TempDir::new("ledger");
    let f = MeshFiles::open(&d.0).unwrap();
    let mut state = EnrollerState::default();
    state.token_uses.insert(weft_mesh::identity::TokenId([0xab; 16]), 2);
    f.save_enroller(&state).unwrap();
    let text = fs::read_to_string(f.dir().join(ENROLLER)).unwrap();
    assert!(text.contains(&format!("\"{}\": 2", "ab".repeat(16))), "{text}");
    write_atomic(f.dir(), ENROLLER, text.replace(&"ab".repeat(16), "xyz").as_bytes()).unwrap();
    let e = format!("{:#}", f.load_enroller().unwrap_err());
    assert!(e.contains("token id \"xyz\" is not 32 hex digits"), "{e}");
}

#[test]
fn the_generation_never_goes_below_its_floor_and_never_back() {
    let d = TempDir::new("floor");
    let f = MeshFiles::open(&d.0).unwrap();
    assert_eq!(f.bump_generation_to(1_000).unwrap(), 1_000);
    assert_eq!(f.bump_generation_to(1_000).unwrap(), 1_001, "same second: still higher");
    assert_eq!(f.bump_generation_to(10).unwrap(), 1_002, "clock stepped back: still higher");
    assert_eq!(f.load_generation().unwrap(), Some(1_002));
}

#[test]
fn a_ledger_written_before_prefixes_were_kept_still_loads() {
    let d = TempDir::new("oldledger");
    let f = MeshFiles::open(&d.0).unwrap();
    let key = SiteKey::from_seed(&[4; 32]).public();
    let old = format!(
        "{{\"next_serial\":3,\"token_uses\":{{}},\"sites\":{{\"a\":{{\"site_key\":{},\"last_serial\":2}}}},\"revocations\":{}}}",
        serde_json::to_string(&key).unwrap(),
        serde_json::to_string(&weft_mesh::identity::RevocationList::default()).unwrap()
    );
    fs::write(f.dir().join("enroller.json"), old).unwrap();
    let state = f.load_enroller().unwrap().expect("the old ledger");
    assert_eq!(state.next_serial, 3);
    assert!(state.sites[&weft_types::SiteId::new("a").unwrap()].prefixes.is_empty());
}
