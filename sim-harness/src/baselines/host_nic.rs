//! The conventional NIC under the baselines: the uplink's MAC and the PCIe link, from the
//! card configuration every switch of a comparison shares (`SwitchContext::card`), timed and
//! counted with `nic-model`'s own [`MacPort`] and [`PcieLink`], so that a byte on the wire or
//! the bus costs the same in every switch.
//!
//! Per packet a conventional NIC moves, besides the frame: one 16-byte descriptor read from
//! host memory and one 16-byte completion written back (Intel 82599 advanced descriptors and
//! write-back descriptors are 16 bytes, datasheet 7.1.5 / 7.2.3). Descriptor batching and
//! doorbell MMIO writes are not modelled (they amortise over a batch).

use nic_abi::time::SimTime;
use nic_model::card::CardConfig;
use nic_model::mac::MacPort;
use nic_model::pcie::PcieLink;

use crate::switch::SwitchError;

/// Bytes of a descriptor or completion record.
pub const DESCRIPTOR_BYTES: u64 = 16;

/// The uplink and the bus of a host NIC.
#[derive(Debug, Clone)]
pub struct HostNic {
    mac: MacPort,
    pcie: PcieLink,
    max_frame_bytes: u64,
}

impl HostNic {
    /// The NIC of `card`: its first MAC port is the uplink, its PCIe link the bus.
    pub fn new(switch: &str, card: &CardConfig) -> Result<HostNic, SwitchError> {
        let mac = card.macs.first().ok_or_else(|| SwitchError::Config {
            switch: switch.to_string(),
            what: "card.macs is empty: the uplink needs a MAC port".into(),
        })?;
        let pcie = PcieLink::new(card.pcie.clone()).map_err(|e| SwitchError::Config {
            switch: switch.to_string(),
            what: e.to_string(),
        })?;
        Ok(HostNic {
            mac: MacPort::new(mac.clone()),
            pcie,
            max_frame_bytes: mac.max_frame_bytes,
        })
    }

    /// Largest frame the uplink takes (without FCS).
    pub fn max_frame_bytes(&self) -> u64 {
        self.max_frame_bytes
    }

    /// A frame of `len` bytes whose first bit arrives at `at` (later if the wire is busy):
    /// returns when its last byte is on the card.
    pub fn receive_on_wire(&mut self, at: SimTime, len: u64) -> SimTime {
        self.mac.receive(at, len)
    }

    /// Writes a received frame of `len` bytes and its completion into host memory from
    /// `ready` on: returns when the completion has crossed. The RX descriptor's read is
    /// counted on the bus but not waited for: NICs prefetch posted RX descriptors ahead.
    pub fn write_to_host(&mut self, ready: SimTime, len: u64) -> SimTime {
        self.pcie.dma_read(ready, DESCRIPTOR_BYTES);
        let data = self.pcie.dma_write(ready, len);
        self.pcie.dma_write(data, DESCRIPTOR_BYTES)
    }

    /// Reads a TX descriptor and the frame of `len` bytes it points to from `ready` on:
    /// returns when the frame is on the card. Both reads are issued at `ready` (NICs fetch
    /// descriptors ahead of the data, in batches after the doorbell), so the latency is one
    /// read's and every bus reservation is made at the time it is issued.
    pub fn read_from_host(&mut self, ready: SimTime, len: u64) -> SimTime {
        let descriptor = self.pcie.dma_read(ready, DESCRIPTOR_BYTES);
        self.pcie.dma_read(ready, len).max(descriptor)
    }

    /// Writes a TX completion at `at`; returns when it has crossed.
    pub fn complete_tx(&mut self, at: SimTime) -> SimTime {
        self.pcie.dma_write(at, DESCRIPTOR_BYTES)
    }

    /// Sends a frame of `len` bytes on the card from `ready` on: returns when its last bit
    /// has left the wire.
    pub fn transmit(&mut self, ready: SimTime, len: u64) -> SimTime {
        self.mac.transmit(ready, len)
    }

    /// A host-to-wire transmission: descriptor and frame read over PCIe, the frame on the
    /// wire, the completion written back. Returns when the last bit has left the wire. The
    /// completion's bytes are reserved when the transmission is issued: reserving them in
    /// the future would hold the direction against earlier work.
    pub fn send_from_host(&mut self, ready: SimTime, len: u64) -> SimTime {
        let on_card = self.read_from_host(ready, len);
        self.complete_tx(ready);
        self.transmit(on_card, len)
    }

    /// Bytes that crossed the bus, both directions, every TLP overhead included.
    pub fn pcie_bytes(&self) -> u64 {
        self.pcie.upstream().wire_bytes + self.pcie.downstream().wire_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_64_byte_frame_to_host_costs_its_tlps() {
        let mut nic = HostNic::new("t", &CardConfig::default()).expect("nic");
        let on_card = nic.receive_on_wire(SimTime::ZERO, 60);
        let done = nic.write_to_host(on_card, 60);
        // Descriptor read: request 24 B up + completion 16+20 B down; frame 60+24 B and
        // completion 16+24 B up.
        assert_eq!(nic.pcie_bytes(), 24 + 36 + 84 + 40);
        // 84 wire bytes at 25G (26.88 ns), then two posted writes of about 10 ns each.
        assert!(
            done > SimTime(26_880) && done < SimTime(100_000),
            "{done:?}"
        );
    }
}
