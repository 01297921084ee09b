//! `snich`: the sNICh command.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::builder::TypedValueParser;
use clap::{Parser, Subcommand};
use flow_setup::ruleset::{RuleSet, RulesFormat};
use indicatif::{ProgressBar, ProgressStyle};
use nic_abi::key::PortNo;
use sim_harness::calibrate;
use sim_harness::capacity::{self, CapacityError, CapacityOptions};
use sim_harness::cluster::slurm::{self, SlurmError, SlurmOptions};
use sim_harness::cluster::{self, ClusterError, JobRun, MergedReport, Plan};
use sim_harness::report::{self, Report};
use sim_harness::rules_cli::{self, LintOutcome, PacketsFormat, RulesCliError};
use sim_harness::runner::{self, RunError, Vary};
use sim_harness::scenario::{
    LocatedSpec, Scenario, ScenarioDocument, ScenarioError, ScenarioSpec, DEFAULT_SCENARIO,
};
use sim_harness::switch::SwitchKind;
use sim_harness::workload::{PcapSpec, WorkloadKind};

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
    /// Run a scenario's switches (default: the built-in default scenario) and print the
    /// side-by-side table; writes the JSON report and plots.
    Run(RunArgs),
    /// Run every switch (snich, linux-bridge, linux-bridge-nftset, ovs-kernel, ovs-dpdk,
    /// ovs-afxdp, sriov-veb) on the same workload.
    Compare(RunArgs),
    /// Each of a scenario's switches' no-drop rate (NDR) and partial-drop rate (PDR), found by
    /// searching the offered load (RFC 2544, MLRsearch) with trials after a warm-up.
    Capacity(CapacityArgs),
    /// Run a scenario's switches at every value of one key (in parallel); one curve per
    /// switch, CSV and plots.
    Sweep(SweepArgs),
    /// Replay a capture (pcap or pcapng) through every switch, its addresses mapped
    /// onto the default scenario's VMs and external hosts.
    Replay(ReplayArgs),
    /// Run the paper's experiments (built in: scenarios/paper/ as compiled; or those of
    /// `--scenarios DIR`) and write a Markdown report with the
    /// plots, saying for each claim what the numbers show.
    Paper(PaperArgs),
    /// Write a study (sweep, capacity, compare or paper, with its usual arguments) as
    /// independent jobs, one per simulation run, plus a manifest, into --out DIR (see README
    /// "Running on a cluster").
    #[command(subcommand)]
    Plan(PlanCommand),
    /// Run job INDEX (0-based) of the plan in DIR and write its result there; a job with a
    /// complete result is skipped.
    RunJob(RunJobArgs),
    /// Assemble the reports of the plan in DIR from its jobs' results, as the local command
    /// writes them; names the jobs without a result.
    Merge(MergeArgs),
    /// Plan a study and submit it to Slurm: a job array over the plan (one task per job) and
    /// the merge, which runs once every task succeeded.
    Slurm(SlurmArgs),
    /// Check, lint and trace flow rules (ovs-ofctl, ClassBench, ofrules, JSON, TOML).
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Co-simulate the RTL parser and lookup pipeline against nic-abi's parser and
    /// nic-model's table; prints what it compared (`--json`: a JSON summary), exits 1 on any
    /// mismatch (needs the `rtl` feature: cargo run -p sim-harness --features rtl -- cosim).
    Cosim(CosimArgs),
    /// Rebuild every configuration of a real-switch measurement file (written by
    /// scripts/measure_real_switches.py) as a model run and print the model's prediction
    /// beside the measurement, with the error and the row's bound (its repetitions' spread, at
    /// least 15%); `--fit` first fits the numbers the measurements determine on named anchor
    /// rows and writes the fitted profile. Exits 1 when a predicted row falls outside its
    /// bound, 2 on bad input.
    Calibrate(CalibrateArgs),
}

#[derive(Debug, clap::Args)]
struct CalibrateArgs {
    /// The measurement file (JSON, schema real_switches/v1).
    measurements: PathBuf,
    /// The cost profile (default: the built-in profiles/default.toml).
    #[arg(long)]
    profile: Option<PathBuf>,
    /// The profile of Open vSwitch with AF_PACKET ports (default: --profile).
    #[arg(long)]
    afpacket_profile: Option<PathBuf>,
    /// Fit on the anchor rows and write the fitted profile here (and, if the file has
    /// AF_PACKET rows, OUT-afpacket.toml beside it).
    #[arg(long, value_name = "OUT.toml")]
    fit: Option<PathBuf>,
    /// Also write the calibration as JSON here (`-`: standard output, and the table goes to
    /// standard error).
    #[arg(long)]
    json: Option<String>,
}

/// Where results go; shared by every command that runs simulations.
#[derive(Debug, clap::Args)]
struct OutputArgs {
    /// Directory for the report, CSV and plots (default: a new numbered directory under
    /// snich-results/, never an earlier one).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also write the JSON report here (`-`: standard output, and the table goes to
    /// standard error).
    #[arg(long)]
    json: Option<String>,
    /// No table, no progress bars: only errors (and `--json -`).
    #[arg(long)]
    quiet: bool,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// The scenario file (TOML); default: the built-in default scenario.
    scenario: Option<PathBuf>,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, clap::Args)]
