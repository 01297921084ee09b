//! A hostile guest against the card and the host: random descriptors (out of range, over
//! another VM's buffers, wrapping the address space, zero and huge lengths, garbage bytes),
//! doorbells with garbage indices, buffers re-posted after their grant was revoked. Nothing
//! panics, no byte lands outside the memory the card was granted to write, every refusal is
//! counted against the hostile VM, and every packet is accounted for (invariant 1).

use host_driver::copy::CopyMode;
use host_driver::guest::MockGuest;
use host_driver::host::HOST_VM;
use host_driver::iommu::GrantMode;
use host_driver::memory::GuestAddress;
use nic_abi::action::Action;
use nic_abi::desc::{Iova, QueueIndex, RxDescriptor, TxDescriptor, TxFlags, VmId};
use nic_abi::device::FlowTableDevice;
use nic_abi::key::PortNo;
use nic_abi::parse::parse_card;
use nic_abi::regs::vm_queues as vq;
use nic_abi::time::{SimDuration, SimTime};
use nic_model::counters::DropReason;
use proptest::prelude::*;
use snich_system::control::ControlPlane;

use crate::fixtures::{small_card, udp_frame, vm_mac};
use crate::support::system;

const HOSTILE: VmId = VmId(1);
const VICTIM: VmId = VmId(2);
const ENTRIES: u16 = 8;

/// Where a hostile descriptor points.
#[derive(Debug, Clone)]
enum Addr {
    /// One of its own TX buffers (legitimate for TX, read-only for RX).
    OwnTx(u8),
    /// One of its own RX buffers (legitimate for RX).
    OwnRx(u8),
    /// The IOVA of one of the victim's RX buffers (not the hostile VM's to name).
    VictimBuffer(u8),
    /// Its own descriptor rings (granted for reading only).
    OwnRing(u8),
    /// Just below the end of the address space, so `addr + len` wraps.
    Wrap(u16),
    /// Past the end of its memory.
    Beyond(u16),
    /// Anywhere.
    Random(u64),
}

fn addr() -> impl Strategy<Value = Addr> {
    prop_oneof![
        3 => any::<u8>().prop_map(Addr::OwnTx),
        3 => any::<u8>().prop_map(Addr::OwnRx),
        2 => any::<u8>().prop_map(Addr::VictimBuffer),
        1 => any::<u8>().prop_map(Addr::OwnRing),
        1 => any::<u16>().prop_map(Addr::Wrap),
        1 => any::<u16>().prop_map(Addr::Beyond),
        1 => any::<u64>().prop_map(Addr::Random),
    ]
}

fn len() -> impl Strategy<Value = u16> {
    prop_oneof![
        Just(0u16),
        Just(13),
        14u16..=1514,
        Just(2048),
        Just(9216),
        Just(u16::MAX),
        any::<u16>(),
    ]
}

#[derive(Debug, Clone)]
enum Op {
    /// A TX descriptor into slot `slot`; `foreign` names the victim as owner, `queue` is
    /// the queue field.
    Tx {
        slot: u8,
        addr: Addr,
        len: u16,
        foreign: bool,
        queue: u16,
    },
    /// Raw bytes as a TX descriptor (reserved bits, flags, anything).
    RawTx { slot: u8, bytes: [u8; 16] },
    /// An RX descriptor into slot `slot`.
    Rx { slot: u8, addr: Addr, capacity: u16 },
    /// Raw bytes as an RX descriptor.
    RawRx { slot: u8, bytes: [u8; 16] },
    /// The TX producer moved by `delta` (backwards or far ahead: `garbage_doorbells`).
    TxDoorbell(i8),
    /// The RX producer moved by `delta`.
    RxDoorbell(i8),
    /// An RX buffer's grant revoked (it stays posted).
    Revoke(u8),
    /// A frame from the wire for the hostile VM.
    Wire(u16),
    /// Time passes.
    Run(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<u8>(), addr(), len(), any::<bool>(), prop_oneof![Just(0u16), any::<u16>()])
            .prop_map(|(slot, addr, len, foreign, queue)| Op::Tx { slot, addr, len, foreign, queue }),
        1 => (any::<u8>(), any::<[u8; 16]>()).prop_map(|(slot, bytes)| Op::RawTx { slot, bytes }),
        3 => (any::<u8>(), addr(), len()).prop_map(|(slot, addr, capacity)| Op::Rx { slot, addr, capacity }),
        1 => (any::<u8>(), any::<[u8; 16]>()).prop_map(|(slot, bytes)| Op::RawRx { slot, bytes }),
        3 => (0i8..=12).prop_map(Op::TxDoorbell),
        2 => (-4i8..=12).prop_map(Op::RxDoorbell),
        1 => any::<u8>().prop_map(Op::Revoke),
        2 => (0u16..=1600).prop_map(Op::Wire),
        2 => any::<u16>().prop_map(Op::Run),
    ]
}

