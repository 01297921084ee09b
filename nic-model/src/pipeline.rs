//! The parser and lookup pipeline's timing: fixed latencies and initiation intervals in NIC
//! cycles.
//!
//! A packet whose header is on the card enters the parser at the next clock edge at which the
//! parser can accept (one packet per initiation interval); its key reaches the lookup pipeline
//! after the parser latency, which accepts one key per cycle
//! ([`nic_abi::table::LOOKUP_INITIATION_INTERVAL_CYCLES`]) and answers after
//! [`nic_abi::table::LOOKUP_LATENCY_CYCLES`], the same constant the RTL's pipeline uses.

use nic_abi::table::{LOOKUP_INITIATION_INTERVAL_CYCLES, LOOKUP_LATENCY_CYCLES};
use std::collections::VecDeque;

use nic_abi::time::SimTime;
use serde::{Deserialize, Serialize};

use crate::engine::Clock;

/// Parameters of the parser and lookup pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    /// NIC core clock in MHz. Default 250 MHz, Corundum's core clock on UltraScale+ FPGAs
    /// (Forencich et al., FCCM 2020) and the clock `nic_abi::table` sizes its stages for.
    pub nic_clock_mhz: u64,
    /// Parser latency in cycles from the beat that completes a packet's header window to the
    /// first cycle its key is valid. Default 2: one cycle to register the window, one to parse
    /// it and register the key: `nic_abi::parse::PARSER_LATENCY_CYCLES`, the RTL
    /// `pkt_parser`'s latency.
    pub parser_latency_cycles: u64,
    /// Bytes of header the parser takes per cycle: its datapath width,
    /// `nic_abi::parse::PARSER_BEAT_BYTES` (64 bytes, 512 bits, the width of Corundum's 100G
    /// datapath at 250 MHz). A packet occupies the parser for
    /// `ceil(min(len, header window) / width)` cycles, so 64-byte frames enter one per cycle.
    pub parser_bytes_per_cycle: u64,
    /// Bytes of a packet the parser sees: `nic_abi::parse::HEADER_WINDOW_BYTES` (128).
    pub header_window_bytes: u64,
    /// Lookup latency in cycles: `nic_abi::table::LOOKUP_LATENCY_CYCLES` (8), shared with the
    /// RTL. Change it only to study a different design.
    pub lookup_latency_cycles: u64,
    /// Cycles between keys the lookup accepts:
    /// `nic_abi::table::LOOKUP_INITIATION_INTERVAL_CYCLES` (1).
    pub lookup_initiation_interval_cycles: u64,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            nic_clock_mhz: 250,
            parser_latency_cycles: u64::from(nic_abi::parse::PARSER_LATENCY_CYCLES),
            parser_bytes_per_cycle: nic_abi::parse::PARSER_BEAT_BYTES as u64,
            header_window_bytes: nic_abi::parse::HEADER_WINDOW_BYTES as u64,
            lookup_latency_cycles: u64::from(LOOKUP_LATENCY_CYCLES),
            lookup_initiation_interval_cycles: u64::from(LOOKUP_INITIATION_INTERVAL_CYCLES),
        }
    }
}

/// The pipeline's state: when each stage next accepts.
#[derive(Debug, Clone)]
pub struct Pipeline {
    clock: Clock,
    config: PipelineConfig,
    parser_next: SimTime,
    lookup_next: SimTime,
    /// Windows `[start, end)` in which a management command owns the lookup, by start.
    held: VecDeque<(SimTime, SimTime)>,
}

impl Pipeline {
    /// An idle pipeline.
    pub fn new(config: PipelineConfig, clock: Clock) -> Pipeline {
        Pipeline {
            clock,
            config,
            parser_next: SimTime::ZERO,
            lookup_next: SimTime::ZERO,
            held: VecDeque::new(),
        }
    }

