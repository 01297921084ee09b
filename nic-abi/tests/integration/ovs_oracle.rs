//! Oracle test: the software profile's fields against a real Open vSwitch's `flow_extract`.
//!
//! Starts a private `ovsdb-server` + `ovs-vswitchd` (the userspace datapath with dummy
//! devices, so no tap device is created and other Open vSwitch instances do not collide; a port,
//! `vlan-limit=2` so both QinQ tags are kept, as in our key) and runs `ofproto/trace` on every
//! frame of the two differential captures over one unixctl JSON-RPC connection; the trace's
//! `Flow:` line is OVS's extracted flow. Every field the key holds must be equal (the class,
//! which OVS has no notion of, excepted). Frames over 64 KiB are not sent: `ovs-vswitchd` 3.1
//! exits on them. When Open vSwitch is not installed the test says so and passes (`test.sh`
//! installs it).

use std::io::Write;
use std::net::Ipv4Addr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;

use nic_abi::key::{EtherType, FlowKey, FragFlags, MacAddr, PortNo, VlanTci};
use nic_abi::parse::parse_software;
use serde_json::Value;

use crate::capture::ethernet_frames;
use crate::differential::differing_fields;

/// Frames larger than this are not traced (OVS packet sizes are 16-bit).
const MAX_TRACED_FRAME: usize = 0xffff;

/// A private Open vSwitch; stopped through its unixctl sockets when dropped.
struct PrivateOvs {
    dir: PathBuf,
}

impl PrivateOvs {
    fn run(&self, program: &str, args: &[&str]) {
        let d = &self.dir;
        let out = Command::new(program)
            .args(args)
            .env("OVS_RUNDIR", d.join("run"))
            .env("OVS_DBDIR", d.join("db"))
            .env("OVS_LOGDIR", d.join("log"))
            .env("OVS_SYSCONFDIR", d.join("etc"))
            .output()
            .unwrap_or_else(|e| panic!("running {program}: {e}"));
        assert!(
            out.status.success(),
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn path(&self, p: &str) -> String {
        self.dir.join(p).to_string_lossy().into_owned()
    }

    fn start() -> PrivateOvs {
        let dir = std::env::temp_dir().join(format!("snich-parse-ovs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["run", "db", "log", "etc"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let ovs = PrivateOvs { dir };
        let db = ovs.path("db/conf.db");
        let db_sock = format!("unix:{}", ovs.path("run/db.sock"));
        ovs.run(
            "ovsdb-tool",
            &["create", &db, "/usr/share/openvswitch/vswitch.ovsschema"],
        );
        ovs.run(
            "ovsdb-server",
            &[
                &db,
                &format!("--remote=punix:{}", ovs.path("run/db.sock")),
                &format!("--pidfile={}", ovs.path("run/ovsdb-server.pid")),
                &format!("--unixctl={}", ovs.path("run/ovsdb-server.ctl")),
                &format!("--log-file={}", ovs.path("log/ovsdb-server.log")),
                "--detach",
            ],
        );
        ovs.run(
            "ovs-vsctl",
            &[&format!("--db={db_sock}"), "--no-wait", "init"],
        );
        ovs.run(
            "ovs-vsctl",
            &[
                &format!("--db={db_sock}"),
                "--no-wait",
                "set",
                "Open_vSwitch",
                ".",
                "other_config:vlan-limit=2",
            ],
        );
        ovs.run(
            "ovs-vswitchd",
            &[
                &db_sock,
                "--enable-dummy",
                "--disable-system",
                &format!("--pidfile={}", ovs.path("run/ovs-vswitchd.pid")),
                &format!("--unixctl={}", ovs.path("run/ovs-vswitchd.ctl")),
                &format!("--log-file={}", ovs.path("log/ovs-vswitchd.log")),
                "--detach",
            ],
        );
        ovs.run(
            "ovs-vsctl",
            &[
                &format!("--db={db_sock}"),
                "add-br",
                "br0",
                "--",
                "set",
                "bridge",
                "br0",
                "datapath_type=dummy",
                "fail_mode=secure",
                "--",
                "add-port",
                "br0",
                "p1",
                "--",
                "set",
                "interface",
                "p1",
                "type=dummy",
                "ofport_request=1",
            ],
        );
        ovs
    }
}

impl Drop for PrivateOvs {
    fn drop(&mut self) {
        for ctl in ["run/ovs-vswitchd.ctl", "run/ovsdb-server.ctl"] {
            let _ = Command::new("ovs-appctl")
                .args(["-t", &self.path(ctl), "exit"])
                .output();
        }
        if std::env::var_os("KEEP_OVS").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn installed(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|p| Path::new(&p).join(program).is_file())
    }) || Path::new("/usr/sbin").join(program).is_file()
}

/// One JSON-RPC connection to `ovs-vswitchd`'s unixctl socket.
struct Unixctl {
    stream: UnixStream,
    replies: serde_json::StreamDeserializer<'static, serde_json::de::IoRead<UnixStream>, Value>,
    next_id: u64,
}

impl Unixctl {
    fn connect(path: &str) -> Unixctl {
        let stream = UnixStream::connect(path).unwrap();
        let reader = stream.try_clone().unwrap();
        Unixctl {
            stream,
            replies: serde_json::Deserializer::from_reader(reader).into_iter(),
            next_id: 0,
        }
    }

    fn call(&mut self, method: &str, params: &[&str]) -> String {
        self.next_id += 1;
        let request = serde_json::json!({"method": method, "params": params, "id": self.next_id});
        self.stream
            .write_all(request.to_string().as_bytes())
            .unwrap();
        let reply = self.replies.next().expect("unixctl reply").unwrap();
        assert!(reply["error"].is_null(), "{method}: {}", reply["error"]);
        reply["result"].as_str().unwrap().to_string()
    }
}

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
        let trace = ctl.call("ofproto/trace", &["br0", "in_port=1", &hex]);
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
    if ![
        "ovsdb-tool",
        "ovsdb-server",
        "ovs-vswitchd",
        "ovs-vsctl",
        "ovs-appctl",
    ]
    .iter()
    .all(|p| installed(p))
    {
        eprintln!("skipped: Open vSwitch is not installed (./test.sh installs it)");
        return;
    }
    let ovs = PrivateOvs::start();
    let mut ctl = Unixctl::connect(&ovs.path("run/ovs-vswitchd.ctl"));
    // The bridge appears once ovs-vswitchd has applied the database; wait up to 10 s.
    let mut tries = 0;
    while !ctl.call("ofproto/list", &[]).contains("br0") {
        tries += 1;
        assert!(tries < 100, "ovs-vswitchd never created br0");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(
        compare_with_ovs(&mut ctl, "mix_zeek_sv_tcpdump_k8.pcap.gz"),
        (33_397, 17)
    );
    assert_eq!(
        compare_with_ovs(&mut ctl, "pcapparser_wireshark_samples-test.pcapng"),
        (5_898, 0)
    );
}
