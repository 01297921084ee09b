//! Capture replay (`kind = "pcap"`): the capture's unicast MAC addresses, in order of first
//! appearance, are mapped round-robin onto the scenario's VMs and then its external hosts,
//! and each frame's MACs and IPv4 addresses are rewritten to the mapped endpoints' (the IPv4
//! header checksum fixed). Frames that cannot be mapped (shorter than an Ethernet header, a
//! multicast source) are counted by reason and not offered; frames cut short by the
//! capture's snap length are padded back to their length on the wire.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use nic_abi::key::MacAddr;
use serde::{Deserialize, Serialize};

use super::spec::{Rate, ReplayTiming};
use super::{ext_host, vm};
use crate::capture::Capture;
use crate::switch::{Endpoint, Topology};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayStats {
    /// The capture file.
    pub file: String,
    /// Frames in the capture.
    pub frames: u64,
    /// Frames offered (mapped).
    pub offered: u64,
    /// Frames the capture cut short, padded back to their length.
    pub padded: u64,
    /// Frames not offered, by reason.
    pub malformed: BTreeMap<String, u64>,
    /// Distinct unicast MAC addresses mapped onto endpoints.
    pub addresses_mapped: u64,
}

/// A capture mapped onto the scenario's endpoints.
#[derive(Debug, Clone)]
pub struct Replay {
    /// Sender, frame and capture time (ps from the first frame) of every mapped frame.
    pub frames: Arc<Vec<(Endpoint, Bytes, u64)>>,
    /// What the mapping did.
    pub stats: ReplayStats,
    /// Timing.
    pub timing: ReplayTiming,
    /// The rate when timing is `rate`.
    pub rate: Rate,
}

/// The endpoints of a scenario, in mapping order: VMs, then external hosts.
fn endpoints(t: &Topology) -> Vec<(Endpoint, MacAddr, u32)> {
    let vms = t
        .vms
        .iter()
        .enumerate()
        .map(|(i, v)| (vm(i), v.mac, v.ipv4));
    let ext = (t.external_hosts.iter().enumerate()).map(|(i, h)| (ext_host(i), h.mac, h.ipv4));
    vms.chain(ext).collect()
}

fn mac_at(frame: &[u8], at: usize) -> MacAddr {
    let mut m = [0u8; 6];
    m.copy_from_slice(&frame[at..at + 6]);
    MacAddr(m)
}

/// Maps `capture` onto `topology`'s endpoints (see the module doc).
pub fn map_capture(
    capture: &Capture,
    topology: &Topology,
    timing: ReplayTiming,
    rate: Rate,
) -> Replay {
    let eps = endpoints(topology);
    let mut map: BTreeMap<MacAddr, usize> = BTreeMap::new();
    let mut stats = ReplayStats {
        file: capture.path.display().to_string(),
        frames: capture.frames.len() as u64,
        ..ReplayStats::default()
    };
    let mut frames = Vec::with_capacity(capture.frames.len());
    let t0 = capture.frames.first().map_or(0, |f| f.timestamp.as_nanos());
    let malformed = |stats: &mut ReplayStats, reason: &str| {
        *stats.malformed.entry(reason.to_string()).or_insert(0) += 1;
    };
    for f in &capture.frames {
        let mut data = f.data.clone();
        if data.len() < 14 {
            malformed(&mut stats, "shorter_than_ethernet_header");
            continue;
        }
        let src = mac_at(&data, 6);
        if src.0[0] & 1 != 0 {
            malformed(&mut stats, "multicast_source_mac");
            continue;
        }
        let dst = mac_at(&data, 0);
        let mut index = |mac: MacAddr| {
            let next = map.len();
            *map.entry(mac).or_insert(next) % eps.len()
        };
        let (from, src_mac, src_ip) = eps[index(src)];
        let dst_ep = (dst.0[0] & 1 == 0).then(|| eps[index(dst)]);
        data[6..12].copy_from_slice(&src_mac.0);
        if let Some((_, mac, _)) = dst_ep {
            data[0..6].copy_from_slice(&mac.0);
        }
        rewrite_ipv4(&mut data, src_ip, dst_ep.map(|(_, _, ip)| ip));
        let wire_len = usize::try_from(f.orig_len).unwrap_or(usize::MAX);
        if data.len() < wire_len && wire_len <= 9216 {
            data.resize(wire_len, 0);
            stats.padded += 1;
        }
        let ts = u64::try_from(
            f.timestamp
                .as_nanos()
                .saturating_sub(t0)
                .saturating_mul(1_000),
        )
        .unwrap_or(u64::MAX);
        frames.push((from, Bytes::from(data), ts));
    }
    stats.offered = frames.len() as u64;
    stats.addresses_mapped = map.len() as u64;
    Replay {
        frames: Arc::new(frames),
        stats,
        timing,
        rate,
    }
}

/// Rewrites the IPv4 addresses of an Ethernet frame (after up to two VLAN tags) and fixes
/// the header checksum; leaves other frames alone.
fn rewrite_ipv4(frame: &mut [u8], src: u32, dst: Option<u32>) {
    let mut at = 12;
    while at + 2 <= frame.len()
        && matches!(
            u16::from_be_bytes([frame[at], frame[at + 1]]),
            0x8100 | 0x88a8
        )
    {
        at += 4;
    }
    if at + 2 > frame.len() || u16::from_be_bytes([frame[at], frame[at + 1]]) != 0x0800 {
        return;
    }
    let ip = at + 2;
    if ip + 20 > frame.len() || frame[ip] >> 4 != 4 {
        return;
    }
    let ihl = usize::from(frame[ip] & 0x0f) * 4;
    if ihl < 20 || ip + ihl > frame.len() {
        return;
    }
    frame[ip + 12..ip + 16].copy_from_slice(&src.to_be_bytes());
    if let Some(d) = dst {
        frame[ip + 16..ip + 20].copy_from_slice(&d.to_be_bytes());
    }
    let sum = ipv4_checksum(&frame[ip..ip + ihl]);
    frame[ip + 10..ip + 12].copy_from_slice(&sum.to_be_bytes());
}

/// The IPv4 header checksum of `header` (its checksum field counted as zero).
fn ipv4_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for (i, pair) in header.chunks(2).enumerate() {
        if i == 5 {
            continue;
        }
        let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(u16::try_from(sum).unwrap_or(0xffff))
}
