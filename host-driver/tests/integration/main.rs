//! host-driver's integration tests: the card, the host and the driver together (the
//! whole system with the agent is tested in `snich-system`).

mod bring_up;
mod fixtures;
mod support;
