//! `snich slurm` through a real single-node Slurm cluster: Debian's `munged`, `slurmctld` and
//! `slurmd` started by the test as root, with a `slurm.conf` the test writes into a scratch
//! directory (its own ports, state and spool), each daemon stopped by its pid at the end,
//! also when the test fails. A small sweep and a small capacity search go through the
//! cluster (job array, throttle, merge after the array), and a small `snich paper` (two
//! arrays, the second after the first); each merged report must equal the local command's
//! byte for byte, apart from `simulator`. Then faults: an array task cancelled before it
//! starts, one cancelled while it runs, a deleted and a half-written result; `snich slurm
//! --resume` submits only those jobs, and the merge again equals the local run.
//!
//! Without the daemons (or without root) the test skips, saying so, unless
//! `SNICH_REQUIRE_TOOLS` is set (./test.sh sets it and installs the packages): then it fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use external_oracles::programs;

use crate::support::scratch;

/// The programs the test runs.
const SLURM: [&str; 8] = [
    "munged",
    "slurmctld",
    "slurmd",
    "sbatch",
    "squeue",
    "scancel",
    "scontrol",
    "sinfo",
];

fn snich(args: &[&str], cwd: &Path, conf: Option<&Path>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_snich"));
    c.args(args).current_dir(cwd);
    if let Some(conf) = conf {
        c.env("SLURM_CONF", conf);
    }
    c.output().expect("snich runs")
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A single-node Slurm cluster in a scratch directory; its daemons are stopped, by pid, when
/// it is dropped.
struct Cluster {
    dir: PathBuf,
    conf: PathBuf,
    /// munged, slurmctld, slurmd, in start order.
    daemons: Vec<(&'static str, Child)>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Last started, first stopped: SIGTERM by pid, then SIGKILL if it lingers.
        while let Some((name, mut child)) = self.daemons.pop() {
            let pid = child.id().to_string();
            let _ = Command::new("kill").args(["-TERM", &pid]).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if !matches!(child.try_wait(), Ok(Some(_))) {
                eprintln!("{name} ({pid}) did not stop on SIGTERM: killed");
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

impl Cluster {
    fn start(name: &str) -> Cluster {
        let dir = scratch(name);
        for sub in ["state", "spool", "log"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let host = String::from_utf8(Command::new("hostname").output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_string();
        // Ports of this test process (not the packages' defaults, which a real slurmd may use).
        let port = 20_000 + (std::process::id() % 10_000) * 2;
        let d = dir.display();
        let conf = dir.join("slurm.conf");
        std::fs::write(
            &conf,
            format!(
                "ClusterName=snichtest\nSlurmctldHost={host}\nSlurmctldPort={port}\n\
                 SlurmdPort={}\nSlurmUser=root\nSlurmdUser=root\nAuthType=auth/munge\n\
                 AuthInfo=socket={d}/munge.socket\nCredType=cred/munge\n\
                 StateSaveLocation={d}/state\nSlurmdSpoolDir={d}/spool\n\
                 SlurmctldPidFile={d}/slurmctld.pid\nSlurmdPidFile={d}/slurmd.pid\n\
                 SlurmctldLogFile={d}/log/slurmctld.log\nSlurmdLogFile={d}/log/slurmd.log\n\
                 ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n\
                 SelectType=select/cons_tres\nSelectTypeParameters=CR_Core\n\
                 SchedulerType=sched/backfill\nSchedulerParameters=sched_interval=1\n\
                 JobCompType=jobcomp/none\nJobAcctGatherType=jobacct_gather/none\n\
                 AccountingStorageType=accounting_storage/none\nMpiDefault=none\n\
                 ReturnToService=2\n\
                 NodeName={host} CPUs=2 RealMemory=1000 State=UNKNOWN\n\
                 PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n",
                port + 1
            ),
        )
        .unwrap();
        // munge's key: the test's own, readable by its owner only.
        let key = dir.join("munge.key");
        let mut bytes = vec![0u8; 1024];
        std::io::Read::read_exact(
            &mut std::fs::File::open("/dev/urandom").unwrap(),
            &mut bytes,
        )
        .unwrap();
        std::fs::write(&key, bytes).unwrap();
        std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let mut cluster = Cluster {
            dir: dir.clone(),
            conf: conf.clone(),
            daemons: Vec::new(),
        };
        let spawn = |program: &str, args: Vec<String>, log: &str| {
            Command::new(program)
                .args(args)
                .env("SLURM_CONF", &conf)
                .stdin(Stdio::null())
                .stdout(std::fs::File::create(dir.join("log").join(log)).unwrap())
                .stderr(Stdio::from(
                    std::fs::File::create(dir.join("log").join(format!("{log}.err"))).unwrap(),
                ))
                .spawn()
                .unwrap_or_else(|e| panic!("{program}: {e}"))
        };
        // --force: the scratch directory is under the world-writable /tmp.
        let munged = spawn(
            "munged",
            vec![
                "--foreground".into(),
                "--force".into(),
                format!("--socket={d}/munge.socket"),
                format!("--key-file={}", key.display()),
                format!("--pid-file={d}/munged.pid"),
                format!("--log-file={d}/log/munged.log"),
                format!("--seed-file={d}/munged.seed"),
            ],
            "munged.out",
        );
        cluster.daemons.push(("munged", munged));
        cluster.wait_for("munge's socket", || dir.join("munge.socket").exists());
        let conf_arg = conf.display().to_string();
        let ctld = spawn(
            "slurmctld",
            vec!["-D".into(), "-f".into(), conf_arg.clone()],
            "slurmctld.out",
        );
        cluster.daemons.push(("slurmctld", ctld));
        let slurmd = spawn(
            "slurmd",
            vec!["-D".into(), "-f".into(), conf_arg],
            "slurmd.out",
        );
        cluster.daemons.push(("slurmd", slurmd));
        cluster.wait_for("the node to be idle", || {
            cluster
                .client("sinfo", &["-h", "-o", "%t"])
                .is_some_and(|s| s.trim() == "idle")
        });
        cluster
    }

    /// A Slurm client's standard output, `None` when it failed.
    fn client(&self, program: &str, args: &[&str]) -> Option<String> {
        let out = Command::new(program)
            .args(args)
            .env("SLURM_CONF", &self.conf)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Waits (at most a minute) for `done`, else fails with the daemons' logs.
    fn wait_for(&self, what: &str, done: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !done() {
            if Instant::now() > deadline {
                let logs: String = ["munged.log", "slurmctld.log", "slurmd.log"]
                    .iter()
                    .map(|l| {
                        let text = std::fs::read_to_string(self.dir.join("log").join(l))
                            .unwrap_or_default();
                        let tail: Vec<&str> = text.lines().rev().take(15).collect();
                        format!(
                            "--- {l}\n{}\n",
                            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                        )
                    })
                    .collect();
                panic!("timed out waiting for {what}\n{logs}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until none of `jobs` is in the queue any more.
    fn wait_gone(&self, jobs: &[&str]) {
        let list = jobs.join(",");
        self.wait_for(&format!("jobs {list} to finish"), || {
            self.client("squeue", &["-h", "-j", &list, "-o", "%i %t"])
                .is_some_and(|s| s.trim().is_empty())
        });
    }

    /// The state of job `id` (`PD`, `R`; empty once gone).
    fn state(&self, id: &str) -> String {
        self.client("squeue", &["-h", "-j", id, "-o", "%t"])
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    /// `snich slurm ARGS` (in `cwd`), and the array's and the merge's job ids it printed.
    fn submit(&self, args: &[&str], cwd: &Path) -> (String, String) {
        let out = ok(snich(args, cwd, Some(&self.conf)));
        let ids = |after: &str| {
            out.split(after)
                .nth(1)
                .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| panic!("no `{after}ID` in: {out}"))
                .to_string()
        };
        let (array, merge) = (ids("job array "), ids("merge job "));
        assert!(out.contains(&format!("watch: squeue -j {array},")), "{out}");
        assert!(out.contains(&format!(",{merge}\n")), "{out}");
        (array, merge)
    }
}

/// A JSON report's text with every `simulator` object taken out (at any depth), byte for
/// byte otherwise.
fn without_simulator(text: &str) -> String {
    let mut out = String::new();
    // The indentation of the `simulator` object being skipped.
    let mut skipping: Option<usize> = None;
    for line in text.split_inclusive('\n') {
        let indent = line.len() - line.trim_start().len();
        match skipping {
            Some(at) => {
                if indent == at && line.trim_start().starts_with('}') {
                    skipping = None;
                }
            }
            None if line.trim_start().starts_with("\"simulator\": {") => skipping = Some(indent),
            None => out += line,
        }
    }
    assert!(
        skipping.is_none() && out.len() < text.len(),
        "no simulator in {text}"
    );
    out
}

/// Every file the local command wrote equals the merged one (`report.json` apart from
/// `simulator`), and the merge wrote no other.
fn assert_same_reports(local: &Path, merged: &Path) {
    let names = |d: &Path| {
        let mut n: Vec<String> = std::fs::read_dir(d)
            .unwrap_or_else(|e| panic!("{}: {e}", d.display()))
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    };
    let files = names(local);
    assert_eq!(files, names(merged));
    assert!(files.iter().any(|f| f.ends_with(".svg")), "{files:?}");
    for f in &files {
        let (a, b) = (
            std::fs::read(local.join(f)).unwrap(),
            std::fs::read(merged.join(f)).unwrap(),
        );
        if f == "report.json" {
            let (a, b) = (String::from_utf8(a).unwrap(), String::from_utf8(b).unwrap());
            assert_eq!(without_simulator(&a), without_simulator(&b), "{f}");
        } else {
            assert!(
                a == b,
                "{f} differs between {} and {}",
                local.display(),
                merged.display()
            );
        }
    }
}

const SWEEP_SCENARIO: &str = "seed = 5\npackets = 400\nswitches = [\"snich\", \"ovs-kernel\"]\n\
    [vms]\ncount = 2\n[workload]\nkind = \"inter-vm\"\n";

/// One switch whose jobs' length follows the swept packet count.
const LONG_SCENARIO: &str = "seed = 6\nswitches = [\"snich\"]\n[vms]\ncount = 2\n\
    [workload]\nkind = \"inter-vm\"\n";

const CAPACITY_SCENARIO: &str = "seed = 3\nswitches = [\"snich\", \"linux-bridge\"]\n\
    [vms]\ncount = 2\n[workload]\nkind = \"inter-vm\"\n";

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

#[test]
fn a_sweep_and_a_capacity_search_through_slurm_merge_to_the_local_reports() {
    if !programs::require(&SLURM).unwrap_or_else(|e| panic!("{e}")) {
        return;
    }
    if !is_root() {
        assert!(
            !programs::required(),
            "the Slurm test starts its daemons as root, and this is not root while {} is set",
            programs::REQUIRE_VARIABLE
        );
        eprintln!("skipped: the Slurm test starts its daemons as root");
        return;
    }
    let cluster = Cluster::start("slurm");
    let work = cluster.dir.join("work");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("sweep.toml"), SWEEP_SCENARIO).unwrap();
    std::fs::write(work.join("capacity.toml"), CAPACITY_SCENARIO).unwrap();

    // The sweep: 2 values x 2 switches = 4 array tasks, at most 2 at a time.
    let sweep = ["sweep", "sweep.toml", "--vary", "vms.count=2,3"];
    let (array, merge) = cluster.submit(
        &[
            &["slurm"][..],
            &sweep,
            &["--out", "sweep-plan", "--max-parallel", "2", "--time", "5"],
        ]
        .concat(),
        &work,
    );
    let script = std::fs::read_to_string(work.join("sweep-plan/slurm/array-1.sbatch")).unwrap();
    assert!(script.contains("#SBATCH --array=0-3%2\n"), "{script}");
    // The capacity search: one task per switch's search, submitted while the sweep runs.
    let capacity = [
        "capacity",
        "capacity.toml",
        "--trial-packets",
        "400",
        "--precision",
        "0.1",
    ];
    let (c_array, c_merge) = cluster.submit(
        &[&["slurm"][..], &capacity, &["--out", "capacity-plan"]].concat(),
        &work,
    );
    // The paper: its per-VM load jobs need the capacity searches' results, so they are a
    // second array that starts after the first.
    std::fs::create_dir_all(work.join("experiments")).unwrap();
    std::fs::write(work.join("experiments/tiny.toml"), PAPER_EXPERIMENT).unwrap();
    let paper = ["paper", "--scenarios", "experiments"];
    let (p_array, p_merge) = cluster.submit(
        &[&["slurm"][..], &paper, &["--out", "paper-plan"]].concat(),
        &work,
    );
    let first = std::fs::read_to_string(work.join("paper-plan/slurm/array-1.sbatch")).unwrap();
    let after =
        std::fs::read_to_string(work.join("paper-plan/slurm/array-1-after.sbatch")).unwrap();
    assert!(first.contains("#SBATCH --array=0-3\n"), "{first}");
    assert!(after.contains("#SBATCH --array=4-5\n"), "{after}");
    // The same studies run locally meanwhile.
    ok(snich(
        &[&sweep[..], &["--out", "sweep-local", "--quiet"]].concat(),
        &work,
        None,
    ));
    ok(snich(
        &[&capacity[..], &["--out", "capacity-local", "--quiet"]].concat(),
        &work,
        None,
    ));
    ok(snich(
        &[&paper[..], &["--out", "paper-local", "--quiet"]].concat(),
        &work,
        None,
    ));
    cluster.wait_gone(&[&array, &merge, &c_array, &c_merge, &p_array, &p_merge]);
    assert_same_trees(&work.join("paper-local"), &work.join("paper-plan/report"));
    assert_same_reports(&work.join("sweep-local"), &work.join("sweep-plan/report"));
    assert_same_reports(
        &work.join("capacity-local"),
        &work.join("capacity-plan/report"),
    );
    // Each task and the merge left their output.
    let logs = std::fs::read_dir(work.join("sweep-plan/slurm/logs"))
        .unwrap()
        .count();
    assert_eq!(logs, 5, "4 tasks and the merge");

    // Faults. A cancelled task: the partition is down while the array is submitted, task 1
    // is cancelled before it can start, then the rest run; the merge never starts (afterok).
    let plan = work.join("fault-plan");
    cluster
        .client("scontrol", &["update", "PartitionName=debug", "State=DOWN"])
        .expect("partition down");
    let (array, merge) = cluster.submit(
        &[&["slurm"][..], &sweep, &["--out", "fault-plan"]].concat(),
        &work,
    );
    cluster
        .client("scancel", &[&format!("{array}_1")])
        .expect("scancel a task");
    cluster
        .client("scontrol", &["update", "PartitionName=debug", "State=UP"])
        .expect("partition up");
    cluster.wait_gone(&[&array]);
    assert_eq!(
        cluster.state(&merge),
        "PD",
        "the merge waits for a task that never succeeds"
    );
    cluster
        .client("scancel", &[&merge])
        .expect("scancel the merge");
    let out = snich(&["merge", "fault-plan"], &work, None);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("1 of 4 jobs have no complete result: 1 (vms.count=2 ovs-kernel)"),
        "{err}"
    );
    // A deleted and a half-written result.
    std::fs::remove_file(plan.join("results/000003.json")).unwrap();
    let r0 = std::fs::read_to_string(plan.join("results/000000.json")).unwrap();
    std::fs::write(plan.join("results/000000.json"), &r0[..r0.len() / 2]).unwrap();
    let (array, merge) = cluster.submit(&["slurm", "--resume", "fault-plan"], &work);
    let script = std::fs::read_to_string(plan.join("slurm/array-2.sbatch")).unwrap();
    assert!(script.contains("#SBATCH --array=0-1,3\n"), "{script}");
    cluster.wait_gone(&[&array, &merge]);
    assert_same_reports(&work.join("sweep-local"), &plan.join("report"));
    // Nothing left to resume.
    let out = ok(snich(
        &["slurm", "--resume", "fault-plan"],
        &work,
        Some(&cluster.conf),
    ));
    assert!(
        out.contains("resume: 0 of 4 jobs without a complete result"),
        "{out}"
    );

    // A task killed while it runs: job 1 simulates 2,500,000 packets (seconds), and is
    // cancelled as soon as Slurm says it is running.
    std::fs::write(work.join("long.toml"), LONG_SCENARIO).unwrap();
    let long = ["sweep", "long.toml", "--vary", "packets=400,2500000"];
    let (array, merge) = cluster.submit(
        &[&["slurm"][..], &long, &["--out", "killed-plan"]].concat(),
        &work,
    );
    let task = format!("{array}_1");
    cluster.wait_for("task 1 to run", || cluster.state(&task) == "R");
    cluster
        .client("scancel", &[&task])
        .expect("scancel a running task");
    // The local run meanwhile.
    let local = Command::new(env!("CARGO_BIN_EXE_snich"))
        .args([&long[..], &["--out", "killed-local", "--quiet"]].concat())
        .current_dir(&work)
        .spawn()
        .unwrap();
    cluster.wait_gone(&[&array]);
    let killed = work.join("killed-plan");
    assert!(
        !killed.join("results/000001.json").exists(),
        "job 1 finished before it was cancelled: make it longer"
    );
    let log = std::fs::read_to_string(killed.join(format!("slurm/logs/job-1-{array}.out")))
        .unwrap_or_default();
    assert!(log.contains("CANCELLED"), "the task's output: {log}");
    assert_eq!(cluster.state(&merge), "PD");
    cluster
        .client("scancel", &[&merge])
        .expect("scancel the merge");
    let (array, merge) = cluster.submit(&["slurm", "--resume", "killed-plan"], &work);
    let script = std::fs::read_to_string(killed.join("slurm/array-2.sbatch")).unwrap();
    assert!(script.contains("#SBATCH --array=1\n"), "{script}");
    assert!(local.wait_with_output().unwrap().status.success());
    cluster.wait_gone(&[&array, &merge]);
    assert_same_reports(&work.join("killed-local"), &killed.join("report"));
}

#[test]
fn a_dry_run_prints_the_scripts_and_submits_nothing() {
    let dir = scratch("slurm-dry-run");
    std::fs::write(dir.join("sweep.toml"), SWEEP_SCENARIO).unwrap();
    let out = ok(snich(
        &[
            "slurm",
            "sweep",
            "sweep.toml",
            "--vary",
            "vms.count=2,3,4",
            "--out",
            "plan",
            "--dry-run",
            "--partition",
            "short",
            "--cpus-per-task",
            "1",
            "--max-parallel",
            "4",
        ],
        &dir,
        // No cluster: a dry run must not need one.
        Some(Path::new("/nonexistent/slurm.conf")),
    ));
    assert!(out.contains("#SBATCH --array=0-5%4\n"), "{out}");
    assert!(out.contains("#SBATCH --partition=short\n"), "{out}");
    assert!(out.contains("#SBATCH --cpus-per-task=1\n"), "{out}");
    assert!(out.contains(" run-job "), "{out}");
    assert!(out.contains(" merge "), "{out}");
    assert!(dir.join("plan/manifest.json").is_file());
    assert!(
        !dir.join("plan/slurm").exists(),
        "nothing submitted, no script written"
    );
    // A bad option is the input's fault: exit 1, naming it.
    let out = snich(
        &["slurm", "--resume", "plan", "--time", "ten minutes"],
        &dir,
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--time ten minutes"));
}

#[test]
fn plan_run_job_and_merge_from_the_command_line() {
    let dir = scratch("plan-cli");
    std::fs::write(dir.join("sweep.toml"), SWEEP_SCENARIO).unwrap();
    let out = ok(snich(
        &[
            "plan",
            "sweep",
            "sweep.toml",
            "--vary",
            "vms.count=2,3",
            "--out",
            "p",
        ],
        &dir,
        None,
    ));
    assert!(out.starts_with("plan: 4 jobs (sweep) in p\n"), "{out}");
    // An index past the last job: bad input.
    let out = snich(&["run-job", "p", "4"], &dir, None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("has 4 jobs (0 to 3)"));
    for i in ["0", "1", "2"] {
        ok(snich(&["run-job", "p", i], &dir, None));
    }
    let out = ok(snich(&["run-job", "p", "2"], &dir, None));
    assert!(out.contains("already complete"), "{out}");
    let out = snich(&["merge", "p"], &dir, None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("3 (vms.count=3 ovs-kernel)"));
    let out = snich(
        &["merge", "p", "--partial", "--quiet", "--json", "-"],
        &dir,
        None,
    );
    let json: serde_json::Value = serde_json::from_slice(&ok(out).into_bytes()).unwrap();
    assert_eq!(
        json["partial_missing_jobs"][0],
        "3 (vms.count=3 ovs-kernel)"
    );
    assert_eq!(json["results"].as_array().unwrap().len(), 3);
    ok(snich(&["run-job", "p", "3"], &dir, None));
    ok(snich(&["merge", "p", "--quiet"], &dir, None));
    ok(snich(
        &[
            "sweep",
            "sweep.toml",
            "--vary",
            "vms.count=2,3",
            "--out",
            "local",
            "--quiet",
        ],
        &dir,
        None,
    ));
    assert_same_reports(&dir.join("local"), &dir.join("p/report"));
}

/// A small `snich paper` experiment: a VM-count sweep (so it has capacity and fixed per-VM
/// load sections too) of one fast switch.
const PAPER_EXPERIMENT: &str = "name = \"tiny-vms\"\ndescription = \"A tiny VM-count \
    experiment.\"\nseed = 4\npackets = 400\nswitches = [\"linux-bridge\"]\n[vms]\ncount = 2\n\
    [workload]\nkind = \"inter-vm\"\n[sweep]\nkey = \"vms.count\"\nvalues = [2, 3]\n";

/// Every file under `local` (recursively) equals the one under `merged`, the JSON reports
/// apart from `simulator`; the merge wrote no other file.
fn assert_same_trees(local: &Path, merged: &Path) {
    fn files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                files(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    let (mut a, mut b) = (Vec::new(), Vec::new());
    files(local, local, &mut a);
    files(merged, merged, &mut b);
    a.sort();
    b.sort();
    assert_eq!(a, b);
    for f in &a {
        let (x, y) = (
            std::fs::read(local.join(f)).unwrap(),
            std::fs::read(merged.join(f)).unwrap(),
        );
        if f.extension().is_some_and(|e| e == "json") {
            let (x, y) = (String::from_utf8(x).unwrap(), String::from_utf8(y).unwrap());
            assert_eq!(
                without_simulator(&x),
                without_simulator(&y),
                "{}",
                f.display()
            );
        } else {
            assert!(x == y, "{} differs", f.display());
        }
    }
}

#[test]
fn a_planned_paper_merges_to_the_local_paper() {
    let dir = scratch("plan-paper");
    std::fs::create_dir_all(dir.join("experiments")).unwrap();
    std::fs::write(dir.join("experiments/tiny.toml"), PAPER_EXPERIMENT).unwrap();
    let paper = ["paper", "--scenarios", "experiments"];
    let out = ok(snich(
        &[&["plan"][..], &paper, &["--out", "p"]].concat(),
        &dir,
        None,
    ));
    // 2 points x 1 switch: the sweep, the capacity searches, then the fixed per-VM loads.
    assert!(out.starts_with("plan: 6 jobs (paper) in p\n"), "{out}");
    // A per-VM load job before the searches it needs: refused, naming them.
    let early = snich(&["run-job", "p", "4"], &dir, None);
    assert_eq!(early.status.code(), Some(2));
    let err = String::from_utf8_lossy(&early.stderr);
    assert!(
        err.contains("needs the results of jobs 2 (tiny_capacity"),
        "{err}"
    );
    for i in 0..6 {
        ok(snich(&["run-job", "p", &i.to_string()], &dir, None));
    }
    ok(snich(&["merge", "p", "--quiet"], &dir, None));
    ok(snich(
        &[&paper[..], &["--out", "local", "--quiet"]].concat(),
        &dir,
        None,
    ));
    assert!(dir.join("local/tiny_per_vm_load/report.json").is_file());
    assert_same_trees(&dir.join("local"), &dir.join("p/report"));
}

#[test]
fn a_planned_compare_merges_to_the_local_compare() {
    let dir = scratch("plan-compare");
    std::fs::write(dir.join("c.toml"), SWEEP_SCENARIO).unwrap();
    let out = ok(snich(
        &["plan", "compare", "c.toml", "--out", "p"],
        &dir,
        None,
    ));
    // Seven switches' runs and the common load's search.
    assert!(out.starts_with("plan: 8 jobs (compare) in p\n"), "{out}");
    let local = Command::new(env!("CARGO_BIN_EXE_snich"))
        .args(["compare", "c.toml", "--out", "local", "--quiet"])
        .current_dir(&dir)
        .spawn()
        .unwrap();
    for i in 0..8 {
        ok(snich(&["run-job", "p", &i.to_string()], &dir, None));
    }
    ok(snich(&["merge", "p", "--quiet"], &dir, None));
    assert!(local.wait_with_output().unwrap().status.success());
    let merged = std::fs::read_to_string(dir.join("p/report/report.json")).unwrap();
    assert!(merged.contains("\"at_common_load\""), "{merged}");
    assert_same_reports(&dir.join("local"), &dir.join("p/report"));
}
