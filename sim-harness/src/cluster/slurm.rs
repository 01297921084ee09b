//! A plan's jobs as a Slurm job array (`snich slurm`): an `sbatch` script with one array
//! task per job (`snich run-job DIR $SLURM_ARRAY_TASK_ID`, at most `--max-parallel` at a
//! time: `%K`), and the merge as a job that starts once every task succeeded
//! (`--dependency=afterok`). Slurm schedules; sNICh only plans, runs one job and merges.
//!
//! The plan directory must be on a file system every node sees (the tasks write their
//! results there), and the `snich` binary at the same path on every node.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Why the jobs could not be submitted.
#[derive(Debug, thiserror::Error)]
pub enum SlurmError {
    /// An option would not be a valid `#SBATCH` line.
    #[error("--{option} {value}: {what}")]
    Option {
        /// The option.
        option: &'static str,
        /// Its value.
        value: String,
        /// What is wrong.
        what: &'static str,
    },
    /// There is no job to submit.
    #[error("no job to submit")]
    NoTasks,
    /// A file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `sbatch` could not be run or refused the job.
    #[error("sbatch {what}: {detail}")]
    Sbatch {
        /// Which submission.
        what: &'static str,
        /// Its error output, or why it could not start.
        detail: String,
    },
}

/// Where and how the array's tasks run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SlurmOptions {
    /// `--partition` (default: the cluster's default partition).
    pub partition: Option<String>,
    /// `--time` of each task (Slurm's formats: `MM`, `HH:MM:SS`, `D-HH`, ...).
    pub time: Option<String>,
    /// `--cpus-per-task`.
    pub cpus_per_task: Option<u32>,
    /// At most this many tasks at a time (`%K`).
    pub max_parallel: Option<u32>,
}

impl SlurmOptions {
    /// Refuses values that are not a partition name, a time or a positive count.
    pub fn check(&self) -> Result<(), SlurmError> {
        let bad = |option, value: &str, what| {
            Err(SlurmError::Option {
                option,
                value: value.to_string(),
                what,
            })
        };
        if let Some(p) = &self.partition {
            if p.is_empty()
                || !p
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.,".contains(c))
            {
                return bad(
                    "partition",
                    p,
                    "not a partition name (letters, digits, _-.,)",
                );
            }
        }
        if let Some(t) = &self.time {
            if t.is_empty()
                || !t
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == ':' || c == '-')
            {
                return bad("time", t, "not a Slurm time (MM, HH:MM:SS, D-HH:MM, ...)");
            }
        }
        if self.cpus_per_task == Some(0) {
            return bad("cpus-per-task", "0", "give at least 1");
        }
        if self.max_parallel == Some(0) {
            return bad("max-parallel", "0", "give at least 1");
        }
        Ok(())
    }
}

