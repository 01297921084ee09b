//! Open vSwitch as the oracle (invariant 3): a private `ovs-vswitchd` (userspace datapath,
//! dummy ports) loads the same rules with `ovs-ofctl`, `ofproto/trace` runs over one
//! persistent unixctl JSON-RPC connection, and the matched rule (by cookie), its priority and
//! its actions must equal the decision of our classifiers, packet for packet.
//!
//! Needs `ovs-vswitchd` and friends (Debian `openvswitch-switch`): a plain `cargo test`
//! without them skips, saying so; under `./test.sh` (which installs them) that is a failure.
//! The daemons are stopped when the harness is dropped, which also happens when an assertion
//! fails (unwinding runs `Drop`).

use external_oracles::ovs::{OvsConfig, PrivateOvs, Unixctl, BRIDGE};
use external_oracles::programs;
use flow_setup::classbench::{parse_filters, parse_trace_gz, to_openflow};
use flow_setup::classifier::{from_rules, Classifier, LinearClassifier, SplitTree};
use flow_setup::ofctl::{describe_packet, format_actions, parse_rule};
use flow_setup::rule::{Action, Point, Rule};
use nic_abi::key::{EtherType, FlowKey, MacAddr, PortNo, VlanTci};

use crate::classbench_tests::data_bytes;
use crate::data;

/// What `ofproto/trace` said about one packet.
#[derive(Debug, PartialEq, Eq)]
struct Traced {
    /// (cookie, priority) of the matched rule, or `None` for a table miss.
    rule: Option<(u64, u16)>,
    /// The OpenFlow actions executed, one per line (`drop` for none).
    actions: Vec<String>,
}

/// A private Open vSwitch and one unixctl connection to it.
struct Ovs {
    ovs: PrivateOvs,
    ctl: Unixctl,
}

impl Ovs {
    /// Starts one with dummy ports `ports`, or `None` (the test skips) when Open vSwitch is
    /// not installed and `./test.sh` did not require it.
    fn start(ports: &[u16]) -> Option<Ovs> {
        if !programs::require(&programs::OPEN_VSWITCH).unwrap() {
            return None;
        }
        let ovs = PrivateOvs::start(&OvsConfig::with_ports(ports)).unwrap();
        let ctl = ovs.unixctl().unwrap();
        Some(Ovs { ovs, ctl })
    }

    /// Replaces the bridge's flows with `rules` (no ranges: export them first).
    fn load(&self, rules: &[Rule]) {
        let text: String = rules.iter().map(|r| format!("{r}\n")).collect();
        self.ovs.add_flows(BRIDGE, &text).unwrap();
    }

    fn trace(&mut self, packet: &str) -> Traced {
        let text = self
            .ctl
            .call("ofproto/trace", &[BRIDGE, packet])
            .unwrap_or_else(|e| panic!("trace of {packet} failed: {e}"));
        parse_trace(&text).unwrap_or_else(|| panic!("unexpected trace output:\n{text}"))
    }
}

fn parse_trace(text: &str) -> Option<Traced> {
    let mut lines = text.lines().skip_while(|l| !l.starts_with(" 0. "));
    let head = lines.next()?;
    let rule = if head.contains("No match") {
        None
    } else {
        let prio = &head[head.rfind("priority ")? + "priority ".len()..];
        let prio: u16 = prio.split(',').next()?.trim().parse().ok()?;
        let cookie = match head.split(", cookie ").nth(1) {
            Some(c) => u64::from_str_radix(c.trim().trim_start_matches("0x"), 16).ok()?,
            None => 0,
        };
        Some((cookie, prio))
    };
    let actions = lines
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .filter(|l| !l.starts_with(">>") && !l.starts_with("->"))
        .map(str::to_string)
        .collect();
    Some(Traced { rule, actions })
}

/// Deterministic xorshift64* (the test must not depend on a seed source).
struct Prng(u64);