struct CapacityArgs {
    /// The scenario file (TOML); default: the built-in default scenario. Its `switches` are
    /// searched; its rate, `packets` and `duration_us` are replaced by each trial's.
    scenario: Option<PathBuf>,
    /// Measured packets of a full-length trial (the first phase's short trials are an
    /// eighth of it).
    #[arg(long, default_value_t = 100_000)]
    trial_packets: u64,
    /// Instead of --trial-packets: a full-length trial's simulated time in microseconds (its
    /// measured packets are those offered within it).
    #[arg(long, conflicts_with = "trial_packets")]
    trial_us: Option<u64>,
    /// Warm-up packets before every trial (RFC 2544's learning phase); default: the
    /// scenario's `warmup_packets`, else enough to set up its initial flows.
    #[arg(long)]
    warmup_packets: Option<u64>,
    /// Stop when the interval between the highest passing and the lowest failing rate is at
    /// most this fraction of the failing rate.
    #[arg(long, default_value_t = 0.01)]
    precision: f64,
    /// The loss ratio the partial-drop rate allows (0.005: 0.5%).
    #[arg(long, default_value_t = 0.005)]
    pdr_loss: f64,
    /// The highest rate tried, Mpps; default: where the uplink is full in its busier
    /// direction.
    #[arg(long)]
    max_mpps: Option<f64>,
    /// The lowest rate tried, Mpps (a switch losing packets here has an NDR of 0).
    #[arg(long, default_value_t = 0.001)]
    min_mpps: f64,
    /// Worker threads (one switch's search each; results do not depend on it); default: the
    /// machine's cores.
    #[arg(long)]
    threads: Option<usize>,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, clap::Args)]
struct SweepArgs {
    /// The scenario file (TOML).
    scenario: PathBuf,
    /// KEY=V1,V2,...: the scenario key (dotted path, e.g. vms.count, workload.size.fixed,
    /// card.inter_vm) and its values; default: the scenario's own `[sweep]`.
    #[arg(long)]
    vary: Option<String>,
    /// Worker threads (results do not depend on it); default: the machine's cores.
    #[arg(long)]
    threads: Option<usize>,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, clap::Args)]
struct ReplayArgs {
    /// The capture (pcap or pcapng, gzipped or not, Ethernet).
    pcap: PathBuf,
    /// Filter rules (any format `snich rules check` reads).
    #[arg(long)]
    rules: Option<PathBuf>,
    /// The scenario whose host, card and endpoints the capture is mapped onto (default: the
    /// built-in default scenario).
    #[arg(long)]
    scenario: Option<PathBuf>,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, clap::Args)]
struct PaperArgs {
    /// A directory of experiment scenario files (each with a `[sweep]`) to run instead of the
    /// paper's, which are built into the binary (scenarios/paper/ as compiled).
    #[arg(long)]
    scenarios: Option<PathBuf>,
    /// Worker threads (results do not depend on it); default: the machine's cores.
    #[arg(long)]
    threads: Option<usize>,
    #[command(flatten)]
    output: OutputArgs,
}

/// The studies `snich plan` and `snich slurm` split into jobs, with their commands'
/// arguments (`--out`: the plan's directory).
#[derive(Debug, Subcommand)]
enum PlanCommand {
    /// `snich sweep`'s runs: one job per value and switch.
    Sweep(SweepArgs),
    /// `snich capacity`'s searches: one job per switch's whole search (a search is adaptive:
    /// each trial's rate follows from the trials before it).
    Capacity(CapacityArgs),
    /// `snich compare`'s runs: one job per switch, and one for the common load (a search
    /// whose every trial runs all switches).
    Compare(RunArgs),
    /// `snich paper`'s runs: one job per experiment, point and switch for its sweep, its
    /// capacity searches (each switch's whole search) and its fixed per-VM load (run after
    /// the searches, which give the load).
    Paper(PaperArgs),
}

#[derive(Debug, clap::Args)]
struct RunJobArgs {
    /// The plan's directory.
    dir: PathBuf,
    /// The job's index (0-based; Slurm's $SLURM_ARRAY_TASK_ID).
    index: usize,
}

#[derive(Debug, clap::Args)]
struct MergeArgs {
    /// The plan's directory.
    dir: PathBuf,
    /// Write what the jobs that finished give, the report marked as partial
    /// (`partial_missing_jobs`), instead of refusing while jobs are missing.
    #[arg(long)]
    partial: bool,
    /// Directory for the report, CSV and plots (default: DIR/report).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also write the JSON report here (`-`: standard output, and the table goes to
    /// standard error).
    #[arg(long)]
    json: Option<String>,
    /// No table: only errors (and `--json -`).
    #[arg(long)]
    quiet: bool,
}

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
struct SlurmArgs {
    #[command(subcommand)]
    study: Option<PlanCommand>,
    /// Submit again only the jobs of the plan in this directory that have no complete
    /// result (failed, cancelled, out of time), and the merge after them.
    #[arg(long)]
    resume: Option<PathBuf>,
    /// The partition of every task (default: the cluster's default).
    #[arg(long, global = true)]
    partition: Option<String>,
    /// Each task's time limit (Slurm's formats: MM, HH:MM:SS, D-HH:MM).
    #[arg(long, global = true)]
    time: Option<String>,
    /// CPUs per task (a job is one switch's run or search: 1 is enough).
    #[arg(long, global = true)]
    cpus_per_task: Option<u32>,
    /// At most this many tasks at a time (the array's %K throttle).
    #[arg(long, global = true)]
    max_parallel: Option<u32>,
    /// Write the plan and print the sbatch scripts, but submit nothing.
    #[arg(long, global = true)]
    dry_run: bool,
}

