//! API tokens, stored as hashes.
//!
//! A secret is `weft_` and 64 lowercase hex digits (32 bytes from the OS
//! generator). Only `hex(BLAKE2s-256(secret))` is stored, so a copy of the
//! database does not let anyone call the API. Lookups are by hash through a
//! unique index; as the secret is hashed first, the lookup's timing tells an
//! attacker nothing about the secret.
//!
//! A revoked token keeps its row (so its id and hash are never reused) but
//! no longer verifies, is no longer listed, and frees its name.

use anyhow::{Context, Result, anyhow, bail};
use blake2::{Blake2s256, Digest};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};
use weft_api::{Scope, TokenInfo};

use super::{Store, sql_limit};

/// A token request the store refuses for what the client asked (not for a
/// failure of the store): the API answers these with 4xx and their text.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenRefused {
    /// The name breaks the naming rule (the API's 400).
    #[error("a token name is 1 to 64 characters of A-Z a-z 0-9 . _ - (got {0:?})")]
    BadName(String),
    /// A live token has this name (the API's 409).
    #[error("a token named {0} exists")]
    NameTaken(String),
}

/// What every new secret starts with, so leaked ones are easy to grep for.
pub(super) const SECRET_PREFIX: &str = "weft_";

impl Store {
    /// Creates a token and returns it with its secret, which is shown only
    /// here: the store keeps its hash.
    pub fn create_token(
        &self,
        name: &str,
        scope: Scope,
        now_unix_ms: i64,
    ) -> Result<(TokenInfo, String)> {
        check_name(name)?;
        let mut raw = [0u8; 32];
        getrandom::fill(&mut raw).map_err(|e| anyhow!("drawing a random token secret: {e}"))?;
        let secret = format!("{SECRET_PREFIX}{}", hex(&raw));
        let mut w = self.writer();
        let tx = w.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let info = insert(&tx, name, scope, &hash(&secret), now_unix_ms)?;
        tx.commit().with_context(|| format!("committing token {name}"))?;
        Ok((info, secret))
    }

    /// Registers a secret made elsewhere (the bootstrap admin token of
    /// `STATE_DIR/api.token`). Idempotent: if a live token of this name
    /// already has this secret, returns it unchanged (with its stored scope).
    ///
    /// Errors if the name is taken by another secret, or if the secret
    /// belongs to another token or to a revoked one (a revoked secret is
    /// never resurrected; write a new one).
    pub fn import_token(
        &self,
        name: &str,
        scope: Scope,
        secret: &str,
        now_unix_ms: i64,
    ) -> Result<TokenInfo> {
        check_name(name)?;
        if secret.is_empty() {
            bail!("the secret of token {name} is empty");
        }
        let hash = hash(secret);
        let mut w = self.writer();
        let tx = w.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing = tx
            .prepare_cached(
                "SELECT id, name, scope, created_unix_ms, revoked_unix_ms
                 FROM tokens WHERE hash = ?1",
            )?
            .query_row([&hash], |r| Ok((token_info(r)?, r.get::<_, Option<i64>>(4)?)))
            .optional()
            .with_context(|| format!("looking up the secret of token {name}"))?;
        let info = match existing {
            None => insert(&tx, name, scope, &hash, now_unix_ms)?,
            Some((info, None)) if info.name == name => return Ok(info),
            Some((info, None)) => bail!("this secret is already token {} ({})", info.id, info.name),
            Some((info, Some(_))) => {
                bail!(
                    "this secret belonged to token {} ({}), which was revoked",
                    info.id,
                    info.name
                )
            }
        };
        tx.commit().with_context(|| format!("committing token {name}"))?;
        Ok(info)
    }

    /// The live token whose secret this is, if any.
    pub fn verify_token(&self, secret: &str) -> Result<Option<TokenInfo>> {
        let hash = hash(secret);
        let conn = self.reader();
        conn.prepare_cached(
            "SELECT id, name, scope, created_unix_ms FROM tokens
             WHERE hash = ?1 AND revoked_unix_ms IS NULL",
        )?
        .query_row([hash], token_info)
        .optional()
        .context("verifying a token")
    }

    /// Up to `limit` live tokens with ids above `after_id`, by id, and how
    /// many live tokens there are.
    pub fn tokens_page(
        &self,
        after_id: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<TokenInfo>, u64)> {
        let conn = self.reader();
        let tx = conn.unchecked_transaction()?;
        let items = tx
            .prepare_cached(
                "SELECT id, name, scope, created_unix_ms FROM tokens
                 WHERE revoked_unix_ms IS NULL AND id > ?1 ORDER BY id LIMIT ?2",
            )?
            .query_map(params![after_id.unwrap_or(0), sql_limit(limit)], token_info)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .context("listing tokens")?;
        let total = tx
            .prepare_cached("SELECT count(*) FROM tokens WHERE revoked_unix_ms IS NULL")?
            .query_row([], |r| r.get(0))
            .context("counting tokens")?;
        Ok((items, total))
    }

