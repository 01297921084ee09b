//! `snich calibrate`: the cost profile against real switches measured on a machine.
//!
//! A measurement file (schema `real_switches/v1`, written by
//! `scripts/measure_real_switches.py`; `tests/data/real_switches/` holds the committed ones)
//! has one record per measured configuration: the real Linux bridge with no nftables, with
//! N linear nftables rules or an N-element nftables set, and Open vSwitch's userspace datapath
//! with AF_PACKET ("system") or AF_XDP ports and N OpenFlow rules, each at 1 or more flows of
//! 64-byte UDP, repeated (`runs`). Every configuration is rebuilt as a model run: two VMs on a
//! one-core driver domain (the measured veth pairs are the VMs' virtual NICs, see
//! `profiles/default.toml`), the same rules (never-matching rules on source addresses
//! 10.99.x.y, then the measured final rule), the same number of flows, offered above capacity.
//!
//! **What is compared.** The model gives a switch core to the switch alone and drops what
//! overflows its ingress queue before spending any CPU on it. A measurement's comparable
//! figure is therefore the switch's *capacity on a core of its own*: per repetition,
//! forwarded pps over the share of the core the switch spent on forwarded packets,
//!
//! ```text
//! capacity = forwarded / (busy - napi x (received - forwarded) / received)
//! ```
//!
//! `busy` is the switch's own CPU time (NAPI thread + ovs-vswitchd + softirq,
//! `switch_threads_cpu_pct`, when the file has it: the measuring machine may be shared) or the
//! switch core's busy time; the subtracted term is what the kernel spent receiving the packets
//! Open vSwitch then dropped at its full socket, at the ingress NAPI thread's measured CPU time
//! per received packet (`napi_thread_cpu_pct`; without it, `vnic.from_vm` per packet). OVS is
//! measured in overload, so its cost is its CPU time per packet *received*, not per packet
//! forwarded. For the bridge, received = forwarded and this is forwarded pps over the busy
//! fraction. Rows are model runs offered at least 10 times each flow, so that what depends on
//! the keys seen (an nftables set's lookups, [`crate::profile::BridgeCosts::set_lookup`]) is
//! past its ramp. Switch-core ns per packet is
//! 1e9 / capacity. The error bound of a row is its own repetitions' spread (min and max of the
//! per-repetition capacities around the median), at least [`MIN_BOUND`]: a predicted row passes
//! inside it.
//!
//! **Fitting** (`--fit`): the profile's numbers the measurements determine are derived from
//! named anchor rows (see [`Anchor`]), each by two model runs (costs are linear in every
//! number: the number is moved until the model's ns per packet on the anchor equals the
//! measured). The fitted profile's sources name the measurement file, the anchor row and the
//! measured figure. Every other row is predicted. Without `--fit` every row is predicted by
//! the profile as it is.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use flow_setup::rule::{Action, MatchBuilder, Rule};
use nic_abi::time::SimTime;
use serde::{Deserialize, Serialize};

use crate::baselines::linux_bridge::{LinuxBridge, NetfilterForm};
use crate::baselines::ovs::{OpenVswitch, OvsVariant};
use crate::baselines::testing::{context, udp_frame};
use crate::profile::{Profile, ProfileError, ProfileOverrides, DEFAULT_PROFILE_TOML};
use crate::switch::{Endpoint, OfferedPacket, SwitchUnderTest, Topology, VmIndex};

/// The schema the measurement files carry in `meta.schema`.
pub const SCHEMA: &str = "real_switches/v1";

/// The smallest error bound of a predicted row (15%): where the repetitions agree more
/// closely than this, run-to-run effects they did not sample (another day, another boot)
/// still move the figure by this much (the issue's two days of the same machine differed by
/// 15-26% at some rule counts).
pub const MIN_BOUND: f64 = 0.15;

/// Packets offered per model run (10 ms at 2 Mpps).
const MODEL_PACKETS: u64 = 20_000;
/// Offered rate of a model run, above every measured configuration's capacity.
const MODEL_GAP_PS: u64 = 500_000;

/// Why a calibration could not be done.
#[derive(Debug, thiserror::Error)]
pub enum CalibrateError {
    /// The measurement file could not be read.
    #[error("{file}: cannot read: {what}")]
    Io {
        /// The file.
        file: String,
        /// The OS error.
        what: String,
    },
    /// The file is not JSON of the expected shape (the message names the place).
    #[error("{file}: {what}")]
    Parse {
        /// The file.
        file: String,
        /// What is wrong, with its JSON path.
        what: String,
    },
    /// A record holds something the model cannot rebuild or a figure out of range.
    #[error("{file}: records[{index}] ({label}): {what}")]
    Record {
        /// The file.
        file: String,
        /// The record's index.
        index: usize,
        /// The record's configuration.
        label: String,
        /// What is wrong.
        what: String,
    },
    /// The profile could not be read.
    #[error(transparent)]
    Profile(#[from] ProfileError),
    /// A model run failed.
    #[error("model run of {label}: {what}")]
    Model {
        /// The configuration.
        label: String,
        /// The switch's error.
        what: String,
    },
    /// A fit could not be made (its anchor row is missing or does not exercise the number).
    #[error("fit of {key}: {what}")]
    Fit {
        /// The profile key.
        key: String,
        /// What is wrong.
        what: String,
    },
    /// The fitted profile could not be written.
    #[error("{file}: cannot write: {what}")]
    Write {
        /// The file.
        file: String,
        /// The OS error.
        what: String,
    },
}

// ---------------------------------------------------------------------------------------
// The measurement file.

#[derive(Debug, Deserialize)]
struct FileSpec {
    meta: MetaSpec,
    records: Vec<RecordSpec>,
}

#[derive(Debug, Deserialize)]
struct MetaSpec {
    schema: String,
    #[serde(default)]
    date: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RecordSpec {
    switch: String,
    ports: String,
    rule_kind: String,
    rules: u64,
    flows: u64,
    #[serde(default)]
    set_key: Option<String>,
    runs: Vec<RunSpec>,
}

#[derive(Debug, Deserialize)]
struct RunSpec {
    forwarded_pps: f64,
    switch_rx_pps: f64,
    switch_core_busy_pct: f64,
    #[serde(default)]
    switch_threads_cpu_pct: Option<f64>,
    #[serde(default)]
    napi_thread_cpu_pct: Option<f64>,
}

/// The measured switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MeasuredSwitch {
    /// No switch: packets received into the switch namespace and dropped (the veth receive
    /// cost alone).
    None,
    /// The Linux bridge.
    LinuxBridge,
    /// Open vSwitch's userspace datapath with AF_PACKET ("system") ports.
    OvsAfPacket,
    /// Open vSwitch's userspace datapath with AF_XDP ports (non-PMD).
    OvsAfXdp,
}

/// How the measured rules were written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleForm {
    /// No rules (for Open vSwitch: the NORMAL action alone).
    None,
    /// nftables rules one after another.
    Linear,
    /// One nftables set holding the rules.
    Set,
    /// OpenFlow rules.
    OpenFlow,
}

