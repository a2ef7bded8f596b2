//! `weft explain PROTO SRC[:PORT] DST[:PORT] [--dscp N]`: why a flow would
//! go where it goes (verdict, route rule, class, candidate paths and the
//! chosen one), e.g. `weft explain udp 10.77.1.1 10.77.2.1:5060`.
//!
//! Addresses are `IP`, `IP:PORT`, `IPV6` or `[IPV6]:PORT`; ports default to
//! 0 and are refused for protocols without them. Bad arguments exit with 2.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use serde_json::Value;
use weft_api::{Candidate, Explanation};
use weft_types::IpProtocol;

use super::UsageError;
use super::client::{AgentArgs, Query};
use super::output::out;
use super::output::{MISSING, Table, fields, or_dash, print_json, sig4};

/// `weft explain` options.
#[derive(Args, Debug)]
pub(crate) struct ExplainArgs {
    /// Protocol: tcp, udp, icmp, icmpv6 or a number 0-255.
    #[arg(value_parser = parse_protocol)]
    proto: IpProtocol,
    /// Source: IP, IP:PORT or [IPV6]:PORT.
    #[arg(value_parser = parse_endpoint)]
    src: Endpoint,
    /// Destination: IP, IP:PORT or [IPV6]:PORT.
    #[arg(value_parser = parse_endpoint)]
    dst: Endpoint,
    /// DSCP value of the packets, 0-63.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=63))]
    dscp: u8,
    /// Print the agent's JSON answer.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    agent: AgentArgs,
}

/// An address with an optional port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// The address.
    pub(crate) ip: IpAddr,
    /// The port, if given.
    pub(crate) port: Option<u16>,
}

/// Parses a protocol name or number.
fn parse_protocol(s: &str) -> Result<IpProtocol, String> {
    IpProtocol::parse(s)
        .ok_or_else(|| format!("bad protocol {s:?}: expected tcp, udp, icmp, icmpv6 or 0-255"))
}

/// Parses `IP`, `IP:PORT`, `IPV6`, `[IPV6]` or `[IPV6]:PORT`.
fn parse_endpoint(s: &str) -> Result<Endpoint, String> {
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Ok(Endpoint { ip: sa.ip(), port: Some(sa.port()) });
    }
    let bare = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')).unwrap_or(s);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(Endpoint { ip, port: None });
    }
    let hint = if s.matches(':').count() > 1 && !s.starts_with('[') {
        " (put an IPv6 address with a port in brackets: [fd00::1]:443)"
    } else {
        ""
    };
    Err(format!("bad address {s:?}: expected IP, IP:PORT or [IPV6]:PORT{hint}"))
}

/// The flow as a query: `?proto=udp&src=...&dst=...&sport=0&dport=5060&dscp=0`.
fn query(proto: IpProtocol, src: Endpoint, dst: Endpoint, dscp: u8) -> Result<Query, UsageError> {
    if src.ip.is_ipv4() != dst.ip.is_ipv4() {
        return Err(UsageError(format!(
            "{} and {} are not of the same address family",
            src.ip, dst.ip
        )));
    }
    if !proto.has_ports() && (src.port.is_some() || dst.port.is_some()) {
        return Err(UsageError(format!("{proto} has no ports: give bare addresses")));
    }
    let name = match proto {
        IpProtocol::TCP | IpProtocol::UDP | IpProtocol::ICMP | IpProtocol::ICMPV6 => {
            proto.to_string()
        }
        IpProtocol(n) => n.to_string(),
    };
    Ok(Query::default()
        .push("proto", name)
        .push("src", src.ip)
        .push("dst", dst.ip)
        .push("sport", src.port.unwrap_or(0))
        .push("dport", dst.port.unwrap_or(0))
        .push("dscp", dscp))
}

/// Runs `weft explain`.
pub(crate) fn run(args: &ExplainArgs) -> Result<ExitCode> {
    let q = query(args.proto, args.src, args.dst, args.dscp)?;
    let v: Value = args.agent.client().get(&format!("/api/v1/explain{q}"))?;
    if args.json {
        print_json(&v)?;
    } else {
        out!("{}", render(&super::decode(v, "explanation")?));
    }
    Ok(ExitCode::SUCCESS)
}

fn candidates(e: &Explanation) -> Table {
    let mut t = Table::new(&["", "PATH", "UPLINK", "REMOTE", "STATE", "ELIGIBLE", "SCORE", "NOTE"])
        .right(&[1, 6]);
    for c in &e.candidates {
        let Candidate { path, uplink, remote, state, eligible, score, note } = c;
        t.row(vec![
            if e.chosen == Some(*path) { "*".into() } else { String::new() },
            path.to_string(),
            uplink.clone(),
            remote.clone(),
            state.clone(),
            if *eligible { "yes".into() } else { "no".into() },
            or_dash(*score, sig4),
            note.clone(),
        ]);
    }
    t
}