#[derive(Debug, Subcommand)]
enum RulesCommand {
    /// Parse a rules file and report every error (file:line:column); exit 1 on errors.
    Check {
        /// The rules file.
        file: PathBuf,
        /// Its format (default: detected from the file name, then the content).
        #[arg(long, value_parser = rules_format())]
        format: Option<RulesFormat>,
        /// Print nothing but the errors.
        #[arg(long)]
        quiet: bool,
    },
    /// Shadowed, redundant and conflicting rules, each with a witness packet; exit 1 when
    /// there is a finding.
    Lint {
        /// The rules file.
        file: PathBuf,
        /// Its format (default: detected from the file name, then the content).
        #[arg(long, value_parser = rules_format())]
        format: Option<RulesFormat>,
        /// One JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// One JSON object per packet: the matched rule (cookie, priority; null when none), its
    /// actions and the megaflow.
    Trace(RulesAndPackets),
    /// Time the classifier on a rule set and packets: build time, lookups and updates
    /// (delete and re-insert of each rule) per second, memory.
    Bench {
        #[command(flatten)]
        input: RulesAndPackets,
        /// Time each phase (lookups, updates) for at least this many seconds.
        #[arg(long, default_value_t = 1.0)]
        seconds: f64,
        /// Also write the results as JSON here (`-`: standard output, the text goes to
        /// standard error).
        #[arg(long)]
        json: Option<String>,
    },
}

/// A rules file and packets to look up in it (`rules trace`, `rules bench`).
#[derive(Debug, clap::Args)]
struct RulesAndPackets {
    /// The rules file.
    file: PathBuf,
    /// A pcap/pcapng capture, a ClassBench trace, a file of ovs-ofctl packet descriptions,
    /// or `-` for descriptions on standard input.
    packets: String,
    /// The rules file's format (default: detected from the file name, then the content).
    #[arg(long, value_parser = rules_format())]
    format: Option<RulesFormat>,
    /// The packets' format (default: detected).
    #[arg(long, value_enum)]
    packets_format: Option<PacketsFormat>,
    /// Ingress port of captured and ClassBench packets.
    #[arg(long, default_value_t = 1)]
    in_port: u16,
}

/// `--format`'s values: flow-setup's rules formats by name, each with what reports call it.
fn rules_format() -> impl TypedValueParser<Value = RulesFormat> {
    clap::builder::PossibleValuesParser::new(
        RulesFormat::ALL.map(|f| clap::builder::PossibleValue::new(f.name()).help(f.title())),
    )
    .try_map(|name| name.parse::<RulesFormat>())
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
    /// Also write the JSON summary here (`-`: standard output, and the text goes to standard
    /// error).
    #[arg(long)]
    json: Option<String>,
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
        Command::Run(args) => finish("run", run_command("run", &args, false)),
        Command::Compare(args) => finish("compare", run_command("compare", &args, true)),
        Command::Capacity(args) => finish("capacity", capacity_command(&args)),
        Command::Sweep(args) => finish("sweep", sweep_command(&args)),
        Command::Replay(args) => finish("replay", replay_command(&args)),
        Command::Paper(args) => finish("paper", paper_command(&args)),
        Command::Plan(study) => finish("plan", plan_command(&study).map(|_| ())),
        Command::RunJob(args) => finish("run-job", run_job_command(&args)),
        Command::Merge(args) => finish("merge", merge_command(&args)),
        Command::Slurm(args) => finish("slurm", slurm_command(&args)),
        Command::Calibrate(args) => calibrate_command(&args),
    }
}

/// `snich calibrate`: 0 when every predicted row is inside its bound, 1 when one is not, 2
/// when the calibration could not be done.
fn calibrate_command(args: &CalibrateArgs) -> ExitCode {
    match calibrate_run(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("snich calibrate: {e}");
            ExitCode::from(2)
        }
    }
}

fn calibrate_run(args: &CalibrateArgs) -> Result<bool, calibrate::CalibrateError> {
    let data = calibrate::MeasurementFile::load(&args.measurements)?;
    let opts = calibrate::CalibrateOptions {
        profile: args.profile.clone(),
        afpacket_profile: args.afpacket_profile.clone(),
        fit: args.fit.is_some(),
    };
    let result = calibrate::calibrate(&data, &opts)?;
    let table = result.table();
    if args.json.as_deref() == Some("-") {
        eprint!("{table}");
    } else {
        print!("{table}");
    }
    if let Some(out) = &args.fit {
        calibrate::write_file(out, &result.fitted_profile(false)?)?;
        eprintln!("wrote the fitted profile {}", out.display());
        if result.has_afpacket_rows() {
            let af = calibrate::afpacket_path(out);
            calibrate::write_file(&af, &result.fitted_profile(true)?)?;
            eprintln!("wrote the fitted AF_PACKET profile {}", af.display());
        }
    }
    if let Some(json) = &args.json {
        let text = serde_json::to_string_pretty(&result).map_err(|e| {
            calibrate::CalibrateError::Write {
                file: json.clone(),
                what: e.to_string(),
            }
        })? + "\n";
        if json == "-" {
            print!("{text}");
        } else {
            calibrate::write_file(Path::new(json), &text)?;
        }
    }
    for o in &result.outside {
        eprintln!("outside its bound: {o}");
    }
    Ok(result.passed())
}

