//! The `flow_table` RTL against `nic-model`'s flow table: the same operations, the same
//! results, the same contents, and the lookup timing nic-abi specifies.

use std::collections::VecDeque;

use hw_rtl::flow_table::{
    CycleInputs, FlowTableRtl, LookupRequest, LookupResult, MgmtCommand, MgmtResponse, MgmtStatus,
    TableVariant,
};
use nic_abi::action::{Action, Destination};
use nic_abi::key::{FlowKey, KeyClass, MacAddr, PortNo, UnparsedReason};
use nic_abi::table::{TableGeometry, LOOKUP_LATENCY_CYCLES};
use nic_abi::time::SimTime;
use nic_model::flow_table::{FlowTable, InsertError, InsertOutcome, SlotIndex};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A pool of distinct keys; about one in twenty is unparsed (never stored, never hit).
fn key_pool(rng: &mut ChaCha8Rng, n: usize) -> Vec<FlowKey> {
    let mut keys: Vec<FlowKey> = (0..n)
        .map(|i| {
            let mut k = FlowKey {
                in_port: PortNo(rng.random_range(1..=64)),
                dl_src: MacAddr::from_u64(rng.random()),
                dl_dst: MacAddr::from_u64(rng.random()),
                nw_proto: 6,
                nw_src: u128::from(rng.random::<u32>()),
                nw_dst: u128::from(rng.random::<u32>()),
                tp_src: rng.random(),
                // The index makes every key distinct.
                tp_dst: u16::try_from(i % 65_536).unwrap_or(0),
                ..FlowKey::default()
            };
            if rng.random_range(0..20) == 0 {
                k.class = KeyClass::Unparsed(UnparsedReason::Truncated);
            }
            k
        })
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

fn random_action(rng: &mut ChaCha8Rng) -> Action {
    let dest = match rng.random_range(0..4) {
        0 => Destination::Drop,
        1 => Destination::Flood,
        2 => Destination::ToAgent,
        _ => Destination::Output(PortNo(rng.random_range(1..=64))),
    };
    Action {
        dest,
        ..Action::DROP
    }
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Lookup(FlowKey, u16),
    Mgmt(FlowKey, MgmtKind),
}

#[derive(Debug, Clone, Copy)]
enum MgmtKind {
    Insert(Action),
    Delete,
    Lookup,
    ReadCounters,
}

fn slot_of(model: &FlowTable<Action>, key: &FlowKey) -> Option<u32> {
    model.find(key).map(|s| s.0)
}

/// What the model says a management command answers, applied to the model.
fn model_mgmt(
    model: &mut FlowTable<Action>,
    key: &FlowKey,
    kind: MgmtKind,
) -> (MgmtStatus, Option<u32>, u32) {
    // The management registers refuse a key no parsed packet has, whatever the command
    // (nic_abi::regs::MgmtStatus::BadKey).
    if !key.is_parsed() {
        return (MgmtStatus::BadKey, None, 0);
    }
    match kind {
        MgmtKind::Insert(action) => match model.insert(key, action) {
            Ok(InsertOutcome::Inserted { slot, kicks }) => (MgmtStatus::Ok, Some(slot.0), kicks),
            Ok(InsertOutcome::Updated { slot }) => (MgmtStatus::Updated, Some(slot.0), 0),
            Err(InsertError::TableFull { kicks, .. }) => (MgmtStatus::TableFull, None, kicks),
            Err(InsertError::UnparsedKey(_)) => (MgmtStatus::BadKey, None, 0),
        },
        MgmtKind::Delete => {
            let slot = slot_of(model, key);
            match model.delete(key) {
                Some(_) => (MgmtStatus::Ok, slot, 0),
                None => (MgmtStatus::NotFound, None, 0),
            }
        }
        MgmtKind::Lookup | MgmtKind::ReadCounters => match slot_of(model, key) {
            Some(slot) => (MgmtStatus::Ok, Some(slot), 0),
            None => (MgmtStatus::NotFound, None, 0),
        },
    }
}

struct Expected {
    status: MgmtStatus,
    slot: Option<u32>,
    kicks: u32,
    key: FlowKey,
    kind: MgmtKind,
}

fn check_mgmt(model: &FlowTable<Action>, exp: &Expected, rsp: &MgmtResponse, op_index: usize) {
    assert_eq!(
        rsp.status, exp.status,
        "op {op_index}: {:?} of {:?}",
        exp.kind, exp.key
    );
    if let Some(slot) = exp.slot {
        assert_eq!(
            rsp.slot, slot,
            "op {op_index}: slot of {:?}: {rsp:?} expected {:?} {:?} kicks {}",
            exp.kind, exp.status, exp.slot, exp.kicks
        );
    }
    if let Some(slot) = exp.slot {
        assert_eq!(rsp.slot, slot, "op {op_index}: slot of {:?}", exp.kind);
    }
    match (exp.kind, exp.status) {
        (MgmtKind::Insert(_), MgmtStatus::Ok | MgmtStatus::TableFull) => {
            assert_eq!(rsp.kicks, exp.kicks, "op {op_index}: kicks");
        }
        (MgmtKind::Lookup, MgmtStatus::Ok) => {
            let (action, _) = model.entry(&exp.key).expect("model has the entry it found");
            let entry = rsp.entry.expect("RTL returns the entry it found");
            assert_eq!(
                entry.action,
                Some(action),
                "op {op_index}: action of a lookup"
            );
        }
        (MgmtKind::ReadCounters, MgmtStatus::Ok) => {
            let (_, stats) = model.entry(&exp.key).expect("model has the entry it found");
            let entry = rsp.entry.expect("RTL returns the entry it found");
            assert_eq!(
                entry.key,
                exp.key.to_words(),
                "op {op_index}: key read back"
            );
            assert_eq!(
                entry.action, None,
                "op {op_index}: a counter read leaves ACTION_n"
            );
            assert_eq!(
                (entry.hits, entry.bytes),
                (stats.hits, stats.bytes),
                "op {op_index}"
            );
            assert_eq!(entry.last_hit, stats.last_hit, "op {op_index}: last hit");
        }
        _ => {}
    }
}

/// Runs `ops` random operations through the RTL and the model side by side, with random idle
/// cycles and output backpressure, comparing every result, then the whole contents.
/// Returns (operations, lookups compared, RTL cycles).
pub(crate) fn cosim(
    variant: TableVariant,
    seed: u64,
    pool_size: usize,
    ops: usize,
) -> (usize, usize, u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let keys = key_pool(&mut rng, pool_size);
    let geometry = TableGeometry::new(variant.buckets()).expect("power of two");
    let mut model: FlowTable<Action> = FlowTable::new(geometry, variant.max_kicks());
    let mut rtl = FlowTableRtl::new(variant, None).expect("model builds");

    let mut next_op: Option<Op> = None;
    let mut done = 0usize;
    let mut lookups = 0usize;
    let mut in_flight: VecDeque<LookupResult> = VecDeque::new();
    // The result register as the last step left it: transferred at the next ready edge.
    let mut shown: Option<LookupResult> = None;
    let mut pending_mgmt: Option<Expected> = None;
    // A command handed to the register sequencer whose CMD write has not happened yet.
    let mut starting: Option<(FlowKey, MgmtKind)> = None;
    let mut cycle: u64 = 0;
    let mut full_seen = 0usize;
    let mut kicked = 0usize;
    while done < ops
        || next_op.is_some()
        || !in_flight.is_empty()
        || pending_mgmt.is_some()
        || starting.is_some()
    {
        let tag = u32::try_from(done).expect("op count fits u32");
        cycle += 1;
        if next_op.is_none() && done < ops {
            let key = keys[rng.random_range(0..keys.len())];
            next_op = Some(match rng.random_range(0..20) {
                0..=7 => Op::Lookup(key, rng.random_range(60..1500)),
                8..=13 => Op::Mgmt(key, MgmtKind::Insert(random_action(&mut rng))),
                14..=16 => Op::Mgmt(key, MgmtKind::Delete),
                17 => Op::Mgmt(key, MgmtKind::Lookup),
                _ => Op::Mgmt(key, MgmtKind::ReadCounters),
            });
            done += 1;
        }
        // Idle in 1 cycle of 8; backpressure in 1 of 4.
        let present = rng.random_range(0..8) != 0;
        let mut inputs = CycleInputs {
            result_ready: rng.random_range(0..4) != 0,
            ..Default::default()
        };
        let now = SimTime(cycle * 4_000);
        match next_op {
            Some(Op::Lookup(key, len)) if present => {
                inputs.lookup = Some(LookupRequest {
                    key: key.to_words(),
                    len,
                    time: now,
                    tag,
                })
            }
            // A command goes to the register sequencer; the lookups after it may be presented
            // while its registers are written, and are then accepted before it starts.
            Some(Op::Mgmt(key, kind)) if starting.is_none() && pending_mgmt.is_none() => {
                let cmd = match kind {
                    MgmtKind::Insert(action) => MgmtCommand::Insert {
                        key: key.to_words(),
                        action,
                    },
                    MgmtKind::Delete => MgmtCommand::Delete {
                        key: key.to_words(),
                    },
                    MgmtKind::Lookup => MgmtCommand::Lookup {
                        key: key.to_words(),
                    },
                    MgmtKind::ReadCounters => MgmtCommand::ReadCounters {
                        key: key.to_words(),
                    },
                };
                rtl.start_command(cmd).expect("no command in progress");
                starting = Some((key, kind));
                next_op = None;
            }
            _ => {}
        }
        let out = rtl.step(&inputs).expect("valid outputs");
        // A result shown and not taken stays put under backpressure.
        if !inputs.result_ready && shown.is_some() {
            assert_eq!(
                out.result, shown,
                "result register changed under backpressure"
            );
        }
        if out.lookup_accepted {
            if let Some(Op::Lookup(key, len)) = next_op.take() {
                // The model applies operations in acceptance order: a lookup accepted at or
                // before the edge of a command's CMD write comes before it, and none is
                // accepted while the command runs.
                let slot = slot_of(&model, &key);
                let action = model.lookup(&key, u64::from(len), now);
                let hit = match (slot, action) {
                    (Some(s), Some(a)) => Some((s, a)),
                    _ => None,
                };
                in_flight.push_back(LookupResult { tag, hit });
                lookups += 1;
            }
        }
        if out.mgmt_started {
            let (key, kind) = starting.take().expect("a started command was queued");
            let (status, slot, kicks) = model_mgmt(&mut model, &key, kind);
            full_seen += usize::from(status == MgmtStatus::TableFull);
            kicked += usize::from(status == MgmtStatus::Ok && kicks > 0);
            pending_mgmt = Some(Expected {
                status,
                slot,
                kicks,
                key,
                kind,
            });
        }
        if let Some(rsp) = out.mgmt_response {
            let exp = pending_mgmt
                .take()
                .expect("a response answers a pending command");
            check_mgmt(&model, &exp, &rsp, done);
            assert_eq!(
                rsp.occupancy as usize,
                model.len(),
                "occupancy after command {done}"
            );
        }
        if inputs.result_ready {
            if let Some(result) = shown {
                let exp = in_flight
                    .pop_front()
                    .expect("a result answers an accepted lookup");
                assert_eq!(result, exp, "lookup result at cycle {cycle}");
            }
        }
        shown = out.result;
        assert!(
            cycle < (ops as u64) * 400 + 1_000,
            "RTL stopped making progress"
        );
    }
    // Nothing is left in flight: drain a few more cycles and expect no output at all.
    for _ in 0..2 * LOOKUP_LATENCY_CYCLES {
        let out = rtl
            .step(&CycleInputs {
                result_ready: true,
                ..Default::default()
            })
            .expect("idle");
        assert!(
            out.result.is_none() && out.mgmt_response.is_none(),
            "stray output after drain"
        );
    }
    // The whole contents, slot by slot.
    let slots_per_bucket = u32::try_from(nic_abi::table::SLOTS_PER_BUCKET).expect("small");
    let slots = variant.buckets() * slots_per_bucket;
    for slot in 0..slots {
        let (rsp, _) = rtl.execute(MgmtCommand::ReadSlot(slot)).expect("read slot");
        let expected = model.slot(SlotIndex(slot));
        match (rsp.entry, expected) {
            (None, None) => {}
            (Some(e), Some((key, action, stats))) => {
                assert_eq!(&e.key, key, "slot {slot} key");
                assert_eq!(e.action, Some(action), "slot {slot} action");
                assert_eq!(
                    (e.hits, e.bytes, e.last_hit),
                    (stats.hits, stats.bytes, stats.last_hit)
                );
            }
            (rtl_entry, model_entry) => {
                panic!("slot {slot}: RTL {rtl_entry:?} but model {model_entry:?}")
            }
        }
    }
    assert!(
        full_seen > 0 || variant == TableVariant::Standard,
        "the run never filled the table"
    );
    assert!(kicked > 0, "the run never walked a cuckoo path");
    (ops, lookups, rtl.cycles())
}

#[test]
fn small_table_agrees_with_the_model_over_random_operations() {
    // 16 buckets x 4 slots, 96 keys: full tables, failed inserts and long walks are common.
    let (ops, lookups, cycles) = cosim(TableVariant::Small, 1, 96, 800_000);
    eprintln!("small table: {ops} operations, {lookups} lookups compared, {cycles} cycles");
}

#[test]
fn standard_table_agrees_with_the_model_near_full() {
    // 1024 buckets x 4 slots, 4600 keys: occupancy climbs into the nineties.
    let (ops, lookups, cycles) = cosim(TableVariant::Standard, 2, 4_600, 250_000);
    eprintln!("standard table: {ops} operations, {lookups} lookups compared, {cycles} cycles");
}

#[test]
fn lookup_latency_is_nic_abis_and_back_to_back_lookups_issue_every_cycle() {
    let mut rtl = FlowTableRtl::new(TableVariant::Standard, None).expect("model");
    let key = FlowKey {
        in_port: PortNo(1),
        tp_dst: 80,
        ..FlowKey::default()
    };
    let action = Action {
        dest: Destination::Output(PortNo(2)),
        ..Action::DROP
    };
    let (rsp, _) = rtl
        .execute(MgmtCommand::Insert {
            key: key.to_words(),
            action,
        })
        .expect("insert");
    assert_eq!(rsp.status, MgmtStatus::Ok);
    let (read, _) = rtl
        .execute(MgmtCommand::ReadCounters {
            key: key.to_words(),
        })
        .expect("read");
    assert_eq!(read.status, MgmtStatus::Ok, "{read:?} after {rsp:?}");
    let req = LookupRequest {
        key: key.to_words(),
        len: 64,
        time: SimTime(1),
        tag: 7,
    };
    let (result, latency) = rtl.lookup(req).expect("lookup");
    assert_eq!(latency, u64::from(LOOKUP_LATENCY_CYCLES));
    assert_eq!(result.hit.map(|(_, a)| a), Some(action));

    // 1000 lookups back to back with the output always ready: one accepted every cycle, one
    // result every cycle after the first LATENCY.
    let mut accepted = 0u32;
    let mut results = 0u32;
    let mut cycles = 0u32;
    while results < 1000 {
        cycles += 1;
        let lookup = (accepted < 1000).then_some(LookupRequest {
            tag: accepted,
            ..req
        });
        let out = rtl
            .step(&CycleInputs {
                lookup,
                result_ready: true,
            })
            .expect("step");
        if lookup.is_some() {
            assert!(out.lookup_accepted, "lookup refused at cycle {cycles}");
            accepted += 1;
        }
        if let Some(r) = out.result {
            assert_eq!(r.tag, results, "results in order");
            results += 1;
        }
    }
    assert_eq!(cycles, 1000 + LOOKUP_LATENCY_CYCLES - 1);
}
