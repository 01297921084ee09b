//! Studies split into independent jobs, for clusters: `snich plan`, `snich run-job`,
//! `snich merge` and, through [`slurm`], `snich slurm`.
//!
//! A plan is a directory:
//!
//! ```text
//!  DIR/manifest.json      the study (command, swept key and values, switches) and every
//!                         job's label, in job order
//!  DIR/jobs/000000.json   one job: a fully resolved scenario (TOML text, its file, its seed)
//!                         and what to run on it (one switch's run, one switch's capacity
//!                         search, a comparison's common-load search, or one switch at
//!                         `snich paper`'s fixed per-VM load)
//!  DIR/results/000000.json  the job's result, once complete
//! ```
//!
//! A job is one simulation run, except where the local command's work cannot be split
//! without changing its results: a capacity search is adaptive (each trial's rate follows from
//! the trials before it), so one switch's whole search is one job (the switches' searches are
//! independent, as `snich capacity` already runs them); a comparison's common load is one NDR
//! search whose every trial runs all switches together, so it is one job beside the
//! switches' runs. `snich paper`'s fixed per-VM load follows from its capacity searches'
//! results: those jobs are a second stage ([`Manifest::second_stage`]), run after the others.
//!
//! [`run_job`] is idempotent: a job whose result file is complete is skipped. A result is
//! written to a temporary file in `results/` and renamed into place, so a result file
//! exists only once complete; one that does not parse, or is not the result of its job, is
//! not complete (and is replaced by the next run).
//!
//! [`merge`] assembles the local command's report from the results with the same
//! constructors the local command uses ([`Report::of_sweep_results`],
//! [`Report::of_results`], [`capacity::attach_common_loads`]), so its files are those of the
//! local command, apart from the wall-clock `simulator`. Results are stored as JSON whose
//! numbers round-trip exactly (serde_json's `float_roundtrip`).

pub mod slurm;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};

use crate::capacity::{self, CapacityError, CapacityOptions};
use crate::report::{self, CommonLoad, Report, ReportError, SwitchResult};
use crate::runner::{self, RunError, Vary};
use crate::scenario::{Scenario, ScenarioDocument, ScenarioError, DEFAULT_SCENARIO};
use crate::switch::SwitchKind;

/// The plan's format version (bump when a file changes meaning).
pub const PLAN_FORMAT: u32 = 1;

/// The manifest's file name in a plan directory.
pub const MANIFEST: &str = "manifest.json";

/// Why a plan could not be made, a job run or a study merged.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A scenario (the study's or a job's) is invalid.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// A job's run failed.
    #[error(transparent)]
    Run(#[from] RunError),
    /// A job's capacity search failed (or its options are out of range).
    #[error(transparent)]
    Capacity(#[from] CapacityError),
    /// The merged report could not be written.
    #[error(transparent)]
    Report(#[from] ReportError),
    /// A plan file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A plan file is not what `snich plan` writes.
    #[error("{path}: not a plan file of this snich: {what}")]
    BadPlanFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// `snich plan` was given a directory that already holds a plan.
    #[error("{dir}: already holds a plan (manifest.json); give a new directory")]
    PlanExists {
        /// The directory.
        dir: PathBuf,
    },
    /// A job index past the plan's last job.
    #[error("job {index}: the plan in {dir} has {jobs} jobs (0 to {last})", last = jobs.saturating_sub(1))]
    NoSuchJob {
        /// The index asked for.
        index: usize,
        /// The plan's jobs.
        jobs: usize,
        /// The plan directory.
        dir: PathBuf,
    },
    /// A second-stage job run before the jobs whose results it needs.
    #[error(
        "this job needs the results of jobs {} first (snich slurm runs it after them)",
        missing.join(", ")
    )]
    NeedsResults {
        /// The jobs without a complete result, `INDEX (LABEL)`.
        missing: Vec<String>,
    },
    /// Jobs without a complete result, at a merge without `--partial`.
    #[error(
        "{} of {jobs} jobs have no complete result: {}; run them (snich run-job DIR INDEX, or \
         snich slurm --resume DIR), or merge what exists with --partial",
        missing.len(),
        missing.join(", ")
    )]
    Missing {
        /// The missing jobs, `INDEX (LABEL)`.
        missing: Vec<String>,
        /// The plan's jobs.
        jobs: usize,
    },
}

