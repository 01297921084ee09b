//! host-driver's integration tests: the card, the host and the driver together.

mod bring_up;
mod end_to_end;
mod hostile;
mod support;
