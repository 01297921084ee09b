//! Timing against hand-computed values: wire rates, PCIe throughput, one packet's latency.

use nic_abi::action::Action;
use nic_abi::key::PortNo;
use nic_abi::time::{SimDuration, SimTime};
use nic_model::card::{Card, CardConfig};
use nic_model::mac::{EthSpeed, MacConfig, MacPort};
use nic_model::pcie::{PcieConfig, PcieLink};
use nic_model::testing::FlatMemoryHost;

use crate::support::{bytes, key_of, udp_frame, Bed};

/// Frames per second of back-to-back `len`-byte frames (no FCS) on one port: offer a million
/// at time zero and see when the last one is in.
fn line_rate(speed: EthSpeed, len: u64) -> (SimTime, f64) {
    let mut port = MacPort::new(MacConfig {
        speed,
        ..MacConfig::default()
    });
    let n = 1_000_000u64;
    let mut last = SimTime::ZERO;
    for _ in 0..n {
        last = port.receive(SimTime::ZERO, len);
    }
    (last, n as f64 / SimDuration(last.0).as_secs_f64())
}

#[test]
fn ten_gig_64_byte_frames_saturate_at_14_88_mpps() {
    // 60 data bytes + 4 FCS + 8 preamble/SFD + 12 IFG = 84 bytes = 672 bits = 67.2 ns at
    // 10 Gb/s: 10e9 / 672 = 14,880,952.38 frames/s; a million take 67.2 ms.
    let (last, rate) = line_rate(EthSpeed::G10, 60);
    assert_eq!(last, SimTime(67_200 * 1_000_000));
    assert_eq!(rate.floor(), 14_880_952.0);
}

#[test]
fn hundred_gig_64_byte_frames_saturate_at_148_8_mpps() {
    // 672 bits at 100 Gb/s = 6.72 ns: 148,809,523.8 frames/s.
    let (last, rate) = line_rate(EthSpeed::G100, 60);
    assert_eq!(last, SimTime(6_720 * 1_000_000));
    assert_eq!(rate.floor(), 148_809_523.0);
}

#[test]
fn fifteen_hundred_byte_frames_at_25g() {
    // 1514 + 4 + 20 = 1538 bytes = 12,304 bits at 40 ps = 492.16 ns: 2,031,859 frames/s.
    let (last, rate) = line_rate(EthSpeed::G25, 1514);
    assert_eq!(last, SimTime(492_160 * 1_000_000));
    assert_eq!(rate.floor(), 2_031_859.0);
}

/// Wire in, wire out at `speed` with an entry forwarding port 1 to port 2: the card keeps up
/// with 64-byte frames at line rate, dropping nothing.
fn forward_at_line_rate(speed: EthSpeed) {
    let mac = MacConfig {
        speed,
        rx_fifo_bytes: 4096,
        ..MacConfig::default()
    };
    let config = CardConfig {
        macs: vec![mac.clone(), mac.clone()],
        ..CardConfig::default()
    };
    let mut card = Card::new(config, FlatMemoryHost::new()).expect("valid");
    let frame = udp_frame(7, 60);
    card.install(&key_of(&frame, PortNo(1)), Action::output(PortNo(2)))
        .expect("room");
    let n = 20_000u64;
    let frame = bytes(frame);
    for _ in 0..n {
        card.offer_from_wire(PortNo(1), frame.clone(), SimTime::ZERO)
            .expect("mac port");
    }
    let counters = card.finish().expect("conserved and drained");
    assert_eq!(counters.delivered, n, "{counters:?}");
    assert_eq!(counters.copies_to_wire, n);
    // The last frame is in at n frame times, parsed and looked up within 10 cycles (40 ns:
    // one header beat, 2 parser cycles, 8 lookup cycles) plus at most a cycle of clock
    // alignment, and then takes one frame time to leave.
    let frame_time = mac.wire_time(60);
    let earliest = SimTime::ZERO + frame_time.times(n) + SimDuration::from_ns(40) + frame_time;
    assert!(card.now() >= earliest, "{} < {earliest}", card.now());
    assert!(
        card.now() <= earliest + SimDuration::from_ns(8),
        "{} ends later than line rate allows ({earliest})",
        card.now()
    );
}

#[test]
fn card_forwards_64_byte_frames_at_10g_line_rate() {
    forward_at_line_rate(EthSpeed::G10);
}

#[test]
fn card_forwards_64_byte_frames_at_100g_line_rate() {
    forward_at_line_rate(EthSpeed::G100);
}

#[test]
fn pcie_gen3_x8_write_throughput_with_256_byte_payloads() {
    // Gen3: 8 GT/s per lane, 128b/130b encoding, 8 lanes:
    //   8e9 x 8 x 128/130 / 8 = 7.8769 GB/s of TLP bytes (126.95 ps per byte).
    // A 256-byte write TLP carries 16 B header + 6 B sequence/LCRC + 2 B framing = 280 B:
    //   280 x 126.953125 ps = 35,546.875 ps, rounded up to 35,547 ps per TLP.
    // 1 MiB = 4,096 TLPs = 145,600,512 ps: 7.2017 GB/s = 57.61 Gb/s of payload
    //   (7.8769 x 256/280 = 7.2017).
    let mut link = PcieLink::new(PcieConfig::default()).expect("valid");
    let end = link.dma_write(SimTime::ZERO, 1 << 20);
    assert_eq!(end, SimTime(4_096 * 35_547));
    let gbps = (1u64 << 20) as f64 * 8.0 / SimDuration(end.0).as_secs_f64() / 1e9;
    assert!((gbps - 57.61).abs() < 0.01, "{gbps}");
    assert_eq!(link.upstream().tlps, 4_096);
    assert_eq!(link.upstream().wire_bytes, 4_096 * 280);
}

