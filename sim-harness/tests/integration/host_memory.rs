//! One host (issue 14, points 1 and 5): every CPU copy and every copy-engine transfer crosses
//! the host's memory bus (`host.memory_gbps`), whichever switch makes it; the copy engine is
//! a device with a command ring, and its profile numbers move exactly what they price.

use sim_harness::runner;
use sim_harness::scenario::Scenario;
use sim_harness::switch::{SwitchKind, SwitchRun};

/// `packets` 1,500-byte inter-VM frames between 2 VMs at `pps`, on a host of
/// `memory_gbps`, through `card.inter_vm = inter_vm`, with `extra` TOML appended.
fn inter_vm_1500(memory_gbps: f64, pps: f64, inter_vm: &str, extra: &str) -> Scenario {
    inter_vm_1500_card(memory_gbps, pps, inter_vm, "", extra)
}

/// [`inter_vm_1500`] with `card` TOML added to the `[card]` table.
fn inter_vm_1500_card(
    memory_gbps: f64,
    pps: f64,
    inter_vm: &str,
    card: &str,
    extra: &str,
) -> Scenario {
    let text = format!(
        r#"
seed = 3
packets = 4000

[host]
memory_gbps = {memory_gbps}

[card]
inter_vm = "{inter_vm}"
{card}

[vms]
count = 2

[workload]
kind = "inter-vm"
size = {{ fixed = 1500 }}
rate = {{ pps = {pps} }}
flows = {{ initial = 4, new_per_second = 0 }}
{extra}
"#
    );
    Scenario::from_toml(&text, None).unwrap_or_else(|e| panic!("{e}"))
}

fn run(kind: SwitchKind, s: &Scenario) -> SwitchRun {
    runner::run_switch(kind, s).unwrap_or_else(|e| panic!("{e}"))
}

/// Delivered bytes per second over the run.
fn throughput(r: &SwitchRun) -> f64 {
    r.delivered_bytes as f64 / r.span().as_ps() as f64 * 1e12
}

#[test]
fn halving_memory_bandwidth_slows_every_copy_bound_switch() {
    // At 1 GB/s a 1,500-byte copy holds the bus 3 us (read and write): the copy engine's
    // one copy per packet bounds sNICh near 0.33 Mpps, the bridge's two vNIC copies near
    // 0.17 Mpps. Offered 0.5 Mpps, both are bus-bound at 1 GB/s and at 0.5 GB/s.
    for (kind, inter_vm) in [
        (SwitchKind::Snich, "copy-engine"),
        (SwitchKind::Snich, "cpu-copy"),
        (SwitchKind::LinuxBridge, "copy-engine"),
        (SwitchKind::OvsAfxdp, "copy-engine"),
    ] {
        let full = run(kind, &inter_vm_1500(1.0, 5e5, inter_vm, ""));
        let half = run(kind, &inter_vm_1500(0.5, 5e5, inter_vm, ""));
        let name = format!("{} ({inter_vm})", full.switch);
        assert!(
            full.extra["memory_bus_bytes"] > 0,
            "{name}: copies cross the bus"
        );
        let (t_full, t_half) = (throughput(&full), throughput(&half));
        assert!(
            t_half < 0.75 * t_full,
            "{name}: {t_full:.3e} B/s at 1 GB/s, {t_half:.3e} at 0.5 GB/s"
        );
        // With ample bandwidth the same run is faster still (the bus was the bound).
        let ample = run(kind, &inter_vm_1500(100.0, 5e5, inter_vm, ""));
        assert!(throughput(&ample) > t_full, "{name}");
    }
}

#[test]
fn the_hairpinning_veb_uses_no_memory_bus_bandwidth() {
    let s = |gbps| inter_vm_1500(gbps, 5e5, "hairpin", "");
    let full = run(SwitchKind::SriovVeb, &s(1.0));
    let half = run(SwitchKind::SriovVeb, &s(0.5));
    assert_eq!(full.extra["memory_bus_bytes"], 0);
    assert_eq!(full.delivered_bytes, half.delivered_bytes);
    assert_eq!(full.last_event, half.last_event);
}

#[test]
fn a_full_copy_engine_ring_delays_submissions() {
    // A one-descriptor ring: each copy waits for the one before it to be taken back.
    let base = inter_vm_1500(100.0, 2e6, "copy-engine", "");
    let tiny = inter_vm_1500(
        100.0,
        2e6,
        "copy-engine",
        "[profile]\n\"snich.copy_engine.ring_entries\" = 1\n",
    );
    let (base, tiny) = (run(SwitchKind::Snich, &base), run(SwitchKind::Snich, &tiny));
    assert_eq!(base.extra["copy_ring_full_waits"], 0);
    assert!(base.extra["copy_ring_peak"] > 1);
    assert!(tiny.extra["copy_ring_full_waits"] > 0);
    assert_eq!(tiny.extra["copy_ring_peak"], 1);
    let p50 = |r: &SwitchRun| r.latency_ns.value_at_quantile(0.5);
    assert!(p50(&tiny) > p50(&base), "{} {}", p50(&base), p50(&tiny));
}