struct Arena {
    cp: ControlPlane,
    hostile: MockGuest,
    victim: MockGuest,
    /// The hostile VM's memory as it wrote it itself.
    shadow: Vec<u8>,
    victim_before: Vec<u8>,
    tx_producer: u16,
    rx_producer: u16,
}

fn arena(mode: CopyMode, grants: GrantMode) -> Arena {
    let (mut cp, guests) = system(mode, 2, ENTRIES, grants, small_card(), Vec::new());
    let mut it = guests.into_iter();
    let (hostile, victim) = (it.next().expect("hostile"), it.next().expect("victim"));
    // Its packets go to the victim; wire packets to it.
    let frame = udp_frame(vm_mac(0), vm_mac(1), 1514, || 0x5a);
    let d = cp.driver_mut();
    d.insert(
        &parse_card(&frame, PortNo(101)),
        Action::output(PortNo(102)),
    )
    .expect("entry");
    let wire = udp_frame(vm_mac(9), vm_mac(0), 64, || 0);
    d.insert(&parse_card(&wire, PortNo(1)), Action::output(PortNo(101)))
        .expect("entry");
    // Every TX buffer holds a full frame of the flow.
    let mem = d
        .card_mut()
        .host_mut()
        .memory_mut(HOSTILE)
        .expect("hostile memory");
    for s in 0..ENTRIES {
        mem.write(hostile.tx_buffer(s), &frame).expect("own buffer");
    }
    let shadow = mem.backing().to_vec();
    let victim_before = d.host().memory(VICTIM).expect("victim").backing().to_vec();
    Arena {
        cp,
        hostile,
        victim,
        shadow,
        victim_before,
        tx_producer: 0,
        rx_producer: ENTRIES,
    }
}

impl Arena {
    fn iova(&self, a: &Addr) -> Iova {
        let mem_end = host_driver::guest::MockGuest::memory_bytes(self.hostile.spec().entries);
        Iova(match *a {
            Addr::OwnTx(s) => self.hostile.tx_buffer(u16::from(s)).0,
            Addr::OwnRx(s) => self.hostile.rx_buffer(u16::from(s)).0,
            Addr::VictimBuffer(s) => self.victim.rx_buffer(u16::from(s)).0 + u64::from(s % 3) * 100,
            Addr::OwnRing(s) => self.hostile.queue_config().tx.0 + u64::from(s % 16) * 8,
            Addr::Wrap(d) => u64::MAX - u64::from(d),
            Addr::Beyond(d) => mem_end + u64::from(d),
            Addr::Random(x) => x,
        })
    }

    /// The hostile guest writes its own memory (the shadow follows).
    fn guest_write(&mut self, at: u64, bytes: &[u8]) {
        let mem = self
            .cp
            .driver_mut()
            .card_mut()
            .host_mut()
            .memory_mut(HOSTILE)
            .expect("mem");
        mem.write(GuestAddress(at), bytes).expect("own ring");
        let off = usize::try_from(at).expect("small");
        self.shadow[off..off + bytes.len()].copy_from_slice(bytes);
    }

