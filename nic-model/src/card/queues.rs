//! VM queue pairs: a ring's geometry in host memory ([`Ring`]), each queue pair's rings and
//! the card's indices into them ([`VmQueue`]), and setting queue pairs up and disabling them.

use std::collections::VecDeque;

use nic_abi::desc::{QueueIndex, RingIndex, RingSize, RxDescriptor};
use nic_abi::key::PortNo;
use nic_abi::time::SimTime;

use super::config::{QueueSetup, RingSetup};
use super::{Card, CardError, PortTarget};
use crate::host::{HostBus, Iova, IrqVector, VmId};

/// A ring's geometry in host memory.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ring {
    base: Iova,
    size: RingSize,
}

impl Ring {
    /// The ring `s`, refused (as `ring`) unless its size is a power of two.
    pub(super) fn new(ring: &'static str, s: RingSetup) -> Result<Ring, CardError> {
        let size = RingSize::new(s.entries).map_err(|_| CardError::BadRing {
            ring,
            entries: s.entries,
        })?;
        Ok(Ring { base: s.base, size })
    }

    /// The number of entries.
    #[inline]
    pub(super) fn entries(&self) -> u16 {
        self.size.get()
    }

    /// The slot `index` selects.
    #[inline]
    pub(super) fn slot(&self, index: RingIndex) -> u16 {
        index.value() & (self.size.get() - 1)
    }

    /// The address of the `record`-byte entry at `index`.
    #[inline]
    pub(super) fn addr(&self, index: RingIndex, record: usize) -> Iova {
        Iova(
            self.base
                .0
                .wrapping_add(u64::from(self.slot(index)) * record as u64),
        )
    }
}

/// A VM's queue pair as the card sees it: rings, indices, cached RX descriptors, vectors.
#[derive(Debug)]
pub(super) struct VmQueue {
    pub(super) vm: VmId,
    pub(super) port: PortNo,
    pub(super) rx: Ring,
    pub(super) rx_cq: Ring,
    pub(super) tx: Ring,
    pub(super) tx_cq: Ring,
    pub(super) rx_producer: RingIndex,
    pub(super) rx_consumer: RingIndex,
    /// Fetched descriptors: ring index, the descriptor (or that it did not decode), and when
    /// its fetch completes.
    pub(super) rx_cache: VecDeque<(RingIndex, Result<RxDescriptor, ()>, SimTime)>,
    /// When the latest descriptor fetch completes.
    pub(super) rx_fetch_ready: SimTime,
    pub(super) rx_cq_producer: RingIndex,
    pub(super) tx_producer: RingIndex,
    pub(super) tx_consumer: RingIndex,
    pub(super) tx_fetching: bool,
    pub(super) tx_cq_producer: RingIndex,
    pub(super) rx_vector: IrqVector,
    pub(super) tx_vector: IrqVector,
    /// False for a queue slot set up and then disabled: no traffic reaches it.
    pub(super) enabled: bool,
}

impl<H: HostBus> Card<H> {
    /// Sets up a VM's queue pair at the next index; returns the index. Rings start empty
    /// (all indices 0).
    pub fn add_queue(&mut self, setup: QueueSetup) -> Result<QueueIndex, CardError> {
        let index = u16::try_from(self.queues.len()).map_err(|_| CardError::TooManyQueues)?;
        self.set_queue(QueueIndex(index), setup)?;
        Ok(QueueIndex(index))
    }

    /// Sets up (or sets up again, from empty rings) queue pair `q`. Queue pairs are numbered
    /// densely: `q` is an existing queue or the next one.
    pub fn set_queue(&mut self, q: QueueIndex, setup: QueueSetup) -> Result<(), CardError> {
        let qi = usize::from(q.0);
        if qi > self.queues.len() {
            return Err(CardError::NoSuchQueue(q.0));
        }
        let p = usize::from(setup.port.0);
        let own_port = self.queues.get(qi).filter(|v| v.enabled).map(|v| v.port);
        if setup.port.0 == 0 || (self.ports[p] != PortTarget::None && own_port != Some(setup.port))
        {
            return Err(CardError::PortTaken(setup.port));
        }
        let queue = VmQueue {
            vm: setup.vm,
            port: setup.port,
            rx: Ring::new("rx ring", setup.rx)?,
            rx_cq: Ring::new("rx completion ring", setup.rx_completions)?,
            tx: Ring::new("tx ring", setup.tx)?,
            tx_cq: Ring::new("tx completion ring", setup.tx_completions)?,
            rx_producer: RingIndex::default(),
            rx_consumer: RingIndex::default(),
            rx_cache: VecDeque::new(),
            rx_fetch_ready: SimTime::ZERO,
            rx_cq_producer: RingIndex::default(),
            tx_producer: RingIndex::default(),
            tx_consumer: RingIndex::default(),
            tx_fetching: false,
            tx_cq_producer: RingIndex::default(),
            rx_vector: setup.rx_vector,
            tx_vector: setup.tx_vector,
            enabled: true,
        };
        self.ensure_vector(setup.rx_vector);
        self.ensure_vector(setup.tx_vector);
        if let Some(old) = own_port {
            self.ports[usize::from(old.0)] = PortTarget::None;
        }
        if qi == self.queues.len() {
            self.queues.push(queue);
        } else {
            self.queues[qi] = queue;
        }
        self.ports[p] = PortTarget::Queue(q);
        Ok(())
    }

    /// Disables queue pair `q`: its port leads nowhere and its doorbells are ignored.
    pub fn disable_queue(&mut self, q: QueueIndex) {
        if let Some(vq) = self.queues.get_mut(usize::from(q.0)) {
            if vq.enabled {
                vq.enabled = false;
                self.ports[usize::from(vq.port.0)] = PortTarget::None;
            }
        }
    }

    /// Queue pair `q`, or [`CardError::NoSuchQueue`].
    pub(super) fn queue_mut(&mut self, q: QueueIndex) -> Result<&mut VmQueue, CardError> {
        self.queues
            .get_mut(usize::from(q.0))
            .ok_or(CardError::NoSuchQueue(q.0))
    }

    /// Queue pair `q`, which the caller knows exists (it came from a packet or an event).
    #[inline]
    pub(super) fn vq(&self, q: QueueIndex) -> &VmQueue {
        &self.queues[usize::from(q.0)]
    }

    /// Queue pair `q`, writable; `q` exists (see [`Card::vq`]).
    #[inline]
    pub(super) fn vq_mut(&mut self, q: QueueIndex) -> &mut VmQueue {
        &mut self.queues[usize::from(q.0)]
    }
}
