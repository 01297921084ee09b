//! The `pkt_parser` RTL against nic-abi's card parser: every packet of the mix capture and
//! random frames give the same packed key, with the documented latency, under idle and
//! backpressure patterns.

use std::collections::VecDeque;
use std::io::Read;

use flate2::read::GzDecoder;
use hw_rtl::pkt_parser::{window_beats, PacketParserRtl, PARSE_LATENCY_CYCLES};
use nic_abi::emit::{EthernetRepr, FrameRepr, Len, Payload, VlanTag};
use nic_abi::key::{EtherType, KeyWords, MacAddr, PortNo};
use nic_abi::parse::parse_card;
use pcap_file::pcap::PcapReader;
use pcap_file::DataLink;
use proptest::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The Ethernet frames of a gzipped classic pcap in the workspace's `tests/data/`.
fn ethernet_frames(file: &str) -> Vec<Vec<u8>> {
    let path = format!("{}/../tests/data/{file}", env!("CARGO_MANIFEST_DIR"));
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let mut bytes = Vec::new();
    GzDecoder::new(&raw[..])
        .read_to_end(&mut bytes)
        .expect("gunzip");
    let mut reader = PcapReader::new(&bytes[..]).expect("pcap header");
    assert_eq!(reader.header().datalink, DataLink::ETHERNET);
    let mut frames = Vec::new();
    while let Some(packet) = reader.next_packet() {
        frames.push(packet.expect("pcap record").data.into_owned());
    }
    frames
}

fn ports() -> impl Iterator<Item = PortNo> {
    (1u16..=64).cycle().map(PortNo)
}

#[test]
fn every_mix_capture_packet_parses_as_nic_abi_parses_it() {
    let frames = ethernet_frames("mix_zeek_sv_tcpdump_k8.pcap.gz");
    assert!(frames.len() > 30_000);
    let mut rtl = PacketParserRtl::new(None).expect("model");
    for (i, (frame, port)) in frames.iter().zip(ports()).enumerate() {
        let expected = parse_card(frame, port).to_words();
        let (key, latency) = rtl.parse(frame, port).expect("parse");
        assert_eq!(
            key,
            expected,
            "packet {i} ({} bytes): {frame:02x?}",
            frame.len()
        );
        assert_eq!(latency, PARSE_LATENCY_CYCLES, "packet {i}");
    }
}

/// Streams `frames` back to back with random idle beats and key backpressure; returns the
/// keys in order and the cycles taken.
fn stream(frames: &[Vec<u8>], seed: u64) -> (Vec<KeyWords>, u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut rtl = PacketParserRtl::new(None).expect("model");
    let mut beats = VecDeque::new();
    for (frame, port) in frames.iter().zip(ports()) {
        beats.extend(window_beats(frame, port).expect("frame fits"));
    }
    let start = rtl.cycles();
    let mut keys = Vec::new();
    let mut shown: Option<KeyWords> = None;
    while keys.len() < frames.len() {
        let present = rng.random_range(0..6) != 0;
        let ready = rng.random_range(0..4) != 0;
        let beat = if present {
            beats.front().copied()
        } else {
            None
        };
        let cycle = rtl.step(beat.as_ref(), ready);
        if cycle.beat_accepted {
            beats.pop_front();
        }
        // The key shown after the previous edge is taken at this edge when ready.
        if ready {
            if let Some(k) = shown {
                keys.push(k);
            }
        } else if shown.is_some() {
            assert_eq!(cycle.key, shown, "key changed under backpressure");
        }
        shown = cycle.key;
        assert_eq!(cycle.protocol_errors, 0);
        assert!(
            rtl.cycles() - start < 100 * (frames.len() as u64 + 10),
            "parser stopped"
        );
    }
    // Nothing left in flight.
    for _ in 0..4 {
        assert_eq!(
            rtl.step(None, true).key,
            None,
            "stray key after the last frame"
        );
    }
    (keys, rtl.cycles() - start)
}

