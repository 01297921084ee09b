//! The [`FlowTableDevice`] trait: how the flow-setup agent installs exact-match entries.
//!
//! The agent (in `flow-setup`) must not depend on what holds the table, so the contract is a
//! trait here, in the crate both sides share:
//!
//! ```text
//!   flow-setup agent --FlowTableDevice--> nic-model's table      (direct calls)
//!                                    \--> host-driver            (management registers over PCIe)
//!                                    \--> hw-rtl                 (the RTL's management port)
//! ```
//!
//! Every implementation follows the same semantics, those of the management port's commands
//! ([`crate::regs::MgmtCommand`]), so the agent behaves the same whatever is underneath:
//!
//! - `insert` of a key already present overwrites its action and keeps its counters
//!   ([`InsertOutcome::Updated`]); otherwise it follows the insertion order of
//!   [`crate::table`] and may fail with [`FlowTableError::TableFull`], leaving the table as it
//!   was.
//! - Only parsed keys ([`FlowKey::is_parsed`]) can be installed: the card never looks up the
//!   others, so an entry for one could never hit. Only actions that pass
//!   [`Action::validate`] can be installed ([`FlowTableError::InvalidAction`]).
//! - Implementations over the management registers map status codes to results with
//!   [`mgmt_outcome`], so all of them agree.
//! - An entry's counters start at zero; its `last_hit` is the insert time until the first hit,
//!   so idle eviction measures idleness from installation for flows that never hit again.
//!
//! The trait is object safe. The agent is generic over it (`Agent<D: FlowTableDevice, _>`),
//! so the card model, the driver's management port and the RTL can each stand behind it.
//!
//! ```
//! use nic_abi::device::{EntryStats, FlowTableDevice, FlowTableError};
//!
//! /// Idle-evicts every entry of `keys` unused since `cutoff`; returns how many went.
//! fn evict_idle(
//!     table: &mut dyn FlowTableDevice,
//!     keys: &[nic_abi::key::FlowKey],
//!     cutoff: nic_abi::time::SimTime,
//! ) -> Result<usize, FlowTableError> {
//!     let mut evicted = 0;
//!     for key in keys {
//!         if let Some(EntryStats { last_hit, .. }) = table.entry_stats(key)? {
//!             if last_hit < cutoff && table.delete(key)? {
//!                 evicted += 1;
//!             }
//!         }
//!     }
//!     Ok(evicted)
//! }
//! ```

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::action::{Action, ActionError};
use crate::key::{FlowKey, KeyClass};
use crate::regs::{MgmtCommand, MgmtStatus};
use crate::time::SimTime;

/// What a successful insert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InsertOutcome {
    /// The key was absent and now has an entry.
    Inserted,
    /// The key was present; its action was overwritten and its counters kept.
    Updated,
}

/// An entry's counters, as the card keeps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct EntryStats {
    /// Packets that hit the entry.
    pub hits: u64,
    /// Bytes of those packets (frame length without FCS, as it entered the card).
    pub bytes: u64,
    /// Arrival time of the last packet that hit, or the insert time if none has.
    pub last_hit: SimTime,
}

impl fmt::Display for EntryStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} hits, {} bytes, last hit at {}",
            self.hits, self.bytes, self.last_hit
        )
    }
}

/// Why a flow-table operation failed. Every variant says whether the agent can go on:
/// all but [`FlowTableError::DeviceFault`] leave the table consistent and usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowTableError {
    /// No free slot within the displacement bound; the table is unchanged. The agent forwards
    /// the flow in software and may evict idle entries.
    #[error("flow table full: insert failed with {occupancy} of {capacity} slots in use")]
    TableFull {
        /// Entries in the table when the insert failed.
        occupancy: u64,
        /// Slots in the table.
        capacity: u64,
    },
    /// The action cannot be installed (an output to port 0); nothing was changed.
    #[error("action cannot be installed: {0}")]
    InvalidAction(#[from] ActionError),
    /// The key is not a parsed key, so no lookup could ever hit it; nothing was changed.
    #[error("flow key of class {0:?} cannot be installed: the card looks up parsed keys only")]
    UnparsedKey(KeyClass),
    /// The management port stayed busy longer than the implementation waits; the command may
    /// still complete, so the agent must re-read the entry before relying on it.
    #[error("flow-table management port still busy after {polls} status reads")]
    Busy {
        /// Status reads made before giving up.
        polls: u32,
    },
    /// The device reported something no correct device reports (an unknown status code, a
    /// refused key or action the host sent in good form). The table's state is unknown.
    #[error("flow-table device fault: {0}")]
    DeviceFault(String),
}

