//! Interrupts: each vector's causes, enables and moderation. A completion raises a cause on
//! its vector; the vector fires when `max_events` completions are pending, or `max_delay`
//! after the first pending one (a timer event), whichever comes first.

use nic_abi::time::{SimDuration, SimTime};

use super::config::InterruptConfig;
use super::event::Event;
use super::Card;
use crate::host::{HostBus, IrqVector};

/// Interrupt causes (bit values of the register map's `CAUSE`).
pub(super) const CAUSE_TX: u32 = nic_abi::regs::interrupts::CAUSE_TX_COMPLETION;
pub(super) const CAUSE_RX: u32 = nic_abi::regs::interrupts::CAUSE_RX_COMPLETION;
pub(super) const CAUSE_MISS: u32 = nic_abi::regs::interrupts::CAUSE_MISS_RECORD;

/// Interrupt state of one vector: moderation (by count and by time) and causes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Irq {
    /// Completions since the vector last fired.
    pub(super) pending: u32,
    pub(super) timer_armed: bool,
    pub(super) generation: u32,
    /// Fire at this many pending completions.
    pub(super) max_events: u32,
    /// Fire this long after the first pending completion.
    pub(super) max_delay: SimDuration,
    /// Causes pending (the register's write-1-to-clear bits).
    pub(super) cause: u32,
    /// Causes that may fire the vector.
    pub(super) enable: u32,
}

impl Irq {
    pub(super) fn new(config: &InterruptConfig) -> Irq {
        Irq {
            pending: 0,
            timer_armed: false,
            generation: 0,
            max_events: config.max_events.max(1),
            max_delay: SimDuration::from_ns(config.max_delay_ns),
            cause: 0,
            enable: u32::MAX,
        }
    }
}

impl<H: HostBus> Card<H> {
    /// Makes sure vector `v` exists (vectors are numbered densely from 0).
    pub(super) fn ensure_vector(&mut self, v: IrqVector) {
        let i = usize::from(v.0);
        if self.vectors.len() <= i {
            self.vectors
                .resize(i + 1, Irq::new(&self.config.interrupts));
        }
    }

    /// A completion of kind `cause` on `vector`: fire at the vector's count threshold, else
    /// arm its delay timer. Disabled causes are recorded but do not fire.
    pub(super) fn raise(&mut self, vector: IrqVector, cause: u32, now: SimTime) {
        let Some(irq) = self.vectors.get_mut(usize::from(vector.0)) else {
            return;
        };
        irq.cause |= cause;
        if irq.enable & cause == 0 {
            return;
        }
        irq.pending += 1;
        if irq.pending >= irq.max_events {
            irq.pending = 0;
            irq.timer_armed = false;
            irq.generation = irq.generation.wrapping_add(1);
            self.counters.interrupts += 1;
            self.host.interrupt(vector, now);
        } else if !irq.timer_armed {
            irq.timer_armed = true;
            let generation = irq.generation;
            let at = now + irq.max_delay;
            self.schedule(at, Event::IrqTimer { vector, generation });
        }
    }

    /// A moderation timer expired: fire the vector if the timer is still the armed one and
    /// completions are pending.
    pub(super) fn on_irq_timer(&mut self, vector: IrqVector, generation: u32, now: SimTime) {
        let Some(irq) = self.vectors.get_mut(usize::from(vector.0)) else {
            return;
        };
        if !irq.timer_armed || irq.generation != generation {
            return;
        }
        irq.timer_armed = false;
        irq.generation = irq.generation.wrapping_add(1);
        if irq.pending > 0 {
            irq.pending = 0;
            self.counters.interrupts += 1;
            self.host.interrupt(vector, now);
        }
    }
}
