//! Cost profiles: the per-operation costs of the baselines, each with the source it came from.
//!
//! A profile is a TOML file (`profiles/*.toml` at the repository root) read into a plain
//! [`ProfileSpec`] (serde, unknown keys refused) and validated into a [`Profile`] through
//! [`Profile::from_spec`]. Every number is written `{ value = .., unit = "..", source = ".." }`
//! so that no cost lives without the datasheet, paper, measurement or estimate it came from;
//! a missing or empty `source` is an error. Host costs are `"ns"` or `"cycles"`; nanoseconds
//! are converted to cycles at the profile's `meta.reference_clock_mhz` (the clock they were
//! measured at), so a profile's costs scale with the scenario's clock like the work they
//! stand for. Sizes are `"packets"`, `"flows"`, `"entries"`, `"channels"` or `"cores"`; a
//! switch is `"flag"` (0 or 1); intervals
//! `"ms"`; a device's own times (the copy engine's doorbell, descriptor fetch and completion
//! write) `"ns"` of device time, not converted; a device's bandwidth `"MB/s"`.
//!
//! The built-in profile ([`Profile::builtin`], `profiles/default.toml`) is calibrated against
//! the real switches measured on this project's machines; DESIGN.md ("Baselines, the host CPU
//! model and cost profiles") says which numbers were fitted and which predicted. Every switch
//! reads it: the baselines, and the sNICh system (`[snich.*]`, mapped onto `host-driver`'s and
//! `flow-setup`'s cost structs by `snich_switch`); `[classifier]` prices a lookup's node
//! visits for every switch that classifies. [`ProfileOverrides`] (a scenario's `[profile]`
//! table) replace numbers by key path before validation.
//!
//! ```
//! use sim_harness::profile::Profile;
//!
//! let p = Profile::builtin()?;
//! assert_eq!(p.name, "default");
//! // 20.7 ns per netfilter rule at the 2.6 GHz reference clock.
//! assert!((p.linux_bridge.netfilter_per_rule - 53.82).abs() < 0.01);
//! assert!(p.source("linux_bridge.netfilter_per_rule").unwrap_or("").contains("fitted"));
//! # Ok::<(), sim_harness::profile::ProfileError>(())
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use nic_abi::time::SimDuration;
use serde::Deserialize;

/// The built-in profile's text.
pub const DEFAULT_PROFILE_TOML: &str = include_str!("../../profiles/default.toml");

/// The name errors give the built-in profile.
const BUILTIN_FILE: &str = "profiles/default.toml (built in)";

/// Why a profile could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProfileError {
    /// The file could not be read.
    #[error("{file}: cannot read: {what}")]
    Io {
        /// The file.
        file: String,
        /// The OS error.
        what: String,
    },
    /// The TOML is malformed, a key is unknown or missing (the message names it and the line).
    #[error("{file}: {what}")]
    Parse {
        /// The file.
        file: String,
        /// The parser's message.
        what: String,
    },
    /// A value is out of range, has the wrong unit or no source.
    #[error("{file}: {key}: {what}")]
    Invalid {
        /// The file.
        file: String,
        /// The key path (`ovs.emc_hit`).
        key: String,
        /// What is wrong.
        what: String,
    },
    /// An override names no number of the profile, or is not a number.
    #[error("{file}: override profile.{key}: {what}")]
    Override {
        /// The profile file.
        file: String,
        /// The key path (`ovs.upcall`).
        key: String,
        /// What is wrong.
        what: String,
    },
}

/// New values for some of a profile's numbers: key path (`ovs.upcall`) to value, in the unit
/// the profile gives that key. A scenario's `[profile]` table holds them, flat
/// (`"ovs.upcall" = 20000`) or nested (`[profile.ovs]` `upcall = 20000`; what
/// `snich sweep --vary profile.ovs.upcall=..` writes). An overridden number's source says it
/// was overridden and what it replaced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProfileOverrides(BTreeMap<String, f64>);

impl ProfileOverrides {
    /// The overrides of a `[profile]` table (nested tables joined with `.`); a value that is
    /// not a number is an error naming its key.
    pub fn from_table(table: &toml::Table) -> Result<ProfileOverrides, ProfileError> {
        let mut out = BTreeMap::new();
        flatten(table, "", &mut out)?;
        Ok(ProfileOverrides(out))
    }

    /// No override.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Sets `key` to `value`.
    pub fn set(&mut self, key: &str, value: f64) {
        self.0.insert(key.to_string(), value);
    }

    /// The overrides in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, f64)> {
        self.0.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// `text` (a profile file named `file`) with the overrides applied, as a TOML table.
    fn apply(&self, text: &str, file: &str) -> Result<toml::Table, ProfileError> {
        let mut doc: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| ProfileError::Parse {
                    file: file.to_string(),
                    what: e.to_string().trim_end().replace('\n', " "),
                })?;
        for (key, value) in self.iter() {
            let err = |what: &str| ProfileError::Override {
                file: file.to_string(),
                key: key.to_string(),
                what: what.to_string(),
            };
            let mut table = &mut doc;
            let mut parts = key.split('.').peekable();
            let quantity = loop {
                let Some(part) = parts.next() else {
                    return Err(err("not a number of the profile"));
                };
                let next = table
                    .get_mut(part)
                    .and_then(toml::Value::as_table_mut)
                    .ok_or_else(|| err("not a number of the profile"))?;
                if parts.peek().is_none() {
                    break next;
                }
                table = next;
            };
            let (Some(old), Some(source)) = (
                quantity.get("value").map(ToString::to_string),
                quantity
                    .get("source")
                    .and_then(toml::Value::as_str)
                    .map(str::to_string),
            ) else {
                return Err(err("not a number of the profile"));
            };
            quantity.insert("value".into(), toml::Value::Float(value));
            quantity.insert(
                "source".into(),
                toml::Value::String(format!(
                    "overridden by the scenario's [profile] table: {value} (the profile's {old}: {source})"
                )),
            );
        }
        Ok(doc)
    }
}

