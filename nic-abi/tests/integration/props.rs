//! Property tests: the key's word layout round-trips, and neither parser panics on arbitrary
//! or mutated real frames, and the card profile agrees with the software profile whenever it
//! says `Parsed`.

use std::sync::OnceLock;

use nic_abi::key::{
    EtherType, FlowKey, FragFlags, KeyClass, MacAddr, PortNo, UnparsedReason, VlanTci,
};
use nic_abi::parse::{parse_card, parse_software};
use proptest::prelude::*;

use crate::capture::ethernet_frames;

fn key_class() -> impl Strategy<Value = KeyClass> {
    prop_oneof![
        Just(KeyClass::Parsed),
        proptest::sample::select(UnparsedReason::ALL.to_vec()).prop_map(KeyClass::Unparsed),
    ]
}

fn frag_flags() -> impl Strategy<Value = FragFlags> {
    proptest::sample::select(vec![FragFlags::NONE, FragFlags::FIRST, FragFlags::LATER])
}

prop_compose! {
    fn flow_key()(
        in_port: u16, class in key_class(), frag in frag_flags(), dl_dst: [u8; 6],
        dl_src: [u8; 6], dl_type: u16, vlan: u16, inner_vlan: u16, nw_proto: u8, nw_tos: u8,
        nw_src: u128, nw_dst: u128, tp_src: u16, tp_dst: u16,
    ) -> FlowKey {
        FlowKey {
            in_port: PortNo(in_port), class, frag, dl_dst: MacAddr(dl_dst),
            dl_src: MacAddr(dl_src), dl_type: EtherType(dl_type), vlan: VlanTci(vlan),
            inner_vlan: VlanTci(inner_vlan), nw_proto, nw_tos, nw_src, nw_dst, tp_src, tp_dst,
..Default::default()
        }
    }
}

/// The mix capture's frames, loaded once for all cases.
fn mix_frames() -> &'static [Vec<u8>] {
    static FRAMES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    FRAMES.get_or_init(|| ethernet_frames("mix_zeek_sv_tcpdump_k8.pcap.gz"))
}

/// Parses with both profiles (a panic fails the test) and checks their agreement.
fn check_profiles(frame: &[u8]) -> Result<(), TestCaseError> {
    let soft = parse_software(frame, PortNo(3));
    let card = parse_card(frame, PortNo(3));
    prop_assert_eq!(soft.in_port, PortNo(3));
    prop_assert_eq!(card.in_port, PortNo(3));
    if card.is_parsed() {
        prop_assert_eq!(card, soft, "card said Parsed but differs from software");
    }
    // Both profiles apply the same rules up to the first IPv6 extension header.
    if card.class != KeyClass::Unparsed(UnparsedReason::Ipv6ExtensionHeader) {
        prop_assert_eq!(card, soft);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn key_words_round_trip(k in flow_key()) {
        prop_assert_eq!(FlowKey::from_words(&k.to_words()), Ok(k));
    }

    #[test]
    fn arbitrary_bytes_never_panic(frame in proptest::collection::vec(any::<u8>(), 0..300)) {
        check_profiles(&frame)?;
    }

    /// Arbitrary bytes behind a plausible Ethernet + type prefix reach the deeper rules.
    #[test]
    fn arbitrary_headers_never_panic(
        ty in proptest::sample::select(vec![0x0800u16, 0x86dd, 0x0806, 0x8035, 0x8100, 0x88a8, 0x9100, 0x0020]),
        rest in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut frame = vec![0u8; 12];
        frame.extend(ty.to_be_bytes());
        frame.extend(rest);
        check_profiles(&frame)?;
    }

    #[test]
    fn mutated_real_frames_never_panic(
        index in any::<prop::sample::Index>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        truncate: bool,
    ) {
        let frames = mix_frames();
        let mut frame = frames[index.index(frames.len())].clone();
        if !frame.is_empty() {
            // Mutations land in the first 128 bytes, where the headers are.
            let span = frame.len().min(128);
            for (at, byte) in edits {
                frame[at.index(span)] = byte;
            }
            if truncate {
                frame.truncate(cut.index(frame.len()));
            }
        }
        check_profiles(&frame)?;
    }
}
