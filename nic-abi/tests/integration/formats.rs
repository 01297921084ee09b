//! Hardware/software formats: golden byte layouts, round trips and hostile bytes for every
//! record, the register map as a driver walks it, and the generated Verilog include (fresh,
//! lint-clean under Verilator, and elaborating to the same values as the Rust constants).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use nic_abi::action::{Action, Destination, VlanId, VlanOp, VlanPcp};
use nic_abi::desc::{
    CopyCommand, CopyCompletion, CopyCookie, CopyStatus, Iova, MissFlags, MissReason, MissRecord,
    PacketHandle, QueueIndex, Release, ReleaseCommand, RingIndex, RxCompletion, RxDescriptor,
    RxStatus, TxCompletion, TxDescriptor, TxFlags, TxStatus, VmId, MISS_HEADER_BYTES,
};
use nic_abi::key::{FlowKey, KeyClass, PortNo, UnparsedReason};
use nic_abi::regs::{self, BlockType, RegOffset};
use nic_abi::time::SimTime;
use nic_abi::verilog;
use proptest::prelude::*;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------------------------
// Golden byte layouts: what another implementation (RTL, a C driver) must produce.

#[test]
fn golden_tx_descriptor() {
    let d = TxDescriptor {
        buf: Iova(0x0102_0304_0506_0708),
        len: 1514,
        flags: TxFlags(TxFlags::INTERRUPT),
        vm: VmId(0x0a0b),
        queue: QueueIndex(3),
    };
    assert_eq!(hex(&d.to_bytes()), "0807060504030201ea0501000b0a0300");
}

#[test]
fn golden_rx_descriptor_and_completions() {
    let d = RxDescriptor {
        buf: Iova(0x8000),
        capacity: 2048,
    };
    assert_eq!(hex(&d.to_bytes()), "00800000000000000008000000000000");
    let t = TxCompletion {
        index: RingIndex::new(0xfffe),
        status: TxStatus::DmaFault,
        timestamp: SimTime(1_000_000),
    };
    assert_eq!(
        hex(&t.to_bytes()),
        "feff020000000000".to_string() + "40420f0000000000"
    );
    let r = RxCompletion {
        index: RingIndex::new(5),
        len: 60,
        status: RxStatus::Ok,
        in_port: PortNo(2),
        flow_hash: 0xdead_beef,
        timestamp: SimTime(0x1122),
    };
    assert_eq!(
        hex(&r.to_bytes()),
        "05003c0000000200efbeadde000000002211000000000000"
    );
}

#[test]
fn golden_copy_and_release_records() {
    let c = CopyCommand {
        src: Iova(0x1000),
        dst: Iova(0x2000),
        src_vm: VmId(1),
        dst_vm: VmId(2),
        len: 1500,
        cookie: CopyCookie(0x77),
    };
    assert_eq!(
        hex(&c.to_bytes()),
        "0010000000000000002000000000000001000200dc0500007700000000000000"
    );
    let cc = CopyCompletion {
        cookie: CopyCookie(0x77),
        len: 1500,
        status: CopyStatus::Done,
    };
    assert_eq!(hex(&cc.to_bytes()), "7700000000000000dc05000000000000");
    let r = ReleaseCommand {
        handle: PacketHandle(9),
        release: Release::Relookup,
    };
    assert_eq!(hex(&r.to_bytes()), "09000000000000000000000000000000");
}

#[test]
fn golden_miss_record_prefix() {
    let key = FlowKey {
        in_port: PortNo(1),
        tp_dst: 80,
        ..FlowKey::default()
    };
    let mut header = [0u8; MISS_HEADER_BYTES];
    header[..4].copy_from_slice(&[0xaa, 0xbb, 0xcc, 0xdd]);
    let m = MissRecord {
        in_port: PortNo(1),
        flags: MissFlags::NONE,
        vm: VmId(0),
        queue: QueueIndex(0),
        handle: PacketHandle(0x0102_0304),
        packet_len: 4,
        header_len: 4,
        timestamp: SimTime(16),
        reason: MissReason::TableMiss,
        key: key.to_words(),
        header,
    };
    let b = m.to_bytes();
    assert_eq!(b.len(), 216);
    assert_eq!(
        hex(&b[..32]),
        "0100000000000000040302010400040010000000000000000100000000000100"
    );
    // Key word 14 (tp_src << 16 | tp_dst) is the last key word, bytes 84..88.
    assert_eq!(hex(&b[84..88]), "50000000");
    assert_eq!(hex(&b[88..92]), "aabbccdd");
    assert!(b[92..].iter().all(|&x| x == 0));
    assert_eq!(MissRecord::try_from(&b[..]), Ok(m));
}

