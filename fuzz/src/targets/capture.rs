//! pcap and pcapng files (gzipped or not), as `snich` reads them for workloads and
//! `rules trace`. Nothing may panic, every error names the file, and every frame read parses.

use std::path::Path;

use nic_abi::key::PortNo;
use nic_abi::parse::parse_software;
use sim_harness::capture::Capture;

/// Runs the input.
pub fn run(data: &[u8]) {
    match Capture::from_bytes(Path::new("fuzz.pcap"), data) {
        Ok(capture) => {
            for frame in &capture.frames {
                let _ = parse_software(&frame.data, PortNo(1));
            }
        }
        Err(e) => {
            let shown = e.to_string();
            assert!(
                shown.contains("fuzz.pcap"),
                "a capture error does not name the file: {shown}"
            );
        }
    }
}
