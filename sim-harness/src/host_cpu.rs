//! The host CPU model, as the scenario's `[host]` section names it: `host-driver`'s
//! [`host_driver::cpu`] (cores busy while they work, a memory bus busy while bytes move),
//! which every switch's host software runs on: the software baselines' driver domain here,
//! the sNICh system's driver and agent in `snich-system`. See DESIGN.md, "Baselines, the host
//! CPU model and cost profiles".
//!
//! ```
//! use nic_abi::time::SimTime;
//! use sim_harness::host_cpu::{CoreId, HostConfig, HostCpu};
//!
//! let mut cpu = HostCpu::new(&HostConfig { cores: 1, clock_mhz: 2_000, memory_gbps: 100.0 })?;
//! let done = cpu.run_on(CoreId(0), SimTime::ZERO, 2_000, "bridge");
//! assert_eq!(done.0, 1_000_000);
//! # Ok::<(), sim_harness::host_cpu::HostCpuError>(())
//! ```

pub use host_driver::cpu::{CoreId, HostCpu, HostCpuConfig as HostConfig, HostCpuError, MemoryBus};
