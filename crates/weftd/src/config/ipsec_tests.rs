use std::path::Path;

use super::super::{ConfigError, SiteConfig, parse};
use super::*;

const BASE: &str = r#"[site]
name = "a"
private_key_file = "a.key"
address = "10.77.1.1/24"
prefixes = ["10.77.1.0/24"]

[[uplink]]
name = "u0"
bind = "198.18.1.2:51820"

[[peer]]
name = "b"
public_key = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
prefixes = ["10.77.2.0/24"]
endpoints = ["198.18.2.2:51820"]
"#;

fn with(ipsec: &str) -> String {
    format!("{BASE}\n[[ipsec]]\n{ipsec}")
}

fn parse_str(s: &str) -> Result<SiteConfig, ConfigError> {
    parse(Path::new("/etc/weft/site.toml"), s)
}

fn errors(s: &str) -> String {
    match parse_str(s) {
        Err(ConfigError::Invalid(d)) => {
            d.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
        }
        other => panic!("expected diagnostics, got {other:?}"),
    }
}

#[test]
fn a_minimal_gateway_takes_the_defaults() {
    let c = parse_str(&with(
        "name = \"cloud\"\nremote = \"203.0.113.7\"\npsk_file = \"cloud.psk\"\nremote_prefixes = [\"172.16.0.0/16\"]\nprobe = \"172.16.0.1\"\n",
    ))
    .unwrap();
    let g = &c.ipsec[0];
    assert_eq!(g.name, "cloud");
    assert_eq!(g.local.to_string(), "198.18.1.2", "the first uplink's address");
    assert_eq!(
        g.auth,
        IpsecAuth::Psk { psk_file: Path::new("/etc/weft/cloud.psk").to_path_buf() },
        "a PSK, relative to the file"
    );
    assert_eq!(g.proposals, [DEFAULT_PROPOSALS]);
    assert_eq!(g.esp_proposals, [DEFAULT_ESP_PROPOSALS]);
    assert_eq!(g.local_prefixes, c.prefixes, "the site's prefixes");
    assert_eq!((g.prefer, g.via.as_deref()), (Prefer::Ipsec, None));
}

#[test]
fn wireguard_first_through_a_peer_serving_the_same_prefixes_parses() {
    let c = parse_str(&with(
        "name = \"cloud\"\nremote = \"198.18.3.2\"\nlocal = \"198.18.1.2\"\npsk_file = \"k\"\nproposals = [\"aes128gcm16-prfsha256-ecp256\"]\nesp_proposals = [\"aes128gcm16\"]\nremote_prefixes = [\"10.77.2.0/24\"]\nlocal_prefixes = [\"10.77.1.0/24\"]\nprobe = \"10.77.2.1\"\nprefer = \"wireguard\"\nvia = \"b\"\n",
    ))
    .unwrap();
    let g = &c.ipsec[0];
    assert_eq!((g.prefer, g.via.as_deref()), (Prefer::WireGuard, Some("b")));
    assert_eq!(g.esp_proposals, ["aes128gcm16"]);
}

#[test]
fn mistakes_are_reported_at_their_place() {
    let e = errors(&with(
        "name = \"Cloud!\"\nremote = \"gw.example\"\npsk_file = \"k\"\nremote_prefixes = [\"10.77.2.0/24\"]\nprobe = \"10.99.0.1\"\nprefer = \"fastest\"\n",
    ));
    assert!(e.contains("site.toml:18:8: an ipsec name"), "{e}");
    assert!(e.contains("site.toml:19:10: \"gw.example\" is not an IP address"), "{e}");
    assert!(e.contains("site.toml:22:9: the probe 10.99.0.1 is in none of remote_prefixes"), "{e}");
    assert!(e.contains("site.toml:23:10: prefer is \"wireguard\", \"ipsec\" or \"best\""), "{e}");
}

#[test]
fn wireguard_first_needs_a_via_that_serves_the_prefixes() {
    let gw = "name = \"cloud\"\nremote = \"198.18.3.2\"\npsk_file = \"k\"\nremote_prefixes = [\"10.88.0.0/24\"]\nprobe = \"10.88.0.1\"\nprefer = \"wireguard\"\n";
    let e = errors(&with(gw));
    assert!(e.contains("23:10: prefer = \"wireguard\" or \"best\" needs via"), "{e}");
    let e = errors(&with(&format!("{gw}via = \"b\"\n")));
    assert!(e.contains("24:7: peer \"b\" does not serve 10.88.0.0/24"), "{e}");
    let e = errors(&with(&format!("{gw}via = \"z\"\n")));
    assert!(e.contains("no [[peer]] is named \"z\""), "{e}");
}