impl ClusterError {
    /// Whether the error is the input's (exit 1) rather than a run that could not be done
    /// (exit 2).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            ClusterError::Scenario(_)
                | ClusterError::Capacity(CapacityError::Option { .. })
                | ClusterError::Run(RunError::Vary { .. })
                | ClusterError::BadPlanFile { .. }
                | ClusterError::PlanExists { .. }
                | ClusterError::NoSuchJob { .. }
                | ClusterError::Missing { .. }
        )
    }
}

/// A scenario as a job runs it: the TOML text with every swept key set, the file it stands
/// for (its paths are relative to that file's directory; its stem names the scenario), and
/// its seed (also in the text, or its default; here for people reading the job).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResolvedScenario {
    /// The scenario file it stands for (`None`: the built-in default scenario).
    pub file: Option<PathBuf>,
    /// The scenario's TOML text.
    pub toml: String,
    /// Its seed.
    pub seed: u64,
}

impl ResolvedScenario {
    /// The validated scenario.
    pub fn scenario(&self) -> Result<Scenario, ScenarioError> {
        Scenario::from_toml(&self.toml, self.file.as_deref())
    }

    /// `text` read from `file`, validated; the file made absolute when it exists, so a job
    /// runs from any working directory.
    fn new(
        text: String,
        file: Option<&Path>,
    ) -> Result<(ResolvedScenario, Scenario), ScenarioError> {
        let file = file.map(|f| {
            if f.is_file() {
                std::path::absolute(f).unwrap_or_else(|_| f.to_path_buf())
            } else {
                f.to_path_buf()
            }
        });
        let scenario = Scenario::from_toml(&text, file.as_deref())?;
        Ok((
            ResolvedScenario {
                file,
                toml: text,
                seed: scenario.seed,
            },
            scenario,
        ))
    }

    /// The scenario file at `file` (`None`: the built-in default scenario).
    pub fn from_file(file: Option<&Path>) -> Result<(ResolvedScenario, Scenario), ScenarioError> {
        match file {
            None => ResolvedScenario::new(DEFAULT_SCENARIO.to_string(), None),
            Some(f) => {
                let text = std::fs::read_to_string(f).map_err(|e| ScenarioError::Io {
                    file: f.display().to_string(),
                    what: e.to_string(),
                })?;
                ResolvedScenario::new(text, Some(f))
            }
        }
    }
}

/// What a job runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Work {
    /// One switch's run of the scenario (a sweep point's, or a comparison's).
    Run {
        /// The scenario.
        scenario: ResolvedScenario,
        /// The switch.
        switch: SwitchKind,
        /// The swept key's value (sweeps).
        value: Option<toml::Value>,
    },
    /// One switch's whole capacity search.
    Capacity {
        /// The scenario.
        scenario: ResolvedScenario,
        /// The switch.
        switch: SwitchKind,
        /// The search's options.
        options: CapacityOptions,
        /// The swept key's value (`snich paper`'s capacity at each point).
        #[serde(default)]
        value: Option<toml::Value>,
    },
    /// `snich paper`'s fixed load per VM: one switch in one full-length trial at the load per
    /// VM that the capacity jobs' results give ([`capacity::paper_per_vm_load_pps`]) times
    /// the scenario's VMs; nothing when they give none.
    PerVmLoad {
        /// The scenario.
        scenario: ResolvedScenario,
        /// The switch.
        switch: SwitchKind,
        /// The trial's options (the paper's capacity options).
        options: CapacityOptions,
        /// The swept key's value.
        value: Option<toml::Value>,
        /// The jobs whose results give the load (the experiment's capacity searches).
        capacity_jobs: Vec<usize>,
    },
    /// A comparison's common load: one NDR search whose trials run every switch.
    CommonLoad {
        /// The scenario.
        scenario: ResolvedScenario,
        /// The switches, in report order.
        switches: Vec<SwitchKind>,
    },
}

/// One job of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Its index (0-based; Slurm's array task id).
    pub index: usize,
    /// What it is, for people (`vms.count=2 snich`).
    pub label: String,
    /// What it runs.
    pub work: Work,
}