/// Adds `table`'s numbers to `out` under `prefix`.
fn flatten(
    table: &toml::Table,
    prefix: &str,
    out: &mut BTreeMap<String, f64>,
) -> Result<(), ProfileError> {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) => flatten(t, &key, out)?,
            #[allow(clippy::cast_precision_loss)]
            toml::Value::Integer(i) => {
                // Profile numbers are far below 2^53.
                out.insert(key, *i as f64);
            }
            toml::Value::Float(f) => {
                out.insert(key, *f);
            }
            other => {
                return Err(ProfileError::Override {
                    file: "the scenario".into(),
                    key,
                    what: format!("{} is not a number", other.type_str()),
                })
            }
        }
    }
    Ok(())
}

/// One number as a profile file writes it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuantitySpec {
    /// The value, in `unit`.
    pub value: f64,
    /// `ns`, `cycles`, `MHz`, `packets`, `flows`, `entries`, `channels`, `MB/s` or `ms`, as
    /// the key requires.
    pub unit: String,
    /// Where the number comes from (datasheet, paper, measurement, estimate).
    pub source: String,
}

/// `[meta]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetaSpec {
    /// The profile's name (reports print it).
    pub name: String,
    /// What it models.
    pub description: String,
    /// The clock the `ns` costs were measured at (`MHz`).
    pub reference_clock_mhz: QuantitySpec,
}

/// `[vnic]`: a VM's virtual NIC back end in the driver domain.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VnicSpec {
    /// Taking a frame off a VM's TX ring into the switch.
    pub from_vm: QuantitySpec,
    /// Putting a frame into a VM's RX ring and notifying it.
    pub to_vm: QuantitySpec,
    /// Copy cost per frame byte, per vNIC crossing.
    pub copy_per_byte: QuantitySpec,
    /// Waking a VM's sleeping vhost-net worker thread (its sleep-wake cycle's context
    /// switches included), once per batch of work that finds it asleep.
    pub worker_wakeup: QuantitySpec,
    /// Interrupting a guest (vhost signal, irqfd), once per batch delivered to it.
    pub guest_notify: QuantitySpec,
    /// Frames waiting for a VM's worker to deliver them (its tap queue; `packets`).
    pub rx_queue: QuantitySpec,
}

/// `[nic_driver]`: the host NIC's driver in the driver domain.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NicDriverSpec {
    /// Receiving a frame the NIC wrote into host memory.
    pub rx: QuantitySpec,
    /// Handing a frame to the NIC.
    pub tx: QuantitySpec,
    /// RX descriptors.
    pub rx_ring: QuantitySpec,
    /// TX descriptors.
    pub tx_ring: QuantitySpec,
}

/// `[linux_bridge]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeSpec {
    /// Bridge input, FDB lookup, forwarding.
    pub forward: QuantitySpec,
    /// Entering the netfilter bridge hook when rules exist.
    pub netfilter_hook: QuantitySpec,
    /// Each rule walked.
    pub netfilter_per_rule: QuantitySpec,
    /// One lookup of an nftables set (the `linux-bridge-nftset` variant: rules of one match
    /// shape held in one set, looked up by hash instead of walked), its bucket and element
    /// in cache.
    pub netfilter_set_lookup: QuantitySpec,
    /// What a set lookup adds when its bucket and element are not in cache (`ns`).
    pub netfilter_set_miss: QuantitySpec,
    /// Elements of a set whose buckets and elements stay in cache (`entries`): lookups of `k`
    /// distinct keys in a set of `n` elements miss with probability
    /// `max(0, 1 - cached / min(n, k))`.
    pub netfilter_set_elements_cached: QuantitySpec,
}

/// `[ovs_kernel]`: Open vSwitch's kernel datapath (`openvswitch.ko`); the rest of its costs
/// (mask probes, upcalls, flow puts, revalidation, limits) are `[ovs]`'s.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OvsKernelSpec {
    /// Per packet: flow key extraction and action execution (ports excluded).
    pub fast_path: QuantitySpec,
    /// Probing the per-CPU mask cache.
    pub mask_cache_probe: QuantitySpec,
    /// Mask cache entries per CPU (`entries`).
    pub mask_cache_entries: QuantitySpec,
}

/// `[ovs_dpdk]`: Open vSwitch's userspace datapath with DPDK ports and PMD threads; EMC,
/// dpcls, limits and upcall handling are `[ovs]`'s.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OvsDpdkSpec {
    /// PMD threads, each busy-polling one dedicated core (`cores`).
    pub pmd_cores: QuantitySpec,
    /// Per packet: miniflow extraction and action execution (ports excluded).
    pub fast_path: QuantitySpec,
    /// Receiving a frame from a physical port (DPDK PMD driver, burst amortised).
    pub phy_rx: QuantitySpec,
    /// Sending a frame to a physical port.
    pub phy_tx: QuantitySpec,
    /// Dequeuing a frame from a guest's vhost-user virtqueue (its copy priced per byte by
    /// `vnic.copy_per_byte`).
    pub vhost_rx: QuantitySpec,
    /// Enqueuing a frame into a guest's vhost-user virtqueue and kicking it.
    pub vhost_tx: QuantitySpec,
    /// One poll of a vhost-user receive queue in a PMD iteration, found empty or not.
    pub vhost_rxq_poll: QuantitySpec,
    /// One poll of a physical port's receive queue in a PMD iteration.
    pub phy_rxq_poll: QuantitySpec,
    /// The most packets one poll of a receive queue takes (`packets`).
    pub rx_burst: QuantitySpec,
    /// Whether the signature match cache is on (`flag`, 0 or 1).
    pub smc_enabled: QuantitySpec,
    /// Signature match cache entries (`entries`).
    pub smc_entries: QuantitySpec,
    /// One SMC probe.
    pub smc_probe: QuantitySpec,
}

