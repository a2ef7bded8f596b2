//! The authoritative DNS server of a `[dns]` site: hickory-server's
//! [`Server`] on UDP (one `SO_REUSEPORT` socket and one single-threaded
//! runtime per worker) and TCP, with
//! a [`RequestHandler`] that answers the zone from the [`View`].
//!
//! | query | answer |
//! |---|---|
//! | `SOA` / `NS` at the apex | the zone's SOA / NS (glue for in-zone nameservers) |
//! | `A` / `AAAA` `NAME.ZONE`, a global service | one endpoint (see `weft_gtm::choose`), with the service's TTL; ECS echoed with the decision's scope |
//! | any other type at a service or the apex | no data: NOERROR, SOA in authority |
//! | a name in the zone that does not exist | NXDOMAIN, SOA in authority |
//! | a name outside the zone | REFUSED |
//! | not exactly one question, a bad ECS option | FORMERR |
//! | an opcode other than QUERY | NOTIMP |
//!
//! When no endpoint of a service is healthy the answer fails open: the
//! nearest endpoint by the same decision with health ignored (a dead
//! answer loses nothing over no answer, and health checks can be wrong).

use std::cell::Cell;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result};
use hickory_proto::op::{Edns, Header, HeaderCounts, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsCode, EdnsOption};
use hickory_proto::rr::rdata::{A, AAAA, NS, SOA};
use hickory_proto::rr::{DNSClass, LowerName, Name, RData, Record, RecordType};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo, Server};
use hickory_server::zone_handler::MessageResponseBuilder;
use weft_gtm::{Candidate, pick};

use super::GtmState;
use super::view::{View, client_region};
use crate::config::DnsConfig;

/// Largest UDP answer offered to EDNS clients.
const MAX_UDP_PAYLOAD: u16 = 1232;
/// How long a TCP connection may idle between queries.
const TCP_IDLE: Duration = Duration::from_secs(10);

/// The sockets, bound before the agent reports itself up (std sockets:
/// each worker registers its own with its runtime).
pub(crate) struct Sockets {
    udp: Vec<std::net::UdpSocket>,
    tcp: std::net::TcpListener,
}

/// Binds `workers` UDP sockets (`SO_REUSEPORT`, so the kernel spreads
/// queries over them) and one TCP listener at `cfg.listen`.
pub(crate) fn bind(cfg: &DnsConfig, workers: usize) -> Result<Sockets> {
    use socket2::{Domain, Protocol, Socket, Type};
    let domain = Domain::for_address(cfg.listen);
    let mut udp = Vec::new();
    for _ in 0..workers.max(1) {
        let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
        s.set_reuse_port(true)?;
        s.set_nonblocking(true)?;
        let _ = s.set_recv_buffer_size(4 << 20);
        let _ = s.set_send_buffer_size(4 << 20);
        s.bind(&cfg.listen.into())
            .with_context(|| format!("binding DNS (UDP) to {}", cfg.listen))?;
        udp.push(s.into());
    }
    let t = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    t.set_reuse_address(true)?;
    t.set_nonblocking(true)?;
    t.bind(&cfg.listen.into()).with_context(|| format!("binding DNS (TCP) to {}", cfg.listen))?;
    t.listen(1024)?;
    Ok(Sockets { udp, tcp: t.into() })
}

