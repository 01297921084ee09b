//! Scenarios: what a run simulates, read from TOML and validated before anything runs.
//!
//! A scenario file is read into a plain [`ScenarioSpec`] (serde, unknown keys refused), which
//! becomes a [`Scenario`] only through `TryFrom<LocatedSpec>`: addresses parsed, counts and
//! shares checked, the rules file read (any `flow-setup` format, through
//! [`flow_setup::ruleset::RuleSet::load`]), the capture of a replay read and mapped. Every error names the file,
//! the key path (`vms.count`, `workload.mix[1].share`) and what is wrong, so a user never
//! meets a panic or a run that silently ignored a typo.
//!
//! Every key has a default, so an empty file is a valid scenario; the built-in default
//! scenario ([`DEFAULT_SCENARIO`], `scenarios/default.toml`) is what `snich compare` runs
//! without a file.
//!
//! The rules every switch gets are the administrator's filter rules (from `rules.file` or
//! `rules.inline`, priority at least 1) followed by one generated forwarding rule per VM and
//! external host, `priority=0,dl_dst=<mac>,actions=output:<port>`, so that every switch,
//! whatever its own forwarding mechanism, forwards by destination MAC the same way.
//!
//! ```
//! use sim_harness::scenario::Scenario;
//!
//! let s = Scenario::from_toml("seed = 7\npackets = 100\n[vms]\ncount = 2\n", None)?;
//! assert_eq!(s.seed, 7);
//! assert_eq!(s.topology.vms.len(), 2);
//! // Two VMs and the default four external hosts: six forwarding rules.
//! assert_eq!(s.rules.len(), 6);
//! let err = Scenario::from_toml("[vms]\ncount = 0\n", None).unwrap_err();
//! assert_eq!(err.to_string(), "<scenario>: vms.count: must be at least 1");
//! # Ok::<(), sim_harness::scenario::ScenarioError>(())
//! ```

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use flow_setup::rule::{Action, MatchBuilder, Rule};
use flow_setup::ruleset::{RuleSet, RulesFormat};
use nic_abi::key::MacAddr;
use nic_abi::regs::MAX_VM_QUEUES;
use nic_abi::time::SimDuration;
use nic_model::card::{CardConfig, InterVmPath};
use nic_model::flow_table::FlowTable;
use serde::{Deserialize, Serialize};

use crate::faults::{Faults, FaultsSpec};
use crate::host_cpu::{HostConfig, HostCpu};
use crate::profile::{Profile, ProfileError, ProfileOverrides};
use crate::switch::{
    CopyCompletion, ExternalNode, InterVmCopy, SwitchContext, SwitchKind, Topology, VmIndex,
    VmNode, UPLINK_PORT,
};
use crate::workload::{Workload, WorkloadError, WorkloadSpec};

pub use crate::scenario_path::ScenarioDocument;

/// The built-in default scenario (`scenarios/default.toml`).
pub const DEFAULT_SCENARIO: &str = include_str!("../../scenarios/default.toml");

/// Where the built-in paper scenarios say they come from: paths in them resolve under it,
/// against [`built_in_file`], never against the working directory.
pub const BUILT_IN_PAPER_DIR: &str = "built-in:scenarios/paper";

/// The paper's experiments (`scenarios/paper/*.toml`), built into the binary so that
/// `snich paper` runs from any working directory: (file name, TOML text), in file-name order.
pub const PAPER_SCENARIOS: &[(&str, &str)] = &[
    (
        "copy_modes.toml",
        include_str!("../../scenarios/paper/copy_modes.toml"),
    ),
    (
        "new_flow_rate.toml",
        include_str!("../../scenarios/paper/new_flow_rate.toml"),
    ),
    (
        "packet_size.toml",
        include_str!("../../scenarios/paper/packet_size.toml"),
    ),
    (
        "rules_acl1.toml",
        include_str!("../../scenarios/paper/rules_acl1.toml"),
    ),
    (
        "rules_acl1_trace.toml",
        include_str!("../../scenarios/paper/rules_acl1_trace.toml"),
    ),
    (
        "vms_inter_vm.toml",
        include_str!("../../scenarios/paper/vms_inter_vm.toml"),
    ),
    (
        "vms_vm_to_wire.toml",
        include_str!("../../scenarios/paper/vms_vm_to_wire.toml"),
    ),
    (
        "vms_wire_to_vm.toml",
        include_str!("../../scenarios/paper/vms_wire_to_vm.toml"),
    ),
];

/// Files the built-in paper scenarios refer to, by their path relative to `scenarios/paper/`.
const PAPER_FILES: &[(&str, &str)] = &[
    (
        "rules/acl1_10K",
        include_str!("../../scenarios/paper/rules/acl1_10K"),
    ),
    (
        "rules/acl1_10K_trace",
        include_str!("../../scenarios/paper/rules/acl1_10K_trace"),
    ),
];

