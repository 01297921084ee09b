//! Reading packet captures: classic pcap and pcapng, optionally gzipped, Ethernet link type.
//!
//! A capture becomes a validated [`Capture`] only through [`Capture::open`] (or
//! [`Capture::from_bytes`]): a file that cannot be read, is not a capture, is truncated in a
//! record, holds packets of another link type, or holds no packet at all is refused with an
//! error naming the file and the place (record index or byte offset).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use flate2::read::GzDecoder;
use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::DataLink;

/// One captured Ethernet frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedFrame {
    /// The bytes captured (possibly fewer than the frame had: see `orig_len`).
    pub data: Vec<u8>,
    /// The frame's length on the wire.
    pub orig_len: u32,
    /// Capture time, from the capture's own clock.
    pub timestamp: Duration,
}

/// The frames of a capture file, all Ethernet, at least one.
#[derive(Debug, Clone)]
pub struct Capture {
    /// Where it was read from.
    pub path: PathBuf,
    /// Its frames, in file order.
    pub frames: Vec<CapturedFrame>,
}

/// Why a capture was refused.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file starts like gzip but does not decompress.
    #[error("{path}: gzip data is corrupt: {source}")]
    Gzip {
        /// The file.
        path: PathBuf,
        /// The decompression error.
        source: std::io::Error,
    },
    /// The file is not a pcap or pcapng capture (or its header is damaged).
    #[error("{path}: not a pcap or pcapng capture: {detail}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What the reader found.
        detail: String,
    },
    /// A record (packet or block) is truncated or corrupt.
    #[error("{path}: record {index} is truncated or corrupt: {detail}")]
    Record {
        /// The file.
        path: PathBuf,
        /// 0-based index of the bad record among the packets.
        index: usize,
        /// What the reader found.
        detail: String,
    },
    /// A packet of a link type other than Ethernet.
    #[error("{path}: packet {index} has link type {link:?}; only Ethernet (1) is supported")]
    LinkType {
        /// The file.
        path: PathBuf,
        /// 0-based packet index.
        index: usize,
        /// The link type found.
        link: DataLink,
    },
    /// A pcapng packet names an interface the section never described.
    #[error(
        "{path}: packet {index} names interface {interface}, which the section never described"
    )]
    UnknownInterface {
        /// The file.
        path: PathBuf,
        /// 0-based packet index.
        index: usize,
        /// The interface id.
        interface: u32,
    },
    /// The capture holds no packet.
    #[error("{path}: the capture holds no packet")]
    Empty {
        /// The file.
        path: PathBuf,
    },
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

