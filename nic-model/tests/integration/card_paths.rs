//! Each path through the card, end to end, with the bytes checked in host memory.

use nic_abi::action::{Action, Destination, VlanId, VlanOp};
use nic_abi::desc::{MissReason, Release, RxStatus, TxStatus};
use nic_abi::key::PortNo;
use nic_abi::time::SimTime;
use nic_model::card::CardConfig;
use nic_model::counters::{DropReason, FinishError};

use crate::support::{bytes, key_of, udp_frame, Bed};

fn bed(vms: u16) -> Bed {
    let mut b = Bed::new(CardConfig::default(), vms, 64, 16);
    for i in 0..usize::from(vms) {
        b.post_rx(i, 0, 32);
    }
    b
}

#[test]
fn wire_to_vm_writes_the_frame_and_a_completion() {
    let mut b = bed(2);
    let frame = udp_frame(3, 300);
    b.card
        .install(&key_of(&frame, PortNo(1)), Action::output(b.vms[1].port))
        .expect("room");
    b.card
        .offer_from_wire(PortNo(1), bytes(frame.clone()), SimTime::ZERO)
        .expect("mac");
    let c = b.card.finish().expect("conserved");
    assert_eq!((c.delivered, c.copies_to_vms, c.table_hits), (1, 1, 1));
    let l = b.vms[1];
    let cpl = l.rx_completion(b.card.host(), 0).expect("completion");
    assert_eq!(cpl.status, RxStatus::Ok);
    assert_eq!(cpl.in_port, PortNo(1));
    assert_eq!(l.rx_data(b.card.host(), 0, frame.len()), &frame[..]);
    // VM 0 got nothing.
    assert!(
        b.vms[0].rx_completion(b.card.host(), 0).is_err() || {
            let c0 = b.vms[0].rx_completion(b.card.host(), 0).expect("decodes");
            c0.len == 0 && c0.timestamp == SimTime::ZERO
        }
    );
    let (_, stats) = b
        .card
        .table()
        .entry(&key_of(&frame, PortNo(1)))
        .expect("entry");
    assert_eq!((stats.hits, stats.bytes), (1, 300));
}

#[test]
fn vm_to_wire_reads_the_frame_and_completes_the_descriptor() {
    let mut b = bed(1);
    let l = b.vms[0];
    let frame = udp_frame(9, 1000);
    b.card
        .install(&key_of(&frame, l.port), Action::output(PortNo(2)))
        .expect("room");
    l.queue_tx(b.card.host_mut(), 0, &frame).expect("memory");
    b.card.tx_doorbell(l.queue, 1).expect("queue");
    let c = b.card.finish().expect("conserved");
    assert_eq!(
        (c.offered_from_host, c.delivered, c.copies_to_wire),
        (1, 1, 1)
    );
    let cpl = l.tx_completion(b.card.host(), 0).expect("completion");
    assert_eq!(cpl.status, TxStatus::Done);
    // Descriptor fetch (16 B), header window (128 B), then the rest (872 B).
    let dma = b.card.dma().stats();
    assert_eq!(dma.read_bytes, 16 + 128 + 872);
}

#[test]
fn vm_to_vm_hairpin_delivers_identical_bytes_in_order() {
    let mut b = bed(2);
    let (src, dst) = (b.vms[0], b.vms[1]);
    let frames: Vec<Vec<u8>> = (0..10).map(|i| udp_frame(5, 64 + 100 * i)).collect();
    b.card
        .install(&key_of(&frames[0], src.port), Action::output(dst.port))
        .expect("room");
    for (i, f) in (0u16..).zip(&frames) {
        src.queue_tx(b.card.host_mut(), i, f).expect("memory");
    }
    b.card.tx_doorbell(src.queue, 10).expect("queue");
    let c = b.card.finish().expect("conserved");
    assert_eq!(c.delivered, 10);
    for (i, f) in (0u16..).zip(&frames) {
        let cpl = dst.rx_completion(b.card.host(), i).expect("completion");
        assert_eq!(usize::from(cpl.len), f.len());
        assert_eq!(
            dst.rx_data(b.card.host(), cpl.index.value(), f.len()),
            &f[..]
        );
    }
}