impl Prng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[usize::try_from(self.next() % xs.len() as u64).unwrap()]
    }
    fn pick_n<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[usize::try_from(self.next() % xs.len() as u64).unwrap()]
    }
}

/// A random rule line from small pools (so rules overlap), parsed by our parser.
/// Priorities for `n` rules, all distinct (equal-priority overlaps are undefined in
/// OpenFlow): a shuffle of 4n multiples of 10.
fn distinct_priorities(rng: &mut Prng, n: usize) -> Vec<u16> {
    let mut prios: Vec<u16> = (1..=u16::try_from(4 * n).unwrap())
        .map(|p| p * 10)
        .collect();
    for i in (1..prios.len()).rev() {
        let j = usize::try_from(rng.next() % (i as u64 + 1)).unwrap();
        prios.swap(i, j);
    }
    prios
}

fn random_rule(rng: &mut Prng, priority: u16, cookie: u64) -> Rule {
    let mut parts: Vec<String> = vec![
        format!("priority={priority}"),
        format!("cookie={cookie:#x}"),
    ];
    let l3 = rng.pick(&[
        "", "ip", "tcp", "udp", "icmp", "arp", "ipv6", "tcp6", "udp6", "icmp6",
    ]);
    for s in [
        l3,
        rng.pick(&["", "", "in_port=1", "in_port=2"]),
        rng.pick(&[
            "",
            "",
            "dl_dst=01:00:00:00:00:00/01:00:00:00:00:00",
            "dl_dst=02:00:00:00:00:01",
        ]),
        rng.pick(&[
            "",
            "",
            "",
            "dl_vlan=0xffff",
            "dl_vlan=5",
            "dl_vlan_pcp=3",
            "vlan_tci=0x1000/0x1000",
        ]),
    ] {
        parts.push(s.to_string());
    }
    let v4 = matches!(l3, "ip" | "tcp" | "udp" | "icmp");
    let v6 = matches!(l3, "ipv6" | "tcp6" | "udp6" | "icmp6");
    if v4 {
        parts.push(
            rng.pick(&[
                "",
                "nw_src=10.0.0.0/8",
                "nw_src=10.1.2.3",
                "nw_src=10.0.0.1/255.0.0.255",
            ])
            .into(),
        );
        parts.push(
            rng.pick(&["", "nw_dst=192.168.0.0/16", "nw_dst=192.168.1.1"])
                .into(),
        );
    }
    if v6 {
        parts.push(
            rng.pick(&["", "ipv6_src=2001:db8::/32", "ipv6_src=2001:db8::1"])
                .into(),
        );
        parts.push(rng.pick(&["", "ipv6_dst=fe80::/10"]).into());
    }
    if v4 || v6 {
        parts.push(rng.pick(&["", "", "nw_tos=0", "nw_tos=4"]).into());
    }
    if l3 == "arp" {
        parts.push(rng.pick(&["", "arp_spa=10.0.0.0/8"]).into());
        parts.push(rng.pick(&["", "arp_op=1"]).into());
    }
    if matches!(l3, "tcp" | "udp" | "tcp6" | "udp6") {
        parts.push(
            rng.pick(&["", "tp_src=80", "tp_src=1000-2000", "tp_src=0x50/0xfff0"])
                .into(),
        );
        parts.push(
            rng.pick(&[
                "",
                "tp_dst=80",
                "tp_dst=80-90",
                "tp_dst=1024-65535",
                "tp_dst=0x100/0xff00",
            ])
            .into(),
        );
    }
    if matches!(l3, "icmp" | "icmp6") {
        parts.push(
            rng.pick(&[
                "",
                "icmp_type=8",
                "icmp_type=3,icmp_code=1",
                "icmp_type=128",
            ])
            .into(),
        );
    }
    parts.push(format!(
        "actions={}",
        rng.pick(&[
            "drop",
            "output:1",
            "output:2",
            "output:3",
            "output:2,output:3",
            "mod_vlan_vid:7,output:2",
            "strip_vlan,output:3",
            "flood",
            "in_port",
            "controller",
            "normal",
        ])
    ));
    let line: Vec<String> = parts.into_iter().filter(|s| !s.is_empty()).collect();
    let line = line.join(",");
    parse_rule(&line).unwrap_or_else(|e| panic!("{line}: {e}"))
}

