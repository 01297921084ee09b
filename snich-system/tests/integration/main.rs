//! snich-system's integration tests: the card, the host, the driver and the agent together.

mod agent_miss;
mod end_to_end;
mod faults;
// The frames and small card host-driver's tests use, so both crates test the same traffic.
#[path = "../../../host-driver/tests/integration/fixtures.rs"]
mod fixtures;
mod host_cores;
mod hostile;
mod support;
