//! Workloads: deterministic, and their statistics are what the scenario asks for (rates,
//! shares, sizes, Zipf popularity, new flows per second, flow lengths); replay maps a
//! capture's addresses and counts what it cannot map.

use std::collections::BTreeMap;

use sim_harness::capture::Capture;
use sim_harness::scenario::Scenario;
use sim_harness::switch::{Endpoint, OfferedPacket};

use crate::support::{pcap, repo, scratch};

fn packets(toml: &str) -> (Scenario, Vec<OfferedPacket>) {
    let s = Scenario::from_toml(toml, None).unwrap_or_else(|e| panic!("{e}"));
    let p = s.workload.packets(&s.topology, s.seed, s.limit).collect();
    (s, p)
}

/// The packets of scenario `toml` with `CAPTURE` in it standing for the path of the sample
/// pcapng capture of the repository's test data, and that capture.
fn packets_of_sample_capture(toml: &str) -> (Scenario, Vec<OfferedPacket>, Capture) {
    let file = repo("tests/data/pcapparser_wireshark_samples-test.pcapng");
    let capture = Capture::open(&file).expect("capture");
    let (s, p) = packets(&toml.replace("CAPTURE", &file.display().to_string()));
    (s, p, capture)
}

/// The UDP source port: the flow's identity within a sender-receiver pair.
fn flow_of(p: &OfferedPacket) -> (Vec<u8>, u16) {
    let f = &p.frame;
    (f[26..34].to_vec(), u16::from_be_bytes([f[34], f[35]]))
}

#[test]
fn the_same_seed_gives_the_same_packets_and_another_seed_others() {
    let text = "seed = 9\npackets = 5000\n[workload]\nsize = { imix = \"simple\" }\nrate = { poisson_pps = 1e6 }\nflows = { new_per_second = 5e4 }\n";
    let (_, a) = packets(text);
    let (_, b) = packets(text);
    assert_eq!(a, b);
    let (_, c) = packets(&text.replace("seed = 9", "seed = 10"));
    assert_ne!(a, c);
    assert!(
        a.windows(2).all(|w| w[0].at <= w[1].at),
        "non-decreasing time"
    );
}

#[test]
fn line_rate_packets_are_back_to_back_on_the_uplink() {
    // 64-byte frames + 20 bytes of preamble and gap at 25 Gb/s: 84 * 8 * 40 ps apart.
    let (_, p) =
        packets("packets = 1000\n[workload]\nkind = \"vm-to-wire\"\nrate = { line_rate = 1.0 }\n");
    for (i, x) in p.iter().enumerate() {
        assert_eq!(x.at.as_ps(), i as u64 * 26_880, "packet {i}");
    }
    let (_, half) =
        packets("packets = 10\n[workload]\nkind = \"vm-to-wire\"\nrate = { line_rate = 0.5 }\n");
    assert_eq!(half[1].at.as_ps(), 53_760);
    let (_, per_vm) = packets("packets = 10\n[vms]\ncount = 4\n[workload]\nkind = \"vm-to-wire\"\nrate = { line_rate_per_vm = 1.0 }\n");
    assert_eq!(per_vm[1].at.as_ps(), 6_720, "four VMs at line rate each");
}

#[test]
fn fixed_and_poisson_rates_have_the_asked_mean() {
    let (_, p) = packets("packets = 20000\n[workload]\nrate = { pps = 2e6 }\n");
    assert_eq!(p[19_999].at.as_ps(), 19_999 * 500_000);
    let (_, q) = packets("packets = 20000\n[workload]\nrate = { poisson_pps = 2e6 }\n");
    let gaps: Vec<f64> = q
        .windows(2)
        .map(|w| (w[1].at.as_ps() - w[0].at.as_ps()) as f64)
        .collect();
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
    assert!((mean / 500_000.0 - 1.0).abs() < 0.03, "mean gap {mean}");
    // An exponential's standard deviation equals its mean.
    assert!(
        (var.sqrt() / mean - 1.0).abs() < 0.05,
        "cv {}",
        var.sqrt() / mean
    );
}

