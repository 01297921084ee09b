//! Descriptor and completion rings in guest memory, in `nic-abi`'s record formats.
//!
//! A ring is `size` slots (a power of two, [`RingSize`]) of one record type at a guest
//! address. Its producer and consumer indices are [`RingIndex`]es: they count records ever
//! produced or consumed, wrap at 2^16, and select slot `index % size`.
//!
//! **Ownership.** Each ring has one producer and one consumer, and a slot belongs to exactly
//! one of them at a time:
//!
//! - Slots from `consumer` up to (not including) `producer` belong to the consumer: the
//!   producer has written them and must not touch them again until the consumer says it is
//!   done (for descriptor rings, by a completion; for completion rings, by the consumer
//!   index the guest writes back).
//! - Every other slot belongs to the producer, which may write it and then publish it by
//!   moving `producer` on (a doorbell register write for descriptor rings, the card's own
//!   index for completion rings).
//! - `producer - consumer` (wrapping) is the fill level, `0..=size`; an index that would make
//!   it larger is the other side's error, refused ([`RingError::Indices`]), never trusted.
//!
//! ```text
//!   guest (producer)        TX / RX descriptor ring         card (consumer)
//!   guest (consumer)   <--  TX / RX completion ring   <--   card (producer)
//!   card  (producer)        miss ring                  -->  driver (consumer)
//!   driver (producer)       release ring               -->  card (consumer)
//! ```

use core::marker::PhantomData;

use nic_abi::desc::{
    DescError, MissRecord, ReleaseCommand, RingIndex, RingSize, RxCompletion, RxDescriptor,
    TxCompletion, TxDescriptor,
};

use crate::memory::{GuestAddress, GuestMemory, MemoryError};

// Every record fits the stack image rings encode into.
const _: () = assert!(MissRecord::SIZE <= 256 && RxCompletion::SIZE <= 256);

/// A record kind that lives in a ring: its size and byte image.
pub trait RingRecord: Sized {
    /// Bytes of one record.
    const SIZE: usize;
    /// Writes the record's byte image into `out` (exactly `SIZE` bytes).
    fn encode(&self, out: &mut [u8]);
    /// Reads a record, refusing what a correct peer never writes.
    fn decode(bytes: &[u8]) -> Result<Self, DescError>;
}

macro_rules! ring_record {
    ($($t:ty),*) => {$(
        impl RingRecord for $t {
            const SIZE: usize = <$t>::SIZE;
            #[inline]
            fn encode(&self, out: &mut [u8]) {
                out.copy_from_slice(&self.to_bytes());
            }
            #[inline]
            fn decode(bytes: &[u8]) -> Result<Self, DescError> {
                <$t>::try_from(bytes)
            }
        }
    )*};
}

ring_record!(
    TxDescriptor,
    RxDescriptor,
    TxCompletion,
    RxCompletion,
    MissRecord,
    ReleaseCommand
);

/// Errors of ring use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RingError {
    /// Every slot belongs to the consumer.
    #[error("ring at {base:#x} is full ({size} records)")]
    Full {
        /// The ring's guest address.
        base: u64,
        /// Its size.
        size: u16,
    },
    /// The peer's index is more than a ring from ours.
    #[error("ring at {base:#x}: {error}")]
    Indices {
        /// The ring's guest address.
        base: u64,
        /// The index error.
        #[source]
        error: DescError,
    },
    /// A consumer index that goes back, or past the producer.
    #[error("ring at {base:#x}: consumer {consumer} is not between {old} and producer {producer}")]
    Consumer {
        /// The ring's guest address.
        base: u64,
        /// The index given.
        consumer: u16,
        /// The consumer before.
        old: u16,
        /// The producer.
        producer: u16,
    },
    /// The ring's memory is not inside the VM's memory.
    #[error(transparent)]
    Memory(#[from] MemoryError),
    /// A record the peer wrote does not decode.
    #[error(transparent)]
    Record(#[from] DescError),
}

/// The geometry shared by both ends: where the ring is and how many slots it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingPlace {
    /// First byte, in the owner's guest memory.
    pub base: GuestAddress,
    /// Slots.
    pub size: RingSize,
}

