//! The PCIe link between the card and the host: bytes on the wire per TLP, a busy link that
//! queues, split reads with a latency and a limit on outstanding reads.
//!
//! Each direction is a resource that carries one TLP at a time. A TLP of `p` payload bytes
//! occupies its direction for `p + overhead` bytes at the link's byte rate:
//!
//! ```text
//!   byte rate = transfer rate (GT/s) x lanes x encoding efficiency / 8
//!   Gen1 2.5 GT/s, Gen2 5 GT/s: 8b/10b;  Gen3 8, Gen4 16, Gen5 32 GT/s: 128b/130b
//!   overhead  = TLP header + data-link layer (sequence number, LCRC) + physical framing
//! ```
//!
//! - A DMA write is posted: it is split into TLPs of at most the max payload size (MPS),
//!   sent card-to-host; it is done when its last TLP has left the link.
//! - A DMA read is split into read requests of at most the max read request size (MRRS). Each
//!   request needs a tag (at most [`PcieConfig::max_outstanding_reads`] in flight); it is a
//!   header-only TLP card-to-host; after the read completion latency the host returns the data
//!   as completions of at most MPS bytes host-to-card; the tag is freed by the last completion.
//! - MMIO register writes from the host are small host-to-card TLPs.
//!
//! Timing is reserved when an operation is issued (each direction keeps the time it is next
//! free), so operations issued in event order queue in that order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use nic_abi::time::{SimDuration, SimTime};
use serde::{Deserialize, Serialize};

/// Errors in a PCIe configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PcieConfigError {
    /// The generation is not 1 to 5.
    #[error("pcie.generation {0}: must be 1, 2, 3, 4 or 5")]
    BadGeneration(u8),
    /// The lane count is not 1, 2, 4, 8 or 16.
    #[error("pcie.lanes {0}: must be 1, 2, 4, 8 or 16")]
    BadLanes(u8),
    /// A size is not a power of two in 128..=4096.
    #[error("pcie.{field} {value}: must be a power of two from 128 to 4096 bytes")]
    BadSize {
        /// The field.
        field: &'static str,
        /// Its value.
        value: u64,
    },
    /// No outstanding read is allowed.
    #[error("pcie.max_outstanding_reads must be at least 1")]
    NoTags,
}

/// Parameters of the PCIe link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PcieConfig {
    /// PCIe generation 1-5. Default 3 (8 GT/s), the generation of most 10-100G server NICs
    /// (e.g. Mellanox ConnectX-4/5, Intel XL710).
    pub generation: u8,
    /// Lanes. Default 8, the usual width for 25/40G NICs.
    pub lanes: u8,
    /// Header of a memory write or read request with 64-bit addresses: 4 DW = 16 bytes
    /// (PCIe base specification 3.0, section 2.2.1).
    pub request_header_bytes: u64,
    /// Header of a completion with data: 3 DW = 12 bytes (PCIe base spec 3.0, section 2.2.9).
    pub completion_header_bytes: u64,
    /// Data link layer bytes per TLP: 2-byte sequence number + 4-byte LCRC (PCIe base spec
    /// 3.0, section 3.5.2).
    pub dll_bytes: u64,
    /// Physical layer framing per TLP: 2 bytes (STP and END symbols at Gen1/2; Gen3's
    /// framing token is counted the same way by Neugebauer et al., "Understanding PCIe
    /// performance for end host networking", SIGCOMM 2018, whose per-TLP overhead for 64-bit
    /// writes is 16 + 6 + 2 = 24 bytes).
    pub framing_bytes: u64,
    /// Max payload size (MPS) in bytes. Default 256, what most server root complexes
    /// advertise (Neugebauer et al. 2018, section 2).
    pub max_payload_bytes: u64,
    /// Max read request size (MRRS) in bytes. Default 512 (Linux's default for most devices;
    /// Neugebauer et al. 2018, section 2).
    pub max_read_request_bytes: u64,
    /// Time from a read request's arrival at the root complex to its first completion byte.
    /// Default 500 ns: Neugebauer et al. 2018 measure 64-byte DMA read latencies of about
    /// 500-600 ns on Intel Xeon E5 hosts (figure 4), of which the link time is tens of ns.
    pub read_latency_ns: u64,
    /// Read requests in flight at once (tags). Default 32, the 5-bit tag field without
    /// extended tags (PCIe base spec 3.0, section 2.2.6.2).
    pub max_outstanding_reads: u32,
}