    fn apply(&mut self, op: &Op) {
        let q = self.hostile.queue_config();
        let slot = |s: u8| u64::from(s) % u64::from(ENTRIES) * 16;
        match op {
            Op::Tx {
                slot: s,
                addr,
                len,
                foreign,
                queue,
            } => {
                let d = TxDescriptor {
                    buf: self.iova(addr),
                    len: *len,
                    flags: TxFlags::NONE,
                    vm: if *foreign { VICTIM } else { HOSTILE },
                    queue: QueueIndex(*queue),
                };
                self.guest_write(q.tx.0 + slot(*s), &d.to_bytes());
            }
            Op::RawTx { slot: s, bytes } => self.guest_write(q.tx.0 + slot(*s), bytes),
            Op::Rx {
                slot: s,
                addr,
                capacity,
            } => {
                let d = RxDescriptor {
                    buf: self.iova(addr),
                    capacity: *capacity,
                };
                self.guest_write(q.rx.0 + slot(*s), &d.to_bytes());
            }
            Op::RawRx { slot: s, bytes } => self.guest_write(q.rx.0 + slot(*s), bytes),
            Op::TxDoorbell(delta) => {
                self.tx_producer = self.tx_producer.wrapping_add_signed(i16::from(*delta));
                let r = vq::BASE.at(vq::queue_reg(0, vq::TX_PRODUCER));
                self.cp
                    .driver_mut()
                    .card_mut()
                    .mmio_write(r, u32::from(self.tx_producer));
            }
            Op::RxDoorbell(delta) => {
                self.rx_producer = self.rx_producer.wrapping_add_signed(i16::from(*delta));
                let r = vq::BASE.at(vq::queue_reg(0, vq::RX_PRODUCER));
                self.cp
                    .driver_mut()
                    .card_mut()
                    .mmio_write(r, u32::from(self.rx_producer));
            }
            Op::Revoke(s) => {
                let host = self.cp.driver_mut().card_mut().host_mut();
                self.hostile
                    .revoke_rx_buffer(host, u16::from(*s))
                    .expect("revoke");
            }
            Op::Wire(len) => {
                let f = udp_frame(vm_mac(9), vm_mac(0), 64, || 0);
                let mut f = f;
                f.resize(usize::from(*len), 0);
                let card = self.cp.driver_mut().card_mut();
                let now = card.now();
                card.offer_from_wire(PortNo(1), f.into(), now)
                    .expect("a MAC port");
            }
            Op::Run(ns) => {
                let until =
                    self.cp.driver().card().now() + SimDuration::from_ns(u64::from(*ns) * 4);
                let victim = &mut self.victim;
                self.cp
                    .run_until(until, |d, q| {
                        if q == QueueIndex(1) {
                            victim.poll(d.card_mut(), &mut Vec::new())?;
                            victim.post_rx_buffers(d.card_mut())?;
                        }
                        Ok(())
                    })
                    .expect("runs");
            }
        }
    }

    fn check(mut self) -> Result<(), TestCaseError> {
        let victim = &mut self.victim;
        self.cp
            .drain(|d, q| {
                if q == QueueIndex(1) {
                    victim.poll(d.card_mut(), &mut Vec::new())?;
                }
                Ok(())
            })
            .expect("drains");
        let counters = self.cp.driver_mut().card_mut().finish();
        prop_assert!(counters.is_ok(), "conservation: {:?}", counters);
        let counters = counters.expect("checked");
        let host = self.cp.driver().host();
        // Isolation: bytes changed in the hostile VM outside its own writes, and in the
        // victim, lie only in ranges granted for the card to write.
        let inside = |ranges: &[(GuestAddress, u64)], off: usize| {
            ranges
                .iter()
                .any(|&(a, l)| (a.0..a.0 + l).contains(&(off as u64)))
        };
        let hostile_mem = host.memory(HOSTILE).expect("mem").backing();
        let allowed = self.hostile.device_writable();
        for i in changed(hostile_mem, &self.shadow) {
            prop_assert!(
                inside(&allowed, i),
                "hostile VM byte {i:#x} written by the card"
            );
        }
        let mut allowed = self.victim.device_writable();
        // The victim's own re-posted RX descriptors.
        let vq = self.victim.queue_config();
        allowed.push((GuestAddress(vq.rx.0), u64::from(ENTRIES) * 16));
        let victim_mem = host.memory(VICTIM).expect("mem").backing();
        for i in changed(victim_mem, &self.victim_before) {
            prop_assert!(inside(&allowed, i), "victim byte {i:#x} written");
        }
        // Every refusal is counted, and against the hostile VM only.
        let faults = host.dma_faults_by_vm();
        prop_assert!(faults.keys().all(|&vm| vm == HOSTILE), "{:?}", faults);
        let refused = counters.dropped(DropReason::DmaFault) + counters.completion_faults;
        prop_assert!(refused == 0 || faults.get(&HOSTILE).copied().unwrap_or(0) > 0);
        prop_assert!(host
            .iommu()
            .metrics()
            .fault_log
            .iter()
            .all(|f| f.vm == HOSTILE && f.vm != HOST_VM));
        Ok(())
    }
}

