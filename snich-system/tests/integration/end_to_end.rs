//! VM A to VM B through the card, on each inter-VM path: random packets arrive byte-identical
//! and in order, and the PCIe link carries exactly the bytes computed by hand per packet.

use host_driver::copy::{CopyEngineConfig, CopyMode};
use host_driver::guest::Received;
use host_driver::host::CpuUse;
use host_driver::iommu::GrantMode;
use nic_abi::action::Action;
use nic_abi::desc::{
    CopyCommand, CopyCompletion, RxCompletion, RxDescriptor, RxStatus, TxCompletion, TxDescriptor,
};
use nic_abi::device::FlowTableDevice;
use nic_abi::key::PortNo;
use nic_abi::parse::parse_card;
use nic_model::pcie::PcieConfig;

use crate::fixtures::{small_card, udp_frame, vm_mac};
use crate::support::system;

/// Link bytes (upstream = card to host, downstream = host to card) of one packet from VM A
/// to VM B, worked out from the card's paths:
///
/// - both paths: the TX doorbell (a 4-byte MMIO write, down); the TX descriptor read (a
///   request up, a 16-byte completion down); the header-window read (`min(len, 128)`); the
///   RX descriptor read; the RX completion (24 B) and TX completion (16 B) writes, up.
/// - copy engine (and CPU copy): the 32-byte copy command (up) and the 16-byte copy
///   completion (down); the payload stays in host memory.
/// - hairpin: the rest of the frame read (down), and the whole frame written (up).
///
/// Reads are split into requests of at most the max read request size, each answered by
/// completions of at most the max payload size; writes into TLPs of at most the max payload.
fn expected_link_bytes(c: &PcieConfig, len: u64, hairpin: bool) -> (u64, u64) {
    let req = c.request_overhead();
    let cpl = c.completion_overhead();
    let (mps, mrrs) = (c.max_payload_bytes, c.max_read_request_bytes);
    let read = |bytes: u64| -> (u64, u64) {
        let mut up = 0;
        let mut down = 0;
        let mut left = bytes;
        while left > 0 {
            let r = left.min(mrrs);
            up += req;
            down += r + r.div_ceil(mps) * cpl;
            left -= r;
        }
        (up, down)
    };
    let write = |bytes: u64| bytes + bytes.div_ceil(mps) * req;
    let header = len.min(128);
    let mut up = 0;
    let mut down = 4 + req; // TX doorbell
    for (u, d) in [
        read(TxDescriptor::SIZE as u64),
        read(header),
        read(RxDescriptor::SIZE as u64),
    ] {
        up += u;
        down += d;
    }
    if hairpin {
        let (u, d) = read(len - header);
        up += u + write(len);
        down += d;
    } else {
        up += write(CopyCommand::SIZE as u64);
        down += CopyCompletion::SIZE as u64 + req;
    }
    up += write(RxCompletion::SIZE as u64) + write(TxCompletion::SIZE as u64);
    (up, down)
}

#[test]
fn worked_example_of_the_per_packet_bytes() {
    // Gen3 x8 defaults: requests cost 24 bytes of overhead, completions 20, MPS 256, MRRS 512.
    let c = PcieConfig::default();
    assert_eq!((c.request_overhead(), c.completion_overhead()), (24, 20));
    // Copy engine, any frame of at least 128 bytes: up 3 requests (72) + copy command 56 +
    // RX completion 48 + TX completion 40 = 216; down doorbell 28 + descriptors 36 + 36 +
    // header 148 + copy completion 40 = 288.
    assert_eq!(expected_link_bytes(&c, 1500, false), (216, 288));
    // Hairpin, 1,500 bytes: up adds 3 body requests (72) and the frame in 6 TLPs
    // (1,500 + 144); down adds the body's 1,372 bytes in 6 completions (120).
    assert_eq!(expected_link_bytes(&c, 1500, true), (1876, 1740));
}

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