/// A random packet from pools that hit the rules, with only the fields its type has.
fn random_packet(rng: &mut Prng) -> FlowKey {
    let dl_type = rng.pick_n(&[0x0800u16, 0x0800, 0x0800, 0x86dd, 0x86dd, 0x0806, 0x1234]);
    let mut k = FlowKey {
        in_port: PortNo(rng.pick_n(&[1u16, 2, 3])),
        dl_type: EtherType(dl_type),
        dl_dst: MacAddr(rng.pick_n(&[
            [2u8, 0, 0, 0, 0, 1],
            [1, 0, 0, 0, 0, 2],
            [0, 0, 0, 0, 0, 3],
        ])),
        dl_src: MacAddr([0, 0, 0, 0, 0, 9]),
        vlan: rng.pick_n(&[
            VlanTci::NONE,
            VlanTci::NONE,
            VlanTci::new(5, 3),
            VlanTci::new(5, 0),
            VlanTci::new(6, 3),
        ]),
        ..FlowKey::default()
    };
    match dl_type {
        0x0800 => {
            k.nw_proto = rng.pick_n(&[6u8, 6, 17, 17, 1, 47]);
            k.nw_src = rng.pick_n(&[
                0x0a01_0203u128,
                0x0a00_0001,
                0x0aff_0001,
                0xc0a8_0101,
                0x0b00_0001,
            ]);
            k.nw_dst = rng.pick_n(&[0xc0a8_0101u128, 0xc0a8_0202, 0x0a00_0001]);
            k.nw_tos = rng.pick_n(&[0u8, 4, 8]);
        }
        0x86dd => {
            k.nw_proto = rng.pick_n(&[6u8, 17, 58]);
            k.nw_src = rng.pick_n(&[
                0x2001_0db8_0000_0000_0000_0000_0000_0001u128,
                0x2001_0db8_0000_0000_0000_0000_0000_0002,
                0x2002_0000_0000_0000_0000_0000_0000_0001,
            ]);
            k.nw_dst = rng.pick_n(&[
                0xfe80_0000_0000_0000_0000_0000_0000_0001u128,
                0x2001_0db8_0000_0000_0000_0000_0000_0003,
            ]);
            k.nw_tos = rng.pick_n(&[0u8, 4]);
        }
        0x0806 => {
            k.nw_proto = rng.pick_n(&[1u8, 2]);
            k.nw_src = rng.pick_n(&[0x0a00_0005u128, 0x0b00_0005]);
            k.nw_dst = 0x0a00_0001;
        }
        _ => {}
    }
    match (dl_type, k.nw_proto) {
        (0x0800 | 0x86dd, 6 | 17) => {
            k.tp_src = rng.pick_n(&[80u16, 81, 85, 1000, 1500, 2000, 2001, 40000]);
            k.tp_dst = rng.pick_n(&[80u16, 85, 90, 91, 0x150, 1023, 1024, 65535]);
        }
        (0x0800, 1) | (0x86dd, 58) => {
            k.tp_src = rng.pick_n(&[8u16, 3, 0, 128, 129]);
            k.tp_dst = rng.pick_n(&[0u16, 1]);
        }
        _ => {}
    }
    k
}

fn expected(rules: &[Rule], linear: &LinearClassifier, tree: &SplitTree, k: &FlowKey) -> Traced {
    let p = Point::from(k);
    let want = linear.lookup(&p);
    assert_eq!(
        tree.lookup(&p),
        want,
        "tree vs linear on {}",
        describe_packet(k)
    );
    match want {
        None => Traced {
            rule: None,
            actions: vec!["drop".into()],
        },
        Some(id) => {
            let r = &rules[id.0 as usize];
            Traced {
                rule: Some((r.cookie, r.priority)),
                actions: format_actions(&r.actions)
                    .split(',')
                    .map(str::to_string)
                    .collect(),
            }
        }
    }
}

