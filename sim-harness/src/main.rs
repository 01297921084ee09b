//! `snich`: the sNICh command.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// sNICh: a flow-switching NIC for servers that host many VMs, its model, its RTL, and its
/// flow-rule tools.
#[derive(Debug, Parser)]
#[command(name = "snich", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Co-simulate the RTL parser and lookup pipeline against nic-abi's parser and
    /// nic-model's table; prints a JSON summary, exits 1 on any mismatch (needs the `rtl`
    /// feature: cargo run -p sim-harness --features rtl -- cosim).
    Cosim(CosimArgs),
}

#[derive(Debug, clap::Args)]
struct CosimArgs {
    /// Random frames to generate (ignored with --pcap).
    #[arg(long, default_value_t = 100_000)]
    packets: usize,
    /// Seed of the random frames and of the installed flows.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Replay this capture (pcap or pcapng, gzipped or not, Ethernet) instead.
    #[arg(long)]
    pcap: Option<PathBuf>,
    /// Share of the distinct flows installed in both tables before the stream.
    #[arg(long, default_value_t = 0.5)]
    install_fraction: f64,
    /// Where to write the first mismatch and its stimulus.
    #[arg(long, default_value = "cosim-mismatch.json")]
    mismatch_out: PathBuf,
    /// Dump VCD waveforms next to this path (also: SNICH_VCD=path).
    #[arg(long, env = "SNICH_VCD")]
    vcd: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Cosim(args) => cosim(&args),
    }
}

#[cfg(feature = "rtl")]
fn cosim(args: &CosimArgs) -> ExitCode {
    use hw_rtl::cosim::{run, CosimConfig};
    use nic_abi::key::PortNo;
    use sim_harness::capture::Capture;
    use sim_harness::frames::random_frames;

    if !(0.0..=1.0).contains(&args.install_fraction) {
        eprintln!(
            "snich cosim: --install-fraction {} is not in 0..=1",
            args.install_fraction
        );
        return ExitCode::from(2);
    }
    let frames: Vec<Vec<u8>> = match &args.pcap {
        Some(path) => match Capture::open(path) {
            Ok(c) => c.frames.into_iter().map(|f| f.data).collect(),
            Err(e) => {
                eprintln!("snich cosim: {e}");
                return ExitCode::from(2);
            }
        },
        None => random_frames(args.packets, args.seed),
    };
    // Frames enter on ports 1..=8 in turn.
    let frames: Vec<(Vec<u8>, PortNo)> = frames
        .into_iter()
        .zip((1u16..=8).cycle())
        .map(|(f, p)| (f, PortNo(p)))
        .collect();
    let config = CosimConfig {
        seed: args.seed,
        install_fraction: args.install_fraction,
        vcd: args.vcd.clone(),
    };
    let report = match run(&frames, &config) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("snich cosim: the co-simulation could not run: {e}");
            return ExitCode::from(2);
        }
    };
    let mut summary = serde_json::json!(report.summary);
    summary["verilator"] = serde_json::json!(hw_rtl::VERILATOR_VERSION);
    println!(
        "{}",
        serde_json::to_string_pretty(&summary).unwrap_or_default()
    );
    match &report.first_mismatch {
        None => ExitCode::SUCCESS,
        Some(m) => {
            let text = serde_json::to_string_pretty(m).unwrap_or_default();
            match std::fs::write(&args.mismatch_out, text + "\n") {
                Ok(()) => eprintln!(
                    "snich cosim: {} mismatch at packet {}; stimulus in {}",
                    m.kind,
                    m.packet,
                    args.mismatch_out.display()
                ),
                Err(e) => eprintln!(
                    "snich cosim: {} mismatch at packet {} (frame {}); could not write {}: {e}",
                    m.kind,
                    m.packet,
                    m.frame_hex,
                    args.mismatch_out.display()
                ),
            }
            ExitCode::from(1)
        }
    }
}

#[cfg(not(feature = "rtl"))]
fn cosim(_args: &CosimArgs) -> ExitCode {
    eprintln!(
        "snich cosim: this snich was built without the `rtl` feature (it needs Verilator and \
         g++); run: cargo run --release -p sim-harness --features rtl -- cosim"
    );
    ExitCode::from(2)
}