/// The study a plan's jobs make up, and how their results assemble into its report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case")]
pub enum Study {
    /// `snich sweep`: job `p * switches + s` is point `p`'s switch `s`.
    Sweep {
        /// The swept key.
        key: String,
        /// Its values.
        values: Vec<toml::Value>,
        /// The switches at every point.
        switches: Vec<SwitchKind>,
    },
    /// `snich capacity`: job `s` is switch `s`'s search.
    Capacity {
        /// The switches.
        switches: Vec<SwitchKind>,
    },
    /// `snich compare`: job `s` is switch `s`'s run; the last job is the common load.
    Compare {
        /// The switches.
        switches: Vec<SwitchKind>,
    },
    /// `snich paper`: its sections, in the order of its report.
    Paper {
        /// The sections.
        sections: Vec<PaperSection>,
    },
}

impl Study {
    /// The local command this study is (`sweep`, `capacity`, `compare`, `paper`).
    pub fn command(&self) -> &'static str {
        match self {
            Study::Sweep { .. } => "sweep",
            Study::Capacity { .. } => "capacity",
            Study::Compare { .. } => "compare",
            Study::Paper { .. } => "paper",
        }
    }
}

/// A section of `snich paper` (one experiment's sweep, its capacity or its fixed per-VM
/// load): jobs `first_job + p * switches + s`, point `p`'s switch `s`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaperSection {
    /// The section's name (the experiment's file stem, with its part's suffix).
    pub name: String,
    /// Which part of the experiment it is.
    pub part: PaperPart,
    /// The swept key.
    pub key: String,
    /// Its values.
    pub values: Vec<toml::Value>,
    /// The switches at every point.
    pub switches: Vec<SwitchKind>,
    /// The section's first job.
    pub first_job: usize,
    /// The experiment's scenario as written (the capacity and per-VM load reports').
    pub scenario: ResolvedScenario,
}

/// The parts of a `snich paper` experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "part", rename_all = "kebab-case")]
pub enum PaperPart {
    /// Its sweep.
    Sweep,
    /// Each switch's capacity at each point.
    Capacity,
    /// Each switch at the same load per VM at each VM count; present when the capacity
    /// section (jobs from `capacity_first_job`, as many as this section's) gives one.
    PerVmLoad {
        /// The capacity section's first job.
        capacity_first_job: usize,
    },
}

/// A plan's manifest (`manifest.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`PLAN_FORMAT`].
    pub format: u32,
    /// The `snich` version that planned it (results of another version are not merged).
    pub snich_version: String,
    /// The study.
    pub study: Study,
    /// Every job's label, in job order.
    pub jobs: Vec<String>,
    /// The jobs that read other jobs' results (`snich paper`'s per-VM load): they run after
    /// every other job.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub second_stage: Vec<usize>,
}

impl Manifest {
    /// `jobs` split into those that run first and those that run after them.
    pub fn stages(&self, jobs: &[usize]) -> (Vec<usize>, Vec<usize>) {
        jobs.iter().partition(|j| !self.second_stage.contains(j))
    }
}

/// A plan: its manifest and its jobs.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The manifest.
    pub manifest: Manifest,
    /// The jobs, in order.
    pub jobs: Vec<Job>,
}

impl Plan {
    fn new(study: Study, works: Vec<(String, Work)>) -> Plan {
        let jobs: Vec<Job> = works
            .into_iter()
            .enumerate()
            .map(|(index, (label, work))| Job { index, label, work })
            .collect();
        Plan {
            manifest: Manifest {
                format: PLAN_FORMAT,
                snich_version: env!("CARGO_PKG_VERSION").to_string(),
                study,
                jobs: jobs.iter().map(|j| j.label.clone()).collect(),
                second_stage: jobs
                    .iter()
                    .filter(|j| matches!(j.work, Work::PerVmLoad { .. }))
                    .map(|j| j.index)
                    .collect(),
            },
            jobs,
        }
    }