#[test]
fn open_vswitch_agrees_on_random_rule_sets_and_acl1_1k() {
    let Some(mut ovs) = Ovs::start(&[1, 2, 3]) else {
        return;
    };
    let mut rng = Prng(0x5eed_cafe_f00d_0001);
    let mut compared = 0usize;
    let mut matched = 0usize;
    let sets = 20;
    for set in 0..sets {
        let n = 10 + usize::try_from(rng.next() % 30).unwrap();
        let prios = distinct_priorities(&mut rng, n);
        let rules: Vec<Rule> = (0..n)
            .map(|i| random_rule(&mut rng, prios[i], u64::try_from(i).unwrap() + 1))
            .collect();
        ovs.load(&to_openflow(&rules));
        let linear: LinearClassifier = from_rules(&rules);
        let tree: SplitTree = from_rules(&rules);
        for _ in 0..260 {
            let k = random_packet(&mut rng);
            let desc = describe_packet(&k);
            let got = ovs.trace(&desc);
            let want = expected(&rules, &linear, &tree, &k);
            matched += usize::from(want.rule.is_some());
            assert_eq!(
                got,
                want,
                "rule set {set}, packet {desc}\nrules:\n{}",
                rules.iter().map(|r| format!("{r}\n")).collect::<String>()
            );
            compared += 1;
        }
    }
    println!(
        "random rule sets: {sets} sets, {compared} packets ({matched} matched a rule), 0 disagreements"
    );
    // The comparison means something only if most packets hit rules.
    assert!(matched * 3 > compared, "{matched} of {compared} matched");

    // acl1_1K exported to OpenFlow (ranges as prefixes), 2,000 trace headers.
    let rules: Vec<Rule> = parse_filters(&data("acl1_1K"), &[Action::Output(PortNo(2))]).unwrap();
    let exported = to_openflow(&rules);
    ovs.load(&exported);
    let linear: LinearClassifier = from_rules(&rules);
    let tree: SplitTree = from_rules(&rules);
    let trace = parse_trace_gz(&data_bytes("acl1_1K_trace.gz")).unwrap();
    let mut hits = 0;
    for h in trace.iter().take(2000) {
        let mut k = h.key;
        k.in_port = PortNo(1);
        // A real parser leaves L4 fields 0 for protocols without ports, and ICMP type/code
        // are 8 bits; the ClassBench generator does not know that.
        match k.nw_proto {
            6 | 17 | 132 => {}
            1 => {
                k.tp_src &= 0xff;
                k.tp_dst &= 0xff;
            }
            _ => {
                k.tp_src = 0;
                k.tp_dst = 0;
            }
        }
        let desc = describe_packet(&k);
        let got = ovs.trace(&desc);
        let want = expected(&rules, &linear, &tree, &k);
        if want.rule.is_some() {
            hits += 1;
        }
        assert_eq!(got, want, "acl1_1K, packet {desc}");
    }
    println!(
        "acl1_1K: {} OpenFlow rules from {} filters, 2000 headers ({hits} matched), 0 disagreements",
        exported.len(),
        rules.len()
    );
}

/// The match of the flow `ovs-ofctl parse-flow` would install (its `ADD ... actions=` line),
/// parsed by our parser.
fn ovs_normalized(ovs: &Ovs, flow: &str) -> Rule {
    let out = ovs
        .ovs
        .run("ovs-ofctl", &["parse-flow", flow])
        .unwrap_or_else(|e| panic!("ovs-ofctl parse-flow {flow}: {e}"));
    let add = out
        .lines()
        .find_map(|l| l.split_once(": ADD ").map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("no ADD line for {flow}:\n{out}"));
    parse_rule(add).unwrap_or_else(|e| panic!("OVS's {add}: {e}"))
}