/// `text` quoted for a POSIX shell.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Slurm's array index list of `tasks` (sorted, distinct): ranges `a-b` joined by commas.
pub fn array_indices(tasks: &[usize]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < tasks.len() {
        let start = tasks[i];
        let mut end = start;
        while i + 1 < tasks.len() && tasks[i + 1] == end + 1 {
            end += 1;
            i += 1;
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    parts.join(",")
}

/// The `#SBATCH` lines every submission shares.
fn common_lines(options: &SlurmOptions) -> String {
    let mut s = String::new();
    if let Some(p) = &options.partition {
        s += &format!("#SBATCH --partition={p}\n");
    }
    if let Some(t) = &options.time {
        s += &format!("#SBATCH --time={t}\n");
    }
    s
}

/// The `sbatch` script of the array: one task per job of `tasks` of the plan in `dir`
/// (absolute), each running `snich` (absolute) `run-job DIR TASK`.
pub fn array_script(snich: &Path, dir: &Path, tasks: &[usize], options: &SlurmOptions) -> String {
    let throttle = options
        .max_parallel
        .map_or_else(String::new, |k| format!("%{k}"));
    let mut s = String::from("#!/bin/sh\n");
    s += "#SBATCH --job-name=snich-jobs\n";
    s += &format!("#SBATCH --array={}{throttle}\n", array_indices(tasks));
    s += &format!(
        "#SBATCH --output={}\n",
        logs_dir(dir).join("job-%a-%A.out").display()
    );
    s += &common_lines(options);
    if let Some(n) = options.cpus_per_task {
        s += &format!("#SBATCH --cpus-per-task={n}\n");
    }
    s += &format!(
        "exec {} run-job {} \"$SLURM_ARRAY_TASK_ID\"\n",
        shell_quote(&snich.display().to_string()),
        shell_quote(&dir.display().to_string())
    );
    s
}

/// The `sbatch` script of the merge (submitted to start after the array).
pub fn merge_script(snich: &Path, dir: &Path, options: &SlurmOptions) -> String {
    let mut s = String::from("#!/bin/sh\n#SBATCH --job-name=snich-merge\n");
    s += &format!(
        "#SBATCH --output={}\n",
        logs_dir(dir).join("merge-%j.out").display()
    );
    s += &common_lines(options);
    s += &format!(
        "exec {} merge {}\n",
        shell_quote(&snich.display().to_string()),
        shell_quote(&dir.display().to_string())
    );
    s
}

/// The directory of the scripts and the tasks' output.
pub fn slurm_dir(dir: &Path) -> PathBuf {
    dir.join("slurm")
}

fn logs_dir(dir: &Path) -> PathBuf {
    slurm_dir(dir).join("logs")
}

/// A job array Slurm accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct SubmittedArray {
    /// Its job id.
    pub job: String,
    /// Its tasks.
    pub tasks: usize,
}

/// The job ids Slurm gave.
#[derive(Debug, Clone, PartialEq)]
pub struct Submitted {
    /// The arrays: the first stage's, then (when there is one) the second stage's, which
    /// starts once every task of the first succeeded.
    pub arrays: Vec<SubmittedArray>,
    /// The merge's job id.
    pub merge_job: String,
}

/// Writes the scripts into `DIR/slurm/` and submits them: an array over the first of
/// `stages` (when not empty), one over the second depending on it (when not empty), then
/// the merge depending on both.
pub fn submit(
    snich: &Path,
    dir: &Path,
    stages: [&[usize]; 2],
    options: &SlurmOptions,
) -> Result<Submitted, SlurmError> {
    options.check()?;
    if stages.iter().all(|s| s.is_empty()) {
        return Err(SlurmError::NoTasks);
    }
    let logs = logs_dir(dir);
    std::fs::create_dir_all(&logs).map_err(|source| SlurmError::Io {
        path: logs.clone(),
        source,
    })?;
    // A new set of scripts per submission (a resume keeps the earlier ones).
    let n = (1..)
        .find(|n| !slurm_dir(dir).join(format!("merge-{n}.sbatch")).exists())
        .unwrap_or(1);
    let write = |name: String, text: String| {
        let path = slurm_dir(dir).join(name);
        std::fs::write(&path, text).map_err(|source| SlurmError::Io {
            path: path.clone(),
            source,
        })?;
        Ok::<_, SlurmError>(path)
    };
    let mut arrays: Vec<SubmittedArray> = Vec::new();
    for (stage, tasks) in stages.iter().enumerate() {
        if tasks.is_empty() {
            continue;
        }
        let name = if stage == 0 {
            format!("array-{n}.sbatch")
        } else {
            format!("array-{n}-after.sbatch")
        };
        let script = write(name, array_script(snich, dir, tasks, options))?;
        let mut args: Vec<OsString> = Vec::new();
        if let Some(first) = arrays.first() {
            args.push(format!("--dependency=afterok:{}", first.job).into());
        }
        args.push(script.into_os_string());
        let job = sbatch("the job array", &args)?;
        arrays.push(SubmittedArray {
            job,
            tasks: tasks.len(),
        });
    }
    let merge = write(
        format!("merge-{n}.sbatch"),
        merge_script(snich, dir, options),
    )?;
    let after: Vec<&str> = arrays.iter().map(|a| a.job.as_str()).collect();
    let merge_job = sbatch(
        "the merge",
        &[
            format!("--dependency=afterok:{}", after.join(":")).into(),
            merge.into_os_string(),
        ],
    )?;
    Ok(Submitted { arrays, merge_job })
}

/// Runs `sbatch --parsable ARGS` and gives the job id.
fn sbatch(what: &'static str, args: &[OsString]) -> Result<String, SlurmError> {
    let out = Command::new("sbatch")
        .arg("--parsable")
        .args(args)
        .output()
        .map_err(|e| SlurmError::Sbatch {
            what,
            detail: format!("cannot run sbatch (is Slurm's client installed?): {e}"),
        })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    // `--parsable`: `ID` or `ID;CLUSTER`.
    let id = stdout.trim().split(';').next().unwrap_or("").to_string();
    if !out.status.success() || id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        return Err(SlurmError::Sbatch {
            what,
            detail: format!(
                "{} {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_indices_are_ranges() {
        assert_eq!(array_indices(&[0, 1, 2, 3]), "0-3");
        assert_eq!(array_indices(&[1, 3, 4, 5, 9]), "1,3-5,9");
        assert_eq!(array_indices(&[7]), "7");
    }

    #[test]
    fn the_script_throttles_and_runs_each_task() {
        let o = SlurmOptions {
            partition: Some("debug".into()),
            time: Some("0:10:00".into()),
            cpus_per_task: Some(1),
            max_parallel: Some(2),
        };
        let s = array_script(
            Path::new("/bin/snich"),
            Path::new("/p/it's"),
            &[0, 1, 2],
            &o,
        );
        assert!(s.contains("#SBATCH --array=0-2%2\n"), "{s}");
        assert!(s.contains("#SBATCH --partition=debug\n"));
        assert!(s.contains("#SBATCH --time=0:10:00\n"));
        assert!(s.contains("#SBATCH --cpus-per-task=1\n"));
        assert!(s.ends_with("exec '/bin/snich' run-job '/p/it'\\''s' \"$SLURM_ARRAY_TASK_ID\"\n"));
    }

    #[test]
    fn options_that_would_break_the_script_are_refused() {
        let o = SlurmOptions {
            partition: Some("a\n#SBATCH --x".into()),
            ..SlurmOptions::default()
        };
        assert!(o.check().unwrap_err().to_string().contains("--partition"));
        let o = SlurmOptions {
            time: Some("10 min".into()),
            ..SlurmOptions::default()
        };
        assert!(o.check().is_err());
        let o = SlurmOptions {
            max_parallel: Some(0),
            ..SlurmOptions::default()
        };
        assert!(o.check().is_err());
    }
}
