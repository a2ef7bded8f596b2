//! Parsing, output and the client calls of the mesh commands.

use clap::Parser;

use super::*;
use crate::cmd::client::fake::{self, FakeAgent};

#[derive(Parser, Debug)]
struct TokenCli {
    #[command(subcommand)]
    cmd: TokenCommand,
}

fn parse_token(args: &[&str]) -> Result<TokenCreateArgs, clap::Error> {
    let argv = ["t", "create"].iter().chain(args).copied();
    TokenCli::try_parse_from(argv).map(|c| match c.cmd {
        TokenCommand::Create(a) => a,
    })
}

const NOW: i64 = 1_700_000_000;

fn token() -> MeshToken {
    MeshToken {
        token: "weft1.AAAA".into(),
        id: "0a".repeat(16),
        expires_unix_s: 1_700_003_600,
        uses: 1,
        role: "site".into(),
        region: "eu-west".into(),
    }
}

fn status() -> MeshStatus {
    MeshStatus {
        site: "paris".into(),
        ca_fingerprint: "0011223344556677".into(),
        ca_holder: false,
        topology: "hub-and-spoke".into(),
        cert_serial: 12,
        cert_expires_unix_s: 1_700_086_400,
        cert_renew_unix_s: 1_700_057_600,
        revocation_version: 2,
        members: vec![
            MeshMember {
                site: "hub1".into(),
                role: "hub".into(),
                region: "eu-west".into(),
                state: "alive".into(),
                gossip: "198.51.100.1:7946".into(),
                endpoints: vec!["198.51.100.1:51820".into()],
                peered: true,
                cert_serial: Some(1),
                cert_expires_unix_s: Some(1_700_086_400),
            },
            MeshMember {
                site: "lyon".into(),
                role: String::new(),
                region: String::new(),
                state: "suspect".into(),
                gossip: "203.0.113.9:7946".into(),
                endpoints: vec![],
                peered: false,
                cert_serial: None,
                cert_expires_unix_s: None,
            },
        ],
        counters: vec![weft_api::Counter { name: "datagrams_in".into(), count: 7 }],
    }
}

#[test]
fn ttls_take_minutes_hours_days_and_seconds() {
    assert_eq!(parse_ttl("30m"), Ok(1800));
    assert_eq!(parse_ttl("1h"), Ok(3600));
    assert_eq!(parse_ttl("2d"), Ok(172_800));
    assert_eq!(parse_ttl("3600s"), Ok(3600));
    assert_eq!(parse_ttl("90"), Ok(90));
    assert_eq!(parse_ttl("1.5h"), Ok(5400));
    assert!(parse_ttl("1500ms").unwrap_err().contains("whole number of seconds"));
    assert!(parse_ttl("soon").unwrap_err().contains("e.g. 30m"));
    assert!(parse_ttl("-1d").is_err());
}

#[test]
fn token_create_defaults_to_one_site_for_an_hour() {
    let a = parse_token(&[]).unwrap();
    let req = token_request(&a);
    assert_eq!(req.ttl_s, Some(3600));
    assert_eq!(req.uses, Some(1));
    assert_eq!(req.role.as_deref(), Some("site"));
    assert_eq!(req.region, None);
    assert_eq!(req.prefixes, None, "no --prefix: any prefix");
}

#[test]
fn token_create_takes_every_option_and_repeated_prefixes() {
    let a = parse_token(&[
        "--ttl",
        "2d",
        "--uses",
        "5",
        "--role",
        "hub",
        "--region",
        "eu-west",
        "--prefix",
        "10.1.0.0/16",
        "--prefix",
        "10.2.0.0/16",
        "--json",
        "--agent",
        "ca.example:7420",
    ])
    .unwrap();
    let req = token_request(&a);
    assert_eq!((req.ttl_s, req.uses), (Some(172_800), Some(5)));
    assert_eq!((req.role.as_deref(), req.region.as_deref()), (Some("hub"), Some("eu-west")));
    assert_eq!(req.prefixes, Some(vec!["10.1.0.0/16".to_owned(), "10.2.0.0/16".to_owned()]));
    assert!(a.json);
    assert!(parse_token(&["--ttl", "soon"]).is_err());
    assert!(parse_token(&["--uses", "-1"]).is_err());
}

#[test]
fn the_token_summary_names_the_expiry_and_the_command_to_run() {
    let s = token_summary(&token(), Some("ca.example:7420"), NOW);
    assert!(s.contains(&format!("join token  {}", "0a".repeat(16))), "{s}");
    assert!(s.contains("expires     2023-11-14 23:13:20Z (in 1h 0m)"), "{s}");
    assert!(s.contains("enrols      1 site\n"), "{s}");
    assert!(s.contains("region      eu-west\n"), "{s}");
    assert!(s.contains("weftd --join \"$TOKEN\" --seed ca.example:7946\n"), "{s}");
    assert!(!s.contains("weft1."), "the token itself goes to stdout only: {s}");
    assert!(token_summary(&token(), None, NOW).contains("--seed THIS-HOST:7946"));
    assert!(token_summary(&token(), Some("127.0.0.1:7420"), NOW).contains("THIS-HOST:7946"));
    assert_eq!(seed_hint(Some("https://[2001:db8::1]:7420/")), "[2001:db8::1]:7946");
}