/// A random ARP or RARP rule over every ARP field Open vSwitch matches (`arp_op`,
/// `arp_spa`, `arp_tpa`, `arp_sha`, `arp_tha`, masks where OVS allows them).
fn random_arp_rule(rng: &mut Prng, priority: u16, cookie: u64) -> Rule {
    let parts = [
        format!("priority={priority},cookie={cookie:#x}"),
        rng.pick(&["arp", "arp", "rarp"]).into(),
        rng.pick(&["", "", "in_port=1"]).into(),
        rng.pick(&["", "", "arp_op=1", "arp_op=2"]).into(),
        rng.pick(&["", "arp_spa=10.0.0.1", "arp_spa=10.0.0.0/8"])
            .into(),
        rng.pick(&["", "arp_tpa=10.0.0.2", "arp_tpa=10.0.0.0/255.0.0.255"])
            .into(),
        rng.pick(&[
            "",
            "",
            "arp_sha=02:00:00:00:00:01",
            "arp_sha=02:00:00:00:00:00/ff:ff:ff:00:00:00",
            "arp_sha=01:00:00:00:00:00/01:00:00:00:00:00",
        ])
        .into(),
        rng.pick(&[
            "",
            "",
            "arp_tha=00:00:00:00:00:00",
            "arp_tha=02:00:00:00:00:02/ff:ff:ff:ff:ff:fe",
        ])
        .into(),
        format!(
            "actions={}",
            rng.pick(&["drop", "output:1", "output:2", "output:3"])
        ),
    ];
    let line: Vec<String> = parts.into_iter().filter(|s| !s.is_empty()).collect();
    let line = line.join(",");
    parse_rule(&line).unwrap_or_else(|e| panic!("{line}: {e}"))
}

/// A random ARP or RARP packet from pools that hit and miss [`random_arp_rule`]'s values.
fn random_arp_packet(rng: &mut Prng) -> FlowKey {
    let mac = |b: [u8; 6]| MacAddr(b);
    FlowKey {
        in_port: PortNo(rng.pick_n(&[1u16, 2, 3])),
        dl_type: EtherType(rng.pick_n(&[0x0806u16, 0x0806, 0x8035])),
        dl_src: MacAddr([2, 0, 0, 0, 0, 1]),
        dl_dst: MacAddr::BROADCAST,
        nw_proto: rng.pick_n(&[1u8, 2, 3, 4]),
        nw_src: rng.pick_n(&[0x0a00_0001u128, 0x0a00_0005, 0x0b00_0001]),
        nw_dst: rng.pick_n(&[0x0a00_0002u128, 0x0a09_0902, 0x0b00_0002]),
        arp_sha: mac(rng.pick_n(&[
            [2u8, 0, 0, 0, 0, 1],
            [2, 0, 0, 0, 0, 7],
            [3, 0, 0, 0, 0, 1],
            [2, 0, 1, 0, 0, 1],
        ])),
        arp_tha: mac(rng.pick_n(&[
            [0u8, 0, 0, 0, 0, 0],
            [2, 0, 0, 0, 0, 2],
            [2, 0, 0, 0, 0, 3],
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        ])),
        ..FlowKey::default()
    }
}