/// `[ovs]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OvsSpec {
    /// Per packet: key extraction, port handling, action execution.
    pub fast_path: QuantitySpec,
    /// An exact-match cache hit.
    pub emc_hit: QuantitySpec,
    /// Each megaflow subtable probed.
    pub dpcls_per_subtable: QuantitySpec,
    /// A miss handled in userspace (classification, translation, packet execute).
    pub upcall: QuantitySpec,
    /// Installing one megaflow.
    pub megaflow_install: QuantitySpec,
    /// Revalidating one installed megaflow.
    pub revalidation_per_flow: QuantitySpec,
    /// Time between revalidation rounds (`ms`).
    pub revalidation_interval: QuantitySpec,
    /// Idle time after which a megaflow is evicted (`ms`).
    pub max_idle: QuantitySpec,
    /// Most megaflows installed at once (`flows`).
    pub flow_limit: QuantitySpec,
    /// Exact-match cache entries (`entries`).
    pub emc_entries: QuantitySpec,
    /// One packet in this many that miss the EMC inserts its flow (`packets`).
    pub emc_insert_inverse_probability: QuantitySpec,
    /// Upcalls queued at most (`packets`).
    pub upcall_queue: QuantitySpec,
}

/// `[classifier]`: the flow classifier every switch that classifies runs (flow-setup's
/// split tree: sNICh's agent and Open vSwitch's upcall handler).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierSpec {
    /// One node visit of a lookup (`LookupCost::visits`).
    pub per_visit: QuantitySpec,
}

/// `[snich.driver]`: the sNICh host driver's core (`host-driver`'s `DriverCosts`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnichDriverSpec {
    /// One register write.
    pub mmio_write: QuantitySpec,
    /// One register read (the core stalls for the round trip).
    pub mmio_read: QuantitySpec,
    /// Taking one interrupt.
    pub interrupt: QuantitySpec,
    /// Reading and checking one miss record.
    pub miss_record: QuantitySpec,
    /// Writing one release command.
    pub release: QuantitySpec,
}

/// `[snich.agent]`: the flow-setup agent (`flow-setup`'s `AgentCosts`; its per-visit cost is
/// `classifier.per_visit`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnichAgentSpec {
    /// The fixed part of a setup (classification excluded).
    pub setup: QuantitySpec,
    /// A miss held behind a setup already under way.
    pub held: QuantitySpec,
    /// Forwarding one packet in software.
    pub software_forward: QuantitySpec,
}

/// `[snich.iommu]`: grant operations (`host-driver`'s `IommuCosts`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnichIommuSpec {
    /// Mapping one grant (page-table walk and update).
    pub map: QuantitySpec,
    /// Unmapping one grant (with its IOTLB invalidation).
    pub unmap: QuantitySpec,
}

/// `[snich.card]`: the card's own latencies that the host waits for (`nic-model`'s
/// `TableConfig`), in cycles of the card's clock.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnichCardSpec {
    /// Cycles the management port is busy with a command without displacements.
    pub mgmt_command: QuantitySpec,
    /// Cycles the management port adds per displacement of an insert (made, or undone).
    pub mgmt_displacement: QuantitySpec,
}

/// `[snich.copy_engine]`: the host's copy engine, a device (`host-driver`'s
/// `CopyEngineConfig`): a command ring in host memory, a doorbell, channels, completions.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnichCopyEngineSpec {
    /// Channels copying in parallel (`channels`).
    pub channels: QuantitySpec,
    /// Descriptors of the command ring (`entries`).
    pub ring_entries: QuantitySpec,
    /// Host cycles to submit one copy (descriptor write and doorbell).
    pub submit: QuantitySpec,
    /// From the doorbell write to the engine seeing it (`ns`, device time).
    pub doorbell: QuantitySpec,
    /// The engine's fetch and decode of one descriptor (`ns`, device time).
    pub descriptor_fetch: QuantitySpec,
    /// One channel's copy rate (`MB/s`: bytes per microsecond).
    pub channel_bandwidth: QuantitySpec,
    /// From the last byte to the completion write-back being visible (`ns`, device time).
    pub completion_write: QuantitySpec,
    /// Host cycles to take one completion by polling.
    pub completion_poll: QuantitySpec,
    /// Host cycles to take one completion by interrupt.
    pub completion_interrupt: QuantitySpec,
}

/// `[snich.cpu_copy]`: a host core copying an inter-VM payload (the `cpu-copy` mode); its
/// per-byte cost is `vnic.copy_per_byte`, every switch's CPU copy.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnichCpuCopySpec {
    /// Cycles per copy besides the bytes.
    pub fixed: QuantitySpec,
}

/// `[snich]`: the sNICh system's host costs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnichSpec {
    /// `[snich.card]`.
    pub card: SnichCardSpec,
    /// `[snich.driver]`.
    pub driver: SnichDriverSpec,
    /// `[snich.agent]`.
    pub agent: SnichAgentSpec,
    /// `[snich.iommu]`.
    pub iommu: SnichIommuSpec,
    /// `[snich.copy_engine]`.
    pub copy_engine: SnichCopyEngineSpec,
    /// `[snich.cpu_copy]`.
    pub cpu_copy: SnichCpuCopySpec,
}

/// A profile file as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileSpec {
    /// `[meta]`.
    pub meta: MetaSpec,
    /// `[vnic]`.
    pub vnic: VnicSpec,
    /// `[nic_driver]`.
    pub nic_driver: NicDriverSpec,
    /// `[linux_bridge]`.
    pub linux_bridge: BridgeSpec,
    /// `[ovs]`.
    pub ovs: OvsSpec,
    /// `[ovs_kernel]`.
    pub ovs_kernel: OvsKernelSpec,
    /// `[ovs_dpdk]`.
    pub ovs_dpdk: OvsDpdkSpec,
    /// `[classifier]`.
    pub classifier: ClassifierSpec,
    /// `[snich]`.
    pub snich: SnichSpec,
}