    /// `snich paper`'s experiments (each a name, its document and its sweep): per
    /// experiment, its sweep's runs (one job per point and switch); for VM- and rule-count
    /// experiments, each switch's capacity search at each point (one job each); for
    /// VM-count experiments, each switch at the fixed load per VM at each point (one job
    /// each, run after the others: the load follows from the capacity searches). Every
    /// point's scenario is validated here.
    pub fn paper(experiments: &[(String, ScenarioDocument, Vary)]) -> Result<Plan, ClusterError> {
        let options = capacity::paper_options(1);
        let mut works: Vec<(String, Work)> = Vec::new();
        let mut sections = Vec::new();
        for (stem, doc, vary) in experiments {
            let base = ResolvedScenario::new(doc.text.clone(), doc.file.as_deref())?.0;
            let switches = doc.scenario()?.switches;
            let mut points = Vec::new();
            for value in &vary.values {
                doc.with(&vary.key, value)?;
                let text = doc.text_with(&vary.key, value)?;
                points.push((ResolvedScenario::new(text, doc.file.as_deref())?.0, value));
            }
            let section = |name: String, part: PaperPart, works: &mut Vec<(String, Work)>| {
                let first_job = works.len();
                for (scenario, value) in &points {
                    for &switch in &switches {
                        let label = format!(
                            "{name} {}={} {}",
                            vary.key,
                            report::value_label(value),
                            switch.name()
                        );
                        let (scenario, value) = (scenario.clone(), Some((*value).clone()));
                        let options = options.clone();
                        let work = match &part {
                            PaperPart::Sweep => Work::Run {
                                scenario,
                                switch,
                                value,
                            },
                            PaperPart::Capacity => Work::Capacity {
                                scenario,
                                switch,
                                options,
                                value,
                            },
                            PaperPart::PerVmLoad { capacity_first_job } => Work::PerVmLoad {
                                scenario,
                                switch,
                                options,
                                value,
                                capacity_jobs: (*capacity_first_job
                                    ..capacity_first_job + points.len() * switches.len())
                                    .collect(),
                            },
                        };
                        works.push((label, work));
                    }
                }
                PaperSection {
                    name,
                    part,
                    key: vary.key.clone(),
                    values: vary.values.clone(),
                    switches: switches.clone(),
                    first_job,
                    scenario: base.clone(),
                }
            };
            sections.push(section(stem.clone(), PaperPart::Sweep, &mut works));
            if capacity::PAPER_CAPACITY_KEYS.contains(&vary.key.as_str()) {
                let capacity_section = section(
                    format!("{stem}{}", report::PAPER_CAPACITY_SUFFIX),
                    PaperPart::Capacity,
                    &mut works,
                );
                if vary.key == "vms.count" {
                    // Its jobs come after the capacity jobs; the report lists it before.
                    sections.push(section(
                        format!("{stem}{}", report::PAPER_PER_VM_LOAD_SUFFIX),
                        PaperPart::PerVmLoad {
                            capacity_first_job: capacity_section.first_job,
                        },
                        &mut works,
                    ));
                }
                sections.push(capacity_section);
            }
        }
        Ok(Plan::new(Study::Paper { sections }, works))
    }

    /// `snich sweep`'s runs of `doc` at every value of `vary`: one job per point and switch.
    /// Every point's scenario is validated here.
    pub fn sweep(doc: &ScenarioDocument, vary: &Vary) -> Result<Plan, ClusterError> {
        let switches = doc.scenario()?.switches;
        let mut works = Vec::new();
        for value in &vary.values {
            // The local sweep's scenario, and the text that reproduces it.
            doc.with(&vary.key, value)?;
            let text = doc.text_with(&vary.key, value)?;
            let (resolved, _) = ResolvedScenario::new(text, doc.file.as_deref())?;
            for &switch in &switches {
                works.push((
                    format!(
                        "{}={} {}",
                        vary.key,
                        report::value_label(value),
                        switch.name()
                    ),
                    Work::Run {
                        scenario: resolved.clone(),
                        switch,
                        value: Some(value.clone()),
                    },
                ));
            }
        }
        let study = Study::Sweep {
            key: vary.key.clone(),
            values: vary.values.clone(),
            switches,
        };
        Ok(Plan::new(study, works))
    }

    /// `snich capacity`'s searches of the scenario at `file`: one job per switch.
    pub fn capacity(file: Option<&Path>, options: &CapacityOptions) -> Result<Plan, ClusterError> {
        options.check()?;
        let (resolved, scenario) = ResolvedScenario::from_file(file)?;
        scenario.check_switches(&scenario.switches)?;
        // A job searches one switch; threads do not change results.
        let options = CapacityOptions {
            threads: 1,
            ..options.clone()
        };
        let works = scenario
            .switches
            .iter()
            .map(|&switch| {
                (
                    format!("capacity {}", switch.name()),
                    Work::Capacity {
                        scenario: resolved.clone(),
                        switch,
                        options: options.clone(),
                        value: None,
                    },
                )
            })
            .collect();
        Ok(Plan::new(
            Study::Capacity {
                switches: scenario.switches.clone(),
            },
            works,
        ))
    }

