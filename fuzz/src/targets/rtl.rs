//! The RTL through the Verilator co-simulation (the slowest target: a Verilator model is built
//! per input). The first byte picks the input:
//! - even: a hostile driver's program of management-port accesses (register, value), one per
//!   NIC cycle, into the RTL's `flow_table_regs` and `nic-model`'s card alike, with `STATUS`
//!   and the other registers read back from both after each access: every read the
//!   management port's protocol defines must agree (while a command runs, only `STATUS` and
//!   the header: a read of another register then becomes a `STATUS` poll);
//! - odd: the rest is frames (a length byte, then the bytes) streamed through the RTL parser
//!   and lookup by `hw_rtl::cosim`, beside `nic-abi`'s card parser and `nic-model`'s table:
//!   every key, lookup result and result cycle must agree.

use hw_rtl::cosim::{self, CosimConfig};
use hw_rtl::flow_table::{FlowTableRtl, TableVariant};
use nic_abi::key::PortNo;
use nic_abi::regs::{flow_table as ft, MgmtCommand, MgmtStatus, RegOffset};
use nic_abi::time::{SimDuration, SimTime};
use nic_model::card::{Card, CardConfig, TableConfig};
use nic_model::testing::FlatMemoryHost;

use super::take;

/// The flow-table block's registers a driver accesses, block header included.
fn registers() -> Vec<u32> {
    let mut regs = vec![
        0x0,
        0x4,
        0x8,
        0xc,
        ft::CMD,
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

fn rtl_offset(rel: u32) -> u16 {
    u16::try_from(ft::BASE.0 + rel).unwrap_or(u16::MAX)
}

/// Runs the input.
pub fn run(data: &[u8]) {
    match data.split_first() {
        Some((mode, rest)) if mode % 2 == 1 => frames(rest),
        Some((_, rest)) => registers_program(rest),
        None => {}
    }
}

fn frames(data: &[u8]) {
    let mut at = 0;
    let mut stream = Vec::new();
    while let Some([len]) = take::<1>(data, &mut at) {
        let end = (at + usize::from(len)).min(data.len());
        let frame = data.get(at..end).unwrap_or(&[]).to_vec();
        at = end;
        stream.push((frame, PortNo(1 + u16::from(len % 4))));
        if stream.len() >= 32 {
            break;
        }
    }
    if stream.is_empty() {
        return;
    }
    let report = match cosim::run(&stream, &CosimConfig::default()) {
        Ok(r) => r,
        Err(e) => panic!("the co-simulation failed to run: {e}"),
    };
    if let Some(m) = report.first_mismatch {
        panic!("RTL and model disagree: {m:?}");
    }
}

fn registers_program(data: &[u8]) {
    let variant = TableVariant::Small;
    let config = CardConfig {
        table: TableConfig {
            buckets: variant.buckets(),
            max_kicks: variant.max_kicks(),
            ..TableConfig::default()
        },
        ..CardConfig::default()
    };
    let mut card = match Card::new(config, FlatMemoryHost::new()) {
        Ok(c) => c,
        Err(e) => panic!("card: {e}"),
    };
    let mut rtl = match FlowTableRtl::new(variant, None) {
        Ok(r) => r,
        Err(e) => panic!("RTL model: {e}"),
    };
    let regs = registers();
    let period = SimDuration(card.nic_clock().period_ps);
    let mut t = SimTime::ZERO;
    let mut at = 0;
    let mut accesses = 0;
    let read = |card: &mut Card<FlatMemoryHost>, rtl: &mut FlowTableRtl, t: &mut SimTime, rel| {
        let m = card.mmio_read_at(*t, RegOffset(ft::BASE.0 + rel));
        let r = match rtl.mmio_read(rtl_offset(rel)) {
            Ok(r) => r,
            Err(e) => panic!("RTL read: {e}"),
        };
        *t += period;
        assert_eq!(r, m, "register {rel:#x}: RTL {r:#x}, model {m:#x}");
    };
    while let (Some([sel]), Some(value)) = (take::<1>(data, &mut at), take::<4>(data, &mut at)) {
        accesses += 1;
        if accesses > 200 {
            break;
        }
        let rel = regs[usize::from(sel) % regs.len()];
        let value = u32::from_le_bytes(value);
        if rel == ft::CMD && value == MgmtCommand::ReadNext.code() {
            // READ_NEXT (a restarted agent's table scan) is nic-model's only; the RTL answers
            // it BadCommand (DESIGN.md, "Faults injected into the running system").
            continue;
        }
        if sel >= 128 {
            // While a command runs only STATUS and the header are defined (the management
            // port's protocol, `nic_abi::regs::flow_table`): the model changes the other
            // registers at the CMD write, the RTL when the command completes. A driver that
            // follows the protocol polls STATUS instead, and so does this one.
            let busy =
                card.mmio_read_at(t, RegOffset(ft::BASE.0 + ft::STATUS)) == MgmtStatus::Busy.code();
            let rel = if busy && !ft::defined_while_busy(rel) {
                ft::STATUS
            } else {
                rel
            };
            read(&mut card, &mut rtl, &mut t, rel);
            continue;
        }
        card.mmio_write_at(t, RegOffset(ft::BASE.0 + rel), value);
        if let Err(e) = rtl.mmio_write(rtl_offset(rel), value) {
            panic!("RTL write: {e}");
        }
        t += period;
        read(&mut card, &mut rtl, &mut t, ft::STATUS);
    }
    // Let any command finish, then every register reads the same on both.
    for _ in 0..2_000 {
        read(&mut card, &mut rtl, &mut t, ft::STATUS);
    }
    for &rel in &regs {
        read(&mut card, &mut rtl, &mut t, rel);
    }
}
