//! Reading the capture fixtures in `tests/data/` (classic pcap or pcapng, optionally gzipped).

use std::io::Read;

use flate2::read::GzDecoder;
use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::DataLink;

/// The path of a fixture in the workspace's `tests/data/`.
pub fn data_path(file: &str) -> String {
    format!("{}/../tests/data/{file}", env!("CARGO_MANIFEST_DIR"))
}

/// The bytes of a fixture, gunzipped when its name ends in `.gz`.
pub fn read_fixture(file: &str) -> Vec<u8> {
    let raw = std::fs::read(data_path(file)).unwrap_or_else(|e| panic!("reading {file}: {e}"));
    if file.ends_with(".gz") {
        let mut out = Vec::new();
        GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .unwrap_or_else(|e| panic!("gunzipping {file}: {e}"));
        out
    } else {
        raw
    }
}

/// One captured packet: its link type and its (possibly snapped) bytes.
pub struct Packet {
    pub link: DataLink,
    pub data: Vec<u8>,
}

const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// Every packet of a pcap or pcapng capture, or why the capture cannot be read. Packets read
/// before a damaged record are returned with the error.
pub fn read_capture(bytes: &[u8]) -> (Vec<Packet>, Option<String>) {
    let mut packets = Vec::new();
    if bytes.starts_with(&PCAPNG_MAGIC) {
        let mut reader = match PcapNgReader::new(bytes) {
            Ok(r) => r,
            Err(e) => return (packets, Some(format!("pcapng header: {e}"))),
        };
        // Link types of the interfaces of the current section, in order.
        let mut links: Vec<DataLink> = Vec::new();
        let link_of = |links: &[DataLink], id: usize| links.get(id).copied();
        while let Some(block) = reader.next_block() {
            let block = match block {
                Ok(b) => b,
                Err(e) => return (packets, Some(format!("pcapng block: {e}"))),
            };
            let (id, data) = match block {
                Block::SectionHeader(_) => {
                    links.clear();
                    continue;
                }
                Block::InterfaceDescription(idb) => {
                    links.push(idb.linktype);
                    continue;
                }
                Block::EnhancedPacket(epb) => (
                    usize::try_from(epb.interface_id).unwrap_or(usize::MAX),
                    epb.data.into_owned(),
                ),
                Block::SimplePacket(spb) => (0, spb.data.into_owned()),
                Block::Packet(pb) => (usize::from(pb.interface_id), pb.data.into_owned()),
                _ => continue,
            };
            match link_of(&links, id) {
                Some(link) => packets.push(Packet { link, data }),
                None => {
                    return (
                        packets,
                        Some(format!("pcapng: packet on unknown interface {id}")),
                    )
                }
            }
        }
    } else {
        let mut reader = match PcapReader::new(bytes) {
            Ok(r) => r,
            Err(e) => return (packets, Some(format!("pcap header: {e}"))),
        };
        let link = reader.header().datalink;
        while let Some(packet) = reader.next_packet() {
            match packet {
                Ok(p) => packets.push(Packet {
                    link,
                    data: p.data.into_owned(),
                }),
                Err(e) => return (packets, Some(format!("pcap record: {e}"))),
            }
        }
    }
    (packets, None)
}

/// The Ethernet frames of a fixture; panics if the fixture cannot be read whole.
pub fn ethernet_frames(file: &str) -> Vec<Vec<u8>> {
    let (packets, err) = read_capture(&read_fixture(file));
    assert!(err.is_none(), "{file}: {err:?}");
    packets
        .into_iter()
        .map(|p| {
            assert_eq!(p.link, DataLink::ETHERNET, "{file}: not Ethernet");
            p.data
        })
        .collect()
}