    /// `snich compare`'s runs of the scenario at `file`: one job per switch, and one for the
    /// common load.
    pub fn compare(file: Option<&Path>) -> Result<Plan, ClusterError> {
        let (resolved, scenario) = ResolvedScenario::from_file(file)?;
        let switches = SwitchKind::ALL.to_vec();
        scenario.check_switches(&switches)?;
        let mut works: Vec<(String, Work)> = switches
            .iter()
            .map(|&switch| {
                (
                    format!("compare {}", switch.name()),
                    Work::Run {
                        scenario: resolved.clone(),
                        switch,
                        value: None,
                    },
                )
            })
            .collect();
        works.push((
            "compare common load".into(),
            Work::CommonLoad {
                scenario: resolved,
                switches: switches.clone(),
            },
        ));
        Ok(Plan::new(Study::Compare { switches }, works))
    }

    /// Writes the plan into `dir` (created if needed; refused when it already holds one).
    pub fn write(&self, dir: &Path) -> Result<(), ClusterError> {
        if dir.join(MANIFEST).exists() {
            return Err(ClusterError::PlanExists {
                dir: dir.to_path_buf(),
            });
        }
        for sub in [jobs_dir(dir), results_dir(dir)] {
            std::fs::create_dir_all(&sub).map_err(|source| ClusterError::Io {
                path: sub.clone(),
                source,
            })?;
        }
        for job in &self.jobs {
            write_atomically(&job_file(dir, job.index), &to_json(job))?;
        }
        // Last: a directory with a manifest holds every job.
        write_atomically(&dir.join(MANIFEST), &to_json(&self.manifest))
    }
}

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default() + "\n"
}

fn jobs_dir(dir: &Path) -> PathBuf {
    dir.join("jobs")
}

fn results_dir(dir: &Path) -> PathBuf {
    dir.join("results")
}

fn job_file(dir: &Path, index: usize) -> PathBuf {
    jobs_dir(dir).join(format!("{index:06}.json"))
}

/// Where job `index`'s result is, once complete.
pub fn result_file(dir: &Path, index: usize) -> PathBuf {
    results_dir(dir).join(format!("{index:06}.json"))
}

/// Writes `text` to a temporary file beside `path`, then renames it into place: `path` is
/// either absent, as it was, or complete.
fn write_atomically(path: &Path, text: &str) -> Result<(), ClusterError> {
    let io = |source| ClusterError::Io {
        path: path.to_path_buf(),
        source,
    };
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(text.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io)
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, ClusterError> {
    let text = std::fs::read_to_string(path).map_err(|source| ClusterError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| ClusterError::BadPlanFile {
        path: path.to_path_buf(),
        what: e.to_string(),
    })
}

/// The manifest of the plan in `dir`.
pub fn read_manifest(dir: &Path) -> Result<Manifest, ClusterError> {
    let path = dir.join(MANIFEST);
    let manifest: Manifest = read_json(&path)?;
    if manifest.format != PLAN_FORMAT || manifest.snich_version != env!("CARGO_PKG_VERSION") {
        return Err(ClusterError::BadPlanFile {
            path,
            what: format!(
                "plan format {} of snich {}; this is format {PLAN_FORMAT} of snich {}",
                manifest.format,
                manifest.snich_version,
                env!("CARGO_PKG_VERSION")
            ),
        });
    }
    Ok(manifest)
}

/// Job `index` of the plan in `dir`.
pub fn read_job(dir: &Path, index: usize) -> Result<Job, ClusterError> {
    let path = job_file(dir, index);
    let job: Job = read_json(&path)?;
    if job.index != index {
        return Err(ClusterError::BadPlanFile {
            path,
            what: format!("it is job {}, not job {index}", job.index),
        });
    }
    Ok(job)
}

/// What a job gave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum JobOutput {
    /// Switch results (one per run or search).
    Results {
        /// The results.
        results: Vec<SwitchResult>,
    },
    /// Each switch at the common load, in report order (`None`: no common load).
    CommonLoad {
        /// The loads.
        loads: Option<Vec<CommonLoad>>,
    },
}

