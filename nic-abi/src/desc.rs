//! Descriptor, completion, miss-record, copy-command and release-command formats: every record
//! the card and the host exchange through rings in host memory.
//!
//! ```text
//!  VM TX ring   --TxDescriptor-->   card   --TxCompletion-->  VM TX completion ring
//!  VM RX ring   --RxDescriptor-->   card   --RxCompletion-->  VM RX completion ring
//!                                   card   --MissRecord---->  miss (exception) ring --> agent
//!  agent        --ReleaseCommand--> release ring --> card
//!                                   card   --CopyCommand--->  host copy engine
//!  copy engine  --CopyCompletion--> card
//! ```
//!
//! Every record is a `#[repr(C)]` struct whose fields are in wire order, and a fixed byte image
//! of `SIZE` bytes, all integers little-endian: `to_bytes()` writes it, `TryFrom<&[u8]>` reads
//! it and refuses, naming the record and the field, anything a correct peer never writes
//! (wrong length, reserved bits set, unknown codes, lengths out of range, a buffer that wraps
//! the address space). What a guest writes is untrusted; a record that decodes is well formed
//! (whether the guest may use that memory is the IOMMU's question, in `host-driver`).
//!
//! Field offsets live in one private `field` module per record; a test checks that they equal
//! the `#[repr(C)]` struct's own field offsets, so the struct is also a correct C view of the
//! bytes on a little-endian host.
//!
//! ```
//! use nic_abi::desc::{Iova, QueueIndex, TxDescriptor, TxFlags, VmId};
//!
//! let d = TxDescriptor {
//!     buf: Iova(0x1_0000),
//!     len: 64,
//!     flags: TxFlags::NONE,
//!     vm: VmId(2),
//!     queue: QueueIndex(0),
//! };
//! let bytes = d.to_bytes();
//! assert_eq!(bytes[..10], [0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 64, 0]);
//! assert_eq!(TxDescriptor::try_from(&bytes[..])?, d);
//! assert!(TxDescriptor::try_from(&bytes[..8]).is_err());
//! # Ok::<(), nic_abi::desc::DescError>(())
//! ```

use core::fmt;
use core::num::Wrapping;

use serde::{Deserialize, Serialize};

use crate::action::{Action, ActionWords};
use crate::key::{FlowKey, KeyWords, PortNo, KEY_WORDS};
use crate::time::SimTime;

/// Smallest frame a TX descriptor may carry: an Ethernet header (destination, source, type).
pub const MIN_FRAME_BYTES: u16 = 14;
/// Largest frame (without FCS) the card switches: a 9,000-byte jumbo MTU plus Ethernet and
/// two VLAN headers, rounded up to the customary 9,216.
pub const MAX_FRAME_BYTES: u16 = 9216;
/// Header bytes a [`MissRecord`] carries: the card parser's header window
/// ([`crate::parse::HEADER_WINDOW_BYTES`]), exactly the bytes the card read and parsed, so a
/// miss costs no extra PCIe read and the agent sees what the card saw.
pub const MISS_HEADER_BYTES: usize = crate::parse::HEADER_WINDOW_BYTES;

// The header length travels in a u16, and the whole record must fit one TLP at the common
// maximum payload size of 256 bytes.
const _: () = assert!(MISS_HEADER_BYTES <= 256 - 88);
/// Largest ring (entries). Indices are 16-bit and wrap; a power-of-two size divides 2^16, so
/// `index % size` stays continuous across the wrap, and `producer - consumer` tells a full
/// ring (`size`) from an empty one (0) as long as `size <= 2^15`.
pub const MAX_RING_ENTRIES: u16 = 1 << 15;

/// An I/O virtual address: what the card puts on PCIe, translated and checked by the IOMMU.
/// Not a guest-physical or host address.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
#[repr(transparent)]
pub struct Iova(pub u64);

impl Iova {
    /// The address `bytes` further on, or `None` when that passes the end of the address space.
    pub fn checked_add(self, bytes: u64) -> Option<Iova> {
        self.0.checked_add(bytes).map(Iova)
    }
}

impl fmt::Display for Iova {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "iova {:#x}", self.0)
    }
}

/// A virtual machine's id on this host.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
#[repr(transparent)]
pub struct VmId(pub u16);

impl fmt::Display for VmId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "vm {}", self.0)
    }
}

/// The index of a queue pair (TX ring, RX ring, their completion rings) on the card.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
#[repr(transparent)]
pub struct QueueIndex(pub u16);

impl fmt::Display for QueueIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "queue {}", self.0)
    }
}

/// A producer or consumer index of a ring. It counts entries ever produced (consumed), wraps
/// at 2^16, and selects slot `index % size`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
#[repr(transparent)]
pub struct RingIndex(pub Wrapping<u16>);

impl RingIndex {
    /// The index with this raw value.
    pub const fn new(v: u16) -> RingIndex {
        RingIndex(Wrapping(v))
    }

    /// The raw 16-bit value.
    pub fn value(self) -> u16 {
        self.0 .0
    }

    /// The index `n` entries further on (wrapping).
    pub fn advance(self, n: u16) -> RingIndex {
        RingIndex(self.0 + Wrapping(n))
    }

    /// Entries from `earlier` to `self` (wrapping): `producer.since(consumer)` is the number of
    /// entries in a ring.
    pub fn since(self, earlier: RingIndex) -> u16 {
        (self.0 - earlier.0).0
    }

    /// The ring slot this index selects.
    pub fn slot(self, size: RingSize) -> usize {
        usize::from(self.value() & (size.get() - 1))
    }
}

impl fmt::Display for RingIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.value())
    }
}

/// The number of entries of a ring: a power of two in `1..=`[`MAX_RING_ENTRIES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u16", into = "u16")]
pub struct RingSize(u16);

impl RingSize {
    /// A ring of `entries` entries, refused unless a power of two no larger than
    /// [`MAX_RING_ENTRIES`].
    pub fn new(entries: u16) -> Result<RingSize, DescError> {
        if !entries.is_power_of_two() || entries > MAX_RING_ENTRIES {
            return Err(DescError::RingSize(u32::from(entries)));
        }
        Ok(RingSize(entries))
    }

    /// The number of entries.
    pub fn get(self) -> u16 {
        self.0
    }

    /// Entries between `consumer` and `producer`, or an error when the indices are more than
    /// a ring apart (a peer wrote an index it could not have reached).
    pub fn pending(self, producer: RingIndex, consumer: RingIndex) -> Result<u16, DescError> {
        let n = producer.since(consumer);
        if n > self.0 {
            return Err(DescError::RingIndices {
                producer: producer.value(),
                consumer: consumer.value(),
                size: self.0,
            });
        }
        Ok(n)
    }
}

impl TryFrom<u16> for RingSize {
    type Error = DescError;

    fn try_from(entries: u16) -> Result<Self, Self::Error> {
        RingSize::new(entries)
    }
}

impl TryFrom<u32> for RingSize {
    type Error = DescError;

    /// A ring size from a 32-bit register value.
    fn try_from(entries: u32) -> Result<Self, Self::Error> {
        u16::try_from(entries)
            .map_err(|_| DescError::RingSize(entries))
            .and_then(RingSize::new)
    }
}