/// The text of a file a built-in scenario refers to (`path` under [`BUILT_IN_PAPER_DIR`]);
/// `None` for any other path.
pub fn built_in_file(path: &Path) -> Option<&'static str> {
    let rel = path.strip_prefix(BUILT_IN_PAPER_DIR).ok()?;
    PAPER_FILES
        .iter()
        .find(|(name, _)| Path::new(name) == rel)
        .map(|(_, text)| *text)
}

/// The built-in paper scenarios as documents (each with its `[sweep]`), named
/// `built-in:scenarios/paper/<file>`.
pub fn paper_documents() -> Result<Vec<(PathBuf, ScenarioDocument)>, ScenarioError> {
    PAPER_SCENARIOS
        .iter()
        .map(|(name, text)| {
            let file = Path::new(BUILT_IN_PAPER_DIR).join(name);
            let doc = ScenarioDocument::from_toml(text, Some(&file))?;
            Ok((file, doc))
        })
        .collect()
}

/// What a scenario file says, before validation. Every key is optional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScenarioSpec {
    /// A short name for reports.
    pub name: Option<String>,
    /// What the scenario is for.
    pub description: Option<String>,
    /// The seed of every random choice of the run (workload and switches).
    pub seed: u64,
    /// Packets to offer (default 100,000 when `duration_us` is not given either).
    pub packets: Option<u64>,
    /// Simulated time to offer packets for, in microseconds (instead of `packets`).
    pub duration_us: Option<u64>,
    /// RFC 2544's learning phase: packets of the workload offered before measurement starts
    /// (the first this many of the stream). They count in no result; the measured packets
    /// (`packets` or `duration_us`) follow once the switch has finished with the last of
    /// them (see [`crate::warmup`]). Default 0: no warm-up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warmup_packets: Option<u64>,
    /// The switches `snich run` runs (`snich compare` runs all seven).
    pub switches: Vec<SwitchKind>,
    /// The host's cores, clock, memory and cost profile.
    pub host: HostSpec,
    /// Every `nic-model` card parameter (`CardConfig`'s keys), plus `inter_vm`
    /// (`copy-engine`, `cpu-copy` or `hairpin`) and `copy_completion` (`poll` or
    /// `interrupt`: how the host takes the copy engine's completions).
    pub card: toml::Table,
    /// The VMs.
    pub vms: VmsSpec,
    /// The hosts on the wire, behind the uplink.
    pub external_hosts: Vec<ExternalHostSpec>,
    /// The administrator's filter rules.
    pub rules: RulesSpec,
    /// The traffic.
    pub workload: WorkloadSpec,
    /// The sweep `snich sweep` and `snich paper` run when no `--vary` is given.
    pub sweep: Option<SweepSpec>,
    /// New values for numbers of the cost profile, by key path (`"ovs.upcall" = 20000`, or
    /// nested: `[profile.ovs]` `upcall = 20000`), in the unit the profile gives the key.
    #[serde(skip_serializing_if = "toml::Table::is_empty")]
    pub profile: toml::Table,
    /// Faults injected into the sNICh system during the run ([`crate::faults`]).
    #[serde(skip_serializing_if = "FaultsSpec::is_empty")]
    pub faults: FaultsSpec,
}

impl Default for ScenarioSpec {
    fn default() -> Self {
        ScenarioSpec {
            name: None,
            description: None,
            seed: 1,
            packets: None,
            duration_us: None,
            warmup_packets: None,
            switches: SwitchKind::ALL.to_vec(),
            host: HostSpec::default(),
            card: toml::Table::new(),
            vms: VmsSpec::default(),
            external_hosts: (1..=4u8)
                .map(|i| ExternalHostSpec {
                    mac: format!("02:00:00:00:ff:{i:02x}"),
                    ip: format!("192.0.2.{i}"),
                })
                .collect(),
            rules: RulesSpec::default(),
            workload: WorkloadSpec::default(),
            sweep: None,
            profile: toml::Table::new(),
            faults: FaultsSpec::default(),
        }
    }
}

/// The host section: `host_cpu::HostConfig` plus the cost profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HostSpec {
    /// Host cores: every switch's host software runs on them.
    pub cores: u16,
    /// Core clock, MHz (every switch's host work).
    pub clock_mhz: u32,
    /// Memory bandwidth, GB/s: every CPU copy and copy-engine transfer crosses it.
    pub memory_gbps: f64,
    /// The cost profile of every switch (a path relative to the scenario file); none: the
    /// built-in `profiles/default.toml`. The scenario's `[profile]` table overrides its
    /// numbers.
    pub profile: Option<PathBuf>,
}