// ---------------------------------------------------------------------------------------------
// Round trips and hostile bytes.

fn any_action() -> impl Strategy<Value = Action> {
    let dest = prop_oneof![
        Just(Destination::Drop),
        (1u16..).prop_map(|p| Destination::Output(PortNo(p))),
        Just(Destination::Flood),
        Just(Destination::ToAgent),
    ];
    let vlan = prop_oneof![
        Just(VlanOp::Keep),
        Just(VlanOp::Strip),
        (0u16..=4095, proptest::option::of(0u8..=7)).prop_map(|(v, p)| VlanOp::Set {
            vid: VlanId::new(v).unwrap(),
            pcp: p.map(|p| VlanPcp::new(p).unwrap()),
        }),
    ];
    (dest, vlan).prop_map(|(dest, vlan)| Action { dest, vlan })
}

fn any_tx_descriptor() -> impl Strategy<Value = TxDescriptor> {
    (
        0u64..u64::MAX - 10_000,
        14u16..=9216,
        any::<bool>(),
        any::<u16>(),
        any::<u16>(),
    )
        .prop_map(|(buf, len, irq, vm, q)| TxDescriptor {
            buf: Iova(buf),
            len,
            flags: TxFlags(if irq { TxFlags::INTERRUPT } else { 0 }),
            vm: VmId(vm),
            queue: QueueIndex(q),
        })
}

fn any_miss_record() -> impl Strategy<Value = MissRecord> {
    (
        any::<u16>(),
        proptest::option::of((any::<u16>(), any::<u16>())),
        any::<u32>(),
        0u16..=9216,
        any::<u64>(),
        prop_oneof![
            Just(MissReason::TableMiss),
            Just(MissReason::ToAgent),
            Just(MissReason::UnparsedKey)
        ],
        any::<u128>(),
        any::<u16>(),
        any::<u8>(),
    )
        .prop_map(
            |(port, from_vm, handle, packet_len, ts, reason, nw_src, tp_dst, fill)| {
                let class = if reason == MissReason::UnparsedKey {
                    KeyClass::Unparsed(UnparsedReason::Malformed)
                } else {
                    KeyClass::Parsed
                };
                let key = FlowKey {
                    in_port: PortNo(port),
                    class,
                    nw_src,
                    tp_dst,
                    ..FlowKey::default()
                };
                let header_len = packet_len.min(u16::try_from(MISS_HEADER_BYTES).unwrap());
                let mut header = [0u8; MISS_HEADER_BYTES];
                for (i, b) in header.iter_mut().take(usize::from(header_len)).enumerate() {
                    *b = fill.wrapping_add(u8::try_from(i).unwrap());
                }
                let (flags, vm, queue) = match from_vm {
                    Some((vm, q)) => (MissFlags(MissFlags::FROM_VM), VmId(vm), QueueIndex(q)),
                    None => (MissFlags::NONE, VmId(0), QueueIndex(0)),
                };
                MissRecord {
                    in_port: PortNo(port),
                    flags,
                    vm,
                    queue,
                    handle: PacketHandle(handle),
                    packet_len,
                    header_len,
                    timestamp: SimTime(ts),
                    reason,
                    key: key.to_words(),
                    header,
                }
            },
        )
}

/// Bytes that are mostly a valid record with a few bytes changed, so that decoding gets past
/// the first checks: the hostile-guest case, not just noise.
fn mutated(valid: Vec<u8>, edits: Vec<(usize, u8)>) -> Vec<u8> {
    let mut b = valid;
    let n = b.len();
    for (i, v) in edits {
        b[i % n] = v;
    }
    b
}