#[test]
fn mix_shares_hold() {
    let (s, p) = packets("packets = 40000\n[vms]\ncount = 4\n[workload]\nkind = \"mix\"\nmix = [{ kind = \"inter-vm\", share = 2.0 }, { kind = \"vm-to-wire\", share = 1.0 }, { kind = \"wire-to-vm\", share = 1.0 }]\n");
    let mut counts = BTreeMap::new();
    for x in &p {
        let to_vm = s
            .topology
            .endpoint_of_mac(nic_abi::key::MacAddr(x.frame[0..6].try_into().unwrap()));
        let kind = match (x.from, to_vm) {
            (Endpoint::Vm(_), Some(Endpoint::Vm(_))) => "inter-vm",
            (Endpoint::Vm(_), Some(Endpoint::External(_))) => "vm-to-wire",
            (Endpoint::External(_), Some(Endpoint::Vm(_))) => "wire-to-vm",
            other => panic!("unexpected {other:?}"),
        };
        *counts.entry(kind).or_insert(0u32) += 1;
    }
    let share = |k: &str| f64::from(counts[k]) / p.len() as f64;
    assert!((share("inter-vm") - 0.5).abs() < 0.02, "{counts:?}");
    assert!((share("vm-to-wire") - 0.25).abs() < 0.02, "{counts:?}");
    assert!((share("wire-to-vm") - 0.25).abs() < 0.02, "{counts:?}");
}

#[test]
fn imix_sizes_hold_and_frames_parse_with_right_lengths() {
    let (_, p) =
        packets("packets = 24000\n[workload]\nsize = { imix = \"simple\" }\nprotocol = \"udp\"\n");
    let mut counts = BTreeMap::new();
    for x in &p {
        *counts.entry(x.frame.len()).or_insert(0u32) += 1;
        let e = etherparse::SlicedPacket::from_ethernet(&x.frame).expect("parses");
        let Some(etherparse::NetSlice::Ipv4(ip)) = e.net else {
            panic!("IPv4")
        };
        assert_eq!(usize::from(ip.header().total_len()), x.frame.len() - 14);
        let Some(etherparse::TransportSlice::Udp(u)) = e.transport else {
            panic!("UDP")
        };
        assert_eq!(usize::from(u.length()), x.frame.len() - 34);
    }
    assert_eq!(
        counts.keys().copied().collect::<Vec<_>>(),
        vec![60, 590, 1514]
    );
    let n = p.len() as f64;
    assert!(
        (f64::from(counts[&60]) / n - 7.0 / 12.0).abs() < 0.015,
        "{counts:?}"
    );
    assert!(
        (f64::from(counts[&590]) / n - 4.0 / 12.0).abs() < 0.015,
        "{counts:?}"
    );
    assert!(
        (f64::from(counts[&1514]) / n - 1.0 / 12.0).abs() < 0.01,
        "{counts:?}"
    );
}

#[test]
fn flow_popularity_is_zipf() {
    // 100 flows of one kind, s = 1: rank r has probability 1 / (r H_100), H_100 = 5.187.
    let (_, p) = packets("packets = 60000\n[workload]\nkind = \"vm-to-wire\"\nflows = { initial = 100, zipf_s = 1.0 }\n");
    let mut per_flow = BTreeMap::new();
    // The first 100 packets are the flows' first packets; popularity shows after them.
    for x in &p[100..] {
        *per_flow.entry(flow_of(x)).or_insert(0u32) += 1;
    }
    let mut counts: Vec<u32> = per_flow.values().copied().collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    let n = (p.len() - 100) as f64;
    let h = (1..=100).map(|r| 1.0 / f64::from(r)).sum::<f64>();
    for (rank, &c) in counts.iter().take(3).enumerate() {
        let expected = 1.0 / ((rank + 1) as f64 * h);
        assert!(
            (f64::from(c) / n - expected).abs() < 0.01,
            "rank {}: {} vs {expected}",
            rank + 1,
            f64::from(c) / n
        );
    }
    // Uniform popularity: no flow far above 1/100.
    let (_, u) = packets("packets = 60000\n[workload]\nkind = \"vm-to-wire\"\nflows = { initial = 100, zipf_s = 0.0 }\n");
    let mut per_flow = BTreeMap::new();
    for x in &u[100..] {
        *per_flow.entry(flow_of(x)).or_insert(0u32) += 1;
    }
    let max = per_flow.values().copied().max().unwrap();
    assert!(
        f64::from(max) / 59_900.0 < 0.013,
        "max share {}",
        f64::from(max) / 59_900.0
    );
}