/// vNIC back-end costs, in cycles.
#[derive(Debug, Clone, PartialEq)]
pub struct VnicCosts {
    /// See [`VnicSpec::from_vm`].
    pub from_vm: f64,
    /// See [`VnicSpec::to_vm`].
    pub to_vm: f64,
    /// Cycles per byte copied.
    pub copy_per_byte: f64,
    /// See [`VnicSpec::worker_wakeup`].
    pub worker_wakeup: f64,
    /// See [`VnicSpec::guest_notify`].
    pub guest_notify: f64,
    /// See [`VnicSpec::rx_queue`].
    pub rx_queue: u32,
}

/// Host NIC driver costs (cycles) and ring sizes.
#[derive(Debug, Clone, PartialEq)]
pub struct NicDriverCosts {
    /// See [`NicDriverSpec::rx`].
    pub rx: f64,
    /// See [`NicDriverSpec::tx`].
    pub tx: f64,
    /// RX descriptors.
    pub rx_ring: u32,
    /// TX descriptors.
    pub tx_ring: u32,
}

/// Linux bridge costs, in cycles.
#[derive(Debug, Clone, PartialEq)]
pub struct BridgeCosts {
    /// See [`BridgeSpec::forward`].
    pub forward: f64,
    /// See [`BridgeSpec::netfilter_hook`].
    pub netfilter_hook: f64,
    /// See [`BridgeSpec::netfilter_per_rule`].
    pub netfilter_per_rule: f64,
    /// See [`BridgeSpec::netfilter_set_lookup`].
    pub netfilter_set_lookup: f64,
    /// See [`BridgeSpec::netfilter_set_miss`].
    pub netfilter_set_miss: f64,
    /// See [`BridgeSpec::netfilter_set_elements_cached`].
    pub netfilter_set_elements_cached: u64,
}

impl BridgeCosts {
    /// Cycles of one lookup in a set of `elements` elements by traffic of `keys` distinct
    /// keys: the cached lookup, plus the miss cost with the probability that what the lookups
    /// touch (a bucket and its elements per key, at most the whole set) is beyond the cache,
    /// `max(0, 1 - cached / min(elements, keys))`. One key always finds its bucket cached,
    /// however large the set.
    pub fn set_lookup(&self, elements: u64, keys: u64) -> f64 {
        let cached = self.netfilter_set_elements_cached as f64;
        let touched = elements.min(keys);
        let miss = if touched == 0 {
            0.0
        } else {
            (1.0 - cached / touched as f64).max(0.0)
        };
        self.netfilter_set_lookup + self.netfilter_set_miss * miss
    }
}

/// Open vSwitch kernel datapath costs, in cycles.
#[derive(Debug, Clone, PartialEq)]
pub struct OvsKernelCosts {
    /// See [`OvsKernelSpec::fast_path`].
    pub fast_path: f64,
    /// See [`OvsKernelSpec::mask_cache_probe`].
    pub mask_cache_probe: f64,
    /// Mask cache entries per CPU.
    pub mask_cache_entries: u32,
}

/// Open vSwitch with DPDK: costs in cycles, PMD cores, SMC.
#[derive(Debug, Clone, PartialEq)]
pub struct OvsDpdkCosts {
    /// PMD threads (dedicated cores).
    pub pmd_cores: u16,
    /// See [`OvsDpdkSpec::fast_path`].
    pub fast_path: f64,
    /// See [`OvsDpdkSpec::phy_rx`].
    pub phy_rx: f64,
    /// See [`OvsDpdkSpec::phy_tx`].
    pub phy_tx: f64,
    /// See [`OvsDpdkSpec::vhost_rx`].
    pub vhost_rx: f64,
    /// See [`OvsDpdkSpec::vhost_tx`].
    pub vhost_tx: f64,
    /// See [`OvsDpdkSpec::vhost_rxq_poll`].
    pub vhost_rxq_poll: f64,
    /// See [`OvsDpdkSpec::phy_rxq_poll`].
    pub phy_rxq_poll: f64,
    /// Packets one receive-queue poll takes at most.
    pub rx_burst: u32,
    /// The SMC is on.
    pub smc_enabled: bool,
    /// SMC entries.
    pub smc_entries: u32,
    /// See [`OvsDpdkSpec::smc_probe`].
    pub smc_probe: f64,
}

/// Open vSwitch costs (cycles) and limits.
#[derive(Debug, Clone, PartialEq)]
pub struct OvsCosts {
    /// See [`OvsSpec::fast_path`].
    pub fast_path: f64,
    /// See [`OvsSpec::emc_hit`].
    pub emc_hit: f64,
    /// See [`OvsSpec::dpcls_per_subtable`].
    pub dpcls_per_subtable: f64,
    /// See [`OvsSpec::upcall`].
    pub upcall: f64,
    /// See [`OvsSpec::megaflow_install`].
    pub megaflow_install: f64,
    /// See [`OvsSpec::revalidation_per_flow`].
    pub revalidation_per_flow: f64,
    /// Between revalidation rounds.
    pub revalidation_interval: SimDuration,
    /// Idle eviction age.
    pub max_idle: SimDuration,
    /// Most megaflows.
    pub flow_limit: u64,
    /// EMC entries.
    pub emc_entries: u32,
    /// One EMC miss in this many inserts.
    pub emc_insert_inverse_probability: u32,
    /// Upcall queue bound.
    pub upcall_queue: u32,
}

/// The classifier's cost, in cycles.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassifierCosts {
    /// See [`ClassifierSpec::per_visit`].
    pub per_visit: f64,
}

/// The sNICh driver's costs, in cycles.
#[derive(Debug, Clone, PartialEq)]
pub struct SnichDriverCosts {
    /// See [`SnichDriverSpec::mmio_write`].
    pub mmio_write: f64,
    /// See [`SnichDriverSpec::mmio_read`].
    pub mmio_read: f64,
    /// See [`SnichDriverSpec::interrupt`].
    pub interrupt: f64,
    /// See [`SnichDriverSpec::miss_record`].
    pub miss_record: f64,
    /// See [`SnichDriverSpec::release`].
    pub release: f64,
}

