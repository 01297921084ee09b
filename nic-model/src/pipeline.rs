//! The parser and lookup pipeline's timing: fixed latencies and initiation intervals in NIC
//! cycles.
//!
//! A packet whose header is on the card enters the parser at the next clock edge at which the
//! parser can accept (one packet per initiation interval); its key reaches the lookup pipeline
//! after the parser latency, which accepts one key per cycle
//! ([`nic_abi::table::LOOKUP_INITIATION_INTERVAL_CYCLES`]) and answers after
//! [`nic_abi::table::LOOKUP_LATENCY_CYCLES`], the same constant the RTL's pipeline uses.

use nic_abi::table::{LOOKUP_INITIATION_INTERVAL_CYCLES, LOOKUP_LATENCY_CYCLES};
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
    /// Parser latency in cycles. Default 4: the 128-byte header window arrives as two 512-bit
    /// beats, one cycle per header layer pair after that (the RTL parser's stage count).
    pub parser_latency_cycles: u64,
    /// Cycles between packets the parser accepts. Default 2: the two 512-bit beats of the
    /// header window.
    pub parser_initiation_interval_cycles: u64,
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
            parser_latency_cycles: 4,
            parser_initiation_interval_cycles: 2,
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
}

impl Pipeline {
    /// An idle pipeline.
    pub fn new(config: PipelineConfig, clock: Clock) -> Pipeline {
        Pipeline {
            clock,
            config,
            parser_next: SimTime::ZERO,
            lookup_next: SimTime::ZERO,
        }
    }

    /// A packet's header is ready at `ready`: returns when its lookup result is valid.
    pub fn process(&mut self, ready: SimTime) -> SimTime {
        let c = &self.config;
        let parse_start = self.clock.edge_at_or_after(ready).max(self.parser_next);
        self.parser_next = parse_start + self.clock.cycles(c.parser_initiation_interval_cycles);
        let key_ready = parse_start + self.clock.cycles(c.parser_latency_cycles);
        let lookup_start = key_ready.max(self.lookup_next);
        self.lookup_next = lookup_start + self.clock.cycles(c.lookup_initiation_interval_cycles);
        lookup_start + self.clock.cycles(c.lookup_latency_cycles)
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
        // 4 parser + 8 lookup cycles of 4 ns.
        assert_eq!(
            p.process(SimTime::ZERO),
            SimTime::ZERO + SimDuration::from_ns(48)
        );
        // A second packet at the same time waits one parser interval (2 cycles).
        assert_eq!(
            p.process(SimTime::ZERO),
            SimTime::ZERO + SimDuration::from_ns(56)
        );
        // Off-edge arrivals start at the next edge.
        let mut p = Pipeline::new(PipelineConfig::default(), clock);
        assert_eq!(
            p.process(SimTime(1)),
            SimTime(4_000) + SimDuration::from_ns(48)
        );
    }
}