impl Default for HostSpec {
    fn default() -> Self {
        let h = HostConfig::default();
        HostSpec {
            cores: h.cores,
            clock_mhz: h.clock_mhz,
            memory_gbps: h.memory_gbps,
            profile: None,
        }
    }
}

/// The VMs section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VmsSpec {
    /// How many VMs (1..=256: one card queue pair each, `nic_abi::regs::MAX_VM_QUEUES`).
    pub count: u16,
    /// VM 0's MAC; VM `i` has this plus `i`.
    pub mac_base: String,
    /// VM 0's IPv4 address; VM `i` has this plus `i`.
    pub ip_base: String,
    /// VLANs of the VMs' access ports: VM `i` is on `vlans[i % len]`; empty: untagged.
    pub vlans: Vec<u16>,
    /// Entries of each VM ring (a power of two, 2..=32768).
    pub queue_entries: u16,
}

impl Default for VmsSpec {
    fn default() -> Self {
        VmsSpec {
            count: 4,
            mac_base: "02:00:00:00:01:00".into(),
            ip_base: "10.0.0.1".into(),
            vlans: Vec::new(),
            queue_entries: 256,
        }
    }
}

/// One host on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalHostSpec {
    /// Its MAC address.
    pub mac: String,
    /// Its IPv4 address.
    pub ip: String,
}

/// The rules section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RulesSpec {
    /// A rules file in any `flow-setup` format (relative to the scenario file).
    pub file: Option<PathBuf>,
    /// Rules written in the scenario itself (instead of `file`).
    pub inline: Option<String>,
    /// The rules' format (`ofctl`, `classbench`, `ofrules`, `json`, `toml`); default detected.
    pub format: Option<String>,
    /// Use only the first this many filter rules (in file order), e.g. to sweep the rule
    /// count over one ClassBench set; default: all.
    pub count: Option<usize>,
    /// The action of rules whose format carries none (ClassBench, ofrules), in `ovs-ofctl`
    /// syntax: `drop` (default), `normal`, `output:1`, ...
    pub action: String,
}

impl Default for RulesSpec {
    fn default() -> Self {
        RulesSpec {
            file: None,
            inline: None,
            format: None,
            count: None,
            action: "drop".into(),
        }
    }
}

/// A sweep written in the scenario: the key it varies and the values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// The key path (`vms.count`, `workload.size.fixed`, `card.inter_vm`).
    pub key: String,
    /// Its values, one run per value and switch.
    pub values: Vec<toml::Value>,
}

/// A spec with where it came from (paths in it are relative to that file's directory).
#[derive(Debug, Clone)]
pub struct LocatedSpec {
    /// The spec.
    pub spec: ScenarioSpec,
    /// The file it was read from; `None`: built in or given as text.
    pub file: Option<PathBuf>,
}

/// When a run stops offering packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// After this many packets.
    Packets(u64),
    /// Packets offered before this simulated time.
    Duration(SimDuration),
}

/// A validated scenario: everything a run needs.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Its name (the `name` key, else the file stem, else `default`).
    pub name: String,
    /// The file it was read from.
    pub file: Option<PathBuf>,
    /// The spec as written (with defaults), for the report.
    pub spec: ScenarioSpec,
    /// The seed.
    pub seed: u64,
    /// When to stop offering packets.
    pub limit: Limit,
    /// Packets offered before measurement starts, counted in no result (`warmup_packets`).
    pub warmup_packets: u64,
    /// The switches `snich run` runs, in report order, each once.
    pub switches: Vec<SwitchKind>,
    /// The host.
    pub host: HostConfig,
    /// The cost profile, resolved against the scenario's directory.
    pub profile: Option<PathBuf>,
    /// The `[profile]` overrides (checked against the profile when the scenario is read).
    pub profile_overrides: ProfileOverrides,
    /// The card (its `inter_vm` path follows [`Scenario::inter_vm`]).
    pub card: CardConfig,
    /// The sNICh system's inter-VM copy mode.
    pub inter_vm: InterVmCopy,
    /// How the sNICh host takes its copy engine's completions.
    pub copy_completion: CopyCompletion,
    /// VMs and external hosts.
    pub topology: Topology,
    /// Filter rules first, then the generated forwarding rules.
    pub rules: Vec<Rule>,
    /// How many of `rules` are filter rules (the rest are forwarding rules).
    pub filter_rules: usize,
    /// The traffic.
    pub workload: Workload,
    /// Faults injected into the sNICh system.
    pub faults: Faults,
}