    /// The live token `id`, if any.
    pub fn token(&self, id: u64) -> Result<Option<TokenInfo>> {
        let conn = self.reader();
        conn.prepare_cached(
            "SELECT id, name, scope, created_unix_ms FROM tokens
             WHERE id = ?1 AND revoked_unix_ms IS NULL",
        )?
        .query_row([id], token_info)
        .optional()
        .with_context(|| format!("reading token {id}"))
    }

    /// Revokes token `id`: it stops verifying at once. False if there is no
    /// such live token.
    pub fn revoke_token(&self, id: u64, now_unix_ms: i64) -> Result<bool> {
        let w = self.writer();
        let n = w
            .conn
            .prepare_cached(
                "UPDATE tokens SET revoked_unix_ms = ?2
                 WHERE id = ?1 AND revoked_unix_ms IS NULL",
            )?
            .execute(params![id, now_unix_ms])
            .with_context(|| format!("revoking token {id}"))?;
        Ok(n == 1)
    }
}

/// Inserts a live token after checking its name is free.
fn insert(
    conn: &Connection,
    name: &str,
    scope: Scope,
    hash: &str,
    now_unix_ms: i64,
) -> Result<TokenInfo> {
    let taken = conn
        .prepare_cached("SELECT 1 FROM tokens WHERE name = ?1 AND revoked_unix_ms IS NULL")?
        .exists([name])
        .with_context(|| format!("looking up token name {name}"))?;
    if taken {
        return Err(TokenRefused::NameTaken(name.to_owned()).into());
    }
    let id = conn
        .prepare_cached(
            "INSERT INTO tokens (name, scope, hash, created_unix_ms)
             VALUES (?1, ?2, ?3, ?4) RETURNING id",
        )?
        .query_row(params![name, scope.as_str(), hash, now_unix_ms], |r| r.get(0))
        .with_context(|| format!("storing token {name}"))?;
    Ok(TokenInfo { id, name: name.to_owned(), scope, created_unix_ms: now_unix_ms })
}

/// Reads `id, name, scope, created_unix_ms` (the first four columns).
fn token_info(r: &Row<'_>) -> rusqlite::Result<TokenInfo> {
    let scope: String = r.get(2)?;
    let scope = Scope::parse(&scope).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            2,
            rusqlite::types::Type::Text,
            format!("unknown token scope {scope:?}").into(),
        )
    })?;
    Ok(TokenInfo { id: r.get(0)?, name: r.get(1)?, scope, created_unix_ms: r.get(3)? })
}

