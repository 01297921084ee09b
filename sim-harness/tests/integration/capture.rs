//! The capture reader on the real fixtures and on damaged copies of them.

use std::path::{Path, PathBuf};

use sim_harness::capture::{Capture, CaptureError};

fn data(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data")
        .join(file)
}

#[test]
fn reads_the_gzipped_mix_pcap_and_the_wireshark_pcapng() {
    let mix = Capture::open(&data("mix_zeek_sv_tcpdump_k8.pcap.gz")).expect("mix capture");
    assert_eq!(mix.frames.len(), 33_414);
    let ng = Capture::open(&data("pcapparser_wireshark_samples-test.pcapng")).expect("pcapng");
    assert_eq!(ng.frames.len(), 5_898);
    assert!(ng
        .frames
        .iter()
        .all(|f| f.data.len() <= f.orig_len as usize));
}

#[test]
fn a_truncated_capture_names_the_file_and_the_record() {
    let bytes = std::fs::read(data("pcapparser_wireshark_samples-test.pcapng")).expect("read");
    // Cut inside the packets near the end: the packets before the cut were read.
    let cut = &bytes[..bytes.len() - 5_000];
    let err = Capture::from_bytes(Path::new("cut.pcapng"), cut).expect_err("truncated");
    match &err {
        CaptureError::Record { index, .. } => assert!((5_000..5_898).contains(index), "{err}"),
        other => panic!("expected a record error, got {other}"),
    }
    assert!(err.to_string().starts_with("cut.pcapng: record "), "{err}");
}

#[test]
fn missing_empty_and_foreign_files_are_refused_by_name() {
    let missing = Capture::open(Path::new("/nonexistent/x.pcap")).expect_err("missing");
    assert!(
        missing
            .to_string()
            .contains("/nonexistent/x.pcap: cannot read"),
        "{missing}"
    );
    let text = Capture::from_bytes(Path::new("notes.txt"), b"just some text, long enough")
        .expect_err("text");
    assert!(text.to_string().contains("notes.txt: not a pcap"), "{text}");
    // A pcapng header with no packet at all.
    let bytes = std::fs::read(data("pcapparser_wireshark_samples-test.pcapng")).expect("read");
    let section_len = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
    let empty =
        Capture::from_bytes(Path::new("empty.pcapng"), &bytes[..section_len]).expect_err("empty");
    assert!(
        empty
            .to_string()
            .contains("empty.pcapng: the capture holds no packet"),
        "{empty}"
    );
}