/// Starts the answering threads: one per UDP socket, each a
/// single-threaded runtime with its own hickory [`Server`] (a query is
/// received, answered and sent on one thread: no cross-thread wake-ups),
/// the first one also serving TCP.
pub(crate) fn spawn(
    state: &Arc<GtmState>,
    cfg: &DnsConfig,
    site_address: IpAddr,
    sockets: Sockets,
) -> Result<()> {
    let zone = Arc::new(Zone::new(cfg, site_address)?);
    let mut tcp = Some(sockets.tcp);
    for (i, udp) in sockets.udp.into_iter().enumerate() {
        let handler =
            Handler { state: state.clone(), zone: zone.clone(), answers: cfg.answers as usize };
        let tcp = tcp.take();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting a DNS worker's runtime")?;
        std::thread::Builder::new().name(format!("weft-dns-{i}")).spawn(move || {
            rt.block_on(async move {
                let mut server = Server::new(handler);
                match tokio::net::UdpSocket::from_std(udp) {
                    Ok(s) => server.register_socket(s),
                    Err(e) => crate::log_warn!(Gtm, "DNS worker {i}: registering UDP: {e}"),
                }
                if let Some(t) = tcp {
                    match tokio::net::TcpListener::from_std(t) {
                        Ok(l) => server.register_listener(l, TCP_IDLE, 64 * 1024),
                        Err(e) => crate::log_warn!(Gtm, "DNS worker {i}: registering TCP: {e}"),
                    }
                }
                if let Err(e) = server.block_until_done().await {
                    crate::log_warn!(Gtm, "DNS worker {i} stopped: {e}");
                }
            });
        })?;
    }
    crate::log_info!(Gtm, "answering DNS for {} on {} (UDP and TCP)", cfg.zone, cfg.listen);
    Ok(())
}

/// The zone's fixed records.
struct Zone {
    origin: LowerName,
    soa: Record,
    ns: Vec<Record>,
    glue: Vec<(LowerName, Record)>,
}

impl Zone {
    fn new(cfg: &DnsConfig, site_address: IpAddr) -> Result<Self> {
        let fqdn =
            |n: &str| Name::from_ascii(format!("{n}.")).with_context(|| format!("name {n:?}"));
        let origin = fqdn(&cfg.zone)?;
        let negative_ttl = u32::try_from(cfg.negative_ttl.as_secs()).unwrap_or(30);
        let mname = fqdn(&cfg.nameservers[0])?;
        let rname = fqdn(&format!("hostmaster.{}", cfg.zone))?;
        let serial = u32::try_from(crate::api::unix_ms() / 1000).unwrap_or(1);
        let soa = SOA::new(mname, rname, serial, 3600, 600, 86_400, negative_ttl);
        let soa = Record::from_rdata(origin.clone(), negative_ttl, RData::SOA(soa));
        let mut ns = Vec::new();
        let mut glue = Vec::new();
        let glue_ip = cfg.ns_address.unwrap_or(site_address);
        for n in &cfg.nameservers {
            let name = fqdn(n)?;
            ns.push(Record::from_rdata(origin.clone(), 3600, RData::NS(NS(name.clone()))));
            if origin.zone_of(&name) {
                glue.push((LowerName::from(&name), address_record(name, 3600, glue_ip)));
            }
        }
        Ok(Self { origin: LowerName::from(&origin), soa, ns, glue })
    }
}

fn address_record(name: Name, ttl: u32, ip: IpAddr) -> Record {
    let rdata = match ip {
        IpAddr::V4(v4) => RData::A(A(v4)),
        IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
    };
    Record::from_rdata(name, ttl, rdata)
}

thread_local! {
    static RNG: Cell<u64> = Cell::new({
        let mut b = [0u8; 8];
        let _ = getrandom::fill(&mut b);
        u64::from_le_bytes(b) | 1
    });
}

/// A roll in `0..10_000` (xorshift64*, per thread).
fn roll() -> u32 {
    RNG.with(|r| {
        let mut x = r.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        r.set(x);
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as u32 % 10_000
    })
}

/// What one query gets.
#[derive(Default)]
struct Reply {
    code: ResponseCode,
    answers: Vec<Record>,
    authority: Vec<Record>,
    soa: Vec<Record>,
    additionals: Vec<Record>,
    /// The ECS scope to echo (none: the answer does not depend on the client).
    scope: Option<u8>,
}

/// The request handler.
struct Handler {
    state: Arc<GtmState>,
    zone: Arc<Zone>,
    answers: usize,
}