/// The agent's costs, in cycles.
#[derive(Debug, Clone, PartialEq)]
pub struct SnichAgentCosts {
    /// See [`SnichAgentSpec::setup`].
    pub setup: f64,
    /// See [`SnichAgentSpec::held`].
    pub held: f64,
    /// See [`SnichAgentSpec::software_forward`].
    pub software_forward: f64,
}

/// The IOMMU's grant costs, in cycles.
#[derive(Debug, Clone, PartialEq)]
pub struct SnichIommuCosts {
    /// See [`SnichIommuSpec::map`].
    pub map: f64,
    /// See [`SnichIommuSpec::unmap`].
    pub unmap: f64,
}

/// The card's management-port latencies, in card clock cycles.
#[derive(Debug, Clone, PartialEq)]
pub struct SnichCardCosts {
    /// See [`SnichCardSpec::mgmt_command`].
    pub mgmt_command: u32,
    /// See [`SnichCardSpec::mgmt_displacement`].
    pub mgmt_displacement: u32,
}

/// The copy engine's numbers: host costs in cycles, device times as durations.
#[derive(Debug, Clone, PartialEq)]
pub struct SnichCopyEngineCosts {
    /// See [`SnichCopyEngineSpec::channels`].
    pub channels: u32,
    /// See [`SnichCopyEngineSpec::ring_entries`].
    pub ring_entries: u32,
    /// See [`SnichCopyEngineSpec::submit`] (cycles).
    pub submit: f64,
    /// See [`SnichCopyEngineSpec::doorbell`].
    pub doorbell: SimDuration,
    /// See [`SnichCopyEngineSpec::descriptor_fetch`].
    pub descriptor_fetch: SimDuration,
    /// See [`SnichCopyEngineSpec::channel_bandwidth`] (bytes per microsecond).
    pub channel_bytes_per_us: u64,
    /// See [`SnichCopyEngineSpec::completion_write`].
    pub completion_write: SimDuration,
    /// See [`SnichCopyEngineSpec::completion_poll`] (cycles).
    pub completion_poll: f64,
    /// See [`SnichCopyEngineSpec::completion_interrupt`] (cycles).
    pub completion_interrupt: f64,
}

/// The CPU copy's fixed cost, in cycles.
#[derive(Debug, Clone, PartialEq)]
pub struct SnichCpuCopyCosts {
    /// See [`SnichCpuCopySpec::fixed`].
    pub fixed: f64,
}

/// The sNICh system's costs.
#[derive(Debug, Clone, PartialEq)]
pub struct SnichCosts {
    /// `[snich.card]`.
    pub card: SnichCardCosts,
    /// `[snich.driver]`.
    pub driver: SnichDriverCosts,
    /// `[snich.agent]`.
    pub agent: SnichAgentCosts,
    /// `[snich.iommu]`.
    pub iommu: SnichIommuCosts,
    /// `[snich.copy_engine]`.
    pub copy_engine: SnichCopyEngineCosts,
    /// `[snich.cpu_copy]`.
    pub cpu_copy: SnichCpuCopyCosts,
}

/// A validated profile: host costs in cycles (fractional: a per-byte cost is less than one).
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// `meta.name`.
    pub name: String,
    /// The clock `ns` costs were converted at.
    pub reference_clock_mhz: u32,
    /// `[vnic]`.
    pub vnic: VnicCosts,
    /// `[nic_driver]`.
    pub nic_driver: NicDriverCosts,
    /// `[linux_bridge]`.
    pub linux_bridge: BridgeCosts,
    /// `[ovs]`.
    pub ovs: OvsCosts,
    /// `[ovs_kernel]`.
    pub ovs_kernel: OvsKernelCosts,
    /// `[ovs_dpdk]`.
    pub ovs_dpdk: OvsDpdkCosts,
    /// `[classifier]`.
    pub classifier: ClassifierCosts,
    /// `[snich]`.
    pub snich: SnichCosts,
    sources: BTreeMap<String, String>,
}

/// Validates one section's quantities, recording each key's source.
struct Checker<'a> {
    file: &'a str,
    clock_mhz: f64,
    sources: BTreeMap<String, String>,
}

impl Checker<'_> {
    fn invalid(&self, key: &str, what: impl Into<String>) -> ProfileError {
        ProfileError::Invalid {
            file: self.file.to_string(),
            key: key.to_string(),
            what: what.into(),
        }
    }

    fn common(&mut self, key: &str, q: &QuantitySpec, units: &[&str]) -> Result<(), ProfileError> {
        if q.source.trim().is_empty() {
            return Err(self.invalid(
                key,
                "source is empty: every number must say where it comes from",
            ));
        }
        if !units.contains(&q.unit.as_str()) {
            return Err(self.invalid(
                key,
                format!("unit \"{}\" is not one of {}", q.unit, units.join(", ")),
            ));
        }
        if !q.value.is_finite() || q.value < 0.0 {
            return Err(self.invalid(
                key,
                format!("value {} must be finite and not negative", q.value),
            ));
        }
        self.sources.insert(key.to_string(), q.source.clone());
        Ok(())
    }

    /// A host cost in cycles.
    fn cycles(&mut self, key: &str, q: &QuantitySpec) -> Result<f64, ProfileError> {
        self.common(key, q, &["ns", "cycles"])?;
        Ok(if q.unit == "ns" {
            q.value * self.clock_mhz / 1_000.0
        } else {
            q.value
        })
    }

    /// A whole, positive count in `unit`.
    fn count(&mut self, key: &str, q: &QuantitySpec, unit: &str) -> Result<u64, ProfileError> {
        self.common(key, q, &[unit])?;
        if q.value < 1.0 || q.value.fract() != 0.0 || q.value > 1e15 {
            return Err(self.invalid(
                key,
                format!("value {} must be a whole number from 1", q.value),
            ));
        }
        Ok(f64_to_u64(q.value))
    }

    fn count_u32(&mut self, key: &str, q: &QuantitySpec, unit: &str) -> Result<u32, ProfileError> {
        let v = self.count(key, q, unit)?;
        u32::try_from(v).map_err(|_| self.invalid(key, format!("value {v} is too large")))
    }

    /// A switch, `flag`: 0 (off) or 1 (on).
    fn flag(&mut self, key: &str, q: &QuantitySpec) -> Result<bool, ProfileError> {
        self.common(key, q, &["flag"])?;
        if q.value != 0.0 && q.value != 1.0 {
            return Err(self.invalid(key, format!("value {} must be 0 or 1", q.value)));
        }
        Ok(q.value == 1.0)
    }

    /// A whole number of the card's clock cycles (0 allowed).
    fn card_cycles(&mut self, key: &str, q: &QuantitySpec) -> Result<u32, ProfileError> {
        self.common(key, q, &["cycles"])?;
        if q.value.fract() != 0.0 || q.value > f64::from(u32::MAX) {
            return Err(self.invalid(
                key,
                format!(
                    "value {} must be a whole number of cycles below 2^32",
                    q.value
                ),
            ));
        }
        let v = f64_to_u64(q.value);
        u32::try_from(v).map_err(|_| self.invalid(key, format!("value {v} is too large")))
    }

    /// A duration given in `unit` (`ns` or `ms`).
    fn duration(
        &mut self,
        key: &str,
        q: &QuantitySpec,
        unit: &str,
    ) -> Result<SimDuration, ProfileError> {
        self.common(key, q, &[unit])?;
        let ps_per_unit = if unit == "ms" { 1e9 } else { 1e3 };
        let ps = q.value * ps_per_unit;
        if ps > 1e18 {
            return Err(self.invalid(key, format!("value {} is too large", q.value)));
        }
        Ok(SimDuration(f64_to_u64(ps.round())))
    }
}

