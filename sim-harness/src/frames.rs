//! Seeded random Ethernet frames covering every header kind the card parses: Ethernet II,
//! 802.1Q and QinQ tags, LLC/SNAP, ARP, IPv4 (options, fragments), IPv6 (with and without
//! extension headers), TCP, UDP, SCTP, ICMP, ICMPv6, and damaged variants (truncated, bad
//! lengths). Flows repeat (a pool of addresses and ports), so table lookups both hit and miss.

use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `n` frames from `seed`; the same arguments give the same frames.
pub fn random_frames(n: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| random_frame(&mut rng)).collect()
}

fn pick<T: Copy>(rng: &mut impl Rng, items: &[T]) -> T {
    items[rng.random_range(0..items.len())]
}

/// One frame: L2 header, L3, L4, payload, then perhaps damage.
pub fn random_frame(rng: &mut impl Rng) -> Vec<u8> {
    let flow: u8 = rng.random_range(0..64);
    let mut f = vec![0x02, 0, 0, 0, 0, flow % 8, 0x02, 0, 0, 0, 1, flow % 5];
    match rng.random_range(0..10) {
        0 => f.extend([0x81, 0x00, 0x20, flow]),
        1 => f.extend([0x88, 0xa8, 0x00, 0x10, 0x81, 0x00, 0x00, flow]),
        _ => {}
    }
    let l3_kind = rng.random_range(0..12);
    let (ethertype, l3): (u16, Vec<u8>) = match l3_kind {
        0 => (0x0806, arp(flow)),
        1..=3 => (0x86dd, ipv6(rng, flow)),
        4 => (pick(rng, &[0x8847u16, 0x88cc, 0x0800]), Vec::new()),
        _ => (0x0800, ipv4(rng, flow)),
    };
    if rng.random_range(0..20) == 0 {
        // 802.3 length + LLC/SNAP carrying the EtherType.
        let len = u16::try_from(l3.len() + 8).unwrap_or(1500).min(1500);
        f.extend(len.to_be_bytes());
        f.extend([0xaa, 0xaa, 0x03, 0, 0, 0]);
    }
    f.extend(ethertype.to_be_bytes());
    f.extend(&l3);
    if f.len() < 60 {
        f.resize(60, 0);
    }
    match rng.random_range(0..16) {
        0 => {
            let cut = rng.random_range(0..f.len());
            f.truncate(cut);
        }
        1 => {
            let at = rng.random_range(0..f.len());
            f[at] = rng.random();
        }
        _ => {}
    }
    f
}

fn arp(flow: u8) -> Vec<u8> {
    let mut a = vec![0, 1, 8, 0, 6, 4, 0, 1 + flow % 2];
    a.extend([
        2, 0, 0, 0, 1, flow, 10, 0, 0, flow, 0, 0, 0, 0, 0, 0, 10, 0, 0, 1,
    ]);
    a
}

fn l4(rng: &mut impl Rng, proto: u8, flow: u8) -> Vec<u8> {
    let sport = 1024 + u16::from(flow);
    let dport = pick(rng, &[80u16, 443, 53, 22, 8080]);
    match proto {
        6 => {
            let mut t = Vec::new();
            t.extend(sport.to_be_bytes());
            t.extend(dport.to_be_bytes());
            t.extend([0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
            t
        }
        17 | 132 => {
            let mut u = Vec::new();
            u.extend(sport.to_be_bytes());
            u.extend(dport.to_be_bytes());
            u.extend([0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            u
        }
        _ => vec![8, 0, 0, 0, 0, 1, 0, 1],
    }
}

fn ipv4(rng: &mut impl Rng, flow: u8) -> Vec<u8> {
    let proto = pick(rng, &[6u8, 6, 17, 17, 1, 132, 47]);
    let options = if rng.random_range(0..8) == 0 {
        8usize
    } else {
        0
    };
    let frag: u16 = match rng.random_range(0..16) {
        0 => 0x2000,
        1 => 0x00b9,
        _ => 0,
    };
    let payload = l4(rng, proto, flow);
    let ihl = u8::try_from(5 + options / 4).unwrap_or(5);
    let total = u16::try_from(usize::from(ihl) * 4 + payload.len()).unwrap_or(u16::MAX);
    let mut h = vec![0x40 | ihl, pick(rng, &[0u8, 0xb8, 0x02])];
    h.extend(total.to_be_bytes());
    h.extend([0, 1]);
    h.extend(frag.to_be_bytes());
    h.extend([64, proto, 0, 0, 10, 0, 0, flow, 10, 0, 1, flow % 4]);
    h.resize(usize::from(ihl) * 4, 1);
    h.extend(payload);
    h
}

fn ipv6(rng: &mut impl Rng, flow: u8) -> Vec<u8> {
    let proto = pick(rng, &[6u8, 17, 58, 58]);
    let ext = rng.random_range(0..6) == 0;
    let mut payload = Vec::new();
    let next = if ext {
        payload.extend([proto, 0, 0, 0, 0, 0, 0, 0]);
        0
    } else {
        proto
    };
    payload.extend(if proto == 58 {
        vec![128, 0, 0, 0, 0, 1, 0, 1]
    } else {
        l4(rng, proto, flow)
    });
    let len = u16::try_from(payload.len()).unwrap_or(u16::MAX);
    let mut h = vec![0x60, 0, 0, 0];
    h.extend(len.to_be_bytes());
    h.extend([next, 64]);
    h.extend([
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, flow,
    ]);
    h.extend([
        0x20,
        0x01,
        0x0d,
        0xb8,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        1,
        flow % 4,
    ]);
    h.extend(payload);
    h
}
