//! `snich`: the sNICh command.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use nic_abi::key::PortNo;
use sim_harness::rules_cli::{self, LintOutcome, PacketsFormat, RulesCliError, RulesFileFormat};

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
    /// Check, lint and trace flow rules (ovs-ofctl, ClassBench, ofrules, JSON, TOML).
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Co-simulate the RTL parser and lookup pipeline against nic-abi's parser and
    /// nic-model's table; prints a JSON summary, exits 1 on any mismatch (needs the `rtl`
    /// feature: cargo run -p sim-harness --features rtl -- cosim).
    Cosim(CosimArgs),
}

#[derive(Debug, Subcommand)]
enum RulesCommand {
    /// Parse a rules file and report every error (file:line:column); exit 1 on errors.
    Check {
        /// The rules file.
        file: PathBuf,
        /// Its format (default: detected from the content).
        #[arg(long, value_enum)]
        format: Option<RulesFileFormat>,
        /// Print nothing but the errors.
        #[arg(long)]
        quiet: bool,
    },
    /// Shadowed, redundant and conflicting rules, each with a witness packet; exit 1 when
    /// there is a finding.
    Lint {
        /// The rules file.
        file: PathBuf,
        /// Its format (default: detected from the content).
        #[arg(long, value_enum)]
        format: Option<RulesFileFormat>,
        /// One JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// One JSON object per packet: the matched rule (cookie, priority; null when none), its
    /// actions and the megaflow.
    Trace {
        /// The rules file.
        file: PathBuf,
        /// A pcap/pcapng capture, a ClassBench trace, a file of ovs-ofctl packet descriptions,
        /// or `-` for descriptions on standard input.
        packets: String,
        /// The rules file's format (default: detected from the content).
        #[arg(long, value_enum)]
        format: Option<RulesFileFormat>,
        /// The packets' format (default: detected).
        #[arg(long, value_enum)]
        packets_format: Option<PacketsFormat>,
        /// Ingress port of captured and ClassBench packets.
        #[arg(long, default_value_t = 1)]
        in_port: u16,
    },
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
        Command::Rules(cmd) => match rules(cmd) {
            Ok(code) => code,
            // A reader that stops early (`| head`) is not an error.
            Err(RulesCliError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("snich rules: {e}");
                ExitCode::from(2)
            }
        },
        Command::Cosim(args) => cosim(&args),
    }
}

/// Exit statuses: 0 clean, 1 errors or findings in the input, 2 the command could not run.
fn rules(cmd: RulesCommand) -> Result<ExitCode, RulesCliError> {
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    match cmd {
        RulesCommand::Check {
            file,
            format,
            quiet,
        } => {
            let mut sink = std::io::sink();
            let summary: &mut dyn std::io::Write = if quiet { &mut sink } else { &mut out };
            let ok = rules_cli::check(&file, format, summary, &mut err)?;
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        RulesCommand::Lint { file, format, json } => Ok(
            match rules_cli::lint_file(&file, format, json, &mut out, &mut err)? {
                LintOutcome::Clean => ExitCode::SUCCESS,
                LintOutcome::Findings | LintOutcome::ParseErrors => ExitCode::from(1),
            },
        ),
        RulesCommand::Trace {
            file,
            packets,
            format,
            packets_format,
            in_port,
        } => {
            let loaded = rules_cli::load_rules(&file, format)?;
            if !loaded.errors.is_empty() {
                for e in &loaded.errors {
                    eprintln!("{e}");
                }
                return Ok(ExitCode::from(1));
            }
            let mut stdin = std::io::stdin().lock();
            match rules_cli::load_packets(&packets, packets_format, PortNo(in_port), &mut stdin)? {
                Ok(keys) => {
                    rules_cli::trace(&loaded.rules, &keys, &mut out)?;
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("snich rules trace: {e}");
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}

#[cfg(feature = "rtl")]
fn cosim(args: &CosimArgs) -> ExitCode {
    use hw_rtl::cosim::{run, CosimConfig};
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