/// A scenario that cannot be used. Messages: `FILE[:LINE:COLUMN]: KEY: what`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{file}: cannot read: {what}")]
    Io {
        /// The file.
        file: String,
        /// The I/O error.
        what: String,
    },
    /// The text is not TOML.
    #[error("{file}:{line}:{column}: not valid TOML: {what}")]
    Syntax {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser found.
        what: String,
    },
    /// A key has a bad value (or is unknown).
    #[error("{file}{place}: {key}: {what}")]
    Key {
        /// The file.
        file: String,
        /// `:LINE:COLUMN` when known, else empty.
        place: String,
        /// The key path.
        key: String,
        /// What is wrong.
        what: String,
    },
    /// The rules file (or inline rules) does not parse.
    #[error("{file}: rules: {errors} error(s) in the rules:\n{first}")]
    Rules {
        /// The scenario file.
        file: String,
        /// How many errors.
        errors: usize,
        /// The errors, one per line (at most ten), each with its place.
        first: String,
    },
}

/// Packets a generated workload may offer in one run (hours of the fastest simulation): a
/// bound that turns a typo in `packets` or a rate into an error, not a hang.
const MAX_PACKETS: f64 = 1e10;

/// The name errors use for a scenario without a file.
const NO_FILE: &str = "<scenario>";

/// The name errors use for `file`.
pub(crate) fn file_name(file: Option<&Path>) -> String {
    file.map_or_else(|| NO_FILE.to_string(), |f| f.display().to_string())
}

/// 1-based line and column of byte `offset` in `text`.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |i| before.len() - i - 1)
        + 1;
    (line, column)
}

impl ScenarioSpec {
    /// Parses TOML `text` read from `file` (named in errors) into a spec.
    pub fn from_toml(text: &str, file: Option<&Path>) -> Result<ScenarioSpec, ScenarioError> {
        let name = file_name(file);
        let de = toml::Deserializer::parse(text).map_err(|e| {
            let (line, column) = line_column(text, e.span().map_or(0, |s| s.start));
            ScenarioError::Syntax {
                file: name.clone(),
                line,
                column,
                what: e.message().trim().to_string(),
            }
        })?;
        serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            let place = inner.span().map_or_else(String::new, |s| {
                let (l, c) = line_column(text, s.start);
                format!(":{l}:{c}")
            });
            ScenarioError::Key {
                file: name.clone(),
                place,
                key: if key == "." {
                    "(top level)".into()
                } else {
                    key
                },
                what: inner.message().trim().to_string(),
            }
        })
    }
}

/// The error of `key` in `file`: `what` is wrong.
pub(crate) fn key_err(
    file: &str,
    key: impl Into<String>,
    what: impl Into<String>,
) -> ScenarioError {
    ScenarioError::Key {
        file: file.to_string(),
        place: String::new(),
        key: key.into(),
        what: what.into(),
    }
}

impl Scenario {
    /// Reads and validates the scenario file at `path`.
    pub fn from_file(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError::Io {
            file: path.display().to_string(),
            what: e.to_string(),
        })?;
        Scenario::from_toml(&text, Some(path))
    }

    /// Validates the scenario in TOML `text`, read from `file` (paths in it are relative to
    /// the file's directory; without a file, to the working directory).
    pub fn from_toml(text: &str, file: Option<&Path>) -> Result<Scenario, ScenarioError> {
        let spec = ScenarioSpec::from_toml(text, file)?;
        Scenario::try_from(LocatedSpec {
            spec,
            file: file.map(Path::to_path_buf),
        })
    }

    /// The built-in default scenario.
    pub fn builtin_default() -> Result<Scenario, ScenarioError> {
        Scenario::from_toml(DEFAULT_SCENARIO, None)
    }

    /// The context every switch of a run is built from.
    pub fn context(&self) -> SwitchContext {
        SwitchContext {
            topology: self.topology.clone(),
            rules: self.rules.clone(),
            host: self.host,
            card: self.card.clone(),
            inter_vm: self.inter_vm,
            copy_completion: self.copy_completion,
            profile: self.profile.clone(),
            profile_overrides: self.profile_overrides.clone(),
            seed: self.seed,
            faults: self.faults.clone(),
            backlog_checkpoint: None,
        }
    }

    /// The scenario as the report records it: the spec with every default filled in, the
    /// card with every parameter.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(&self.spec).unwrap_or(serde_json::Value::Null);
        let mut card = serde_json::to_value(&self.card).unwrap_or(serde_json::Value::Null);
        if let Some(c) = card.as_object_mut() {
            c.insert(
                "inter_vm".into(),
                serde_json::Value::String(self.inter_vm.name().into()),
            );
            c.insert(
                "copy_completion".into(),
                serde_json::Value::String(self.copy_completion.name().into()),
            );
        }
        if let Some(o) = v.as_object_mut() {
            o.insert("card".into(), card);
            o.insert("name".into(), serde_json::Value::String(self.name.clone()));
        }
        v
    }
}

