//! One host (issue 14, point 1): the control plane runs on the host's cores, so more cores
//! set up a burst of new flows sooner when the agent's work is the bottleneck.

use flow_setup::ofctl::parse_rules;
use host_driver::copy::CopyMode;
use host_driver::iommu::GrantMode;
use nic_abi::desc::RingSize;
use nic_abi::time::{SimDuration, SimTime};
use snich_system::assemble::SystemSpec;

use crate::fixtures::{udp_frame, vm_mac};

/// Sends 64 packets of 64 new flows from VM 1 to VM 2 at once on `cores` host cores, with a
/// flow setup priced at 50 us of agent work; returns when the last one is delivered, and the
/// agent's cycles.
fn burst_of_new_flows(cores: u16) -> (SimTime, u64) {
    let mut spec =
        SystemSpec::with_guests(2, RingSize::new(128).expect("pow2"), GrantMode::Persistent)
            .with_copy_mode(CopyMode::CopyEngine);
    spec.host.cpu.cores = cores;
    spec.agent.costs.setup = SimDuration::from_ns(50_000);
    let rules = parse_rules("in_port=101,actions=output:102").expect("rules");
    let (mut cp, mut guests) = spec.assemble(rules).expect("system");
    for flow in 0..64u16 {
        let mut f = udp_frame(vm_mac(0), vm_mac(1), 64, || 0);
        f[34..36].copy_from_slice(&(1_000 + flow).to_be_bytes());
        guests[0]
            .send(cp.driver_mut().card_mut(), &f)
            .expect("sent");
    }
    let end = cp.drain(|_, _| Ok(())).expect("drained");
    let mut received = Vec::new();
    guests[1]
        .poll(cp.driver_mut().card_mut(), &mut received)
        .expect("polled");
    assert_eq!(received.len(), 64, "{cores} cores: every packet delivered");
    assert_eq!(cp.agent().counters().installed, 64);
    let agent = cp
        .driver()
        .host()
        .metrics()
        .cycles(host_driver::host::CpuUse::Agent);
    (end, agent)
}

#[test]
fn four_host_cores_set_up_a_burst_of_flows_sooner_than_one() {
    let (one, agent_one) = burst_of_new_flows(1);
    let (four, agent_four) = burst_of_new_flows(4);
    // 64 setups of 50 us: 3.2 ms on one core; batches classified in parallel on four.
    assert!(one.as_ps() > 3_200_000_000, "{one:?}");
    assert!(
        four.as_ps() * 2 < one.as_ps(),
        "1 core: {one:?}, 4 cores: {four:?}"
    );
    assert_eq!(
        agent_one, agent_four,
        "the same work, spread over more cores"
    );
}

/// Every cycle of interrupt handling (the miss vector's and every queue pair's), copy-engine
/// submission and completion, and agent work that the host is charged runs on one of its
/// cores: the host's per-use totals equal the cores' own.
#[test]
fn interrupts_copies_and_agent_work_all_run_on_host_cores() {
    use host_driver::host::CpuUse;
    for cores in [1u16, 3] {
        let mut spec =
            SystemSpec::with_guests(4, RingSize::new(64).expect("pow2"), GrantMode::Persistent)
                .with_copy_mode(CopyMode::CopyEngine);
        spec.host.cpu.cores = cores;
        let rules = parse_rules(
            "in_port=101,actions=output:102\nin_port=102,actions=output:103\n\
             in_port=103,actions=output:104\nin_port=104,actions=output:101",
        )
        .expect("rules");
        let (mut cp, mut guests) = spec.assemble(rules).expect("system");
        for round in 0..8u16 {
            for from in 0..4u16 {
                let to = (from + 1) % 4;
                let mut f = udp_frame(vm_mac(from), vm_mac(to), 64, || 0);
                f[34..36].copy_from_slice(&(1_000 + round).to_be_bytes());
                guests[usize::from(from)]
                    .send(cp.driver_mut().card_mut(), &f)
                    .expect("sent");
            }
            let t = cp.driver().card().now() + SimDuration::from_us(20);
            cp.run_until(t, |_, _| Ok(())).expect("ran");
        }
        cp.drain(|_, _| Ok(())).expect("drained");
        let host = cp.driver().host();
        let interrupts = host.metrics().cycles(CpuUse::Interrupts);
        assert!(
            interrupts >= 4 * cp.driver().config().costs.interrupt_cycles,
            "{cores} cores: queue and miss interrupts were taken ({interrupts} cycles)"
        );
        for what in [CpuUse::Interrupts, CpuUse::Copy, CpuUse::Agent] {
            assert_eq!(
                host.metrics().cycles(what),
                host.cpu().cycles(what.name()),
                "{cores} cores: {} cycles not on a core",
                what.name()
            );
        }
        assert!(
            host.cpu().cycles("copy") > 0 && host.cpu().cycles("agent") > 0,
            "{:?}",
            host.cpu().cycles_by_use()
        );
    }
}