impl From<RingSize> for u16 {
    fn from(s: RingSize) -> u16 {
        s.0
    }
}

/// The card's handle of a packet it holds while the agent sets up its flow; the agent names it
/// in a [`ReleaseCommand`].
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
#[repr(transparent)]
pub struct PacketHandle(pub u32);

impl fmt::Display for PacketHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "packet {}", self.0)
    }
}

/// The card's tag on a copy command, returned in its completion.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
#[repr(transparent)]
pub struct CopyCookie(pub u64);

/// Error from decoding a record, or from a ring size or ring indices out of range. Each says
/// which record and which field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DescError {
    /// The buffer is not the record's size.
    #[error("{record}: {len} bytes, but the record is exactly {size} bytes")]
    Length {
        /// Record name.
        record: &'static str,
        /// Bytes given.
        len: usize,
        /// The record's size.
        size: usize,
    },
    /// A field has a value no correct peer writes.
    #[error("{record} field `{field}` (byte {offset}) = {value:#x}: {expected}")]
    Field {
        /// Record name.
        record: &'static str,
        /// Field name.
        field: &'static str,
        /// Byte offset of the field in the record.
        offset: usize,
        /// The value found.
        value: u64,
        /// What a valid value is.
        expected: &'static str,
    },
    /// A ring size that is not a power of two in range.
    #[error("ring size {0} is not a power of two in 1..=32768")]
    RingSize(u32),
    /// Producer and consumer indices further apart than the ring holds.
    #[error("ring indices producer {producer} and consumer {consumer} are more than the ring's {size} entries apart")]
    RingIndices {
        /// Producer index.
        producer: u16,
        /// Consumer index.
        consumer: u16,
        /// Ring size.
        size: u16,
    },
}

/// Little-endian readers and writers at constant offsets inside a fixed-size record; the
/// callers' offsets are constants below the record's size, so the indexing cannot fail.
mod le {
    pub(super) fn u16_at(b: &[u8], at: usize) -> u16 {
        u16::from_le_bytes([b[at], b[at + 1]])
    }
    pub(super) fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }
    pub(super) fn u64_at(b: &[u8], at: usize) -> u64 {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[at..at + 8]);
        u64::from_le_bytes(a)
    }
    pub(super) fn put_u16(b: &mut [u8], at: usize, v: u16) {
        b[at..at + 2].copy_from_slice(&v.to_le_bytes());
    }
    pub(super) fn put_u32(b: &mut [u8], at: usize, v: u32) {
        b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
    pub(super) fn put_u64(b: &mut [u8], at: usize, v: u64) {
        b[at..at + 8].copy_from_slice(&v.to_le_bytes());
    }
}

/// Checks a buffer's length and returns it as the record's fixed-size array.
fn exact<'a, const N: usize>(
    record: &'static str,
    bytes: &'a [u8],
) -> Result<&'a [u8; N], DescError> {
    bytes.try_into().map_err(|_| DescError::Length {
        record,
        len: bytes.len(),
        size: N,
    })
}

/// Refuses non-zero bytes in a reserved range.
fn reserved_zero(
    record: &'static str,
    b: &[u8],
    range: core::ops::Range<usize>,
) -> Result<(), DescError> {
    let start = range.start;
    let bytes = &b[range];
    if bytes.iter().any(|&x| x != 0) {
        let value = bytes
            .iter()
            .rev()
            .fold(0u64, |acc, &x| (acc << 8) | u64::from(x));
        return Err(DescError::Field {
            record,
            field: "reserved",
            offset: start,
            value,
            expected: "reserved bytes must be 0",
        });
    }
    Ok(())
}

fn field_err(
    record: &'static str,
    field: &'static str,
    offset: usize,
    value: u64,
    expected: &'static str,
) -> DescError {
    DescError::Field {
        record,
        field,
        offset,
        value,
        expected,
    }
}

/// Checks that `len` bytes at `buf` stay inside the 64-bit address space.
fn no_wrap(record: &'static str, buf: Iova, len: u64, offset: usize) -> Result<(), DescError> {
    if buf.checked_add(len).is_none() {
        return Err(field_err(
            record,
            "buf",
            offset,
            buf.0,
            "the buffer must not wrap the end of the address space",
        ));
    }
    Ok(())
}

