//! nic-abi's integration tests: the header parser against hand-built golden packets, against
//! `etherparse` over real captures, for robustness over the tcpdump test corpus, and by
//! property tests.

mod capture;
mod differential;
mod golden;
mod props;
mod robustness;
