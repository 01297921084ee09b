//! The frames sim-harness builds, pinned byte for byte: the workload's frames (the default
//! compare report is computed from them) and `snich cosim`'s seeded random frames. Each
//! expected value is a hash recorded from the frames as first written.

use nic_abi::key::MacAddr;
use sim_harness::frames::random_frames;
use sim_harness::workload::{build_frame, Protocol};

/// FNV-1a (64-bit) over each frame's length and bytes, in order.
fn fnv1a<'a>(frames: impl IntoIterator<Item = &'a [u8]>) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for f in frames {
        for &b in (f.len() as u64).to_le_bytes().iter().chain(f) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

#[test]
fn random_frames_are_the_bytes_they_were_for_a_seed() {
    let got: Vec<(u64, u64)> = [0u64, 1, 0x5eed]
        .into_iter()
        .map(|seed| {
            let frames = random_frames(1000, seed).expect("frames");
            (seed, fnv1a(frames.iter().map(Vec::as_slice)))
        })
        .collect();
    assert_eq!(
        got,
        [
            (0, 0x49c2_07cf_e40b_c888),
            (1, 0xcf7f_ecda_05cb_dc80),
            (0x5eed, 0x5090_0d18_4ffd_bd44)
        ]
    );
}

#[test]
fn workload_frames_are_the_bytes_they_were() {
    let mut frames = Vec::new();
    for protocol in [Protocol::Udp, Protocol::Tcp] {
        for vlan in [None, Some(7), Some(0xf123)] {
            for size in [4, 60, 64, 65, 128, 1518, 9220] {
                frames.push(build_frame(
                    protocol,
                    size,
                    MacAddr([2, 0, 0, 0, 0, 2]),
                    MacAddr([2, 0, 0, 0, 0, 1]),
                    vlan,
                    (0x0a00_0001, 0xc0a8_0102),
                    (1024, 80),
                ));
            }
        }
    }
    let got = fnv1a(frames.iter().map(Vec::as_slice));
    assert_eq!(got, 0x3771_8551_8b22_e490);
}
