//! The CA files against temporary state directories.

use std::sync::atomic::{AtomicU32, Ordering};

use super::*;

/// A state directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("weft-layout-{tag}-{}-{n}", std::process::id()));
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

#[test]
fn absent_ca_files_load_as_none() {
    let d = TempDir::new("absent");
    let f = MeshDir::open(&d.0).unwrap();
    assert!(f.load_ca().unwrap().is_none());
    assert!(f.load_ca_public().unwrap().is_none());
    assert!(f.read(SITE_CERT, false).unwrap().is_none());
}

#[test]
fn the_directory_is_0700_and_the_ca_files_0600_whatever_the_umask() {
    let d = TempDir::new("modes");
    let dir = d.0.join(MESH_DIR);
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    let f = MeshDir::open(&d.0).unwrap();
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(f.dir(), dir);
    f.save_ca_key(&[1; 32]).unwrap();
    f.save_ca_public(&MeshCa::from_seed(&[1; 32]).public()).unwrap();
    for name in [CA_KEY, CA_PUB] {
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
fn init_ca_writes_a_key_and_its_pin_and_refuses_to_overwrite() {
    let d = TempDir::new("init");
    let public = init_ca(&d.0).unwrap();
    let f = MeshDir::open(&d.0).unwrap();
    assert_eq!(f.load_ca().unwrap().unwrap().public(), public);
    assert_eq!(f.load_ca_public().unwrap(), Some(public));
    let text = fs::read_to_string(f.dir().join(CA_KEY)).unwrap();
    assert!(text.starts_with(CA_KEY_PREFIX) && text.ends_with('\n') && text.lines().count() == 1);
    assert_eq!(fs::read_to_string(f.dir().join(CA_PUB)).unwrap(), ca_public_text(&public));
    assert_eq!(mode(&f.dir().join(CA_KEY)), 0o600);
    let e = init_ca(&d.0).unwrap_err().to_string();
    assert!(e.contains("already exists"), "{e}");
    assert_eq!(f.load_ca().unwrap().unwrap().public(), public, "the first CA survives");
    assert_ne!(init_ca(&TempDir::new("init2").0).unwrap(), public, "seeds are random");
}

#[test]
fn a_ca_key_that_disagrees_with_the_pin_is_an_error() {
    let d = TempDir::new("mismatch");
    let f = MeshDir::open(&d.0).unwrap();
    f.save_ca_key(&[1; 32]).unwrap();
    f.save_ca_public(&MeshCa::from_seed(&[2; 32]).public()).unwrap();
    let e = f.load_ca().unwrap_err().to_string();
    assert!(e.contains("pins CA"), "{e}");
}

#[test]
fn a_ca_key_readable_by_others_is_refused() {
    let d = TempDir::new("secretmode");
    let f = MeshDir::open(&d.0).unwrap();
    f.save_ca_key(&[1; 32]).unwrap();
    fs::set_permissions(f.dir().join(CA_KEY), fs::Permissions::from_mode(0o644)).unwrap();
    let e = f.load_ca().unwrap_err().to_string();
    assert!(e.contains("mode 0644") && e.contains("chmod 600"), "{e}");
}

#[test]
fn corrupt_ca_files_are_errors_naming_the_file_and_the_fault() {
    let d = TempDir::new("corrupt");
    let f = MeshDir::open(&d.0).unwrap();
    let put = |name: &str, text: &str| write_atomic(f.dir(), name, text.as_bytes()).unwrap();
    let err = |e: anyhow::Error| format!("{e:#}");

    put(CA_KEY, "weft-ca-key1.AAAA\n");
    let e = err(f.load_ca().unwrap_err());
    assert!(e.contains("ca.key is corrupt") && e.contains("3 bytes long"), "{e}");
    put(CA_KEY, "secret-looking-garbage\n");
    let e = err(f.load_ca().unwrap_err());
    assert!(e.contains("expected one line `weft-ca-key1."), "{e}");
    assert!(!e.contains("garbage"), "a secret file's content is never echoed: {e}");

    put(CA_PUB, "weft-ca1.!!!!\n");
    let e = err(f.load_ca_public().unwrap_err());
    assert!(e.contains("ca.pub is corrupt") && e.contains("not base64url"), "{e}");
    fs::write(f.dir().join(CA_PUB), [0xff, 0xfe]).unwrap();
    let e = err(f.load_ca_public().unwrap_err());
    assert!(e.contains("not UTF-8"), "{e}");
}
