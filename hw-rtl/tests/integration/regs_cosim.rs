//! The management port, register for register: the same random register traffic (keys,
//! actions and slot indices, valid and not, every command code and some unknown ones) into
//! `nic-model`'s card and the RTL's `flow_table_regs`, and every register of the flow-table
//! block read back from both after each command.

use hw_rtl::flow_table::{FlowTableRtl, TableVariant};
use nic_abi::action::{Action, Destination};
use nic_abi::key::{FlowKey, KeyClass, MacAddr, PortNo, UnparsedReason, KEY_WORDS};
use nic_abi::regs::{flow_table as ft, MgmtStatus, RegOffset};
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
            _ => rng.random_range(6..40),
        };
        for (rel, value) in writes {
            card.mmio_write(RegOffset(ft::BASE.0 + rel), value);
            rtl.mmio_write(offset(rel), value).expect("write");
        }
        card.mmio_write(RegOffset(ft::BASE.0 + ft::CMD), cmd);
        rtl.mmio_write(offset(ft::CMD), cmd).expect("cmd");
        // The RTL takes cycles: poll until the command is done.
        let mut polls = 0;
        while rtl.mmio_read(offset(ft::STATUS)).expect("status") == MgmtStatus::Busy.code() {
            polls += 1;
            assert!(polls < 1_000, "step {step}: command {cmd} never finished");
        }
        for &rel in &regs {
            let m = card.mmio_read(RegOffset(ft::BASE.0 + rel));
            let r = rtl.mmio_read(offset(rel)).expect("read");
            assert_eq!(
                r, m,
                "step {step}, command {cmd}: register {rel:#x}: RTL {r:#x}, model {m:#x}"
            );
        }
        *statuses
            .entry(card.mmio_read(RegOffset(ft::BASE.0 + ft::STATUS)))
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
}