fn render(e: &Explanation) -> String {
    let mut out = fields(&[
        ("flow", e.flow.clone()),
        ("verdict", format!("{} (rule {})", e.verdict, e.rule)),
        ("route", format!("rule {} -> class {}", e.route_rule, e.class)),
        ("site", or_dash(e.site.as_ref(), Clone::clone)),
        ("preference", or_dash(e.preference.as_ref(), Clone::clone)),
        ("chosen", or_dash(e.chosen, |p| format!("path {p}"))),
    ]);
    let t = candidates(e);
    if t.is_empty() {
        out.push_str("candidates  ");
        out.push_str(MISSING);
        out.push('\n');
    } else {
        out.push('\n');
        out.push_str(&t.render());
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&e.summary);
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(s: &str) -> Endpoint {
        parse_endpoint(s).unwrap()
    }

    #[test]
    fn endpoints_take_optional_ports_and_bracketed_ipv6() {
        assert_eq!(ep("10.77.1.1"), Endpoint { ip: "10.77.1.1".parse().unwrap(), port: None });
        assert_eq!(ep("10.77.2.1:5060").port, Some(5060));
        assert_eq!(
            ep("[fd00::1]:443"),
            Endpoint { ip: "fd00::1".parse().unwrap(), port: Some(443) }
        );
        assert_eq!(ep("fd00::1"), Endpoint { ip: "fd00::1".parse().unwrap(), port: None });
        assert_eq!(ep("[fd00::1]").port, None);
        let e = parse_endpoint("fd00::1:443x").unwrap_err();
        assert!(e.contains("in brackets"), "{e}");
        assert!(parse_endpoint("10.0.0.1:99999").is_err());
        assert!(parse_endpoint("host.example:80").unwrap_err().starts_with("bad address"));
    }

    #[test]
    fn a_bad_protocol_is_a_clear_error() {
        assert_eq!(parse_protocol("UDP"), Ok(IpProtocol::UDP));
        assert_eq!(parse_protocol("47"), Ok(IpProtocol(47)));
        let e = parse_protocol("quic").unwrap_err();
        assert_eq!(e, "bad protocol \"quic\": expected tcp, udp, icmp, icmpv6 or 0-255");
        assert!(parse_protocol("256").is_err());
    }

    #[test]
    fn the_flow_becomes_the_explain_query() {
        let q = query(IpProtocol::UDP, ep("10.77.1.1"), ep("10.77.2.1:5060"), 46).unwrap();
        assert_eq!(
            q.to_string(),
            "?proto=udp&src=10.77.1.1&dst=10.77.2.1&sport=0&dport=5060&dscp=46"
        );
        let q = query(IpProtocol::TCP, ep("[fd00::1]:1"), ep("[fd00::2]:443"), 0).unwrap();
        assert!(q.to_string().contains("src=fd00%3A%3A1&dst=fd00%3A%3A2&sport=1&dport=443"));
        assert_eq!(
            query(IpProtocol(47), ep("10.0.0.1"), ep("10.0.0.2"), 0).unwrap().to_string(),
            "?proto=47&src=10.0.0.1&dst=10.0.0.2&sport=0&dport=0&dscp=0"
        );
        let e = query(IpProtocol::ICMP, ep("10.0.0.1"), ep("10.0.0.2:80"), 0).unwrap_err();
        assert_eq!(e.0, "icmp has no ports: give bare addresses");
        assert!(query(IpProtocol::TCP, ep("10.0.0.1"), ep("fd00::2"), 0).is_err());
    }

    #[test]
    fn the_chosen_candidate_is_marked_and_the_summary_ends_the_output() {
        let c = |path, eligible| Candidate {
            path,
            uplink: format!("u{path}"),
            remote: "10.0.1.2:51820".into(),
            state: "up".into(),
            eligible,
            score: eligible.then_some(20.5),
            note: if eligible { "meets voice".into() } else { "loss 5% > 1%".into() },
        };
        let e = Explanation {
            flow: "udp 10.77.1.1:0 -> 10.77.2.1:5060".into(),
            verdict: "allow".into(),
            rule: "default".into(),
            route_rule: "voice".into(),
            class: "voice".into(),
            site: Some("b".into()),
            preference: Some("lowest-latency".into()),
            candidates: vec![c(0, false), c(1, true)],
            chosen: Some(1),
            summary: "path 1 has the lowest latency of the paths meeting voice.".into(),
        };
        let out = render(&e);
        assert!(out.contains("route       rule voice -> class voice\n"), "{out}");
        assert!(out.contains("\n      0  u0      10.0.1.2:51820  up     no"), "{out}");
        assert!(
            out.contains("\n*     1  u1      10.0.1.2:51820  up     yes        20.5  meets voice"),
            "{out}"
        );
        assert!(out.ends_with("\n\npath 1 has the lowest latency of the paths meeting voice.\n"));
    }
}
