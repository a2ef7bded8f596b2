//! Connection profiles: the stock WireGuard clients this site was asked to
//! serve (`/api/v1/profiles`), kept so they survive a restart.

use anyhow::{Context, Result};
use rusqlite::{OptionalExtension, Row, TransactionBehavior, params};

use super::Store;

/// A registered client as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct ProfileRecord {
    /// Client name (a site id).
    pub name: String,
    /// WireGuard public key, base64.
    pub public_key: String,
    /// Overlay address, `A.B.C.D/32`.
    pub address: String,
    /// The sites it may use.
    pub sites: Vec<String>,
    /// When it was registered, Unix milliseconds.
    pub created_unix_ms: i64,
    /// Its IKEv2 pre-shared key (hex) when it is also an IPsec client.
    pub ipsec_psk: Option<String>,
}

impl std::fmt::Debug for ProfileRecord {
    /// Everything but the pre-shared key (a record may end up in a log).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfileRecord")
            .field("name", &self.name)
            .field("public_key", &self.public_key)
            .field("address", &self.address)
            .field("sites", &self.sites)
            .field("created_unix_ms", &self.created_unix_ms)
            .field("ipsec_psk", &self.ipsec_psk.as_ref().map(|_| "(hidden)"))
            .finish()
    }
}

/// A registration the store refuses for what the client asked (the API's 409).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProfileRefused {
    /// Another client has this name.
    #[error("a client named {0} is registered")]
    NameTaken(String),
    /// Another client has this public key.
    #[error("client {0} has this public key")]
    KeyTaken(String),
    /// Another client has this address.
    #[error("client {0} has this address")]
    AddressTaken(String),
}

fn record(r: &Row<'_>) -> rusqlite::Result<ProfileRecord> {
    let sites: String = r.get(3)?;
    Ok(ProfileRecord {
        name: r.get(0)?,
        public_key: r.get(1)?,
        address: r.get(2)?,
        sites: sites.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
        created_unix_ms: r.get(4)?,
        ipsec_psk: r.get(5)?,
    })
}

const COLUMNS: &str = "name, public_key, address, sites, created_unix_ms, ipsec_psk";

impl Store {
    /// Stores a new client; refuses ([`ProfileRefused`]) a name, key or
    /// address another client has.
    pub fn insert_profile(&self, p: &ProfileRecord) -> Result<()> {
        let mut w = self.writer();
        let tx = w.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for (column, value, refused) in [
            ("name", &p.name, ProfileRefused::NameTaken as fn(String) -> ProfileRefused),
            ("public_key", &p.public_key, ProfileRefused::KeyTaken),
            ("address", &p.address, ProfileRefused::AddressTaken),
        ] {
            let holder: Option<String> = tx
                .prepare_cached(&format!("SELECT name FROM profiles WHERE {column} = ?1"))?
                .query_row([value], |r| r.get(0))
                .optional()?;
            if let Some(holder) = holder {
                return Err(refused(holder).into());
            }
        }
        tx.prepare_cached(&format!(
            "INSERT INTO profiles ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
        ))?
        .execute(params![
            p.name,
            p.public_key,
            p.address,
            p.sites.join(","),
            p.created_unix_ms,
            p.ipsec_psk
        ])
        .with_context(|| format!("storing client {}", p.name))?;
        tx.commit().with_context(|| format!("committing client {}", p.name))?;
        Ok(())
    }

