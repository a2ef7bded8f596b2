//! The site configuration parser (`weftd --config`) on arbitrary text: never
//! a panic; every refusal is a diagnostic naming the file and, when it has a
//! place, a line and column inside the text.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let file = Path::new("/etc/weft/site.toml");
    if let Err(weftd::config::ConfigError::Invalid(diags)) = weftd::config::parse(file, text) {
        assert!(!diags.is_empty(), "a refusal says why");
        let lines = text.split('\n').count();
        for d in &diags {
            assert_eq!(d.file, file);
            assert!(d.line <= lines, "{d} is past the last line ({lines})");
            assert!(d.line == 0 || d.column >= 1, "{d} has no column");
            assert!(d.to_string().starts_with("/etc/weft/site.toml:"), "{d}");
        }
    }
});
