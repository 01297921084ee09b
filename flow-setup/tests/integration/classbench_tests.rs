//! ClassBench and ClassBench-ng imports over the real fixtures.

use flow_setup::classbench::{parse_filters, parse_ofrules, parse_trace_gz, to_openflow};
use flow_setup::ofctl::ParseErrorKind;
use flow_setup::rule::{Field, FieldMatch, MatchError};

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
fn of1_ofrules_rejects_ports_without_protocol_and_says_so() {
    let imp = parse_ofrules(&data("of1_1K.ofrules"), &[]);
    println!(
        "of1_1K.ofrules: {} rules imported, {} rejected",
        imp.rules.len(),
        imp.rejected.len()
    );
    assert_eq!(imp.rules.len() + imp.rejected.len(), 773);
    assert_eq!((imp.rules.len(), imp.rejected.len()), (552, 221));
    let mut ports_without_proto = 0;
    let mut addresses_without_ip = 0;
    for e in &imp.rejected {
        match &e.kind {
            ParseErrorKind::Match(MatchError::MissingPrerequisite { field, needs })
                if field.starts_with("tp_") =>
            {
                assert!(needs.contains("nw_proto is not set"), "{e}");
                ports_without_proto += 1;
            }
            ParseErrorKind::Match(MatchError::MissingPrerequisite { field, needs })
                if field.starts_with("nw_") =>
            {
                assert!(needs.contains("ip, ipv6 or arp"), "{e}");
                addresses_without_ip += 1;
            }
            other => panic!("unexpected rejection {other}"),
        }
    }
    println!("  {ports_without_proto} set tp_* without nw_proto, {addresses_without_ip} set nw_* without eth_type");
    assert_eq!((ports_without_proto, addresses_without_ip), (13, 208));
}

pub fn data_bytes(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../tests/data/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}