impl Handler {
    fn count(&self, code: ResponseCode) {
        let o = &self.state.outcomes;
        let c = match code {
            ResponseCode::NXDomain => &o.nxdomain,
            ResponseCode::Refused => &o.refused,
            ResponseCode::FormErr => &o.formerr,
            ResponseCode::NotImp => &o.notimp,
            ResponseCode::ServFail => &o.servfail,
            _ => return,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// The reply to `request` (no I/O).
    fn answer(&self, request: &Request, ecs: Option<(IpAddr, u8)>) -> Reply {
        let code = |code| Reply { code, ..Reply::default() };
        if request.metadata.op_code != OpCode::Query {
            return code(ResponseCode::NotImp);
        }
        let [query] = request.queries.queries() else {
            return code(ResponseCode::FormErr);
        };
        if !matches!(query.query_class(), DNSClass::IN | DNSClass::ANY) {
            return code(ResponseCode::Refused);
        }
        let qname = query.name();
        if !self.zone.origin.zone_of(qname) {
            return code(ResponseCode::Refused);
        }
        let name = Name::from(qname);
        let depth = qname.num_labels() - self.zone.origin.num_labels();
        let qtype = query.query_type();
        let nodata = || Reply { soa: vec![self.zone.soa.clone()], ..Reply::default() };
        if depth == 0 {
            let mut r = Reply::default();
            match qtype {
                RecordType::SOA => r.answers.push(self.zone.soa.clone()),
                RecordType::NS => {
                    r.answers.extend(self.zone.ns.iter().cloned());
                    r.additionals.extend(self.zone.glue.iter().map(|(_, g)| g.clone()));
                }
                RecordType::ANY => {
                    r.answers.push(self.zone.soa.clone());
                    r.answers.extend(self.zone.ns.iter().cloned());
                }
                _ => return nodata(),
            }
            r.authority = if qtype == RecordType::NS { Vec::new() } else { self.zone.ns.clone() };
            return r;
        }
        if let Some((_, g)) = self.zone.glue.iter().find(|(n, _)| n == qname) {
            let fits = matches!(
                (qtype, g.record_type()),
                (RecordType::A, RecordType::A)
                    | (RecordType::AAAA, RecordType::AAAA)
                    | (RecordType::ANY, _)
            );
            return if fits {
                Reply { answers: vec![g.clone()], ..Reply::default() }
            } else {
                nodata()
            };
        }
        let label = name.iter().next().map(|l| String::from_utf8_lossy(l).to_ascii_lowercase());
        let view = self.state.view();
        let svc = match (depth, label, view.as_ref()) {
            (1, Some(l), Some(v)) => v.services.get(&l).map(|s| (v, s)),
            _ => None,
        };
        let Some((view, sv)) = svc else {
            return Reply {
                code: ResponseCode::NXDomain,
                soa: vec![self.zone.soa.clone()],
                ..Reply::default()
            };
        };
        let want_v4 = match qtype {
            RecordType::A | RecordType::ANY => true,
            RecordType::AAAA => false,
            _ => return nodata(),
        };
        let client = request.src().ip();
        let (region, scope) = client_region(view, client, ecs);
        let cands = &sv.cands[region];
        let mut r = Reply { scope, ..Reply::default() };
        for e in pick_many(cands, sv, self.answers) {
            let ep = &sv.svc.endpoints[e];
            sv.counters[region][e].fetch_add(1, Ordering::Relaxed);
            if ep.address.is_ipv4() == want_v4 {
                r.answers.push(address_record(name.clone(), sv.ttl, ep.address));
            }
        }
        if r.answers.is_empty() {
            sv.counters[region][sv.svc.endpoints.len()].fetch_add(1, Ordering::Relaxed);
            self.state.outcomes.nodata.fetch_add(1, Ordering::Relaxed);
            r.soa.push(self.zone.soa.clone());
        }
        r
    }
}

/// Up to `n` distinct endpoints, each chosen by the decision over the
/// ones not chosen yet; failing open when none is healthy.
fn pick_many(cands: &[Candidate], sv: &super::view::ServiceView, n: usize) -> Vec<usize> {
    let first = pick(cands, &sv.effect, roll()).or_else(|| {
        let open: Vec<Candidate> =
            cands.iter().map(|c| Candidate { health: Ok(()), ..c.clone() }).collect();
        pick(&open, &sv.effect, roll())
    });
    let Some(first) = first else { return Vec::new() };
    let mut out = vec![first];
    if n > 1 {
        let mut rest: Vec<Candidate> = cands.to_vec();
        while out.len() < n {
            for &i in &out {
                rest[i].health = Err("already in the answer".to_owned());
            }
            match pick(&rest, &sv.effect, roll()) {
                Some(i) => out.push(i),
                None => break,
            }
        }
    }
    out
}

/// The ECS option of a request, if any: Ok(None) without one, Err on a
/// malformed one (RFC 7871 7.1.1: FORMERR).
fn client_subnet(edns: Option<&Edns>) -> Result<Option<(IpAddr, u8)>, ()> {
    let Some(EdnsOption::Subnet(cs)) = edns.and_then(|e| e.option(EdnsCode::Subnet)) else {
        return Ok(None);
    };
    let max = if cs.addr().is_ipv4() { 32 } else { 128 };
    if cs.source_prefix() > max || cs.scope_prefix() != 0 {
        return Err(());
    }
    Ok(Some((cs.addr(), cs.source_prefix())))
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: hickory_server::net::runtime::Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let mut resp_edns = request.edns.as_ref().map(|req| {
            let mut e = Edns::new();
            e.set_max_payload(req.max_payload().clamp(512, MAX_UDP_PAYLOAD));
            e.set_version(0);
            e
        });
        let ecs = client_subnet(request.edns.as_ref());
        let reply = match ecs {
            _ if request.edns.as_ref().is_some_and(|e| e.version() > 0) => {
                Reply { code: ResponseCode::BADVERS, ..Reply::default() }
            }
            Err(()) => Reply { code: ResponseCode::FormErr, ..Reply::default() },
            Ok(ecs) => {
                let r = self.answer(request, ecs);
                if let (Some(e), Some((addr, source))) = (resp_edns.as_mut(), ecs) {
                    let scope = r.scope.unwrap_or(0);
                    e.options_mut()
                        .insert(EdnsOption::Subnet(ClientSubnet::new(addr, source, scope)));
                }
                r
            }
        };
        self.count(reply.code);
        let mut meta = Metadata::response_from_request(&request.metadata);
        meta.response_code = reply.code;
        meta.authoritative = matches!(reply.code, ResponseCode::NoError | ResponseCode::NXDomain);
        let builder = MessageResponseBuilder::new(&request.queries, resp_edns.as_ref());
        let response = builder.build(
            meta,
            reply.answers.iter(),
            reply.authority.iter(),
            reply.soa.iter(),
            reply.additionals.iter(),
        );
        if let Ok(info) = response_handle.send_response(response).await {
            info
        } else {
            let mut m = Metadata::response_from_request(&request.metadata);
            m.response_code = ResponseCode::ServFail;
            ResponseInfo::from(Header { metadata: m, counts: HeaderCounts::default() })
        }
    }
}

/// The answer to one query in words, for `weft gtm explain`.
pub(crate) fn explain(
    view: &View,
    service: &str,
    from: Option<(IpAddr, u8)>,
    client: IpAddr,
) -> Option<weft_api::GtmExplanation> {
    let sv = view.services.get(service)?;
    let (region, scope) = client_region(view, client, from);
    let choice = weft_gtm::choose(&sv.cands[region], &sv.effect, roll());
    let cands = &sv.cands[region];
    Some(weft_api::GtmExplanation {
        service: service.to_owned(),
        region: view.regions[region].clone(),
        ecs_scope: scope,
        answer: choice.picked.map(|i| sv.svc.endpoints[i].address.to_string()),
        endpoint: choice.picked.map(|i| sv.svc.endpoints[i].id.clone()),
        version: choice.version.clone(),
        split: sv.effect.split.as_ref().map(|s| {
            format!("{} → {} at {}‰ (shift {})", s.stable, s.next, s.next_permille, s.shift)
        }),
        floor: choice.floor,
        candidates: choice
            .scores
            .iter()
            .zip(cands)
            .zip(&sv.svc.endpoints)
            .map(|((s, c), e)| weft_api::GtmCandidate {
                endpoint: s.id.clone(),
                site: e.site.clone(),
                region: e.region.clone(),
                version: e.version.clone(),
                address: e.address.to_string(),
                healthy: c.health.is_ok(),
                weight: s.weight,
                rtt_ms: s.rtt_ms,
                load_qps: c.load_qps,
                capacity_qps: c.capacity_qps,
                eligible: s.eligible,
                why: s.why.clone(),
            })
            .collect(),
    })
}

/// A handler over a fixed document, for the fuzz target and the tests: a
/// zone `gtm.test` with the service `app` (three endpoints in regions eu,
/// us and ap, all at site `a`, which is this site).
fn fixture() -> Handler {
    use weft_gtm::{Endpoint, GlobalService, GtmDoc};
    let state = Arc::new(GtmState::default());
    let ep = |id: &str, region: &str, ip: &str| Endpoint {
        id: id.to_owned(),
        site: "a".to_owned(),
        region: region.to_owned(),
        address: ip.parse().unwrap_or(IpAddr::from([192, 0, 2, 1])),
        port: 80,
        weight: 100,
        capacity_qps: 0,
        version: "v1".to_owned(),
    };
    let mut doc = GtmDoc::default();
    let _ = doc.set_service(GlobalService {
        name: "app".to_owned(),
        endpoints: vec![
            ep("eu-1", "eu", "192.0.2.10"),
            ep("us-1", "us", "2001:db8::20"),
            ep("ap-1", "ap", "192.0.2.30"),
        ],
        ttl: Some(30),
        serving: None,
        check: None,
        anycast: None,
    });
    state.set_doc(doc, 1);
    let cfg = DnsConfig {
        listen: "127.0.0.1:5353"
            .parse()
            .unwrap_or(std::net::SocketAddr::from(([127, 0, 0, 1], 5353))),
        zone: "gtm.test".to_owned(),
        nameservers: vec!["ns1.gtm.test".to_owned()],
        ns_address: None,
        ttl: Duration::from_secs(30),
        negative_ttl: Duration::from_secs(30),
        answers: 2,
        workers: 1,
        default_region: "local".to_owned(),
        regions: vec![crate::config::RegionConfig {
            name: "eu".to_owned(),
            prefixes: vec![
                weft_types::IpPrefix::parse("198.51.100.0/24")
                    .unwrap_or(weft_types::IpPrefix::host(IpAddr::from([198, 51, 100, 0]))),
            ],
            sites: Vec::new(),
        }],
    };
    let status = crate::agent::status::Status { site: "a".to_owned(), ..Default::default() };
    let view = super::view::build(&state, &cfg, &status, &[], &[]);
    state.set_view(view);
    let zone = Zone::new(&cfg, IpAddr::from([10, 0, 0, 1]))
        .unwrap_or_else(|e| panic!("fixture zone: {e}"));
    Handler { state, zone: Arc::new(zone), answers: cfg.answers as usize }
}

/// Runs one datagram through the parser, the answer and the encoder, as
/// the UDP path does; the encoded answer (none when hickory refuses the
/// bytes before the handler sees them). For `fuzz/fuzz_targets/dns_query.rs`.
pub(crate) fn answer_bytes(data: &[u8]) -> Option<Vec<u8>> {
    use hickory_proto::serialize::binary::BinEncoder;
    static HANDLER: std::sync::OnceLock<Handler> = std::sync::OnceLock::new();
    let handler = HANDLER.get_or_init(fixture);
    let src = std::net::SocketAddr::from(([198, 51, 100, 7], 5353));
    let request =
        Request::from_bytes(data.to_vec(), src, hickory_server::net::xfer::Protocol::Udp).ok()?;
    let reply = match client_subnet(request.edns.as_ref()) {
        Ok(ecs) => handler.answer(&request, ecs),
        Err(()) => Reply { code: ResponseCode::FormErr, ..Reply::default() },
    };
    let mut meta = Metadata::response_from_request(&request.metadata);
    meta.response_code = reply.code;
    let response = MessageResponseBuilder::new(&request.queries, None).build(
        meta,
        reply.answers.iter(),
        reply.authority.iter(),
        reply.soa.iter(),
        reply.additionals.iter(),
    );
    let mut out = Vec::new();
    let mut enc = BinEncoder::new(&mut out);
    response.destructive_emit(&mut enc).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Message, Query};