impl Default for PcieConfig {
    fn default() -> Self {
        PcieConfig {
            generation: 3,
            lanes: 8,
            request_header_bytes: 16,
            completion_header_bytes: 12,
            dll_bytes: 6,
            framing_bytes: 2,
            max_payload_bytes: 256,
            max_read_request_bytes: 512,
            read_latency_ns: 500,
            max_outstanding_reads: 32,
        }
    }
}

impl PcieConfig {
    /// Checks every field's range.
    pub fn validate(&self) -> Result<(), PcieConfigError> {
        if !(1..=5).contains(&self.generation) {
            return Err(PcieConfigError::BadGeneration(self.generation));
        }
        if ![1, 2, 4, 8, 16].contains(&self.lanes) {
            return Err(PcieConfigError::BadLanes(self.lanes));
        }
        for (field, value) in [
            ("max_payload_bytes", self.max_payload_bytes),
            ("max_read_request_bytes", self.max_read_request_bytes),
        ] {
            if !value.is_power_of_two() || !(128..=4096).contains(&value) {
                return Err(PcieConfigError::BadSize { field, value });
            }
        }
        if self.max_outstanding_reads == 0 {
            return Err(PcieConfigError::NoTags);
        }
        Ok(())
    }

    /// Transfer rate per lane in mega-transfers per second.
    pub fn mega_transfers(&self) -> u64 {
        match self.generation {
            1 => 2_500,
            2 => 5_000,
            3 => 8_000,
            4 => 16_000,
            _ => 32_000,
        }
    }

    /// Line encoding as (payload bits, line bits): 8b/10b up to Gen2, 128b/130b after.
    pub fn encoding(&self) -> (u64, u64) {
        if self.generation <= 2 {
            (8, 10)
        } else {
            (128, 130)
        }
    }

    /// Time `bytes` occupy one direction of the link, rounded up to whole picoseconds.
    pub fn link_time(&self, bytes: u64) -> SimDuration {
        let (payload_bits, line_bits) = self.encoding();
        // ps = bytes * 8 * line/payload / (MT/s * 1e6 * lanes) * 1e12
        let num = u128::from(bytes) * 8 * u128::from(line_bits) * 1_000_000;
        let den =
            u128::from(self.mega_transfers()) * u128::from(payload_bits) * u128::from(self.lanes);
        SimDuration(u64::try_from(num.div_ceil(den)).unwrap_or(u64::MAX))
    }

    /// Overhead bytes of a request TLP (write or read request).
    pub fn request_overhead(&self) -> u64 {
        self.request_header_bytes + self.dll_bytes + self.framing_bytes
    }

    /// Overhead bytes of a completion TLP.
    pub fn completion_overhead(&self) -> u64 {
        self.completion_header_bytes + self.dll_bytes + self.framing_bytes
    }
}

/// Byte and TLP counts of one direction of the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DirectionStats {
    /// TLPs sent.
    pub tlps: u64,
    /// Payload bytes carried.
    pub payload_bytes: u64,
    /// Bytes on the link including every overhead.
    pub wire_bytes: u64,
    /// Time the direction was busy (ps).
    pub busy_ps: u64,
}

/// The state of the link: when each direction is next free and the tags in flight.
#[derive(Debug, Clone)]
pub struct PcieLink {
    config: PcieConfig,
    /// `config.link_time(n)` for every TLP size `n` up to the largest one the link sends,
    /// computed once (it needs a 128-bit division).
    tlp_times: Vec<SimDuration>,
    /// Card to host.
    up_free: SimTime,
    /// Host to card.
    down_free: SimTime,
    /// Release times of the read tags in flight.
    tags: BinaryHeap<Reverse<SimTime>>,
    up: DirectionStats,
    down: DirectionStats,
}

