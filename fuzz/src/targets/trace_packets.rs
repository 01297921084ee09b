//! Packet descriptions on `snich rules trace` standard input (ovs-ofctl match syntax, one per
//! line), traced through a small rule set. Nothing may panic; an error names its line; every
//! packet's description (the `flow` the trace prints) reads back to the same packet; the
//! decision tree and the linear reference classify every packet alike.

use flow_setup::classifier::{from_rules, Classifier, LinearClassifier, SplitTree};
use flow_setup::ofctl::{describe_packet, parse_rules};
use flow_setup::rule::Point;
use nic_abi::key::PortNo;
use sim_harness::rules_cli::{load_packets, packet_from_description, trace};

/// The rules every input is traced through: a few of each kind of match.
const RULES: &str = "\
priority=300,in_port=1,tcp,nw_src=192.0.2.0/24,nw_dst=10.1.0.0/16,tp_dst=80,actions=output:2
priority=200,udp,nw_dst=8.8.8.8,udp_dst=53,actions=output:3
priority=150,ipv6,ipv6_dst=2001:db8::/32,actions=output:4
priority=120,dl_vlan=10,actions=strip_vlan,output:5
priority=110,arp,arp_op=1,actions=flood
priority=100,tcp,tp_dst=1000-2000,actions=drop
priority=0,actions=controller
";

/// Runs the input.
pub fn run(data: &[u8]) {
    let rules = match parse_rules(RULES) {
        Ok(r) => r,
        Err(e) => panic!("the target's own rules: {e}"),
    };
    let mut stdin = data;
    let packets = match load_packets("-", None, PortNo(1), &mut stdin) {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => {
            assert!(
                e.starts_with("<stdin>:"),
                "a packet description error does not name its line: {e}"
            );
            return;
        }
        Err(e) => panic!("reading standard input from memory failed: {e}"),
    };
    let tree: SplitTree = from_rules(&rules);
    let linear: LinearClassifier = from_rules(&rules);
    for key in &packets {
        let described = describe_packet(key);
        match packet_from_description(&described, 1) {
            Ok(again) => assert_eq!(
                &again, key,
                "the packet's description `{described}` reads back differently"
            ),
            Err(e) => panic!("the packet's own description `{described}` does not read: {e}"),
        }
        let point = Point::from(key);
        assert_eq!(
            tree.lookup(&point),
            linear.lookup(&point),
            "the tree and the linear reference disagree on `{described}`"
        );
    }
    let mut out = Vec::new();
    if let Err(e) = trace(&rules, &packets, &mut out) {
        panic!("trace into memory failed: {e}");
    }
}