fn parse_mac(file: &str, key: &str, text: &str) -> Result<MacAddr, ScenarioError> {
    let mac = MacAddr::from_str(text)
        .map_err(|_| key_err(file, key, format!("`{text}` is not a MAC address")))?;
    if mac.0[0] & 1 != 0 {
        return Err(key_err(
            file,
            key,
            format!("{mac} is a multicast address; a host needs a unicast one"),
        ));
    }
    Ok(mac)
}

fn parse_ip(file: &str, key: &str, text: &str) -> Result<u32, ScenarioError> {
    Ipv4Addr::from_str(text)
        .map(u32::from)
        .map_err(|_| key_err(file, key, format!("`{text}` is not an IPv4 address")))
}

fn mac_plus(base: MacAddr, i: u16) -> Option<MacAddr> {
    let mut b = [0u8; 8];
    b[2..].copy_from_slice(&base.0);
    let v = u64::from_be_bytes(b).checked_add(u64::from(i))?;
    if v >= 1 << 48 {
        return None;
    }
    let bytes = v.to_be_bytes();
    let mut out = [0u8; 6];
    out.copy_from_slice(&bytes[2..]);
    Some(MacAddr(out))
}

fn topology(spec: &ScenarioSpec, file: &str) -> Result<Topology, ScenarioError> {
    let v = &spec.vms;
    if v.count == 0 {
        return Err(key_err(file, "vms.count", "must be at least 1"));
    }
    if v.count > MAX_VM_QUEUES {
        return Err(key_err(
            file,
            "vms.count",
            format!(
                "{} is more than the {MAX_VM_QUEUES} VMs the card has queue pairs for \
                 (each VM needs its own)",
                v.count
            ),
        ));
    }
    if !v.queue_entries.is_power_of_two() || v.queue_entries < 2 {
        return Err(key_err(
            file,
            "vms.queue_entries",
            format!("{} is not a power of two of at least 2", v.queue_entries),
        ));
    }
    for (i, &vlan) in v.vlans.iter().enumerate() {
        if !(1..=4094).contains(&vlan) {
            return Err(key_err(
                file,
                format!("vms.vlans[{i}]"),
                format!("{vlan} is not a VLAN id (1..=4094)"),
            ));
        }
    }
    let mac_base = parse_mac(file, "vms.mac_base", &v.mac_base)?;
    let ip_base = parse_ip(file, "vms.ip_base", &v.ip_base)?;
    let mut vms = Vec::with_capacity(usize::from(v.count));
    for i in 0..v.count {
        let mac = mac_plus(mac_base, i)
            .filter(|m| m.0[0] & 1 == 0)
            .ok_or_else(|| {
                key_err(
                    file,
                    "vms.mac_base",
                    format!("{mac_base} plus {i} leaves the unicast addresses"),
                )
            })?;
        let ipv4 = ip_base.checked_add(u32::from(i)).ok_or_else(|| {
            key_err(
                file,
                "vms.ip_base",
                format!("{} plus {i} overflows", v.ip_base),
            )
        })?;
        let vlan = (!v.vlans.is_empty()).then(|| v.vlans[usize::from(i) % v.vlans.len()]);
        vms.push(VmNode {
            mac,
            ipv4,
            vlan,
            queue_entries: v.queue_entries,
        });
    }
    let mut external_hosts = Vec::new();
    for (i, h) in spec.external_hosts.iter().enumerate() {
        let mac = parse_mac(file, &format!("external_hosts[{i}].mac"), &h.mac)?;
        let ipv4 = parse_ip(file, &format!("external_hosts[{i}].ip"), &h.ip)?;
        external_hosts.push(ExternalNode { mac, ipv4 });
    }
    if external_hosts.len() > 1024 {
        return Err(key_err(
            file,
            "external_hosts",
            "more than the 1024 external hosts a scenario may have",
        ));
    }
    // Every address names one endpoint, or forwarding by MAC would be ambiguous.
    let mut seen = std::collections::BTreeMap::new();
    let names = vms
        .iter()
        .enumerate()
        .map(|(i, n)| (n.mac, format!("VM {i} (from vms.mac_base)")))
        .chain(
            external_hosts
                .iter()
                .enumerate()
                .map(|(i, n)| (n.mac, format!("external_hosts[{i}].mac"))),
        );
    for (mac, name) in names {
        if let Some(first) = seen.insert(mac, name.clone()) {
            return Err(key_err(
                file,
                name,
                format!("{mac} is already the address of {first}"),
            ));
        }
    }
    Ok(Topology {
        vms,
        external_hosts,
    })
}

/// The card's parameters, and the two keys of `[card]` that are the host's side of the
/// inter-VM path.
type CardSetup = (CardConfig, InterVmCopy, CopyCompletion);