/// Why a simulation command failed: bad input (exit 1) or a run that could not be done
/// (exit 2).
#[derive(Debug, thiserror::Error)]
enum CommandError {
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error(transparent)]
    Run(RunError),
    #[error(transparent)]
    Report(#[from] report::ReportError),
    #[error("{0}")]
    Input(String),
    #[error("{0}")]
    Output(String),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    Slurm(#[from] SlurmError),
}

impl From<CapacityError> for CommandError {
    fn from(e: CapacityError) -> Self {
        match e {
            CapacityError::Scenario(s) => CommandError::Scenario(s),
            CapacityError::Option { .. } => CommandError::Input(e.to_string()),
            CapacityError::Trial { .. } => CommandError::Output(e.to_string()),
        }
    }
}

impl From<RunError> for CommandError {
    fn from(e: RunError) -> Self {
        match e {
            RunError::Scenario(s) => CommandError::Scenario(s),
            other => CommandError::Run(other),
        }
    }
}

fn finish(command: &str, result: Result<(), CommandError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("snich {command}: {e}");
            match e {
                CommandError::Scenario(_)
                | CommandError::Input(_)
                | CommandError::Run(RunError::Vary { .. })
                | CommandError::Slurm(SlurmError::Option { .. }) => ExitCode::from(1),
                CommandError::Cluster(c) if c.is_bad_input() => ExitCode::from(1),
                _ => ExitCode::from(2),
            }
        }
    }
}

/// Where results go: `--out`, or the next free `snich-results/NNN-command`.
fn output_dir(out: Option<&Path>, command: &str) -> Result<PathBuf, CommandError> {
    let fail = |p: &Path, e: std::io::Error| {
        CommandError::Output(format!("{}: cannot create the directory: {e}", p.display()))
    };
    if let Some(dir) = out {
        std::fs::create_dir_all(dir).map_err(|e| fail(dir, e))?;
        return Ok(dir.to_path_buf());
    }
    let base = Path::new("snich-results");
    std::fs::create_dir_all(base).map_err(|e| fail(base, e))?;
    let highest = std::fs::read_dir(base)
        .map_err(|e| fail(base, e))?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.split('-').next()?.parse::<u32>().ok()
        })
        .max()
        .unwrap_or(0);
    for n in highest + 1.. {
        let dir = base.join(format!("{n:03}-{command}"));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            // Another snich took it meanwhile: the next one.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(fail(&dir, e)),
        }
    }
    Err(CommandError::Output(
        "snich-results: no free directory number".into(),
    ))
}

fn progress(quiet: bool, total: u64) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {bar:40} {human_pos}/{human_len} packets ({per_sec}, {eta} left)",
    ) {
        bar.set_style(style);
    }
    bar
}

fn threads(arg: Option<usize>) -> usize {
    arg.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .max(1)
}

/// Writes the report (JSON, text, CSV for sweeps, plots) into `dir` and `--json`, and prints
/// the table and where everything went.
fn emit(report: &Report, dir: &Path, output: &OutputArgs) -> Result<(), CommandError> {
    let plots = report::write_report(report, dir)?;
    let json = report.to_json();
    let text = report::report_text(report);
    let to_stdout = output.json.as_deref() == Some("-");
    match output.json.as_deref() {
        Some("-") => print!("{json}"),
        Some(path) => report::write_file(Path::new(path), &json)?,
        None => {}
    }
    if !output.quiet {
        let summary = format!(
            "{text}\nreport: {}\nplots: {} SVG files in {}\n",
            dir.join("report.json").display(),
            plots.len(),
            dir.display()
        );
        if to_stdout {
            eprint!("{summary}");
        } else {
            print!("{summary}");
        }
    }
    Ok(())
}

fn load_scenario(file: Option<&Path>) -> Result<Scenario, ScenarioError> {
    match file {
        Some(f) => Scenario::from_file(f),
        None => Scenario::builtin_default(),
    }
}

fn run_scenario(
    command: &str,
    scenario: &Scenario,
    kinds: &[SwitchKind],
    output: &OutputArgs,
) -> Result<(), CommandError> {
    let total = runner::packets_offered(scenario) * kinds.len() as u64;
    let bar = progress(output.quiet, total);
    let start = Instant::now();
    let runs = runner::compare(&runner::build_switch, kinds, scenario, &bar)?;
    bar.finish_and_clear();
    let mut simulated = bar.position();
    let mut report = Report::of_runs(command, scenario, &runs, 0.0);
    if command == "compare" {
        // Cycles per packet where every switch carries the load without loss.
        let options = capacity::common_load_options();
        let bar = progress(
            output.quiet,
            capacity::expected_packets(scenario, &options) * kinds.len() as u64,
        );
        capacity::attach_common_load(
            &mut report.results,
            &runner::build_switch,
            kinds,
            scenario,
            threads(None),
            &bar,
        )?;
        bar.finish_and_clear();
        simulated += bar.position();
        report.simulator.threads = threads(None);
    }
    // Every packet offered (warm-ups and the common load's trials included) per second.
    report.simulator.wall_seconds = start.elapsed().as_secs_f64();
    report.simulator.simulated_packets_per_second =
        simulated as f64 / report.simulator.wall_seconds.max(1e-9);
    // Created only once there are results: a failed run leaves no empty directory.
    let dir = output_dir(output.out.as_deref(), command)?;
    emit(&report, &dir, output)
}

fn capacity_options(args: &CapacityArgs) -> CapacityOptions {
    CapacityOptions {
        trial_packets: args.trial_packets,
        trial_us: args.trial_us,
        warmup_packets: args.warmup_packets,
        precision: args.precision,
        pdr_loss: args.pdr_loss,
        max_mpps: args.max_mpps,
        min_mpps: args.min_mpps,
        threads: threads(args.threads),
    }
}