/// sNICh's host cycles per delivered packet.
fn cycles_per_packet(r: &SwitchRun) -> f64 {
    r.host_cpu_cycles.values().sum::<u64>() as f64 / r.ledger.delivered as f64
}

#[test]
fn doubling_the_submit_cost_moves_only_copy_engine_copies() {
    // 300 cycles in the profile; a sweep's nested form.
    let doubled = "[profile.snich.copy_engine]\nsubmit = 600\n";
    let run_mode = |inter_vm: &str, extra: &str| {
        run(
            SwitchKind::Snich,
            &inter_vm_1500(100.0, 2e5, inter_vm, extra),
        )
    };
    let engine = run_mode("copy-engine", "");
    let engine2 = run_mode("copy-engine", doubled);
    // Exactly 300 more copy cycles per copy; the same copies, doorbells and deliveries.
    assert_eq!(engine.extra["copies"], engine2.extra["copies"]);
    assert_eq!(
        engine2.host_cpu_cycles["copy"] - engine.host_cpu_cycles["copy"],
        300 * engine.extra["copies"]
    );
    assert_eq!(engine.ledger, engine2.ledger);
    assert!(cycles_per_packet(&engine2) > cycles_per_packet(&engine) + 290.0);
    // Hairpinned, the card copies over PCIe: nothing the engine's numbers price.
    let hairpin = run_mode("hairpin", "");
    let hairpin2 = run_mode("hairpin", doubled);
    assert_eq!(hairpin.extra["copies"], 0);
    assert_eq!(hairpin.host_cpu_cycles, hairpin2.host_cpu_cycles);
    assert_eq!(hairpin.ledger, hairpin2.ledger);
    assert_eq!(hairpin.last_event, hairpin2.last_event);
    // A CPU copy does not use the engine either.
    let cpu = run_mode("cpu-copy", "");
    let cpu2 = run_mode("cpu-copy", doubled);
    assert_eq!(cpu.host_cpu_cycles, cpu2.host_cpu_cycles);
}

#[test]
fn doubling_the_descriptor_fetch_moves_latency_not_cycles() {
    // 150 ns of device time in the profile: later completions, no more host work per copy.
    let base = run(
        SwitchKind::Snich,
        &inter_vm_1500(100.0, 2e5, "copy-engine", ""),
    );
    let slow = run(
        SwitchKind::Snich,
        &inter_vm_1500(
            100.0,
            2e5,
            "copy-engine",
            "[profile]\n\"snich.copy_engine.descriptor_fetch\" = 300\n",
        ),
    );
    assert_eq!(base.host_cpu_cycles["copy"], slow.host_cpu_cycles["copy"]);
    let p50 = |r: &SwitchRun| r.latency_ns.value_at_quantile(0.5);
    // 150 ns more per copy (the histogram's resolution allows a little either way).
    let more = p50(&slow).checked_sub(p50(&base));
    assert!(
        more.is_some_and(|m| (130..=170).contains(&m)),
        "{} -> {}",
        p50(&base),
        p50(&slow)
    );
}

#[test]
fn completions_taken_by_interrupt_cost_the_interrupt_on_a_core_instead_of_the_poll() {
    let mode = |completion: &str| {
        run(
            SwitchKind::Snich,
            &inter_vm_1500_card(
                100.0,
                2e5,
                "copy-engine",
                &format!("copy_completion = \"{completion}\""),
                "",
            ),
        )
    };
    let poll = mode("poll");
    let irq = mode("interrupt");
    let copies = poll.extra["copies"];
    assert!(copies > 0);
    assert_eq!(irq.extra["copies"], copies);
    assert_eq!(poll.ledger, irq.ledger);
    // Profile: submit 300, completion_poll 260, completion_interrupt 2,000 cycles.
    assert_eq!(poll.host_cpu_cycles["copy"], (300 + 260) * copies);
    assert_eq!(irq.host_cpu_cycles["copy"], 300 * copies);
    assert_eq!(
        irq.host_cpu_cycles["interrupts"] - poll.host_cpu_cycles["interrupts"],
        2_000 * copies
    );
    // The interrupt takes longer on its core than the poll: later completions.
    let p50 = |r: &SwitchRun| r.latency_ns.value_at_quantile(0.5);
    assert!(p50(&irq) > p50(&poll), "{} {}", p50(&poll), p50(&irq));
    // A misspelt mode is refused, naming the key.
    let e = Scenario::from_toml("[card]\ncopy_completion = \"busy-wait\"\n", None)
        .expect_err("refused");
    assert!(e.to_string().contains("card.copy_completion"), "{e}");
}