fn card(spec: &ScenarioSpec, file: &str) -> Result<CardSetup, ScenarioError> {
    let mut table = spec.card.clone();
    let inter_vm = match table.remove("inter_vm") {
        None => InterVmCopy::default(),
        Some(v) => InterVmCopy::deserialize(v)
            .map_err(|e| key_err(file, "card.inter_vm", e.message().trim()))?,
    };
    let copy_completion = match table.remove("copy_completion") {
        None => CopyCompletion::default(),
        Some(v) => CopyCompletion::deserialize(v)
            .map_err(|e| key_err(file, "card.copy_completion", e.message().trim()))?,
    };
    let mut card: CardConfig = serde_path_to_error::deserialize(table).map_err(|e| {
        let key = e.path().to_string();
        key_err(
            file,
            if key == "." {
                "card".to_string()
            } else {
                format!("card.{key}")
            },
            e.into_inner().message().trim(),
        )
    })?;
    if card.macs.is_empty() {
        return Err(key_err(
            file,
            "card.macs",
            "the card needs at least one MAC port (the uplink)",
        ));
    }
    if !card.table.buckets.is_power_of_two() {
        return Err(key_err(
            file,
            "card.table.buckets",
            format!("{} is not a power of two", card.table.buckets),
        ));
    }
    card.inter_vm = match inter_vm {
        InterVmCopy::Hairpin => InterVmPath::Hairpin,
        InterVmCopy::CopyEngine | InterVmCopy::CpuCopy => InterVmPath::CopyEngine,
    };
    Ok((card, inter_vm, copy_completion))
}

impl Scenario {
    /// Refuses to run `kinds` on this scenario when one of them cannot be configured for its
    /// topology and card (today: the sriov-veb switch's MAC/VLAN table must fit the card's
    /// table). Validation already checks the scenario's own `switches`; `compare` runs all
    /// four whatever `switches` says, and calls this first.
    pub fn check_switches(&self, kinds: &[SwitchKind]) -> Result<(), ScenarioError> {
        if kinds.contains(&SwitchKind::SriovVeb) && !self.switches.contains(&SwitchKind::SriovVeb) {
            veb_table_fits(&self.topology, &self.card, &file_name(self.file.as_deref()))?;
        }
        Ok(())
    }
}

/// Refuses a topology whose SR-IOV VEB MAC/VLAN table does not fit the card's table: the
/// entries are placed, in the order the VEB's bring-up writes them, in a table of the card's
/// geometry and kick bound (the placement is deterministic, so this is the bring-up's own
/// outcome, known before any switch runs).
fn veb_table_fits(topology: &Topology, card: &CardConfig, file: &str) -> Result<(), ScenarioError> {
    let keys = crate::baselines::sriov_veb::mac_vlan_keys(topology);
    let geometry = nic_abi::table::TableGeometry::new(card.table.buckets)
        .map_err(|e| key_err(file, "card.table.buckets", e.to_string()))?;
    let mut table: FlowTable<()> = FlowTable::new(geometry, card.table.max_kicks);
    for (placed, key) in keys.iter().enumerate() {
        if table.insert(key, ()).is_err() {
            return Err(key_err(
                file,
                "vms.count",
                format!(
                    "{} VMs and {} external hosts need {} MAC/VLAN entries in the sriov-veb \
                     switch (one per ingress port, VLAN and destination MAC), and the card's \
                     table ({} buckets x {} slots, {} kicks) holds only the first {placed}: \
                     use fewer VMs, more card.table.buckets, or leave sriov-veb out of \
                     `switches`",
                    topology.vms.len(),
                    topology.external_hosts.len(),
                    keys.len(),
                    card.table.buckets,
                    nic_abi::table::SLOTS_PER_BUCKET,
                    card.table.max_kicks,
                ),
            ));
        }
    }
    Ok(())
}

fn host(spec: &ScenarioSpec, file: &str) -> Result<HostConfig, ScenarioError> {
    let h = &spec.host;
    let config = HostConfig {
        cores: h.cores,
        clock_mhz: h.clock_mhz,
        memory_gbps: h.memory_gbps,
    };
    if h.cores == 0 {
        return Err(key_err(file, "host.cores", "must be at least 1"));
    }
    if h.clock_mhz == 0 {
        return Err(key_err(file, "host.clock_mhz", "must be at least 1"));
    }
    if !h.memory_gbps.is_finite() || h.memory_gbps <= 0.0 {
        return Err(key_err(
            file,
            "host.memory_gbps",
            "must be a positive number",
        ));
    }
    // The CPU model agrees (it is what every switch builds).
    HostCpu::new(&config).map_err(|e| key_err(file, "host", e.to_string()))?;
    Ok(config)
}

fn resolve(base: Option<&Path>, p: &Path) -> PathBuf {
    match base.and_then(Path::parent) {
        Some(dir) if p.is_relative() => dir.join(p),
        _ => p.to_path_buf(),
    }
}