fn capacity_command(args: &CapacityArgs) -> Result<(), CommandError> {
    let scenario = load_scenario(args.scenario.as_deref())?;
    let options = capacity_options(args);
    options.check()?;
    let kinds = scenario.switches.clone();
    let bar = progress(
        args.output.quiet,
        capacity::expected_packets(&scenario, &options) * kinds.len() as u64,
    );
    let start = Instant::now();
    let found = capacity::capacity(&runner::build_switch, &kinds, &scenario, &options, &bar)?;
    let wall = start.elapsed().as_secs_f64();
    let simulated = bar.position();
    bar.finish_and_clear();
    let results = found.into_iter().map(|c| c.result).collect();
    let mut report = Report::of_results("capacity", &scenario, results, wall, options.threads);
    report.simulator.simulated_packets_per_second = simulated as f64 / wall.max(1e-9);
    let dir = output_dir(args.output.out.as_deref(), "capacity")?;
    emit(&report, &dir, &args.output)
}

fn run_command(command: &str, args: &RunArgs, all: bool) -> Result<(), CommandError> {
    let scenario = load_scenario(args.scenario.as_deref())?;
    let kinds = if all {
        SwitchKind::ALL.to_vec()
    } else {
        scenario.switches.clone()
    };
    run_scenario(command, &scenario, &kinds, &args.output)
}

fn sweep_of(doc: &ScenarioDocument, vary: Option<&str>) -> Result<Vary, CommandError> {
    match vary {
        Some(v) => Ok(v.parse::<Vary>()?),
        None => match doc.sweep()? {
            Some(s) => Ok(Vary {
                key: s.key,
                values: s.values,
            }),
            None => Err(CommandError::Input(format!(
                "{}: no --vary given and the scenario has no [sweep]",
                doc.file
                    .as_deref()
                    .map_or("<scenario>".into(), |f| f.display().to_string())
            ))),
        },
    }
}

/// The scenario at each value of `vary`.
fn sweep_scenarios(doc: &ScenarioDocument, vary: &Vary) -> Result<Vec<Scenario>, CommandError> {
    Ok(vary
        .values
        .iter()
        .map(|v| doc.with(&vary.key, v))
        .collect::<Result<_, _>>()?)
}

fn run_sweep(
    doc: &ScenarioDocument,
    vary: &Vary,
    threads: usize,
    quiet: bool,
) -> Result<Report, CommandError> {
    let base = doc.scenario()?;
    let kinds = base.switches.clone();
    let scenarios = sweep_scenarios(doc, vary)?;
    let total: u64 = scenarios
        .iter()
        .map(|s| runner::packets_offered(s) * kinds.len() as u64)
        .sum();
    let bar = progress(quiet, total);
    let start = Instant::now();
    let points = runner::sweep(&runner::build_switch, &kinds, doc, vary, threads, &bar)?;
    let wall = start.elapsed().as_secs_f64();
    bar.finish_and_clear();
    Report::of_sweep("sweep", &vary.key, &points, wall, threads)
        .ok_or_else(|| CommandError::Output("the sweep has no points".into()))
}

/// What gives every switch's result at one point of a `snich paper` section.
type PaperPointRun<'a> = dyn Fn(
        &Scenario,
        &[SwitchKind],
        &CapacityOptions,
        &ProgressBar,
    ) -> Result<Vec<report::SwitchResult>, CapacityError>
    + 'a;

/// A section of `snich paper`: `run` gives every switch's result at each point of `vary`
/// (with the paper's capacity options), under one progress bar whose length is `packets`
/// summed over the points; the results are labelled with their values.
fn paper_points(
    doc: &ScenarioDocument,
    vary: &Vary,
    (threads, quiet): (usize, bool),
    packets: &dyn Fn(&Scenario, &CapacityOptions) -> u64,
    run: &PaperPointRun<'_>,
) -> Result<Report, CommandError> {
    let options = capacity::paper_options(threads);
    let base = doc.scenario()?;
    let kinds = base.switches.clone();
    let scenarios = sweep_scenarios(doc, vary)?;
    let total: u64 = scenarios
        .iter()
        .map(|s| packets(s, &options) * kinds.len() as u64)
        .sum();
    let bar = progress(quiet, total);
    let start = Instant::now();
    let mut results = Vec::new();
    for (scenario, value) in scenarios.iter().zip(&vary.values) {
        for mut r in run(scenario, &kinds, &options, &bar)? {
            r.value = Some(report::value_json(value));
            results.push(r);
        }
    }
    bar.finish_and_clear();
    let wall = start.elapsed().as_secs_f64();
    let mut report = Report::of_results("paper", &base, results, wall, threads);
    report.sweep = Some(report::SweepInfo {
        key: vary.key.clone(),
        values: vary.values.iter().map(report::value_json).collect(),
    });
    Ok(report)
}

/// Each switch's capacity at each value of `vary`, as a sweep report whose results are the
/// runs at each NDR (with their `capacity`).
fn paper_capacity(
    doc: &ScenarioDocument,
    vary: &Vary,
    threads: usize,
    quiet: bool,
) -> Result<Report, CommandError> {
    paper_points(
        doc,
        vary,
        (threads, quiet),
        &capacity::expected_packets,
        &|scenario, kinds, options, bar| {
            Ok(
                capacity::capacity(&runner::build_switch, kinds, scenario, options, bar)?
                    .into_iter()
                    .map(|c| c.result)
                    .collect(),
            )
        },
    )
}