/// The key of a measured nftables set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SetKey {
    /// The source address (every flow of the measured traffic looks up one key).
    Saddr,
    /// Source address . UDP source port, concatenated (each flow its own key).
    SaddrSport,
}

/// One measured configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Configuration {
    /// The switch.
    pub switch: MeasuredSwitch,
    /// The rules' form.
    pub form: RuleForm,
    /// The set's key (sets only; `Saddr` otherwise).
    pub set_key: SetKey,
    /// Never-matching rules (or set elements) before the final rule.
    pub rules: u32,
    /// Flows (UDP source ports) of the traffic.
    pub flows: u16,
}

impl Configuration {
    /// What a set's lookups touch: its elements or the distinct keys of the traffic (the
    /// flows with a concatenated key, one source address otherwise), the fewer.
    pub fn set_touched(&self) -> u32 {
        let keys = match self.set_key {
            SetKey::SaddrSport => u32::from(self.flows),
            SetKey::Saddr => 1,
        };
        self.rules.min(keys)
    }

    /// `linux-bridge linear/1000 flows=1`.
    pub fn label(&self) -> String {
        let switch = match self.switch {
            MeasuredSwitch::None => "none",
            MeasuredSwitch::LinuxBridge => "linux-bridge",
            MeasuredSwitch::OvsAfPacket => "ovs-afpacket",
            MeasuredSwitch::OvsAfXdp => "ovs-afxdp",
        };
        let form = match self.form {
            RuleForm::None => "none",
            RuleForm::Linear => "linear",
            RuleForm::Set => "set",
            RuleForm::OpenFlow => "openflow",
        };
        let key = match (self.form, self.set_key) {
            (RuleForm::Set, SetKey::SaddrSport) => "(saddr.sport)",
            _ => "",
        };
        format!("{switch} {form}{key}/{} flows={}", self.rules, self.flows)
    }
}

/// Median, least and greatest of a figure over a record's repetitions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    /// Median.
    pub median: f64,
    /// Least.
    pub min: f64,
    /// Greatest.
    pub max: f64,
}

impl Spread {
    fn of(values: &[f64]) -> Option<Spread> {
        let mut v: Vec<f64> = values.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = match n {
            0 => return None,
            _ if n % 2 == 1 => v[n / 2],
            _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        };
        Some(Spread {
            median,
            min: v[0],
            max: v[n - 1],
        })
    }

    /// The larger relative distance of min or max from the median.
    pub fn relative(&self) -> f64 {
        if self.median <= 0.0 {
            return 0.0;
        }
        (self.max / self.median - 1.0).max(1.0 - self.min / self.median)
    }
}

/// One repetition's figures.
#[derive(Debug, Clone, Copy, PartialEq)]
struct RunSample {
    forwarded_pps: f64,
    received_pps: f64,
    busy: f64,
    /// The ingress NAPI thread's CPU share (the kernel's receive of every received packet).
    receive: Option<f64>,
}

/// One measured configuration with its repetitions.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    /// Index in the file's `records`.
    pub index: usize,
    /// What was measured.
    pub config: Configuration,
    runs: Vec<RunSample>,
}

/// A measurement file, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct MeasurementFile {
    /// The file's path as given.
    pub file: String,
    /// `meta.date`.
    pub date: Option<String>,
    /// The records, in file order.
    pub measurements: Vec<Measurement>,
}

impl MeasurementFile {
    /// Reads and validates a measurement file.
    pub fn load(path: &Path) -> Result<MeasurementFile, CalibrateError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| CalibrateError::Io {
            file: file.clone(),
            what: e.to_string(),
        })?;
        MeasurementFile::parse(&text, &file)
    }

    /// Validates a measurement file's text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<MeasurementFile, CalibrateError> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let spec: FileSpec =
            serde_path_to_error::deserialize(de).map_err(|e| CalibrateError::Parse {
                file: file.to_string(),
                what: if e.inner().is_syntax() || e.inner().is_eof() {
                    format!("not a JSON measurement file: {}", e.inner())
                } else {
                    format!("{}: {}", e.path(), e.inner())
                },
            })?;
        if spec.meta.schema != SCHEMA {
            return Err(CalibrateError::Parse {
                file: file.to_string(),
                what: format!("meta.schema is {:?}, not {SCHEMA:?}", spec.meta.schema),
            });
        }
        let measurements = spec
            .records
            .iter()
            .enumerate()
            .map(|(index, r)| measurement(file, index, r))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(MeasurementFile {
            file: file.to_string(),
            date: spec.meta.date,
            measurements,
        })
    }
}