/// A finite value already checked to lie in 0..=1e18.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn f64_to_u64(v: f64) -> u64 {
    // Callers check the range, so the cast neither wraps nor loses the sign.
    v as u64
}

impl Profile {
    /// The built-in profile (`profiles/default.toml`, compiled in).
    pub fn builtin() -> Result<Profile, ProfileError> {
        Profile::parse(DEFAULT_PROFILE_TOML, BUILTIN_FILE)
    }

    /// Reads and validates the profile file at `path`.
    pub fn load(path: &Path) -> Result<Profile, ProfileError> {
        let (text, file) = read_profile(path)?;
        Profile::parse(&text, &file)
    }

    /// The profile a switch context names (or the built-in one), with `overrides` applied.
    pub fn for_context(
        path: Option<&PathBuf>,
        overrides: &ProfileOverrides,
    ) -> Result<Profile, ProfileError> {
        let (text, file) = match path {
            Some(p) => {
                let (text, file) = read_profile(p)?;
                (std::borrow::Cow::Owned(text), file)
            }
            None => (
                std::borrow::Cow::Borrowed(DEFAULT_PROFILE_TOML),
                BUILTIN_FILE.to_string(),
            ),
        };
        Profile::parse_with(&text, &file, overrides)
    }

    /// Parses profile TOML; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Profile, ProfileError> {
        Profile::parse_with(text, file, &ProfileOverrides::default())
    }

    /// Parses profile TOML with `overrides` applied; `file` names it in errors.
    pub fn parse_with(
        text: &str,
        file: &str,
        overrides: &ProfileOverrides,
    ) -> Result<Profile, ProfileError> {
        let parse_err = |e: toml::de::Error| ProfileError::Parse {
            file: file.to_string(),
            what: e.to_string().trim_end().replace('\n', " "),
        };
        let spec: ProfileSpec = if overrides.is_empty() {
            toml::from_str(text).map_err(parse_err)?
        } else {
            overrides.apply(text, file)?.try_into().map_err(parse_err)?
        };
        Profile::from_spec(&spec, file)
    }

    /// Validates a spec; `file` names it in errors.
    pub fn from_spec(spec: &ProfileSpec, file: &str) -> Result<Profile, ProfileError> {
        let mut c = Checker {
            file,
            clock_mhz: 1.0,
            sources: BTreeMap::new(),
        };
        let clock = c.count_u32(
            "meta.reference_clock_mhz",
            &spec.meta.reference_clock_mhz,
            "MHz",
        )?;
        c.clock_mhz = f64::from(clock);
        if spec.meta.name.trim().is_empty() {
            return Err(c.invalid("meta.name", "must not be empty"));
        }
        let v = &spec.vnic;
        let vnic = VnicCosts {
            from_vm: c.cycles("vnic.from_vm", &v.from_vm)?,
            to_vm: c.cycles("vnic.to_vm", &v.to_vm)?,
            copy_per_byte: c.cycles("vnic.copy_per_byte", &v.copy_per_byte)?,
            worker_wakeup: c.cycles("vnic.worker_wakeup", &v.worker_wakeup)?,
            guest_notify: c.cycles("vnic.guest_notify", &v.guest_notify)?,
            rx_queue: c.count_u32("vnic.rx_queue", &v.rx_queue, "packets")?,
        };
        let d = &spec.nic_driver;
        let nic_driver = NicDriverCosts {
            rx: c.cycles("nic_driver.rx", &d.rx)?,
            tx: c.cycles("nic_driver.tx", &d.tx)?,
            rx_ring: c.count_u32("nic_driver.rx_ring", &d.rx_ring, "packets")?,
            tx_ring: c.count_u32("nic_driver.tx_ring", &d.tx_ring, "packets")?,
        };
        let b = &spec.linux_bridge;
        let linux_bridge = BridgeCosts {
            forward: c.cycles("linux_bridge.forward", &b.forward)?,
            netfilter_hook: c.cycles("linux_bridge.netfilter_hook", &b.netfilter_hook)?,
            netfilter_per_rule: c
                .cycles("linux_bridge.netfilter_per_rule", &b.netfilter_per_rule)?,
            netfilter_set_lookup: c
                .cycles("linux_bridge.netfilter_set_lookup", &b.netfilter_set_lookup)?,
            netfilter_set_miss: c
                .cycles("linux_bridge.netfilter_set_miss", &b.netfilter_set_miss)?,
            netfilter_set_elements_cached: c.count(
                "linux_bridge.netfilter_set_elements_cached",
                &b.netfilter_set_elements_cached,
                "entries",
            )?,
        };
        let k = &spec.ovs_kernel;
        let ovs_kernel = OvsKernelCosts {
            fast_path: c.cycles("ovs_kernel.fast_path", &k.fast_path)?,
            mask_cache_probe: c.cycles("ovs_kernel.mask_cache_probe", &k.mask_cache_probe)?,
            mask_cache_entries: c.count_u32(
                "ovs_kernel.mask_cache_entries",
                &k.mask_cache_entries,
                "entries",
            )?,
        };
        let p = &spec.ovs_dpdk;
        let pmd_cores = c.count_u32("ovs_dpdk.pmd_cores", &p.pmd_cores, "cores")?;
        let ovs_dpdk = OvsDpdkCosts {
            pmd_cores: u16::try_from(pmd_cores)
                .map_err(|_| c.invalid("ovs_dpdk.pmd_cores", "at most 65,535"))?,
            fast_path: c.cycles("ovs_dpdk.fast_path", &p.fast_path)?,
            phy_rx: c.cycles("ovs_dpdk.phy_rx", &p.phy_rx)?,
            phy_tx: c.cycles("ovs_dpdk.phy_tx", &p.phy_tx)?,
            vhost_rx: c.cycles("ovs_dpdk.vhost_rx", &p.vhost_rx)?,
            vhost_tx: c.cycles("ovs_dpdk.vhost_tx", &p.vhost_tx)?,
            vhost_rxq_poll: c.cycles("ovs_dpdk.vhost_rxq_poll", &p.vhost_rxq_poll)?,
            phy_rxq_poll: c.cycles("ovs_dpdk.phy_rxq_poll", &p.phy_rxq_poll)?,
            rx_burst: c.count_u32("ovs_dpdk.rx_burst", &p.rx_burst, "packets")?,
            smc_enabled: c.flag("ovs_dpdk.smc_enabled", &p.smc_enabled)?,
            smc_entries: c.count_u32("ovs_dpdk.smc_entries", &p.smc_entries, "entries")?,
            smc_probe: c.cycles("ovs_dpdk.smc_probe", &p.smc_probe)?,
        };
        if ovs_dpdk.rx_burst == 0 {
            return Err(c.invalid("ovs_dpdk.rx_burst", "must be at least 1"));
        }
        let o = &spec.ovs;
        let ovs = OvsCosts {
            fast_path: c.cycles("ovs.fast_path", &o.fast_path)?,
            emc_hit: c.cycles("ovs.emc_hit", &o.emc_hit)?,
            dpcls_per_subtable: c.cycles("ovs.dpcls_per_subtable", &o.dpcls_per_subtable)?,
            upcall: c.cycles("ovs.upcall", &o.upcall)?,
            megaflow_install: c.cycles("ovs.megaflow_install", &o.megaflow_install)?,
            revalidation_per_flow: c
                .cycles("ovs.revalidation_per_flow", &o.revalidation_per_flow)?,
            revalidation_interval: c.duration(
                "ovs.revalidation_interval",
                &o.revalidation_interval,
                "ms",
            )?,
            max_idle: c.duration("ovs.max_idle", &o.max_idle, "ms")?,
            flow_limit: c.count("ovs.flow_limit", &o.flow_limit, "flows")?,
            emc_entries: c.count_u32("ovs.emc_entries", &o.emc_entries, "entries")?,
            emc_insert_inverse_probability: c.count_u32(
                "ovs.emc_insert_inverse_probability",
                &o.emc_insert_inverse_probability,
                "packets",
            )?,
            upcall_queue: c.count_u32("ovs.upcall_queue", &o.upcall_queue, "packets")?,
        };
        if ovs.revalidation_interval == SimDuration::ZERO {
            return Err(c.invalid("ovs.revalidation_interval", "must be positive"));
        }
        let classifier = ClassifierCosts {
            per_visit: c.cycles("classifier.per_visit", &spec.classifier.per_visit)?,
        };
        let snich = snich_costs(&mut c, &spec.snich)?;
        Ok(Profile {
            name: spec.meta.name.clone(),
            reference_clock_mhz: clock,
            vnic,
            nic_driver,
            linux_bridge,
            ovs,
            ovs_kernel,
            ovs_dpdk,
            classifier,
            snich,
            sources: c.sources,
        })
    }

    /// Where the number under `key` (`ovs.emc_hit`) comes from.
    pub fn source(&self, key: &str) -> Option<&str> {
        self.sources.get(key).map(String::as_str)
    }

    /// Every key with its source, in key order.
    pub fn sources(&self) -> &BTreeMap<String, String> {
        &self.sources
    }
}

