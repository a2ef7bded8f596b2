//! Site configurations for a lab: one key pair and one `site.toml` per site.
//!
//! The generator lives in [`weft_layout::labgen`] (the CLI writes these
//! configurations too, without linking the agent); it is re-exported here.
//! This module's tests check that the agent accepts what it writes.

pub use weft_layout::labgen::{
    GeneratedSite, LabOptions, LabSite, interface_prefix, overlay_address, write_configs,
};

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use weft_dataplane::wg::public_key;

    use super::*;

    #[test]
    fn generated_configs_validate_and_peer_every_site_over_every_uplink() {
        let dir = std::env::temp_dir().join(format!("weft-labgen-{}", std::process::id()));
        let sites: Vec<LabSite> = ["a", "b", "c"]
            .iter()
            .enumerate()
            .map(|(s, n)| LabSite {
                name: (*n).to_owned(),
                uplinks: (0..2)
                    .map(|u| (format!("u{u}"), Ipv4Addr::new(198, 18, s as u8 + 1, 4 * u + 2)))
                    .collect(),
            })
            .collect();
        let generated = write_configs(&dir, &sites, &LabOptions::default()).unwrap();
        for (i, g) in generated.iter().enumerate() {
            let cfg = crate::config::load(&g.config).unwrap();
            assert_eq!(cfg.peers.len(), 2);
            assert!(cfg.peers.iter().all(|p| p.endpoints.len() == 2));
            assert_eq!(cfg.address, std::net::IpAddr::V4(overlay_address(i)));
            let key = crate::agent::read_private_key(&cfg.private_key_file).unwrap();
            assert_eq!(public_key(&key), g.public_key);
        }
        let a = crate::config::load(&generated[0].config).unwrap();
        assert_eq!(a.peers[0].public_key, generated[1].public_key);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
