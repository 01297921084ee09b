//! Byte images of the records the card exchanges with the host through rings.
//!
//! Interim: these mirror the layouts of `nic_abi::desc` (same offsets and sizes), which is not
//! yet merged into main; once it is, this module is replaced by those types.

use nic_abi::key::{KeyWords, PortNo};
use nic_abi::time::SimTime;

use crate::host::{Iova, VmId};

/// Errors decoding a record the host wrote.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The buffer is shorter than the record.
    #[error("{record}: {len} bytes, expected {expected}")]
    Length {
        /// Which record.
        record: &'static str,
        /// Bytes given.
        len: usize,
        /// Bytes needed.
        expected: usize,
    },
    /// A field holds a value no correct driver writes.
    #[error("{record}: field {field} = {value:#x} is invalid")]
    Field {
        /// Which record.
        record: &'static str,
        /// Which field.
        field: &'static str,
        /// Its value.
        value: u64,
    },
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

fn check_len(record: &'static str, b: &[u8], expected: usize) -> Result<(), RecordError> {
    if b.len() != expected {
        return Err(RecordError::Length {
            record,
            len: b.len(),
            expected,
        });
    }
    Ok(())
}

/// A receive buffer posted by a VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxDescriptor {
    /// The buffer.
    pub buf: Iova,
    /// Its size in bytes.
    pub capacity: u16,
}

impl RxDescriptor {
    /// Bytes in the ring.
    pub const SIZE: usize = 16;

    /// The byte image.
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..8].copy_from_slice(&self.buf.0.to_le_bytes());
        b[8..10].copy_from_slice(&self.capacity.to_le_bytes());
        b
    }
}

impl TryFrom<&[u8]> for RxDescriptor {
    type Error = RecordError;

    fn try_from(b: &[u8]) -> Result<Self, RecordError> {
        check_len("RX descriptor", b, Self::SIZE)?;
        if b[10..16].iter().any(|&x| x != 0) {
            return Err(RecordError::Field {
                record: "RX descriptor",
                field: "reserved",
                value: u64_at(b, 8) >> 16,
            });
        }
        let d = RxDescriptor {
            buf: Iova(u64_at(b, 0)),
            capacity: u16_at(b, 8),
        };
        if d.capacity == 0 || d.buf.0.checked_add(u64::from(d.capacity)).is_none() {
            return Err(RecordError::Field {
                record: "RX descriptor",
                field: "capacity",
                value: u64::from(d.capacity),
            });
        }
        Ok(d)
    }
}

/// Status of an RX completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum RxStatus {
    /// The packet is in the buffer.
    Ok = 0,
    /// The buffer was too small; it holds nothing.
    BufferTooSmall = 1,
    /// The card's write into the buffer was refused; it holds nothing.
    DmaFault = 2,
}

/// The card's report of one used receive buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxCompletion {
    /// The RX ring index of the buffer.
    pub index: u16,
    /// Bytes written.
    pub len: u16,
    /// Outcome.
    pub status: RxStatus,
    /// The switch port the packet came from.
    pub in_port: PortNo,
    /// The key's first hash (for receive-side steering).
    pub flow_hash: u32,
    /// When the completion was written.
    pub timestamp: SimTime,
}

impl RxCompletion {
    /// Bytes in the ring.
    pub const SIZE: usize = 24;

    /// The byte image.
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..2].copy_from_slice(&self.index.to_le_bytes());
        b[2..4].copy_from_slice(&self.len.to_le_bytes());
        b[4..6].copy_from_slice(&(self.status as u16).to_le_bytes());
        b[6..8].copy_from_slice(&self.in_port.0.to_le_bytes());
        b[8..12].copy_from_slice(&self.flow_hash.to_le_bytes());
        b[16..24].copy_from_slice(&self.timestamp.0.to_le_bytes());
        b
    }
}

/// A packet a VM asks the card to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxDescriptor {
    /// The frame.
    pub buf: Iova,
    /// Its length in bytes.
    pub len: u16,
    /// Flags (bit 0: interrupt on completion).
    pub flags: u16,
    /// The sending VM, as the driver wrote it (the card trusts its own queue setup instead).
    pub vm: VmId,
    /// The queue.
    pub queue: u16,
}

impl TxDescriptor {
    /// Bytes in the ring.
    pub const SIZE: usize = 16;

    /// The byte image.
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..8].copy_from_slice(&self.buf.0.to_le_bytes());
        b[8..10].copy_from_slice(&self.len.to_le_bytes());
        b[10..12].copy_from_slice(&self.flags.to_le_bytes());
        b[12..14].copy_from_slice(&self.vm.0.to_le_bytes());
        b[14..16].copy_from_slice(&self.queue.to_le_bytes());
        b
    }
}

