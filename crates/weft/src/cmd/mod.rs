//! One module per command group, and what they share: the agent client
//! ([`client`]), human output ([`output`]), the spinner ([`progress`]), and
//! the mapping of errors to exit codes ([`exit_code`]).

pub(crate) mod agents;
pub(crate) mod bgp;
pub(crate) mod client;
pub(crate) mod control;
pub(crate) mod controllers;
pub(crate) mod ddos;
pub(crate) mod docs;
pub(crate) mod doctor;
pub(crate) mod events;
pub(crate) mod explain;
pub(crate) mod flows;
pub(crate) mod gtm;
pub(crate) mod identity;
pub(crate) mod ipsec;
pub(crate) mod keys;
pub(crate) mod lab;
pub(crate) mod log;
pub(crate) mod mesh;
pub(crate) mod output;
pub(crate) mod path_test;
pub(crate) mod paths;
pub(crate) mod peers;
pub(crate) mod ping;
pub(crate) mod policy;
pub(crate) mod profile;
pub(crate) mod progress;
pub(crate) mod qos;
pub(crate) mod registry;
pub(crate) mod reserve;
pub(crate) mod routes;
pub(crate) mod shards;
pub(crate) mod sim;
pub(crate) mod sites;
pub(crate) mod status;
pub(crate) mod topology;

use anyhow::Context;
use serde::de::DeserializeOwned;
use serde_json::Value;

use client::ClientError;

/// The command line is wrong in a way clap cannot see (exit code 2, like
/// clap's own usage errors).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct UsageError(pub(crate) String);

/// The exit code for a failed command: 2 bad usage, 3 the agent is
/// unreachable, 4 the agent refused our credentials, 1 anything else.
pub(crate) fn exit_code(e: &anyhow::Error) -> u8 {
    for cause in e.chain() {
        if let Some(c) = cause.downcast_ref::<ClientError>() {
            return c.exit_code();
        }
        if cause.downcast_ref::<UsageError>().is_some() {
            return 2;
        }
    }
    1
}

/// Decodes one JSON answer into its API type.
pub(crate) fn decode<T: DeserializeOwned>(value: Value, what: &str) -> anyhow::Result<T> {
    serde_json::from_value(value)
        .with_context(|| format!("the agent's {what} are not in the form this weft expects"))
}

/// Decodes every item of a list answer into its API type.
pub(crate) fn decode_all<T: DeserializeOwned>(
    values: Vec<Value>,
    what: &str,
) -> anyhow::Result<Vec<T>> {
    values.into_iter().map(|v| decode(v, what)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_exit_codes_through_context() {
        let unreachable = ClientError::Unreachable {
            target: "x".into(),
            hint: "h",
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        let e = anyhow::Error::new(unreachable).context("listing paths");
        assert_eq!(exit_code(&e), 3);
        let auth =
            ClientError::Auth { status: 401, error: weft_api::ApiError::new("unauthorized", "no") };
        assert_eq!(exit_code(&anyhow::Error::new(auth)), 4);
        assert_eq!(exit_code(&anyhow::Error::new(UsageError("bad".into()))), 2);
        assert_eq!(exit_code(&anyhow::anyhow!("other")), 1);
    }
}