#[test]
fn pcie_gen3_x8_read_throughput_is_link_bound_with_32_tags() {
    // 1 MiB read = 2,048 requests of 512 B (MRRS), each answered by two 256 B completions
    // of 256 + 12 + 6 + 2 = 276 B: 276 x 126.953125 = 35,039.06 ps -> 35,040 ps each.
    // 32 tags x 512 B = 16 KiB in flight drain in 32 x 2 x 35 ns = 2.24 us > the 500 ns
    // latency, so completions flow back to back: the read ends one request (24 B, 3,047 ps)
    // + 500 ns + 4,096 completions after it starts.
    let mut link = PcieLink::new(PcieConfig::default()).expect("valid");
    let end = link.dma_read(SimTime::ZERO, 1 << 20);
    assert_eq!(end, SimTime(3_047 + 500_000 + 4_096 * 35_040));
    assert_eq!(link.downstream().tlps, 4_096);
    assert_eq!(link.upstream().tlps, 2_048);
}

#[test]
fn one_frame_wire_to_vm_latency() {
    // A 60-byte frame on a 10G port at t = 0, forwarded to VM 1 (8 RX buffers posted).
    //  67.200 ns  last byte in (84 wire bytes x 0.8 ns)
    //  68.000     next 4 ns clock edge: the frame's one header beat enters the parser
    // 108.000     + 2 parser + 8 lookup cycles = 40 ns: hit
    // 116.000     DMA channel 0 set up (2 cycles): read 8 RX descriptors (128 B)
    // 119.047     read request (24 B) crossed: 3.047 ns
    // 619.047     + 500 ns read latency
    // 637.837     completion of 128 + 20 B = 148 B crossed: 18.790 ns; descriptor on card
    // 645.837     DMA channels 0 and 1 set up (8 ns): the 60 B frame (84 B on the link,
    //             10.665 ns) and the 24 B completion (48 B, 6.094 ns), in that order
    // 656.502     frame written
    // 662.596     completion written: the packet is delivered
    let config = CardConfig {
        macs: vec![MacConfig {
            speed: EthSpeed::G10,
            ..MacConfig::default()
        }],
        ..CardConfig::default()
    };
    let mut bed = Bed::new(config, 1, 64, 16);
    bed.post_rx(0, 0, 8);
    let frame = udp_frame(1, 60);
    bed.card
        .install(&key_of(&frame, PortNo(1)), Action::output(bed.vms[0].port))
        .expect("room");
    bed.card
        .offer_from_wire(PortNo(1), bytes(frame.clone()), SimTime::ZERO)
        .expect("mac");
    bed.card.finish().expect("conserved");
    let l = bed.vms[0];
    let cpl = l.rx_completion(bed.card.host(), 0).expect("completion");
    assert_eq!(cpl.timestamp, SimTime(662_596));
    assert_eq!(usize::from(cpl.len), frame.len());
    // One interrupt, when the 8 us moderation timer expires (1 completion < 32).
    assert_eq!(
        bed.card.host().interrupts,
        vec![(
            nic_model::host::IrqVector(2),
            SimTime(662_596) + SimDuration::from_us(8)
        )]
    );
}

/// A management command owns the lookup pipeline while it runs (the RTL's precedence:
/// management wins): the same frame as in `one_frame_wire_to_vm_latency`, with a `Lookup`
/// command written at 60 ns, is looked up only when the command ends.
#[test]
fn a_management_command_delays_the_lookups_behind_it() {
    use nic_abi::regs::{flow_table as ft, MgmtCommand, MgmtStatus};
    let config = CardConfig {
        macs: vec![MacConfig {
            speed: EthSpeed::G10,
            ..MacConfig::default()
        }],
        ..CardConfig::default()
    };
    let mut bed = Bed::new(config, 1, 64, 16);
    bed.post_rx(0, 0, 8);
    let frame = udp_frame(1, 60);
    let key = key_of(&frame, PortNo(1));
    bed.card
        .install(&key, Action::output(bed.vms[0].port))
        .expect("room");
    // A lookup that finds its key reads the counters too: 9 + 1 cycles, 60 ns to 100 ns.
    let cmd_at = SimTime::ZERO + SimDuration::from_ns(60);
    for (n, w) in (0u32..).zip(key.to_words()) {
        bed.card.mmio_write_at(cmd_at, ft::BASE.at(ft::key(n)), w);
    }
    bed.card
        .mmio_write_at(cmd_at, ft::BASE.at(ft::CMD), MgmtCommand::Lookup.code());
    let done = cmd_at + SimDuration::from_ns(40);
    assert_eq!(
        bed.card.mmio_read_at(done, ft::BASE.at(ft::STATUS)),
        MgmtStatus::Ok.code()
    );
    bed.card
        .offer_from_wire(PortNo(1), bytes(frame), SimTime::ZERO)
        .expect("mac");
    bed.card.finish().expect("conserved");
    let cpl = bed.vms[0]
        .rx_completion(bed.card.host(), 0)
        .expect("completion");
    // The key is ready at 76 ns; the lookup starts at 100 ns, not 76: 24 ns later than
    // `one_frame_wire_to_vm_latency`'s 662.596 ns.
    assert_eq!(cpl.timestamp, SimTime(662_596 + 24_000));
}