impl TryFrom<&[u8]> for TxDescriptor {
    type Error = RecordError;

    fn try_from(b: &[u8]) -> Result<Self, RecordError> {
        check_len("TX descriptor", b, Self::SIZE)?;
        let d = TxDescriptor {
            buf: Iova(u64_at(b, 0)),
            len: u16_at(b, 8),
            flags: u16_at(b, 10),
            vm: VmId(u16_at(b, 12)),
            queue: u16_at(b, 14),
        };
        if d.flags & !1 != 0 {
            return Err(RecordError::Field {
                record: "TX descriptor",
                field: "flags",
                value: u64::from(d.flags),
            });
        }
        Ok(d)
    }
}

/// Status of a TX completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum TxStatus {
    /// The packet left the card toward at least one port.
    Sent = 0,
    /// The packet was dropped (by a rule or for lack of resources).
    Dropped = 1,
    /// The packet went to the agent.
    ToAgent = 2,
    /// The descriptor was invalid (length zero or beyond the maximum frame).
    BadDescriptor = 3,
    /// Reading the packet was refused.
    DmaFault = 4,
}

/// The card's report that it is done with a TX buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxCompletion {
    /// The TX ring index of the descriptor.
    pub index: u16,
    /// Outcome.
    pub status: TxStatus,
    /// When the card finished with the buffer.
    pub timestamp: SimTime,
}

impl TxCompletion {
    /// Bytes in the ring.
    pub const SIZE: usize = 16;

    /// The byte image.
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..2].copy_from_slice(&self.index.to_le_bytes());
        b[2..4].copy_from_slice(&(self.status as u16).to_le_bytes());
        b[8..16].copy_from_slice(&self.timestamp.0.to_le_bytes());
        b
    }
}

/// Bytes of the frame a miss record carries.
pub const MISS_HEADER_BYTES: usize = 168;

/// Why a packet went to the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum MissReason {
    /// No entry for the key.
    TableMiss = 0,
    /// The key is not parsed (never looked up).
    Unparsed = 1,
    /// The entry's action is ToAgent.
    ActionToAgent = 2,
}

/// The card's report of a packet it holds for the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissRecord {
    /// Ingress port.
    pub in_port: PortNo,
    /// Bit 0: from a VM.
    pub flags: u16,
    /// Sending VM, if from a VM.
    pub vm: VmId,
    /// Sending queue, if from a VM.
    pub queue: u16,
    /// The held packet's handle, for the release command.
    pub handle: u32,
    /// Frame length.
    pub packet_len: u16,
    /// Valid bytes of `header`.
    pub header_len: u16,
    /// Arrival time of the packet.
    pub timestamp: SimTime,
    /// Why.
    pub reason: MissReason,
    /// The packed key.
    pub key: KeyWords,
    /// The frame's first bytes.
    pub header: [u8; MISS_HEADER_BYTES],
}

impl MissRecord {
    /// Bytes in the ring.
    pub const SIZE: usize = 256;

    /// The byte image.
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..2].copy_from_slice(&self.in_port.0.to_le_bytes());
        b[2..4].copy_from_slice(&self.flags.to_le_bytes());
        b[4..6].copy_from_slice(&self.vm.0.to_le_bytes());
        b[6..8].copy_from_slice(&self.queue.to_le_bytes());
        b[8..12].copy_from_slice(&self.handle.to_le_bytes());
        b[12..14].copy_from_slice(&self.packet_len.to_le_bytes());
        b[14..16].copy_from_slice(&self.header_len.to_le_bytes());
        b[16..24].copy_from_slice(&self.timestamp.0.to_le_bytes());
        b[24..26].copy_from_slice(&(self.reason as u16).to_le_bytes());
        for (i, w) in self.key.iter().enumerate() {
            b[28 + 4 * i..32 + 4 * i].copy_from_slice(&w.to_le_bytes());
        }
        b[88..].copy_from_slice(&self.header);
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_round_trip_and_refuse_garbage() {
        let d = RxDescriptor {
            buf: Iova(0x1000),
            capacity: 2048,
        };
        assert_eq!(RxDescriptor::try_from(&d.to_bytes()[..]), Ok(d));
        let mut b = d.to_bytes();
        b[12] = 1;
        assert!(RxDescriptor::try_from(&b[..]).is_err());
        assert!(RxDescriptor::try_from(&b[..8]).is_err());
        let t = TxDescriptor {
            buf: Iova(8),
            len: 60,
            flags: 1,
            vm: VmId(3),
            queue: 0,
        };
        assert_eq!(TxDescriptor::try_from(&t.to_bytes()[..]), Ok(t));
        let mut b = t.to_bytes();
        b[10] = 0x80;
        assert!(TxDescriptor::try_from(&b[..]).is_err());
    }
}