#[test]
fn miss_is_held_reported_and_released_after_install() {
    let mut b = bed(1);
    let frame = udp_frame(11, 200);
    b.card
        .offer_from_wire(PortNo(2), bytes(frame.clone()), SimTime::ZERO)
        .expect("mac");
    b.card.drain();
    assert_eq!(b.card.counters().held, 1);
    assert_eq!(b.card.counters().in_flight, 1);
    let record = b.miss.record(b.card.host(), 0).expect("miss record");
    assert_eq!(record.reason, MissReason::TableMiss);
    assert_eq!(record.in_port, PortNo(2));
    assert_eq!(usize::from(record.packet_len), frame.len());
    assert_eq!(
        &record.header[..usize::from(record.header_len)],
        &frame[..nic_abi::desc::MISS_HEADER_BYTES]
    );
    let key = key_of(&frame, PortNo(2));
    assert_eq!(record.key, key.to_words());
    // Holding a packet is not a finished run.
    assert_eq!(
        b.card.finish(),
        Err(FinishError::NotDrained { in_flight: 1 })
    );
    // The agent installs the entry and releases the packet for a relookup.
    b.card
        .install(&key, Action::output(b.vms[0].port))
        .expect("room");
    let (counts, c) = b.release_and_finish(record.handle, Release::Relookup);
    assert_eq!(counts, (1, 0, 1, 1));
    assert_eq!(c.table_misses, 1);
    assert_eq!(c.table_hits, 1);
    assert!(b.card.release(record.handle, Release::Relookup).is_err());
}

/// Offers `lens.len()` packets of one flow from the wire, `gap_ns` apart from `from`.
fn offer_flow(b: &mut Bed, flow: u32, lens: &[usize], from: SimTime, gap_ns: u64) {
    for (i, &len) in (0u64..).zip(lens) {
        let at = from + nic_abi::time::SimDuration::from_ns(gap_ns * i);
        b.card
            .offer_from_wire(PortNo(1), bytes(udp_frame(flow, len)), at)
            .expect("mac");
    }
}

/// The lengths of the frames VM `vm` received, in RX-completion order.
fn received_lens(b: &Bed, vm: usize, n: u16) -> Vec<usize> {
    (0..n)
        .map(|i| {
            let cpl = b.vms[vm]
                .rx_completion(b.card.host(), i)
                .expect("completion");
            usize::from(cpl.len)
        })
        .collect()
}

#[test]
fn packets_behind_a_setup_wait_on_the_card_and_leave_in_order() {
    let mut b = bed(1);
    // Five packets miss: one record, four wait behind it.
    let first: Vec<usize> = (0..5).map(|i| 100 + i).collect();
    offer_flow(&mut b, 7, &first, SimTime::ZERO, 100);
    b.card.drain();
    let c = b.card.counters().clone();
    assert_eq!((c.miss_records, c.held, c.behind_setup), (1, 5, 4));
    assert_eq!(c.table_misses, 1, "the others never reach the table");
    let record = b.miss.record(b.card.host(), 0).expect("record");
    // The entry is installed before the release: packets arriving now still wait, so none
    // overtakes the held ones.
    let key = key_of(&udp_frame(7, 100), PortNo(1));
    b.card
        .install(&key, Action::output(b.vms[0].port))
        .expect("room");
    let now = b.card.now();
    offer_flow(&mut b, 7, &[105, 106], now, 100);
    b.card.drain();
    assert_eq!(b.card.counters().held, 7);
    // More packets, back to back on the wire, and the release in their midst: packets
    // already in the lookup pipeline when it arrives take a second pass behind the released
    // ones.
    b.post_rx(0, 32, 32);
    let now = b.card.now();
    let later: Vec<usize> = (107..164).collect();
    offer_flow(&mut b, 7, &later, now, 10);
    b.card
        .run_until(now + nic_abi::time::SimDuration::from_ns(1_000));
    let (counts, _) = b.release_and_finish(record.handle, Release::Relookup);
    assert_eq!(counts, (64, 0, 1, 1));
    assert_eq!(received_lens(&b, 0, 64), (100..164).collect::<Vec<_>>());
}

