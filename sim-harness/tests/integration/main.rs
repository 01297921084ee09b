//! sim-harness's integration tests: captures from the real fixtures, the `snich` command,
//! scenarios, workloads and the bytes of their frames, runs and reports, and the calibration
//! of the baselines against measured switches, and studies run as jobs through Slurm.
mod calibration;
mod capacity;
mod capture;
mod cli;
mod cli_sim;
mod crate_map;
mod frame_bytes;
mod host_cores;
mod host_memory;
mod profile_costs;
mod published;
mod readme;
mod rules;
mod scenario_errors;
mod sim_runs;
mod slurm;
mod support;
mod veb_symmetry;
mod workload_stats;