#[test]
fn back_to_back_frames_with_idle_and_backpressure_keep_order() {
    let frames: Vec<Vec<u8>> = ethernet_frames("mix_zeek_sv_tcpdump_k8.pcap.gz")
        .into_iter()
        .take(5_000)
        .collect();
    let (keys, _) = stream(&frames, 3);
    for (i, ((key, frame), port)) in keys.iter().zip(&frames).zip(ports()).enumerate() {
        assert_eq!(*key, parse_card(frame, port).to_words(), "frame {i}");
    }
}

#[test]
fn a_stray_beat_is_a_counted_protocol_error_not_a_key() {
    let mut rtl = PacketParserRtl::new(None).expect("model");
    let frame = [0u8; 60];
    let mut beats = window_beats(&frame, PortNo(1)).expect("frame");
    beats[0].first = false;
    for b in &beats {
        assert!(rtl.step(Some(b), true).beat_accepted);
    }
    let mut errors = 0;
    for _ in 0..4 {
        let c = rtl.step(None, true);
        assert_eq!(c.key, None);
        errors = c.protocol_errors;
    }
    assert_eq!(errors, u32::try_from(beats.len()).expect("few beats"));
    // The parser still works afterwards.
    let (key, _) = rtl.parse(&frame, PortNo(1)).expect("parse");
    assert_eq!(key, parse_card(&frame, PortNo(1)).to_words());
}

/// The L2 shapes the parser cares about: tags `(tpid, tci)`, then a type, perhaps behind an
/// 802.3 length and LLC/SNAP.
fn l2_shape() -> impl Strategy<Value = (Vec<(u16, u16)>, u16, bool)> {
    prop_oneof![
        Just((vec![], 0x0800, false)),
        Just((vec![], 0x86dd, false)),
        Just((vec![], 0x0806, false)),
        Just((vec![(0x8100, 5)], 0x0800, false)),
        Just((vec![(0x88a8, 5), (0x8100, 6)], 0x86dd, false)),
        Just((vec![(0x8100, 1), (0x8100, 2), (0x8100, 3)], 0x0800, false)),
        Just((vec![], 0x0800, true)),
        any::<u16>().prop_map(|t| (vec![], t, false)),
    ]
}

/// Frames built from the shapes the parser cares about, then randomly corrupted.
fn frame_strategy() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<([u8; 6], [u8; 6])>(),
        l2_shape(),
        0u8..=0xff,
        proptest::collection::vec(any::<u8>(), 0..160),
        proptest::collection::vec((0usize..200, any::<u8>()), 0..4),
        0usize..220,
    )
        .prop_map(
            |((dst, src), (tags, ty, snap), first, mut rest, flips, cut)| {
                // A plausible first L3 byte (IPv4 0x45.., IPv6 0x6.) half the time.
                rest.insert(0, if first & 1 == 0 { 0x45 } else { first });
                let tags: Vec<VlanTag> = tags
                    .into_iter()
                    .map(|(tpid, tci)| VlanTag {
                        tpid: EtherType(tpid),
                        tci,
                    })
                    .collect();
                let mut f = FrameRepr {
                    ethernet: EthernetRepr {
                        dst: MacAddr(dst),
                        src: MacAddr(src),
                        tags: &tags,
                        ether_type: Some(EtherType(ty)),
                        llc_snap: snap.then_some(Len::Consistent),
                    },
                    payload: Payload::Bytes(&rest),
                    ..FrameRepr::default()
                }
                .to_vec()
                .expect("an L2 header and bytes");
                for (at, v) in flips {
                    if let Some(b) = f.get_mut(at) {
                        *b = v;
                    }
                }
                f.truncate(cut.max(1));
                f
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3_000, ..ProptestConfig::default() })]

    #[test]
    fn random_frames_parse_as_nic_abi_parses_them(frame in frame_strategy(), port in 1u16..100) {
        let mut rtl = PacketParserRtl::new(None).expect("model");
        let (key, latency) = rtl.parse(&frame, PortNo(port)).expect("parse");
        prop_assert_eq!(key, parse_card(&frame, PortNo(port)).to_words());
        prop_assert_eq!(latency, PARSE_LATENCY_CYCLES);
    }
}
