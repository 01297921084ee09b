//! Robustness: every packet of every capture of tcpdump's test corpus goes through both
//! parsers without a panic (many are deliberately malformed; many are not Ethernet at all,
//! which is fine: to the parser they are just bytes).

use std::io::Read;

use flate2::read::GzDecoder;
use nic_abi::key::PortNo;
use nic_abi::parse::{parse_card, parse_software};

use crate::capture::{data_path, read_capture};

#[test]
fn tcpdump_corpus_never_panics() {
    let file = std::fs::File::open(data_path("tcpdump_tests_pcaps.tar.gz")).unwrap();
    let mut archive = tar::Archive::new(GzDecoder::new(file));
    let (mut files, mut unreadable, mut damaged, mut packets, mut parsed) = (0, 0, 0, 0, 0);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        files += 1;
        let (frames, err) = read_capture(&bytes);
        match (&err, frames.is_empty()) {
            (Some(_), true) => unreadable += 1,
            (Some(_), false) => damaged += 1,
            (None, _) => {}
        }
        for p in &frames {
            packets += 1;
            let soft = parse_software(&p.data, PortNo(1));
            let card = parse_card(&p.data, PortNo(1));
            if card.is_parsed() {
                assert_eq!(card, soft);
            }
            parsed += usize::from(soft.is_parsed());
        }
    }
    eprintln!(
        "tcpdump corpus: {files} files, {unreadable} unreadable by pcap-file, {damaged} read \
         in part, {packets} packets, {parsed} with a Parsed software key"
    );
    // The archive is fixed: these counts change only if the capture reader or the parser
    // does.
    assert_eq!(
        (files, unreadable, damaged, packets, parsed),
        (831, 179, 8, 9322, 9272)
    );
}