fn measurement(file: &str, index: usize, r: &RecordSpec) -> Result<Measurement, CalibrateError> {
    let label = format!(
        "{} {} {}/{} flows={}",
        r.switch, r.ports, r.rule_kind, r.rules, r.flows
    );
    let err = |what: String| CalibrateError::Record {
        file: file.to_string(),
        index,
        label: label.clone(),
        what,
    };
    let switch = match (r.switch.as_str(), r.ports.as_str()) {
        ("none", _) => MeasuredSwitch::None,
        ("linux-bridge", _) => MeasuredSwitch::LinuxBridge,
        ("ovs-netdev", "system") => MeasuredSwitch::OvsAfPacket,
        ("ovs-netdev", "afxdp" | "afxdp-nonpmd") => MeasuredSwitch::OvsAfXdp,
        (s, p) => return Err(err(format!("unknown switch {s:?} with ports {p:?}"))),
    };
    let form = match (switch, r.rule_kind.as_str()) {
        (_, "none") => RuleForm::None,
        (MeasuredSwitch::LinuxBridge, "linear") => RuleForm::Linear,
        (MeasuredSwitch::LinuxBridge, "set") => RuleForm::Set,
        (MeasuredSwitch::OvsAfPacket | MeasuredSwitch::OvsAfXdp, "openflow") => RuleForm::OpenFlow,
        (_, k) => return Err(err(format!("rule_kind {k:?} does not fit the switch"))),
    };
    let rules = u32::try_from(r.rules)
        .ok()
        .filter(|n| *n <= MAX_RULES)
        .ok_or_else(|| err(format!("rules {} above {MAX_RULES}", r.rules)))?;
    let set_key = match (form, r.set_key.as_deref()) {
        (RuleForm::Set, None | Some("saddr")) | (_, None) => SetKey::Saddr,
        (RuleForm::Set, Some("saddr-sport")) => SetKey::SaddrSport,
        (_, Some(k)) => {
            return Err(err(format!(
                "set_key {k:?} (saddr or saddr-sport, sets only)"
            )))
        }
    };
    if form != RuleForm::Set && rules > 65_536 {
        return Err(err(format!("{rules} rules: at most 65536 besides sets")));
    }
    if form == RuleForm::None && rules != 0 {
        return Err(err(format!("rule_kind none with {rules} rules")));
    }
    let flows = u16::try_from(r.flows)
        .ok()
        .filter(|n| (1..=60_000).contains(n))
        .ok_or_else(|| err(format!("flows {} not in 1..=60000", r.flows)))?;
    if r.runs.is_empty() {
        return Err(err("no runs".into()));
    }
    let mut runs = Vec::new();
    for (i, run) in r.runs.iter().enumerate() {
        let busy_pct = run
            .switch_threads_cpu_pct
            .unwrap_or(run.switch_core_busy_pct);
        let ok = |x: f64| x.is_finite() && x >= 0.0;
        if !(ok(run.forwarded_pps) && ok(run.switch_rx_pps) && run.forwarded_pps > 0.0) {
            return Err(err(format!(
                "runs[{i}]: forwarded_pps {} / switch_rx_pps {} not positive rates",
                run.forwarded_pps, run.switch_rx_pps
            )));
        }
        if !(busy_pct.is_finite() && busy_pct > 0.0 && busy_pct <= 100.5) {
            return Err(err(format!(
                "runs[{i}]: switch CPU {busy_pct}% not in (0, 100]"
            )));
        }
        let receive = run
            .napi_thread_cpu_pct
            .filter(|p| p.is_finite() && *p > 0.0)
            .map(|p| p.min(100.0) / 100.0);
        runs.push(RunSample {
            forwarded_pps: run.forwarded_pps,
            received_pps: run.switch_rx_pps,
            busy: busy_pct.min(100.0) / 100.0,
            receive,
        });
    }
    Ok(Measurement {
        index,
        config: Configuration {
            switch,
            form,
            set_key,
            rules,
            flows,
        },
        runs,
    })
}

impl Measurement {
    /// Capacity on a core of its own (pps) per repetition, over the repetitions. The kernel's
    /// receive of the packets the switch then dropped is taken out of the CPU time: at the
    /// ingress NAPI thread's measured CPU time per received packet when the run has it, else
    /// at `receive_ns` each.
    pub fn capacity(&self, receive_ns: f64) -> Result<Spread, String> {
        let mut v = Vec::new();
        for (i, r) in self.runs.iter().enumerate() {
            let dropped = (r.received_pps - r.forwarded_pps).max(0.0);
            let wasted = match r.receive {
                Some(napi) if r.received_pps > 0.0 => napi * dropped / r.received_pps,
                _ => dropped * receive_ns * 1e-9,
            };
            let share = r.busy - wasted;
            if share < 0.05 * r.busy {
                return Err(format!(
                    "runs[{i}]: receiving the {dropped:.0} pps dropped takes the whole {:.0}% \
                     of CPU time measured",
                    r.busy * 100.0
                ));
            }
            v.push(r.forwarded_pps / share);
        }
        Spread::of(&v).ok_or_else(|| "no runs".to_string())
    }
}

// ---------------------------------------------------------------------------------------
// Model runs.

/// The most rules (set elements) a record may hold.
const MAX_RULES: u32 = 1_000_000;

/// `n` rules that never match the measured traffic (source 10.0.0.1), on source addresses
/// 10.99.x.y (and, for a concatenated set key, UDP source ports 5, 6, ..., one per 65,536
/// addresses), walked in order; drops, as the measured rules were.
fn never_matching_rules(n: u32, key: SetKey) -> Vec<Rule> {
    (0..n)
        .filter_map(|i| {
            let [_, _, hi, lo] = i.to_be_bytes();
            let b = MatchBuilder::new()
                .udp()
                .nw_src(Ipv4Addr::new(10, 99, hi, lo), 32);
            let b = match key {
                SetKey::Saddr => b,
                SetKey::SaddrSport => b.tp_src(u16::try_from(5 + i / 65_536).ok()?),
            };
            Some(Rule::new(1_001, b.build().ok()?, Vec::new()))
        })
        .collect()
}

