//! The driver brings the card up through its registers, sets up queues, and manages the flow
//! table through the management port. (Miss service with the agent is `snich-system`'s.)

use std::collections::HashMap;
use std::net::Ipv4Addr;

use host_driver::driver::DriverError;
use nic_abi::action::Action;
use nic_abi::desc::QueueIndex;
use nic_abi::device::{FlowTableDevice, InsertOutcome};
use nic_abi::key::{FlowKey, PortNo};
use nic_abi::parse::parse_card;
use nic_abi::regs::{self, miss_queue as mq};

use crate::fixtures::{udp_frame_to, vm_mac};
use crate::support::brought_up;

#[test]
fn bring_up_finds_every_block_and_enables_the_miss_queue() {
    let (mut driver, guests) = brought_up(2);
    let d = &mut driver;
    let b = *d.blocks();
    assert_eq!(
        [
            b.device_info,
            b.flow_table,
            b.miss_queue,
            b.interrupts,
            b.vm_queues
        ],
        [
            regs::device_info::BASE,
            regs::flow_table::BASE,
            regs::miss_queue::BASE,
            regs::interrupts::BASE,
            regs::vm_queues::BASE
        ]
    );
    assert_eq!(
        d.device_info().table.capacity(),
        d.card().table().capacity() as u64
    );
    assert_eq!(d.device_info().uplinks, 2);
    assert_eq!(
        d.card_mut().mmio_read(mq::BASE.at(mq::CONTROL)),
        mq::CONTROL_ENABLE
    );
    assert!(
        d.metrics().mmio_reads >= 20,
        "the chain and the device information"
    );
    // Bring-up's register work is counted, for whoever runs the driver's core to bill.
    let reads = d.metrics().mmio_reads;
    assert!(d.take_unbilled_cycles() >= reads * 2_600);
    assert_eq!(d.take_unbilled_cycles(), 0, "taken once");
    // A second queue on a port already in use is refused by the card, and reported.
    let q = guests[0].queue_config();
    let e = d.add_queue(QueueIndex(2), &q).expect_err("port taken");
    assert!(
        matches!(
            e,
            DriverError::QueueRefused {
                queue: QueueIndex(2),
                ..
            }
        ),
        "{e}"
    );
    let e = d.add_queue(QueueIndex(300), &q).expect_err("no such queue");
    assert!(e.to_string().contains("256 queue pairs"), "{e}");
}

fn key(i: u32) -> FlowKey {
    let dst_ip = Ipv4Addr::from(0x0a00_0000 + i);
    parse_card(
        &udp_frame_to(vm_mac(0), vm_mac(1), dst_ip, 64, || 0),
        PortNo(101),
    )
}

#[test]
fn flow_table_through_registers_agrees_with_the_card() {
    let (mut driver, _) = brought_up(1);
    let d = &mut driver;
    let mut model: HashMap<u32, Action> = HashMap::new();
    let mut x = 12345u64;
    for step in 0..600u32 {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let i = u32::try_from((x >> 40) % 40).expect("small");
        let k = key(i);
        let action = Action::output(PortNo(101 + u16::try_from(step % 3).expect("small")));
        match (x >> 20) % 4 {
            0 | 1 => {
                let writes = d.metrics().mmio_writes;
                let tlps = d.card().dma().link().downstream().tlps;
                match d.insert(&k, action) {
                    Ok(InsertOutcome::Inserted) => assert!(model.insert(i, action).is_none()),
                    Ok(InsertOutcome::Updated) => assert!(model.insert(i, action).is_some()),
                    Err(e) => panic!("{e}"),
                }
                // 15 key words, 2 action words and the command, each a TLP on the link.
                assert_eq!(d.metrics().mmio_writes - writes, 18);
                assert_eq!(d.card().dma().link().downstream().tlps - tlps, 18);
            }
            2 => assert_eq!(d.delete(&k).expect("delete"), model.remove(&i).is_some()),
            _ => {
                assert_eq!(d.lookup(&k).expect("lookup"), model.get(&i).copied());
                let stats = d.entry_stats(&k).expect("counters");
                assert_eq!(stats.is_some(), model.contains_key(&i));
            }
        }
        assert_eq!(d.occupancy(), model.len() as u64);
        assert_eq!(d.card().table().len(), model.len());
        for (&i, &a) in &model {
            assert_eq!(d.card().table().entry(&key(i)).map(|(a, _)| a), Some(a));
        }
    }
    // Unparsed keys are refused before any register is written.
    let mut bad = key(0);
    bad.class = nic_abi::key::KeyClass::try_from(1).expect("an unparsed class");
    let writes = d.metrics().mmio_writes;
    assert!(d.insert(&bad, Action::DROP).is_err());
    assert_eq!(d.metrics().mmio_writes, writes);
}