    /// Every stored client, by name.
    pub fn profiles(&self) -> Result<Vec<ProfileRecord>> {
        let r = self.reader();
        let mut stmt =
            r.prepare_cached(&format!("SELECT {COLUMNS} FROM profiles ORDER BY name"))?;
        let rows = stmt.query_map([], record)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Replaces the sites of client `name`; whether it was there.
    pub fn set_profile_sites(&self, name: &str, sites: &[String]) -> Result<bool> {
        let w = self.writer();
        let n = w
            .conn
            .prepare_cached("UPDATE profiles SET sites = ?2 WHERE name = ?1")?
            .execute(params![name, sites.join(",")])
            .with_context(|| format!("changing the sites of client {name}"))?;
        Ok(n > 0)
    }

    /// Deletes a client; returns it, or `None` if there was none.
    pub fn delete_profile(&self, name: &str) -> Result<Option<ProfileRecord>> {
        let mut w = self.writer();
        let tx = w.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let found = tx
            .prepare_cached(&format!("SELECT {COLUMNS} FROM profiles WHERE name = ?1"))?
            .query_row([name], record)
            .optional()?;
        if found.is_some() {
            tx.prepare_cached("DELETE FROM profiles WHERE name = ?1")?.execute([name])?;
            tx.commit().with_context(|| format!("deleting client {name}"))?;
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::TempDir;

    fn laptop() -> ProfileRecord {
        ProfileRecord {
            name: "laptop".into(),
            public_key: "key-1".into(),
            address: "100.96.0.7/32".into(),
            sites: vec!["a".into(), "b".into()],
            created_unix_ms: 5,
            ipsec_psk: None,
        }
    }

    #[test]
    fn an_ipsec_clients_key_is_stored_and_never_debug_printed() {
        let dir = TempDir::new("profiles-psk");
        let store = Store::open(dir.path()).unwrap();
        let psk = "ab".repeat(32);
        let gw = ProfileRecord { ipsec_psk: Some(psk.clone()), ..laptop() };
        store.insert_profile(&gw).unwrap();
        let back = store.profiles().unwrap();
        assert_eq!(back[0].ipsec_psk.as_deref(), Some(psk.as_str()));
        assert!(!format!("{:?}", back[0]).contains(&psk), "{:?}", back[0]);
    }

    #[test]
    fn clients_survive_a_reopen_and_go_when_deleted() {
        let dir = TempDir::new("profiles");
        {
            let store = Store::open(dir.path()).unwrap();
            store.insert_profile(&laptop()).unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.profiles().unwrap(), vec![laptop()]);
        assert_eq!(store.delete_profile("laptop").unwrap(), Some(laptop()));
        assert_eq!(store.delete_profile("laptop").unwrap(), None);
        assert!(store.profiles().unwrap().is_empty());
    }

    #[test]
    fn a_clients_sites_change_in_place() {
        let dir = TempDir::new("profiles-sites");
        let store = Store::open(dir.path()).unwrap();
        store.insert_profile(&laptop()).unwrap();
        assert!(store.set_profile_sites("laptop", &["a".to_owned()]).unwrap());
        let want = ProfileRecord { sites: vec!["a".into()], ..laptop() };
        assert_eq!(store.profiles().unwrap(), vec![want]);
        assert!(!store.set_profile_sites("phone", &["a".to_owned()]).unwrap(), "no such client");
    }

    #[test]
    fn a_name_key_or_address_another_client_has_is_refused() {
        let dir = TempDir::new("profiles-refused");
        let store = Store::open(dir.path()).unwrap();
        store.insert_profile(&laptop()).unwrap();
        let refused = |p: ProfileRecord| {
            store.insert_profile(&p).unwrap_err().downcast::<ProfileRefused>().unwrap()
        };
        let other = ProfileRecord {
            name: "phone".into(),
            public_key: "key-2".into(),
            address: "100.96.0.8/32".into(),
            ..laptop()
        };
        assert_eq!(
            refused(ProfileRecord { name: "laptop".into(), ..other.clone() }),
            ProfileRefused::NameTaken("laptop".into())
        );
        assert_eq!(
            refused(ProfileRecord { public_key: "key-1".into(), ..other.clone() }),
            ProfileRefused::KeyTaken("laptop".into())
        );
        assert_eq!(
            refused(ProfileRecord { address: "100.96.0.7/32".into(), ..other.clone() }),
            ProfileRefused::AddressTaken("laptop".into())
        );
        store.insert_profile(&other).unwrap();
        assert_eq!(store.profiles().unwrap().len(), 2);
    }
}