/// An exact-match flow table the agent can manage: `nic-model`'s table, the driver's view of
/// the card through its management registers, or the RTL's management port.
pub trait FlowTableDevice {
    /// Installs `action` for `key`, or overwrites the action of an existing entry.
    fn insert(&mut self, key: &FlowKey, action: Action) -> Result<InsertOutcome, FlowTableError>;

    /// Removes the entry for `key`; returns whether there was one.
    fn delete(&mut self, key: &FlowKey) -> Result<bool, FlowTableError>;

    /// The action installed for `key`, if any (the management port's LOOKUP command).
    fn lookup(&mut self, key: &FlowKey) -> Result<Option<Action>, FlowTableError>;

    /// The counters of the entry for `key`, or `None` when there is no entry.
    fn entry_stats(&mut self, key: &FlowKey) -> Result<Option<EntryStats>, FlowTableError>;

    /// The number of slots: the most entries the table can hold.
    fn capacity(&self) -> u64;

    /// The number of entries now installed.
    fn occupancy(&self) -> u64;
}

/// One entry of the table as a slot scan finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotEntry {
    /// The entry's key.
    pub key: FlowKey,
    /// Its action.
    pub action: Action,
}

/// What one step of a table scan found ([`FlowTableScan::read_next`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanStep {
    /// The entry in slot `slot`; the scan goes on at `slot + 1`.
    Found {
        /// Where it sits.
        slot: u64,
        /// The entry.
        entry: SlotEntry,
    },
    /// No entry before slot `next`; the scan goes on there.
    Continue {
        /// The first slot not scanned.
        next: u64,
    },
    /// No entry from the slot asked for to the end of the table.
    End,
}

/// A flow table whose slots can be read (the management port's `READ_SLOT` and
/// `READ_NEXT`): what a restarted agent rebuilds its state from. Slots run from 0 to
/// [`FlowTableDevice::capacity`]` - 1`.
pub trait FlowTableScan: FlowTableDevice {
    /// The entry in `slot` (key and action: its counters are left in the result registers,
    /// unread), or `None` when the slot is empty. A slot beyond the table is a
    /// [`FlowTableError::DeviceFault`] (the caller asked for what the device does not have).
    fn read_slot(&mut self, slot: u64) -> Result<Option<SlotEntry>, FlowTableError>;

    /// One step of a scan from `slot`: the next entry at or after it, or how far the device
    /// looked. This default reads one slot per step; a device with a scan command
    /// (`READ_NEXT`) skips empty slots in one command.
    fn read_next(&mut self, slot: u64) -> Result<ScanStep, FlowTableError> {
        if slot >= self.capacity() {
            return Ok(ScanStep::End);
        }
        Ok(match self.read_slot(slot)? {
            Some(entry) => ScanStep::Found { slot, entry },
            None => ScanStep::Continue { next: slot + 1 },
        })
    }
}

/// What a finished management command reported, in the terms of [`FlowTableDevice`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MgmtOutcome {
    /// Insert: the key was absent and now has an entry. Delete: the entry was removed. Lookup
    /// and counter read: the entry exists and its values are in the result registers.
    Done,
    /// Insert only: the key was present and its action was overwritten.
    Updated,
    /// Delete, lookup, counter read: the key has no entry.
    NotFound,
}