/// Token names are 1..=64 characters of `[A-Za-z0-9._-]`.
fn check_name(name: &str) -> Result<()> {
    let ok = (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !ok {
        return Err(TokenRefused::BadName(name.to_owned()).into());
    }
    Ok(())
}

/// `hex(BLAKE2s-256(secret))`, what the `tokens` table stores.
pub(super) fn hash(secret: &str) -> String {
    hex(&Blake2s256::digest(secret.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::super::tests::TempDir;
    use super::*;

    #[test]
    fn a_created_token_verifies_until_it_is_revoked() {
        let dir = TempDir::new("token-verify");
        let s = Store::open(dir.path()).unwrap();
        let (info, secret) = s.create_token("grafana", Scope::Read, 5).unwrap();
        assert_eq!(
            (info.name.as_str(), info.scope, info.created_unix_ms),
            ("grafana", Scope::Read, 5)
        );
        assert!(secret.starts_with("weft_"));
        assert_eq!(secret.len(), 5 + 64);
        assert!(secret[5..].bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert_eq!(s.verify_token(&secret).unwrap(), Some(info.clone()));
        assert_eq!(s.verify_token("weft_0000").unwrap(), None);
        assert_eq!(s.verify_token("").unwrap(), None);
        assert_eq!(s.token(info.id).unwrap(), Some(info.clone()));
        assert!(s.revoke_token(info.id, 9).unwrap());
        assert_eq!(s.verify_token(&secret).unwrap(), None);
        assert_eq!(s.token(info.id).unwrap(), None);
        assert!(!s.revoke_token(info.id, 10).unwrap(), "already revoked");
        assert!(!s.revoke_token(999, 10).unwrap(), "unknown");
    }

    #[test]
    fn only_the_hash_of_a_secret_is_stored() {
        let dir = TempDir::new("token-hash");
        let s = Store::open(dir.path()).unwrap();
        let (_, secret) = s.create_token("ci", Scope::Admin, 1).unwrap();
        let rows: Vec<String> = {
            let w = s.writer();
            let mut stmt = w.conn.prepare("SELECT * FROM tokens").unwrap();
            let n = stmt.column_count();
            stmt.query_map([], |r| {
                let mut cols = Vec::new();
                for i in 0..n {
                    cols.push(format!("{:?}", r.get::<_, rusqlite::types::Value>(i)?));
                }
                Ok(cols.join("|"))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect()
        };
        assert_eq!(rows.len(), 1);
        assert!(!rows[0].contains(&secret), "{}", rows[0]);
        assert!(!rows[0].contains(&secret[5..]), "{}", rows[0]);
        assert!(rows[0].contains(&hash(&secret)));
        // And nowhere in the database file either.
        drop(s);
        let bytes = std::fs::read(dir.path().join(super::super::DB_FILE)).unwrap();
        let needle = secret.as_bytes();
        assert!(!bytes.windows(needle.len()).any(|w| w == needle));
    }

    #[test]
    fn bad_token_names_are_refused() {
        let dir = TempDir::new("token-names");
        let s = Store::open(dir.path()).unwrap();
        for bad in ["", "has space", "semi;colon", "é", &"x".repeat(65), "a/b"] {
            let e = s.create_token(bad, Scope::Read, 1).unwrap_err();
            assert!(e.to_string().contains("1 to 64 characters"), "{bad}: {e}");
        }
        for good in ["a", "ci-bot_2.prod", &"x".repeat(64)] {
            s.create_token(good, Scope::Read, 1).unwrap();
        }
        assert!(s.tokens_page(None, 10).unwrap().0.iter().all(|t| t.name != "a b"));
    }

    #[test]
    fn live_token_names_are_unique_and_a_revoked_name_is_free_again() {
        let dir = TempDir::new("token-unique");
        let s = Store::open(dir.path()).unwrap();
        let (first, _) = s.create_token("ci", Scope::Operate, 1).unwrap();
        let e = s.create_token("ci", Scope::Read, 2).unwrap_err();
        assert_eq!(e.to_string(), "a token named ci exists");
        assert!(s.revoke_token(first.id, 3).unwrap());
        let (second, _) = s.create_token("ci", Scope::Read, 4).unwrap();
        assert!(second.id > first.id);
    }

    #[test]
    fn tokens_page_lists_live_tokens_only_by_id() {
        let dir = TempDir::new("token-page");
        let s = Store::open(dir.path()).unwrap();
        let ids: Vec<u64> = (0..5)
            .map(|i| s.create_token(&format!("t{i}"), Scope::Read, i).unwrap().0.id)
            .collect();
        assert!(s.revoke_token(ids[1], 10).unwrap());
        let (page, total) = s.tokens_page(None, 2).unwrap();
        assert_eq!(total, 4);
        assert_eq!(page.iter().map(|t| t.id).collect::<Vec<_>>(), vec![ids[0], ids[2]]);
        let (page, _) = s.tokens_page(Some(ids[2]), 10).unwrap();
        assert_eq!(page.iter().map(|t| t.id).collect::<Vec<_>>(), vec![ids[3], ids[4]]);
    }

    #[test]
    fn importing_the_bootstrap_token_is_idempotent_and_never_resurrects_a_revoked_one() {
        let dir = TempDir::new("token-import");
        let s = Store::open(dir.path()).unwrap();
        let secret = "0123456789abcdef0123456789abcdef";
        let a = s.import_token("bootstrap", Scope::Admin, secret, 1).unwrap();
        let b = s.import_token("bootstrap", Scope::Admin, secret, 2).unwrap();
        assert_eq!(a, b);
        assert_eq!(s.tokens_page(None, 10).unwrap().1, 1);
        assert_eq!(s.verify_token(secret).unwrap(), Some(a.clone()));
        assert!(s.import_token("other", Scope::Admin, secret, 3).is_err());
        let e = s.import_token("bootstrap", Scope::Admin, "another secret", 3).unwrap_err();
        assert_eq!(e.to_string(), "a token named bootstrap exists");
        assert!(s.revoke_token(a.id, 4).unwrap());
        let e = s.import_token("bootstrap", Scope::Admin, secret, 5).unwrap_err();
        assert!(e.to_string().contains("revoked"), "{e}");
        assert_eq!(s.verify_token(secret).unwrap(), None);
        assert!(s.import_token("bootstrap", Scope::Admin, "", 6).is_err());
    }
}