impl RingPlace {
    /// Bytes the ring spans with records of `record` bytes.
    pub fn bytes(&self, record: usize) -> u64 {
        u64::from(self.size.get()) * record as u64
    }

    #[inline]
    fn slot_addr(&self, index: RingIndex, record: usize) -> GuestAddress {
        GuestAddress(self.base.0 + (index.slot(self.size) * record) as u64)
    }
}

/// The producer's end of a ring of `T`.
#[derive(Debug, Clone)]
pub struct ProducerRing<T> {
    place: RingPlace,
    producer: RingIndex,
    consumer: RingIndex,
    _records: PhantomData<T>,
}

impl<T: RingRecord> ProducerRing<T> {
    /// An empty ring at `place` (both indices 0).
    pub fn new(place: RingPlace) -> Self {
        ProducerRing {
            place,
            producer: RingIndex::new(0),
            consumer: RingIndex::new(0),
            _records: PhantomData,
        }
    }

    /// Where it is.
    pub fn place(&self) -> RingPlace {
        self.place
    }

    /// The next index to produce (what the doorbell publishes).
    pub fn producer(&self) -> RingIndex {
        self.producer
    }

    /// The last consumer index the consumer reported.
    pub fn consumer(&self) -> RingIndex {
        self.consumer
    }

    /// Slots the producer owns.
    pub fn free(&self) -> u16 {
        self.place.size.get() - self.producer.since(self.consumer)
    }

    /// Writes `record` into the next slot and moves the producer on; returns its index.
    #[inline]
    pub fn post(&mut self, mem: &mut GuestMemory, record: &T) -> Result<RingIndex, RingError> {
        if self.producer.since(self.consumer) >= self.place.size.get() {
            return Err(RingError::Full {
                base: self.place.base.0,
                size: self.place.size.get(),
            });
        }
        let mut buf = [0u8; 256];
        let image = &mut buf[..T::SIZE];
        record.encode(image);
        mem.write(self.place.slot_addr(self.producer, T::SIZE), image)?;
        let index = self.producer;
        self.producer = self.producer.advance(1);
        Ok(index)
    }

    /// The consumer is done with every slot before `consumer`: they return to the producer.
    pub fn consumed_up_to(&mut self, consumer: RingIndex) -> Result<(), RingError> {
        let outstanding = self.producer.since(self.consumer);
        if consumer.since(self.consumer) > outstanding {
            return Err(RingError::Consumer {
                base: self.place.base.0,
                consumer: consumer.value(),
                old: self.consumer.value(),
                producer: self.producer.value(),
            });
        }
        self.consumer = consumer;
        Ok(())
    }
}

/// The consumer's end of a ring of `T`.
#[derive(Debug, Clone)]
pub struct ConsumerRing<T> {
    place: RingPlace,
    consumer: RingIndex,
    _records: PhantomData<T>,
}

impl<T: RingRecord> ConsumerRing<T> {
    /// An empty ring at `place`.
    pub fn new(place: RingPlace) -> Self {
        ConsumerRing {
            place,
            consumer: RingIndex::new(0),
            _records: PhantomData,
        }
    }

    /// Where it is.
    pub fn place(&self) -> RingPlace {
        self.place
    }

    /// The next index to consume (what the consumer reports back).
    pub fn consumer(&self) -> RingIndex {
        self.consumer
    }

    /// Records waiting, given the producer's index (refused when more than a ring ahead).
    pub fn pending(&self, producer: RingIndex) -> Result<u16, RingError> {
        self.place
            .size
            .pending(producer, self.consumer)
            .map_err(|error| RingError::Indices {
                base: self.place.base.0,
                error,
            })
    }

    /// Skips every record up to `producer` unread (a restarted consumer that will hear of
    /// them again another way); returns how many were skipped.
    pub fn skip_to(&mut self, producer: RingIndex) -> Result<u16, RingError> {
        let n = self.pending(producer)?;
        self.consumer = producer;
        Ok(n)
    }