#[test]
fn relative_times_read_naturally() {
    assert_eq!(relative(0), "now");
    assert_eq!(relative(42), "in 42s");
    assert_eq!(relative(-600), "10m ago");
    assert_eq!(relative(5 * 3600 + 180), "in 5h 3m");
    assert_eq!(relative(2 * 86_400 + 3600), "in 2d 1h");
}

#[test]
fn the_mesh_view_has_a_header_and_a_member_table() {
    let h = header(&status(), NOW);
    assert!(h.contains("mesh CA      0011223344556677\n"), "{h}");
    assert!(h.contains("CA holder    no\n"), "{h}");
    assert!(h.contains("topology     hub-and-spoke\n"), "{h}");
    assert!(h.contains("certificate  serial 12, expires 2023-11-15 22:13:20Z (in 1d 0h)\n"), "{h}");
    assert!(h.contains("renew at     2023-11-15 14:13:20Z (in 16h 0m)\n"), "{h}");
    assert!(h.contains("counters     datagrams_in 7\n"), "{h}");
    let t = members(&status().members).render();
    let lines: Vec<&str> = t.lines().collect();
    assert!(lines[0].starts_with("SITE  ROLE  REGION   STATE    PEERED  GOSSIP"), "{t}");
    assert!(
        lines[1].contains("hub1  hub   eu-west  alive    yes")
            && lines[1].ends_with("2023-11-15 22:13:20Z"),
        "{t}"
    );
    assert!(
        lines[2].starts_with("lyon  -     -        suspect  no") && lines[2].ends_with('-'),
        "{t}"
    );
}

#[test]
fn a_revocation_summary_names_the_site_and_the_list_version() {
    let r = MeshRevocation {
        site: "lyon".into(),
        list_version: 3,
        revoked_sites: vec!["lyon".into(), "nice".into()],
    };
    let s = revocation_summary(&r);
    assert!(s.starts_with("revoked site lyon: every agent drops it"), "{s}");
    assert!(s.ends_with("revocation list version 3 (2 revoked: lyon, nice)"), "{s}");
}

#[test]
fn token_create_posts_the_request_and_decodes_the_token() {
    let body = serde_json::to_string(&token()).unwrap();
    let agent = FakeAgent::unix(vec![fake::json(201, &body)]);
    let a = parse_token(&["--uses", "3", "--region", "eu-west"]).unwrap();
    let t = create_token(&agent.client(None), &token_request(&a)).unwrap();
    assert_eq!(t, token());
    let req = agent.request();
    assert!(req.starts_with("POST /api/v1/mesh/tokens HTTP/1.1\r\n"), "{req}");
    assert!(req.ends_with(r#"{"ttl_s":3600,"uses":3,"role":"site","region":"eu-west"}"#), "{req}");
}

#[test]
fn refusals_from_the_agent_keep_their_code() {
    let agent = FakeAgent::unix(vec![
        fake::json(409, r#"{"code":"not_ca_holder","message":"this agent does not hold the CA"}"#),
        fake::json(404, r#"{"code":"not_found","message":"no site x"}"#),
        fake::json(409, r#"{"code":"not_in_mesh","message":"not in a mesh"}"#),
    ]);
    let c = agent.client(None);
    let e = create_token(&c, &MeshTokenCreate::default()).unwrap_err();
    assert!(e.to_string().starts_with("not_ca_holder: "), "{e}");
    assert_eq!(crate::cmd::exit_code(&e), 1);
    let e = revoke(&c, "x").unwrap_err();
    assert_eq!(e.to_string(), "not_found: no site x");
    let _ = agent.request();
    assert!(agent.request().ends_with(r#"{"site":"x"}"#));
    let e = c.get::<Value>("/api/v1/mesh").unwrap_err();
    assert_eq!(e.api_code(), Some("not_in_mesh"));
}

#[test]
fn the_mesh_status_decodes_from_the_agent() {
    let body = serde_json::to_string(&status()).unwrap();
    let agent = FakeAgent::unix(vec![fake::json(200, &body)]);
    let v: Value = agent.client(None).get("/api/v1/mesh").unwrap();
    let s: MeshStatus = crate::cmd::decode(v, "mesh status").unwrap();
    assert_eq!(s, status());
    assert!(agent.request().starts_with("GET /api/v1/mesh HTTP/1.1\r\n"));
}

#[test]
fn ca_init_creates_a_ca_once() {
    let dir = std::env::temp_dir().join(format!("weft-ca-init-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cmd = CaCommand::Init { state_dir: dir.clone() };
    assert!(run_ca(&cmd).is_ok());
    assert!(dir.join("mesh/ca.key").is_file() && dir.join("mesh/ca.pub").is_file());
    let e = run_ca(&cmd).unwrap_err();
    assert!(format!("{e:#}").contains("already exists"), "{e:#}");
    let _ = std::fs::remove_dir_all(&dir);
}