/// Interprets the management port's status after `cmd`, for implementations of
/// [`FlowTableDevice`] over registers (the driver, the RTL wrapper), so that every one maps
/// codes the same way. `occupancy` and `capacity` go into [`FlowTableError::TableFull`].
///
/// A status a correct device never gives for `cmd` (say, `Updated` after a delete, or
/// `BadKey` for the parsed key the caller checked before writing it) is a
/// [`FlowTableError::DeviceFault`]; `Busy` is [`FlowTableError::Busy`] with `polls`.
pub fn mgmt_outcome(
    cmd: MgmtCommand,
    status: MgmtStatus,
    polls: u32,
    occupancy: u64,
    capacity: u64,
) -> Result<MgmtOutcome, FlowTableError> {
    use MgmtStatus as S;
    match (cmd, status) {
        (_, S::Busy) => Err(FlowTableError::Busy { polls }),
        (_, S::Ok) => Ok(MgmtOutcome::Done),
        (MgmtCommand::Insert, S::Updated) => Ok(MgmtOutcome::Updated),
        (MgmtCommand::Insert, S::TableFull) => Err(FlowTableError::TableFull {
            occupancy,
            capacity,
        }),
        (
            MgmtCommand::Delete
            | MgmtCommand::Lookup
            | MgmtCommand::ReadCounters
            | MgmtCommand::ReadSlot
            | MgmtCommand::ReadNext,
            S::NotFound,
        ) => Ok(MgmtOutcome::NotFound),
        (cmd, status) => Err(FlowTableError::DeviceFault(format!(
            "management command {} ended with status {}, which a correct device never gives \
             for it",
            cmd.name(),
            status.name()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trait_is_object_safe_and_errors_read_well() {
        fn takes_dyn(_: Option<&mut dyn FlowTableDevice>) {}
        takes_dyn(None);
        let e = FlowTableError::TableFull {
            occupancy: 950,
            capacity: 1024,
        };
        assert_eq!(
            e.to_string(),
            "flow table full: insert failed with 950 of 1024 slots in use"
        );
        let stats = EntryStats {
            hits: 3,
            bytes: 180,
            last_hit: SimTime(2_000),
        };
        assert_eq!(stats.to_string(), "3 hits, 180 bytes, last hit at 2.000 ns");
    }

    #[test]
    fn every_command_status_pair_maps_to_one_result() {
        use MgmtCommand as C;
        use MgmtStatus as S;
        let out = |c, s| mgmt_outcome(c, s, 3, 10, 16);
        assert_eq!(out(C::Insert, S::Ok), Ok(MgmtOutcome::Done));
        assert_eq!(out(C::Insert, S::Updated), Ok(MgmtOutcome::Updated));
        assert_eq!(
            out(C::Insert, S::TableFull),
            Err(FlowTableError::TableFull {
                occupancy: 10,
                capacity: 16
            })
        );
        assert_eq!(out(C::Delete, S::NotFound), Ok(MgmtOutcome::NotFound));
        assert_eq!(out(C::Lookup, S::Ok), Ok(MgmtOutcome::Done));
        assert_eq!(out(C::ReadCounters, S::NotFound), Ok(MgmtOutcome::NotFound));
        assert_eq!(out(C::ReadSlot, S::NotFound), Ok(MgmtOutcome::NotFound));
        assert_eq!(out(C::ReadSlot, S::Ok), Ok(MgmtOutcome::Done));
        assert_eq!(
            out(C::Delete, S::Busy),
            Err(FlowTableError::Busy { polls: 3 })
        );
        for (c, s) in [
            (C::Insert, S::NotFound),
            (C::Delete, S::Updated),
            (C::Delete, S::TableFull),
            (C::Lookup, S::Idle),
            (C::Insert, S::BadKey),
            (C::Insert, S::BadAction),
            (C::Lookup, S::BadCommand),
        ] {
            let err = out(c, s).unwrap_err();
            assert!(matches!(err, FlowTableError::DeviceFault(_)), "{c:?} {s:?}");
            assert!(err.to_string().contains(s.name()), "{err}");
        }
    }
}
