//! The management port's view of the card's table: [`FlowTableDevice`] by direct calls on
//! the card's [`FlowTable`](crate::flow_table::FlowTable), without management-port timing
//! (the register path is `mmio`'s management commands, and `host-driver`'s).

use nic_abi::action::Action;
use nic_abi::device::{EntryStats, FlowTableDevice, FlowTableError, InsertOutcome as Outcome};
use nic_abi::key::FlowKey;

use super::Card;
use crate::flow_table::{InsertError, InsertOutcome};
use crate::host::HostBus;

/// The agent's view of the card's table. A new entry's last-hit time is the card's current
/// time.
impl<H: HostBus> FlowTableDevice for Card<H> {
    fn insert(&mut self, key: &FlowKey, action: Action) -> Result<Outcome, FlowTableError> {
        let now = self.now();
        match self.table.insert_at(key, action, now) {
            Ok(InsertOutcome::Inserted { .. }) => Ok(Outcome::Inserted),
            Ok(InsertOutcome::Updated { .. }) => Ok(Outcome::Updated),
            Err(InsertError::TableFull { .. }) => Err(FlowTableError::TableFull {
                occupancy: self.table.len() as u64,
                capacity: self.table.capacity() as u64,
            }),
            Err(InsertError::UnparsedKey(class)) => Err(FlowTableError::UnparsedKey(class)),
        }
    }

    fn delete(&mut self, key: &FlowKey) -> Result<bool, FlowTableError> {
        Ok(self.table.delete(key).is_some())
    }

    fn lookup(&mut self, key: &FlowKey) -> Result<Option<Action>, FlowTableError> {
        Ok(self.table.entry(key).map(|(a, _)| a))
    }

    fn entry_stats(&mut self, key: &FlowKey) -> Result<Option<EntryStats>, FlowTableError> {
        Ok(self.table.entry(key).map(|(_, st)| st))
    }

    fn capacity(&self) -> u64 {
        self.table.capacity() as u64
    }

    fn occupancy(&self) -> u64 {
        self.table.len() as u64
    }
}
