//! The policy endpoints of the local API.
//!
//! - `GET  /api/v1/policy`: the running policy (version, name, text, warnings).
//! - `GET  /api/v1/policy/versions`, `GET /api/v1/policy/versions/N`: history.
//! - `POST /api/v1/policy/check`: lint, tests and diff of a candidate (body:
//!   the TOML text), changing nothing.
//! - `POST /api/v1/policy`: apply a candidate; refused with 422 and the
//!   findings when it has an error or a failing test; the running policy stays.
//! - `POST /api/v1/policy/rollback`: back to `{"version": N}`, or with an
//!   empty body to the stored version before the running one.
//!
//! Writes need a token with scope `admin` (see `api::auth`). Applies are
//! serialised; each is stored and audited (in the SQLite store, synced)
//! before it is answered.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{Value, json};
use weft_policy::SiteDirectory;

use super::control::ControlMsg;
use super::shared::Shared;
use crate::policy::{self, ActivePolicy, Checked, Refusal};
use crate::store::{NewAudit, Store};

/// How many changed flows a diff samples.
const DIFF_SAMPLES: usize = 20;

/// An API answer: HTTP status and JSON body.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Value,
}

impl Reply {
    fn ok(body: Value) -> Self {
        Self { status: 200, body }
    }

    pub(crate) fn error(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self { status, body: json!({ "code": code, "message": message.into() }) }
    }

    fn refused(r: &Refusal) -> Self {
        let mut body = serde_json::to_value(r).unwrap_or_default();
        body["code"] = json!(r.code);
        Self { status: 422, body }
    }

    /// 500 `internal error (id ..)`; the chain goes to the log under the id
    /// (507 `storage_full` when the state directory is full).
    fn internal(e: &anyhow::Error) -> Self {
        if crate::api::incident::storage_full(e) {
            return Self::error(507, "storage_full", crate::api::incident::full(e).message);
        }
        Self::error(500, "internal", crate::api::incident::internal(e).message)
    }
}

/// Reads the API token, creating a random one (mode 0600) at first start.
pub(crate) fn load_or_create_token(state_dir: &Path) -> Result<String> {
    let path = state_dir.join("api.token");
    if let Ok(t) = std::fs::read_to_string(&path) {
        let t = t.trim().to_owned();
        if t.len() >= 32 {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).map(|m| m.permissions().mode() & 0o777)?;
            if mode & 0o077 != 0 {
                crate::log_warn!(Policy, "warning: {} was mode {mode:o}; now 600", path.display());
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
            }
            return Ok(t);
        }
    }
    let mut raw = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut raw))
        .context("reading /dev/urandom for the API token")?;
    let token = raw.iter().fold(String::new(), |mut s, b| {
        let _ = std::fmt::Write::write_fmt(&mut s, format_args!("{b:02x}"));
        s
    });
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    std::io::Write::write_all(&mut f, format!("{token}\n").as_bytes())?;
    f.sync_all()?;
    Ok(token)
}

/// A JSON number with no fraction (`7` and `7.0` alike), as a `u64`.
fn whole(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| {
        v.as_f64().filter(|x| x.fract() == 0.0 && *x >= 0.0 && *x < 9.0e15).map(|x| x as u64)
    })
}

/// The policy side of the API.
pub(crate) struct PolicyApi {
    store: Store,
    /// The sites policies may name; the control loop adds mesh members.
    directory: Arc<std::sync::RwLock<SiteDirectory>>,
    shared: Arc<Shared>,
    control: Mutex<Sender<ControlMsg>>,
    writes: Mutex<()>,
}

impl PolicyApi {
    /// The API over the agent's store, directory and control loop.
    pub(crate) fn new(
        store: Store,
        directory: Arc<std::sync::RwLock<SiteDirectory>>,
        shared: Arc<Shared>,
        control: Sender<ControlMsg>,
    ) -> Self {
        Self { store, directory, shared, control: Mutex::new(control), writes: Mutex::new(()) }
    }