#[test]
fn a_release_that_applies_an_action_applies_it_to_the_packets_behind() {
    let mut b = bed(1);
    offer_flow(&mut b, 3, &[80, 81, 82], SimTime::ZERO, 50);
    // Another flow is not held behind the first.
    offer_flow(&mut b, 4, &[90], SimTime::ZERO, 0);
    b.card.drain();
    assert_eq!(b.card.counters().miss_records, 2);
    let record = b.miss.record(b.card.host(), 0).expect("record");
    b.card
        .release(record.handle, Release::Apply(Action::DROP))
        .expect("held");
    let other = b.miss.record(b.card.host(), 1).expect("record");
    b.card
        .release(other.handle, Release::Apply(Action::output(b.vms[0].port)))
        .expect("held");
    let c = b.card.finish().expect("conserved");
    assert_eq!(c.dropped(DropReason::AgentDrop), 3);
    assert_eq!(c.delivered, 1);
    assert_eq!(received_lens(&b, 0, 1), [90]);
}

#[test]
fn agent_drop_and_unparsed_keys() {
    let mut b = bed(1);
    // A truncated IPv4 header: the key is unparsed and goes to the agent without a lookup.
    let mut runt = udp_frame(1, 60);
    runt.truncate(20);
    b.card
        .offer_from_wire(PortNo(1), bytes(runt), SimTime::ZERO)
        .expect("mac");
    b.card.drain();
    let record = b.miss.record(b.card.host(), 0).expect("record");
    assert_eq!(record.reason, MissReason::UnparsedKey);
    b.card
        .release(record.handle, Release::Apply(Action::DROP))
        .expect("held");
    let c = b.card.finish().expect("conserved");
    assert_eq!(c.dropped(DropReason::AgentDrop), 1);
    assert_eq!(c.table_hits + c.table_misses, 1);
}

#[test]
fn flood_reaches_every_other_port_once() {
    let mut b = bed(3);
    let frame = udp_frame(2, 100);
    let in_port = b.vms[0].port;
    b.card
        .install(
            &key_of(&frame, in_port),
            Action {
                dest: Destination::Flood,
                vlan: VlanOp::Keep,
            },
        )
        .expect("room");
    b.vms[0]
        .queue_tx(b.card.host_mut(), 0, &frame)
        .expect("memory");
    b.card.tx_doorbell(b.vms[0].queue, 1).expect("queue");
    let c = b.card.finish().expect("conserved");
    // Two MAC ports and two other VMs; counted once as a delivered packet.
    assert_eq!((c.delivered, c.copies_to_wire, c.copies_to_vms), (1, 2, 2));
    for l in &b.vms[1..] {
        assert_eq!(l.rx_data(b.card.host(), 0, frame.len()), &frame[..]);
    }
}

#[test]
fn vlan_push_on_output() {
    let mut b = bed(1);
    let frame = udp_frame(4, 80);
    b.card
        .install(
            &key_of(&frame, PortNo(1)),
            Action {
                dest: Destination::Output(b.vms[0].port),
                vlan: VlanOp::Set {
                    vid: VlanId::new(42).expect("vid"),
                    pcp: None,
                },
            },
        )
        .expect("room");
    b.card
        .offer_from_wire(PortNo(1), bytes(frame.clone()), SimTime::ZERO)
        .expect("mac");
    b.card.finish().expect("conserved");
    let got = b.vms[0].rx_data(b.card.host(), 0, 84);
    assert_eq!(&got[..12], &frame[..12]);
    assert_eq!(&got[12..16], &[0x81, 0x00, 0x00, 42]);
    assert_eq!(&got[16..], &frame[12..]);
}

