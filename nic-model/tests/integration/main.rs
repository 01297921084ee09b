//! nic-model's integration tests: one binary, one module per part of the card.

mod card_paths;
mod conservation;
mod engine;
mod flow_table;
mod mac_vlan;
mod registers;
mod support;
mod timing;
