//! The example scenarios in `scenarios/` stay valid: each parses, names
//! itself after its file, and exercises flows, faults and assertions.

use std::path::{Path, PathBuf};

use weft_chaos::{FaultKind, parse};

fn scenario_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_scenario_file_parses_and_is_complete() {
    let files = scenario_files();
    assert!(files.len() >= 5, "expected the example scenarios, found {files:?}");
    let mut problems = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable");
        let shown = Path::new("scenarios").join(file.file_name().expect("a file name"));
        match parse(&shown, &text) {
            Err(diagnostics) => problems.extend(diagnostics.iter().map(ToString::to_string)),
            Ok(s) => {
                let stem = file.file_stem().and_then(|s| s.to_str()).expect("utf-8 name");
                assert_eq!(
                    s.name,
                    stem,
                    "{}: the scenario is named after its file",
                    shown.display()
                );
                assert!(!s.description.is_empty(), "{}: no description", shown.display());
                assert!(!s.flows.is_empty(), "{}: no flows", shown.display());
                assert!(!s.faults.is_empty(), "{}: no faults", shown.display());
                assert!(!s.assertions.is_empty(), "{}: no assertions", shown.display());
                assert_eq!(s.faults_for_seed(3), s.faults_for_seed(3));
            }
        }
    }
    assert!(problems.is_empty(), "invalid scenarios:\n{}", problems.join("\n"));
}

#[test]
fn the_random_failures_scenario_draws_a_hundred_outages_per_seed() {
    let file =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/random-link-failures.toml");
    let s = parse(&file, &std::fs::read_to_string(&file).expect("readable")).expect("valid");
    let outages = |seed| {
        s.faults_for_seed(seed)
            .into_iter()
            .filter(|f| matches!(f.kind, FaultKind::UplinkDown { .. }))
            .collect::<Vec<_>>()
    };
    assert_eq!(outages(1).len(), 100);
    assert_ne!(outages(1), outages(2));
    assert!(outages(1).iter().all(|f| f.end().is_some_and(|end| end <= s.duration)));
}