/// Each switch at each VM count of `vary` offered the same load per VM: 90% of the lowest
/// NDR per VM that `capacity` found (over every switch and VM count), so every switch
/// carries it at every count and cycles per packet are not skewed by drops. `None` when some
/// switch lost packets even at the lowest rate searched (no such load exists).
fn paper_per_vm_load(
    doc: &ScenarioDocument,
    vary: &Vary,
    capacity: &Report,
    threads: usize,
    quiet: bool,
) -> Result<Option<Report>, CommandError> {
    let Some(per_vm) = capacity::paper_per_vm_load_pps(&capacity.results) else {
        return Ok(None);
    };
    let mut report = paper_points(
        doc,
        vary,
        (threads, quiet),
        &|s, options| options.trial_packets + capacity::default_warmup(s),
        &|scenario, kinds, options, bar| {
            let vms = scenario.topology.vms.len() as f64;
            capacity::at_rate(
                &runner::build_switch,
                kinds,
                scenario,
                per_vm * vms,
                options,
                bar,
            )
        },
    )?;
    report.per_vm_load_pps = Some(per_vm);
    Ok(Some(report))
}

fn sweep_command(args: &SweepArgs) -> Result<(), CommandError> {
    let doc = ScenarioDocument::from_file(&args.scenario)?;
    let vary = sweep_of(&doc, args.vary.as_deref())?;
    let report = run_sweep(&doc, &vary, threads(args.threads), args.output.quiet)?;
    let dir = output_dir(args.output.out.as_deref(), "sweep")?;
    emit(&report, &dir, &args.output)
}

fn replay_command(args: &ReplayArgs) -> Result<(), CommandError> {
    let (text, file) = match &args.scenario {
        Some(f) => (
            std::fs::read_to_string(f).map_err(|e| ScenarioError::Io {
                file: f.display().to_string(),
                what: e.to_string(),
            })?,
            Some(f.clone()),
        ),
        None => (DEFAULT_SCENARIO.to_string(), None),
    };
    let mut spec = ScenarioSpec::from_toml(&text, file.as_deref())?;
    // The command line's paths are relative to the working directory, not the scenario.
    let here = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    spec.workload.kind = WorkloadKind::Pcap;
    spec.workload.pcap = Some(PcapSpec {
        file: here(&args.pcap),
        map: Default::default(),
        timing: Default::default(),
    });
    spec.packets = Some(u64::MAX);
    spec.duration_us = None;
    if let Some(r) = &args.rules {
        spec.rules.file = Some(here(r));
        spec.rules.inline = None;
    }
    let scenario = Scenario::try_from(LocatedSpec { spec, file })?;
    run_scenario("replay", &scenario, &SwitchKind::ALL, &args.output)
}

/// `snich paper`'s experiments, each named by its file's stem, every one validated.
fn paper_experiments(
    args: &PaperArgs,
) -> Result<Vec<(String, ScenarioDocument, Vary)>, CommandError> {
    let documents = match &args.scenarios {
        None => sim_harness::scenario::paper_documents()?,
        Some(dir) => scenario_documents(dir)?,
    };
    let mut experiments = Vec::new();
    for (f, doc) in documents {
        let vary = sweep_of(&doc, None)?;
        for v in &vary.values {
            doc.with(&vary.key, v)?;
        }
        let stem = f
            .file_stem()
            .map_or_else(|| "experiment".into(), |s| s.to_string_lossy().into_owned());
        experiments.push((stem, doc, vary));
    }
    Ok(experiments)
}

fn paper_command(args: &PaperArgs) -> Result<(), CommandError> {
    // Every experiment is validated before the first one runs.
    let experiments = paper_experiments(args)?;
    let threads = threads(args.threads);
    let mut sections = Vec::new();
    for (stem, doc, vary) in &experiments {
        if !args.output.quiet {
            eprintln!(
                "snich paper: {stem} ({} = {} values)",
                vary.key,
                vary.values.len()
            );
        }
        let report = run_sweep(doc, vary, threads, args.output.quiet)?;
        sections.push((stem.clone(), report));
        if capacity::PAPER_CAPACITY_KEYS.contains(&vary.key.as_str()) {
            // The claims are judged on what each switch can carry at each point.
            if !args.output.quiet {
                eprintln!("snich paper: {stem}: capacity at each {}", vary.key);
            }
            let capacity = paper_capacity(doc, vary, threads, args.output.quiet)?;
            if vary.key == "vms.count" {
                if !args.output.quiet {
                    eprintln!("snich paper: {stem}: a fixed load per VM at each VM count");
                }
                if let Some(fixed) =
                    paper_per_vm_load(doc, vary, &capacity, threads, args.output.quiet)?
                {
                    sections.push((format!("{stem}{}", report::PAPER_PER_VM_LOAD_SUFFIX), fixed));
                }
            }
            sections.push((format!("{stem}{}", report::PAPER_CAPACITY_SUFFIX), capacity));
        }
    }
    let dir = output_dir(args.output.out.as_deref(), "paper")?;
    emit_paper(&sections, &dir, &args.output)
}

