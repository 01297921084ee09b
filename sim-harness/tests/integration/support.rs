//! Test helpers: an ideal test-only switch (so runs, reports and sweeps can be tested before
//! the real switches are built in), golden files, paths.
//!
//! The ideal wire is honest and simple: it classifies every frame against the context's rules
//! (highest priority first, the first of equal priority winning, as flow-setup's reference
//! classifier does), drops what the rule drops (`rule_drop`) or what no rule matches
//! (`no_match`), and delivers the rest after a fixed delay, serialised on the output port at
//! the uplink's line rate. It spends no host CPU and no PCIe. It is never shipped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use flow_setup::rule::{Action, Rule};
use nic_abi::parse::parse_software;
use nic_abi::time::{SimDuration, SimTime};
use sim_harness::switch::{
    DropReason, OfferedPacket, SwitchContext, SwitchError, SwitchKind, SwitchRun, SwitchUnderTest,
    Topology,
};

pub struct IdealWire {
    rules: Vec<Rule>,
    delay: SimDuration,
    ps_per_byte: u64,
    port_free: BTreeMap<u16, SimTime>,
    run: SwitchRun,
    first: bool,
    cycles_per_packet: u64,
}

impl IdealWire {
    pub fn new(
        name: &str,
        ctx: &SwitchContext,
        delay_ns: u64,
        cycles_per_packet: u64,
    ) -> IdealWire {
        let mut rules = ctx.rules.clone();
        // Stable: among equal priorities the earlier rule stays first.
        rules.sort_by_key(|r| std::cmp::Reverse(r.priority));
        IdealWire {
            rules,
            delay: SimDuration::from_ns(delay_ns),
            ps_per_byte: 8 * ctx.card.macs[0].speed.ps_per_bit(),
            port_free: BTreeMap::new(),
            run: SwitchRun::new(name).expect("run"),
            first: true,
            cycles_per_packet,
        }
    }
}

impl SwitchUnderTest for IdealWire {
    fn name(&self) -> String {
        self.run.switch.clone()
    }

    fn offer(&mut self, p: OfferedPacket) -> Result<(), SwitchError> {
        if self.first {
            self.run.first_offer = p.at;
            self.first = false;
        }
        self.run.ledger.offer();
        if self.cycles_per_packet > 0 {
            self.run.charge_cpu("ideal", self.cycles_per_packet);
        }
        let key = parse_software(&p.frame, Topology::ingress_port(p.from));
        let Some(rule) = self.rules.iter().find(|r| r.pattern.matches(&key)) else {
            self.run.record_drop(p.at, DropReason::NoMatch);
            return Ok(());
        };
        let Some(port) = rule.actions.iter().find_map(|a| match a {
            Action::Output(port) => Some(*port),
            _ => None,
        }) else {
            self.run.record_drop(p.at, DropReason::RuleDrop);
            return Ok(());
        };
        // Wire time with preamble, FCS and gap (24 bytes).
        let wire = SimDuration::from_ps((p.frame.len() as u64 + 24) * self.ps_per_byte);
        let free = self.port_free.entry(port.0).or_insert(SimTime::ZERO);
        let start = (*free).max(p.at + self.delay);
        let done = start + wire;
        *free = done;
        self.run.record_delivery(p.at, done, p.frame.len());
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<SwitchRun, SwitchError> {
        let run = self.run;
        run.ledger
            .check_drained()
            .map_err(|violation| SwitchError::Conservation {
                switch: run.switch.clone(),
                violation,
            })?;
        Ok(run)
    }
}

/// Builds an ideal wire for every kind, each with its own delay so the columns differ.
pub fn ideal_factory(
    kind: SwitchKind,
    ctx: &SwitchContext,
) -> Result<Box<dyn SwitchUnderTest>, SwitchError> {
    let delay = match kind {
        SwitchKind::Snich => 500,
        SwitchKind::LinuxBridge => 5_000,
        SwitchKind::LinuxBridgeNftset => 4_000,
        SwitchKind::OvsKernel => 2_000,
        SwitchKind::OvsDpdk => 1_500,
        SwitchKind::OvsAfxdp => 3_000,
        SwitchKind::SriovVeb => 800,
    };
    Ok(Box::new(IdealWire::new(
        &format!("ideal-{}", kind.name()),
        ctx,
        delay,
        0,
    )))
}

/// Ideal wires named as the real switches, each charging a fixed number of host CPU cycles
/// per packet (sNICh 100, the Linux bridge 50 and 60 with sets, Open vSwitch 150 kernel, 120 DPDK, 200
/// AF_XDP, SR-IOV 0), so the paper's
/// claims both hold and fail somewhere.
pub fn named_factory(
    kind: SwitchKind,
    ctx: &SwitchContext,
) -> Result<Box<dyn SwitchUnderTest>, SwitchError> {
    let cycles = match kind {
        SwitchKind::Snich => 100,
        SwitchKind::LinuxBridge => 50,
        SwitchKind::LinuxBridgeNftset => 60,
        SwitchKind::OvsKernel => 150,
        SwitchKind::OvsDpdk => 120,
        SwitchKind::OvsAfxdp => 200,
        SwitchKind::SriovVeb => 0,
    };
    let name = match (kind, ctx.inter_vm) {
        (SwitchKind::Snich, m) if m != sim_harness::switch::InterVmCopy::CopyEngine => {
            format!("snich/{}", m.name())
        }
        _ => kind.name().to_string(),
    };
    Ok(Box::new(IdealWire::new(&name, ctx, 1_000, cycles)))
}

pub fn here(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/integration")
        .join(rel)
}

pub fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

/// Compares `actual` with golden file `name`; `SNICH_BLESS=1` (or `UPDATE_GOLDEN=1`)
/// rewrites it.
pub fn golden(name: &str, actual: &str) {
    let path = here("golden").join(name);
    if std::env::var_os("SNICH_BLESS").is_some() || std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).expect("write golden");
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with SNICH_BLESS=1)", path.display()));
    assert_eq!(actual, expected, "output differs from {}", path.display());
}

/// A scratch directory unique to this test process and `name`.
pub fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("snich-it-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

/// A classic pcap file header (little-endian, version 2.4, snap length 65,535) of link type
/// `link` (1: Ethernet).
pub fn pcap_header(link: u32) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&4u16.to_le_bytes());
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&65_535u32.to_le_bytes());
    b.extend_from_slice(&link.to_le_bytes());
    b
}

/// A classic Ethernet pcap file of `records`, record `i` at `i` seconds, none cut short.
pub fn pcap(records: &[Vec<u8>]) -> Vec<u8> {
    let mut b = pcap_header(1);
    for (i, r) in records.iter().enumerate() {
        b.extend_from_slice(&u32::try_from(i).unwrap().to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&u32::try_from(r.len()).unwrap().to_le_bytes());
        b.extend_from_slice(&u32::try_from(r.len()).unwrap().to_le_bytes());
        b.extend_from_slice(r);
    }
    b
}