/// A queue pair's vector is masked while its interrupt is being handled (as NAPI masks it):
/// interrupts that come meanwhile cost nothing, the guest's poll at the end of the handling
/// serves them, and the host's interrupt work never asks a core for more time than the run
/// had. With every completion interrupting (moderation off) and an interrupt dearer than the
/// packets' spacing, one core takes far fewer interrupts than the card raises, and every
/// packet still reaches its guest.
#[test]
fn a_queue_vector_is_masked_while_its_interrupt_is_handled() {
    use host_driver::host::CpuUse;
    let mut spec =
        SystemSpec::with_guests(8, RingSize::new(256).expect("pow2"), GrantMode::Persistent)
            .with_copy_mode(CopyMode::Hairpin);
    spec.host.cpu.cores = 1;
    spec.card.interrupts.max_events = 1;
    spec.driver.costs.interrupt_cycles = 20_000;
    let rules: String = (0..8u16)
        .map(|v| format!("in_port={},actions=output:{}\n", 101 + v, 101 + (v + 1) % 8))
        .collect();
    let rules = parse_rules(&rules).expect("rules");
    let (mut cp, mut guests) = spec.assemble(rules).expect("system");
    let mut sent = 0u64;
    for round in 0..16u16 {
        for from in 0..8u16 {
            let to = (from + 1) % 8;
            let mut f = udp_frame(vm_mac(from), vm_mac(to), 64, || 0);
            f[34..36].copy_from_slice(&(1_000 + round).to_be_bytes());
            guests[usize::from(from)]
                .send(cp.driver_mut().card_mut(), &f)
                .expect("sent");
            sent += 1;
        }
        let t = cp.driver().card().now() + SimDuration::from_us(2);
        let mut received = Vec::new();
        cp.run_until(t, |d, q| {
            guests[usize::from(q.0)].poll(d.card_mut(), &mut received)?;
            guests[usize::from(q.0)].post_rx_buffers(d.card_mut())?;
            Ok(())
        })
        .expect("ran");
    }
    let end = cp
        .drain(|d, q| {
            guests[usize::from(q.0)].poll(d.card_mut(), &mut Vec::new())?;
            guests[usize::from(q.0)].post_rx_buffers(d.card_mut())?;
            Ok(())
        })
        .expect("drained");
    let mut received = Vec::new();
    for g in &mut guests {
        g.poll(cp.driver_mut().card_mut(), &mut received)
            .expect("polled");
    }
    let card = cp.driver().card().counters();
    assert_eq!(
        card.copies_to_vms, sent,
        "every packet reached its guest: {card:?}"
    );
    let taken = cp.driver().metrics().interrupts;
    let masked = cp.metrics().masked_interrupts;
    assert!(masked > 0, "some interrupts came while masked");
    assert!(
        taken < card.interrupts,
        "{taken} taken of {}",
        card.interrupts
    );
    let host = cp.driver().host();
    let busy = host.metrics().cycles(CpuUse::Interrupts);
    assert_eq!(
        busy,
        taken * 20_000,
        "each taken interrupt costs its cycles once"
    );
    let capacity = end.as_ps() * u64::from(host.cpu().clock_mhz()) / 1_000_000;
    assert!(
        busy <= capacity,
        "one core cannot work {busy} cycles in a run of {capacity} cycles"
    );
}
