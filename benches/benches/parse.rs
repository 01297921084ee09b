//! `parse/mix_pcap`: the card profile of the header parser over every packet of the mix
//! capture (`tests/data/mix_zeek_sv_tcpdump_k8.pcap.gz`), loaded once outside the timing.
//! Throughput is in packets.

use std::hint::black_box;
use std::io::Read;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use flate2::read::GzDecoder;
use nic_abi::key::PortNo;
use nic_abi::parse::parse_card;
use pcap_file::pcap::PcapReader;

const MIX: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/data/mix_zeek_sv_tcpdump_k8.pcap.gz"
);

/// Every frame of the mix capture.
fn load_mix() -> Vec<Vec<u8>> {
    let raw = std::fs::read(MIX).expect("reading the mix capture");
    let mut pcap = Vec::new();
    GzDecoder::new(&raw[..])
        .read_to_end(&mut pcap)
        .expect("gunzipping the mix capture");
    let mut reader = PcapReader::new(&pcap[..]).expect("pcap header");
    let mut frames = Vec::new();
    while let Some(packet) = reader.next_packet() {
        frames.push(packet.expect("pcap record").data.into_owned());
    }
    frames
}

fn parse(c: &mut Criterion) {
    let frames = load_mix();
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(
        u64::try_from(frames.len()).expect("packet count fits u64"),
    ));
    group.bench_function("mix_pcap", |b| {
        b.iter(|| {
            for frame in &frames {
                black_box(parse_card(black_box(frame), PortNo(1)));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