    /// Takes the next record if the producer (at `producer`) has published one. A record
    /// that does not decode is consumed and returned as the error.
    #[inline]
    pub fn poll(&mut self, mem: &GuestMemory, producer: RingIndex) -> Result<Option<T>, RingError> {
        if self.pending(producer)? == 0 {
            return Ok(None);
        }
        let bytes = mem.slice(self.place.slot_addr(self.consumer, T::SIZE), T::SIZE)?;
        self.consumer = self.consumer.advance(1);
        Ok(Some(T::decode(bytes)?))
    }
}

/// Writes `record` at slot `index` of the ring at `place` (the device side of a ring, for
/// models and tests that play the card).
pub fn write_slot<T: RingRecord>(
    mem: &mut GuestMemory,
    place: RingPlace,
    index: RingIndex,
    record: &T,
) -> Result<(), RingError> {
    let mut buf = [0u8; 256];
    let image = &mut buf[..T::SIZE];
    record.encode(image);
    mem.write(place.slot_addr(index, T::SIZE), image)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nic_abi::desc::{Iova, QueueIndex, TxFlags, TxStatus, VmId};
    use nic_abi::time::SimTime;
    use proptest::prelude::*;

    fn desc(i: u16) -> TxDescriptor {
        TxDescriptor {
            buf: Iova(0x1000 + u64::from(i)),
            len: 64,
            flags: TxFlags::NONE,
            vm: VmId(1),
            queue: QueueIndex(0),
        }
    }

    proptest! {
        // Against a model: a VecDeque of posted records with a capacity; posting, completing
        // and polling agree across index wrap-around.
        #[test]
        fn ring_matches_a_queue(ops in proptest::collection::vec(0u8..3, 1..400), size_log in 0u32..4) {
            let size = RingSize::new(1 << size_log).expect("power of two");
            let place = RingPlace { base: GuestAddress(0x100), size };
            let cq_place = RingPlace { base: GuestAddress(0x800), size };
            let mut mem = GuestMemory::flat(VmId(1), 0x1000).expect("memory");
            let mut tx = ProducerRing::<TxDescriptor>::new(place);
            let mut cq = ConsumerRing::<TxCompletion>::new(cq_place);
            let mut device_consumer = RingIndex::new(0);
            let mut device_cq = RingIndex::new(0);
            let mut model = std::collections::VecDeque::new();
            let mut posted = 0u16;
            for op in ops {
                match op {
                    0 => {
                        let r = tx.post(&mut mem, &desc(posted));
                        if model.len() == usize::from(size.get()) {
                            let full = matches!(r, Err(RingError::Full { .. }));
                            prop_assert!(full);
                        } else {
                            prop_assert_eq!(r.expect("room"), RingIndex::new(posted));
                            model.push_back(posted);
                            posted = posted.wrapping_add(1);
                        }
                    }
                    1 => {
                        // The device consumes one descriptor and completes it.
                        if device_consumer != tx.producer() {
                            let b = mem.slice(
                                GuestAddress(0x100 + (device_consumer.slot(size) * 16) as u64), 16,
                            ).expect("in").to_vec();
                            let d = TxDescriptor::try_from(&b[..]).expect("decodes");
                            prop_assert_eq!(d, desc(device_consumer.value()));
                            let c = TxCompletion {
                                index: device_consumer,
                                status: TxStatus::Done,
                                timestamp: SimTime(1),
                            };
                            write_slot(&mut mem, cq_place, device_cq, &c).expect("in");
                            device_cq = device_cq.advance(1);
                            device_consumer = device_consumer.advance(1);
                        }
                    }
                    _ => {
                        if let Some(c) = cq.poll(&mem, device_cq).expect("valid") {
                            let expected = model.pop_front().expect("a completion for a post");
                            prop_assert_eq!(c.index, RingIndex::new(expected));
                            tx.consumed_up_to(c.index.advance(1)).expect("in order");
                        }
                    }
                }
                prop_assert_eq!(usize::from(size.get() - tx.free()), model.len());
            }
            prop_assert!(cq.pending(device_cq.advance(size.get() + 1)).is_err());
            prop_assert!(tx.consumed_up_to(tx.producer().advance(1)).is_err());
        }
    }
}
