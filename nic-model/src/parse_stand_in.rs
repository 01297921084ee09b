//! Interim header parser, used only until `nic_abi::parse::parse_card` (the card's parser,
//! defined once in `nic-abi`) is merged into main; then this file is deleted and the card
//! calls that function. It covers Ethernet II, one or two VLAN tags, IPv4 (with options,
//! fragments) and TCP/UDP ports; anything else keeps the fields parsed so far.

use nic_abi::key::{
    EtherType, FlowKey, FragFlags, KeyClass, MacAddr, PortNo, UnparsedReason, VlanTci,
};

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// The key of `frame`, received on `in_port`.
pub fn parse_card(frame: &[u8], in_port: PortNo) -> FlowKey {
    let mut key = FlowKey {
        in_port,
        ..FlowKey::default()
    };
    let truncated = |mut k: FlowKey| {
        k.class = KeyClass::Unparsed(UnparsedReason::Truncated);
        k
    };
    if frame.len() < 14 {
        return truncated(key);
    }
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&frame[0..6]);
    key.dl_dst = MacAddr(mac);
    mac.copy_from_slice(&frame[6..12]);
    key.dl_src = MacAddr(mac);
    let mut at = 12;
    let mut tags = 0;
    let mut ty = match be16(frame, at) {
        Some(t) => t,
        None => return truncated(key),
    };
    while ty == EtherType::VLAN.0 || ty == EtherType::QINQ.0 || ty == EtherType::QINQ_LEGACY.0 {
        let Some(tci) = be16(frame, at + 2) else {
            return truncated(key);
        };
        let tci = VlanTci((tci & 0xefff) | VlanTci::PRESENT);
        match tags {
            0 => key.vlan = tci,
            1 => key.inner_vlan = tci,
            _ => {
                key.class = KeyClass::Unparsed(UnparsedReason::TooManyVlanTags);
                return key;
            }
        }
        tags += 1;
        at += 4;
        ty = match be16(frame, at) {
            Some(t) => t,
            None => return truncated(key),
        };
    }
    at += 2;
    key.dl_type = if ty >= 0x0600 {
        EtherType(ty)
    } else {
        EtherType::NONE
    };
    if key.dl_type != EtherType::IPV4 {
        return key;
    }
    let ip = &frame[at.min(frame.len())..];
    if ip.len() < 20 {
        return truncated(key);
    }
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    if ip[0] >> 4 != 4 || ihl < 20 {
        key.class = KeyClass::Unparsed(UnparsedReason::Malformed);
        return key;
    }
    if ip.len() < ihl {
        return truncated(key);
    }
    key.nw_tos = ip[1];
    key.nw_proto = ip[9];
    key.nw_src = u128::from(u32::from_be_bytes([ip[12], ip[13], ip[14], ip[15]]));
    key.nw_dst = u128::from(u32::from_be_bytes([ip[16], ip[17], ip[18], ip[19]]));
    let frag = u16::from_be_bytes([ip[6], ip[7]]);
    let offset = frag & 0x1fff;
    let more = frag & 0x2000 != 0;
    if offset != 0 {
        key.frag = FragFlags::LATER;
        return key;
    }
    if more {
        key.frag = FragFlags::FIRST;
    }
    if key.nw_proto == 6 || key.nw_proto == 17 {
        let l4 = &ip[ihl..];
        match (be16(l4, 0), be16(l4, 2)) {
            (Some(s), Some(d)) => {
                key.tp_src = s;
                key.tp_dst = d;
            }
            _ => return truncated(key),
        }
    }
    key
}