fn final_rule(action: Action) -> Result<Rule, String> {
    let any = MatchBuilder::new().build().map_err(|e| e.to_string())?;
    Ok(Rule::new(0, any, vec![action]))
}

fn model_rules(c: &Configuration) -> Result<Vec<Rule>, String> {
    let mut r = never_matching_rules(c.rules, c.set_key);
    match (c.switch, c.form) {
        (MeasuredSwitch::LinuxBridge, RuleForm::None) | (MeasuredSwitch::None, _) => {
            return Ok(Vec::new())
        }
        (MeasuredSwitch::LinuxBridge, _) => r.push(final_rule(Action::Normal)?),
        (_, _) if c.rules == 0 => r.push(final_rule(Action::Normal)?),
        _ => r.push(final_rule(Action::Output(Topology::vm_port(VmIndex(1))))?),
    }
    Ok(r)
}

/// What one model run measured.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ModelFigures {
    /// Forwarded packets per second.
    pub pps: f64,
    /// Switch-core ns per forwarded packet.
    pub ns_per_packet: f64,
}

/// The profile text a row's model runs start from, and its name for errors.
#[derive(Debug, Clone, PartialEq)]
struct ProfileText {
    text: String,
    file: String,
}

impl ProfileText {
    fn load(path: Option<&Path>) -> Result<ProfileText, CalibrateError> {
        match path {
            None => Ok(ProfileText {
                text: DEFAULT_PROFILE_TOML.to_string(),
                file: "profiles/default.toml (built in)".into(),
            }),
            Some(p) => {
                let file = p.display().to_string();
                let text = std::fs::read_to_string(p).map_err(|e| ProfileError::Io {
                    file: file.clone(),
                    what: e.to_string(),
                })?;
                Ok(ProfileText { text, file })
            }
        }
    }

    /// A number's value (in its own unit) and unit.
    fn number(&self, key: &str) -> Result<(f64, String), CalibrateError> {
        let table: toml::Table =
            self.text
                .parse()
                .map_err(|e: toml::de::Error| ProfileError::Parse {
                    file: self.file.clone(),
                    what: e.to_string(),
                })?;
        let mut v: Option<&toml::Value> = None;
        let mut t = Some(&table);
        for part in key.split('.') {
            v = t.and_then(|t| t.get(part));
            t = v.and_then(toml::Value::as_table);
        }
        let q = v.and_then(toml::Value::as_table);
        let value = q
            .and_then(|q| q.get("value"))
            .and_then(|x| x.as_float().or_else(|| x.as_integer().map(|i| i as f64)));
        let unit = q
            .and_then(|q| q.get("unit"))
            .and_then(toml::Value::as_str)
            .map(str::to_string);
        match (value, unit) {
            (Some(value), Some(unit)) => Ok((value, unit)),
            _ => Err(ProfileError::Invalid {
                file: self.file.clone(),
                key: key.to_string(),
                what: "not a number of the profile".into(),
            }
            .into()),
        }
    }
}

/// Runs the model of `c` with `profile` and `overrides`.
fn model_run(
    c: &Configuration,
    profile: &ProfileText,
    overrides: &ProfileOverrides,
) -> Result<ModelFigures, CalibrateError> {
    let err = |what: String| CalibrateError::Model {
        label: c.label(),
        what,
    };
    let p = Profile::parse_with(&profile.text, &profile.file, overrides)?;
    if c.switch == MeasuredSwitch::None {
        // Nothing forwarded: the receive alone, one vNIC crossing.
        let ns = p.vnic.from_vm / (f64::from(p.reference_clock_mhz) / 1_000.0);
        return Ok(ModelFigures {
            pps: 1e9 / ns,
            ns_per_packet: ns,
        });
    }
    let ctx = context(2, 0, 1, model_rules(c).map_err(&err)?);
    let mut switch: Box<dyn SwitchUnderTest> = match (c.switch, c.form) {
        (MeasuredSwitch::LinuxBridge, RuleForm::Set) => Box::new(
            LinuxBridge::with_form(&ctx, p, NetfilterForm::Sets).map_err(|e| err(e.to_string()))?,
        ),
        (MeasuredSwitch::LinuxBridge, _) => Box::new(
            LinuxBridge::with_form(&ctx, p, NetfilterForm::Linear)
                .map_err(|e| err(e.to_string()))?,
        ),
        _ => Box::new(
            OpenVswitch::with_variant_profile(&ctx, OvsVariant::Afxdp, p)
                .map_err(|e| err(e.to_string()))?,
        ),
    };
    let (a, b) = (Endpoint::Vm(VmIndex(0)), Endpoint::Vm(VmIndex(1)));
    let frames: Vec<_> = (0..c.flows)
        .map(|f| udp_frame(&ctx.topology, a, b, f, 60))
        .collect();
    // Every flow offered at least 10 times: what depends on the keys seen so far (a set's
    // lookups) is past its ramp for most of the run.
    let packets = MODEL_PACKETS.max(10 * u64::from(c.flows));
    for k in 0..packets {
        let frame = frames
            .get(usize::try_from(k % u64::from(c.flows)).unwrap_or(0))
            .cloned()
            .ok_or_else(|| err("no frame".into()))?;
        switch
            .offer(OfferedPacket {
                at: SimTime(k * MODEL_GAP_PS),
                from: a,
                frame,
            })
            .map_err(|e| err(e.to_string()))?;
    }
    let run = switch.finish().map_err(|e| err(e.to_string()))?;
    let delivered = run.ledger.delivered as f64;
    if delivered == 0.0 {
        return Err(err("the model forwarded nothing".into()));
    }
    let span = run.span().as_secs_f64();
    let ghz = f64::from(ctx.host.clock_mhz) / 1_000.0;
    Ok(ModelFigures {
        pps: delivered / span,
        ns_per_packet: run.host_cpu_cycles_total() as f64 / ghz / delivered,
    })
}

