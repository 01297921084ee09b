//! The fast classifier against the linear reference: random rule sets from small value
//! pools, and the ClassBench traces.

use flow_setup::classbench::{parse_filters, parse_trace_gz};
use flow_setup::classifier::{from_rules, Classifier, LinearClassifier, SplitTree};
use flow_setup::rule::Point;

use crate::classbench_tests::data_bytes;
use crate::data;

fn trace_agreement(rules_file: &str, trace_file: &str) {
    let rules = parse_filters(&data(rules_file), &[]).unwrap();
    let linear: LinearClassifier = from_rules(&rules);
    let mut tree = SplitTree::new();
    tree.bulk_insert(
        rules
            .iter()
            .enumerate()
            .map(|(i, r)| (flow_setup::classifier::rule_id(i), r.priority, &r.pattern)),
    )
    .unwrap();
    println!("{rules_file}: {:?}", tree.stats());
    tree.check_invariants().unwrap();
    let trace = parse_trace_gz(&data_bytes(trace_file)).unwrap();
    let mut matched = 0;
    for h in &trace {
        let p = Point::from(&h.key);
        let want = linear.lookup(&p);
        assert_eq!(tree.lookup(&p), want, "{:?}", h);
        assert_eq!(tree.lookup_key(&h.key), want, "{:?}", h);
        let l = tree.lookup_megaflow(&p);
        assert_eq!(l.rule, want);
        if let Some(id) = want {
            matched += 1;
            assert!(id.0 as usize <= h.filter_index, "first match after its filter");
        }
    }
    println!("{trace_file}: {} headers, {matched} matched, 100% agreement", trace.len());
}

#[test]
fn acl1_10k_trace_agrees_with_linear() {
    trace_agreement("acl1_10K", "acl1_10K_trace.gz");
}

#[test]
fn fw1_10k_trace_agrees_with_linear() {
    trace_agreement("fw1_10K", "fw1_10K_trace.gz");
}

