//! DESIGN.md's crate map says which crate depends on which; this test holds it to `cargo
//! metadata`, so the map cannot describe last month's workspace.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// Per crate: (normal and build dependencies, dev-only dependencies), workspace crates only.
type Map = BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)>;

fn from_cargo() -> Map {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--no-deps",
            "--offline",
            "--format-version",
            "1",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let mut map = Map::new();
    for p in meta["packages"].as_array().expect("packages") {
        let (mut normal, mut dev) = (BTreeSet::new(), BTreeSet::new());
        for d in p["dependencies"].as_array().expect("dependencies") {
            if d["path"].is_null() {
                continue;
            }
            let name = d["name"].as_str().expect("name").to_string();
            if d["kind"] == "dev" {
                dev.insert(name);
            } else {
                normal.insert(name);
            }
        }
        dev.retain(|d| !normal.contains(d));
        map.insert(p["name"].as_str().expect("name").to_string(), (normal, dev));
    }
    map
}

fn crates_in(cell: &str) -> BTreeSet<String> {
    cell.split(',')
        .map(|c| c.trim().trim_matches('`').to_string())
        .filter(|c| !c.is_empty() && c != "-")
        .collect()
}

fn from_design() -> Map {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../DESIGN.md");
    let text = std::fs::read_to_string(path).expect("DESIGN.md");
    let start = text.find("<!-- crate-map -->").expect("crate-map marker");
    let end = text.find("<!-- end of crate-map -->").expect("end marker");
    let mut map = Map::new();
    for row in text[start..end].lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.trim_matches('|').split('|').collect();
        assert_eq!(cells.len(), 4, "crate map row: {row}");
        let name = cells[0].trim().trim_matches('`').to_string();
        map.insert(name, (crates_in(cells[2]), crates_in(cells[3])));
    }
    map
}

#[test]
fn design_crate_map_matches_cargo_metadata() {
    assert_eq!(
        from_design(),
        from_cargo(),
        "DESIGN.md's crate map (left) differs from the workspace (right)"
    );
}