/// A job's result file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobResult {
    /// The job's index.
    pub index: usize,
    /// The job's label (a result is its job's only when both match).
    pub label: String,
    /// What it gave.
    pub output: JobOutput,
    /// Wall-clock seconds it took.
    pub wall_seconds: f64,
    /// Packets it offered (warm-ups included).
    pub simulated_packets: u64,
}

/// Job `index`'s complete result, or `None` when there is none: no file, or one that does
/// not parse or is another job's (half-written, corrupted, or left by another plan).
pub fn complete_result(dir: &Path, index: usize, label: &str) -> Option<JobResult> {
    let text = std::fs::read_to_string(result_file(dir, index)).ok()?;
    let result: JobResult = serde_json::from_str(&text).ok()?;
    (result.index == index && result.label == label).then_some(result)
}

/// Which of a plan's jobs have a complete result.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanStatus {
    /// The manifest.
    pub manifest: Manifest,
    /// The complete results, by job (`None`: missing).
    pub results: Vec<Option<JobResult>>,
}

impl PlanStatus {
    /// The jobs without a complete result.
    pub fn missing(&self) -> Vec<usize> {
        (0..self.results.len())
            .filter(|&i| self.results[i].is_none())
            .collect()
    }

    /// `INDEX (LABEL)` of each missing job.
    pub fn missing_labels(&self) -> Vec<String> {
        self.missing()
            .into_iter()
            .map(|i| self.missing_label(i))
            .collect()
    }

    /// `INDEX (LABEL)` of job `i`.
    fn missing_label(&self, i: usize) -> String {
        format!(
            "{i} ({})",
            self.manifest.jobs.get(i).map_or("", String::as_str)
        )
    }
}

/// The plan in `dir` and its complete results.
pub fn status(dir: &Path) -> Result<PlanStatus, ClusterError> {
    let manifest = read_manifest(dir)?;
    let results = manifest
        .jobs
        .iter()
        .enumerate()
        .map(|(i, label)| complete_result(dir, i, label))
        .collect();
    Ok(PlanStatus { manifest, results })
}

/// What [`run_job`] did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum JobRun {
    /// The job already had a complete result.
    AlreadyComplete,
    /// It ran, in this many wall-clock seconds.
    Ran {
        /// Wall-clock seconds.
        wall_seconds: f64,
    },
}

/// Runs job `index` of the plan in `dir` and writes its result, unless it already has a
/// complete one. `progress` advances by the packets offered.
pub fn run_job(dir: &Path, index: usize, progress: &ProgressBar) -> Result<JobRun, ClusterError> {
    let manifest = read_manifest(dir)?;
    let Some(label) = manifest.jobs.get(index) else {
        return Err(ClusterError::NoSuchJob {
            index,
            jobs: manifest.jobs.len(),
            dir: dir.to_path_buf(),
        });
    };
    if complete_result(dir, index, label).is_some() {
        return Ok(JobRun::AlreadyComplete);
    }
    let job = read_job(dir, index)?;
    if &job.label != label {
        return Err(ClusterError::BadPlanFile {
            path: job_file(dir, index),
            what: format!("its label `{}` is not the manifest's `{label}`", job.label),
        });
    }
    let start = Instant::now();
    let before = progress.position();
    let output = execute(dir, &job.work, progress)?;
    let wall_seconds = start.elapsed().as_secs_f64();
    let result = JobResult {
        index,
        label: job.label,
        output,
        wall_seconds,
        simulated_packets: progress.position().saturating_sub(before),
    };
    write_atomically(&result_file(dir, index), &to_json(&result))?;
    Ok(JobRun::Ran { wall_seconds })
}