/// The text of the profile file at `path`, and its name for errors.
fn read_profile(path: &Path) -> Result<(String, String), ProfileError> {
    let file = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => Ok((text, file)),
        Err(e) => Err(ProfileError::Io {
            file,
            what: e.to_string(),
        }),
    }
}

/// Validates `[snich]`.
fn snich_costs(c: &mut Checker<'_>, s: &SnichSpec) -> Result<SnichCosts, ProfileError> {
    let d = &s.driver;
    let a = &s.agent;
    let i = &s.iommu;
    let k = &s.card;
    let e = &s.copy_engine;
    Ok(SnichCosts {
        card: SnichCardCosts {
            mgmt_command: c.card_cycles("snich.card.mgmt_command", &k.mgmt_command)?,
            mgmt_displacement: c
                .card_cycles("snich.card.mgmt_displacement", &k.mgmt_displacement)?,
        },
        driver: SnichDriverCosts {
            mmio_write: c.cycles("snich.driver.mmio_write", &d.mmio_write)?,
            mmio_read: c.cycles("snich.driver.mmio_read", &d.mmio_read)?,
            interrupt: c.cycles("snich.driver.interrupt", &d.interrupt)?,
            miss_record: c.cycles("snich.driver.miss_record", &d.miss_record)?,
            release: c.cycles("snich.driver.release", &d.release)?,
        },
        agent: SnichAgentCosts {
            setup: c.cycles("snich.agent.setup", &a.setup)?,
            held: c.cycles("snich.agent.held", &a.held)?,
            software_forward: c.cycles("snich.agent.software_forward", &a.software_forward)?,
        },
        iommu: SnichIommuCosts {
            map: c.cycles("snich.iommu.map", &i.map)?,
            unmap: c.cycles("snich.iommu.unmap", &i.unmap)?,
        },
        copy_engine: SnichCopyEngineCosts {
            channels: c.count_u32("snich.copy_engine.channels", &e.channels, "channels")?,
            ring_entries: c.count_u32(
                "snich.copy_engine.ring_entries",
                &e.ring_entries,
                "entries",
            )?,
            submit: c.cycles("snich.copy_engine.submit", &e.submit)?,
            doorbell: c.duration("snich.copy_engine.doorbell", &e.doorbell, "ns")?,
            descriptor_fetch: c.duration(
                "snich.copy_engine.descriptor_fetch",
                &e.descriptor_fetch,
                "ns",
            )?,
            channel_bytes_per_us: c.count(
                "snich.copy_engine.channel_bandwidth",
                &e.channel_bandwidth,
                "MB/s",
            )?,
            completion_write: c.duration(
                "snich.copy_engine.completion_write",
                &e.completion_write,
                "ns",
            )?,
            completion_poll: c.cycles("snich.copy_engine.completion_poll", &e.completion_poll)?,
            completion_interrupt: c.cycles(
                "snich.copy_engine.completion_interrupt",
                &e.completion_interrupt,
            )?,
        },
        cpu_copy: SnichCpuCopyCosts {
            fixed: c.cycles("snich.cpu_copy.fixed", &s.cpu_copy.fixed)?,
        },
    })
}

