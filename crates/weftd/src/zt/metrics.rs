//! The zero-trust proxies' counters as Prometheus metrics, read at scrape
//! time: `weft_zt_connections_total{proxy,service,decision}`,
//! `weft_zt_handshake_failures_total{proxy}` and
//! `weft_zt_audit_dropped_total`. [`render`] gives the same families for a
//! set of proxies without the agent (tests, tools).

use std::fmt;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::registry::Registry;

use super::Proxy;
use super::site::ZtSite;

/// Encodes the counters of a site's proxies (registered by the agent).
#[derive(Debug)]
pub(crate) struct ZtCollector(pub(crate) Arc<ZtSite>);

/// The counters of named proxies (unprefixed names).
#[derive(Debug)]
struct Proxies<'a> {
    list: Vec<(String, &'a Proxy)>,
    audit_dropped: Option<u64>,
}

impl fmt::Debug for ZtSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZtSite").field("proxies", &self.entries.len()).finish_non_exhaustive()
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy").finish_non_exhaustive()
    }
}

impl Proxies<'_> {
    fn encode(&self, enc: &mut DescriptorEncoder<'_>) -> fmt::Result {
        let help = "Connections the zero-trust proxies decided, by proxy, service and decision.";
        let mut e = enc.encode_descriptor("zt_connections", help, None, MetricType::Counter)?;
        for (name, p) in &self.list {
            for (service, allowed, denied) in p.counts() {
                for (decision, n) in [("allow", allowed), ("deny", denied)] {
                    let labels = [
                        ("proxy", name.as_str()),
                        ("service", service.as_str()),
                        ("decision", decision),
                    ];
                    ConstCounter::new(n).encode(e.encode_family(&labels)?)?;
                }
            }
        }
        let help = "TLS handshakes the zero-trust proxies refused before any decision (no or untrusted SVID).";
        let mut e =
            enc.encode_descriptor("zt_handshake_failures", help, None, MetricType::Counter)?;
        for (name, p) in &self.list {
            ConstCounter::new(p.handshake_failures())
                .encode(e.encode_family(&[("proxy", name.as_str())])?)?;
        }
        if let Some(n) = self.audit_dropped {
            let help =
                "Zero-trust denials not written to the audit log (the audit writer was behind).";
            let e = enc.encode_descriptor("zt_audit_dropped", help, None, MetricType::Counter)?;
            ConstCounter::new(n).encode(e)?;
        }
        Ok(())
    }
}

impl Collector for ZtCollector {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> fmt::Result {
        let list =
            self.0.entries.iter().map(|e| (format!("{}/{}", e.kind, e.name), &*e.proxy)).collect();
        let dropped = self.0.audit_dropped.load(std::sync::atomic::Ordering::Relaxed);
        Proxies { list, audit_dropped: Some(dropped) }.encode(&mut enc)
    }
}

#[derive(Debug)]
struct Borrowed(Vec<(String, Arc<Proxy>)>);

impl Collector for Borrowed {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> fmt::Result {
        let list = self.0.iter().map(|(n, p)| (n.clone(), &**p)).collect();
        Proxies { list, audit_dropped: None }.encode(&mut enc)
    }
}

/// OpenMetrics text of `proxies` (each with its name), names prefixed `weft_`.
pub fn render(proxies: &[(&str, &Arc<Proxy>)]) -> String {
    let mut registry = Registry::with_prefix("weft");
    let list = proxies.iter().map(|(n, p)| ((*n).to_owned(), Arc::clone(p))).collect();
    registry.register_collector(Box::new(Borrowed(list)));
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
    out
}
