//! Cost profiles: the per-operation costs of the baselines, each with the source it came from.
//!
//! A profile is a TOML file (`profiles/*.toml` at the repository root) read into a plain
//! [`ProfileSpec`] (serde, unknown keys refused) and validated into a [`Profile`] through
//! [`Profile::from_spec`]. Every number is written `{ value = .., unit = "..", source = ".." }`
//! so that no cost lives without the datasheet, paper, measurement or estimate it came from;
//! a missing or empty `source` is an error. Host costs are `"ns"` or `"cycles"`; nanoseconds
//! are converted to cycles at the profile's `meta.reference_clock_mhz` (the clock they were
//! measured at), so a profile's costs scale with the scenario's clock like the work they
//! stand for. Sizes are `"packets"`, `"flows"` or `"entries"`; intervals `"ms"`; the VEB's
//! on-card times `"ns"`.
//!
//! The built-in profile ([`Profile::builtin`], `profiles/default.toml`) is calibrated against
//! the real switches measured on this project's machines; DESIGN.md ("Baselines, the host CPU
//! model and cost profiles") says which numbers were fitted and which predicted. Only the
//! baselines read a profile; the sNICh system's costs are constants of `snich-system`,
//! `host-driver` and `flow-setup`.
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
}

/// One number as a profile file writes it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuantitySpec {
    /// The value, in `unit`.
    pub value: f64,
    /// `ns`, `cycles`, `MHz`, `packets`, `flows`, `entries` or `ms`, as the key requires.
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
        Profile::parse(DEFAULT_PROFILE_TOML, "profiles/default.toml (built in)")
    }

    /// Reads and validates the profile file at `path`.
    pub fn load(path: &Path) -> Result<Profile, ProfileError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ProfileError::Io {
            file: file.clone(),
            what: e.to_string(),
        })?;
        Profile::parse(&text, &file)
    }

    /// The profile a switch context names, or the built-in one.
    pub fn for_context(path: Option<&PathBuf>) -> Result<Profile, ProfileError> {
        match path {
            Some(p) => Profile::load(p),
            None => Profile::builtin(),
        }
    }

    /// Parses profile TOML; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Profile, ProfileError> {
        let spec: ProfileSpec = toml::from_str(text).map_err(|e| ProfileError::Parse {
            file: file.to_string(),
            what: e.to_string().trim_end().replace('\n', " "),
        })?;
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
        };
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
        Ok(Profile {
            name: spec.meta.name.clone(),
            reference_clock_mhz: clock,
            vnic,
            nic_driver,
            linux_bridge,
            ovs,
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
        // 23 numbers, each with a source.
        assert_eq!(p.sources().len(), 23);
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