#[test]
fn missing_keys_overlaps_and_duplicates_are_errors() {
    let gw = "name = \"cloud\"\nremote = \"198.18.3.2\"\nremote_prefixes = [\"10.77.1.128/25\"]\nprobe = \"10.77.1.129\"\n";
    let e = errors(&with(gw));
    assert!(e.contains("psk_file is needed"), "{e}");
    assert!(e.contains("10.77.1.128/25 overlaps this site's prefix 10.77.1.0/24"), "{e}");
    let one = "name = \"cloud\"\nremote = \"198.18.3.2\"\npsk_file = \"k\"\nremote_prefixes = [\"10.88.0.0/24\"]\nprobe = \"10.88.0.1\"\n";
    let e = errors(&format!("{}\n[[ipsec]]\n{one}", with(one)));
    assert!(e.contains("ipsec name \"cloud\" is used twice"), "{e}");
    let e = errors(&with(&one.replace("\"cloud\"", "\"client-x\"")));
    assert!(e.contains("18:8: an ipsec name may not start with \"client-\""), "{e}");
    let e = errors(&with(&format!("{one}local_prefixes = [\"10.55.0.0/24\"]\n")));
    assert!(e.contains("the site's address 10.77.1.1 is in none of local_prefixes"), "{e}");
    let e = errors(&with(&format!("{one}bogus = 1\n")));
    assert!(e.contains("unknown field `bogus`"), "{e}");
}

#[test]
fn best_scores_both_paths_and_with_via_remote_prefixes_are_ipv4() {
    let gw = "name = \"cloud\"\nremote = \"198.18.3.2\"\npsk_file = \"k\"\nremote_prefixes = [\"10.77.2.0/24\"]\nprobe = \"10.77.2.1\"\nprefer = \"best\"\n";
    let e = errors(&with(gw));
    assert!(e.contains("23:10: prefer = \"wireguard\" or \"best\" needs via"), "{e}");
    let c = parse_str(&with(&format!("{gw}via = \"b\"\n"))).unwrap();
    assert_eq!(c.ipsec[0].prefer, Prefer::Best);
    let v6 = "name = \"cloud\"\nremote = \"198.18.3.2\"\npsk_file = \"k\"\nremote_prefixes = [\"10.77.2.0/24\", \"fd00:2::/64\"]\nprobe = \"10.77.2.1\"\nvia = \"b\"\n";
    let e = errors(&with(v6));
    assert!(e.contains("21:36: fd00:2::/64: with via, remote_prefixes are IPv4 only"), "{e}");
}

/// A directory holding `files` (empty), unique to the test.
fn dir_with(test: &str, files: &[&str]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("weft-ipsec-cfg-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for f in files {
        std::fs::write(dir.join(f), "").unwrap();
    }
    dir
}

const CERT_GW: &str = "name = \"cloud\"\nremote = \"198.18.3.2\"\nremote_prefixes = [\"10.88.0.0/24\"]\nprobe = \"10.88.0.1\"\n";

#[test]
fn certificate_auth_reads_its_files_relative_to_the_config() {
    let dir = dir_with("ok", &["a.pem", "a.key", "ca.pem"]);
    let text = with(&format!(
        "{CERT_GW}auth = \"cert\"\ncert_file = \"a.pem\"\nkey_file = \"a.key\"\nca_file = \"ca.pem\"\nremote_id = \"gw.mesh.test\"\n"
    ));
    let c = parse(&dir.join("site.toml"), &text).unwrap();
    let IpsecAuth::Cert(a) = &c.ipsec[0].auth else { panic!("{:?}", c.ipsec[0].auth) };
    assert_eq!((a.cert_file.clone(), a.ca_file.clone()), (dir.join("a.pem"), dir.join("ca.pem")));
    assert_eq!((a.remote_id.as_str(), a.local_id.as_deref()), ("gw.mesh.test", None));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn certificate_auth_mistakes_name_their_place() {
    let dir = dir_with("bad", &["a.pem"]);
    let errs =
        |extra: &str| match parse(&dir.join("site.toml"), &with(&format!("{CERT_GW}{extra}"))) {
            Err(ConfigError::Invalid(d)) => {
                d.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
            }
            other => panic!("expected diagnostics, got {other:?}"),
        };
    // neither
    let e = errs("");
    assert!(
        e.contains("site.toml:18:8: psk_file is needed (pre-shared key), or auth = \"cert\""),
        "{e}"
    );
    // both
    let e = errs(
        "auth = \"cert\"\npsk_file = \"k\"\ncert_file = \"a.pem\"\nkey_file = \"a.key\"\nca_file = \"ca.pem\"\nremote_id = \"gw\"\n",
    );
    assert!(e.contains("site.toml:23:12: psk_file and auth = \"cert\" exclude each other"), "{e}");
    // missing files, missing remote_id, an unknown auth
    assert!(
        e.contains("site.toml:25:12: no such file: ")
            && e.contains("a.key (`weft ipsec cert` issues them)"),
        "{e}"
    );
    assert!(e.contains("site.toml:26:11: no such file: "), "{e}");
    assert!(!e.contains("/a.pem"), "a.pem exists: {e}");
    let e = errs("auth = \"cert\"\ncert_file = \"a.pem\"\n");
    assert!(e.contains("key_file is needed with auth = \"cert\""), "{e}");
    assert!(e.contains("remote_id is needed with auth = \"cert\""), "{e}");
    let e = errs("auth = \"rsa\"\n");
    assert!(e.contains("site.toml:22:8: auth is \"psk\" or \"cert\", not \"rsa\""), "{e}");
    // cert keys with a PSK
    let e = errs("psk_file = \"k\"\ncert_file = \"a.pem\"\nremote_id = \"gw\"\n");
    assert!(e.contains("site.toml:23:13: cert_file is for auth = \"cert\""), "{e}");
    assert!(e.contains("site.toml:24:13: remote_id and local_id are for auth = \"cert\""), "{e}");
    let _ = std::fs::remove_dir_all(dir);
}