#[test]
fn arp_rules_on_every_arp_field_agree_with_open_vswitch() {
    let Some(mut ovs) = Ovs::start(&[1, 2, 3]) else {
        return;
    };
    let mut rng = Prng(0xa4b0_5a11_7ab1_0018);
    let (sets, per_set) = (12, 150);
    let (mut matched, mut hinged) = (0usize, 0usize);
    for set in 0..sets {
        let n = 6 + usize::try_from(rng.next() % 12).unwrap();
        let prios = distinct_priorities(&mut rng, n);
        let rules: Vec<Rule> = (0..n)
            .map(|i| random_arp_rule(&mut rng, prios[i], u64::try_from(i).unwrap() + 1))
            .collect();
        ovs.load(&rules);
        let linear: LinearClassifier = from_rules(&rules);
        let tree: SplitTree = from_rules(&rules);
        for _ in 0..per_set {
            let k = random_arp_packet(&mut rng);
            let packet = describe_packet(&k);
            let want = expected(&rules, &linear, &tree, &k);
            let got = ovs.trace(&packet);
            assert_eq!(got, want, "set {set}, packet {packet}");
            matched += usize::from(want.rule.is_some());
            // Packets whose decision the hardware addresses change (the card's key could not).
            let blind = FlowKey {
                arp_sha: MacAddr::ZERO,
                arp_tha: MacAddr::ZERO,
                ..k
            };
            hinged += usize::from(expected(&rules, &linear, &tree, &blind) != want);
        }
    }
    println!(
        "ARP: {sets} rule sets x {per_set} packets, {matched} matched a rule, {hinged} decided \
         by arp_sha/arp_tha, all as Open vSwitch"
    );
    assert!(matched > sets * per_set / 5, "{matched}");
    assert!(hinged > sets * per_set / 20, "{hinged}");
}

#[test]
fn ovs_ofctl_normalization_is_ours_and_every_dropped_field_is_reported() {
    let Some(ovs) = Ovs::start(&[1, 2, 3]) else {
        return;
    };
    let flows = [
        "nw_src=1.2.3.4,actions=drop",
        "nw_dst=10.0.0.0/8,nw_tos=4,actions=output:2",
        "tp_dst=80,actions=drop",
        "tp_src=53,tp_dst=53,in_port=1,actions=drop",
        "ip,tp_dst=80,actions=drop",
        "ip,nw_tos=4,tp_dst=80,actions=drop",
        "nw_proto=6,tp_dst=80,actions=drop",
        "dl_type=0x0800,nw_proto=47,tp_dst=80,actions=drop",
        "ipv6,ipv6_src=::1,tp_dst=5,actions=drop",
        "arp_op=1,actions=drop",
        "arp,nw_proto=2,tp_src=3,actions=drop",
        "dl_src=00:00:00:00:00:01,nw_src=1.1.1.1,nw_dst=2.2.2.2,actions=drop",
        "in_port=2,dl_type=0x1234,nw_src=1.1.1.1,actions=drop",
        "tcp,tp_dst=80,actions=drop",
        "icmp,icmp_type=8,actions=drop",
        "udp,nw_src=10.0.0.0/8,actions=drop",
        "arp_sha=00:11:22:33:44:55,actions=drop",
        "ip,arp_tha=01:00:00:00:00:00/01:00:00:00:00:00,actions=drop",
        "rarp,arp_sha=00:11:22:33:44:55/ff:ff:ff:00:00:00,arp_spa=10.0.0.0/8,actions=drop",
        "dl_type=0x8035,arp_op=3,arp_tpa=10.0.0.1,actions=drop",
        "arp,arp_tha=02:00:00:00:00:02/ff:ff:ff:ff:ff:fe,arp_tpa=10.0.0.0/255.0.0.255,actions=drop",
    ];
    let mut dropped = 0;
    for flow in flows {
        let text = format!("{flow}\n");
        let loaded =
            flow_setup::ruleset::RuleSet::load_text(std::path::Path::new("t.rules"), &text, None);
        assert!(loaded.errors.is_empty(), "{flow}: {:?}", loaded.errors);
        let ours = &loaded.rules[0];
        let theirs = ovs_normalized(&ovs, flow);
        assert_eq!(
            ours.pattern, theirs.pattern,
            "{flow}: ours {ours}, OVS {theirs}"
        );
        // A warning for each field written that OVS did not keep, and for nothing else.
        let written = flow_setup::ofctl::parse_rule_normalized_at(flow, 1)
            .unwrap()
            .1;
        assert_eq!(written.len(), loaded.warnings.len());
        let strict = flow_setup::ofctl::parse_match_at(
            flow.trim_end_matches(|c| c != ',').trim_end_matches(','),
            1,
        );
        assert_eq!(
            loaded.warnings.is_empty(),
            strict.is_ok(),
            "{flow}: a warning exactly when a prerequisite is missing"
        );
        dropped += loaded.warnings.len();
    }
    println!(
        "normalization: {} flows, {dropped} fields dropped, same matches as ovs-ofctl",
        flows.len()
    );
    assert!(dropped >= 12, "{dropped}");
}

