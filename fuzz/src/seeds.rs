//! Seed inputs for every target, cut out of the repository's test data (`tests/data`, the
//! scenarios, `sim-harness`'s test data): real frames and captures, real rule sets in each
//! format, real packet descriptions and scenarios, and small programs for the card and the
//! RTL built from real frames. [`seeds`] returns them all (the replay test runs every one);
//! [`afl_seeds`] a small, size-bounded share for AFL++'s input directory.

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use flow_setup::ofctl::describe_packet;
use flow_setup::ruleset::{RuleSet, RulesFormat};
use nic_abi::desc::{
    CopyCommand, CopyCompletion, MissRecord, ReleaseCommand, RxCompletion, RxDescriptor,
    TxCompletion, TxDescriptor,
};
use nic_abi::key::PortNo;
use nic_abi::parse::parse_software;
use nic_abi::regs::flow_table as ft;
use sim_harness::capture::Capture;

use crate::targets::Target;

/// One seed: where it came from, and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seed {
    /// A short name saying where the seed came from (a file name, a frame index).
    pub name: String,
    /// The input.
    pub bytes: Vec<u8>,
}

/// The workspace's root directory.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(workspace_root().join(rel)).unwrap_or_default()
}

fn read_text(rel: &str) -> String {
    String::from_utf8_lossy(&read(rel)).into_owned()
}

/// The first `n` lines of `text`.
fn head(text: &str, n: usize) -> String {
    text.lines().take(n).map(|l| format!("{l}\n")).collect()
}

/// Every Ethernet frame of the two captures in `tests/data`.
fn capture_frames() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for file in [
        "tests/data/pcapparser_wireshark_samples-test.pcapng",
        "tests/data/mix_zeek_sv_tcpdump_k8.pcap.gz",
    ] {
        if let Ok(c) = Capture::from_bytes(Path::new(file), &read(file)) {
            for (i, f) in c.frames.into_iter().enumerate() {
                out.push((format!("{file}#{i}"), f.data));
            }
        }
    }
    out
}

/// The small captures of tcpdump's test suite (`tests/data/tcpdump_tests_pcaps.tar.gz`).
fn tcpdump_captures() -> Vec<(String, Vec<u8>)> {
    let raw = read("tests/data/tcpdump_tests_pcaps.tar.gz");
    let mut archive = tar::Archive::new(GzDecoder::new(&raw[..]));
    let mut out = Vec::new();
    let Ok(entries) = archive.entries() else {
        return out;
    };
    for mut entry in entries.flatten() {
        let name = entry
            .path()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        if !(name.ends_with(".pcap") || name.ends_with(".pcapng")) {
            continue;
        }
        let mut bytes = Vec::new();
        if entry.read_to_end(&mut bytes).is_ok() {
            out.push((name, bytes));
        }
    }
    out
}

/// Frames spread over the captures, at most `n`, each of a different (length, EtherType).
fn varied_frames(n: usize) -> Vec<(String, Vec<u8>)> {
    let mut seen = std::collections::BTreeSet::new();
    capture_frames()
        .into_iter()
        .filter(|(_, f)| seen.insert((f.len().min(200), f.get(12..14).map(<[u8]>::to_vec))))
        .take(n)
        .collect()
}