/// Writes `snich paper`'s files into `dir` and `--json`, and says where the report is.
fn emit_paper(
    sections: &[(String, Report)],
    dir: &Path,
    output: &OutputArgs,
) -> Result<(), CommandError> {
    let all = report::write_paper(sections, dir)?;
    match output.json.as_deref() {
        Some("-") => print!("{all}"),
        Some(path) => report::write_file(Path::new(path), &all)?,
        None => {}
    }
    if !output.quiet {
        let line = format!("paper report: {}", dir.join("paper.md").display());
        if output.json.as_deref() == Some("-") {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }
    Ok(())
}

/// `snich plan`: writes the study's plan; gives its directory and jobs.
fn plan_command(study: &PlanCommand) -> Result<(PathBuf, usize), CommandError> {
    let (plan, output) = match study {
        PlanCommand::Sweep(args) => {
            let doc = ScenarioDocument::from_file(&args.scenario)?;
            let vary = sweep_of(&doc, args.vary.as_deref())?;
            (Plan::sweep(&doc, &vary)?, &args.output)
        }
        PlanCommand::Capacity(args) => (
            Plan::capacity(args.scenario.as_deref(), &capacity_options(args))?,
            &args.output,
        ),
        PlanCommand::Compare(args) => (Plan::compare(args.scenario.as_deref())?, &args.output),
        PlanCommand::Paper(args) => (Plan::paper(&paper_experiments(args)?)?, &args.output),
    };
    if output.json.is_some() {
        return Err(CommandError::Input(
            "--json: a plan writes no report; give --json to snich merge".into(),
        ));
    }
    let dir = output_dir(output.out.as_deref(), "plan")?;
    plan.write(&dir)?;
    let jobs = plan.jobs.len();
    if !output.quiet {
        println!(
            "plan: {jobs} jobs ({}) in {}\n\
             run each: snich run-job {} INDEX (INDEX 0 to {}); \
             then: snich merge {}",
            plan.manifest.study.command(),
            dir.display(),
            dir.display(),
            jobs.saturating_sub(1),
            dir.display()
        );
    }
    Ok((dir, jobs))
}

fn run_job_command(args: &RunJobArgs) -> Result<(), CommandError> {
    let manifest = cluster::read_manifest(&args.dir)?;
    let label = manifest.jobs.get(args.index).cloned().unwrap_or_default();
    match cluster::run_job(&args.dir, args.index, &ProgressBar::hidden())? {
        JobRun::AlreadyComplete => {
            println!("job {} ({label}): already complete", args.index);
        }
        JobRun::Ran { wall_seconds } => println!(
            "job {} ({label}): done in {wall_seconds:.1} s: {}",
            args.index,
            cluster::result_file(&args.dir, args.index).display()
        ),
    }
    Ok(())
}

fn merge_command(args: &MergeArgs) -> Result<(), CommandError> {
    let merged = cluster::merge(&args.dir, args.partial)?;
    if !merged.missing.is_empty() {
        eprintln!(
            "snich merge: partial: {} jobs without a result: {}",
            merged.missing.len(),
            merged.missing.join(", ")
        );
    }
    let out = args.out.clone().unwrap_or_else(|| args.dir.join("report"));
    let dir = output_dir(Some(&out), "merge")?;
    let output = OutputArgs {
        out: Some(dir.clone()),
        json: args.json.clone(),
        quiet: args.quiet,
    };
    match &merged.report {
        MergedReport::One(report) => emit(report, &dir, &output),
        MergedReport::Paper(sections) => emit_paper(sections, &dir, &output),
    }
}

fn slurm_command(args: &SlurmArgs) -> Result<(), CommandError> {
    let options = SlurmOptions {
        partition: args.partition.clone(),
        time: args.time.clone(),
        cpus_per_task: args.cpus_per_task,
        max_parallel: args.max_parallel,
    };
    options.check()?;
    let (dir, tasks) = match (&args.study, &args.resume) {
        (Some(study), None) => {
            let (dir, jobs) = plan_command(study)?;
            (dir, (0..jobs).collect::<Vec<_>>())
        }
        (None, Some(dir)) => {
            let status = cluster::status(dir)?;
            let missing = status.missing();
            println!(
                "resume: {} of {} jobs without a complete result{}",
                missing.len(),
                status.results.len(),
                if missing.is_empty() {
                    String::new()
                } else {
                    format!(": {}", status.missing_labels().join(", "))
                }
            );
            if missing.is_empty() {
                println!(
                    "nothing to submit; the reports: snich merge {}",
                    dir.display()
                );
                return Ok(());
            }
            (dir.clone(), missing)
        }
        _ => {
            return Err(CommandError::Input(
                "give a study (snich slurm sweep|capacity|compare|paper ARGS --out DIR) or \
                 --resume DIR"
                    .into(),
            ))
        }
    };
    let fail = |what: &str, e: std::io::Error| CommandError::Output(format!("{what}: {e}"));
    let dir = std::path::absolute(&dir).map_err(|e| fail("the plan's directory", e))?;
    let snich = std::env::current_exe().map_err(|e| fail("this snich's path", e))?;
    // Jobs that read other jobs' results run in a second array, after the first.
    let (first, second) = cluster::read_manifest(&dir)?.stages(&tasks);
    if args.dry_run {
        for (tasks, after) in [(&first, ""), (&second, " after the first array")] {
            if !tasks.is_empty() {
                println!("# job array{after}: sbatch SCRIPT");
                print!("{}", slurm::array_script(&snich, &dir, tasks, &options));
            }
        }
        print!(
            "# the merge: sbatch --dependency=afterok:ARRAY_JOB_IDS SCRIPT\n{}",
            slurm::merge_script(&snich, &dir, &options)
        );
        return Ok(());
    }
    let submitted = slurm::submit(&snich, &dir, [&first, &second], &options)?;
    let per = options
        .max_parallel
        .map_or_else(String::new, |k| format!(", at most {k} at a time"));
    let arrays: Vec<String> = submitted
        .arrays
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let after = if i > 0 {
                format!(", after job {}", submitted.arrays[0].job)
            } else {
                String::new()
            };
            format!("job array {} ({} tasks{per}{after})", a.job, a.tasks)
        })
        .collect();
    let mut ids: Vec<&str> = submitted.arrays.iter().map(|a| a.job.as_str()).collect();
    ids.push(&submitted.merge_job);
    println!(
        "submitted: {}, merge job {} (after every task succeeded)\n\
         watch: squeue -j {}\n\
         reports: {} once job {} is done; failed tasks: snich slurm --resume {}",
        arrays.join(", "),
        submitted.merge_job,
        ids.join(","),
        dir.join("report").display(),
        submitted.merge_job,
        dir.display()
    );
    Ok(())
}

