//! Frames and a small card shared by host-driver's and snich-system's integration tests
//! (snich-system's binary includes this file).

use nic_model::card::{CardConfig, TableConfig};

/// The MAC of VM `i` (0-based).
pub fn vm_mac(i: u16) -> [u8; 6] {
    let [a, b] = i.to_be_bytes();
    [0x02, 0, 0, 0, a, b]
}

/// An IPv4/UDP frame of `len` bytes (at least 42) from `src` to `dst`, payload from `fill`.
pub fn udp_frame(src: [u8; 6], dst: [u8; 6], len: usize, fill: impl FnMut() -> u8) -> Vec<u8> {
    assert!(len >= 42);
    let mut f = vec![0u8; len];
    f[0..6].copy_from_slice(&dst);
    f[6..12].copy_from_slice(&src);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    let ip_len = u16::try_from(len - 14).expect("short frame");
    f[16..18].copy_from_slice(&ip_len.to_be_bytes());
    f[22] = 64;
    f[23] = 17;
    f[26..30].copy_from_slice(&[10, 0, 0, 1]);
    f[30..34].copy_from_slice(&[10, 0, 0, 2]);
    f[34..36].copy_from_slice(&1000u16.to_be_bytes());
    f[36..38].copy_from_slice(&2000u16.to_be_bytes());
    f[38..40].copy_from_slice(&u16::try_from(len - 34).expect("short").to_be_bytes());
    let mut fill = fill;
    for b in &mut f[42..] {
        *b = fill();
    }
    f
}

/// A small card: a 64-bucket table, descriptor batches of one (so every packet's PCIe
/// traffic is its own and can be computed by hand).
pub fn small_card() -> CardConfig {
    let mut c = CardConfig {
        table: TableConfig {
            buckets: 64,
            ..TableConfig::default()
        },
        ..CardConfig::default()
    };
    c.dma.descriptor_batch = 1;
    c
}