impl PcieLink {
    /// An idle link; the configuration must be valid.
    pub fn new(config: PcieConfig) -> Result<PcieLink, PcieConfigError> {
        config.validate()?;
        let largest =
            config.max_payload_bytes + config.request_overhead().max(config.completion_overhead());
        let tlp_times = (0..=largest).map(|n| config.link_time(n)).collect();
        Ok(PcieLink {
            config,
            tlp_times,
            up_free: SimTime::ZERO,
            down_free: SimTime::ZERO,
            tags: BinaryHeap::new(),
            up: DirectionStats::default(),
            down: DirectionStats::default(),
        })
    }

    /// The link's parameters.
    pub fn config(&self) -> &PcieConfig {
        &self.config
    }

    /// Card-to-host statistics.
    pub fn upstream(&self) -> DirectionStats {
        self.up
    }

    /// Host-to-card statistics.
    pub fn downstream(&self) -> DirectionStats {
        self.down
    }

    fn send(
        config: &PcieConfig,
        times: &[SimDuration],
        free: &mut SimTime,
        stats: &mut DirectionStats,
        ready: SimTime,
        payload: u64,
        overhead: u64,
    ) -> SimTime {
        let start = ready.max(*free);
        let n = payload + overhead;
        let d = usize::try_from(n)
            .ok()
            .and_then(|i| times.get(i).copied())
            .unwrap_or_else(|| config.link_time(n));
        *free = start + d;
        stats.tlps += 1;
        stats.payload_bytes += payload;
        stats.wire_bytes += payload + overhead;
        stats.busy_ps += d.0;
        *free
    }

    /// A posted DMA write of `bytes` issued at `now`: returns when its last TLP has crossed.
    pub fn dma_write(&mut self, now: SimTime, bytes: u64) -> SimTime {
        let mps = self.config.max_payload_bytes;
        let overhead = self.config.request_overhead();
        let mut left = bytes;
        loop {
            let chunk = left.min(mps);
            let end = Self::send(
                &self.config,
                &self.tlp_times,
                &mut self.up_free,
                &mut self.up,
                now,
                chunk,
                overhead,
            );
            left -= chunk;
            if left == 0 {
                return end.max(now);
            }
        }
    }

    /// A DMA read of `bytes` issued at `now`: returns when its last completion byte has
    /// arrived at the card.
    pub fn dma_read(&mut self, now: SimTime, bytes: u64) -> SimTime {
        self.dma_read_split(now, bytes).1
    }

    /// [`PcieLink::dma_read`], also returning when the last read request has left the card
    /// (after which the requester only waits for completions): `(requests_sent, data_in)`.
    pub fn dma_read_split(&mut self, now: SimTime, bytes: u64) -> (SimTime, SimTime) {
        let mrrs = self.config.max_read_request_bytes;
        let mps = self.config.max_payload_bytes;
        let req_overhead = self.config.request_overhead();
        let cpl_overhead = self.config.completion_overhead();
        let latency = SimDuration::from_ns(self.config.read_latency_ns);
        let tags = self.config.max_outstanding_reads as usize;
        let mut left = bytes.max(1);
        let mut last = now;
        let mut sent = now;
        while left > 0 {
            let request = left.min(mrrs);
            left -= request;
            // Wait for a tag if all are in flight.
            let mut ready = now;
            while let Some(&Reverse(t)) = self.tags.peek() {
                if t <= now || self.tags.len() >= tags {
                    self.tags.pop();
                    ready = ready.max(t);
                } else {
                    break;
                }
            }
            let req_end = Self::send(
                &self.config,
                &self.tlp_times,
                &mut self.up_free,
                &mut self.up,
                ready,
                0,
                req_overhead,
            );
            sent = sent.max(req_end);
            let mut data_ready = req_end + latency;
            let mut remaining = request;
            while remaining > 0 {
                let chunk = remaining.min(mps);
                remaining -= chunk;
                data_ready = Self::send(
                    &self.config,
                    &self.tlp_times,
                    &mut self.down_free,
                    &mut self.down,
                    data_ready,
                    chunk,
                    cpl_overhead,
                );
            }
            self.tags.push(Reverse(data_ready));
            last = last.max(data_ready);
        }
        (sent, last)
    }

