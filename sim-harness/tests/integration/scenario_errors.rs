//! Bad scenarios are refused with the file, the key path and what is wrong (golden messages).

use sim_harness::scenario::Scenario;

use crate::support::{golden, repo};

const CASES: &[(&str, &str)] = &[
    ("not TOML", "seed = \n"),
    ("unknown top-level key", "sed = 1\n"),
    ("unknown nested key", "[vms]\ncount = 2\ncolour = \"red\"\n"),
    ("wrong type", "[vms]\ncount = \"eight\"\n"),
    ("zero VMs", "[vms]\ncount = 0\n"),
    ("more VMs than the card has queue pairs", "[vms]\ncount = 257\n"),
    (
        "VEB table larger than the card's",
        "[vms]\ncount = 40\n[card.table]\nbuckets = 256\n",
    ),
    ("bad MAC", "[vms]\nmac_base = \"02:00:00:00:01\"\n"),
    ("multicast MAC", "[vms]\nmac_base = \"01:00:5e:00:00:01\"\n"),
    ("bad queue size", "[vms]\nqueue_entries = 100\n"),
    ("bad VLAN", "[vms]\nvlans = [1, 5000]\n"),
    (
        "duplicate address",
        "[vms]\ncount = 2\n[[external_hosts]]\nmac = \"02:00:00:00:01:01\"\nip = \"192.0.2.1\"\n",
    ),
    ("bad external IP", "[[external_hosts]]\nmac = \"02:00:00:00:ff:01\"\nip = \"192.0.2\"\n"),
    ("unknown switch", "switches = [\"snich\", \"vpp\"]\n"),
    ("switch twice", "switches = [\"ovs-afxdp\", \"ovs-afxdp\"]\n"),
    ("packets and duration", "packets = 10\nduration_us = 10\n"),
    ("zero host cores", "[host]\ncores = 0\n"),
    ("missing profile", "[host]\nprofile = \"no/such/profile.toml\"\n"),
    ("endless run", "duration_us = 1000000000000\n"),
    ("too many packets", "packets = 100_000_000_000\n"),
    ("too long a warm-up", "warmup_packets = 100_000_000_000\n"),
    ("negative warm-up", "warmup_packets = -1\n"),
    ("unknown card key", "[card]\nturbo = true\n"),
    ("bad card value", "[card.table]\nbuckets = 1000\n"),
    ("nested card key", "[card.pcie]\nlanes = \"x8\"\n"),
    ("bad copy mode", "[card]\ninter_vm = \"dma\"\n"),
    ("bad share", "[workload]\nmix = [{ kind = \"inter-vm\", share = 1.0 }, { kind = \"vm-to-wire\", share = -1.0 }]\n"),
    ("unknown traffic kind", "[workload]\nkind = \"vm-to-vm\"\n"),
    ("inter-VM with one VM", "[vms]\ncount = 1\n[workload]\nkind = \"inter-vm\"\n"),
    ("frame too small", "[workload]\nsize = { fixed = 40 }\n"),
    ("unknown IMIX", "[workload]\nsize = { imix = \"complex\" }\n"),
    ("negative rate", "[workload]\nrate = { pps = -5.0 }\n"),
    ("unknown rate", "[workload]\nrate = { gbps = 5.0 }\n"),
    ("bad Zipf", "[workload.flows]\nzipf_s = -1.0\n"),
    ("pcap without file", "[workload]\nkind = \"pcap\"\n"),
    ("missing rules file", "[rules]\nfile = \"no/such/rules\"\n"),
    ("bad inline rules", "[rules]\ninline = \"priority=5,tcp,tp_dts=80,actions=drop\"\n"),
    ("rule at priority 0", "[rules]\ninline = \"priority=0,tcp,actions=drop\"\n"),
    ("bad rules action", "[rules]\naction = \"explode\"\n"),
    ("bad rules format", "[rules]\nformat = \"iptables\"\ninline = \"x\"\n"),
    ("unknown faults key", "[faults]\nagent_crash = 5\n"),
    ("stuck VM the scenario lacks", "[vms]\ncount = 2\n[faults]\nstuck_vms = [2]\n"),
    ("agent down time without a crash", "[faults]\nagent_down_us = 50\n"),
    (
        "rule updates that do not parse",
        "[faults]\nrule_updates_per_second = 100\nrule_updates = \"udp,tp_dst=x,actions=drop\"\n",
    ),
];