/// Defines a `#[repr(u16)]` code enum with `code()`, `ALL` and a decoder.
macro_rules! code_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $code:expr),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        #[repr(u16)]
        pub enum $name {
            $($(#[$vm])* $variant = $code),+
        }

        impl $name {
            /// Every value, in code order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value's wire code.
            pub fn code(self) -> u16 {
                self as u16
            }

            /// The value with wire code `code`, if any.
            pub fn from_code(code: u16) -> Option<$name> {
                Self::ALL.iter().copied().find(|v| v.code() == code)
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------
// TX descriptor

/// Flags of a [`TxDescriptor`].
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
#[repr(transparent)]
pub struct TxFlags(pub u16);

impl TxFlags {
    /// No flags.
    pub const NONE: TxFlags = TxFlags(0);
    /// Raise the queue's interrupt when this descriptor completes, bypassing moderation (the
    /// "report status" bit of common NICs).
    pub const INTERRUPT: u16 = 1 << 0;
    /// Every defined flag bit.
    pub const ALL_BITS: u16 = Self::INTERRUPT;
}

/// A VM's request to send one frame: posted on its TX ring, fetched by the card.
///
/// ```text
/// byte 0        8      10      12      14      16
///      |  buf   |  len  | flags |  vm   | queue |
/// ```
/// `vm` and `queue` must name the ring the descriptor was fetched from: the card compares them
/// with the ring's owner and refuses a mismatch (a guest cannot borrow another VM's identity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct TxDescriptor {
    /// Address of the frame's first byte.
    pub buf: Iova,
    /// Frame length in bytes, [`MIN_FRAME_BYTES`]..=[`MAX_FRAME_BYTES`].
    pub len: u16,
    /// [`TxFlags`].
    pub flags: TxFlags,
    /// The VM that owns the ring.
    pub vm: VmId,
    /// The queue the ring belongs to.
    pub queue: QueueIndex,
}

mod tx_desc {
    pub const BUF: usize = 0;
    pub const LEN: usize = 8;
    pub const FLAGS: usize = 10;
    pub const VM: usize = 12;
    pub const QUEUE: usize = 14;
}

impl TxDescriptor {
    /// Name in errors.
    pub const NAME: &'static str = "TX descriptor";
    /// Bytes in the wire image.
    pub const SIZE: usize = 16;

    /// The wire image.
    #[inline]
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        le::put_u64(&mut b, tx_desc::BUF, self.buf.0);
        le::put_u16(&mut b, tx_desc::LEN, self.len);
        le::put_u16(&mut b, tx_desc::FLAGS, self.flags.0);
        le::put_u16(&mut b, tx_desc::VM, self.vm.0);
        le::put_u16(&mut b, tx_desc::QUEUE, self.queue.0);
        b
    }
}

impl TryFrom<&[u8]> for TxDescriptor {
    type Error = DescError;

    fn try_from(bytes: &[u8]) -> Result<Self, Self::Error> {
        let b: &[u8; Self::SIZE] = exact(Self::NAME, bytes)?;
        let buf = Iova(le::u64_at(b, tx_desc::BUF));
        let len = le::u16_at(b, tx_desc::LEN);
        if !(MIN_FRAME_BYTES..=MAX_FRAME_BYTES).contains(&len) {
            return Err(field_err(
                Self::NAME,
                "len",
                tx_desc::LEN,
                len.into(),
                "frame length must be 14..=9216",
            ));
        }
        no_wrap(Self::NAME, buf, len.into(), tx_desc::BUF)?;
        let flags = le::u16_at(b, tx_desc::FLAGS);
        if flags & !TxFlags::ALL_BITS != 0 {
            return Err(field_err(
                Self::NAME,
                "flags",
                tx_desc::FLAGS,
                flags.into(),
                "only bit 0 (interrupt) is defined",
            ));
        }
        Ok(TxDescriptor {
            buf,
            len,
            flags: TxFlags(flags),
            vm: VmId(le::u16_at(b, tx_desc::VM)),
            queue: QueueIndex(le::u16_at(b, tx_desc::QUEUE)),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// RX descriptor

/// A VM's empty receive buffer: posted on its RX ring, filled by the card.
///
/// ```text
/// byte 0        8          10            16
///      |  buf   | capacity | reserved (0) |
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct RxDescriptor {
    /// Address of the buffer's first byte.
    pub buf: Iova,
    /// Buffer size in bytes, at least [`MIN_FRAME_BYTES`]; a frame longer than this is
    /// dropped (the descriptor comes back with [`RxStatus::BufferTooSmall`]).
    pub capacity: u16,
}

mod rx_desc {
    pub const BUF: usize = 0;
    pub const CAPACITY: usize = 8;
    pub const RESERVED: core::ops::Range<usize> = 10..16;
}

impl RxDescriptor {
    /// Name in errors.
    pub const NAME: &'static str = "RX descriptor";
    /// Bytes in the wire image.
    pub const SIZE: usize = 16;

    /// The wire image.
    #[inline]
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        le::put_u64(&mut b, rx_desc::BUF, self.buf.0);
        le::put_u16(&mut b, rx_desc::CAPACITY, self.capacity);
        b
    }
}

impl TryFrom<&[u8]> for RxDescriptor {
    type Error = DescError;

    fn try_from(bytes: &[u8]) -> Result<Self, Self::Error> {
        let b: &[u8; Self::SIZE] = exact(Self::NAME, bytes)?;
        let buf = Iova(le::u64_at(b, rx_desc::BUF));
        let capacity = le::u16_at(b, rx_desc::CAPACITY);
        if capacity < MIN_FRAME_BYTES {
            return Err(field_err(
                Self::NAME,
                "capacity",
                rx_desc::CAPACITY,
                capacity.into(),
                "a buffer must hold at least 14 bytes",
            ));
        }
        no_wrap(Self::NAME, buf, capacity.into(), rx_desc::BUF)?;
        reserved_zero(Self::NAME, b, rx_desc::RESERVED)?;
        Ok(RxDescriptor { buf, capacity })
    }
}

// ---------------------------------------------------------------------------------------------
// TX completion

code_enum! {
    /// How the card finished with a TX descriptor. `Done` says the frame entered the switch,
    /// not where it went: a VM does not learn that a rule dropped its frame.
    TxStatus {
        /// The frame was read and switched.
        Done = 0,
        /// The descriptor was refused (not well formed, or `vm`/`queue` not the ring's); the
        /// frame was dropped.
        BadDescriptor = 1,
        /// The IOMMU refused the card's read of the frame; the frame was dropped.
        DmaFault = 2,
    }
}

/// The card's report that it has finished with a TX descriptor (its buffer may be reused).
///
/// ```text
/// byte 0       2        4              8           16
///      | index | status | reserved (0) | timestamp |
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct TxCompletion {
    /// Ring index of the descriptor completed.
    pub index: RingIndex,
    /// Outcome.
    pub status: TxStatus,
    /// When the card finished with the descriptor.
    pub timestamp: SimTime,
}

mod tx_cpl {
    pub const INDEX: usize = 0;
    pub const STATUS: usize = 2;
    pub const RESERVED: core::ops::Range<usize> = 4..8;
    pub const TIMESTAMP: usize = 8;
}

impl TxCompletion {
    /// Name in errors.
    pub const NAME: &'static str = "TX completion";
    /// Bytes in the wire image.
    pub const SIZE: usize = 16;

    /// The wire image.
    #[inline]
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        le::put_u16(&mut b, tx_cpl::INDEX, self.index.value());
        le::put_u16(&mut b, tx_cpl::STATUS, self.status.code());
        le::put_u64(&mut b, tx_cpl::TIMESTAMP, self.timestamp.0);
        b
    }
}

impl TryFrom<&[u8]> for TxCompletion {
    type Error = DescError;

    fn try_from(bytes: &[u8]) -> Result<Self, Self::Error> {
        let b: &[u8; Self::SIZE] = exact(Self::NAME, bytes)?;
        let code = le::u16_at(b, tx_cpl::STATUS);
        let status = TxStatus::from_code(code).ok_or_else(|| {
            field_err(
                Self::NAME,
                "status",
                tx_cpl::STATUS,
                code.into(),
                "status must be 0 (done), 1 (bad descriptor) or 2 (DMA fault)",
            )
        })?;
        reserved_zero(Self::NAME, b, tx_cpl::RESERVED)?;
        Ok(TxCompletion {
            index: RingIndex::new(le::u16_at(b, tx_cpl::INDEX)),
            status,
            timestamp: SimTime(le::u64_at(b, tx_cpl::TIMESTAMP)),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// RX completion

code_enum! {
    /// How the card used an RX descriptor.
    RxStatus {
        /// A frame of `len` bytes was written into the buffer.
        Ok = 0,
        /// A frame longer than the buffer arrived; it was dropped (counted, reason "RX buffer
        /// too small") and the buffer is returned unused.
        BufferTooSmall = 1,
        /// The IOMMU refused the card's write; the frame was dropped and nothing was written.
        DmaFault = 2,
    }
}

/// The card's report that it has used an RX descriptor.
///
/// ```text
/// byte 0       2     4        6         8           12             16          24
///      | index | len | status | in_port | flow_hash | reserved (0) | timestamp |
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct RxCompletion {
    /// Ring index of the descriptor used.
    pub index: RingIndex,
    /// Bytes written (0 unless `status` is `Ok`).
    pub len: u16,
    /// Outcome.
    pub status: RxStatus,
    /// The switch port the frame entered on (an uplink or the sending VM's port).
    pub in_port: PortNo,
    /// The frame's flow hash (the key's CRC-32C, [`crate::hash::key_hashes`]`[0]`), for
    /// spreading flows over a guest's CPUs.
    pub flow_hash: u32,
    /// When the frame arrived at the card.
    pub timestamp: SimTime,
}

mod rx_cpl {
    pub const INDEX: usize = 0;
    pub const LEN: usize = 2;
    pub const STATUS: usize = 4;
    pub const IN_PORT: usize = 6;
    pub const FLOW_HASH: usize = 8;
    pub const RESERVED: core::ops::Range<usize> = 12..16;
    pub const TIMESTAMP: usize = 16;
}

impl RxCompletion {
    /// Name in errors.
    pub const NAME: &'static str = "RX completion";
    /// Bytes in the wire image.
    pub const SIZE: usize = 24;

    /// The wire image.
    #[inline]
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        le::put_u16(&mut b, rx_cpl::INDEX, self.index.value());
        le::put_u16(&mut b, rx_cpl::LEN, self.len);
        le::put_u16(&mut b, rx_cpl::STATUS, self.status.code());
        le::put_u16(&mut b, rx_cpl::IN_PORT, self.in_port.0);
        le::put_u32(&mut b, rx_cpl::FLOW_HASH, self.flow_hash);
        le::put_u64(&mut b, rx_cpl::TIMESTAMP, self.timestamp.0);
        b
    }
}

impl TryFrom<&[u8]> for RxCompletion {
    type Error = DescError;

    fn try_from(bytes: &[u8]) -> Result<Self, Self::Error> {
        let b: &[u8; Self::SIZE] = exact(Self::NAME, bytes)?;
        let code = le::u16_at(b, rx_cpl::STATUS);
        let status = RxStatus::from_code(code).ok_or_else(|| {
            field_err(
                Self::NAME,
                "status",
                rx_cpl::STATUS,
                code.into(),
                "status must be 0 (ok), 1 (buffer too small) or 2 (DMA fault)",
            )
        })?;
        let len = le::u16_at(b, rx_cpl::LEN);
        let len_ok = match status {
            RxStatus::Ok => (MIN_FRAME_BYTES..=MAX_FRAME_BYTES).contains(&len),
            RxStatus::BufferTooSmall | RxStatus::DmaFault => len == 0,
        };
        if !len_ok {
            return Err(field_err(
                Self::NAME,
                "len",
                rx_cpl::LEN,
                len.into(),
                "length must be 14..=9216 for status ok, 0 otherwise",
            ));
        }
        reserved_zero(Self::NAME, b, rx_cpl::RESERVED)?;
        Ok(RxCompletion {
            index: RingIndex::new(le::u16_at(b, rx_cpl::INDEX)),
            len,
            status,
            in_port: PortNo(le::u16_at(b, rx_cpl::IN_PORT)),
            flow_hash: le::u32_at(b, rx_cpl::FLOW_HASH),
            timestamp: SimTime(le::u64_at(b, rx_cpl::TIMESTAMP)),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Miss record

code_enum! {
    /// Why the card sent a packet to the agent.
    MissReason {
        /// The key is parsed but has no entry: the first packet of a flow (or of a flow whose
        /// entry was evicted).
        TableMiss = 1,
        /// The key could not be fully formed ([`crate::key::KeyClass::Unparsed`], the reason is
        /// in the key's class field); such keys are never looked up.
        UnparsedKey = 2,
        /// The entry's action is [`crate::action::Destination::ToAgent`].
        ToAgent = 3,
    }
}

/// Flags of a [`MissRecord`].
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
#[repr(transparent)]
pub struct MissFlags(pub u16);

impl MissFlags {
    /// No flags: the packet came from an uplink port.
    pub const NONE: MissFlags = MissFlags(0);
    /// The packet came from a VM's TX queue; `vm` and `queue` name it.
    pub const FROM_VM: u16 = 1 << 0;
    /// Every defined flag bit.
    pub const ALL_BITS: u16 = Self::FROM_VM;

    /// True when the packet came from a VM.
    pub fn from_vm(self) -> bool {
        self.0 & Self::FROM_VM != 0
    }
}

/// What the card writes to the miss (exception) ring for a packet it holds for the agent.
/// 88 bytes of metadata and key, then [`MISS_HEADER_BYTES`] (128) header bytes: 216 bytes, one
/// TLP at the common maximum payload size of 256.
///
/// ```text
/// byte  0         2       4    6       8        12           14           16
///       | in_port | flags | vm | queue | handle | packet_len | header_len | timestamp (8) |
/// byte 24        26             28         88
///       | reason | reserved (0) | key (60) | header (MISS_HEADER_BYTES; 0 past header_len) |
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct MissRecord {
    /// The switch port the packet entered on.
    pub in_port: PortNo,
    /// [`MissFlags`].
    pub flags: MissFlags,
    /// The sending VM, when [`MissFlags::FROM_VM`]; else 0.
    pub vm: VmId,
    /// The sending VM's queue, when [`MissFlags::FROM_VM`]; else 0.
    pub queue: QueueIndex,
    /// The card's handle of the held packet, for the [`ReleaseCommand`].
    pub handle: PacketHandle,
    /// The frame's length in bytes.
    pub packet_len: u16,
    /// Valid bytes in `header`: `min(packet_len, MISS_HEADER_BYTES)`.
    pub header_len: u16,
    /// When the packet arrived at the card.
    pub timestamp: SimTime,
    /// Why the packet came to the agent.
    pub reason: MissReason,
    /// The packet's key, packed ([`FlowKey::to_words`]); decoding checks it unpacks.
    pub key: KeyWords,
    /// The frame's first `header_len` bytes, then zeros.
    pub header: [u8; MISS_HEADER_BYTES],
}

mod miss {
    pub const IN_PORT: usize = 0;
    pub const FLAGS: usize = 2;
    pub const VM: usize = 4;
    pub const QUEUE: usize = 6;
    pub const HANDLE: usize = 8;
    pub const PACKET_LEN: usize = 12;
    pub const HEADER_LEN: usize = 14;
    pub const TIMESTAMP: usize = 16;
    pub const REASON: usize = 24;
    pub const RESERVED: core::ops::Range<usize> = 26..28;
    pub const KEY: usize = 28;
    pub const HEADER: usize = 88;
}

impl MissRecord {
    /// Name in errors.
    pub const NAME: &'static str = "miss record";
    /// Bytes in the wire image.
    pub const SIZE: usize = miss::HEADER + MISS_HEADER_BYTES;

    /// The record for a packet the card holds: `frame` is the whole frame (its first
    /// [`MISS_HEADER_BYTES`] bytes are copied), `from` the sending VM and queue for a packet
    /// from a VM (`None` from an uplink). The reason must agree with the key: `UnparsedKey`
    /// exactly when the key is not parsed.
    pub fn for_packet(
        in_port: PortNo,
        from: Option<(VmId, QueueIndex)>,
        handle: PacketHandle,
        timestamp: SimTime,
        reason: MissReason,
        key: &FlowKey,
        frame: &[u8],
    ) -> Result<MissRecord, DescError> {
        let packet_len = u16::try_from(frame.len())
            .ok()
            .filter(|&l| l <= MAX_FRAME_BYTES)
            .ok_or_else(|| {
                field_err(
                    Self::NAME,
                    "packet_len",
                    miss::PACKET_LEN,
                    u64::try_from(frame.len()).unwrap_or(u64::MAX),
                    "frame length must be at most 9216",
                )
            })?;
        if key.is_parsed() == (reason == MissReason::UnparsedKey) {
            return Err(field_err(
                Self::NAME,
                "reason",
                miss::REASON,
                reason.code().into(),
                "reason must be 2 (unparsed key) exactly when the key's class is unparsed",
            ));
        }
        let n = frame.len().min(MISS_HEADER_BYTES);
        let mut header = [0u8; MISS_HEADER_BYTES];
        header[..n].copy_from_slice(&frame[..n]);
        let (flags, vm, queue) = match from {
            Some((vm, queue)) => (MissFlags(MissFlags::FROM_VM), vm, queue),
            None => (MissFlags::NONE, VmId(0), QueueIndex(0)),
        };
        // MISS_HEADER_BYTES is at most 168 (asserted above): it fits u16.
        #[allow(clippy::cast_possible_truncation)]
        let header_len = n as u16;
        Ok(MissRecord {
            in_port,
            flags,
            vm,
            queue,
            handle,
            packet_len,
            header_len,
            timestamp,
            reason,
            key: key.to_words(),
            header,
        })
    }

    /// The record's key, unpacked. Records that came through `TryFrom` always unpack.
    pub fn flow_key(&self) -> Result<FlowKey, crate::key::KeyLayoutError> {
        FlowKey::from_words(&self.key)
    }

    /// The valid header bytes.
    pub fn header_bytes(&self) -> &[u8] {
        let n = usize::from(self.header_len).min(MISS_HEADER_BYTES);
        &self.header[..n]
    }

    /// The wire image.
    #[inline]
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        le::put_u16(&mut b, miss::IN_PORT, self.in_port.0);
        le::put_u16(&mut b, miss::FLAGS, self.flags.0);
        le::put_u16(&mut b, miss::VM, self.vm.0);
        le::put_u16(&mut b, miss::QUEUE, self.queue.0);
        le::put_u32(&mut b, miss::HANDLE, self.handle.0);
        le::put_u16(&mut b, miss::PACKET_LEN, self.packet_len);
        le::put_u16(&mut b, miss::HEADER_LEN, self.header_len);
        le::put_u64(&mut b, miss::TIMESTAMP, self.timestamp.0);
        le::put_u16(&mut b, miss::REASON, self.reason.code());
        for (i, w) in self.key.iter().enumerate() {
            le::put_u32(&mut b, miss::KEY + 4 * i, *w);
        }
        b[miss::HEADER..].copy_from_slice(&self.header);
        b
    }
}

impl TryFrom<&[u8]> for MissRecord {
    type Error = DescError;

    fn try_from(bytes: &[u8]) -> Result<Self, Self::Error> {
        let b: &[u8; Self::SIZE] = exact(Self::NAME, bytes)?;
        let flags = le::u16_at(b, miss::FLAGS);
        if flags & !MissFlags::ALL_BITS != 0 {
            return Err(field_err(
                Self::NAME,
                "flags",
                miss::FLAGS,
                flags.into(),
                "only bit 0 (from VM) is defined",
            ));
        }
        let flags = MissFlags(flags);
        let vm = le::u16_at(b, miss::VM);
        let queue = le::u16_at(b, miss::QUEUE);
        if !flags.from_vm() && (vm != 0 || queue != 0) {
            return Err(field_err(
                Self::NAME,
                "vm",
                miss::VM,
                (u64::from(vm) << 16) | u64::from(queue),
                "vm and queue must be 0 for a packet from an uplink",
            ));
        }
        let packet_len = le::u16_at(b, miss::PACKET_LEN);
        if packet_len > MAX_FRAME_BYTES {
            return Err(field_err(
                Self::NAME,
                "packet_len",
                miss::PACKET_LEN,
                packet_len.into(),
                "frame length must be at most 9216",
            ));
        }
        let header_len = le::u16_at(b, miss::HEADER_LEN);
        // MISS_HEADER_BYTES is at most 168 (asserted above): it fits u16.
        #[allow(clippy::cast_possible_truncation)]
        let expected_header = packet_len.min(MISS_HEADER_BYTES as u16);
        if header_len != expected_header {
            return Err(field_err(
                Self::NAME,
                "header_len",
                miss::HEADER_LEN,
                header_len.into(),
                "header length must be min(packet_len, MISS_HEADER_BYTES = 128)",
            ));
        }
        let code = le::u16_at(b, miss::REASON);
        let reason = MissReason::from_code(code).ok_or_else(|| {
            field_err(
                Self::NAME,
                "reason",
                miss::REASON,
                code.into(),
                "reason must be 1 (table miss), 2 (unparsed key) or 3 (to agent)",
            )
        })?;
        reserved_zero(Self::NAME, b, miss::RESERVED)?;
        let mut key = [0u32; KEY_WORDS];
        for (i, w) in key.iter_mut().enumerate() {
            *w = le::u32_at(b, miss::KEY + 4 * i);
        }
        let flow_key = FlowKey::from_words(&key).map_err(|_| {
            field_err(
                Self::NAME,
                "key",
                miss::KEY,
                u64::from(key[0]),
                "key word 0 must hold a known class and fragment flags",
            )
        })?;
        let key_says_unparsed = !flow_key.is_parsed();
        if key_says_unparsed != (reason == MissReason::UnparsedKey) {
            return Err(field_err(
                Self::NAME,
                "reason",
                miss::REASON,
                code.into(),
                "reason must be 2 (unparsed key) exactly when the key's class is unparsed",
            ));
        }
        let mut header = [0u8; MISS_HEADER_BYTES];
        header.copy_from_slice(&b[miss::HEADER..]);
        reserved_zero(
            Self::NAME,
            b,
            miss::HEADER + usize::from(header_len)..Self::SIZE,
        )?;
        Ok(MissRecord {
            in_port: PortNo(le::u16_at(b, miss::IN_PORT)),
            flags,
            vm: VmId(vm),
            queue: QueueIndex(queue),
            handle: PacketHandle(le::u32_at(b, miss::HANDLE)),
            packet_len,
            header_len,
            timestamp: SimTime(le::u64_at(b, miss::TIMESTAMP)),
            reason,
            key,
            header,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Copy command and completion

/// The card's order to the host copy engine: copy a frame from the sending VM's TX buffer to
/// the receiving VM's RX buffer, in host memory, so the payload never crosses PCIe.
///
/// ```text
/// byte 0     8     16       18       20    24       32
///      | src | dst | src_vm | dst_vm | len | cookie |
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct CopyCommand {
    /// Source buffer (in `src_vm`'s IOVA space).
    pub src: Iova,
    /// Destination buffer (in `dst_vm`'s IOVA space).
    pub dst: Iova,
    /// The VM whose memory is read.
    pub src_vm: VmId,
    /// The VM whose memory is written.
    pub dst_vm: VmId,
    /// Bytes to copy, 1..=[`MAX_FRAME_BYTES`].
    pub len: u32,
    /// Returned in the completion.
    pub cookie: CopyCookie,
}

mod copy_cmd {
    pub const SRC: usize = 0;
    pub const DST: usize = 8;
    pub const SRC_VM: usize = 16;
    pub const DST_VM: usize = 18;
    pub const LEN: usize = 20;
    pub const COOKIE: usize = 24;
}

impl CopyCommand {
    /// Name in errors.
    pub const NAME: &'static str = "copy command";
    /// Bytes in the wire image.
    pub const SIZE: usize = 32;

    /// The wire image.
    #[inline]
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        le::put_u64(&mut b, copy_cmd::SRC, self.src.0);
        le::put_u64(&mut b, copy_cmd::DST, self.dst.0);
        le::put_u16(&mut b, copy_cmd::SRC_VM, self.src_vm.0);
        le::put_u16(&mut b, copy_cmd::DST_VM, self.dst_vm.0);
        le::put_u32(&mut b, copy_cmd::LEN, self.len);
        le::put_u64(&mut b, copy_cmd::COOKIE, self.cookie.0);
        b
    }
}

impl TryFrom<&[u8]> for CopyCommand {
    type Error = DescError;

    fn try_from(bytes: &[u8]) -> Result<Self, Self::Error> {
        let b: &[u8; Self::SIZE] = exact(Self::NAME, bytes)?;
        let src = Iova(le::u64_at(b, copy_cmd::SRC));
        let dst = Iova(le::u64_at(b, copy_cmd::DST));
        let len = le::u32_at(b, copy_cmd::LEN);
        if len == 0 || len > u32::from(MAX_FRAME_BYTES) {
            return Err(field_err(
                Self::NAME,
                "len",
                copy_cmd::LEN,
                len.into(),
                "copy length must be 1..=9216",
            ));
        }
        no_wrap(Self::NAME, src, len.into(), copy_cmd::SRC)?;
        if dst.checked_add(len.into()).is_none() {
            return Err(field_err(
                Self::NAME,
                "dst",
                copy_cmd::DST,
                dst.0,
                "the buffer must not wrap the end of the address space",
            ));
        }
        Ok(CopyCommand {
            src,
            dst,
            src_vm: VmId(le::u16_at(b, copy_cmd::SRC_VM)),
            dst_vm: VmId(le::u16_at(b, copy_cmd::DST_VM)),
            len,
            cookie: CopyCookie(le::u64_at(b, copy_cmd::COOKIE)),
        })
    }
}

code_enum! {
    /// How a copy ended.
    CopyStatus {
        /// Every byte was copied.
        Done = 0,
        /// The IOMMU refused the read of the source; nothing was written.
        SourceFault = 1,
        /// The IOMMU refused the write of the destination; nothing was written.
        DestinationFault = 2,
    }
}

/// The copy engine's report of a finished [`CopyCommand`].
///
/// ```text
/// byte 0        8     12       14             16
///      | cookie | len | status | reserved (0) |
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct CopyCompletion {
    /// The command's cookie.
    pub cookie: CopyCookie,
    /// Bytes copied (the command's length when `Done`, else 0).
    pub len: u32,
    /// Outcome.
    pub status: CopyStatus,
}

mod copy_cpl {
    pub const COOKIE: usize = 0;
    pub const LEN: usize = 8;
    pub const STATUS: usize = 12;
    pub const RESERVED: core::ops::Range<usize> = 14..16;
}

impl CopyCompletion {
    /// Name in errors.
    pub const NAME: &'static str = "copy completion";
    /// Bytes in the wire image.
    pub const SIZE: usize = 16;

    /// The wire image.
    #[inline]
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        le::put_u64(&mut b, copy_cpl::COOKIE, self.cookie.0);
        le::put_u32(&mut b, copy_cpl::LEN, self.len);
        le::put_u16(&mut b, copy_cpl::STATUS, self.status.code());
        b
    }
}

impl TryFrom<&[u8]> for CopyCompletion {
    type Error = DescError;

    fn try_from(bytes: &[u8]) -> Result<Self, Self::Error> {
        let b: &[u8; Self::SIZE] = exact(Self::NAME, bytes)?;
        let code = le::u16_at(b, copy_cpl::STATUS);
        let status = CopyStatus::from_code(code).ok_or_else(|| {
            field_err(
                Self::NAME,
                "status",
                copy_cpl::STATUS,
                code.into(),
                "status must be 0 (done), 1 (source fault) or 2 (destination fault)",
            )
        })?;
        let len = le::u32_at(b, copy_cpl::LEN);
        let len_ok = match status {
            CopyStatus::Done => (1..=u32::from(MAX_FRAME_BYTES)).contains(&len),
            CopyStatus::SourceFault | CopyStatus::DestinationFault => len == 0,
        };
        if !len_ok {
            return Err(field_err(
                Self::NAME,
                "len",
                copy_cpl::LEN,
                len.into(),
                "length must be 1..=9216 when done, 0 after a fault",
            ));
        }
        reserved_zero(Self::NAME, b, copy_cpl::RESERVED)?;
        Ok(CopyCompletion {
            cookie: CopyCookie(le::u64_at(b, copy_cpl::COOKIE)),
            len,
            status,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Release command

/// What the card does with a released packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Release {
    /// Look the packet up again: the agent has installed its flow's entry, so it hits.
    Relookup,
    /// Apply this action without a lookup: for flows the card holds no entry for (table full,
    /// a `ToAgent` entry, a miss whose flow the agent decided in software). `Action::DROP`
    /// drops the packet (counted by the card as dropped by the agent).
    Apply(Action),
}

/// The agent's order to the card to release one held packet. The card executes release
/// commands in ring order, so releasing a flow's held packets in handle order keeps the flow's
/// order (invariant 5).
///
/// ```text
/// byte 0        4      6              8            16
///      | handle | kind | reserved (0) | action (2 words, 0 for relookup) |
/// ```
/// `kind` is 0 for [`Release::Relookup`], 1 for [`Release::Apply`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct ReleaseCommand {
    /// The held packet, from its [`MissRecord`].
    pub handle: PacketHandle,
    /// What to do with it.
    pub release: Release,
}

mod release {
    pub const HANDLE: usize = 0;
    pub const KIND: usize = 4;
    pub const RESERVED: core::ops::Range<usize> = 6..8;
    pub const ACTION: usize = 8;
    pub const KIND_RELOOKUP: u16 = 0;
    pub const KIND_APPLY: u16 = 1;
}

impl ReleaseCommand {
    /// Name in errors.
    pub const NAME: &'static str = "release command";
    /// Bytes in the wire image.
    pub const SIZE: usize = 16;

    /// The wire image.
    #[inline]
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        le::put_u32(&mut b, release::HANDLE, self.handle.0);
        let (kind, words): (u16, ActionWords) = match self.release {
            Release::Relookup => (release::KIND_RELOOKUP, [0, 0]),
            Release::Apply(a) => (release::KIND_APPLY, a.to_words()),
        };
        le::put_u16(&mut b, release::KIND, kind);
        le::put_u32(&mut b, release::ACTION, words[0]);
        le::put_u32(&mut b, release::ACTION + 4, words[1]);
        b
    }
}

impl TryFrom<&[u8]> for ReleaseCommand {
    type Error = DescError;

    fn try_from(bytes: &[u8]) -> Result<Self, Self::Error> {
        let b: &[u8; Self::SIZE] = exact(Self::NAME, bytes)?;
        reserved_zero(Self::NAME, b, release::RESERVED)?;
        let words = [
            le::u32_at(b, release::ACTION),
            le::u32_at(b, release::ACTION + 4),
        ];
        let kind = le::u16_at(b, release::KIND);
        let release = match kind {
            release::KIND_RELOOKUP => {
                if words != [0, 0] {
                    return Err(field_err(
                        Self::NAME,
                        "action",
                        release::ACTION,
                        (u64::from(words[1]) << 32) | u64::from(words[0]),
                        "a relookup carries no action: the words must be 0",
                    ));
                }
                Release::Relookup
            }
            release::KIND_APPLY => Release::Apply(Action::try_from(words).map_err(|_| {
                field_err(
                    Self::NAME,
                    "action",
                    release::ACTION,
                    (u64::from(words[1]) << 32) | u64::from(words[0]),
                    "the action words must decode (see nic_abi::action)",
                )
            })?),
            _ => {
                return Err(field_err(
                    Self::NAME,
                    "kind",
                    release::KIND,
                    kind.into(),
                    "kind must be 0 (relookup) or 1 (apply action)",
                ))
            }
        };
        Ok(ReleaseCommand {
            handle: PacketHandle(le::u32_at(b, release::HANDLE)),
            release,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::{Destination, VlanOp};
    use crate::key::{KeyClass, UnparsedReason};
    use core::mem::{offset_of, size_of};

    #[test]
    fn repr_c_structs_mirror_the_wire_offsets_and_sizes() {
        assert_eq!(size_of::<TxDescriptor>(), TxDescriptor::SIZE);
        assert_eq!(offset_of!(TxDescriptor, buf), tx_desc::BUF);
        assert_eq!(offset_of!(TxDescriptor, len), tx_desc::LEN);
        assert_eq!(offset_of!(TxDescriptor, flags), tx_desc::FLAGS);
        assert_eq!(offset_of!(TxDescriptor, vm), tx_desc::VM);
        assert_eq!(offset_of!(TxDescriptor, queue), tx_desc::QUEUE);

        assert_eq!(size_of::<RxDescriptor>(), RxDescriptor::SIZE);
        assert_eq!(offset_of!(RxDescriptor, buf), rx_desc::BUF);
        assert_eq!(offset_of!(RxDescriptor, capacity), rx_desc::CAPACITY);

        assert_eq!(size_of::<TxCompletion>(), TxCompletion::SIZE);
        assert_eq!(offset_of!(TxCompletion, index), tx_cpl::INDEX);
        assert_eq!(offset_of!(TxCompletion, status), tx_cpl::STATUS);
        assert_eq!(offset_of!(TxCompletion, timestamp), tx_cpl::TIMESTAMP);

        assert_eq!(size_of::<RxCompletion>(), RxCompletion::SIZE);
        assert_eq!(offset_of!(RxCompletion, index), rx_cpl::INDEX);
        assert_eq!(offset_of!(RxCompletion, len), rx_cpl::LEN);
        assert_eq!(offset_of!(RxCompletion, status), rx_cpl::STATUS);
        assert_eq!(offset_of!(RxCompletion, in_port), rx_cpl::IN_PORT);
        assert_eq!(offset_of!(RxCompletion, flow_hash), rx_cpl::FLOW_HASH);
        assert_eq!(offset_of!(RxCompletion, timestamp), rx_cpl::TIMESTAMP);

        assert_eq!(size_of::<MissRecord>(), MissRecord::SIZE);
        assert_eq!(offset_of!(MissRecord, in_port), miss::IN_PORT);
        assert_eq!(offset_of!(MissRecord, flags), miss::FLAGS);
        assert_eq!(offset_of!(MissRecord, vm), miss::VM);
        assert_eq!(offset_of!(MissRecord, queue), miss::QUEUE);
        assert_eq!(offset_of!(MissRecord, handle), miss::HANDLE);
        assert_eq!(offset_of!(MissRecord, packet_len), miss::PACKET_LEN);
        assert_eq!(offset_of!(MissRecord, header_len), miss::HEADER_LEN);
        assert_eq!(offset_of!(MissRecord, timestamp), miss::TIMESTAMP);
        assert_eq!(offset_of!(MissRecord, reason), miss::REASON);
        assert_eq!(offset_of!(MissRecord, key), miss::KEY);
        assert_eq!(offset_of!(MissRecord, header), miss::HEADER);

        assert_eq!(size_of::<CopyCommand>(), CopyCommand::SIZE);
        assert_eq!(offset_of!(CopyCommand, src), copy_cmd::SRC);
        assert_eq!(offset_of!(CopyCommand, dst), copy_cmd::DST);
        assert_eq!(offset_of!(CopyCommand, src_vm), copy_cmd::SRC_VM);
        assert_eq!(offset_of!(CopyCommand, dst_vm), copy_cmd::DST_VM);
        assert_eq!(offset_of!(CopyCommand, len), copy_cmd::LEN);
        assert_eq!(offset_of!(CopyCommand, cookie), copy_cmd::COOKIE);

        assert_eq!(size_of::<CopyCompletion>(), CopyCompletion::SIZE);
        assert_eq!(offset_of!(CopyCompletion, cookie), copy_cpl::COOKIE);
        assert_eq!(offset_of!(CopyCompletion, len), copy_cpl::LEN);
        assert_eq!(offset_of!(CopyCompletion, status), copy_cpl::STATUS);

        // The release command holds its action decoded, so only its handle mirrors the wire.
        assert_eq!(offset_of!(ReleaseCommand, handle), release::HANDLE);
    }

    #[test]
    fn ring_indices_wrap_and_select_slots() {
        let size = RingSize::new(8).unwrap();
        let consumer = RingIndex::new(65_534);
        let producer = consumer.advance(5);
        assert_eq!(producer.value(), 3);
        assert_eq!(producer.since(consumer), 5);
        assert_eq!(size.pending(producer, consumer), Ok(5));
        assert_eq!(consumer.slot(size), 6);
        assert_eq!(producer.slot(size), 3);
        assert_eq!(
            size.pending(consumer.advance(9), consumer),
            Err(DescError::RingIndices {
                producer: 65_534u16.wrapping_add(9),
                consumer: 65_534,
                size: 8
            })
        );
        assert_eq!(size.pending(consumer.advance(8), consumer), Ok(8));
    }

    proptest::proptest! {
        /// Wrapping 16-bit ring indices against a model of unbounded counters: the slot is the
        /// counter modulo the size, and `pending` is the counters' difference, through any
        /// number of wraps.
        #[test]
        fn ring_indices_match_unbounded_counters(
            log_size in 0u32..=15,
            start in proptest::prelude::any::<u16>(),
            steps in proptest::collection::vec((0u16..=64, 0u16..=64), 1..400),
        ) {
            let size = RingSize::new(1 << log_size).unwrap();
            let (mut prod_model, mut cons_model) = (u64::from(start), u64::from(start));
            let (mut prod, mut cons) = (RingIndex::new(start), RingIndex::new(start));
            for (p, c) in steps {
                let room = u64::from(size.get()) - (prod_model - cons_model);
                let p = u16::try_from(u64::from(p).min(room)).unwrap();
                prod_model += u64::from(p);
                prod = prod.advance(p);
                let c = u16::try_from(u64::from(c).min(prod_model - cons_model)).unwrap();
                cons_model += u64::from(c);
                cons = cons.advance(c);
                let pending = size.pending(prod, cons);
                proptest::prop_assert_eq!(pending, Ok(u16::try_from(prod_model - cons_model).unwrap()));
                let modulo = u64::from(size.get());
                proptest::prop_assert_eq!(prod.slot(size) as u64, prod_model % modulo);
                proptest::prop_assert_eq!(cons.slot(size) as u64, cons_model % modulo);
            }
        }
    }

    #[test]
    fn ring_sizes_are_validated() {
        assert!(RingSize::new(0).is_err());
        assert!(RingSize::new(12).is_err());
        assert!(RingSize::new(1 << 15).is_ok());
        assert_eq!(
            RingSize::try_from(1u32 << 16),
            Err(DescError::RingSize(1 << 16))
        );
        assert_eq!(RingSize::try_from(256u32).map(RingSize::get), Ok(256));
    }

    #[test]
    fn tx_descriptor_refuses_hostile_fields() {
        let d = TxDescriptor {
            buf: Iova(u64::MAX - 63),
            len: 64,
            flags: TxFlags(TxFlags::INTERRUPT),
            vm: VmId(1),
            queue: QueueIndex(2),
        };
        let err = TxDescriptor::try_from(&d.to_bytes()[..]).unwrap_err();
        assert!(err.to_string().contains("field `buf`"), "{err}");
        let ok = TxDescriptor {
            buf: Iova(u64::MAX - 64),
            ..d
        };
        assert_eq!(TxDescriptor::try_from(&ok.to_bytes()[..]), Ok(ok));
        for len in [0, 13, 9217, u16::MAX] {
            let bad = TxDescriptor { len, ..ok }.to_bytes();
            let err = TxDescriptor::try_from(&bad[..]).unwrap_err();
            assert!(err.to_string().contains("field `len` (byte 8)"), "{err}");
        }
        let mut bad = ok.to_bytes();
        bad[10] = 0x02;
        let err = TxDescriptor::try_from(&bad[..]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "TX descriptor field `flags` (byte 10) = 0x2: only bit 0 (interrupt) is defined"
        );
        assert_eq!(
            TxDescriptor::try_from(&[0u8; 17][..]),
            Err(DescError::Length {
                record: "TX descriptor",
                len: 17,
                size: 16
            })
        );
    }

    fn miss_sample() -> MissRecord {
        let key = FlowKey {
            in_port: PortNo(3),
            nw_proto: 17,
            tp_dst: 53,
            ..FlowKey::default()
        };
        let mut header = [0u8; MISS_HEADER_BYTES];
        for (i, b) in header.iter_mut().take(60).enumerate() {
            *b = u8::try_from(i).unwrap() + 1;
        }
        MissRecord {
            in_port: PortNo(3),
            flags: MissFlags(MissFlags::FROM_VM),
            vm: VmId(7),
            queue: QueueIndex(1),
            handle: PacketHandle(0xdead_beef),
            packet_len: 60,
            header_len: 60,
            timestamp: SimTime(1_234_567),
            reason: MissReason::TableMiss,
            key: key.to_words(),
            header,
        }
    }

    #[test]
    fn miss_record_checks_its_invariants() {
        let m = miss_sample();
        let bytes = m.to_bytes();
        assert_eq!(MissRecord::try_from(&bytes[..]), Ok(m));
        assert_eq!(m.header_bytes().len(), 60);
        assert_eq!(m.flow_key().unwrap().tp_dst, 53);

        let with = |f: &dyn Fn(&mut [u8; MissRecord::SIZE])| {
            let mut b = bytes;
            f(&mut b);
            MissRecord::try_from(&b[..]).unwrap_err().to_string()
        };
        assert!(with(&|b| b[14] = 61).contains("`header_len`"));
        assert!(with(&|b| b[88 + 60] = 1).contains("`reserved` (byte 148)"));
        assert!(with(&|b| b[24] = 2).contains("`reason`"));
        assert!(with(&|b| b[24] = 9).contains("`reason`"));
        assert!(with(&|b| b[2] = 0).contains("`vm`"));
        assert!(with(&|b| b[29] = 0xee).contains("`key`"));
        assert!(with(&|b| b[26] = 1).contains("`reserved` (byte 26)"));

        // An unparsed key must come with the unparsed reason, and only then.
        let unparsed = FlowKey {
            class: KeyClass::Unparsed(UnparsedReason::Truncated),
            ..FlowKey::default()
        };
        let u = MissRecord {
            key: unparsed.to_words(),
            reason: MissReason::UnparsedKey,
            ..m
        };
        assert_eq!(MissRecord::try_from(&u.to_bytes()[..]), Ok(u));
        let wrong = MissRecord {
            reason: MissReason::TableMiss,
            ..u
        };
        assert!(MissRecord::try_from(&wrong.to_bytes()[..]).is_err());
    }

    #[test]
    fn miss_record_for_packet_copies_the_header_window() {
        let frame: Vec<u8> = (0..300u32)
            .map(|i| u8::try_from(i % 251).unwrap())
            .collect();
        let key = FlowKey::default();
        let m = MissRecord::for_packet(
            PortNo(4),
            Some((VmId(2), QueueIndex(0))),
            PacketHandle(11),
            SimTime(5),
            MissReason::TableMiss,
            &key,
            &frame,
        )
        .unwrap();
        assert_eq!((m.packet_len, m.header_len), (300, 128));
        assert_eq!(m.header_bytes(), &frame[..128]);
        assert!(m.flags.from_vm());
        assert_eq!(MissRecord::try_from(&m.to_bytes()[..]), Ok(m));
        let short = MissRecord::for_packet(
            PortNo(4),
            None,
            PacketHandle(12),
            SimTime(5),
            MissReason::ToAgent,
            &key,
            &frame[..20],
        )
        .unwrap();
        assert_eq!(short.header_bytes(), &frame[..20]);
        assert_eq!(MissRecord::try_from(&short.to_bytes()[..]), Ok(short));
        let too_long = vec![0u8; 9217];
        let err = MissRecord::for_packet(
            PortNo(4),
            None,
            PacketHandle(13),
            SimTime(5),
            MissReason::TableMiss,
            &key,
            &too_long,
        )
        .unwrap_err();
        assert!(err.to_string().contains("`packet_len`"), "{err}");
        assert!(MissRecord::for_packet(
            PortNo(4),
            None,
            PacketHandle(13),
            SimTime(5),
            MissReason::UnparsedKey,
            &key,
            &frame[..20],
        )
        .is_err());
    }

    #[test]
    fn release_command_encodes_its_action() {
        let r = ReleaseCommand {
            handle: PacketHandle(42),
            release: Release::Apply(Action {
                dest: Destination::Flood,
                vlan: VlanOp::Strip,
            }),
        };
        let b = r.to_bytes();
        assert_eq!(b, [42, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x20, 0, 0, 0, 0x20]);
        assert_eq!(ReleaseCommand::try_from(&b[..]), Ok(r));
        let mut relookup_with_action = b;
        relookup_with_action[4] = 0;
        let err = ReleaseCommand::try_from(&relookup_with_action[..]).unwrap_err();
        assert!(err.to_string().contains("`action`"), "{err}");
        let mut bad_op = b;
        bad_op[11] = 0x70;
        assert!(ReleaseCommand::try_from(&bad_op[..]).is_err());
    }
}
