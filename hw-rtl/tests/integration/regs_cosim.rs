//! The management port, register for register: the same random register traffic (keys,
//! actions and slot indices, valid and not, every command code and some unknown ones) into
//! `nic-model`'s card and the RTL's `flow_table_regs`, one access per NIC cycle on both,
//! `STATUS` polled every cycle on both while the command runs (the model's port must be busy
//! in exactly the RTL's cycles, and both ignore writes meanwhile), and every register of the
//! flow-table block read back from both after each command.

use hw_rtl::flow_table::{FlowTableRtl, TableVariant};
use nic_abi::action::{Action, Destination};
use nic_abi::key::{FlowKey, KeyClass, MacAddr, PortNo, UnparsedReason, KEY_WORDS};
use nic_abi::regs::{flow_table as ft, MgmtStatus, RegOffset};
use nic_abi::time::{SimDuration, SimTime};
use nic_model::card::{Card, CardConfig, TableConfig};
use nic_model::testing::FlatMemoryHost;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn offset(rel: u32) -> u16 {
    u16::try_from(ft::BASE.0 + rel).expect("the block lies in the 64 KiB BAR")
}

/// Every register of the block a driver can read, block header included.
fn readable() -> Vec<u32> {
    let mut regs = vec![
        0x0,
        0x4,
        0x8,
        0xc,
        ft::STATUS,
        ft::OCCUPANCY,
        ft::LAST_KICKS,
        ft::SLOT,
    ];
    regs.extend((0..15u32).map(ft::key));
    regs.extend((0..2u32).map(ft::action));
    regs.extend([ft::HITS_LO, ft::HITS_HI, ft::BYTES_LO, ft::BYTES_HI]);
    regs.extend([ft::LAST_HIT_LO, ft::LAST_HIT_HI]);
    regs
}

#[test]
fn random_register_traffic_reads_back_the_same_on_model_and_rtl() {
    let variant = TableVariant::Small;
    let config = CardConfig {
        table: TableConfig {
            buckets: variant.buckets(),
            max_kicks: variant.max_kicks(),
            ..TableConfig::default()
        },
        ..CardConfig::default()
    };
    let mut card = Card::new(config, FlatMemoryHost::new()).expect("card");
    let mut rtl = FlowTableRtl::new(variant, None).expect("rtl");
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let keys: Vec<FlowKey> = (0..90u16)
        .map(|i| FlowKey {
            in_port: PortNo(1 + i % 7),
            dl_src: MacAddr::from_u64(u64::from(i) * 0x1_0001),
            tp_dst: i,
            nw_proto: 17,
            class: if i % 23 == 0 {
                KeyClass::Unparsed(UnparsedReason::Malformed)
            } else {
                KeyClass::Parsed
            },
            ..FlowKey::default()
        })
        .collect();
    let regs = readable();
    let period = SimDuration(card.nic_clock().period_ps);
    let mut t = SimTime::ZERO;
    let mut busy_polls = 0u64;
    let mut statuses = std::collections::BTreeMap::new();
    for step in 0..6_000 {
        // Key words: a pool key, sometimes with garbage fragment flags.
        let mut words = keys[rng.random_range(0..keys.len())].to_words();
        if rng.random_range(0..40) == 0 {
            words[0] |= 0x04;
        }
        let action = match rng.random_range(0..5) {
            0 => Action::DROP,
            1 => Action {
                dest: Destination::Flood,
                ..Action::DROP
            },
            _ => Action {
                dest: Destination::Output(PortNo(rng.random_range(1..9))),
                ..Action::DROP
            },
        };
        let mut action_words = action.to_words();
        if rng.random_range(0..30) == 0 {
            action_words[0] |= 0x0100_0000; // a reserved bit: BAD_ACTION on insert
        }
        let mut writes: Vec<(u32, u32)> = Vec::new();
        writes.extend((0u32..).zip(words).map(|(n, w)| (ft::key(n), w)));
        writes.extend((0u32..).zip(action_words).map(|(n, w)| (ft::action(n), w)));
        writes.push((ft::SLOT, rng.random_range(0..80)));
        let cmd = match rng.random_range(0..20) {
            0..=8 => 1,
            9..=12 => 2,
            13..=14 => 3,
            15..=16 => 4,
            17..=18 => 5,
            // Code 6, READ_NEXT, is the model's only (a restarted agent's table scan; the
            // RTL has no scan yet and answers BadCommand): not compared here.
            _ => rng.random_range(7..40),
        };
        // One register access per NIC cycle on both: the RTL's bus takes one a cycle, and the
        // model's accesses are issued at the cycle's time, so its management port is busy
        // for as many cycles as the RTL's.
        for (rel, value) in writes {
            card.mmio_write_at(t, RegOffset(ft::BASE.0 + rel), value);
            rtl.mmio_write(offset(rel), value).expect("write");
            t += period;
        }
        card.mmio_write_at(t, RegOffset(ft::BASE.0 + ft::CMD), cmd);
        rtl.mmio_write(offset(ft::CMD), cmd).expect("cmd");
        t += period;
        // Sometimes a write while busy, on both: ignored by both (protocol).
        if rng.random_range(0..4) == 0 {
            let (rel, junk) = (ft::key(rng.random_range(0..15)), rng.random::<u32>());
            card.mmio_write_at(t, RegOffset(ft::BASE.0 + rel), junk);
            rtl.mmio_write(offset(rel), junk).expect("write");
            t += period;
        }
        // Poll both every cycle until done: busy in the same cycles.
        let mut polls = 0;
        loop {
            let m = card.mmio_read_at(t, RegOffset(ft::BASE.0 + ft::STATUS));
            let r = rtl.mmio_read(offset(ft::STATUS)).expect("status");
            t += period;
            assert_eq!(
                r, m,
                "step {step}, command {cmd}, poll {polls}: STATUS RTL {r}, model {m}"
            );
            if r != MgmtStatus::Busy.code() {
                break;
            }
            polls += 1;
            busy_polls += 1;
            assert!(polls < 1_000, "step {step}: command {cmd} never finished");
        }
        for &rel in &regs {
            let m = card.mmio_read_at(t, RegOffset(ft::BASE.0 + rel));
            let r = rtl.mmio_read(offset(rel)).expect("read");
            t += period;
            assert_eq!(
                r, m,
                "step {step}, command {cmd}: register {rel:#x}: RTL {r:#x}, model {m:#x}"
            );
        }
        *statuses
            .entry(card.mmio_read_at(t, RegOffset(ft::BASE.0 + ft::STATUS)))
            .or_insert(0) += 1;
    }
    // Every status a correct port gives showed up.
    for status in [
        MgmtStatus::Ok,
        MgmtStatus::Updated,
        MgmtStatus::NotFound,
        MgmtStatus::TableFull,
        MgmtStatus::BadCommand,
        MgmtStatus::BadKey,
        MgmtStatus::BadAction,
    ] {
        assert!(
            statuses.contains_key(&status.code()),
            "{status:?} never seen: {statuses:?}"
        );
    }
    assert_eq!(KEY_WORDS, 15);
    assert!(
        busy_polls > 6_000 * 4,
        "the port was busy in {busy_polls} polls"
    );
    assert!(card.mgmt_ignored_writes() > 0, "no write while busy");
}

