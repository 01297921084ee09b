use super::*;

/// A fresh directory for one test.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("snich-cluster-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A small sweep: two switches at two VM counts, few packets.
fn small_sweep(dir: &Path) -> (ScenarioDocument, Vary) {
    let file = dir.join("small.toml");
    std::fs::write(
        &file,
        "seed = 5\npackets = 300\nswitches = [\"snich\", \"linux-bridge\"]\n\
         [vms]\ncount = 2\n[workload]\nkind = \"inter-vm\"\n",
    )
    .unwrap();
    let doc = ScenarioDocument::from_file(&file).unwrap();
    (doc, "vms.count=2,3".parse().unwrap())
}

/// The local `snich sweep`'s report of the same study.
fn local_sweep(doc: &ScenarioDocument, vary: &Vary) -> Report {
    let points = runner::sweep(
        &runner::build_switch,
        &doc.scenario().unwrap().switches,
        doc,
        vary,
        1,
        &ProgressBar::hidden(),
    )
    .unwrap();
    Report::of_sweep("sweep", &vary.key, &points, 0.0, 1).unwrap()
}

/// A report's JSON without `simulator`.
fn without_simulator(r: &Report) -> serde_json::Value {
    let mut v = serde_json::to_value(r).unwrap();
    v.as_object_mut().unwrap().remove("simulator");
    v
}

fn planned_sweep(name: &str) -> (PathBuf, ScenarioDocument, Vary) {
    let dir = scratch(name);
    let (doc, vary) = small_sweep(&dir);
    let plan_dir = dir.join("plan");
    Plan::sweep(&doc, &vary).unwrap().write(&plan_dir).unwrap();
    (plan_dir, doc, vary)
}

fn one(m: &Merged) -> &Report {
    match &m.report {
        MergedReport::One(r) => r,
        MergedReport::Paper(_) => panic!("a paper"),
    }
}

fn run_all(dir: &Path) {
    for i in 0..read_manifest(dir).unwrap().jobs.len() {
        run_job(dir, i, &ProgressBar::hidden()).unwrap();
    }
}

#[test]
fn a_sweep_plans_one_job_per_point_and_switch_and_merges_to_the_local_report() {
    let (dir, doc, vary) = planned_sweep("sweep");
    let m = read_manifest(&dir).unwrap();
    assert_eq!(
        m.jobs,
        [
            "vms.count=2 snich",
            "vms.count=2 linux-bridge",
            "vms.count=3 snich",
            "vms.count=3 linux-bridge"
        ]
    );
    let job = read_job(&dir, 2).unwrap();
    let Work::Run {
        scenario, value, ..
    } = &job.work
    else {
        panic!("{job:?}")
    };
    assert_eq!(value, &Some(toml::Value::Integer(3)));
    assert_eq!(scenario.seed, 5);
    assert_eq!(scenario.scenario().unwrap().topology.vms.len(), 3);
    run_all(&dir);
    let merged = merge(&dir, false).unwrap();
    assert!(merged.missing.is_empty());
    let local = local_sweep(&doc, &vary);
    assert_eq!(without_simulator(one(&merged)), without_simulator(&local));
    // Byte for byte, as written.
    let mut a = one(&merged).clone();
    a.simulator = local.simulator.clone();
    assert_eq!(a.to_json(), local.to_json());
    assert_eq!(report::csv(&a), report::csv(&local));
}

#[test]
fn merge_names_the_missing_jobs_and_partial_marks_the_report() {
    let (dir, ..) = planned_sweep("missing");
    run_job(&dir, 0, &ProgressBar::hidden()).unwrap();
    run_job(&dir, 3, &ProgressBar::hidden()).unwrap();
    let err = merge(&dir, false).unwrap_err();
    let text = err.to_string();
    assert!(err.is_bad_input());
    assert!(
        text.starts_with("2 of 4 jobs have no complete result: 1 (vms.count=2 linux-bridge), 2 (vms.count=3 snich);"),
        "{text}"
    );
    let merged = merge(&dir, true).unwrap();
    assert_eq!(one(&merged).results.len(), 2);
    assert_eq!(
        one(&merged).partial_missing_jobs,
        Some(vec![
            "1 (vms.count=2 linux-bridge)".to_string(),
            "2 (vms.count=3 snich)".to_string()
        ])
    );
    assert!(one(&merged).to_json().contains("\"partial_missing_jobs\""));
    assert_eq!(status(&dir).unwrap().missing(), [1, 2]);
}

