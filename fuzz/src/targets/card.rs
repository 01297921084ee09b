//! A hostile guest and a hostile driver against `nic-model`'s card. The input is a program of
//! operations: register writes and reads anywhere in BAR 0 (mostly inside a block), raw bytes
//! in the guest's TX and RX rings and anywhere in its memory, doorbells with any index, frames
//! from the wire, releases of any handle, and time passing. Nothing may panic, and the packet
//! conservation law must hold once the card drains.

use bytes::Bytes;
use nic_abi::action::Action;
use nic_abi::desc::{Iova, PacketHandle, QueueIndex, Release, VmId};
use nic_abi::key::PortNo;
use nic_abi::regs::{device_info, flow_table, interrupts, miss_queue, vm_queues, RegOffset};
use nic_abi::time::{SimDuration, SimTime};
use nic_model::card::{Card, CardConfig, TableConfig};
use nic_model::counters::FinishError;
use nic_model::host::{HostBus, IrqVector};
use nic_model::testing::{FlatMemoryHost, MissLayout, VmLayout};

use super::take;

/// Where the `selector`-th register access lands: inside one of the five blocks (most
/// accesses), or at any offset.
fn register(selector: u8, word: u16) -> RegOffset {
    let within = |base: RegOffset, size: u32| RegOffset(base.0 + (u32::from(word) * 4) % size);
    match selector % 6 {
        0 => within(device_info::BASE, device_info::SIZE),
        1 => within(flow_table::BASE, flow_table::SIZE),
        2 => within(miss_queue::BASE, miss_queue::SIZE),
        3 => within(interrupts::BASE, interrupts::SIZE),
        4 => within(vm_queues::BASE, vm_queues::SIZE),
        _ => RegOffset(u32::from(word)),
    }
}

/// Runs the program in `data`.
pub fn run(data: &[u8]) {
    let vm = VmLayout {
        vm: VmId(1),
        port: PortNo(101),
        queue: QueueIndex(0),
        entries: 16,
    };
    let agent = MissLayout {
        vm: VmId(100),
        entries: 16,
    };
    let mut host = FlatMemoryHost::new();
    host.add_vm(vm.vm, vm.memory_bytes());
    host.add_vm(agent.vm, agent.memory_bytes());
    let config = CardConfig {
        table: TableConfig {
            buckets: 64,
            ..TableConfig::default()
        },
        ..CardConfig::default()
    };
    let Ok(mut card) = Card::new(config, host) else {
        panic!("the default card with a 64-bucket table does not build");
    };
    if let Err(e) = card.add_queue(vm.queue_setup(IrqVector(2), IrqVector(3))) {
        panic!("queue set-up: {e}");
    }
    if let Err(e) = card.set_miss_queue(agent.setup(IrqVector(1))) {
        panic!("miss queue set-up: {e}");
    }
    let mut at = 0usize;
    let mut t = SimTime::ZERO;
    let mut ops = 0;
    while let Some([op]) = take::<1>(data, &mut at) {
        ops += 1;
        if ops > 256 {
            break;
        }
        t = t.max(card.now());
        match op % 10 {
            0 => {
                let (Some([sel]), Some(word), Some(value)) = (
                    take::<1>(data, &mut at),
                    take::<2>(data, &mut at),
                    take::<4>(data, &mut at),
                ) else {
                    break;
                };
                let offset = register(sel, u16::from_le_bytes(word));
                card.mmio_write_at(t, offset, u32::from_le_bytes(value));
            }
            1 => {
                let (Some([sel]), Some(word)) =
                    (take::<1>(data, &mut at), take::<2>(data, &mut at))
                else {
                    break;
                };
                let _ = card.mmio_read_at(t, register(sel, u16::from_le_bytes(word)));
            }
            2 | 3 => {
                let (Some([slot]), Some(bytes)) =
                    (take::<1>(data, &mut at), take::<16>(data, &mut at))
                else {
                    break;
                };
                let host = card.host_mut();
                let _ = if op % 10 == 2 {
                    vm.write_raw_tx(host, u16::from(slot), &bytes)
                } else {
                    vm.write_raw_rx(host, u16::from(slot), &bytes)
                };
            }
            4 => {
                let (Some(iova), Some([len])) =
                    (take::<4>(data, &mut at), take::<1>(data, &mut at))
                else {
                    break;
                };
                let end = (at + usize::from(len % 64)).min(data.len());
                let bytes = data.get(at..end).unwrap_or(&[]);
                at = end;
                let iova = Iova(u64::from(u32::from_le_bytes(iova)));
                let _ = card.host_mut().dma_write(vm.vm, iova, bytes);
            }
            5 | 6 => {
                let (Some([q]), Some(index)) = (take::<1>(data, &mut at), take::<2>(data, &mut at))
                else {
                    break;
                };
                let q = QueueIndex(u16::from(q % 3));
                let index = u16::from_le_bytes(index);
                let _ = if op % 10 == 5 {
                    card.tx_doorbell(q, index)
                } else {
                    card.rx_doorbell(q, index)
                };
            }
            7 => {
                let (Some([port]), Some([len])) =
                    (take::<1>(data, &mut at), take::<1>(data, &mut at))
                else {
                    break;
                };
                let end = (at + usize::from(len)).min(data.len());
                let frame = data.get(at..end).unwrap_or(&[]).to_vec();
                at = end;
                let _ = card.offer_from_wire(PortNo(u16::from(port % 4)), Bytes::from(frame), t);
            }
            8 => {
                let (Some(handle), Some([how])) =
                    (take::<4>(data, &mut at), take::<1>(data, &mut at))
                else {
                    break;
                };
                let release = match how % 3 {
                    0 => Release::Relookup,
                    1 => Release::Apply(Action::DROP),
                    _ => Release::Apply(Action::output(vm.port)),
                };
                let _ = card.release(PacketHandle(u32::from_le_bytes(handle)), release);
                card.miss_doorbell(u16::from(how));
            }
            _ => {
                let Some(ns) = take::<2>(data, &mut at) else {
                    break;
                };
                t += SimDuration::from_ns(u64::from(u16::from_le_bytes(ns)));
                card.run_until(t);
            }
        }
    }
    // Whatever the guest and driver did, every packet offered is accounted for.
    match card.finish() {
        Ok(_) | Err(FinishError::NotDrained { .. }) => {}
        Err(e) => panic!("after a hostile program: {e}"),
    }
}