/// Decoding `bytes` must not panic, and a record that decodes must encode back to the same
/// bytes: each record has exactly one byte image.
macro_rules! decodes_canonically {
    ($t:ty, $bytes:expr) => {{
        let bytes: &[u8] = $bytes;
        if let Ok(rec) = <$t>::try_from(bytes) {
            prop_assert_eq!(&rec.to_bytes()[..], bytes);
        }
    }};
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn tx_descriptor_round_trips(d in any_tx_descriptor()) {
        prop_assert_eq!(TxDescriptor::try_from(&d.to_bytes()[..]), Ok(d));
    }

    #[test]
    fn rx_records_round_trip(
        buf in 0u64..u64::MAX - 10_000, cap in 14u16.., idx in any::<u16>(), len in 14u16..=9216,
        port in any::<u16>(), hash in any::<u32>(), ts in any::<u64>(), status in 0u16..3,
    ) {
        let d = RxDescriptor { buf: Iova(buf), capacity: cap };
        prop_assert_eq!(RxDescriptor::try_from(&d.to_bytes()[..]), Ok(d));
        let status = RxStatus::from_code(status).unwrap();
        let c = RxCompletion {
            index: RingIndex::new(idx),
            len: if status == RxStatus::Ok { len } else { 0 },
            status,
            in_port: PortNo(port),
            flow_hash: hash,
            timestamp: SimTime(ts),
        };
        prop_assert_eq!(RxCompletion::try_from(&c.to_bytes()[..]), Ok(c));
        let t = TxCompletion {
            index: RingIndex::new(idx),
            status: TxStatus::from_code(status.code()).unwrap(),
            timestamp: SimTime(ts),
        };
        prop_assert_eq!(TxCompletion::try_from(&t.to_bytes()[..]), Ok(t));
    }

    #[test]
    fn miss_record_round_trips(m in any_miss_record()) {
        prop_assert_eq!(MissRecord::try_from(&m.to_bytes()[..]), Ok(m));
        prop_assert_eq!(m.header_bytes().len(), usize::from(m.header_len));
    }

    #[test]
    fn copy_and_release_round_trip(
        src in 0u64..u64::MAX - 10_000, dst in 0u64..u64::MAX - 10_000, len in 1u32..=9216,
        vms in any::<(u16, u16)>(), cookie in any::<u64>(), handle in any::<u32>(),
        action in proptest::option::of(any_action()),
    ) {
        let c = CopyCommand {
            src: Iova(src), dst: Iova(dst), src_vm: VmId(vms.0), dst_vm: VmId(vms.1), len,
            cookie: CopyCookie(cookie),
        };
        prop_assert_eq!(CopyCommand::try_from(&c.to_bytes()[..]), Ok(c));
        let cc = CopyCompletion { cookie: CopyCookie(cookie), len, status: CopyStatus::Done };
        prop_assert_eq!(CopyCompletion::try_from(&cc.to_bytes()[..]), Ok(cc));
        let r = ReleaseCommand {
            handle: PacketHandle(handle),
            release: action.map_or(Release::Relookup, Release::Apply),
        };
        prop_assert_eq!(ReleaseCommand::try_from(&r.to_bytes()[..]), Ok(r));
    }

    #[test]
    fn hostile_bytes_never_panic_and_decode_canonically(
        tx in any_tx_descriptor(), miss in any_miss_record(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        noise in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        decodes_canonically!(TxDescriptor, &mutated(tx.to_bytes().to_vec(), edits.clone()));
        decodes_canonically!(MissRecord, &mutated(miss.to_bytes().to_vec(), edits.clone()));
        let rx = RxDescriptor { buf: tx.buf, capacity: tx.len }.to_bytes().to_vec();
        decodes_canonically!(RxDescriptor, &mutated(rx, edits.clone()));
        let release = ReleaseCommand { handle: PacketHandle(1), release: Release::Relookup };
        decodes_canonically!(ReleaseCommand, &mutated(release.to_bytes().to_vec(), edits.clone()));
        // Raw noise of any length, against every record type.
        decodes_canonically!(TxDescriptor, &noise);
        decodes_canonically!(RxDescriptor, &noise);
        decodes_canonically!(TxCompletion, &noise);
        decodes_canonically!(RxCompletion, &noise);
        decodes_canonically!(MissRecord, &noise);
        decodes_canonically!(CopyCommand, &noise);
        decodes_canonically!(CopyCompletion, &noise);
        decodes_canonically!(ReleaseCommand, &noise);
        if noise.len() >= 16 {
            decodes_canonically!(TxDescriptor, &noise[..16]);
            decodes_canonically!(TxCompletion, &noise[..16]);
            decodes_canonically!(CopyCompletion, &noise[..16]);
            decodes_canonically!(ReleaseCommand, &noise[..16]);
        }
        if noise.len() >= 32 {
            decodes_canonically!(CopyCommand, &noise[..32]);
            decodes_canonically!(RxCompletion, &noise[..24]);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Register map, as a driver sees it.

/// A register file holding the reset image of the map plus whatever a test writes: the other
/// side of the boundary for a driver's block walk.
struct RegisterFile {
    values: HashMap<u32, u32>,
}

impl RegisterFile {
    fn read(&self, off: RegOffset) -> u32 {
        regs::header_register(off).unwrap_or_else(|| self.values.get(&off.0).copied().unwrap_or(0))
    }
}

#[test]
fn driver_finds_every_block_it_needs_by_type_and_version() {
    let mut values = HashMap::new();
    values.insert(
        regs::device_info::BASE.at(regs::device_info::SIGNATURE).0,
        regs::SIGNATURE,
    );
    let file = RegisterFile { values };
    let found = regs::walk_blocks(|off| file.read(off)).unwrap();
    assert_eq!(found.len(), regs::BLOCKS.len());
    for b in regs::BLOCKS {
        let f = regs::find_block(&found, b.block_type, b.version).unwrap();
        assert_eq!(f.offset, b.base);
    }
    let info = regs::find_block(&found, BlockType::DeviceInfo, 1).unwrap();
    assert_eq!(
        file.read(info.offset.at(regs::device_info::SIGNATURE)),
        0x534e_4943
    );
    // The offsets a driver computes for queue 5's TX doorbell and vector 7's cause.
    let q = regs::vm_queues::BASE.at(regs::vm_queues::queue_reg(5, regs::vm_queues::TX_PRODUCER));
    assert_eq!(q, RegOffset(0x2000 + 0x100 + 5 * 0x80 + 0x1c));
    let v = regs::interrupts::BASE.at(regs::interrupts::vector_reg(7, regs::interrupts::CAUSE));
    assert_eq!(v, RegOffset(0x300 + 0x40 + 7 * 0x10));
}

// ---------------------------------------------------------------------------------------------
// The generated Verilog include.

fn checked_in_include() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(verilog::INCLUDE_PATH)
}

#[test]
fn checked_in_verilog_include_is_fresh() {
    let path = checked_in_include();
    let generated = verilog::generate_include();
    if std::env::var_os("SNICH_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
        eprintln!("SNICH_BLESS: rewrote {}", path.display());
        return;
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "{} is stale (or missing): it differs from nic_abi::verilog::generate_include().\n\
         Regenerate it with `cargo run -p nic-abi --example gen_verilog` \
         (or `SNICH_BLESS=1 cargo test -p nic-abi --test integration`) and commit it.",
        path.display()
    );
}

/// Verilator and g++ are installed; a plain `cargo test` without them skips (saying so),
/// `./test.sh` (which installs them) fails.
fn verilator_available() -> bool {
    external_oracles::programs::require(&external_oracles::programs::VERILATOR).unwrap()
}

/// A scratch directory holding the generated include, for Verilator runs.
fn scratch_with_include(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("snich_abi.svh"), verilog::generate_include()).unwrap();
    dir
}

#[test]
fn verilog_include_lints_clean_under_verilator_wall() {
    if !verilator_available() {
        return;
    }
    let dir = scratch_with_include("verilog_lint");
    // Two modules include it (the guard must hold) and one imports the whole package.
    std::fs::write(
        dir.join("snich_abi_lint_top.sv"),
        "`default_nettype none\n\
         `include \"snich_abi.svh\"\n\
         module snich_abi_lint_top\n\
         \x20 import snich_abi_pkg::*;\n\
         (\n\
         \x20 input  wire logic [31:0] addr_i,\n\
         \x20 output logic             is_cmd_o,\n\
         \x20 output logic [31:0]      key_words_o\n\
         );\n\
         \x20 assign is_cmd_o = (addr_i == FLOW_TABLE_BASE + FLOW_TABLE_CMD);\n\
         \x20 assign key_words_o = KEY_WORDS;\n\
         endmodule\n\
         `default_nettype wire\n",
    )
    .unwrap();
    let out = Command::new("verilator")
        .args(["--lint-only", "-Wall", "snich_abi_lint_top.sv"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "verilator --lint-only -Wall failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn verilator_elaborates_every_constant_to_the_rust_value() {
    if !verilator_available() {
        return;
    }
    let constants = verilog::constants();
    let dir = scratch_with_include("verilog_values");
    let mut sv =
        String::from("`include \"snich_abi.svh\"\nmodule snich_abi_values;\n  initial begin\n");
    for (name, _) in &constants {
        sv.push_str(&format!(
            "    $display(\"{name}=%0d\", snich_abi_pkg::{name});\n"
        ));
    }
    sv.push_str("    $finish;\n  end\nendmodule\n");
    std::fs::write(dir.join("snich_abi_values.sv"), sv).unwrap();
    let build = Command::new("verilator")
        .args(["--binary", "-Wall", "snich_abi_values.sv", "-Mdir", "obj"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "verilator --binary failed:\n{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let run = Command::new(dir.join("obj").join("Vsnich_abi_values"))
        .output()
        .unwrap();
    assert!(run.status.success());
    let printed: HashMap<String, u64> = String::from_utf8_lossy(&run.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(n, v)| (n.to_string(), v.trim().parse().unwrap()))
        .collect();
    assert_eq!(printed.len(), constants.len());
    for (name, value) in constants {
        assert_eq!(printed.get(&name), Some(&value), "{name}");
    }
}