// ---------------------------------------------------------------------------------------
// Anchors and fits.

/// A number (or numbers moved together) fitted on one kind of anchor row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Anchor {
    /// `vnic.from_vm`: the mean of the switch-"none" rows (veth receive alone).
    Receive,
    /// `vnic.to_vm` and `linux_bridge.forward` together (their ratio kept): the bridge with no
    /// nftables, 1 flow.
    BridgeBase,
    /// `linux_bridge.netfilter_per_rule`: the linear chain with the most rules, 1 flow.
    PerRule,
    /// `linux_bridge.netfilter_set_lookup`: the smallest set, 1 flow.
    SetLookup,
    /// `linux_bridge.netfilter_set_miss`: the set whose lookups touch the most (elements and
    /// flows both above `netfilter_set_elements_cached`; none: not fitted).
    SetMiss,
    /// `ovs.fast_path` (AF_XDP ports): no OpenFlow rules, 1 flow.
    OvsAfXdp,
    /// `ovs.fast_path` of the AF_PACKET profile: no OpenFlow rules, 1 flow.
    OvsAfPacket,
}

impl Anchor {
    /// The profile keys the anchor moves.
    pub fn keys(self) -> &'static [&'static str] {
        match self {
            Anchor::Receive => &["vnic.from_vm"],
            Anchor::BridgeBase => &["vnic.to_vm", "linux_bridge.forward"],
            Anchor::PerRule => &["linux_bridge.netfilter_per_rule"],
            Anchor::SetLookup => &["linux_bridge.netfilter_set_lookup"],
            Anchor::SetMiss => &["linux_bridge.netfilter_set_miss"],
            Anchor::OvsAfXdp | Anchor::OvsAfPacket => &["ovs.fast_path"],
        }
    }

    /// The anchor rows among `ms` (indices), if any.
    fn rows(self, ms: &[Measurement], cached: f64) -> Vec<usize> {
        let at_one = |m: &&Measurement| m.config.flows == 1;
        let pick = |f: &dyn Fn(&Measurement) -> bool| -> Vec<&Measurement> {
            ms.iter().filter(|m| f(m)).collect()
        };
        let list: Vec<&Measurement> = match self {
            Anchor::Receive => pick(&|m| m.config.switch == MeasuredSwitch::None),
            Anchor::BridgeBase => pick(&|m| {
                m.config.switch == MeasuredSwitch::LinuxBridge && m.config.form == RuleForm::None
            })
            .into_iter()
            .filter(at_one)
            .take(1)
            .collect(),
            Anchor::PerRule => pick(&|m| {
                m.config.switch == MeasuredSwitch::LinuxBridge
                    && m.config.form == RuleForm::Linear
                    && m.config.flows == 1
                    && m.config.rules > 0
            })
            .into_iter()
            .max_by_key(|m| m.config.rules)
            .into_iter()
            .collect(),
            Anchor::SetLookup => pick(&|m| {
                m.config.switch == MeasuredSwitch::LinuxBridge
                    && m.config.form == RuleForm::Set
                    && m.config.flows == 1
                    && m.config.rules > 0
            })
            .into_iter()
            .min_by_key(|m| m.config.rules)
            .into_iter()
            .collect(),
            Anchor::SetMiss => pick(&|m| {
                // Lookups that touch more than the cache holds: elements and keys (flows)
                // both beyond the cached elements.
                m.config.switch == MeasuredSwitch::LinuxBridge
                    && m.config.form == RuleForm::Set
                    && f64::from(m.config.set_touched()) > cached
            })
            .into_iter()
            .max_by_key(|m| (m.config.set_touched(), m.config.rules))
            .into_iter()
            .collect(),
            Anchor::OvsAfXdp | Anchor::OvsAfPacket => {
                let sw = if self == Anchor::OvsAfXdp {
                    MeasuredSwitch::OvsAfXdp
                } else {
                    MeasuredSwitch::OvsAfPacket
                };
                pick(&|m| m.config.switch == sw && m.config.rules == 0)
                    .into_iter()
                    .filter(at_one)
                    .take(1)
                    .collect()
            }
        };
        list.iter().map(|m| m.index).collect()
    }
}

/// A number the fit derived.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FittedNumber {
    /// Profile key.
    pub key: String,
    /// The profile's value before the fit.
    pub before: f64,
    /// The fitted value.
    pub value: f64,
    /// Unit (the profile's).
    pub unit: String,
    /// Which profile it belongs to (`main` or `afpacket`).
    pub profile: String,
    /// Where it came from.
    pub source: String,
}

/// Whether a row was fitted or predicted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// An anchor of the fit: close to its measurement by construction.
    Fitted,
    /// Predicted by the profile.
    Predicted,
}

/// One row of the calibration: a measurement beside the model's prediction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalibrationRow {
    /// Index in the measurement file's `records`.
    pub record: usize,
    /// `linux-bridge linear/1000 flows=1`.
    pub label: String,
    /// The configuration.
    pub config: Configuration,
    /// Fitted or predicted.
    pub role: Role,
    /// Measured capacity on a core of its own (pps), over the repetitions.
    pub measured_pps: Spread,
    /// Measured switch-core ns per forwarded packet (1e9 / the median capacity).
    pub measured_ns: f64,
    /// The model's figures.
    pub model: ModelFigures,
    /// model pps / measured median - 1.
    pub error: f64,
    /// The row's bound: its repetitions' spread, at least [`MIN_BOUND`].
    pub bound: f64,
    /// Whether the prediction lies inside the measured min..max or within the bound.
    pub within: bool,
}

