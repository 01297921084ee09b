//! VLAN editing of a frame by an action's [`VlanOp`]: set (or push) an 802.1Q tag, or strip
//! the outer tag, as Open vSwitch's `mod_vlan_vid`/`mod_vlan_pcp` and `strip_vlan` do.

use bytes::Bytes;
use nic_abi::action::VlanOp;

/// The frame after a VLAN edit (Open vSwitch `mod_vlan_vid`/`mod_vlan_pcp`, `strip_vlan`).
pub(super) fn apply_vlan_op(frame: &Bytes, op: VlanOp) -> Bytes {
    let tagged = frame.len() >= 18
        && matches!(
            u16::from_be_bytes([frame[12], frame[13]]),
            0x8100 | 0x88a8 | 0x9100
        );
    match op {
        VlanOp::Keep => frame.clone(),
        VlanOp::Strip => {
            if !tagged {
                return frame.clone();
            }
            let mut v = Vec::with_capacity(frame.len() - 4);
            v.extend_from_slice(&frame[..12]);
            v.extend_from_slice(&frame[16..]);
            Bytes::from(v)
        }
        VlanOp::Set { vid, pcp } => {
            let mut v = frame.to_vec();
            if tagged {
                let old = u16::from_be_bytes([v[14], v[15]]);
                let pcp_bits = match pcp {
                    Some(p) => u16::from(p.get()) << 13,
                    None => old & 0xe000,
                };
                let tci = pcp_bits | (old & 0x1000) | vid.get();
                v[14..16].copy_from_slice(&tci.to_be_bytes());
            } else if v.len() >= 12 {
                let tci = (u16::from(pcp.map_or(0, |p| p.get())) << 13) | vid.get();
                let mut tag = [0u8; 4];
                tag[..2].copy_from_slice(&0x8100u16.to_be_bytes());
                tag[2..].copy_from_slice(&tci.to_be_bytes());
                v.splice(12..12, tag);
            }
            Bytes::from(v)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nic_abi::action::{VlanId, VlanPcp};
    use nic_abi::emit::{FrameRepr, Ipv4Repr, NetworkRepr, TransportRepr, UdpRepr};

    #[test]
    fn vlan_edits() {
        let untagged = FrameRepr {
            network: NetworkRepr::Ipv4(Ipv4Repr::default()),
            transport: TransportRepr::Udp(UdpRepr::default()),
            min_len: 60,
            ..FrameRepr::default()
        }
        .to_bytes()
        .expect("an IPv4 frame");
        let set = VlanOp::Set {
            vid: VlanId::new(100).expect("vid"),
            pcp: Some(VlanPcp::new(5).expect("pcp")),
        };
        let tagged = apply_vlan_op(&untagged, set);
        assert_eq!(tagged.len(), 64);
        assert_eq!(&tagged[12..18], &[0x81, 0x00, 0xa0, 100, 0x08, 0x00]);
        let stripped = apply_vlan_op(&tagged, VlanOp::Strip);
        assert_eq!(stripped, untagged);
        assert_eq!(apply_vlan_op(&untagged, VlanOp::Strip), untagged);
    }
}
