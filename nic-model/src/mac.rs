//! Ethernet MAC ports: serialisation on the wire and the receive FIFO.
//!
//! A frame occupies the wire for its bytes (padded to the 64-byte minimum, FCS included) plus
//! the preamble and start-of-frame delimiter (8 bytes) and the minimum inter-frame gap
//! (12 bytes), IEEE 802.3 clauses 3 and 4. So 64-byte frames at 10 Gb/s take 84 bytes =
//! 67.2 ns each: 14,880,952 frames/s. Frames handed to the model carry no FCS (as in a pcap);
//! the MAC adds [`MacConfig::fcs_bytes`].
//!
//! The receive side has a FIFO counted in bytes: a frame enters when its last byte has
//! arrived and leaves when the card has finished with it (written to the host, sent out, or
//! dropped). A frame that does not fit is dropped and counted (`rx_fifo_full`).

use nic_abi::time::{SimDuration, SimTime};
use serde::{Deserialize, Serialize};

/// Line rate of a MAC port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum EthSpeed {
    /// 10GBASE-R, 10 Gb/s.
    #[serde(rename = "10G")]
    G10,
    /// 25GBASE-R, 25 Gb/s.
    #[serde(rename = "25G")]
    #[default]
    G25,
    /// 40GBASE-R, 40 Gb/s.
    #[serde(rename = "40G")]
    G40,
    /// 100GBASE-R, 100 Gb/s.
    #[serde(rename = "100G")]
    G100,
}

impl EthSpeed {
    /// Picoseconds per bit on the wire (a whole number at every supported rate).
    pub fn ps_per_bit(self) -> u64 {
        match self {
            EthSpeed::G10 => 100,
            EthSpeed::G25 => 40,
            EthSpeed::G40 => 25,
            EthSpeed::G100 => 10,
        }
    }

    /// Bits per second.
    pub fn bits_per_second(self) -> u64 {
        1_000_000_000_000 / self.ps_per_bit()
    }
}

/// Parameters of one MAC port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MacConfig {
    /// Line rate. Default 25G, the common server NIC speed.
    pub speed: EthSpeed,
    /// Preamble (7 bytes) plus start-of-frame delimiter (1 byte): IEEE 802.3 clause 4.2.5.
    pub preamble_bytes: u64,
    /// Minimum inter-frame gap, 96 bit times = 12 bytes: IEEE 802.3 clause 4.4.2.
    pub ifg_bytes: u64,
    /// Frame check sequence added to each frame the model is handed: 4 bytes, IEEE 802.3
    /// clause 3.2.9.
    pub fcs_bytes: u64,
    /// Minimum frame size on the wire, FCS included: 64 bytes, IEEE 802.3 clause 4.4.2.
    pub min_frame_bytes: u64,
    /// Largest frame accepted, without FCS; longer frames are dropped as malformed. Default
    /// 1518 + 4 (one VLAN tag) - 4 (FCS) = 1518 bytes of frame data: IEEE 802.3 clause 3.5
    /// maximum with an 802.1Q tag.
    pub max_frame_bytes: u64,
    /// Receive FIFO size in bytes. Default 64 KiB, of the order of the per-port packet buffer
    /// of NetFPGA SUME and Corundum designs (tens of KiB per port).
    pub rx_fifo_bytes: u64,
}

impl Default for MacConfig {
    fn default() -> Self {
        MacConfig {
            speed: EthSpeed::G25,
            preamble_bytes: 8,
            ifg_bytes: 12,
            fcs_bytes: 4,
            min_frame_bytes: 64,
            max_frame_bytes: 1518,
            rx_fifo_bytes: 64 * 1024,
        }
    }
}

impl MacConfig {
    /// Bytes a frame of `len` data bytes (no FCS) occupies on the wire: padded to the
    /// minimum, FCS, preamble, inter-frame gap.
    pub fn wire_bytes(&self, len: u64) -> u64 {
        (len + self.fcs_bytes).max(self.min_frame_bytes) + self.preamble_bytes + self.ifg_bytes
    }

