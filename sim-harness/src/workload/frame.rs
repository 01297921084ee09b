//! Frame building: real Ethernet II / [802.1Q] / IPv4 / UDP or TCP frames, byte-exact: IPv4
//! total length, UDP length and the IPv4 header checksum are right; the L4 checksum is left
//! zero (no switch here reads it). The one place sim-harness builds such frames.

use nic_abi::key::MacAddr;

use super::spec::Protocol;
use super::FCS_BYTES;

/// Builds an Ethernet II / [802.1Q] / IPv4 / UDP or TCP frame of `size` bytes with FCS
/// (returned without it), padded with zeros; a size below the headers gives just the headers.
pub fn build_frame(
    protocol: Protocol,
    size: u32,
    dst_mac: MacAddr,
    src_mac: MacAddr,
    vlan: Option<u16>,
    (src_ip, dst_ip): (u32, u32),
    (src_port, dst_port): (u16, u16),
) -> Vec<u8> {
    let l2 = if vlan.is_some() { 18 } else { 14 };
    let l4 = match protocol {
        Protocol::Udp => 8,
        Protocol::Tcp => 20,
    };
    let len = (usize::try_from(size).unwrap_or(usize::MAX) - FCS_BYTES).max(l2 + 20 + l4);
    let mut f = Vec::with_capacity(len);
    f.extend_from_slice(&dst_mac.0);
    f.extend_from_slice(&src_mac.0);
    if let Some(v) = vlan {
        f.extend_from_slice(&[0x81, 0x00]);
        f.extend_from_slice(&(v & 0x0fff).to_be_bytes());
    }
    f.extend_from_slice(&[0x08, 0x00]);
    let ip_len = u16::try_from(len - l2).unwrap_or(u16::MAX);
    let proto = match protocol {
        Protocol::Udp => 17,
        Protocol::Tcp => 6,
    };
    let ip_start = f.len();
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&ip_len.to_be_bytes());
    // Identification 0, don't fragment, TTL 64.
    f.extend_from_slice(&[0, 0, 0x40, 0, 64, proto, 0, 0]);
    f.extend_from_slice(&src_ip.to_be_bytes());
    f.extend_from_slice(&dst_ip.to_be_bytes());
    let sum = ipv4_checksum(&f[ip_start..ip_start + 20]);
    f[ip_start + 10..ip_start + 12].copy_from_slice(&sum.to_be_bytes());
    f.extend_from_slice(&src_port.to_be_bytes());
    f.extend_from_slice(&dst_port.to_be_bytes());
    match protocol {
        Protocol::Udp => {
            f.extend_from_slice(&(ip_len - 20).to_be_bytes());
            f.extend_from_slice(&[0, 0]);
        }
        Protocol::Tcp => {
            // Sequence and ACK numbers 0; header length 5 words; ACK; window 65535.
            f.extend_from_slice(&[0; 8]);
            f.extend_from_slice(&[0x50, 0x10, 0xff, 0xff, 0, 0, 0, 0]);
        }
    }
    f.resize(len, 0);
    f
}

/// The IPv4 header checksum of `header` (its checksum field counted as zero).
pub(super) fn ipv4_checksum(header: &[u8]) -> u16 {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_byte_exact() {
        let f = build_frame(
            Protocol::Udp,
            64,
            MacAddr([2, 0, 0, 0, 0, 2]),
            MacAddr([2, 0, 0, 0, 0, 1]),
            None,
            (0x0a00_0001, 0x0a00_0002),
            (1024, 80),
        );
        assert_eq!(f.len(), 60);
        let p = etherparse::SlicedPacket::from_ethernet(&f).expect("parses");
        let Some(etherparse::NetSlice::Ipv4(ip)) = p.net else {
            panic!("ipv4")
        };
        assert_eq!(ip.header().total_len(), 46);
        assert_eq!(
            ip.header().to_header().calc_header_checksum(),
            ip.header().header_checksum()
        );
        let Some(etherparse::TransportSlice::Udp(u)) = p.transport else {
            panic!("udp")
        };
        assert_eq!(
            (u.source_port(), u.destination_port(), u.length()),
            (1024, 80, 26)
        );
        let t = build_frame(
            Protocol::Tcp,
            1518,
            MacAddr([2, 0, 0, 0, 0, 2]),
            MacAddr([2, 0, 0, 0, 0, 1]),
            Some(7),
            (1, 2),
            (5, 6),
        );
        assert_eq!(t.len(), 1514);
        let p = etherparse::SlicedPacket::from_ethernet(&t).expect("parses");
        assert!(matches!(
            p.transport,
            Some(etherparse::TransportSlice::Tcp(_))
        ));
        assert_eq!(p.vlan_ids().first().map(|v| v.value()), Some(7));
    }
}