    /// The header of a packet of `len` bytes is ready at `ready`: returns when its lookup
    /// result is valid.
    pub fn process(&mut self, ready: SimTime, len: u64) -> SimTime {
        let c = &self.config;
        let beats = len
            .min(c.header_window_bytes)
            .div_ceil(c.parser_bytes_per_cycle.max(1))
            .max(1);
        let parse_start = self.clock.edge_at_or_after(ready).max(self.parser_next);
        self.parser_next = parse_start + self.clock.cycles(beats);
        // The window's last beat enters `beats - 1` cycles after the first.
        let key_ready = parse_start + self.clock.cycles(beats - 1 + c.parser_latency_cycles);
        let (interval, latency) = (c.lookup_initiation_interval_cycles, c.lookup_latency_cycles);
        let lookup_start = self.after_held(key_ready.max(self.lookup_next));
        self.lookup_next = lookup_start + self.clock.cycles(interval);
        lookup_start + self.clock.cycles(latency)
    }

    /// A management command owns the lookup pipeline from `start` to `end` (the RTL's
    /// precedence: management wins, and no new lookup is accepted while a command runs): a
    /// key that would start its lookup in that window waits for its end. Lookups already
    /// given a start time keep it (the RTL lets accepted lookups drain before the command
    /// starts; the command's cycles, measured with an empty pipeline, do not include that
    /// drain). Commands may be announced ahead of the card's time (the host issues its
    /// register writes at its cores' times), so a window holds only the lookups inside it.
    pub fn hold_lookups(&mut self, start: SimTime, end: SimTime) {
        if end <= start {
            return;
        }
        let at = self.held.partition_point(|&(s, _)| s <= start);
        self.held.insert(at, (start, end));
    }

    /// The first time at or after `t` outside every management window; windows that end
    /// by then are forgotten (lookups start in time order).
    fn after_held(&mut self, mut t: SimTime) -> SimTime {
        while self.held.front().is_some_and(|&(_, end)| end <= t) {
            self.held.pop_front();
        }
        // Windows may overlap or touch: move past each one that contains `t`.
        let mut moved = true;
        while moved {
            moved = false;
            for &(start, end) in &self.held {
                if start > t {
                    break;
                }
                if t < end {
                    t = end;
                    moved = true;
                }
            }
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nic_abi::time::SimDuration;

    #[test]
    fn latency_and_initiation_interval() {
        let clock = Clock::from_mhz(250).expect("whole ps");
        let mut p = Pipeline::new(PipelineConfig::default(), clock);
        // A 1500-byte frame: 2 header beats, 2 parser cycles after the last, 8 lookup cycles:
        // (1 + 2 + 8) x 4 ns = 44 ns.
        let at = |ns| SimTime::ZERO + SimDuration::from_ns(ns);
        assert_eq!(p.process(SimTime::ZERO, 1500), at(44));
        // A second packet (one beat) at the same time waits for the first's two beats:
        // starts at 8 ns, key at 16 ns, result at 48 ns.
        assert_eq!(p.process(SimTime::ZERO, 60), at(48));
        // ... and a third only for the second's single beat.
        assert_eq!(p.process(SimTime::ZERO, 60), at(52));
        // Off-edge arrivals start at the next edge: (0 + 2 + 8) x 4 ns after 4 ns.
        let mut p = Pipeline::new(PipelineConfig::default(), clock);
        assert_eq!(
            p.process(SimTime(1), 60),
            SimTime(4_000) + SimDuration::from_ns(40)
        );
    }

    #[test]
    fn a_management_command_holds_the_lookups_in_its_window() {
        let clock = Clock::from_mhz(250).expect("whole ps");
        let at = |ns| SimTime::ZERO + SimDuration::from_ns(ns);
        let mut p = Pipeline::new(PipelineConfig::default(), clock);
        // A command owns the lookup from 4 to 40 ns (9 cycles); another, announced ahead of
        // time, from 1,000 to 1,036 ns.
        p.hold_lookups(at(1_000), at(1_036));
        p.hold_lookups(at(4), at(40));
        // A key ready at 8 ns (one beat, two parser cycles) waits: result at 40 + 32 ns.
        assert_eq!(p.process(SimTime::ZERO, 60), at(72));
        // After the command, lookups go one per cycle again.
        assert_eq!(p.process(SimTime::ZERO, 60), at(76));
        // The later window does not hold a lookup before it ...
        assert_eq!(p.process(at(500), 60), at(540));
        // ... only one inside it: key at 1,008 ns, lookup at 1,036 ns.
        assert_eq!(p.process(at(1_000), 60), at(1_036 + 32));
        assert_eq!(p.held.len(), 1, "the first window is forgotten once passed");
    }
}