fn seed(name: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Seed {
    Seed {
        name: name.into(),
        bytes: bytes.into(),
    }
}

/// Every seed of `target`.
pub fn seeds(target: Target) -> Vec<Seed> {
    match target {
        Target::Frame => capture_frames()
            .into_iter()
            .map(|(n, f)| seed(n, f))
            .collect(),
        Target::RingRecord => ring_records(),
        Target::Card => varied_frames(64)
            .into_iter()
            .map(|(n, f)| seed(n, card_program(&f)))
            .collect(),
        Target::Rtl => {
            let mut out = vec![seed("insert_then_lookup", rtl_register_program())];
            for chunk in varied_frames(64).chunks(8) {
                let mut input = vec![1u8];
                for (_, f) in chunk {
                    let f = &f[..f.len().min(255)];
                    input.push(u8::try_from(f.len()).unwrap_or(u8::MAX));
                    input.extend_from_slice(f);
                }
                out.push(seed(chunk.first().map_or("", |c| &c.0[..]), input));
            }
            out
        }
        Target::Rules => rule_files(),
        Target::TracePackets => {
            let mut out = vec![seed(
                "sim-harness/tests/integration/data/packets.txt",
                read("sim-harness/tests/integration/data/packets.txt"),
            )];
            for chunk in varied_frames(256).chunks(16) {
                let text: String = chunk
                    .iter()
                    .map(|(_, f)| describe_packet(&parse_software(f, PortNo(1))) + "\n")
                    .collect();
                out.push(seed(chunk.first().map_or("", |c| &c.0[..]), text));
            }
            out
        }
        Target::Scenario => {
            let mut out = Vec::new();
            for dir in [
                "scenarios",
                "scenarios/paper",
                "sim-harness/tests/integration/data",
            ] {
                let mut files: Vec<PathBuf> = std::fs::read_dir(workspace_root().join(dir))
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                    .collect();
                files.sort();
                for f in files {
                    out.push(seed(
                        f.display().to_string(),
                        std::fs::read(&f).unwrap_or_default(),
                    ));
                }
            }
            out
        }
        Target::Capture => tcpdump_captures()
            .into_iter()
            .map(|(n, b)| seed(n, b))
            .collect(),
    }
}

/// At most `max` seeds of `target` of at most `max_bytes` each, the smallest first: AFL++'s
/// input directory (large or many seeds slow its calibration).
pub fn afl_seeds(target: Target, max: usize, max_bytes: usize) -> Vec<Seed> {
    let mut all: Vec<Seed> = seeds(target)
        .into_iter()
        .filter(|s| !s.bytes.is_empty() && s.bytes.len() <= max_bytes)
        .collect();
    if target == Target::Frame || target == Target::Capture {
        // Many inputs: spread the choice over sizes rather than taking the smallest.
        let step = (all.len() / max.max(1)).max(1);
        all = all.into_iter().step_by(step).collect();
    }
    all.sort_by_key(|s| s.bytes.len());
    all.dedup_by(|a, b| a.bytes == b.bytes);
    all.truncate(max);
    all
}

fn ring_records() -> Vec<Seed> {
    let sizes = [
        TxDescriptor::SIZE,
        RxDescriptor::SIZE,
        TxCompletion::SIZE,
        RxCompletion::SIZE,
        MissRecord::SIZE,
        CopyCommand::SIZE,
        CopyCompletion::SIZE,
        ReleaseCommand::SIZE,
    ];
    let mut out = Vec::new();
    for (kind, size) in (0u8..).zip(sizes) {
        for fill in [0x00u8, 0x01, 0xff] {
            let mut b = vec![kind];
            b.resize(1 + size, fill);
            out.push(seed(format!("kind{kind}_fill{fill:02x}"), b));
        }
    }
    // A miss record and a TX descriptor of real frames.
    for (name, frame) in varied_frames(8) {
        let key = parse_software(&frame, PortNo(1));
        if let Ok(r) = MissRecord::for_packet(
            PortNo(1),
            None,
            nic_abi::desc::PacketHandle(7),
            nic_abi::time::SimTime(1_000),
            nic_abi::desc::MissReason::TableMiss,
            &key,
            &frame,
        ) {
            let mut b = vec![4u8];
            b.extend_from_slice(&r.to_bytes());
            out.push(seed(format!("miss {name}"), b));
        }
        let tx = TxDescriptor {
            buf: nic_abi::desc::Iova(0x4000),
            len: u16::try_from(frame.len()).unwrap_or(64),
            flags: nic_abi::desc::TxFlags::NONE,
            vm: nic_abi::desc::VmId(1),
            queue: nic_abi::desc::QueueIndex(0),
        };
        let mut b = vec![0u8];
        b.extend_from_slice(&tx.to_bytes());
        out.push(seed(format!("tx {name}"), b));
    }
    out
}

/// A card program: post RX buffers, install nothing, offer `frame` on the wire and from the
/// guest's TX ring, let time pass, release the held packet, read some registers.
fn card_program(frame: &[u8]) -> Vec<u8> {
    let frame = &frame[..frame.len().min(255)];
    let mut p = Vec::new();
    // RX buffers 0..4 (capacity 2048 at the layout's buffers) via raw descriptors: write the
    // doorbell with index 4 after writing zeros (the card refuses them: a hostile start).
    for slot in 0..4u8 {
        p.push(3);
        p.push(slot);
        p.extend_from_slice(&[0u8; 16]);
    }
    p.extend_from_slice(&[6, 0, 4, 0]);
    // The frame from the wire, port 1.
    p.extend_from_slice(&[7, 1, u8::try_from(frame.len()).unwrap_or(u8::MAX)]);
    p.extend_from_slice(frame);
    // Time passes, the agent releases handle 0 to the VM, time passes.
    p.extend_from_slice(&[9, 0x10, 0x27]);
    p.extend_from_slice(&[8, 0, 0, 0, 0, 2]);
    p.extend_from_slice(&[9, 0x10, 0x27]);
    // The guest transmits a descriptor pointing at the frame it wrote to its buffer.
    p.extend_from_slice(&[
        4,
        0x00,
        0x80,
        0,
        0,
        u8::try_from(frame.len().min(63)).unwrap_or(0),
    ]);
    p.extend_from_slice(&frame[..frame.len().min(63)]);
    p.extend_from_slice(&[5, 0, 1, 0]);
    // Register reads in each block.
    for sel in 0..6u8 {
        p.extend_from_slice(&[1, sel, 1, 0]);
    }
    p
}

/// An RTL register program: a key, an action and an insert, then a lookup command.
fn rtl_register_program() -> Vec<u8> {
    let regs_index = |rel: u32| -> u8 {
        let mut all = vec![0x0, 0x4, 0x8, 0xc, ft::CMD, ft::STATUS, ft::OCCUPANCY];
        all.extend([ft::LAST_KICKS, ft::SLOT]);
        all.extend((0..15u32).map(ft::key));
        all.extend((0..2u32).map(ft::action));
        u8::try_from(all.iter().position(|&r| r == rel).unwrap_or(0)).unwrap_or(0)
    };
    let mut p = vec![0u8];
    let key = nic_abi::key::FlowKey {
        in_port: PortNo(1),
        tp_dst: 80,
        nw_proto: 6,
        ..nic_abi::key::FlowKey::default()
    };
    for (n, w) in (0u32..).zip(key.to_words()) {
        p.push(regs_index(ft::key(n)));
        p.extend_from_slice(&w.to_le_bytes());
    }
    for (n, w) in (0u32..).zip(nic_abi::action::Action::output(PortNo(2)).to_words()) {
        p.push(regs_index(ft::action(n)));
        p.extend_from_slice(&w.to_le_bytes());
    }
    for cmd in 1u32..=5 {
        p.push(regs_index(ft::CMD));
        p.extend_from_slice(&cmd.to_le_bytes());
    }
    p
}

fn rule_files() -> Vec<Seed> {
    let mut out = Vec::new();
    let format_byte = |f: RulesFormat| {
        u8::try_from(RulesFormat::ALL.iter().position(|&g| g == f).unwrap_or(5)).unwrap_or(5)
    };
    let mut add = |name: String, format: RulesFormat, text: &str| {
        let mut b = vec![format_byte(format)];
        b.extend_from_slice(text.as_bytes());
        out.push(seed(name.clone(), b.clone()));
        // The same file, the format detected.
        b[0] = 5;
        out.push(seed(format!("{name} (detected)"), b));
    };
    for (file, format, lines) in [
        ("tests/data/acl1_1K", RulesFormat::ClassBench, 40),
        ("tests/data/acl1_10K", RulesFormat::ClassBench, 40),
        ("tests/data/fw1_10K", RulesFormat::ClassBench, 40),
        ("tests/data/of1_1K.ofrules", RulesFormat::OfRules, 40),
        (
            "sim-harness/tests/integration/data/small.rules",
            RulesFormat::Ofctl,
            1000,
        ),
        (
            "sim-harness/tests/integration/data/bad.rules",
            RulesFormat::Ofctl,
            1000,
        ),
    ] {
        add(file.to_string(), format, &head(&read_text(file), lines));
    }
    // The rule sets of Open vSwitch's test suite, each as ovs-ofctl text, JSON and TOML.
    let ovs = read_text("tests/data/ovs_at_test_flows.json");
    let mut sets = 0;
    for (i, chunk) in ovs.split("\"rules\": [").skip(1).enumerate() {
        let body = chunk.split(']').next().unwrap_or("");
        let text: String = body
            .lines()
            .filter_map(|l| {
                let l = l.trim().trim_end_matches(',');
                l.strip_prefix('"')?
                    .strip_suffix('"')
                    .map(|l| format!("{l}\n"))
            })
            .collect();
        if text.is_empty() {
            continue;
        }
        add(
            format!("ovs_at_test_flows.json set {i}"),
            RulesFormat::Ofctl,
            &text,
        );
        if let Ok(set) = RuleSet::parse(&text, RulesFormat::Ofctl) {
            if let Ok(json) = set.to_json() {
                add(format!("ovs set {i} as JSON"), RulesFormat::Json, &json);
            }
            if let Ok(toml) = set.to_toml() {
                add(format!("ovs set {i} as TOML"), RulesFormat::Toml, &toml);
            }
        }
        sets += 1;
        if sets >= 40 {
            break;
        }
    }
    out
}

/// Writes AFL++'s input directory of each of `targets` into `out/TARGET/`: its [`afl_seeds`]
/// and the checked-in corpus and regressions. Returns the count written per target.
pub fn write_afl_seeds(out: &Path, targets: &[Target]) -> std::io::Result<Vec<(Target, usize)>> {
    let mut counts = Vec::new();
    for &target in targets {
        let dir = out.join(target.name());
        std::fs::create_dir_all(&dir)?;
        let mut written = 0;
        for (i, s) in afl_seeds(target, 48, 8 * 1024).into_iter().enumerate() {
            std::fs::write(dir.join(format!("seed{i:03}")), &s.bytes)?;
            written += 1;
        }
        for kept in ["corpus", "regressions"] {
            let from = workspace_root().join("fuzz").join(kept).join(target.name());
            for entry in std::fs::read_dir(&from).into_iter().flatten().flatten() {
                let name = format!("{kept}-{}", entry.file_name().to_string_lossy());
                std::fs::copy(entry.path(), dir.join(name))?;
                written += 1;
            }
        }
        counts.push((target, written));
    }
    Ok(counts)
}
