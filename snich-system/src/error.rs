//! The system's errors: what failed while assembling the system or running its control plane,
//! with the failing part's own error as the source.

use flow_setup::agent::AgentError;
use host_driver::driver::DriverError;
use host_driver::guest::GuestError;
use host_driver::host::HostError;
use nic_abi::desc::{QueueIndex, VmId};
use nic_abi::key::{MacAddr, PortNo};
use nic_model::card::CardError;
use nic_model::engine::EngineError;
use nic_model::flow_table::InsertError;

/// Errors of the sNICh system.
#[derive(Debug, thiserror::Error)]
pub enum SystemError {
    /// The host could not be built (its copy configuration).
    #[error("system host: {0}")]
    Host(#[from] HostError),
    /// The card could not be built from its configuration.
    #[error("system card: {0}")]
    Card(#[from] CardError),
    /// The driver failed (bring-up, a queue's set-up, the miss or release ring).
    #[error(transparent)]
    Driver(#[from] DriverError),
    /// A guest's processing failed (a queue-interrupt callback).
    #[error(transparent)]
    Guest(#[from] GuestError),
    /// The agent failed in a way that leaves its device's state unknown.
    #[error("agent: {0}")]
    Agent(#[from] AgentError),
    /// The control plane's work queue refused a step (a time in its past).
    #[error("control plane schedule: {0}")]
    Schedule(#[from] EngineError),
    /// A MAC/VLAN entry of a VEB system did not fit the card's table at bring-up.
    #[error("VEB bring-up: the MAC/VLAN entry for {dl_dst} in VLAN {vlan:?} from port {}: {source}", in_port.0)]
    MacVlanEntry {
        /// The entry's ingress port.
        in_port: PortNo,
        /// Its destination MAC.
        dl_dst: MacAddr,
        /// Its VLAN id (`None`: untagged).
        vlan: Option<u16>,
        /// The table's refusal.
        source: InsertError,
    },
    /// Guests must take queue pairs densely in list order: guest `index` has queue `index`.
    #[error("guest {index} ({vm}) has queue {}, expected {index}", queue.0)]
    GuestQueue {
        /// Its place in the list.
        index: usize,
        /// The VM.
        vm: VmId,
        /// The queue it asked for.
        queue: QueueIndex,
    },
}