#[test]
fn new_flows_arrive_at_the_asked_rate_and_end_after_their_length() {
    // 1 Mpps for 0.1 s with 10,000 new flows per second: about 1,000 flows (Poisson, sd 32).
    let (_, p) = packets("packets = 100000\n[workload]\nkind = \"vm-to-wire\"\nrate = { pps = 1e6 }\nflows = { initial = 1, new_per_second = 1e4 }\n");
    let flows: std::collections::BTreeSet<_> = p.iter().map(flow_of).collect();
    assert!((900..=1100).contains(&flows.len()), "{} flows", flows.len());
    let (_, q) = packets("packets = 5000\n[workload]\nkind = \"vm-to-wire\"\nflows = { initial = 10, length_packets = 5 }\n");
    let mut per_flow = BTreeMap::new();
    for x in &q {
        *per_flow.entry(flow_of(x)).or_insert(0u32) += 1;
    }
    assert!(
        per_flow.values().all(|&c| c <= 5),
        "a flow sent more than its length"
    );
    assert!(
        per_flow.len() >= 1000,
        "flows end and new ones start: {}",
        per_flow.len()
    );
}

#[test]
fn replay_maps_addresses_onto_the_scenario_and_counts_what_it_cannot() {
    let dir = scratch("replay-map");
    let frame = |src: u8, dst: u8| {
        sim_harness::workload::build_frame(
            sim_harness::workload::Protocol::Udp,
            100,
            nic_abi::key::MacAddr([0, 0x11, 0, 0, 0, dst]),
            nic_abi::key::MacAddr([0, 0x11, 0, 0, 0, src]),
            None,
            (0x0101_0101, 0x0202_0202),
            (1, 2),
        )
    };
    let mut multicast_src = frame(1, 2);
    multicast_src[6] = 1;
    let file = dir.join("small.pcap");
    std::fs::write(
        &file,
        pcap(&[
            frame(1, 2),
            frame(2, 1),
            vec![0; 10],
            multicast_src,
            frame(3, 1),
        ]),
    )
    .unwrap();
    let text = format!(
        "[vms]\ncount = 2\n[[external_hosts]]\nmac = \"02:00:00:00:ff:01\"\nip = \"192.0.2.1\"\n[workload]\nkind = \"pcap\"\npcap = {{ file = \"{}\" }}\n",
        file.display()
    );
    let (s, p) = packets(&text);
    let stats = s.workload.replay_stats().expect("replay");
    assert_eq!(
        (stats.frames, stats.offered, stats.addresses_mapped),
        (5, 3, 3)
    );
    assert_eq!(
        stats.malformed.get("shorter_than_ethernet_header"),
        Some(&1)
    );
    assert_eq!(stats.malformed.get("multicast_source_mac"), Some(&1));
    // MAC ...01 -> VM 0, ...02 -> VM 1, ...03 -> the external host.
    let vm0 = s.topology.vms[0];
    let vm1 = s.topology.vms[1];
    assert_eq!(p[0].from, Endpoint::Vm(sim_harness::switch::VmIndex(0)));
    assert_eq!(&p[0].frame[0..6], &vm1.mac.0);
    assert_eq!(&p[0].frame[26..30], &vm0.ipv4.to_be_bytes());
    assert_eq!(&p[1].frame[0..6], &vm0.mac.0);
    assert!(matches!(p[2].from, Endpoint::External(_)));
    let e = etherparse::SlicedPacket::from_ethernet(&p[0].frame).expect("parses");
    let Some(etherparse::NetSlice::Ipv4(ip)) = e.net else {
        panic!("IPv4")
    };
    assert_eq!(
        ip.header().to_header().calc_header_checksum(),
        ip.header().header_checksum()
    );
}

#[test]
fn a_real_capture_replays_every_frame() {
    let (s, p, _) =
        packets_of_sample_capture("[workload]\nkind = \"pcap\"\npcap = { file = \"CAPTURE\" }\n");
    let stats = s.workload.replay_stats().expect("replay");
    assert_eq!(stats.offered, p.len() as u64);
    assert_eq!(
        stats.frames,
        stats.offered + stats.malformed.values().sum::<u64>()
    );
    assert!(stats.offered > 0);
}

#[test]
fn a_duration_offers_the_packets_that_fit_in_it() {
    let (_, p) = packets("duration_us = 10\n[workload]\nrate = { pps = 1e6 }\n");
    assert_eq!(
        p.len(),
        10,
        "one packet every microsecond, the last at 9 us"
    );
    assert_eq!(p[9].at.as_ps(), 9_000_000);
}

#[test]
fn sizes_from_a_capture_are_its_frame_lengths() {
    let (_, p, capture) =
        packets_of_sample_capture("packets = 3000\n[workload]\nsize = { pcap = \"CAPTURE\" }\n");
    let lengths: std::collections::BTreeSet<usize> = capture
        .frames
        .iter()
        .map(|f| (f.orig_len as usize + 4).clamp(64, 9220) - 4)
        .collect();
    assert!(
        p.iter().all(|x| lengths.contains(&x.frame.len())),
        "every size is a captured one"
    );
    let distinct: std::collections::BTreeSet<usize> = p.iter().map(|x| x.frame.len()).collect();
    assert!(distinct.len() > 5, "sizes vary: {distinct:?}");
}