/// Runs a job's work as the local command runs it (the plan in `dir` holds the results a
/// second-stage job reads).
fn execute(dir: &Path, work: &Work, progress: &ProgressBar) -> Result<JobOutput, ClusterError> {
    Ok(match work {
        Work::Run {
            scenario,
            switch,
            value,
        } => {
            let scenario = scenario.scenario()?;
            let run = runner::run_switch_with(&runner::build_switch, *switch, &scenario, progress)?;
            JobOutput::Results {
                results: vec![SwitchResult::from_run(
                    &run,
                    value.as_ref().map(report::value_json),
                )],
            }
        }
        Work::Capacity {
            scenario,
            switch,
            options,
            value,
        } => {
            let scenario = scenario.scenario()?;
            let found = capacity::capacity(
                &runner::build_switch,
                &[*switch],
                &scenario,
                options,
                progress,
            )?;
            JobOutput::Results {
                results: found
                    .into_iter()
                    .map(|c| labelled(c.result, value.as_ref()))
                    .collect(),
            }
        }
        Work::PerVmLoad {
            scenario,
            switch,
            options,
            value,
            capacity_jobs,
        } => {
            let manifest = read_manifest(dir)?;
            let mut found = Vec::new();
            let mut missing = Vec::new();
            for &j in capacity_jobs {
                let label = manifest.jobs.get(j).map_or("", String::as_str);
                match complete_result(dir, j, label) {
                    Some(r) => found.extend(results_of(&r)),
                    None => missing.push(format!("{j} ({label})")),
                }
            }
            if !missing.is_empty() {
                return Err(ClusterError::NeedsResults { missing });
            }
            let results = match capacity::paper_per_vm_load_pps(&found) {
                None => Vec::new(),
                Some(per_vm) => {
                    let scenario = scenario.scenario()?;
                    let vms = scenario.topology.vms.len() as f64;
                    capacity::at_rate(
                        &runner::build_switch,
                        &[*switch],
                        &scenario,
                        per_vm * vms,
                        options,
                        progress,
                    )?
                    .into_iter()
                    .map(|r| labelled(r, value.as_ref()))
                    .collect()
                }
            };
            JobOutput::Results { results }
        }
        Work::CommonLoad { scenario, switches } => {
            let scenario = scenario.scenario()?;
            // One thread: a trial's switches in turn (threads do not change results).
            let loads =
                capacity::common_loads(&runner::build_switch, switches, &scenario, 1, progress)?;
            JobOutput::CommonLoad { loads }
        }
    })
}

/// `result` with the swept key's value `value`.
fn labelled(mut result: SwitchResult, value: Option<&toml::Value>) -> SwitchResult {
    if let Some(v) = value {
        result.value = Some(report::value_json(v));
    }
    result
}

/// A job result's switch results (none for a common load).
fn results_of(r: &JobResult) -> Vec<SwitchResult> {
    match &r.output {
        JobOutput::Results { results } => results.clone(),
        JobOutput::CommonLoad { .. } => Vec::new(),
    }
}

/// What a merge assembles: one report, or `snich paper`'s sections.
#[derive(Debug, Clone)]
pub enum MergedReport {
    /// The report of a sweep, capacity search or comparison.
    One(Box<Report>),
    /// `snich paper`'s sections, by name, in order.
    Paper(Vec<(String, Report)>),
}

/// A merged study: its report and the jobs it lacks (`--partial`).
#[derive(Debug, Clone)]
pub struct Merged {
    /// The report, as the local command's.
    pub report: MergedReport,
    /// `INDEX (LABEL)` of the jobs without a result (empty for a complete study).
    pub missing: Vec<String>,
}