/// The filter rules (with `rules.action` given to formats that carry none), then one
/// forwarding rule per VM and external host.
fn rules(
    spec: &ScenarioSpec,
    file: Option<&Path>,
    name: &str,
    topology: &Topology,
) -> Result<(Vec<Rule>, usize), ScenarioError> {
    let r = &spec.rules;
    let format = r
        .format
        .as_deref()
        .map(|f| {
            f.parse::<RulesFormat>()
                .map_err(|e| key_err(name, "rules.format", e.to_string()))
        })
        .transpose()?;
    let action = flow_setup::ofctl::parse_rule(&format!("priority=1,actions={}", r.action))
        .map_err(|e| {
            key_err(
                name,
                "rules.action",
                format!("`{}` is not an action: {}", r.action, e.kind),
            )
        })?
        .actions;
    let loaded = match (&r.file, &r.inline) {
        (Some(_), Some(_)) => {
            return Err(key_err(name, "rules", "give `file` or `inline`, not both"))
        }
        (Some(f), None) => {
            let path = resolve(file, f);
            match built_in_file(&path) {
                Some(text) => Some(RuleSet::load_text(&path, text, format)),
                None => Some(
                    RuleSet::load(&path, format)
                        .map_err(|e| key_err(name, "rules.file", e.to_string()))?,
                ),
            }
        }
        (None, Some(text)) => {
            let origin = PathBuf::from(format!("{name} rules.inline"));
            Some(RuleSet::load_text(&origin, text, format))
        }
        (None, None) => None,
    };
    let mut out = Vec::new();
    if let Some(loaded) = loaded {
        if !loaded.errors.is_empty() {
            return Err(ScenarioError::Rules {
                file: name.to_string(),
                errors: loaded.errors.len(),
                first: loaded
                    .errors
                    .iter()
                    .take(10)
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n"),
            });
        }
        let carries_no_actions = loaded.format.carries_no_actions();
        for (i, mut rule) in loaded.rules.into_iter().enumerate() {
            if rule.priority == 0 {
                return Err(key_err(
                    name,
                    "rules",
                    format!(
                        "rule {} has priority 0, the generated forwarding rules' priority; \
                         filter rules need at least 1",
                        i + 1
                    ),
                ));
            }
            if carries_no_actions {
                rule.actions.clone_from(&action);
            }
            out.push(rule);
        }
    }
    if let Some(n) = r.count {
        if n > out.len() {
            return Err(key_err(
                name,
                "rules.count",
                format!("{n} is more than the {} filter rules given", out.len()),
            ));
        }
        out.truncate(n);
    }
    let filter_rules = out.len();
    let forwarding = topology
        .vms
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let vm = VmIndex(u16::try_from(i).unwrap_or(u16::MAX));
            (v.mac, Topology::vm_port(vm))
        })
        .chain(topology.external_hosts.iter().map(|h| (h.mac, UPLINK_PORT)));
    for (i, (mac, port)) in forwarding.enumerate() {
        let pattern = MatchBuilder::new()
            .dl_dst(mac)
            .build()
            .map_err(|e| key_err(name, "vms", format!("forwarding rule for {mac}: {e}")))?;
        // Cookies of generated rules sit above any 32-bit filter-rule cookie.
        out.push(
            Rule::new(0, pattern, vec![Action::Output(port)]).with_cookie((1 << 32) + i as u64),
        );
    }
    Ok((out, filter_rules))
}

impl TryFrom<LocatedSpec> for Scenario {
    type Error = ScenarioError;

