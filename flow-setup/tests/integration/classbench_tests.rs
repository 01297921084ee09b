//! ClassBench and ClassBench-ng imports over the real fixtures.

use flow_setup::classbench::{parse_filters, parse_ofrules, parse_trace_gz, to_openflow};
use flow_setup::rule::{Field, FieldMatch};

use crate::data;

#[test]
fn classbench_rule_sets_import_with_ranges_kept() {
    let acl = parse_filters(&data("acl1_10K"), &[]).unwrap();
    assert_eq!(acl.len(), 9825);
    assert_eq!(acl[0].cookie, 0);
    assert_eq!(acl[0].priority, 9825);
    assert_eq!(acl[9824].priority, 1);
    assert_eq!(
        acl[0].to_string(),
        "priority=9825,tcp,nw_src=170.67.65.224,nw_dst=102.72.244.142,tp_dst=1521,actions=drop"
    );
    let fw = parse_filters(&data("fw1_10K"), &[]).unwrap();
    assert_eq!(fw.len(), 9362);
    let ranges = fw
        .iter()
        .filter(|r| matches!(r.pattern.get(Field::TpDst), FieldMatch::Range { .. }))
        .count();
    assert!(ranges > 0, "fw1 has port ranges, kept as ranges");
    // Export to OpenFlow: every range becomes prefixes, same cookie and priority.
    let of = to_openflow(&fw);
    assert!(of.len() > fw.len());
    assert!(of
        .iter()
        .all(|r| !matches!(r.pattern.get(Field::TpDst), FieldMatch::Range { .. })));
}

#[test]
fn classbench_traces_import() {
    let t = parse_trace_gz(&data_bytes("acl1_10K_trace.gz")).unwrap();
    assert!(t.len() > 8000, "{}", t.len());
    assert!(t.iter().all(|h| h.filter_index < 9825));
}

#[test]
fn of1_ofrules_loads_every_line_with_its_implied_prerequisites() {
    let text = data("of1_1K.ofrules");
    let imp = parse_ofrules(&text, &[]);
    assert!(imp.rejected.is_empty(), "{:?}", imp.rejected.first());
    // 13 lines set ports without a protocol: each is three rules (tcp, udp, sctp).
    assert_eq!(imp.rules.len(), 773 + 2 * 13);
    let mut by_cookie: std::collections::BTreeMap<u64, Vec<&flow_setup::rule::Rule>> =
        Default::default();
    for r in &imp.rules {
        by_cookie.entry(r.cookie).or_default().push(r);
    }
    assert_eq!(by_cookie.len(), 773);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let (mut tripled, mut ipv4_implied) = (0, 0);
    for (cookie, rules) in &by_cookie {
        let line = lines[usize::try_from(*cookie).unwrap()];
        let ports = line.contains("tp_");
        if ports && !line.contains("nw_proto") {
            tripled += 1;
            let protos: Vec<_> = rules
                .iter()
                .map(|r| r.pattern.get(Field::NwProto).exact_value(Field::NwProto))
                .collect();
            assert_eq!(protos, [Some(6), Some(17), Some(132)], "{line}");
        } else {
            assert_eq!(rules.len(), 1, "{line}");
        }
        if line.contains("nw_") && !line.contains("eth_type") {
            ipv4_implied += 1;
        }
        for r in rules {
            assert_eq!(r.priority, u16::try_from(773 - cookie).unwrap());
            if line.contains("nw_") || ports {
                assert_eq!(
                    r.pattern.get(Field::DlType).exact_value(Field::DlType),
                    Some(0x0800),
                    "{line}"
                );
            }
        }
    }
    // 208 lines set addresses without eth_type, and so do the 13 port-only ones.
    assert_eq!((tripled, ipv4_implied), (13, 221));
}

pub fn data_bytes(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../tests/data/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// Packets that hit `rules`: for each rule, its lowest and highest values in every field, with
/// a protocol that has the rule's ports (TCP where it allows any) and 8-bit ICMPv6 type/code.
pub fn packets_at_rule_corners(rules: &[flow_setup::rule::Rule]) -> Vec<nic_abi::key::FlowKey> {
    use flow_setup::rule::Point;
    let mut out = Vec::new();
    for r in rules {
        for high in [false, true] {
            let mut p = Point::default();
            for f in Field::ALL {
                let (lo, hi) = r.pattern.get(f).hull(f);
                p.0[f.index()] = if high { hi } else { lo };
            }
            p.0[Field::InPort.index()] = 1;
            p.0[Field::DlSrc.index()] = 0;
            p.0[Field::DlDst.index()] = 0;
            p.0[Field::VlanTci.index()] = 0;
            p.0[Field::NwTos.index()] = 0;
            if r.pattern.get(Field::NwProto).is_any() {
                p.0[Field::NwProto.index()] = 6;
            }
            if p.0[Field::NwProto.index()] == 58 {
                p.0[Field::TpSrc.index()] &= 0xff;
                p.0[Field::TpDst.index()] &= 0xff;
            }
            out.push(p.to_key());
        }
    }
    out
}

#[test]
fn ipv6_classbench_set_loads_and_classifies_as_the_linear_reference() {
    use flow_setup::classifier::{from_rules, Classifier, LinearClassifier, SplitTree};
    use flow_setup::rule::Point;
    let rules = parse_filters(&data("ipv6_acl_200"), &[]).unwrap();
    assert_eq!(rules.len(), 200);
    assert!(rules
        .iter()
        .all(|r| r.pattern.get(Field::DlType).exact_value(Field::DlType) == Some(0x86dd)));
    assert_eq!(
        rules[0].to_string(),
        "priority=200,tcp6,ipv6_src=fe99:2dff::/32,ipv6_dst=febe:c210:8637:196c:1b23:2228:2f35:fde6,\
         tp_src=1024-65535,tp_dst=22,actions=drop"
    );
    let linear: LinearClassifier = from_rules(&rules);
    let tree: SplitTree = from_rules(&rules);
    let packets = packets_at_rule_corners(&rules);
    let mut matched = 0;
    for k in &packets {
        let p = Point::from(k);
        let want = linear.lookup(&p);
        assert_eq!(tree.lookup(&p), want, "{k:?}");
        matched += usize::from(want.is_some());
    }
    assert_eq!(
        matched,
        packets.len(),
        "every corner packet matches its rule or an earlier one"
    );
    // A family mix on one line is refused, naming where.
    let e = parse_filters(
        "@2001:db8::/32\t10.0.0.0/8\t0 : 65535\t0 : 65535\t0x06/0xFF\t0x0000/0x0000\n",
        &[],
    )
    .unwrap_err();
    assert!(e.to_string().contains("column 16"), "{e}");
    assert!(e.to_string().contains("both IPv4 or both IPv6"), "{e}");
}