/// The report of the plan in `dir`, assembled from its results as the local command
/// assembles its runs'. Missing jobs are an error, unless `partial`: then the report holds
/// what exists and names the missing jobs (`partial_missing_jobs`).
pub fn merge(dir: &Path, partial: bool) -> Result<Merged, ClusterError> {
    let status = status(dir)?;
    let missing = status.missing_labels();
    if !missing.is_empty() && !partial {
        return Err(ClusterError::Missing {
            missing,
            jobs: status.results.len(),
        });
    }
    let present = || status.results.iter().flatten();
    let wall: f64 = present().map(|r| r.wall_seconds).sum();
    let packets: u64 = present().map(|r| r.simulated_packets).sum();
    let command = status.manifest.study.command();
    // Results of jobs `from..from + n` that exist, and the missing ones among them.
    let range = |from: usize, n: usize| {
        let end = (from + n).min(status.results.len());
        let rs: Vec<&JobResult> = status
            .results
            .get(from..end)
            .unwrap_or_default()
            .iter()
            .flatten()
            .collect();
        let missing: Vec<String> = (from..end)
            .filter(|&i| status.results[i].is_none())
            .map(|i| status.missing_label(i))
            .collect();
        (rs, missing)
    };
    // The simulator's speed over the jobs' wall clock (each job's packets, warm-ups and
    // trials included, as the local commands count them).
    let finish = |mut report: Report, missing: Vec<String>, packets: u64| {
        let wall = report.simulator.wall_seconds;
        report.simulator.simulated_packets_per_second = packets as f64 / wall.max(1e-9);
        if !missing.is_empty() {
            report.partial_missing_jobs = Some(missing);
        }
        report
    };
    let report = match &status.manifest.study {
        Study::Sweep { key, values, .. } => {
            let scenario = job_scenario(dir, 0)?;
            let results = present().flat_map(results_of).collect();
            let r = Report::of_sweep_results(command, &scenario, (key, values), results, wall, 1);
            MergedReport::One(Box::new(finish(r, missing.clone(), packets)))
        }
        Study::Capacity { .. } => {
            let scenario = job_scenario(dir, 0)?;
            let results = present().flat_map(results_of).collect();
            let r = Report::of_results(command, &scenario, results, wall, 1);
            MergedReport::One(Box::new(finish(r, missing.clone(), packets)))
        }
        Study::Compare { switches } => {
            let scenario = job_scenario(dir, 0)?;
            let loads = status.results.get(switches.len()).and_then(|r| match r {
                Some(JobResult {
                    output: JobOutput::CommonLoad { loads },
                    ..
                }) => loads.clone(),
                _ => None,
            });
            let mut results = Vec::new();
            for (j, r) in status.results.iter().take(switches.len()).enumerate() {
                let Some(r) = r else { continue };
                let mut rs = results_of(r);
                // Each switch with its own load, whichever switches are missing.
                let load = loads.as_ref().and_then(|l| l.get(j).cloned());
                capacity::attach_common_loads(&mut rs, load.map(|l| vec![l]));
                results.extend(rs);
            }
            let r = Report::of_results(command, &scenario, results, wall, 1);
            MergedReport::One(Box::new(finish(r, missing.clone(), packets)))
        }
        Study::Paper { sections } => {
            let mut out = Vec::new();
            for section in sections {
                let n = section.values.len() * section.switches.len();
                let (rs, missing) = range(section.first_job, n);
                let wall: f64 = rs.iter().map(|r| r.wall_seconds).sum();
                let packets: u64 = rs.iter().map(|r| r.simulated_packets).sum();
                let results: Vec<SwitchResult> = rs.into_iter().flat_map(results_of).collect();
                let sweep = (section.key.as_str(), section.values.as_slice());
                let mut report = match &section.part {
                    // `snich paper`'s sweep section is `snich sweep`'s report.
                    PaperPart::Sweep => {
                        let first = job_scenario(dir, section.first_job)?;
                        Report::of_sweep_results("sweep", &first, sweep, results, wall, 1)
                    }
                    PaperPart::Capacity | PaperPart::PerVmLoad { .. } => {
                        let base = section.scenario.scenario()?;
                        Report::of_sweep_results(command, &base, sweep, results, wall, 1)
                    }
                };
                if let PaperPart::PerVmLoad { capacity_first_job } = section.part {
                    let (capacity, _) = range(capacity_first_job, n);
                    let capacity: Vec<SwitchResult> =
                        capacity.into_iter().flat_map(results_of).collect();
                    // No such load: the local paper has no such section either.
                    let Some(per_vm) = capacity::paper_per_vm_load_pps(&capacity) else {
                        continue;
                    };
                    report.per_vm_load_pps = Some(per_vm);
                }
                out.push((section.name.clone(), finish(report, missing, packets)));
            }
            MergedReport::Paper(out)
        }
    };
    Ok(Merged { report, missing })
}

/// The scenario job `index` runs.
fn job_scenario(dir: &Path, index: usize) -> Result<Scenario, ClusterError> {
    match read_job(dir, index)?.work {
        Work::Run { scenario, .. }
        | Work::Capacity { scenario, .. }
        | Work::PerVmLoad { scenario, .. }
        | Work::CommonLoad { scenario, .. } => Ok(scenario.scenario()?),
    }
}

#[cfg(test)]
mod tests;