    /// A query for `name`/`rtype`, with an ECS option when `ecs` is given.
    fn query(name: &str, rtype: RecordType, ecs: Option<(&str, u8)>) -> Vec<u8> {
        let mut m = Message::query();
        m.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
        if let Some((addr, len)) = ecs {
            let mut e = Edns::new();
            e.options_mut().insert(EdnsOption::Subnet(ClientSubnet::new(
                addr.parse().unwrap(),
                len,
                0,
            )));
            m.set_edns(e);
        }
        m.to_vec().unwrap()
    }

    fn parse(bytes: &[u8]) -> Message {
        Message::from_vec(bytes).unwrap()
    }

    #[test]
    fn a_service_name_gets_one_address_and_unknown_names_get_nxdomain_with_the_soa() {
        let m = parse(&answer_bytes(&query("app.gtm.test.", RecordType::A, None)).unwrap());
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert!(!m.answers.is_empty());
        let m = parse(&answer_bytes(&query("nope.gtm.test.", RecordType::A, None)).unwrap());
        assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
        assert!(m.authorities.iter().any(|r| r.record_type() == RecordType::SOA));
        let m = parse(&answer_bytes(&query("app.gtm.test.", RecordType::MX, None)).unwrap());
        assert_eq!(
            (m.metadata.response_code, m.answers.len()),
            (ResponseCode::NoError, 0),
            "no data"
        );
        let m = parse(&answer_bytes(&query("example.org.", RecordType::A, None)).unwrap());
        assert_eq!(m.metadata.response_code, ResponseCode::Refused);
        let m = parse(&answer_bytes(&query("gtm.test.", RecordType::SOA, None)).unwrap());
        assert_eq!(m.answers.len(), 1);
        let m = parse(&answer_bytes(&query("gtm.test.", RecordType::NS, None)).unwrap());
        assert_eq!(m.answers.len(), 1);
        assert_eq!(m.additionals.len(), 1, "glue for ns1.gtm.test");
    }