#[test]
fn every_bad_scenario_is_refused_with_file_key_and_reason() {
    let file = std::path::Path::new("bad.toml");
    let mut out = String::new();
    for (name, text) in CASES {
        let e = Scenario::from_toml(text, Some(file))
            .err()
            .unwrap_or_else(|| panic!("{name}: accepted"));
        let msg = e.to_string();
        assert!(msg.starts_with("bad.toml"), "{name}: {msg}");
        out.push_str(&format!("# {name}\n{msg}\n\n"));
    }
    golden("scenario_errors.txt", &out);
}

#[test]
fn a_missing_scenario_file_is_named() {
    let e = Scenario::from_file(std::path::Path::new("no/such/scenario.toml")).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("no/such/scenario.toml: cannot read:"),
        "{e}"
    );
}

#[test]
fn every_shipped_scenario_is_valid() {
    let mut files = vec![repo("scenarios/default.toml")];
    for e in std::fs::read_dir(repo("scenarios/paper")).expect("scenarios/paper") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "toml") {
            files.push(p);
        }
    }
    assert!(files.len() > 1, "the paper's scenarios exist");
    for f in files {
        let doc = sim_harness::scenario::ScenarioDocument::from_file(&f)
            .unwrap_or_else(|e| panic!("{e}"));
        doc.scenario().unwrap_or_else(|e| panic!("{e}"));
        if let Some(sweep) = doc.sweep().expect("sweep") {
            for v in &sweep.values {
                doc.with(&sweep.key, v).unwrap_or_else(|e| panic!("{e}"));
            }
        }
    }
}

#[test]
fn the_built_in_paper_scenarios_are_the_shipped_files() {
    let mut on_disk: Vec<String> = std::fs::read_dir(repo("scenarios/paper"))
        .expect("scenarios/paper")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let built_in: Vec<String> = sim_harness::scenario::PAPER_SCENARIOS
        .iter()
        .map(|(n, _)| (*n).to_string())
        .collect();
    assert_eq!(built_in, on_disk, "every paper scenario is built in");
    for (name, text) in sim_harness::scenario::PAPER_SCENARIOS {
        let file = std::fs::read_to_string(repo("scenarios/paper").join(name)).expect("read");
        assert_eq!(*text, file, "{name}");
    }
}

#[test]
fn the_built_in_paper_scenarios_read_nothing_from_the_working_directory() {
    // Their paths are under `built-in:scenarios/paper`, which no file system holds: the
    // rules file of rules_acl1 comes from the binary.
    let docs = sim_harness::scenario::paper_documents().expect("built-in paper scenarios");
    assert_eq!(docs.len(), sim_harness::scenario::PAPER_SCENARIOS.len());
    for (file, doc) in &docs {
        assert!(file.starts_with(sim_harness::scenario::BUILT_IN_PAPER_DIR));
        doc.scenario().unwrap_or_else(|e| panic!("{e}"));
        let sweep = doc
            .sweep()
            .expect("sweep")
            .expect("every experiment sweeps");
        for v in &sweep.values {
            doc.with(&sweep.key, v).unwrap_or_else(|e| panic!("{e}"));
        }
    }
    let (_, acl) = docs
        .iter()
        .find(|(f, _)| f.ends_with("rules_acl1.toml"))
        .expect("rules_acl1");
    let s = acl.scenario().expect("rules_acl1 validates");
    assert_eq!(
        s.filter_rules, 9_824,
        "the built-in copy of acl1_10K, first 9,824"
    );
}
