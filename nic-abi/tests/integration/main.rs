//! nic-abi's integration tests: the header parser against hand-built golden packets, against
//! `etherparse` over real captures, for robustness over the tcpdump test corpus, and by
//! property tests, and against a real Open vSwitch when one is installed; frames from the
//! emitter read back by both parsers and `etherparse`; and the
//! hardware/software formats (records, register map, the generated Verilog include).

mod capture;
mod differential;
mod emit;
mod etherparse_oracle;
mod formats;
mod golden;
mod ovs_oracle;
mod props;
mod robustness;
