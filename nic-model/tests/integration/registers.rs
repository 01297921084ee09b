//! The card driven only through its registers, as `host-driver` does: enumerate the blocks,
//! set up a queue pair and the miss and release rings, manage the table through the
//! management port, and release a held packet through the release ring.

use nic_abi::action::Action;
use nic_abi::desc::{Iova, MissRecord, QueueIndex, Release, ReleaseCommand, RxStatus, VmId};
use nic_abi::key::{PortNo, KEY_WORDS};
use nic_abi::regs::{
    self, device_info, flow_table as ft, interrupts as ir, miss_queue as mq, vm_queues as vq,
    BlockType, MgmtCommand, MgmtStatus, RegOffset,
};
use nic_abi::time::{SimDuration, SimTime};
use nic_model::card::{Card, CardConfig, TableConfig};
use nic_model::host::{HostBus, IrqVector};
use nic_model::testing::{FlatMemoryHost, VmLayout};

use crate::support::{bytes, key_of, udp_frame};

fn at(base: RegOffset, rel: u32) -> RegOffset {
    base.at(rel)
}

fn write_key_and_action(card: &mut Card<FlatMemoryHost>, words: &[u32; KEY_WORDS], action: Action) {
    for (n, w) in (0u32..).zip(words) {
        card.mmio_write(at(ft::BASE, ft::key(n)), *w);
    }
    for (n, w) in (0u32..).zip(&action.to_words()) {
        card.mmio_write(at(ft::BASE, ft::action(n)), *w);
    }
}

/// Writes the command, then polls `STATUS` as a host does, one read a microsecond, until it
/// is done; moves the card to the time of the last poll and returns the status.
fn command(card: &mut Card<FlatMemoryHost>, cmd: u32) -> u32 {
    card.mmio_write(at(ft::BASE, ft::CMD), cmd);
    let mut t = card.now();
    loop {
        t += SimDuration::from_ns(1_000);
        let status = card.mmio_read_at(t, at(ft::BASE, ft::STATUS));
        if status != MgmtStatus::Busy.code() {
            card.advance_to(t);
            return status;
        }
        assert!(t < SimTime(1_000_000_000), "command {cmd} never finished");
    }
}

