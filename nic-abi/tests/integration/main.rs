//! nic-abi's integration tests: one binary, one module per concern.

mod formats;
