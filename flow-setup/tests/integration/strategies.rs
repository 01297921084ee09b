//! proptest strategies shared by the test modules: matches and packets from small value
//! pools, so that random rules overlap and random packets hit them.

use std::net::{Ipv4Addr, Ipv6Addr};

use flow_setup::rule::{Action, Match, MatchBuilder, Rule};
use nic_abi::key::{EtherType, FlowKey, MacAddr, PortNo, VlanTci};
use proptest::prelude::*;

/// Small pools, so that rules overlap and packets hit them.
pub fn match_strategy() -> impl Strategy<Value = Match> {
    (
        0u8..4,                   // l3: any, ip, ipv6, arp
        0u8..5,                   // l4: none, tcp, udp, icmp, sctp
        0u8..6,                   // src
        0u8..4,                   // dst
        0u8..7,                   // tp_src
        0u8..7,                   // tp_dst
        0u8..5,                   // vlan
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
                    (false, 4) => {
                        b.nw_src_masked(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(255, 0, 0, 255))
                    }
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
            if (l3 == 1 || l3 == 2) && l4 == 3 {
                // ICMP type and code are 8 bits.
                b = match tps {
                    1 => b.icmp_type(8),
                    2 => b.icmp_type(3).icmp_code(1),
                    3 => b.icmp_type(128),
                    _ => b,
                };
            } else if (l3 == 1 && l4 != 0) || (l3 == 2 && (1..=2).contains(&l4)) {
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

pub fn key_strategy() -> impl Strategy<Value = FlowKey> {
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
        prop::sample::select(vec![
            0xc0a8_0101u128,
            0xc0a8_0202,
            0x0a00_0001,
            0xfe80 << 112,
            0,
        ]),
        prop::sample::select(vec![
            0u16, 80, 81, 85, 90, 91, 1000, 1500, 2000, 2001, 1023, 1024, 3, 0x0150, 65535,
        ]),
        prop::sample::select(vec![0u16, 80, 85, 90, 1024, 3, 0x0150, 0x0250, 65535]),
        prop::sample::select(vec![
            VlanTci::NONE,
            VlanTci::new(5, 3),
            VlanTci::new(5, 0),
            VlanTci::new(6, 3),
        ]),
        (
            1u16..4,
            prop::sample::select(vec![[2u8, 0, 0, 0, 0, 1], [1, 0, 0, 0, 0, 2], [0; 6]]),
            prop::sample::select(vec![0u8, 4, 5, 8]),
        ),
    )
        .prop_map(
            |(t, proto, src, dst, sp, dp, vlan, (port, mac, tos))| FlowKey {
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
            },
        )
}

/// Random action lists (empty = drop).
pub fn actions_strategy() -> impl Strategy<Value = Vec<Action>> {
    prop::collection::vec(
        prop_oneof![
            (1u16..100).prop_map(|p| Action::Output(PortNo(p))),
            Just(Action::Normal),
            Just(Action::Flood),
            Just(Action::InPort),
            (0u16..=65535).prop_map(|m| Action::Controller { max_len: m }),
            (0u16..4096).prop_map(Action::ModVlanVid),
            Just(Action::StripVlan),
        ],
        0..4,
    )
}

/// Random rules.
pub fn rule_strategy() -> impl Strategy<Value = Rule> {
    (
        match_strategy(),
        any::<u16>(),
        any::<u64>(),
        actions_strategy(),
    )
        .prop_map(|(pattern, priority, cookie, actions)| Rule {
            priority,
            cookie,
            pattern,
            actions,
        })
}
