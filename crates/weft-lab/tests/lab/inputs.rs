//! Bad input gets a clear error, and leaves the lab as it was.

use std::time::Duration;

use weft_lab::{Impairment, Lab, LabError, LinkChange};

use crate::common::{build, lab, ping};

#[test]
fn unknown_sites_and_uplinks_are_named_in_the_error() {
    let mut lab = lab(2, 2);
    let err = lab.set_link("zz", 0, Impairment::NONE).unwrap_err();
    assert!(matches!(err, LabError::UnknownSite { .. }), "{err}");
    assert!(err.to_string().contains("a, b"), "{err}");
    let err = lab.set_link("a", 2, Impairment::NONE).unwrap_err();
    assert!(matches!(err, LabError::UplinkOutOfRange { index: 2, count: 2, .. }), "{err}");
    let err = lab.set_link("a", "lte", Impairment::NONE).unwrap_err();
    assert!(matches!(err, LabError::UnknownUplink { .. }), "{err}");
    assert!(lab.exec("c", &["true"]).is_err());
}

#[test]
fn impossible_values_are_refused_and_leave_the_link_unchanged() {
    let mut lab = lab(2, 1);
    lab.set_link("a", 0, Impairment::delay(Duration::from_millis(5))).unwrap();
    for change in [
        LinkChange { delay: Some("-40ms".into()), ..LinkChange::default() },
        LinkChange { loss: Some("150%".into()), ..LinkChange::default() },
        LinkChange { jitter: Some("lots".into()), ..LinkChange::default() },
        LinkChange { rate: Some("-3mbit".into()), ..LinkChange::default() },
    ] {
        let err = lab.change_link("a", 0, &change).unwrap_err();
        assert!(matches!(err, LabError::InvalidImpairment { .. }), "{change:?}: {err}");
    }
    assert_eq!(lab.link("a", 0).unwrap(), Impairment::delay(Duration::from_millis(5)));
}

#[test]
fn a_lab_name_in_use_is_refused_and_the_first_lab_keeps_working() {
    let first = lab(2, 1);
    let err = Lab::builder().name(first.name()).sites(1).build().unwrap_err();
    assert!(matches!(err, LabError::AlreadyExists { .. }), "{err}");
    let p = ping(&first, "a", first.addr("a", 0).unwrap(), first.addr("b", 0).unwrap(), 2, "0.05");
    assert_eq!(p.received, 2);
}

#[test]
fn bad_names_and_topology_files_are_refused_before_anything_is_made() {
    let err = Lab::builder().name("Bad_Name").build().unwrap_err();
    assert!(matches!(err, LabError::InvalidName { what: "lab", .. }), "{err}");
    let dir = std::env::temp_dir().join(format!("weft-lab-topo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.toml");
    std::fs::write(&file, "[[site]]\nname = \"a\"\n[[site.uplink]]\nloss = \"120%\"\n").unwrap();
    let err = Lab::builder().topology_file(&file).build().unwrap_err();
    assert!(err.to_string().contains("bad.toml: 4:8: invalid loss"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_topology_file_names_sites_and_uplinks_and_sets_impairments() {
    let dir = std::env::temp_dir().join(format!("weft-lab-topo2-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("lab.toml");
    std::fs::write(
        &file,
        "[[site]]\nname = \"paris\"\n[[site.uplink]]\nname = \"fiber\"\n[[site.uplink]]\nname = \"lte\"\ndelay = \"15ms\"\n\
         [[site]]\nname = \"tokyo\"\nuplinks = 1\n",
    )
    .unwrap();
    let lab = build(Lab::builder().topology_file(&file));
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(lab.sites().iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["paris", "tokyo"]);
    let lte = lab.uplink("paris", "lte").unwrap();
    assert_eq!(lte.impairment.delay, Duration::from_millis(15));
    let rtt =
        ping(&lab, "paris", lte.addr, lab.addr("tokyo", 0).unwrap(), 5, "0.05").avg_ms.unwrap();
    assert!((27.0..=33.0).contains(&rtt), "RTT {rtt} ms, expected 30 ms");
}