impl Capture {
    /// Reads and validates the capture at `path`.
    pub fn open(path: &Path) -> Result<Capture, CaptureError> {
        let bytes = std::fs::read(path).map_err(|source| CaptureError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Capture::from_bytes(path, &bytes)
    }

    /// Validates the capture in `bytes`, which were read from `path` (used in errors).
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Capture, CaptureError> {
        let path = path.to_path_buf();
        if bytes.starts_with(&GZIP_MAGIC) {
            let mut raw = Vec::new();
            GzDecoder::new(bytes)
                .read_to_end(&mut raw)
                .map_err(|source| CaptureError::Gzip {
                    path: path.clone(),
                    source,
                })?;
            return Capture::parse(path, &raw);
        }
        Capture::parse(path, bytes)
    }

    fn parse(path: PathBuf, bytes: &[u8]) -> Result<Capture, CaptureError> {
        let frames = if bytes.starts_with(&PCAPNG_MAGIC) {
            read_pcapng(&path, bytes)?
        } else {
            read_pcap(&path, bytes)?
        };
        if frames.is_empty() {
            return Err(CaptureError::Empty { path });
        }
        Ok(Capture { path, frames })
    }
}

fn read_pcap(path: &Path, bytes: &[u8]) -> Result<Vec<CapturedFrame>, CaptureError> {
    let mut reader = PcapReader::new(bytes).map_err(|e| CaptureError::Format {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    let link = reader.header().datalink;
    let mut frames = Vec::new();
    while let Some(packet) = reader.next_packet() {
        let index = frames.len();
        let packet = packet.map_err(|e| CaptureError::Record {
            path: path.to_path_buf(),
            index,
            detail: e.to_string(),
        })?;
        if link != DataLink::ETHERNET {
            return Err(CaptureError::LinkType {
                path: path.to_path_buf(),
                index,
                link,
            });
        }
        frames.push(CapturedFrame {
            data: packet.data.into_owned(),
            orig_len: packet.orig_len,
            timestamp: packet.timestamp,
        });
    }
    Ok(frames)
}

fn read_pcapng(path: &Path, bytes: &[u8]) -> Result<Vec<CapturedFrame>, CaptureError> {
    let mut reader = PcapNgReader::new(bytes).map_err(|e| CaptureError::Format {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    let mut links: Vec<DataLink> = Vec::new();
    let mut frames = Vec::new();
    while let Some(block) = reader.next_block() {
        let index = frames.len();
        let block = block.map_err(|e| CaptureError::Record {
            path: path.to_path_buf(),
            index,
            detail: e.to_string(),
        })?;
        let (interface, data, orig_len, timestamp) = match block {
            Block::SectionHeader(_) => {
                links.clear();
                continue;
            }
            Block::InterfaceDescription(idb) => {
                links.push(idb.linktype);
                continue;
            }
            Block::EnhancedPacket(epb) => (
                epb.interface_id,
                epb.data.into_owned(),
                epb.original_len,
                epb.timestamp,
            ),
            Block::SimplePacket(spb) => {
                let len = u32::try_from(spb.data.len()).unwrap_or(u32::MAX);
                (
                    0,
                    spb.data.into_owned(),
                    spb.original_len.max(len),
                    Duration::ZERO,
                )
            }
            _ => continue,
        };
        let link = usize::try_from(interface)
            .ok()
            .and_then(|i| links.get(i).copied())
            .ok_or(CaptureError::UnknownInterface {
                path: path.to_path_buf(),
                index,
                interface,
            })?;
        if link != DataLink::ETHERNET {
            return Err(CaptureError::LinkType {
                path: path.to_path_buf(),
                index,
                link,
            });
        }
        frames.push(CapturedFrame {
            data,
            orig_len,
            timestamp,
        });
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcap_header(link: u32) -> Vec<u8> {
        let mut h = Vec::new();
        h.extend(0xa1b2_c3d4u32.to_le_bytes());
        h.extend(2u16.to_le_bytes());
        h.extend(4u16.to_le_bytes());
        h.extend([0u8; 8]);
        h.extend(65_535u32.to_le_bytes());
        h.extend(link.to_le_bytes());
        h
    }

    fn record(data: &[u8]) -> Vec<u8> {
        let mut r = Vec::new();
        r.extend(1u32.to_le_bytes());
        r.extend(2u32.to_le_bytes());
        let len = u32::try_from(data.len()).expect("small");
        r.extend(len.to_le_bytes());
        r.extend(len.to_le_bytes());
        r.extend(data);
        r
    }

    #[test]
    fn reads_a_classic_pcap() {
        let mut f = pcap_header(1);
        f.extend(record(&[0xaa; 60]));
        f.extend(record(&[0xbb; 64]));
        let c = Capture::from_bytes(Path::new("t.pcap"), &f).expect("valid");
        assert_eq!(c.frames.len(), 2);
        assert_eq!(c.frames[1].data, vec![0xbb; 64]);
        assert_eq!(c.frames[0].timestamp, Duration::new(1, 2_000));
    }

    #[test]
    fn refuses_what_is_not_a_usable_capture() {
        let p = Path::new("bad.pcap");
        let err = |bytes: &[u8]| {
            Capture::from_bytes(p, bytes)
                .expect_err("refused")
                .to_string()
        };
        assert!(err(b"hello world, not a capture").contains("not a pcap"));
        assert!(err(&pcap_header(1)).contains("no packet"));
        let mut truncated = pcap_header(1);
        truncated.extend(record(&[0xaa; 60]));
        truncated.extend(&record(&[0xbb; 64])[..30]);
        assert!(err(&truncated).contains("record 1"), "{}", err(&truncated));
        let mut linux_sll = pcap_header(113);
        linux_sll.extend(record(&[0xaa; 60]));
        assert!(err(&linux_sll).contains("link type"));
        assert!(err(&[0x1f, 0x8b, 0, 1, 2]).contains("gzip"));
    }
}
