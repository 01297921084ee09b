//! Helpers that stand in for the other side of the switch boundary in tests, the calibration
//! and the benches: a topology, a switch context, UDP frames between endpoints and a steady
//! stream of offers. A scenario builds all of these from its file; these are the small fixed
//! versions.

use bytes::Bytes;
use nic_abi::key::{FlowKey, MacAddr};
use nic_abi::time::{SimDuration, SimTime};

use crate::host_cpu::HostConfig;
use crate::switch::{
    Endpoint, ExternalNode, InterVmCopy, OfferedPacket, SwitchContext, Topology, VmIndex, VmNode,
};

/// `vms` VMs (MAC 02:00:00:00:01:i, 10.0.1.i, no VLAN, 256-entry rings) and `external`
/// hosts behind the uplink (MAC 02:00:00:00:ff:i, 192.0.2.i).
pub fn topology(vms: u16, external: u16) -> Topology {
    let low = |i: u16| u8::try_from(i & 0xff).unwrap_or(0);
    let high = |i: u16| u8::try_from(i >> 8).unwrap_or(0);
    Topology {
        vms: (0..vms)
            .map(|i| VmNode {
                mac: MacAddr([2, 0, 0, high(i), 1, low(i)]),
                ipv4: 0x0a00_0100 + u32::from(i),
                vlan: None,
                queue_entries: 256,
            })
            .collect(),
        external_hosts: (0..external)
            .map(|i| ExternalNode {
                mac: MacAddr([2, 0, 0, high(i), 0xff, low(i)]),
                ipv4: 0xc000_0200 + u32::from(i),
            })
            .collect(),
    }
}

/// A context with [`topology`]`(vms, external)`, `cores` cores at 2.6 GHz, the default card,
/// `rules`, the built-in profile and seed 1.
pub fn context(
    vms: u16,
    external: u16,
    cores: u16,
    rules: Vec<flow_setup::rule::Rule>,
) -> SwitchContext {
    SwitchContext {
        topology: topology(vms, external),
        rules,
        host: HostConfig {
            cores,
            ..HostConfig::default()
        },
        card: nic_model::card::CardConfig::default(),
        inter_vm: InterVmCopy::default(),
        copy_completion: Default::default(),
        profile: None,
        profile_overrides: Default::default(),
        seed: 1,
        faults: Default::default(),
        backlog_checkpoint: None,
    }
}

/// A parsed key of a frame to `mac` (the rest zero), for forwarding tests.
pub fn key_to(mac: MacAddr) -> FlowKey {
    FlowKey {
        dl_dst: mac,
        ..FlowKey::default()
    }
}

fn addresses(t: &Topology, e: Endpoint) -> (MacAddr, u32) {
    match e {
        Endpoint::Vm(vm) => t
            .vms
            .get(usize::from(vm.0))
            .map_or((MacAddr([2, 0, 0, 0, 0, 0]), 0), |v| (v.mac, v.ipv4)),
        Endpoint::External(h) => t
            .external_hosts
            .get(usize::from(h.0))
            .map_or((MacAddr([2, 0, 0, 0, 0, 0]), 0), |x| (x.mac, x.ipv4)),
    }
}

/// An Ethernet + IPv4 + UDP frame of `len` bytes (at least 42; without FCS) from `from` to
/// `to`, source port `sport`, destination port `dport`.
pub fn udp_frame_ports(
    t: &Topology,
    from: Endpoint,
    to: Endpoint,
    sport: u16,
    dport: u16,
    len: usize,
) -> Bytes {
    let (smac, sip) = addresses(t, from);
    let (dmac, dip) = addresses(t, to);
    let len = len.max(42);
    let ip_len = u16::try_from(len - 14).unwrap_or(u16::MAX);
    let udp_len = ip_len.saturating_sub(20);
    let mut f = Vec::with_capacity(len);
    f.extend(dmac.0);
    f.extend(smac.0);
    f.extend([0x08, 0x00]);
    f.extend([0x45, 0]);
    f.extend(ip_len.to_be_bytes());
    f.extend([0, 0, 0, 0, 64, 17, 0, 0]);
    f.extend(sip.to_be_bytes());
    f.extend(dip.to_be_bytes());
    f.extend(sport.to_be_bytes());
    f.extend(dport.to_be_bytes());
    f.extend(udp_len.to_be_bytes());
    f.extend([0, 0]);
    f.resize(len, 0);
    Bytes::from(f)
}

/// [`udp_frame_ports`] for flow number `flow`: source port `1024 + flow`, destination port 9.
pub fn udp_frame(t: &Topology, from: Endpoint, to: Endpoint, flow: u16, len: usize) -> Bytes {
    udp_frame_ports(t, from, to, 1024u16.wrapping_add(flow), 9, len)
}

/// `n` 60-byte (64 on the wire) UDP packets, one every `interval`, from VMs `0..senders` in
/// turn, VM `s` sending to VM `(s + 1) % vms`, one flow per sender.
pub fn offer_stream(
    t: &Topology,
    n: u64,
    interval: SimDuration,
    senders: u16,
) -> impl Iterator<Item = OfferedPacket> + '_ {
    let vms = u16::try_from(t.vms.len()).unwrap_or(u16::MAX).max(1);
    let senders = senders.clamp(1, vms);
    let frames: Vec<(Endpoint, Bytes)> = (0..senders)
        .map(|s| {
            let from = Endpoint::Vm(VmIndex(s));
            let to = Endpoint::Vm(VmIndex((s + 1) % vms));
            (from, udp_frame(t, from, to, s, 60))
        })
        .collect();
    (0..n).map(move |k| {
        let i = usize::try_from(k % u64::from(senders)).unwrap_or(0);
        let (from, frame) = frames[i].clone();
        OfferedPacket {
            at: SimTime(interval.0.saturating_mul(k)),
            from,
            frame,
        }
    })
}