#[test]
fn of1_ofrules_with_implied_prerequisites_agree_with_open_vswitch() {
    let text = data("of1_1K.ofrules");
    let imported = flow_setup::classbench::parse_ofrules(&text, &[Action::Output(PortNo(2))]);
    assert!(imported.rejected.is_empty());
    let rules = imported.rules;
    let mut ports: Vec<u16> = rules
        .iter()
        .filter_map(|r| {
            r.pattern
                .get(flow_setup::rule::Field::InPort)
                .exact_value(flow_setup::rule::Field::InPort)
        })
        .map(|p| u16::try_from(p).unwrap())
        .chain([1, 2])
        .collect();
    ports.sort_unstable();
    ports.dedup();
    let Some(mut ovs) = Ovs::start(&ports) else {
        return;
    };
    ovs.load(&to_openflow(&rules));
    let linear: LinearClassifier = from_rules(&rules);
    let tree: SplitTree = from_rules(&rules);
    let (mut hits, mut matched) = (0, 0);
    for r in &rules {
        // A packet with the rule's values (the low end of each prefix), in_port 1 if free.
        let mut p = Point::default();
        for f in flow_setup::rule::Field::ALL {
            p.0[f.index()] = r.pattern.get(f).hull(f).0;
        }
        if r.pattern.get(flow_setup::rule::Field::InPort).is_any() {
            p.0[flow_setup::rule::Field::InPort.index()] = 1;
        }
        let k = p.to_key();
        let desc = describe_packet(&k);
        let got = ovs.trace(&desc);
        let want = expected(&rules, &linear, &tree, &k);
        hits += usize::from(want.rule == Some((r.cookie, r.priority)));
        matched += usize::from(want.rule.is_some());
        assert_eq!(got, want, "of1_1K.ofrules rule {r}, packet {desc}");
    }
    println!(
        "of1_1K.ofrules: {} rules from 773 lines, a packet each, {matched} matched a rule, \
         {hits} their own (the rest an earlier, wider line), 0 disagreements",
        rules.len()
    );
    // Every packet carries its rule's values, so every one matches some rule.
    assert_eq!(matched, rules.len());
    assert!(hits > 0);
}

#[test]
fn ipv6_classbench_set_agrees_with_open_vswitch() {
    let rules = parse_filters(&data("ipv6_acl_200"), &[Action::Output(PortNo(2))]).unwrap();
    let Some(mut ovs) = Ovs::start(&[1, 2]) else {
        return;
    };
    let exported = to_openflow(&rules);
    let text: String = exported.iter().map(|r| format!("{r}\n")).collect();
    assert!(text.contains("ipv6_src=") && text.contains("ipv6_dst="));
    ovs.load(&exported);
    let linear: LinearClassifier = from_rules(&rules);
    let tree: SplitTree = from_rules(&rules);
    let packets = crate::classbench_tests::packets_at_rule_corners(&rules);
    let mut own = 0;
    for (i, k) in packets.iter().enumerate() {
        let desc = describe_packet(k);
        let got = ovs.trace(&desc);
        let want = expected(&rules, &linear, &tree, k);
        let r = &rules[i / 2];
        own += usize::from(want.rule == Some((r.cookie, r.priority)));
        assert_eq!(got, want, "ipv6_acl_200, packet {desc}");
    }
    println!(
        "ipv6_acl_200: {} OpenFlow rules from {} filters, {} packets ({own} decided by the rule \
         they were made from), 0 disagreements",
        exported.len(),
        rules.len(),
        packets.len()
    );
    assert!(own * 2 > packets.len(), "{own}");
}