    fn audit(
        &self,
        who: &str,
        action: &str,
        before: Option<u64>,
        after: Option<u64>,
        detail: &str,
    ) -> Result<()> {
        let rec = NewAudit {
            who: who.to_owned(),
            action: action.to_owned(),
            target: "policy".to_owned(),
            before: before.map(|v| format!("version {v}")),
            after: after.map(|v| format!("version {v}")),
            detail: detail.to_owned(),
        };
        self.store.audit(&rec, crate::api::unix_ms()).map(|_| ())
    }

    /// The policy the gates enforce now.
    pub(crate) fn active(&self) -> Arc<crate::policy::ActivePolicy> {
        self.shared.active_policy()
    }

    /// `GET /api/v1/policy`.
    pub(crate) fn running(&self) -> Reply {
        let a = self.shared.active_policy();
        Reply::ok(json!({
            "version": a.version,
            "name": a.policy.document.name,
            "default": a.policy.document.default_action.as_str(),
            "summary": a.policy.summary(),
            "warnings": a.warnings,
            "denied": a.denied_by_rule(),
            "source": a.source,
        }))
    }

    /// `GET /api/v1/policy/versions`.
    pub(crate) fn versions(&self) -> Reply {
        match (self.store.policy_versions(), self.store.current_policy()) {
            (Ok(v), Ok(current)) => Reply::ok(json!({ "current": current, "versions": v })),
            (Err(e), _) | (_, Err(e)) => Reply::internal(&e),
        }
    }

    /// `GET /api/v1/policy/versions/N`.
    pub(crate) fn version(&self, n: &str) -> Reply {
        let Ok(n) = n.parse::<u64>() else {
            return Reply::error(400, "bad_request", format!("{n:?} is not a version number"));
        };
        match self.store.policy_text(n) {
            Ok(text) => Reply::ok(json!({ "version": n, "source": text })),
            Err(_) => Reply::error(404, "not_found", format!("no policy version {n}")),
        }
    }

    fn check_text(&self, label: &str, text: &str) -> Result<Checked, Refusal> {
        let directory =
            self.directory.read().map_or_else(|p| p.into_inner().clone(), |d| d.clone());
        policy::check(Path::new(label), text, &directory)
    }

    fn checked_body(&self, c: &Checked) -> Value {
        let running = self.shared.active_policy();
        let diff = weft_policy::diff(&running.policy, &c.policy, DIFF_SAMPLES);
        json!({
            "name": c.policy.document.name,
            "warnings": c.warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "tests": c.tests,
            "running_version": running.version,
            "diff": diff,
        })
    }

    /// `POST /api/v1/policy/check`.
    pub(crate) fn check(&self, text: &str) -> Reply {
        match self.check_text("candidate.toml", text) {
            Ok(c) => Reply::ok(self.checked_body(&c)),
            Err(r) => Reply::refused(&r),
        }
    }

    /// `POST /api/v1/policy`.
    pub(crate) fn apply(&self, text: &str, who: &str) -> Reply {
        let _guard = self.writes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let before = self.shared.active_policy().version;
        let checked = match self.check_text("candidate.toml", text) {
            Ok(c) => c,
            Err(r) => {
                let _ = self.audit(who, "policy.refused", Some(before), Some(before), &r.message);
                return Reply::refused(&r);
            }
        };
        let mut body = self.checked_body(&checked);
        let result = (|| {
            let now = crate::api::unix_ms();
            let meta = self.store.store_policy(&checked.policy.document.name, text, who, now)?;
            self.store.set_current_policy(meta.version)?;
            let changes = body["diff"]["rules"].as_array().map_or(0, Vec::len);
            self.audit(
                who,
                "policy.apply",
                Some(before),
                Some(meta.version),
                &format!("{changes} rule change(s)"),
            )?;
            Ok::<_, anyhow::Error>(meta.version)
        })();
        match result.and_then(|v| self.install(v, checked, text).map(|()| v)) {
            Ok(version) => {
                body["version"] = json!(version);
                Reply::ok(body)
            }
            Err(e) => Reply::internal(&e),
        }
    }

