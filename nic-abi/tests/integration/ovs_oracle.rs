//! Oracle test: the software profile's fields against a real Open vSwitch's `flow_extract`.
//!
//! Starts a private `ovsdb-server` + `ovs-vswitchd` (the userspace datapath with dummy
//! devices, so no tap device is created and other Open vSwitch instances do not collide; a port,
//! `vlan-limit=2` so both QinQ tags are kept, as in our key) and runs `ofproto/trace` on every
//! frame of the two differential captures over one unixctl JSON-RPC connection; the trace's
//! `Flow:` line is OVS's extracted flow. Every field the key holds must be equal (the class,
//! which OVS has no notion of, excepted). Frames over 64 KiB are not sent: `ovs-vswitchd` 3.1
//! exits on them. When Open vSwitch is not installed a plain `cargo test` says so and skips;
//! under `./test.sh` (which installs it) that is a failure.

use std::net::Ipv4Addr;

use external_oracles::ovs::{DatapathType, OvsConfig, PrivateOvs, Unixctl};
use external_oracles::programs;
use nic_abi::key::{EtherType, FlowKey, FragFlags, MacAddr, PortNo, VlanTci};
use nic_abi::parse::parse_software;

use crate::capture::ethernet_frames;
use crate::etherparse_oracle::differing_fields;

/// Frames larger than this are not traced (OVS packet sizes are 16-bit).
const MAX_TRACED_FRAME: usize = 0xffff;

/// The key fields of an `ofproto/trace` `Flow:` line (ovs-ofctl match syntax).
fn ovs_flow_key(flow: &str) -> FlowKey {
    let mut k = FlowKey {
        in_port: PortNo(1),
        ..FlowKey::default()
    };
    let (mut vid, mut pcp, mut vid1, mut pcp1) = (None, 0, None, 0);
    let num = |v: &str| -> u64 {
        v.strip_prefix("0x").map_or_else(
            || v.parse().unwrap(),
            |h| u64::from_str_radix(h, 16).unwrap(),
        )
    };
    let v4 = |v: &str| u128::from(u32::from(v.parse::<Ipv4Addr>().unwrap()));
    let v6 = |v: &str| u128::from(v.parse::<std::net::Ipv6Addr>().unwrap());
    for token in flow.split(',') {
        let Some((field, value)) = token.split_once('=') else {
            let (dl_type, proto) = match token {
                "ip" => (0x0800, 0),
                "ipv6" => (0x86dd, 0),
                "arp" => (0x0806, 0),
                "rarp" => (0x8035, 0),
                "tcp" => (0x0800, 6),
                "udp" => (0x0800, 17),
                "icmp" => (0x0800, 1),
                "igmp" => (0x0800, 2),
                "sctp" => (0x0800, 132),
                "tcp6" => (0x86dd, 6),
                "udp6" => (0x86dd, 17),
                "icmp6" => (0x86dd, 58),
                "sctp6" => (0x86dd, 132),
                "mpls" => (0x8847, 0),
                "mplsm" => (0x8848, 0),
                other => panic!("unknown protocol keyword {other:?} in {flow}"),
            };
            k.dl_type = EtherType(dl_type);
            k.nw_proto = proto;
            continue;
        };
        let narrow = |v: u64| u16::try_from(v).unwrap();
        match field {
            "dl_src" => k.dl_src = value.parse::<MacAddr>().unwrap(),
            "dl_dst" => k.dl_dst = value.parse::<MacAddr>().unwrap(),
            "arp_sha" => k.arp_sha = value.parse::<MacAddr>().unwrap(),
            "arp_tha" => k.arp_tha = value.parse::<MacAddr>().unwrap(),
            "dl_type" => k.dl_type = EtherType(narrow(num(value))),
            "dl_vlan" => vid = Some(narrow(num(value))),
            "dl_vlan_pcp" => pcp = u8::try_from(num(value)).unwrap(),
            "dl_vlan1" => vid1 = Some(narrow(num(value))),
            "dl_vlan_pcp1" => pcp1 = u8::try_from(num(value)).unwrap(),
            "vlan_tci" => k.vlan = VlanTci(narrow(num(value))),
            "vlan_tci1" => k.inner_vlan = VlanTci(narrow(num(value))),
            "nw_src" | "arp_spa" => k.nw_src = v4(value),
            "nw_dst" | "arp_tpa" => k.nw_dst = v4(value),
            "ipv6_src" => k.nw_src = v6(value),
            "ipv6_dst" => k.nw_dst = v6(value),
            "nw_proto" | "arp_op" => k.nw_proto = u8::try_from(num(value)).unwrap(),
            "nw_tos" | "nw_ecn" => k.nw_tos |= u8::try_from(num(value)).unwrap(),
            "nw_frag" => {
                k.frag = match value {
                    "no" => FragFlags::NONE,
                    "first" => FragFlags::FIRST,
                    "later" => FragFlags::LATER,
                    other => panic!("nw_frag={other}"),
                }
            }
            "tp_src" | "icmp_type" | "icmpv6_type" => k.tp_src = narrow(num(value)),
            "tp_dst" | "icmp_code" | "icmpv6_code" => k.tp_dst = narrow(num(value)),
            _ => {}
        }
    }
    if let Some(vid) = vid {
        k.vlan = VlanTci::new(vid, pcp);
    }
    if let Some(vid) = vid1 {
        k.inner_vlan = VlanTci::new(vid, pcp1);
    }
    k
}

/// Traces every frame of `file` (up to 64 KiB); returns how many were compared and skipped.
fn compare_with_ovs(ctl: &mut Unixctl, file: &str) -> (usize, usize) {
    let (mut compared, mut skipped) = (0, 0);
    for (i, frame) in ethernet_frames(file).iter().enumerate() {
        if frame.len() > MAX_TRACED_FRAME {
            skipped += 1;
            continue;
        }
        let hex: String = frame.iter().map(|b| format!("{b:02x}")).collect();
        let trace = ctl
            .call("ofproto/trace", &["br0", "in_port=1", &hex])
            .unwrap_or_else(|e| panic!("{file} packet {i}: {e}"));
        let flow = trace
            .lines()
            .find_map(|l| l.strip_prefix("Flow: "))
            .unwrap_or_else(|| panic!("{file} packet {i}: no Flow line in {trace}"));
        let theirs = ovs_flow_key(flow);
        let ours = parse_software(frame, PortNo(1));
        let d = differing_fields(&ours, &theirs);
        assert!(
            d.is_empty(),
            "{file} packet {i}: fields {d:?} differ from OVS\n ours {ours:?}\n OVS  {flow}"
        );
        compared += 1;
    }
    (compared, skipped)
}

#[test]
fn software_profile_fields_equal_ovs_flow_extract() {
    if !programs::require(&programs::OPEN_VSWITCH).unwrap() {
        return;
    }
    let ovs = PrivateOvs::start(&OvsConfig {
        ports: vec![1],
        datapath: DatapathType::Dummy,
        vlan_limit: Some(2),
    })
    .unwrap();
    let mut ctl = ovs.unixctl().unwrap();
    assert_eq!(
        compare_with_ovs(&mut ctl, "mix_zeek_sv_tcpdump_k8.pcap.gz"),
        (33_397, 17)
    );
    assert_eq!(
        compare_with_ovs(&mut ctl, "pcapparser_wireshark_samples-test.pcapng"),
        (5_898, 0)
    );
}