/// The time `cycles` take on a core of `clock_mhz` (rounded to the picosecond).
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
pub fn cycles_at(cycles: f64, clock_mhz: u32) -> SimDuration {
    let ps = cycles.max(0.0) * 1e6 / f64::from(clock_mhz.max(1));
    // Not negative; `as` saturates at the top.
    SimDuration(ps.round() as u64)
}

/// Whole cycles of a fractional cost (rounded to nearest; costs are small and not negative).
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
pub fn whole_cycles(c: f64) -> u64 {
    // Not negative by validation; `as` saturates at the top.
    c.max(0.0).round() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_profile_loads_and_every_number_has_a_source() {
        let p = Profile::builtin().expect("built-in profile");
        assert_eq!(p.reference_clock_mhz, 2_600);
        // Every number of the file (each written with its `source`) is read and has one.
        let numbers = DEFAULT_PROFILE_TOML.matches("source = \"").count();
        assert_eq!(numbers, 67);
        assert_eq!(
            p.snich.card.mgmt_command,
            nic_abi::table::MGMT_COMMAND_CYCLES
        );
        assert_eq!(
            p.snich.card.mgmt_displacement,
            nic_abi::table::MGMT_CYCLES_PER_KICK
        );
        assert_eq!(p.sources().len(), numbers);
        assert!(p.sources().values().all(|s| !s.trim().is_empty()));
        assert_eq!(p.ovs.flow_limit, 200_000);
        assert_eq!(p.ovs.revalidation_interval, SimDuration::from_ms(500));
        // 790 ns at 2.6 GHz.
        assert!((p.vnic.from_vm - 2_054.0).abs() < 1e-9);
    }

    #[test]
    fn errors_name_the_file_and_the_key() {
        let bad_unit = DEFAULT_PROFILE_TOML.replacen(
            "emc_hit = { value = 20, unit = \"ns\"",
            "emc_hit = { value = 20, unit = \"us\"",
            1,
        );
        let e = Profile::parse(&bad_unit, "x.toml").expect_err("bad unit");
        let msg = e.to_string();
        assert!(msg.starts_with("x.toml: ovs.emc_hit: unit \"us\""), "{msg}");

        let no_source = DEFAULT_PROFILE_TOML.replacen(
            "source = \"OVS other_config:flow-limit default 200,000 (vswitchd/vswitch.xml)\"",
            "source = \" \"",
            1,
        );
        let msg = Profile::parse(&no_source, "y.toml")
            .expect_err("no source")
            .to_string();
        assert!(
            msg.starts_with("y.toml: ovs.flow_limit: source is empty"),
            "{msg}"
        );

        let unknown = format!("{DEFAULT_PROFILE_TOML}\n[extra]\nx = 1\n");
        let msg = Profile::parse(&unknown, "z.toml")
            .expect_err("unknown")
            .to_string();
        assert!(msg.starts_with("z.toml:") && msg.contains("extra"), "{msg}");

        let fractional = DEFAULT_PROFILE_TOML.replacen("value = 8192", "value = 8192.5", 1);
        let msg = Profile::parse(&fractional, "w.toml")
            .expect_err("fraction")
            .to_string();
        assert!(
            msg.contains("ovs.emc_entries") && msg.contains("whole"),
            "{msg}"
        );

        let missing = Profile::load(Path::new("/nonexistent/profile.toml")).expect_err("io");
        assert!(missing
            .to_string()
            .starts_with("/nonexistent/profile.toml: cannot read"));
    }

    #[test]
    fn cycles_costs_are_taken_as_written() {
        let t = DEFAULT_PROFILE_TOML.replacen(
            "emc_hit = { value = 20, unit = \"ns\"",
            "emc_hit = { value = 77, unit = \"cycles\"",
            1,
        );
        let p = Profile::parse(&t, "t.toml").expect("valid");
        assert!((p.ovs.emc_hit - 77.0).abs() < 1e-12);
    }
}