mod differential {
    use flow_setup::classifier::{Classifier, LinearClassifier, SplitTree};
    use flow_setup::rule::{FieldMatch, Match, MatchBuilder, Point, RuleId, FIELD_COUNT};
    use nic_abi::key::{EtherType, FlowKey, MacAddr, PortNo, VlanTci};
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// Small pools, so that rules overlap and packets hit them.
    fn match_strategy() -> impl Strategy<Value = Match> {
        (
            0u8..4,  // l3: any, ip, ipv6, arp
            0u8..5,  // l4: none, tcp, udp, icmp, sctp
            0u8..6,  // src
            0u8..4,  // dst
            0u8..7,  // tp_src
            0u8..7,  // tp_dst
            0u8..5,  // vlan
            (0u8..3, 0u8..3, 0u8..3), // in_port, dl_dst, nw_tos
        )
            .prop_map(|(l3, l4, src, dst, tps, tpd, vlan, (port, mac, tos))| {
                let mut b = MatchBuilder::new();
                b = match port {
                    1 => b.in_port(PortNo(1)),
                    2 => b.in_port(PortNo(2)),
                    _ => b,
                };
                b = match mac {
                    1 => b.dl_dst_masked(MacAddr([1, 0, 0, 0, 0, 0]), MacAddr([1, 0, 0, 0, 0, 0])),
                    2 => b.dl_dst(MacAddr([2, 0, 0, 0, 0, 1])),
                    _ => b,
                };
                b = match vlan {
                    1 => b.no_vlan(),
                    2 => b.dl_vlan(5),
                    3 => b.dl_vlan_pcp(3),
                    4 => b.dl_vlan(5).dl_vlan_pcp(0),
                    _ => b,
                };
                let v6 = l3 == 2;
                b = match (l3, l4) {
                    (1, 1) => b.tcp(),
                    (1, 2) => b.udp(),
                    (1, 3) => b.icmp(),
                    (1, 4) => b.ip().nw_proto(132),
                    (1, _) => b.ip(),
                    (2, 1) => b.tcp6(),
                    (2, 2) => b.udp6(),
                    (2, 3) => b.icmp6(),
                    (2, _) => b.ipv6(),
                    (3, _) => b.arp(),
                    _ => b,
                };
                if l3 != 0 {
                    b = match (v6, src) {
                        (false, 1) => b.nw_src(Ipv4Addr::new(10, 0, 0, 0), 8),
                        (false, 2) => b.nw_src(Ipv4Addr::new(10, 1, 0, 0), 16),
                        (false, 3) => b.nw_src(Ipv4Addr::new(10, 1, 2, 3), 32),
                        (false, 4) => b.nw_src_masked(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(255, 0, 0, 255)),
                        (false, 5) => b.nw_src(Ipv4Addr::new(128, 0, 0, 0), 1),
                        (true, 1 | 2) => b.ipv6_src("2001:db8::".parse::<Ipv6Addr>().unwrap(), 32),
                        (true, 3) => b.ipv6_src("2001:db8::1".parse::<Ipv6Addr>().unwrap(), 128),
                        _ => b,
                    };
                    b = match (v6, dst) {
                        (false, 1) => b.nw_dst(Ipv4Addr::new(192, 168, 0, 0), 16),
                        (false, 2) => b.nw_dst(Ipv4Addr::new(192, 168, 1, 1), 32),
                        (true, 1) => b.ipv6_dst("fe80::".parse::<Ipv6Addr>().unwrap(), 10),
                        _ => b,
                    };
                    if l3 != 3 {
                        b = match tos {
                            1 => b.nw_tos(0),
                            2 => b.nw_tos(4),
                            _ => b,
                        };
                    }
                }
                if (l3 == 1 && l4 != 0) || (l3 == 2 && (1..=3).contains(&l4)) {
                    b = match tps {
                        1 => b.tp_src(80),
                        2 => b.tp_src_range(1000, 2000),
                        3 => b.tp_src_masked(0x50, 0xfff0),
                        4 => b.tp_src_range(0, 1023),
                        5 => b.tp_src(0),
                        _ => b,
                    };
                    b = match tpd {
                        1 => b.tp_dst(80),
                        2 => b.tp_dst_range(80, 90),
                        3 => b.tp_dst_masked(0x0100, 0xff00),
                        4 => b.tp_dst_range(1024, 65535),
                        5 => b.tp_dst(3),
                        _ => b,
                    };
                }
                b.build().unwrap()
            })
    }

    fn key_strategy() -> impl Strategy<Value = FlowKey> {
        (
            prop::sample::select(vec![0x0800u16, 0x86dd, 0x0806, 0x1234]),
            prop::sample::select(vec![6u8, 17, 1, 58, 132, 2]),
            prop::sample::select(vec![
                0x0a01_0203u128,
                0x0a00_0001,
                0x0a01_0000,
                0x0aff_0001,
                0x8000_0001,
                0xc0a8_0101,
                0x2001_0db8_0000_0000_0000_0000_0000_0001,
                0x2001_0db8_0000_0000_0000_0000_0000_0002,
                0,
            ]),
            prop::sample::select(vec![0xc0a8_0101u128, 0xc0a8_0202, 0x0a00_0001, 0xfe80 << 112, 0]),
            prop::sample::select(vec![0u16, 80, 81, 85, 90, 91, 1000, 1500, 2000, 2001, 1023, 1024, 3, 0x0150, 65535]),
            prop::sample::select(vec![0u16, 80, 85, 90, 1024, 3, 0x0150, 0x0250, 65535]),
            prop::sample::select(vec![VlanTci::NONE, VlanTci::new(5, 3), VlanTci::new(5, 0), VlanTci::new(6, 3)]),
            (1u16..4, prop::sample::select(vec![[2u8, 0, 0, 0, 0, 1], [1, 0, 0, 0, 0, 2], [0; 6]]), prop::sample::select(vec![0u8, 4, 5, 8])),
        )
            .prop_map(|(t, proto, src, dst, sp, dp, vlan, (port, mac, tos))| FlowKey {
                in_port: PortNo(port),
                dl_type: EtherType(t),
                nw_proto: proto,
                nw_src: src,
                nw_dst: dst,
                tp_src: sp,
                tp_dst: dp,
                vlan,
                dl_dst: MacAddr(mac),
                nw_tos: tos,
                ..FlowKey::default()
            })
    }