/// Writes the command and reads `STATUS` every cycle until it is not `Busy`; returns the
/// cycles from the `CMD` write's cycle to the first cycle whose read is not `Busy`.
fn command_cycles(rtl: &mut FlowTableRtl, cmd: u32) -> u64 {
    rtl.mmio_write(offset(ft::CMD), cmd).expect("cmd");
    let mut cycles = 1;
    while rtl.mmio_read(offset(ft::STATUS)).expect("status") == MgmtStatus::Busy.code() {
        cycles += 1;
        assert!(cycles < 10_000, "command {cmd} never finished");
    }
    cycles
}

/// The cycles the RTL's management port is busy per command are `nic_abi::table`'s
/// `MGMT_COMMAND_CYCLES` and `MGMT_CYCLES_PER_KICK` (made and undone), the defaults
/// `nic-model`'s card and the cost profiles take: inserts into the small table until some
/// fail, covering no kicks, long walks and failed (undone) walks, and every other command.
#[test]
fn command_cycles_are_the_abi_constants() {
    use nic_abi::table::{MgmtTiming, MGMT_COMMAND_CYCLES, MGMT_CYCLES_PER_KICK};
    // MGMT_WALK_END_CYCLES, MGMT_CYCLES_PER_UNDONE_KICK and MGMT_COUNTER_READ_CYCLES are
    // held to the RTL through MgmtTiming::busy_cycles.
    let timing = MgmtTiming::default();
    let mut rtl = FlowTableRtl::new(TableVariant::Small, None).expect("rtl");
    let action = Action {
        dest: Destination::Output(PortNo(2)),
        ..Action::DROP
    };
    let mut seen = std::collections::BTreeMap::new();
    let mut full = 0;
    for i in 0..200u16 {
        let key = FlowKey {
            in_port: PortNo(1),
            tp_src: i,
            tp_dst: i.wrapping_mul(7),
            nw_proto: 6,
            ..FlowKey::default()
        };
        for (n, w) in (0u32..).zip(key.to_words()) {
            rtl.mmio_write(offset(ft::key(n)), w).expect("key");
        }
        for (n, w) in (0u32..).zip(action.to_words()) {
            rtl.mmio_write(offset(ft::action(n)), w).expect("action");
        }
        let cycles = command_cycles(&mut rtl, 1);
        let status = rtl.mmio_read(offset(ft::STATUS)).expect("status");
        let kicks = rtl.mmio_read(offset(ft::LAST_KICKS)).expect("kicks");
        let failed = status == MgmtStatus::TableFull.code();
        full += u32::from(failed);
        assert_eq!(
            cycles,
            timing.busy_cycles(kicks, failed, false),
            "insert {i}: {kicks} kicks, status {status}: the RTL took {cycles} cycles"
        );
        seen.entry(kicks).or_insert(cycles);
        // Every other command of the port, on the same key: no kicks; a lookup (3) or
        // counter read (4) of the key, installed unless the insert failed, reads counters.
        for cmd in [3, 4, 5, 9] {
            let reads_counters = !failed && (cmd == 3 || cmd == 4);
            assert_eq!(
                command_cycles(&mut rtl, cmd),
                timing.busy_cycles(0, false, reads_counters),
                "command {cmd}"
            );
        }
    }
    println!("RTL management command cycles by kicks (0 kicks = MGMT_COMMAND_CYCLES {MGMT_COMMAND_CYCLES}, +{MGMT_CYCLES_PER_KICK} per kick, +1 to end a walk, +3 per undone kick): {seen:?}; {full} failed inserts");
    assert!(seen.contains_key(&0), "no insert without kicks: {seen:?}");
    assert!(
        seen.keys().any(|&k| k > 1),
        "no insert with kicks: {seen:?}"
    );
    assert!(full > 0, "no failed insert");
}