    #[test]
    fn an_ecs_client_in_eu_gets_the_eu_endpoint() {
        for _ in 0..20 {
            let m = parse(
                &answer_bytes(&query("app.gtm.test.", RecordType::A, Some(("198.51.100.0", 24))))
                    .unwrap(),
            );
            let first = m.answers.first().map(|r| r.data.to_string());
            assert_eq!(first.as_deref(), Some("192.0.2.10"), "{m:?}");
        }
    }

    #[test]
    fn garbage_and_mangled_queries_never_panic() {
        let good = query("app.gtm.test.", RecordType::A, Some(("198.51.100.0", 24)));
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for i in 0..20_000 {
            let mut b = good.clone();
            if i % 2 == 0 {
                for _ in 0..=(next() % 4) {
                    let at = (next() as usize) % b.len();
                    b[at] = next() as u8;
                }
                b.truncate(b.len() - (next() as usize % 4));
            } else {
                b = (0..next() % 600).map(|_| next() as u8).collect();
            }
            let _ = answer_bytes(&b);
        }
    }

    #[test]
    fn rolls_cover_the_range_evenly() {
        let mut buckets = [0u32; 10];
        for _ in 0..100_000 {
            buckets[(roll() / 1000) as usize] += 1;
        }
        for b in buckets {
            assert!((9_000..11_000).contains(&b), "{buckets:?}");
        }
    }

    #[test]
    fn a_malformed_client_subnet_is_refused() {
        let mut e = Edns::new();
        e.options_mut().insert(EdnsOption::Subnet(ClientSubnet::new(
            "10.1.0.0".parse().unwrap(),
            24,
            0,
        )));
        assert_eq!(client_subnet(Some(&e)), Ok(Some(("10.1.0.0".parse().unwrap(), 24))));
        let mut e = Edns::new();
        e.options_mut().insert(EdnsOption::Subnet(ClientSubnet::new(
            "10.1.0.0".parse().unwrap(),
            24,
            8,
        )));
        assert_eq!(client_subnet(Some(&e)), Err(()));
        assert_eq!(client_subnet(None), Ok(None));
    }
}