    /// A packet that agrees with `p` on the mask and takes the rest from `r`.
    fn blend(p: &Point, r: &Point, mask: &[u128; FIELD_COUNT]) -> Point {
        let mut q = *p;
        for i in 0..FIELD_COUNT {
            q.0[i] = (p.0[i] & mask[i]) | (r.0[i] & !mask[i]);
        }
        q
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn tree_agrees_with_linear_through_updates(
            rules in prop::collection::vec((match_strategy(), 1u16..4), 1..80),
            removals in prop::collection::vec(any::<prop::sample::Index>(), 0..30),
            keys in prop::collection::vec(key_strategy(), 1..40),
            others in prop::collection::vec(key_strategy(), 4),
        ) {
            let mut linear = LinearClassifier::new();
            let mut tree = SplitTree::new();
            for (i, (m, prio)) in rules.iter().enumerate() {
                let id = RuleId(i as u32);
                linear.insert(id, *prio, m).unwrap();
                tree.insert(id, *prio, m).unwrap();
            }
            tree.check_invariants().map_err(TestCaseError::fail)?;
            let check = |linear: &LinearClassifier, tree: &SplitTree| -> Result<(), TestCaseError> {
                for k in &keys {
                    let p = Point::from(k);
                    let want = linear.lookup(&p);
                    prop_assert_eq!(tree.lookup(&p), want);
                    prop_assert_eq!(tree.lookup_key(k), want);
                    for lk in [tree.lookup_megaflow(&p), linear.lookup_megaflow(&p)] {
                        prop_assert_eq!(lk.rule, want);
                        // Any packet agreeing on the megaflow bits gets the same decision.
                        for o in &others {
                            let q = blend(&p, &Point::from(o), &lk.megaflow.0);
                            prop_assert_eq!(linear.lookup(&q), want, "megaflow {}", lk.megaflow);
                        }
                        // Flipping every unmasked bit too.
                        let mut inv = p;
                        for i in 0..FIELD_COUNT { inv.0[i] ^= !lk.megaflow.0[i] & flow_setup::rule::Field::ALL[i].full_mask(); }
                        prop_assert_eq!(linear.lookup(&inv), want, "megaflow {}", lk.megaflow);
                    }
                }
                Ok(())
            };
            check(&linear, &tree)?;
            for ix in &removals {
                let id = RuleId(ix.index(rules.len()) as u32);
                let a = linear.remove(id);
                let b = tree.remove(id);
                prop_assert_eq!(a.is_ok(), b.is_ok());
            }
            tree.check_invariants().map_err(TestCaseError::fail)?;
            check(&linear, &tree)?;
            let mut rebuilt = tree.clone();
            rebuilt.rebuild();
            rebuilt.check_invariants().map_err(TestCaseError::fail)?;
            check(&linear, &rebuilt)?;
        }
    }

    #[test]
    fn range_megaflow_is_a_prefix_inside_the_range() {
        let m = MatchBuilder::new().tcp().tp_dst_range(1000, 2000).build().unwrap();
        let mut c = LinearClassifier::new();
        c.insert(RuleId(0), 1, &m).unwrap();
        let k = FlowKey { dl_type: EtherType::IPV4, nw_proto: 6, tp_dst: 1500, ..FlowKey::default() };
        let l = c.lookup_megaflow(&Point::from(&k));
        assert_eq!(l.rule, Some(RuleId(0)));
        // 1500 = 0x5dc; the block 1024..=1535 (mask 0xfe00) lies inside 1000..=2000.
        assert_eq!(l.megaflow.get(flow_setup::rule::Field::TpDst), 0xfe00);
        let _ = FieldMatch::Any;
    }
}