/// A calibration's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Calibration {
    /// The measurement file.
    pub measurements: String,
    /// Its date.
    pub date: Option<String>,
    /// The profile (and the AF_PACKET profile) the rows were run with.
    pub profile: String,
    /// The profile of the AF_PACKET rows.
    pub afpacket_profile: String,
    /// Whether the numbers of [`Calibration::fitted`] were fitted.
    pub fit: bool,
    /// The fitted numbers (empty without a fit).
    pub fitted: Vec<FittedNumber>,
    /// The rows, in file order.
    pub rows: Vec<CalibrationRow>,
    /// Predicted rows outside their bound.
    pub outside: Vec<String>,
    /// Worst predicted |error|.
    pub worst_predicted_error: f64,
    #[serde(skip)]
    main_text: ProfileText,
    #[serde(skip)]
    afpacket_text: ProfileText,
    #[serde(skip)]
    main_overrides: ProfileOverrides,
    #[serde(skip)]
    afpacket_overrides: ProfileOverrides,
}

/// What `snich calibrate` was asked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CalibrateOptions {
    /// The profile (None: the built-in one).
    pub profile: Option<PathBuf>,
    /// The profile of Open vSwitch with AF_PACKET ports (None: `profile`).
    pub afpacket_profile: Option<PathBuf>,
    /// Fit the numbers the measurements determine on the anchor rows.
    pub fit: bool,
}

fn ns_of(measured: &Measurement, receive_ns: f64, file: &str) -> Result<Spread, CalibrateError> {
    measured
        .capacity(receive_ns)
        .map_err(|what| CalibrateError::Record {
            file: file.to_string(),
            index: measured.index,
            label: measured.config.label(),
            what,
        })
}

/// A fitted key: (key, before, value, unit, note).
type FitOutcome = (String, f64, f64, String, Option<String>);

/// Fits `keys` (moved together, in proportion to their values) so that the model's ns per
/// packet on `row` equals `target_ns`.
fn fit_keys(
    row: &Configuration,
    target_ns: f64,
    keys: &[&str],
    profile: &ProfileText,
    overrides: &mut ProfileOverrides,
    clamp_at_zero: bool,
) -> Result<Vec<FitOutcome>, CalibrateError> {
    let mut current = Vec::new();
    let mut before = Vec::new();
    for key in keys {
        let base = overrides.iter().find(|(k, _)| k == key).map(|(_, v)| v);
        let (value, unit) = profile.number(key)?;
        current.push((key.to_string(), base.unwrap_or(value), unit));
        before.push(value);
    }
    let total: f64 = current.iter().map(|(_, v, _)| v.abs()).sum();
    let weights: Vec<f64> = current
        .iter()
        .map(|(_, v, _)| {
            if total > 0.0 {
                v.abs() / total
            } else {
                1.0 / keys.len() as f64
            }
        })
        .collect();
    let m0 = model_run(row, profile, overrides)?.ns_per_packet;
    let delta = 100.0;
    let mut moved = overrides.clone();
    for ((k, v, _), w) in current.iter().zip(&weights) {
        moved.set(k, v + w * delta);
    }
    let m1 = model_run(row, profile, &moved)?.ns_per_packet;
    let slope = (m1 - m0) / delta;
    if slope.abs() < 1e-6 {
        return Err(CalibrateError::Fit {
            key: keys.join(" + "),
            what: format!("the anchor {} does not exercise it", row.label()),
        });
    }
    let x = (target_ns - m0) / slope;
    let mut out = Vec::new();
    for (((k, v, unit), w), v0) in current.iter().zip(&weights).zip(&before) {
        let value = v + w * x;
        if value < 0.0 && clamp_at_zero {
            overrides.set(k, 0.0);
            out.push((
                k.clone(),
                *v0,
                0.0,
                unit.clone(),
                Some(format!(
                    "the anchor would need {value:.1} {unit}: the data shows no such cost, \
                     taken as 0"
                )),
            ));
            continue;
        }
        if value < 0.0 {
            return Err(CalibrateError::Fit {
                key: k.clone(),
                what: format!(
                    "the anchor {} ({target_ns:.0} ns per packet) would need {value:.1} {unit}",
                    row.label()
                ),
            });
        }
        let rounded = (value * 10.0).round() / 10.0;
        overrides.set(k, rounded);
        out.push((k.clone(), *v0, rounded, unit.clone(), None));
    }
    Ok(out)
}