#[test]
fn output_to_absent_or_ingress_port_is_no_such_port() {
    let mut b = bed(1);
    let f1 = udp_frame(1, 64);
    let f2 = udp_frame(2, 64);
    b.card
        .install(&key_of(&f1, PortNo(1)), Action::output(PortNo(999)))
        .expect("room");
    b.card
        .install(&key_of(&f2, PortNo(1)), Action::output(PortNo(1)))
        .expect("room");
    b.card
        .offer_from_wire(PortNo(1), bytes(f1), SimTime::ZERO)
        .expect("mac");
    b.card
        .offer_from_wire(PortNo(1), bytes(f2), SimTime::ZERO)
        .expect("mac");
    let c = b.card.finish().expect("conserved");
    assert_eq!(c.dropped(DropReason::NoSuchPort), 2);
}

#[test]
fn offering_on_a_vm_port_or_in_the_past_is_refused() {
    let mut b = bed(1);
    let f = bytes(udp_frame(1, 64));
    assert!(b
        .card
        .offer_from_wire(b.vms[0].port, f.clone(), SimTime::ZERO)
        .is_err());
    b.card
        .offer_from_wire(PortNo(1), f.clone(), SimTime(1_000_000))
        .expect("mac");
    b.card.drain();
    assert!(b.card.offer_from_wire(PortNo(1), f, SimTime(5)).is_err());
}

#[test]
fn flow_table_device_contract_on_the_card() {
    use nic_abi::device::{FlowTableDevice, FlowTableError, InsertOutcome};
    let config = CardConfig {
        table: nic_model::card::TableConfig {
            buckets: 1,
            max_kicks: 4,
            ..nic_model::card::TableConfig::default()
        },
        ..CardConfig::default()
    };
    let mut b = Bed::new(config, 1, 64, 16);
    // Move the clock: a frame that misses and is then dropped by the agent.
    b.card
        .offer_from_wire(PortNo(1), bytes(udp_frame(99, 64)), SimTime(5_000))
        .expect("mac");
    b.card.drain();
    for h in b.card.held_handles() {
        b.card
            .release(h, Release::Apply(Action::DROP))
            .expect("held");
    }
    b.card.drain();
    let now = b.card.now();
    let dev: &mut dyn FlowTableDevice = &mut b.card;
    assert_eq!(dev.capacity(), 4);
    let keys: Vec<_> = (0..5)
        .map(|i| key_of(&udp_frame(i, 64), PortNo(1)))
        .collect();
    for k in &keys[..4] {
        assert_eq!(dev.insert(k, Action::DROP), Ok(InsertOutcome::Inserted));
    }
    assert_eq!(
        dev.insert(&keys[0], Action::output(PortNo(2))),
        Ok(InsertOutcome::Updated)
    );
    assert_eq!(
        dev.insert(&keys[4], Action::DROP),
        Err(FlowTableError::TableFull {
            occupancy: 4,
            capacity: 4
        })
    );
    assert_eq!(dev.lookup(&keys[0]), Ok(Some(Action::output(PortNo(2)))));
    let st = dev.entry_stats(&keys[0]).expect("ok").expect("present");
    assert_eq!(
        (st.hits, st.last_hit),
        (0, now),
        "last hit starts at the insert time"
    );
    assert_eq!(dev.delete(&keys[1]), Ok(true));
    assert_eq!(dev.delete(&keys[1]), Ok(false));
    assert_eq!(dev.occupancy(), 3);
    let mut runt = udp_frame(1, 60);
    runt.truncate(20);
    assert!(matches!(
        dev.insert(&key_of(&runt, PortNo(1)), Action::DROP),
        Err(FlowTableError::UnparsedKey(_))
    ));
}