/// The scenario files (`*.toml`) of `dir`, in file-name order, as documents.
fn scenario_documents(dir: &Path) -> Result<Vec<(PathBuf, ScenarioDocument)>, CommandError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| ScenarioError::Io {
            file: dir.display().to_string(),
            what: e.to_string(),
        })?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(ScenarioError::Io {
            file: dir.display().to_string(),
            what: "no scenario (*.toml) in the directory".into(),
        }
        .into());
    }
    files
        .into_iter()
        .map(|f| Ok((f.clone(), ScenarioDocument::from_file(&f)?)))
        .collect()
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
        RulesCommand::Bench {
            input,
            seconds,
            json,
        } => {
            if !(seconds.is_finite() && (0.0..=3600.0).contains(&seconds)) {
                eprintln!("snich rules bench: --seconds {seconds}: give 0 to 3600 seconds");
                return Ok(ExitCode::from(1));
            }
            let (rules, keys) = match rules_and_packets("bench", &input)? {
                Ok(loaded) => loaded,
                Err(code) => return Ok(code),
            };
            let result = rules_cli::bench(&rules, &keys, seconds);
            let doc = serde_json::to_string_pretty(&result)
                .map_err(|e| RulesCliError::Output(std::io::Error::other(e)))?;
            match json.as_deref() {
                Some("-") => {
                    eprint!("{}", result.text());
                    std::io::Write::write_all(&mut out, format!("{doc}\n").as_bytes())?;
                }
                Some(path) => {
                    std::fs::write(path, format!("{doc}\n")).map_err(|e| {
                        RulesCliError::Output(std::io::Error::new(e.kind(), format!("{path}: {e}")))
                    })?;
                    std::io::Write::write_all(&mut out, result.text().as_bytes())?;
                }
                None => std::io::Write::write_all(&mut out, result.text().as_bytes())?,
            }
            Ok(ExitCode::SUCCESS)
        }
        RulesCommand::Trace(input) => match rules_and_packets("trace", &input)? {
            Ok((rules, keys)) => {
                rules_cli::trace(&rules, &keys, &mut out)?;
                Ok(ExitCode::SUCCESS)
            }
            Err(code) => Ok(code),
        },
    }
}

/// The rules and packets of `snich rules COMMAND`, or the exit code after printing what is
/// wrong with them (exit 1).
#[allow(clippy::type_complexity)]
fn rules_and_packets(
    command: &str,
    input: &RulesAndPackets,
) -> Result<
    Result<(Vec<flow_setup::rule::Rule>, Vec<nic_abi::key::FlowKey>), ExitCode>,
    RulesCliError,
> {
    let loaded = RuleSet::load(&input.file, input.format)?;
    if !loaded.errors.is_empty() {
        for e in &loaded.errors {
            eprintln!("{e}");
        }
        return Ok(Err(ExitCode::from(1)));
    }
    let mut stdin = std::io::stdin().lock();
    match rules_cli::load_packets(
        &input.packets,
        input.packets_format,
        PortNo(input.in_port),
        &mut stdin,
    )? {
        Ok(keys) => Ok(Ok((loaded.rules, keys))),
        Err(e) => {
            eprintln!("snich rules {command}: {e}");
            Ok(Err(ExitCode::from(1)))
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
        None => match random_frames(args.packets, args.seed) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("snich cosim: a random frame could not be built: {e}");
                return ExitCode::from(2);
            }
        },
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
    let json = serde_json::to_string_pretty(&summary).unwrap_or_default() + "\n";
    let s = &report.summary;
    let text = format!(
        "cosim: {} frames: {} parser keys, {} lookups ({} hits), {} result timings and {} \
         installs compared; {} mismatches; {} cycles, {:.0} cycles/s ({})\n",
        s.packets,
        s.keys_compared,
        s.lookups_compared,
        s.hits,
        s.timing_compared,
        s.installs_compared,
        s.mismatches,
        s.cycles,
        s.cycles_per_second,
        hw_rtl::VERILATOR_VERSION
    );
    match args.json.as_deref() {
        Some("-") => {
            print!("{json}");
            eprint!("{text}");
        }
        Some(path) => {
            if let Err(e) = report::write_file(Path::new(path), &json) {
                eprintln!("snich cosim: {e}");
                return ExitCode::from(2);
            }
            print!("{text}");
        }
        None => print!("{text}"),
    }
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