    /// `POST /api/v1/policy/rollback`.
    pub(crate) fn rollback(&self, body: &str, who: &str) -> Reply {
        let _guard = self.writes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let before = self.shared.active_policy().version;
        let previous = || match self.store.policy_versions() {
            Ok(v) => Ok(v.iter().rev().map(|m| m.version).find(|n| *n < before)),
            Err(e) => Err(Reply::internal(&e)),
        };
        let target = if body.trim().is_empty() {
            match previous() {
                Ok(t) => t,
                Err(r) => return r,
            }
        } else {
            match serde_json::from_str::<Value>(body) {
                Ok(Value::Null) => match previous() {
                    Ok(t) => t,
                    Err(r) => return r,
                },
                Ok(Value::Object(o))
                    if o.is_empty()
                        || (o.len() == 1 && o.get("version").is_some_and(Value::is_null)) =>
                {
                    match previous() {
                        Ok(t) => t,
                        Err(r) => return r,
                    }
                }
                Ok(v)
                    if whole(&v["version"]).is_some()
                        && v.as_object().is_some_and(|o| o.len() == 1) =>
                {
                    whole(&v["version"])
                }
                _ => {
                    return Reply::error(
                        400,
                        "bad_request",
                        "body must be empty, null, {} or {\"version\": N}",
                    );
                }
            }
        };
        let Some(target) = target else {
            return Reply::error(
                409,
                "no_earlier_version",
                format!("version {before} is the oldest stored policy"),
            );
        };
        let Ok(text) = self.store.policy_text(target) else {
            return Reply::error(404, "not_found", format!("no policy version {target}"));
        };
        let checked = match self.check_text(&format!("policy-v{target}.toml"), &text) {
            Ok(c) => c,
            Err(r) => {
                let _ = self.audit(
                    who,
                    "policy.refused",
                    Some(before),
                    Some(before),
                    &format!("rollback to {target}: {}", r.message),
                );
                return Reply::refused(&r);
            }
        };
        let mut reply = self.checked_body(&checked);
        let result = self
            .store
            .set_current_policy(target)
            .and_then(|()| {
                self.audit(
                    who,
                    "policy.rollback",
                    Some(before),
                    Some(target),
                    &format!("rolled back from {before} to {target}"),
                )
            })
            .and_then(|()| self.install(target, checked, &text));
        match result {
            Ok(()) => {
                reply["version"] = json!(target);
                Reply::ok(reply)
            }
            Err(e) => Reply::internal(&e),
        }
    }

    /// Installs version `version` of the mesh-wide policy, published by
    /// the leader of `epoch`: checked here as an apply is, stored as a local
    /// version, audited, installed. On refusal the running policy stays and
    /// the reason is returned (for the acknowledgement).
    pub(crate) fn install_mesh(&self, version: u64, text: &str, epoch: u64) -> Result<(), String> {
        let _guard = self.writes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let before = self.shared.active_policy().version;
        let who = format!("control plane (epoch {epoch})");
        let checked = match self.check_text(&format!("mesh-policy-v{version}.toml"), text) {
            Ok(c) => c,
            Err(r) => {
                let detail = format!("mesh version {version}: {}", r.message);
                let _ = self.audit(&who, "policy.refused", Some(before), Some(before), &detail);
                let mut why = r.message.clone();
                for f in r.findings.iter().take(3) {
                    why.push_str("; ");
                    why.push_str(f);
                }
                return Err(why);
            }
        };
        let result = (|| {
            let now = crate::api::unix_ms();
            let meta = self.store.store_policy(&checked.policy.document.name, text, &who, now)?;
            self.store.set_current_policy(meta.version)?;
            self.audit(
                &who,
                "policy.mesh",
                Some(before),
                Some(meta.version),
                &format!("mesh version {version}"),
            )?;
            self.install(meta.version, checked, text)
        })();
        result.map_err(|e| format!("{e:#}"))
    }

    /// Hands a checked policy to the control loop and waits until it runs.
    fn install(&self, version: u64, checked: Checked, text: &str) -> Result<()> {
        let warnings = checked.warnings.iter().map(ToString::to_string).collect();
        let active = ActivePolicy::new(
            version,
            checked.policy,
            text.to_owned(),
            crate::agent::MAX_PEERS,
            warnings,
        );
        let (done, wait) = mpsc::channel();
        self.control
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .send(ControlMsg::InstallPolicy {
                policy: Box::new(active),
                done,
                request: crate::log::context::current(),
            })
            .context("the control loop is gone")?;
        wait.recv_timeout(Duration::from_secs(5))
            .context("the control loop did not install the policy")
    }
}