    fn try_from(located: LocatedSpec) -> Result<Scenario, ScenarioError> {
        let LocatedSpec { spec, file } = located;
        let name_of_file = file_name(file.as_deref());
        let f = name_of_file.as_str();
        let limit = match (spec.packets, spec.duration_us) {
            (Some(_), Some(_)) => {
                return Err(key_err(
                    f,
                    "packets",
                    "give `packets` or `duration_us`, not both",
                ))
            }
            (Some(0), None) => return Err(key_err(f, "packets", "must be at least 1")),
            (Some(n), None) => Limit::Packets(n),
            (None, Some(0)) => return Err(key_err(f, "duration_us", "must be at least 1")),
            (None, Some(us)) => Limit::Duration(SimDuration::from_us(us)),
            (None, None) => Limit::Packets(100_000),
        };
        let warmup_packets = spec.warmup_packets.unwrap_or(0);
        if warmup_packets as f64 > MAX_PACKETS {
            return Err(key_err(
                f,
                "warmup_packets",
                format!(
                    "{warmup_packets} is more than the {MAX_PACKETS:.0e} packets a run may offer"
                ),
            ));
        }
        if spec.switches.is_empty() {
            return Err(key_err(f, "switches", "name at least one switch"));
        }
        let mut switches = Vec::new();
        for (i, s) in spec.switches.iter().enumerate() {
            if switches.contains(s) {
                return Err(key_err(
                    f,
                    format!("switches[{i}]"),
                    format!("`{}` is listed twice", s.name()),
                ));
            }
            switches.push(*s);
        }
        let host = host(&spec, f)?;
        let profile = spec
            .host
            .profile
            .as_deref()
            .map(|p| resolve(file.as_deref(), p));
        if let Some(p) = &profile {
            if !p.is_file() {
                return Err(key_err(
                    f,
                    "host.profile",
                    format!("{}: no such file", p.display()),
                ));
            }
        }
        // Overrides are checked against the profile now; the profile itself is checked when a
        // switch loads it (its errors are that switch's).
        let profile_overrides = ProfileOverrides::from_table(&spec.profile)
            .and_then(|o| {
                if !o.is_empty() {
                    Profile::for_context(profile.as_ref(), &o)?;
                }
                Ok(o)
            })
            .map_err(|e| match e {
                ProfileError::Override { key, what, .. } => {
                    key_err(f, format!("profile.{key}"), what)
                }
                other => key_err(f, "profile", other.to_string()),
            })?;
        let (card, inter_vm, copy_completion) = card(&spec, f)?;
        let topology = topology(&spec, f)?;
        let faults = Faults::from_spec(&spec.faults, topology.vms.len())
            .map_err(|e| key_err(f, format!("faults.{}", e.key), e.what))?;
        let (rules, filter_rules) = rules(&spec, file.as_deref(), f, &topology)?;
        if switches.contains(&SwitchKind::SriovVeb) {
            veb_table_fits(&topology, &card, f)?;
        }
        let uplink = card.macs[0].clone();
        let workload = Workload::from_spec(&spec.workload, &topology, &uplink, &|p: &Path| {
            resolve(file.as_deref(), p)
        })
        .map_err(|e| match e {
            WorkloadError::Invalid { key, what } => key_err(f, format!("workload.{key}"), what),
        })?;
        if let Some(pps) = workload.mean_pps() {
            let (key, packets) = match limit {
                Limit::Packets(n) => ("packets", n as f64),
                Limit::Duration(d) => ("duration_us", pps * d.as_secs_f64()),
            };
            if packets > MAX_PACKETS {
                return Err(key_err(
                    f,
                    key,
                    format!(
                        "the run would offer about {packets:.3e} packets, more than the \
                         {MAX_PACKETS:.0e} a run may offer"
                    ),
                ));
            }
        }
        let name = spec
            .name
            .clone()
            .or_else(|| {
                file.as_deref()
                    .and_then(Path::file_stem)
                    .map(|s| s.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| "default".into());
        Ok(Scenario {
            name,
            file,
            seed: spec.seed,
            limit,
            warmup_packets,
            switches,
            host,
            profile,
            profile_overrides,
            card,
            inter_vm,
            copy_completion,
            topology,
            rules,
            filter_rules,
            workload,
            faults,
            spec,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_a_valid_scenario() {
        let s = Scenario::from_toml("", None).expect("valid");
        assert_eq!(s.switches, SwitchKind::ALL.to_vec());
        assert_eq!(s.topology.vms.len(), 4);
        assert_eq!(s.filter_rules, 0);
        assert_eq!(s.limit, Limit::Packets(100_000));
    }

    #[test]
    fn the_builtin_default_is_valid() {
        let s = Scenario::builtin_default().expect("valid");
        assert_eq!(s.switches.len(), 7);
    }

    #[test]
    fn unknown_keys_name_their_path_and_place() {
        let e = Scenario::from_toml("[vms]\ncount = 2\ncolour = 3\n", None).unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with(
                "<scenario>:3:1: vms.colour: unknown field `colour`, expected one of `count`"
            ),
            "{text}"
        );
    }

    #[test]
    fn forwarding_rules_sit_below_filter_rules() {
        let s = Scenario::from_toml(
            "[rules]\ninline = \"priority=5,tcp,tp_dst=23,actions=drop\"\n[vms]\ncount = 2\n",
            None,
        )
        .expect("valid");
        assert_eq!(s.filter_rules, 1);
        assert_eq!(s.rules[0].priority, 5);
        assert!(s.rules[1..].iter().all(|r| r.priority == 0));
        assert_eq!(
            flow_setup::ofctl::format_rule(&s.rules[1]),
            "priority=0,cookie=0x100000000,dl_dst=02:00:00:00:01:00,actions=output:101"
        );
        assert_eq!(
            s.rules.last().map(|r| r.actions.clone()),
            Some(vec![Action::Output(UPLINK_PORT)])
        );
    }
}