/// VM 0 sends one 1,000-byte frame to VM 1; returns the PCIe payload bytes (card to host,
/// host to card) and checks the frame arrived intact.
fn inter_vm_pcie_bytes(copy_engine: bool) -> (u64, u64, u64) {
    let mut b = bed(2);
    if copy_engine {
        b.card.host_mut().copy_engine = Some(nic_model::testing::CopyEngineModel {
            setup: nic_abi::time::SimDuration::from_ns(100),
            ps_per_byte: 200,
            free: SimTime::ZERO,
        });
    }
    let (src, dst) = (b.vms[0], b.vms[1]);
    let frame = udp_frame(8, 1000);
    b.card
        .install(&key_of(&frame, src.port), Action::output(dst.port))
        .expect("room");
    src.queue_tx(b.card.host_mut(), 0, &frame).expect("memory");
    b.card.tx_doorbell(src.queue, 1).expect("queue");
    let c = b.card.finish().expect("conserved");
    assert_eq!(c.delivered, 1);
    assert_eq!(dst.rx_data(b.card.host(), 0, frame.len()), &frame[..]);
    let link = b.card.dma().link();
    (
        link.upstream().payload_bytes,
        link.downstream().payload_bytes,
        c.copy_commands,
    )
}

#[test]
fn inter_vm_payload_stays_in_host_memory_with_a_copy_engine() {
    // Host to card in both cases: three 4-byte doorbells (two RX, one TX), the TX descriptor
    // (16 B), the header window (128 B), a batch of 8 RX descriptors of VM 1 (128 B).
    // Hairpin adds the rest of the frame read (872 B) and writes the whole frame back
    // (1,000 B); the copy engine instead takes a 32 B copy command and returns a 16 B copy
    // completion. Both write a 24 B RX completion and a 16 B TX completion.
    let common_down = 12 + 16 + 128 + 128;
    assert_eq!(
        inter_vm_pcie_bytes(false),
        (1_000 + 24 + 16, common_down + 872, 0)
    );
    assert_eq!(
        inter_vm_pcie_bytes(true),
        (32 + 24 + 16, common_down + 16, 1)
    );
}

#[test]
fn config_from_json_fills_documented_defaults_and_refuses_unknown_fields() {
    let c: CardConfig = serde_json::from_str(
        r#"{"macs": [{"speed": "100G"}, {}], "pcie": {"lanes": 16}, "inter_vm": "hairpin"}"#,
    )
    .expect("valid config");
    assert_eq!(c.macs[0].speed, nic_model::mac::EthSpeed::G100);
    assert_eq!(c.macs[0].ifg_bytes, 12);
    assert_eq!(c.macs[1], nic_model::mac::MacConfig::default());
    assert_eq!(
        (c.pcie.generation, c.pcie.lanes, c.pcie.max_payload_bytes),
        (3, 16, 256)
    );
    assert_eq!(c.inter_vm, nic_model::card::InterVmPath::Hairpin);
    assert_eq!(c.table, nic_model::card::TableConfig::default());
    let back: CardConfig =
        serde_json::from_str(&serde_json::to_string(&c).expect("serialises")).expect("parses");
    assert_eq!(back, c);
    let err = serde_json::from_str::<CardConfig>(r#"{"pcie": {"lanez": 16}}"#)
        .expect_err("unknown field");
    assert!(err.to_string().contains("lanez"), "{err}");
    // Values serde accepts but the card refuses are named.
    let bad = CardConfig {
        pcie: nic_model::pcie::PcieConfig {
            generation: 7,
            ..Default::default()
        },
        ..CardConfig::default()
    };
    let err = nic_model::card::Card::new(bad, nic_model::testing::FlatMemoryHost::new())
        .expect_err("generation 7");
    assert!(err.to_string().contains("pcie.generation 7"), "{err}");
}