/// Offsets where `a` and `b` differ (compared a block at a time: most blocks are equal).
fn changed<'a>(a: &'a [u8], b: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
    assert_eq!(a.len(), b.len());
    a.chunks(256)
        .zip(b.chunks(256))
        .enumerate()
        .filter(|(_, (x, y))| x != y)
        .flat_map(|(c, (x, y))| {
            x.iter()
                .zip(y.iter())
                .enumerate()
                .filter(|(_, (p, q))| p != q)
                .map(move |(i, _)| c * 256 + i)
        })
}

fn mode() -> impl Strategy<Value = CopyMode> {
    prop_oneof![
        Just(CopyMode::CopyEngine),
        Just(CopyMode::CpuCopy),
        Just(CopyMode::Hairpin)
    ]
}

fn grants() -> impl Strategy<Value = GrantMode> {
    prop_oneof![Just(GrantMode::Persistent), Just(GrantMode::MapPerPost)]
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(100_000))]

    #[test]
    fn hostile_guest_cannot_break_isolation_or_conservation(
        mode in mode(),
        grants in grants(),
        ops in proptest::collection::vec(op(), 1..12),
    ) {
        let mut a = arena(mode, grants);
        for op in &ops {
            a.apply(op);
        }
        a.check()?;
    }
}

proptest! {
    #![proptest_config(config(48))]

    // Doorbells anywhere in the index space (a producer up to 2^16 - 1 ahead makes the card
    // fetch that many garbage descriptors: slow, so few cases).
    #[test]
    fn garbage_doorbells(tx in any::<u16>(), rx in any::<u16>(), ops in proptest::collection::vec(op(), 0..6)) {
        let mut a = arena(CopyMode::CopyEngine, GrantMode::Persistent);
        for op in &ops {
            a.apply(op);
        }
        let card = a.cp.driver_mut().card_mut();
        card.mmio_write(vq::BASE.at(vq::queue_reg(0, vq::RX_PRODUCER)), u32::from(rx));
        card.mmio_write(vq::BASE.at(vq::queue_reg(0, vq::TX_PRODUCER)), u32::from(tx));
        a.check()?;
    }
}

#[test]
fn a_revoked_buffer_is_refused_and_counted() {
    let mut a = arena(CopyMode::CopyEngine, GrantMode::Persistent);
    a.apply(&Op::Revoke(0));
    a.apply(&Op::Wire(64));
    a.apply(&Op::Run(10_000));
    let host = a.cp.driver().host();
    assert_eq!(host.dma_faults_by_vm().get(&HOSTILE), Some(&1));
    let f = host.iommu().metrics().fault_log[0];
    assert_eq!((f.iova, f.write), (Iova(a.hostile.rx_buffer(0).0), true));
    assert_eq!(f.reason, host_driver::iommu::FaultReason::Revoked);
    assert_eq!(
        a.cp.driver()
            .card()
            .counters()
            .dropped(DropReason::DmaFault),
        1
    );
    a.check().expect("isolated and conserved");
    let _ = SimTime::ZERO;
}