#[test]
fn driver_over_registers() {
    const MISS_RING: u64 = 0;
    const RELEASE_RING: u64 = 0x4000;
    let vm = VmLayout {
        vm: VmId(5),
        port: PortNo(100),
        queue: QueueIndex(0),
        entries: 64,
    };
    let mut host = FlatMemoryHost::new();
    host.add_vm(VmId(0), 0x8000);
    host.add_vm(vm.vm, vm.memory_bytes());
    let mut card = Card::new(CardConfig::default(), host).expect("valid");

    // Enumerate.
    let blocks = regs::walk_blocks(|off| card.mmio_read(off)).expect("chain");
    let types: Vec<_> = blocks.iter().filter_map(|b| b.block_type).collect();
    assert_eq!(
        types,
        [
            BlockType::DeviceInfo,
            BlockType::FlowTable,
            BlockType::MissQueue,
            BlockType::Interrupts,
            BlockType::VmQueues
        ]
    );
    assert_eq!(
        card.mmio_read(at(device_info::BASE, device_info::SIGNATURE)),
        regs::SIGNATURE
    );
    assert_eq!(
        card.mmio_read(at(device_info::BASE, device_info::NUM_UPLINKS)),
        2
    );
    assert_eq!(
        card.mmio_read(at(device_info::BASE, device_info::TABLE_BUCKETS)),
        16_384
    );
    assert_eq!(
        card.mmio_read(at(device_info::BASE, device_info::LOOKUP_LATENCY)),
        8
    );
    assert_eq!(
        card.mmio_read(at(device_info::BASE, device_info::CORE_CLOCK_KHZ)),
        250_000
    );

    // Queue pair 0 from its registers.
    let setup = vm.queue_setup(IrqVector(2), IrqVector(2));
    let q = |reg| at(vq::BASE, vq::queue_reg(0, reg));
    card.mmio_write(q(vq::VM_ID), 5);
    card.mmio_write(q(vq::PORT), 100);
    for (reg, ring) in [
        (vq::RX_RING_BASE_LO, setup.rx),
        (vq::RX_CPL_BASE_LO, setup.rx_completions),
        (vq::TX_RING_BASE_LO, setup.tx),
        (vq::TX_CPL_BASE_LO, setup.tx_completions),
    ] {
        card.mmio_write(q(reg), u32::try_from(ring.base.0).expect("small"));
    }
    card.mmio_write(q(vq::RX_RING_SIZE), 64);
    card.mmio_write(q(vq::TX_RING_SIZE), 64);
    card.mmio_write(q(vq::CONTROL), vq::CONTROL_ENABLE);
    assert_eq!(card.mmio_read(q(vq::CONTROL)), vq::CONTROL_ENABLE);
    for i in 0..16 {
        vm.post_rx(card.host_mut(), i).expect("memory");
    }
    card.mmio_write(q(vq::RX_PRODUCER), 16);
    assert_eq!(card.mmio_read(q(vq::RX_PRODUCER)), 16);
    // Interrupt at every completion.
    card.mmio_write(at(ir::BASE, ir::vector_reg(2, ir::MOD_COUNT)), 1);

    // Miss and release rings.
    card.mmio_write(
        at(mq::BASE, mq::RING_BASE_LO),
        u32::try_from(MISS_RING).expect("small"),
    );
    card.mmio_write(at(mq::BASE, mq::RING_SIZE), 16);
    card.mmio_write(
        at(mq::BASE, mq::RELEASE_BASE_LO),
        u32::try_from(RELEASE_RING).expect("small"),
    );
    card.mmio_write(at(mq::BASE, mq::RELEASE_SIZE), 16);
    card.mmio_write(at(mq::BASE, mq::CONTROL), mq::CONTROL_ENABLE);

    // The management port.
    let frame = udp_frame(1, 200);
    let key = key_of(&frame, PortNo(1));
    write_key_and_action(&mut card, &key.to_words(), Action::output(PortNo(100)));
    assert_eq!(
        command(&mut card, MgmtCommand::Insert.code()),
        MgmtStatus::Ok.code()
    );
    assert_eq!(
        command(&mut card, MgmtCommand::Insert.code()),
        MgmtStatus::Updated.code()
    );
    assert_eq!(card.mmio_read(at(ft::BASE, ft::OCCUPANCY)), 1);
    assert_eq!(command(&mut card, 77), MgmtStatus::BadCommand.code());
    let mut bad_key = key.to_words();
    bad_key[0] |= 0xee00; // no such key class
    write_key_and_action(&mut card, &bad_key, Action::DROP);
    assert_eq!(
        command(&mut card, MgmtCommand::Insert.code()),
        MgmtStatus::BadKey.code()
    );

    // A hit from the wire reaches the VM.
    card.offer_from_wire(PortNo(1), bytes(frame.clone()), card.now())
        .expect("mac");
    card.drain();
    assert_eq!(card.mmio_read(q(vq::RX_CPL_PRODUCER)), 1);
    let cpl = vm.rx_completion(card.host(), 0).expect("completion");
    assert_eq!(cpl.status, RxStatus::Ok);
    assert_eq!(vm.rx_data(card.host(), 0, frame.len()), &frame[..]);
    let cause = at(ir::BASE, ir::vector_reg(2, ir::CAUSE));
    assert_eq!(card.mmio_read(cause), ir::CAUSE_RX_COMPLETION);
    card.mmio_write(cause, ir::CAUSE_RX_COMPLETION);
    assert_eq!(card.mmio_read(cause), 0);
    let queue_irqs = card
        .host()
        .interrupts
        .iter()
        .filter(|(v, _)| *v == IrqVector(2))
        .count();
    assert_eq!(queue_irqs, 1);
    // The management commands raised the management vector (after its moderation delay).
    assert!(card
        .host()
        .interrupts
        .iter()
        .any(|(v, _)| *v == IrqVector(1)));

    // Counters through the port.
    write_key_and_action(&mut card, &key.to_words(), Action::DROP);
    assert_eq!(
        command(&mut card, MgmtCommand::Lookup.code()),
        MgmtStatus::Ok.code()
    );
    assert_eq!(
        card.mmio_read(at(ft::BASE, ft::action(0))),
        Action::output(PortNo(100)).to_words()[0]
    );
    assert_eq!(card.mmio_read(at(ft::BASE, ft::HITS_LO)), 1);
    assert_eq!(card.mmio_read(at(ft::BASE, ft::BYTES_LO)), 200);

    // A miss is held, reported, and released through the release ring.
    let other = udp_frame(2, 100);
    card.offer_from_wire(PortNo(1), bytes(other.clone()), card.now())
        .expect("mac");
    card.drain();
    assert_eq!(card.mmio_read(at(mq::BASE, mq::HELD_PACKETS)), 1);
    assert_eq!(card.mmio_read(at(mq::BASE, mq::PRODUCER)), 1);
    let mem = card.host().memory(VmId(0)).expect("agent memory");
    let record = MissRecord::try_from(&mem[..MissRecord::SIZE]).expect("miss record");
    let release = ReleaseCommand {
        handle: record.handle,
        release: Release::Apply(Action::output(PortNo(100))),
    };
    card.host_mut()
        .dma_write(VmId(0), Iova(RELEASE_RING), &release.to_bytes())
        .expect("agent memory");
    card.mmio_write(at(mq::BASE, mq::RELEASE_PRODUCER), 1);
    card.mmio_write(at(mq::BASE, mq::CONSUMER), 1);
    let c = card.finish().expect("conserved and drained");
    assert_eq!((c.delivered, c.releases, c.bad_releases), (2, 1, 0));
    assert_eq!(card.mmio_read(at(mq::BASE, mq::RELEASE_CONSUMER)), 1);
    assert_eq!(vm.rx_data(card.host(), 1, other.len()), &other[..]);

    // Delete, then delete again.
    write_key_and_action(&mut card, &key.to_words(), Action::DROP);
    assert_eq!(
        command(&mut card, MgmtCommand::Delete.code()),
        MgmtStatus::Ok.code()
    );
    assert_eq!(
        command(&mut card, MgmtCommand::Delete.code()),
        MgmtStatus::NotFound.code()
    );

    // A queue whose port is taken is refused and flagged.
    let q1 = |reg| at(vq::BASE, vq::queue_reg(1, reg));
    card.mmio_write(q1(vq::PORT), 100);
    card.mmio_write(q1(vq::RX_RING_SIZE), 64);
    card.mmio_write(q1(vq::TX_RING_SIZE), 64);
    card.mmio_write(q1(vq::CONTROL), vq::CONTROL_ENABLE);
    assert_eq!(card.mmio_read(q1(vq::CONTROL)), 0);
    assert_eq!(
        card.mmio_read(q1(vq::STATUS)),
        vq::STATUS_DESCRIPTOR_REFUSED
    );
}