    /// A host MMIO write of `bytes` (a register write) issued at `now`: returns when it has
    /// reached the card.
    pub fn mmio_write(&mut self, now: SimTime, bytes: u64) -> SimTime {
        let overhead = self.config.request_overhead();
        Self::send(
            &self.config,
            &self.tlp_times,
            &mut self.down_free,
            &mut self.down,
            now,
            bytes,
            overhead,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gen3_x8_byte_time() {
        let c = PcieConfig::default();
        // 8 GT/s x 8 lanes x 128/130 / 8 = 7.877 GB/s: 126.95 ps per byte.
        assert_eq!(c.link_time(1), SimDuration(127));
        // 280 bytes: 280 * 8 * 130 * 1e6 / (8000 * 128 * 8) = 35,546.875 ps, rounded up.
        assert_eq!(c.link_time(280), SimDuration(35_547));
        let g1 = PcieConfig {
            generation: 1,
            lanes: 1,
            ..PcieConfig::default()
        };
        // 2.5 GT/s, 8b/10b: 250 MB/s, 4 ns per byte.
        assert_eq!(g1.link_time(1), SimDuration(4_000));
    }

    #[test]
    fn bad_configs_are_refused() {
        let bad = |c: PcieConfig| PcieLink::new(c).err();
        assert_eq!(
            bad(PcieConfig {
                generation: 6,
                ..PcieConfig::default()
            }),
            Some(PcieConfigError::BadGeneration(6))
        );
        assert_eq!(
            bad(PcieConfig {
                lanes: 3,
                ..PcieConfig::default()
            }),
            Some(PcieConfigError::BadLanes(3))
        );
        assert!(bad(PcieConfig {
            max_payload_bytes: 100,
            ..PcieConfig::default()
        })
        .is_some());
        assert_eq!(
            bad(PcieConfig {
                max_outstanding_reads: 0,
                ..PcieConfig::default()
            }),
            Some(PcieConfigError::NoTags)
        );
    }

    #[test]
    fn small_read_costs_latency_plus_two_tlps() {
        let mut l = PcieLink::new(PcieConfig::default()).expect("valid");
        let end = l.dma_read(SimTime::ZERO, 64);
        // Request: 24 B up (3,047 ps); latency 500 ns; completion 64 + 20 = 84 B down.
        let c = l.config().clone();
        let expected =
            SimTime::ZERO + c.link_time(24) + SimDuration::from_ns(500) + c.link_time(84);
        assert_eq!(end, expected);
        assert_eq!(l.upstream().tlps, 1);
        assert_eq!(l.downstream().payload_bytes, 64);
    }

    #[test]
    fn tags_limit_reads_in_flight() {
        let c = PcieConfig {
            max_outstanding_reads: 1,
            ..PcieConfig::default()
        };
        let mut l = PcieLink::new(c).expect("valid");
        let first = l.dma_read(SimTime::ZERO, 64);
        let second = l.dma_read(SimTime::ZERO, 64);
        // With one tag the second request waits for the first's completion.
        assert!(second >= first + SimDuration::from_ns(500));
        let mut l2 = PcieLink::new(PcieConfig::default()).expect("valid");
        let a = l2.dma_read(SimTime::ZERO, 64);
        let b = l2.dma_read(SimTime::ZERO, 64);
        // With tags free the second read only queues behind the first completion (84 B).
        let cpl = l2.config().link_time(84);
        assert_eq!(b, a + cpl);
    }
}
