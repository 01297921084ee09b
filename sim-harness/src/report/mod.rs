//! Reports: what runs measured, as JSON (for scripts), a side-by-side text table (for
//! people), CSV (for sweeps), SVG plots and the paper's claims checked against the numbers.
//!
//! - [`json`]: the report document `--json` writes ([`Report`], one [`SwitchResult`] per run)
//!   and how a run becomes one.
//! - [`table`]: the side-by-side text table of a comparison or of each point of a sweep.
//! - [`csv`]: one CSV line per result.
//! - [`plots`]: SVG bar charts of a comparison, curves of a sweep.
//! - [`paper`]: the Markdown and JSON of `snich paper`, each claim checked at every point.
//!
//! The JSON report's schema is in README.md; its keys are stable names scripts may rely on.
//! Everything in it is simulated, and so byte-identical between two runs of the same scenario
//! and seed, except the one top-level key `simulator`, which holds the wall-clock
//! measurements of the simulator's own speed (invariant 6).
//!
//! Rates are over a run's span, from its first offer to its last delivery or drop.
//! Throughput counts delivered frame bytes without FCS; per-packet costs (host CPU cycles,
//! PCIe bytes) are divided by the packets delivered, the work spent on drops included.
//!
//! ```
//! use sim_harness::report::SwitchResult;
//! use sim_harness::switch::SwitchRun;
//!
//! let mut run = SwitchRun::new("ideal").unwrap();
//! run.ledger.offer();
//! run.record_delivery(nic_abi::time::SimTime(0), nic_abi::time::SimTime(1_000_000), 1_250);
//! let r = SwitchResult::from_run(&run, None);
//! assert_eq!(r.throughput_gbps, 10.0); // 1,250 bytes in 1 us
//! assert_eq!(r.latency_ns.p50, Some(1_000));
//! ```

use std::path::{Path, PathBuf};

pub mod csv;
pub mod json;
pub mod paper;
pub mod plots;
pub mod table;

pub use csv::{csv, CSV_COLUMNS};
pub use json::{
    value_json, value_label, CommonLoad, Latency, Report, Simulator, SweepInfo, SwitchResult,
    REPORT_VERSION,
};
pub use paper::{paper_json, paper_markdown, PAPER_CAPACITY_SUFFIX, PAPER_PER_VM_LOAD_SUFFIX};
pub use plots::plots;
pub use table::{report_text, table};

/// A report that could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file could not be written.
    #[error("{path}: cannot write: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A plot could not be drawn.
    #[error("{path}: cannot draw the plot: {what}")]
    Plot {
        /// The file.
        path: PathBuf,
        /// What failed.
        what: String,
    },
}

/// Writes `text` to `path`.
pub fn write_file(path: &Path, text: &str) -> Result<(), ReportError> {
    std::fs::write(path, text).map_err(|source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes a report's files into `dir`: `report.json`, `table.txt`, `sweep.csv` (sweeps) and
/// the SVG plots (their paths returned). Every command that writes a report, and `snich
/// merge`, writes it here, so a merged report's files are those of the local command.
pub fn write_report(report: &Report, dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    write_file(&dir.join("report.json"), &report.to_json())?;
    write_file(&dir.join("table.txt"), &report_text(report))?;
    if report.sweep.is_some() {
        write_file(&dir.join("sweep.csv"), &csv(report))?;
    }
    plots(report, dir)
}

/// Writes `snich paper`'s files into `dir`: each section's report, CSV, table and plots in
/// `dir/SECTION/`, `paper.md`, and `report.json` (the JSON of every section, also returned).
pub fn write_paper(sections: &[(String, Report)], dir: &Path) -> Result<String, ReportError> {
    for (name, report) in sections {
        let sub = dir.join(name);
        std::fs::create_dir_all(&sub).map_err(|source| ReportError::Io {
            path: sub.clone(),
            source,
        })?;
        write_file(&sub.join("report.json"), &report.to_json())?;
        write_file(&sub.join("sweep.csv"), &csv(report))?;
        write_file(&sub.join("table.txt"), &report_text(report))?;
        plots(report, &sub)?;
    }
    write_file(&dir.join("paper.md"), &paper_markdown(sections))?;
    let all = paper_json(sections);
    write_file(&dir.join("report.json"), &all)?;
    Ok(all)
}

/// The switch kind of a result's switch name (`snich/hairpin` is a `snich`).
fn kind_of(switch: &str) -> &str {
    switch.split('/').next().unwrap_or(switch)
}