/// The management port is busy for exactly `MgmtTiming::busy_cycles` NIC cycles from the
/// `CMD` write (the configured command cycles, the configured cycles per kick, then one to end
/// a walk or the RTL's three per undone kick): `STATUS`
/// reads `Busy` until the last picosecond of it, and writes to the port meanwhile (a key
/// word, another command) are ignored.
#[test]
fn management_port_is_busy_for_the_commands_cycles_and_ignores_writes_meanwhile() {
    let config = CardConfig {
        table: TableConfig {
            buckets: 4,
            max_kicks: 8,
            mgmt_command_cycles: 10,
            mgmt_cycles_per_kick: 3,
        },
        ..CardConfig::default()
    };
    let mut card = Card::new(config, FlatMemoryHost::new()).expect("valid");
    let period = SimDuration(card.nic_clock().period_ps);
    assert_eq!(period, SimDuration(4_000), "250 MHz");
    assert_eq!(
        card.mmio_read(at(device_info::BASE, device_info::MGMT_COMMAND_CYCLES)),
        10
    );
    assert_eq!(
        card.mmio_read(at(device_info::BASE, device_info::MGMT_KICK_CYCLES)),
        3
    );
    let reg = |rel| at(ft::BASE, rel);
    let status = reg(ft::STATUS);
    let action = Action::output(PortNo(3));
    let mut kicks_seen = std::collections::BTreeSet::new();
    let mut full = 0;
    // Each command at its own microsecond; the card's clock stays at 0 (accesses are issued
    // at the times given).
    for i in 0..60u32 {
        let t = SimTime(u64::from(i + 1) * 1_000_000);
        let words = key_of(&udp_frame(i, 64), PortNo(1)).to_words();
        for (n, w) in (0u32..).zip(words) {
            card.mmio_write_at(t, reg(ft::key(n)), w);
        }
        for (n, w) in (0u32..).zip(action.to_words()) {
            card.mmio_write_at(t, reg(ft::action(n)), w);
        }
        let occupancy = card.mmio_read_at(t, reg(ft::OCCUPANCY));
        card.mmio_write_at(t, reg(ft::CMD), MgmtCommand::Insert.code());
        // Writes while busy: a garbage key word and a delete command, one cycle later.
        let ignored = card.mgmt_ignored_writes();
        card.mmio_write_at(t + period, reg(ft::key(0)), 0xdead_beef);
        card.mmio_write_at(t + period, reg(ft::CMD), MgmtCommand::Delete.code());
        assert_eq!(card.mgmt_ignored_writes(), ignored + 2);
        // The status once done, read well after, says what the insert did.
        let done = card.mmio_read_at(t + SimDuration::from_ns(900_000), status);
        let kicks = card.mmio_read_at(t + SimDuration::from_ns(900_000), reg(ft::LAST_KICKS));
        let failed = done == MgmtStatus::TableFull.code();
        let kicks64 = u64::from(kicks);
        let finish = match (failed, kicks) {
            (true, _) => 3 * kicks64,
            (false, 0) => 0,
            (false, _) => 1,
        };
        let cycles = 10 + 3 * kicks64 + finish;
        let end = t + SimDuration(period.0 * cycles);
        assert_eq!(card.mmio_read_at(t, status), MgmtStatus::Busy.code());
        assert_eq!(
            card.mmio_read_at(SimTime(end.0 - 1), status),
            MgmtStatus::Busy.code(),
            "insert {i}: {kicks} kicks, busy until {cycles} cycles"
        );
        assert_eq!(card.mmio_read_at(end, status), done, "insert {i}");
        // Neither write took: the key word is the key's, the delete never ran.
        assert_eq!(card.mmio_read_at(end, reg(ft::key(0))), words[0]);
        let expected = if failed {
            full += 1;
            occupancy
        } else {
            assert_eq!(done, MgmtStatus::Ok.code(), "insert {i}");
            occupancy + 1
        };
        assert_eq!(card.mmio_read_at(end, reg(ft::OCCUPANCY)), expected);
        kicks_seen.insert(kicks);
    }
    assert!(kicks_seen.contains(&0), "{kicks_seen:?}");
    assert!(kicks_seen.iter().any(|&k| k > 0 && k < 8), "{kicks_seen:?}");
    assert!(full > 0, "no failed insert");
}