/// Runs the calibration of `data` (fitting first if asked).
pub fn calibrate(
    data: &MeasurementFile,
    opts: &CalibrateOptions,
) -> Result<Calibration, CalibrateError> {
    let main_text = ProfileText::load(opts.profile.as_deref())?;
    let afpacket_text = match &opts.afpacket_profile {
        Some(p) => ProfileText::load(Some(p))?,
        None => main_text.clone(),
    };
    let mut main = ProfileOverrides::default();
    let mut afpacket = ProfileOverrides::default();
    let mut fitted = Vec::new();
    let mut anchor_rows: BTreeMap<usize, Anchor> = BTreeMap::new();
    let ms = &data.measurements;
    let by_index = |i: usize| ms.iter().find(|m| m.index == i);
    let receive_ns = |o: &ProfileOverrides| -> Result<f64, CalibrateError> {
        let v = o.iter().find(|(k, _)| *k == "vnic.from_vm").map(|(_, v)| v);
        Ok(match v {
            Some(v) => v,
            None => main_text.number("vnic.from_vm")?.0,
        })
    };
    if opts.fit {
        let mut set_lookup_anchor: Option<(Configuration, f64)> = None;
        let cached = main_text
            .number("linux_bridge.netfilter_set_elements_cached")?
            .0;
        for anchor in [
            Anchor::Receive,
            Anchor::BridgeBase,
            Anchor::PerRule,
            Anchor::SetLookup,
            Anchor::SetMiss,
            Anchor::OvsAfXdp,
            Anchor::OvsAfPacket,
        ] {
            let rows = anchor.rows(ms, cached);
            if rows.is_empty() {
                continue;
            }
            let r = receive_ns(&main)?;
            let mut targets = Vec::new();
            for i in &rows {
                if let Some(m) = by_index(*i) {
                    targets.push((m, ns_of(m, r, &data.file)?));
                }
            }
            let Some((first, _)) = targets.first() else {
                continue;
            };
            let target_ns =
                targets.iter().map(|(_, s)| 1e9 / s.median).sum::<f64>() / targets.len() as f64;
            let names: Vec<String> = targets
                .iter()
                .map(|(m, s)| {
                    format!(
                        "records[{}] {} ({:.0} pps on a core of its own, {:.0} ns per packet)",
                        m.index,
                        m.config.label(),
                        s.median,
                        1e9 / s.median
                    )
                })
                .collect();
            let (profile, overrides, which) = if anchor == Anchor::OvsAfPacket {
                // The AF_PACKET profile shares every fitted number but its fast path.
                for (k, v) in main.iter().filter(|(k, _)| *k != "ovs.fast_path") {
                    afpacket.set(k, v);
                }
                (&afpacket_text, &mut afpacket, "afpacket")
            } else {
                (&main_text, &mut main, "main")
            };
            let config = first.config;
            let out = if anchor == Anchor::Receive {
                // Measured directly: no model run needed.
                let (before, unit) = profile.number("vnic.from_vm")?;
                let value = (target_ns * 10.0).round() / 10.0;
                overrides.set("vnic.from_vm", value);
                vec![("vnic.from_vm".to_string(), before, value, unit, None)]
            } else if anchor == Anchor::SetLookup || anchor == Anchor::SetMiss {
                // The two set numbers depend on each other through the other's anchor: a few
                // alternating fits converge (both costs are linear).
                let mut out =
                    fit_keys(&config, target_ns, anchor.keys(), profile, overrides, true)?;
                if anchor == Anchor::SetMiss {
                    if let Some(&(small, small_ns)) = set_lookup_anchor.as_ref() {
                        for _ in 0..4 {
                            fit_keys(
                                &small,
                                small_ns,
                                Anchor::SetLookup.keys(),
                                profile,
                                overrides,
                                true,
                            )?;
                            out = fit_keys(
                                &config,
                                target_ns,
                                anchor.keys(),
                                profile,
                                overrides,
                                true,
                            )?;
                        }
                        let lookup = fit_keys(
                            &small,
                            small_ns,
                            Anchor::SetLookup.keys(),
                            profile,
                            overrides,
                            true,
                        )?;
                        for (key, _, value, _, _) in lookup {
                            if let Some(f) =
                                fitted.iter_mut().find(|f: &&mut FittedNumber| f.key == key)
                            {
                                f.value = value;
                            }
                        }
                    }
                } else {
                    set_lookup_anchor = Some((config, target_ns));
                }
                out
            } else {
                fit_keys(&config, target_ns, anchor.keys(), profile, overrides, false)?
            };
            for i in &rows {
                anchor_rows.insert(*i, anchor);
            }
            for (key, before, value, unit, note) in out {
                fitted.push(FittedNumber {
                    source: format!(
                        "fitted by snich calibrate --fit on {} (measured {}): the model's \
                         switch-core ns per packet equals the measured on {} (capacity = \
                         forwarded pps over the switch's CPU share net of receiving the \
                         packets it dropped){}; was {before}",
                        data.file,
                        data.date.as_deref().unwrap_or("on an unknown date"),
                        names.join(" and "),
                        note.map(|n| format!("; {n}")).unwrap_or_default(),
                    ),
                    key,
                    before,
                    value,
                    unit,
                    profile: which.to_string(),
                });
            }
        }
        if !fitted.iter().any(|f| f.profile == "afpacket") {
            for (k, v) in main.iter().filter(|(k, _)| *k != "ovs.fast_path") {
                afpacket.set(k, v);
            }
        }
    }
    let r = receive_ns(&main)?;
    let mut rows = Vec::new();
    for m in ms {
        let measured = ns_of(m, r, &data.file)?;
        let (profile, overrides) = if m.config.switch == MeasuredSwitch::OvsAfPacket {
            (&afpacket_text, &afpacket)
        } else {
            (&main_text, &main)
        };
        let model = model_run(&m.config, profile, overrides)?;
        let error = model.pps / measured.median - 1.0;
        let bound = measured.relative().max(MIN_BOUND);
        let within =
            error.abs() <= bound || (model.pps >= measured.min && model.pps <= measured.max);
        rows.push(CalibrationRow {
            record: m.index,
            label: m.config.label(),
            config: m.config,
            role: if anchor_rows.contains_key(&m.index) {
                Role::Fitted
            } else {
                Role::Predicted
            },
            measured_pps: measured,
            measured_ns: 1e9 / measured.median,
            model,
            error,
            bound,
            within,
        });
    }
    let outside = rows
        .iter()
        .filter(|r| r.role == Role::Predicted && !r.within)
        .map(|r| {
            format!(
                "records[{}] {}: model {:.0} pps, measured {:.0} ({:.0}..{:.0}), error {:+.1}% \
                 (bound {:.1}%)",
                r.record,
                r.label,
                r.model.pps,
                r.measured_pps.median,
                r.measured_pps.min,
                r.measured_pps.max,
                r.error * 100.0,
                r.bound * 100.0
            )
        })
        .collect();
    let worst = rows
        .iter()
        .filter(|r| r.role == Role::Predicted)
        .map(|r| r.error.abs())
        .fold(0.0, f64::max);
    Ok(Calibration {
        measurements: data.file.clone(),
        date: data.date.clone(),
        profile: main_text.file.clone(),
        afpacket_profile: afpacket_text.file.clone(),
        fit: opts.fit,
        fitted,
        rows,
        outside,
        worst_predicted_error: worst,
        main_text,
        afpacket_text,
        main_overrides: main,
        afpacket_overrides: afpacket,
    })
}