#[test]
fn run_job_is_idempotent_and_refuses_an_index_past_the_last() {
    let (dir, ..) = planned_sweep("idempotent");
    let first = run_job(&dir, 1, &ProgressBar::hidden()).unwrap();
    assert!(matches!(first, JobRun::Ran { .. }));
    let written = std::fs::read_to_string(result_file(&dir, 1)).unwrap();
    assert_eq!(
        run_job(&dir, 1, &ProgressBar::hidden()).unwrap(),
        JobRun::AlreadyComplete
    );
    assert_eq!(
        std::fs::read_to_string(result_file(&dir, 1)).unwrap(),
        written,
        "a complete result is left as it is"
    );
    let err = run_job(&dir, 4, &ProgressBar::hidden()).unwrap_err();
    assert!(err.is_bad_input());
    assert!(err.to_string().contains("has 4 jobs (0 to 3)"), "{err}");
    // No temporary file is left behind.
    let names: Vec<String> = std::fs::read_dir(results_dir(&dir))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["000001.json"]);
}

#[test]
fn a_half_written_or_foreign_result_is_not_complete_and_is_redone() {
    let (dir, ..) = planned_sweep("half");
    run_job(&dir, 0, &ProgressBar::hidden()).unwrap();
    let path = result_file(&dir, 0);
    let full = std::fs::read_to_string(&path).unwrap();
    // Cut in the middle: not complete.
    std::fs::write(&path, &full[..full.len() / 2]).unwrap();
    assert!(complete_result(&dir, 0, "vms.count=2 snich").is_none());
    assert_eq!(status(&dir).unwrap().missing(), [0, 1, 2, 3]);
    // Another job's result under this job's name: not complete either.
    std::fs::write(&path, full.replace("\"index\": 0", "\"index\": 1")).unwrap();
    assert!(complete_result(&dir, 0, "vms.count=2 snich").is_none());
    // Run again, it is redone and complete, the same bytes apart from the wall clock.
    assert!(matches!(
        run_job(&dir, 0, &ProgressBar::hidden()).unwrap(),
        JobRun::Ran { .. }
    ));
    let again = complete_result(&dir, 0, "vms.count=2 snich").unwrap();
    let before: JobResult = serde_json::from_str(&full).unwrap();
    assert_eq!(again.output, before.output);
}

#[test]
fn a_directory_with_a_plan_is_not_planned_over() {
    let (dir, doc, vary) = planned_sweep("twice");
    let err = Plan::sweep(&doc, &vary).unwrap().write(&dir).unwrap_err();
    assert!(matches!(err, ClusterError::PlanExists { .. }), "{err}");
}

#[test]
fn a_capacity_plan_has_one_search_per_switch_and_merges_to_the_local_report() {
    let dir = scratch("capacity");
    let file = dir.join("cap.toml");
    std::fs::write(
        &file,
        "seed = 2\nswitches = [\"snich\", \"sriov-veb\"]\n[vms]\ncount = 2\n\
         [workload]\nkind = \"inter-vm\"\n",
    )
    .unwrap();
    let options = CapacityOptions {
        trial_packets: 200,
        warmup_packets: Some(50),
        precision: 0.2,
        ..CapacityOptions::default()
    };
    let plan_dir = dir.join("plan");
    Plan::capacity(Some(&file), &options)
        .unwrap()
        .write(&plan_dir)
        .unwrap();
    assert_eq!(
        read_manifest(&plan_dir).unwrap().jobs,
        ["capacity snich", "capacity sriov-veb"]
    );
    run_all(&plan_dir);
    let merged = merge(&plan_dir, false).unwrap();
    let scenario = Scenario::from_file(&file).unwrap();
    let local = capacity::capacity(
        &runner::build_switch,
        &scenario.switches,
        &scenario,
        &options,
        &ProgressBar::hidden(),
    )
    .unwrap();
    let local = Report::of_results(
        "capacity",
        &scenario,
        local.into_iter().map(|c| c.result).collect(),
        0.0,
        1,
    );
    assert_eq!(without_simulator(one(&merged)), without_simulator(&local));
    assert!(one(&merged).results[0].capacity.is_some());
}

#[test]
fn bad_capacity_options_are_refused_when_planning() {
    let options = CapacityOptions {
        trial_packets: 3,
        ..CapacityOptions::default()
    };
    let err = Plan::capacity(None, &options).unwrap_err();
    assert!(err.is_bad_input());
    assert!(err.to_string().contains("--trial-packets"), "{err}");
}