/// `READ_NEXT` walks the table entry by entry: each command answers the first occupied slot
/// at or after `SLOT` within 64 buckets, or `NotFound` with `SLOT` where it stopped (the
/// slot count at the end); the port is busy one more cycle per bucket passed.
#[test]
fn read_next_scans_the_table_entry_by_entry() {
    let config = CardConfig {
        table: TableConfig {
            buckets: 256,
            ..TableConfig::default()
        },
        ..CardConfig::default()
    };
    let mut card = Card::new(config, FlatMemoryHost::new()).expect("valid");
    let mut keys = Vec::new();
    for i in 0..5u16 {
        let key = key_of(&udp_frame(1, 100 + usize::from(i)), PortNo(1 + i));
        write_key_and_action(&mut card, &key.to_words(), Action::output(PortNo(100 + i)));
        assert_eq!(
            command(&mut card, MgmtCommand::Insert.code()),
            MgmtStatus::Ok.code()
        );
        keys.push(key.to_words());
    }
    let capacity = 256 * 4;
    let mut found = Vec::new();
    let mut slot = 0u32;
    let mut commands = 0;
    loop {
        card.mmio_write(at(ft::BASE, ft::SLOT), slot);
        let status = command(&mut card, MgmtCommand::ReadNext.code());
        commands += 1;
        let at_slot = card.mmio_read(at(ft::BASE, ft::SLOT));
        if status == MgmtStatus::Ok.code() {
            assert!(at_slot >= slot);
            let words: Vec<u32> = (0..u32::try_from(KEY_WORDS).expect("15"))
                .map(|n| card.mmio_read(at(ft::BASE, ft::key(n))))
                .collect();
            // READ_SLOT agrees with what READ_NEXT found there.
            card.mmio_write(at(ft::BASE, ft::SLOT), at_slot);
            assert_eq!(
                command(&mut card, MgmtCommand::ReadSlot.code()),
                MgmtStatus::Ok.code()
            );
            found.push(words);
            slot = at_slot + 1;
        } else {
            assert_eq!(status, MgmtStatus::NotFound.code());
            assert!(at_slot > slot, "a scan moves on");
            if at_slot == capacity {
                break;
            }
            slot = at_slot;
        }
    }
    assert_eq!(found.len(), 5);
    let mut want = keys.clone();
    want.sort_unstable();
    let mut got: Vec<[u32; KEY_WORDS]> = found
        .iter()
        .map(|w| w.as_slice().try_into().expect("15 words"))
        .collect();
    got.sort_unstable();
    assert_eq!(got, want);
    // Five entries and 256 buckets: at most 5 finds and 256 / 64 + 1 empty stretches.
    assert!(commands <= 5 + 256 / 64 + 1, "{commands} commands");
    // Beyond the table: refused.
    card.mmio_write(at(ft::BASE, ft::SLOT), capacity);
    assert_eq!(
        command(&mut card, MgmtCommand::ReadNext.code()),
        MgmtStatus::BadCommand.code()
    );
    // A scan of 64 empty buckets keeps the port busy 64 cycles (256 ns) past a command's 9.
    let mut empty = Card::new(CardConfig::default(), FlatMemoryHost::new()).expect("valid");
    empty.mmio_write(at(ft::BASE, ft::SLOT), 0);
    let t = empty.now();
    empty.mmio_write_at(t, at(ft::BASE, ft::CMD), MgmtCommand::ReadNext.code());
    let busy_until = t + SimDuration::from_ns((9 + 64) * 4);
    assert_eq!(
        empty.mmio_read_at(SimTime(busy_until.0 - 1), at(ft::BASE, ft::STATUS)),
        MgmtStatus::Busy.code()
    );
    assert_eq!(
        empty.mmio_read_at(busy_until, at(ft::BASE, ft::STATUS)),
        MgmtStatus::NotFound.code()
    );
    assert_eq!(empty.mmio_read(at(ft::BASE, ft::SLOT)), 64 * 4);
}
