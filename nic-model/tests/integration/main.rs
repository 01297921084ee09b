//! nic-model's integration tests: one binary, one module per part of the card.

mod flow_table;