#[test]
fn a_replay_at_capture_timing_keeps_the_captures_gaps() {
    let (_, p, capture) = packets_of_sample_capture(
        "packets = 200\n[workload]\nkind = \"pcap\"\npcap = { file = \"CAPTURE\", timing = \"capture\" }\n",
    );
    let t0 = capture.frames[0].timestamp;
    let mut last = 0;
    for (x, f) in p.iter().zip(&capture.frames) {
        let expected =
            (u64::try_from(f.timestamp.saturating_sub(t0).as_nanos()).unwrap() * 1_000).max(last);
        assert_eq!(x.at.as_ps(), expected);
        last = expected;
    }
}

/// `workload.header_trace`: new flows take the ClassBench trace's headers in order (cycling),
/// each frame carries its flow's addresses, protocol and ports (no ports where the protocol
/// has none), the endpoints' MACs are the traffic kind's, and a bad trace is refused naming
/// the key, the file and the line.
#[test]
fn new_flows_take_the_header_traces_headers_in_order() {
    let dir = scratch("header-trace");
    let trace = dir.join("trace");
    // 10.0.0.1 -> 10.0.0.2 tcp 1000 -> 80; 192.0.2.1 -> 198.51.100.7 udp 53 -> 5353;
    // 1.2.3.4 -> 5.6.7.8 icmp (ports not carried).
    std::fs::write(
        &trace,
        "167772161\t167772162\t1000\t80\t6\t0\t3\n\
         3221225985\t3325256711\t53\t5353\t17\t0\t1\n\
         16909060\t84281096\t7\t9\t1\t0\t0\n",
    )
    .expect("trace");
    let toml = format!(
        "packets = 400\n[vms]\ncount = 4\n[workload]\nkind = \"inter-vm\"\n\
         flows = {{ initial = 5, new_per_second = 0.0, zipf_s = 0.0 }}\n\
         header_trace = \"{}\"\n",
        trace.display()
    );
    let (s, p) = packets(&toml);
    let mut seen: Vec<(u32, u32, u8, u16, u16)> = Vec::new();
    for pkt in &p {
        let parsed = etherparse::SlicedPacket::from_ethernet(&pkt.frame).expect("parses");
        let Some(etherparse::NetSlice::Ipv4(ip)) = &parsed.net else {
            panic!("IPv4")
        };
        let h = ip.header();
        let ports = match &parsed.transport {
            Some(etherparse::TransportSlice::Tcp(t)) => (t.source_port(), t.destination_port()),
            Some(etherparse::TransportSlice::Udp(u)) => (u.source_port(), u.destination_port()),
            _ => (0, 0),
        };
        let tuple = (
            u32::from(h.source_addr()),
            u32::from(h.destination_addr()),
            h.protocol().0,
            ports.0,
            ports.1,
        );
        if !seen.contains(&tuple) {
            seen.push(tuple);
        }
        // The MACs are the VMs'.
        let Endpoint::Vm(from) = pkt.from else {
            panic!("inter-VM traffic comes from VMs")
        };
        assert_eq!(
            pkt.frame[6..12],
            s.topology.vms[usize::from(from.0)].mac.0,
            "source MAC"
        );
    }
    assert_eq!(
        seen,
        vec![
            (0x0a00_0001, 0x0a00_0002, 6, 1000, 80),
            (0xc000_0201, 0xc633_6407, 17, 53, 5353),
            (0x0102_0304, 0x0506_0708, 1, 0, 0),
        ],
        "five flows take the three headers in order, cycling"
    );
    std::fs::write(&trace, "1\t2\t3\t4\t6\t0\n").expect("trace");
    let e = Scenario::from_toml(&toml, None).expect_err("a line without its filter index");
    let e = e.to_string();
    assert!(
        e.contains("workload.header_trace") && e.contains("trace") && e.contains("line 1"),
        "{e}"
    );
    std::fs::write(&trace, "").expect("trace");
    let e = Scenario::from_toml(&toml, None).expect_err("an empty trace");
    assert!(e.to_string().contains("no headers"), "{e}");
    let e = Scenario::from_toml(
        &toml.replace(
            "kind = \"inter-vm\"",
            "kind = \"pcap\"\npcap = { file = \"x.pcap\" }",
        ),
        None,
    )
    .expect_err("a replay with a trace");
    assert!(e.to_string().contains("workload.header_trace"), "{e}");
}