fn vm_to_vm(mode: CopyMode, grants: GrantMode, seed: u64) {
    let (mut cp, mut guests) = system(mode, 2, 64, grants, small_card(), Vec::new());
    let mut rng = Lcg(seed);
    let mut frames = Vec::new();
    for _ in 0..48 {
        let len = usize::try_from(60 + rng.next() % 1455).expect("small");
        frames.push(udp_frame(vm_mac(0), vm_mac(1), len, || {
            rng.next().to_le_bytes()[0]
        }));
    }
    // The flow's entry, installed through the management registers.
    let key = parse_card(&frames[0], PortNo(101));
    cp.driver_mut()
        .insert(&key, Action::output(PortNo(102)))
        .expect("installed");
    let link = |cp: &snich_system::control::ControlPlane| {
        let l = cp.driver().card().dma().link();
        (l.upstream().wire_bytes, l.downstream().wire_bytes)
    };
    let pcie = cp.driver().card().dma().link().config().clone();
    let hairpin = mode == CopyMode::Hairpin;
    let (mut sender, mut receiver) = {
        let mut it = guests.drain(..);
        (it.next().expect("A"), it.next().expect("B"))
    };
    let mut received: Vec<Received> = Vec::new();
    for f in &frames {
        let before = link(&cp);
        sender.send(cp.driver_mut().card_mut(), f).expect("sent");
        cp.drain(|_, _| Ok(())).expect("drained");
        let after = link(&cp);
        let (up, down) = expected_link_bytes(&pcie, f.len() as u64, hairpin);
        assert_eq!(
            (after.0 - before.0, after.1 - before.1),
            (up, down),
            "{mode:?}, {} bytes",
            f.len()
        );
        sender
            .poll(cp.driver_mut().card_mut(), &mut Vec::new())
            .expect("tx completions");
    }
    receiver
        .poll(cp.driver_mut().card_mut(), &mut received)
        .expect("rx completions");
    assert_eq!(received.len(), frames.len());
    for (i, (r, f)) in received.iter().zip(&frames).enumerate() {
        assert_eq!(r.status, RxStatus::Ok, "{mode:?} packet {i}");
        assert_eq!(
            r.index.value(),
            u16::try_from(i).expect("small"),
            "in order"
        );
        assert_eq!(r.in_port, PortNo(101));
        let data = receiver
            .rx_data(cp.driver().host(), r.index, usize::from(r.len))
            .expect("in memory");
        assert_eq!(data, &f[..], "{mode:?} packet {i} byte-identical");
    }
    let counters = cp.driver_mut().card_mut().finish().expect("conserved");
    assert_eq!((counters.delivered, counters.dropped_total()), (48, 0));
    assert_eq!(sender.counters().tx_done, 48);
    let host = cp.driver().host();
    assert!(
        host.dma_faults_by_vm().is_empty(),
        "{:?}",
        host.iommu().metrics().fault_log
    );
    let copies = host.copy_metrics().copies;
    assert_eq!(copies, if hairpin { 0 } else { 48 });
    // The copy engine's submissions and polled completions cost host cycles too (issue 14:
    // the engine is a device the host drives); a hairpin costs none.
    let copy_cycles = host.metrics().cycles(CpuUse::Copy);
    assert_eq!(copy_cycles > 0, !hairpin, "{mode:?}: {copy_cycles}");
    if mode == CopyMode::CopyEngine {
        let e = CopyEngineConfig::default();
        assert_eq!(copy_cycles, 48 * (e.submit_cycles + e.poll_cycles));
        assert_eq!(host.copy_metrics().doorbells, 48);
    }
    let grant_cycles = host.metrics().cycles(CpuUse::Grants);
    // Persistent: rings and the pool once (4 rings + 2 x 64 buffers per guest, 2 guests,
    // and the driver's 2 rings); per post: rings at attach and two grant operations per
    // buffer use (48 TX, 48 RX), plus the 64 RX buffers posted at attach.
    let maps = host.iommu().metrics().maps;
    match grants {
        GrantMode::Persistent => assert_eq!(maps, 2 + 2 * (4 + 128)),
        GrantMode::MapPerPost => {
            assert_eq!(maps, 2 + 2 * 4 + 2 * 64 + 48);
            assert_eq!(host.iommu().metrics().unmaps, 48 + 48);
        }
    }
    assert!(grant_cycles > 0);
}

#[test]
fn copy_engine_keeps_the_payload_off_pcie() {
    vm_to_vm(CopyMode::CopyEngine, GrantMode::Persistent, 1);
}

#[test]
fn cpu_copy_charges_the_host() {
    vm_to_vm(CopyMode::CpuCopy, GrantMode::Persistent, 2);
}

#[test]
fn hairpin_crosses_twice() {
    vm_to_vm(CopyMode::Hairpin, GrantMode::Persistent, 3);
}

#[test]
fn per_post_grants_cost_more_cpu_than_persistent_ones() {
    vm_to_vm(CopyMode::CopyEngine, GrantMode::MapPerPost, 4);
    let cost = |grants| {
        let (mut cp, mut guests) = system(
            CopyMode::CopyEngine,
            2,
            64,
            grants,
            small_card(),
            Vec::new(),
        );
        let f = udp_frame(vm_mac(0), vm_mac(1), 200, || 7);
        let key = parse_card(&f, PortNo(101));
        cp.driver_mut()
            .insert(&key, Action::output(PortNo(102)))
            .expect("installed");
        let before = cp.driver().host().metrics().cycles(CpuUse::Grants);
        for _ in 0..32 {
            guests[0]
                .send(cp.driver_mut().card_mut(), &f)
                .expect("sent");
            cp.drain(|_, _| Ok(())).expect("drained");
            for g in &mut guests {
                g.poll(cp.driver_mut().card_mut(), &mut Vec::new())
                    .expect("polled");
            }
            guests[1]
                .post_rx_buffers(cp.driver_mut().card_mut())
                .expect("reposted");
        }
        cp.driver().host().metrics().cycles(CpuUse::Grants) - before
    };
    let (per_post, persistent) = (cost(GrantMode::MapPerPost), cost(GrantMode::Persistent));
    assert_eq!(persistent, 0, "a persistent pool costs nothing per packet");
    // Map and unmap of a TX and an RX buffer per packet, at the default costs.
    assert_eq!(per_post, 32 * 2 * (500 + 2_000));
}