    /// Time a frame of `len` data bytes occupies the wire.
    pub fn wire_time(&self, len: u64) -> SimDuration {
        SimDuration(self.wire_bytes(len) * 8 * self.speed.ps_per_bit())
    }
}

/// The state of one MAC port: when its wire is next free in each direction, and its RX FIFO.
#[derive(Debug, Clone)]
pub struct MacPort {
    config: MacConfig,
    rx_wire_free: SimTime,
    tx_wire_free: SimTime,
    rx_fifo_used: u64,
    rx_fifo_peak: u64,
}

impl MacPort {
    /// An idle port.
    pub fn new(config: MacConfig) -> MacPort {
        MacPort {
            config,
            rx_wire_free: SimTime::ZERO,
            tx_wire_free: SimTime::ZERO,
            rx_fifo_used: 0,
            rx_fifo_peak: 0,
        }
    }

    /// The port's parameters.
    pub fn config(&self) -> &MacConfig {
        &self.config
    }

    /// A frame of `len` bytes starts arriving at `offered` (or as soon as the wire is free,
    /// the link partner queueing it): returns when its last byte has been received.
    pub fn receive(&mut self, offered: SimTime, len: u64) -> SimTime {
        let start = offered.max(self.rx_wire_free);
        let end = start + self.config.wire_time(len);
        self.rx_wire_free = end;
        // The frame itself has arrived once its FCS is in; the gap after it belongs to the wire.
        end
    }

    /// Takes `len` bytes into the RX FIFO; false (and nothing changes) when they do not fit.
    pub fn fifo_push(&mut self, len: u64) -> bool {
        if self.rx_fifo_used + len > self.config.rx_fifo_bytes {
            return false;
        }
        self.rx_fifo_used += len;
        self.rx_fifo_peak = self.rx_fifo_peak.max(self.rx_fifo_used);
        true
    }

    /// Releases `len` bytes from the RX FIFO.
    pub fn fifo_pop(&mut self, len: u64) {
        self.rx_fifo_used = self.rx_fifo_used.saturating_sub(len);
    }

    /// Bytes in the RX FIFO now.
    pub fn fifo_used(&self) -> u64 {
        self.rx_fifo_used
    }

    /// Highest FIFO occupancy seen.
    pub fn fifo_peak(&self) -> u64 {
        self.rx_fifo_peak
    }

    /// Sends a frame of `len` bytes, ready at `ready`: returns when it has left the wire
    /// (frames queue behind each other).
    pub fn transmit(&mut self, ready: SimTime, len: u64) -> SimTime {
        let start = ready.max(self.tx_wire_free);
        let end = start + self.config.wire_time(len);
        self.tx_wire_free = end;
        end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimum_frames_take_84_bytes_of_wire() {
        let c = MacConfig {
            speed: EthSpeed::G10,
            ..MacConfig::default()
        };
        // 60 data bytes + 4 FCS = 64, + 8 preamble + 12 IFG = 84 bytes = 672 bits = 67.2 ns.
        assert_eq!(c.wire_bytes(60), 84);
        assert_eq!(c.wire_time(60), SimDuration(67_200));
        // Runts are padded to the minimum.
        assert_eq!(c.wire_bytes(10), 84);
        // 1514 + 4 + 20 = 1538 bytes.
        assert_eq!(c.wire_bytes(1514), 1538);
    }

    #[test]
    fn fifo_refuses_what_does_not_fit() {
        let mut p = MacPort::new(MacConfig {
            rx_fifo_bytes: 100,
            ..MacConfig::default()
        });
        assert!(p.fifo_push(60));
        assert!(!p.fifo_push(60));
        assert_eq!(p.fifo_used(), 60);
        p.fifo_pop(60);
        assert!(p.fifo_push(100));
        assert_eq!(p.fifo_peak(), 100);
    }
}