impl Calibration {
    /// Whether every predicted row is inside its bound.
    pub fn passed(&self) -> bool {
        self.outside.is_empty()
    }

    /// The table `snich calibrate` prints.
    pub fn table(&self) -> String {
        let mut s = format!(
            "calibration of {} on {} ({}){}\n",
            self.profile,
            self.measurements,
            self.date.as_deref().unwrap_or("no date"),
            if self.fit { ", fitted" } else { "" }
        );
        s += &format!(
            "{:<40} {:>9} {:>10} {:>21} {:>10} {:>8} {:>7} {:>9} {:>9} {:>4}\n",
            "configuration",
            "row",
            "meas pps",
            "(min..max)",
            "model pps",
            "error",
            "bound",
            "meas ns",
            "model ns",
            "ok"
        );
        for r in &self.rows {
            s += &format!(
                "{:<40} {:>9} {:>10.0} {:>21} {:>10.0} {:>+7.1}% {:>6.1}% {:>9.0} {:>9.0} {:>4}\n",
                format!("[{}] {}", r.record, r.label),
                match r.role {
                    Role::Fitted => "fitted",
                    Role::Predicted => "predicted",
                },
                r.measured_pps.median,
                format!("({:.0}..{:.0})", r.measured_pps.min, r.measured_pps.max),
                r.model.pps,
                r.error * 100.0,
                r.bound * 100.0,
                r.measured_ns,
                r.model.ns_per_packet,
                if r.within { "yes" } else { "NO" }
            );
        }
        for f in &self.fitted {
            s += &format!(
                "fitted {} ({}): {} -> {} {}\n",
                f.key, f.profile, f.before, f.value, f.unit
            );
        }
        s += &format!(
            "worst predicted error: {:.1}%; {} predicted row(s) outside their bound\n",
            self.worst_predicted_error * 100.0,
            self.outside.len()
        );
        s
    }

    /// The fitted profile's text (`afpacket`: the AF_PACKET profile, else the main one): the
    /// profile it started from, its layout and comments kept, with each fitted number's value
    /// and source replaced and its meta naming the measurements.
    pub fn fitted_profile(&self, afpacket: bool) -> Result<String, CalibrateError> {
        let (text, which) = if afpacket {
            (&self.afpacket_text, "afpacket")
        } else {
            (&self.main_text, "main")
        };
        let mut doc: toml_edit::DocumentMut =
            text.text
                .parse()
                .map_err(|e: toml_edit::TomlError| ProfileError::Parse {
                    file: text.file.clone(),
                    what: e.to_string(),
                })?;
        let mut numbers: Vec<&FittedNumber> =
            self.fitted.iter().filter(|f| f.profile == which).collect();
        if afpacket {
            // Shared numbers fitted on the main profile's anchors.
            numbers.extend(
                self.fitted
                    .iter()
                    .filter(|f| f.profile == "main" && f.key != "ovs.fast_path"),
            );
        }
        let missing = |key: &str| CalibrateError::Fit {
            key: key.to_string(),
            what: format!("not a number of {}", text.file),
        };
        for f in numbers {
            let mut item: &mut toml_edit::Item = doc.as_item_mut();
            for part in f.key.split('.') {
                item = item
                    .as_table_like_mut()
                    .and_then(|t| t.get_mut(part))
                    .ok_or_else(|| missing(&f.key))?;
            }
            let quantity = item.as_table_like_mut().ok_or_else(|| missing(&f.key))?;
            quantity.insert("value", toml_edit::value(f.value));
            quantity.insert("source", toml_edit::value(f.source.clone()));
        }
        let meta = doc
            .get_mut("meta")
            .and_then(toml_edit::Item::as_table_like_mut)
            .ok_or_else(|| missing("meta"))?;
        let name = meta
            .get("name")
            .and_then(toml_edit::Item::as_str)
            .unwrap_or("profile")
            .to_string();
        meta.insert("name", toml_edit::value(format!("{name}-calibrated")));
        meta.insert(
            "description",
            toml_edit::value(format!(
                "{} with the numbers fitted by snich calibrate --fit on {} ({})",
                text.file,
                self.measurements,
                self.date.as_deref().unwrap_or("no date")
            )),
        );
        let out = format!(
            "# Written by snich calibrate --fit from {} on the measurements {}: the fitted\n\
             # numbers' sources say which rows they came from.\n{doc}",
            text.file, self.measurements
        );
        // The written profile must read back.
        Profile::parse(&out, "the fitted profile")?;
        Ok(out)
    }

    /// Whether the calibration has an AF_PACKET profile of its own to write.
    pub fn has_afpacket_rows(&self) -> bool {
        self.rows
            .iter()
            .any(|r| r.config.switch == MeasuredSwitch::OvsAfPacket)
    }

    /// The overrides of the main profile (the fitted numbers), for callers running more.
    pub fn overrides(&self) -> &ProfileOverrides {
        &self.main_overrides
    }

    /// The overrides of the AF_PACKET profile.
    pub fn afpacket_overrides(&self) -> &ProfileOverrides {
        &self.afpacket_overrides
    }
}

/// Writes `text` to `path`.
pub fn write_file(path: &Path, text: &str) -> Result<(), CalibrateError> {
    std::fs::write(path, text).map_err(|e| CalibrateError::Write {
        file: path.display().to_string(),
        what: e.to_string(),
    })
}

/// The AF_PACKET profile's path beside the main fitted profile: `OUT.toml` ->
/// `OUT-afpacket.toml`.
pub fn afpacket_path(main: &Path) -> PathBuf {
    let stem = main
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "profile".into());
    main.with_file_name(format!("{stem}-afpacket.toml"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_is_not_json_is_named_as_such() {
        let e = MeasurementFile::parse("[meta]\nname = 1\n", "m.toml")
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("m.toml: not a JSON measurement file: expected value at line 1 column 2")
        );
    }
}
