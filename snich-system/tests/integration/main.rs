//! snich-system's integration tests: the card, the host, the driver and the agent together.

mod agent_miss;
mod end_to_end;
mod hostile;
mod support;
