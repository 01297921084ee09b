//! Faults injected into the running system (issue 18): the agent crashing and restarting, a
//! guest that stops consuming its RX ring, a guest whose DMA faults under load, a SYN flood
//! at ten times the agent's setup capacity, rule updates at 10,000 per second. Each test
//! measures what the property is about and prints the numbers (`--nocapture`).

mod agent_restart;
mod dma_faults;
mod rule_updates;
mod stuck_guest;
mod syn_flood;
pub mod traffic;
