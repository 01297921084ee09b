//! Builds the RTL models with Verilator and links them into this crate.
//!
//! For each model: `verilator --cc` writes C++ into `$OUT_DIR/verilated/<name>` (no `--build`,
//! no make), then the `cc` crate compiles that C++ and the model's hand-written `extern "C"`
//! shim (`csrc/<name>_shim.cpp`). The Verilator runtime (`verilated.cpp` and friends) does not
//! change when the RTL does, so it is compiled once into its own static library and reused
//! while the Verilator version and the flags stay the same. C++ is optimised even in debug
//! builds: the co-simulation tests run millions of cycles.
//!
//! Verilator and g++ must be installed (`apt-get install verilator g++`; `./test.sh` does it).
//!
//! With the `gate-level` feature, the build also synthesizes the small flow table
//! (`synth/run.sh --netlist-only`, Yosys for a Lattice ECP5) and verilates the gate-level
//! netlist Yosys writes, with the ECP5 cells' simulation models (the block RAM's from
//! `synth/dp16kd_sim.v`: Yosys declares DP16KD as a black box), as the model
//! `flow_table_gate` behind the same shim as the RTL models. `SNICH_GATE_NETLIST_DIR` names a
//! directory with a netlist already written by `run.sh --netlist-only` instead.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::{env, fs};

/// One verilated model: its name (the C++ class is `V<name>`, the shim `csrc/<name>_shim.cpp`),
/// top module, sources (relative to the crate, in dependency order) and parameter overrides.
/// Each override is also given to the Rust code as `SNICH_RTL_<NAME>_<PARAM>`, so the wrapper
/// never repeats a number the build chose.
struct ModelSpec {
    name: &'static str,
    top: &'static str,
    sources: &'static [&'static str],
    params: &'static [(&'static str, &'static str)],
}

const HASH_SOURCES: &[&str] = &["rtl/flow_key_hash.sv"];
const TABLE_SOURCES: &[&str] = &[
    "rtl/flow_key_hash.sv",
    "rtl/flow_table_ram.sv",
    "rtl/flow_table.sv",
    "rtl/flow_table_regs.sv",
];

const MODELS: &[ModelSpec] = &[
    ModelSpec {
        name: "pkt_parser",
        top: "pkt_parser",
        sources: &["rtl/pkt_parser.sv"],
        params: &[],
    },
    ModelSpec {
        name: "flow_key_hash",
        top: "flow_key_hash",
        sources: HASH_SOURCES,
        params: &[],
    },
    // A table large enough for realistic occupancy runs.
    ModelSpec {
        name: "flow_table",
        top: "flow_table_regs",
        sources: TABLE_SOURCES,
        params: &[("BUCKETS", "1024")],
    },
    // A small table, so random operations often fill it, collide and walk long cuckoo paths.
    ModelSpec {
        name: "flow_table_small",
        top: "flow_table_regs",
        sources: TABLE_SOURCES,
        params: &[("BUCKETS", "16"), ("MAX_KICKS", "16")],
    },
];

/// Flags Verilator's own makefiles give the compiler (verilated.mk), minus warnings.
const CXX_DEFINES: &[(&str, &str)] = &[
    ("VM_COVERAGE", "0"),
    ("VM_SC", "0"),
    ("VM_TRACE", "1"),
    ("VM_TRACE_FST", "0"),
    ("VM_TRACE_VCD", "1"),
];

fn main() {
    if let Err(message) = build() {
        // A build script reports failure by exiting non-zero with the reason.
        eprintln!("hw-rtl build failed: {message}");
        std::process::exit(1);
    }
}

fn build() -> Result<(), String> {
    let manifest = PathBuf::from(env_var("CARGO_MANIFEST_DIR")?);
    let out = PathBuf::from(env_var("OUT_DIR")?);
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=rtl");
    println!("cargo:rerun-if-changed=csrc");

    let root = verilator_root()?;
    let version = command_output("verilator", &["--version"])?;
    println!("cargo:rustc-env=SNICH_VERILATOR_VERSION={}", version.trim());
    let include = root.join("include");
    let vltstd = include.join("vltstd");

    let mut models = cxx_build(&[&include, &vltstd]);
    for model in MODELS {
        let (name, top) = (model.name, model.top);
        let mdir = fresh_dir(&out.join("verilated").join(name))?;
        let mut cmd = Command::new("verilator");
        cmd.current_dir(&manifest)
            .args(["--cc", "-Wall", "--trace", "-O3", "--x-assign", "fast"])
            .args(["--x-initial", "fast", "--unroll-count", "256"])
            .args(["--top-module", top, "--prefix"])
            .arg(format!("V{name}"))
            .arg("-Mdir")
            .arg(&mdir)
            .arg("-Irtl")
            .args(model.params.iter().map(|(k, v)| format!("-G{k}={v}")))
            .args(model.sources.iter());
        for (k, v) in model.params {
            println!("cargo:rustc-env=SNICH_RTL_{}_{k}={v}", name.to_uppercase());
        }
        run(&mut cmd)?;
        for cpp in cpp_files(&mdir)? {
            models.file(cpp);
        }
        models.include(&mdir);
        models.file(manifest.join("csrc").join(format!("{name}_shim.cpp")));
    }
    if env::var_os("CARGO_FEATURE_GATE_LEVEL").is_some() {
        let mdir = gate_model(&manifest, &out)?;
        // Its own archive at -O1: the netlist's C++ is two orders of magnitude larger than an
        // RTL model's, and a short stream does not repay -O2's compile time.
        let mut gate = cxx_build(&[&include, &vltstd]);
        gate.opt_level(1);
        for cpp in cpp_files(&mdir)? {
            gate.file(cpp);
        }
        gate.include(&mdir)
            .include(manifest.join("csrc"))
            .file(manifest.join("csrc").join("flow_table_gate_shim.cpp"));
        gate.try_compile("snich_rtl_gate_model")
            .map_err(|e| e.to_string())?;
    }
    models.include(manifest.join("csrc"));
    models
        .try_compile("snich_rtl_models")
        .map_err(|e| e.to_string())?;

    runtime(&out, &include, &vltstd, &version)?;
    Ok(())
}

/// Parameters of the gate-level build: the small table's (`flow_table_small`).
const GATE_PARAMS: &[(&str, &str)] = &[("BUCKETS", "16"), ("MAX_KICKS", "16")];

/// Synthesizes the gate-level netlist of `flow_table_regs` (unless `SNICH_GATE_NETLIST_DIR`
/// names one) and verilates it as `Vflow_table_gate`; returns the directory of the C++.
fn gate_model(manifest: &Path, out: &Path) -> Result<PathBuf, String> {
    println!("cargo:rerun-if-env-changed=SNICH_GATE_NETLIST_DIR");
    println!("cargo:rerun-if-changed=synth");
    let netlist_dir = match env::var_os("SNICH_GATE_NETLIST_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let dir = out.join("gate");
            let mut synth = Command::new("bash");
            synth
                .current_dir(manifest)
                .arg("synth/run.sh")
                .arg("--netlist-only")
                .arg("--out")
                .arg(&dir);
            for (k, v) in GATE_PARAMS {
                synth
                    .arg(format!("--{}", k.to_lowercase().replace('_', "-")))
                    .arg(v);
            }
            run(&mut synth)?;
            dir
        }
    };
    for (k, v) in GATE_PARAMS {
        println!("cargo:rustc-env=SNICH_RTL_FLOW_TABLE_GATE_{k}={v}");
    }
    let mdir = fresh_dir(&out.join("verilated").join("flow_table_gate"))?;
    // The netlist and the vendor cell models are not this project's RTL: no -Wall, and their
    // lint warnings (unused cell pins, duplicate cell modules) are not errors.
    let mut cmd = Command::new("verilator");
    cmd.current_dir(&netlist_dir)
        .args([
            "--cc",
            "-Wno-fatal",
            "-Wno-lint",
            "-Wno-style",
            // Ports only: the netlist's internal nets name nothing of the design.
            "--trace",
            "--trace-depth",
            "1",
            "-O3",
        ])
        .args(["--x-assign", "fast", "--x-initial", "fast"])
        .args([
            "--top-module",
            "flow_table_regs",
            "--prefix",
            "Vflow_table_gate",
        ])
        .arg("-Mdir")
        .arg(&mdir)
        .arg("-I.")
        .args(["cells_sim_ecp5.v", "dp16kd_sim.v", "flow_table_regs_gate.v"]);
    run(&mut cmd)?;
    Ok(mdir)
}

/// Compiles the Verilator runtime into `$OUT_DIR/verilated_runtime` unless a build for the same
/// Verilator version and flags is already there.
fn runtime(out: &Path, include: &Path, vltstd: &Path, version: &str) -> Result<(), String> {
    let dir = out.join("verilated_runtime");
    let stamp_path = dir.join("stamp");
    let stamp = format!("{version}\n{CXX_DEFINES:?}\n");
    let lib = dir.join("libverilated_runtime.a");
    let cached = lib.exists() && fs::read_to_string(&stamp_path).is_ok_and(|s| s == stamp);
    if !cached {
        fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let mut rt = cxx_build(&[include, vltstd]);
        for file in [
            "verilated.cpp",
            "verilated_threads.cpp",
            "verilated_vcd_c.cpp",
        ] {
            rt.file(include.join(file));
        }
        rt.out_dir(&dir).cargo_metadata(false);
        rt.try_compile("verilated_runtime")
            .map_err(|e| e.to_string())?;
        fs::write(&stamp_path, stamp).map_err(|e| format!("writing stamp: {e}"))?;
    }
    println!("cargo:rustc-link-search=native={}", dir.display());
    println!("cargo:rustc-link-lib=static=verilated_runtime");
    println!("cargo:rustc-link-lib=dylib=stdc++");
    println!("cargo:rustc-link-lib=dylib=pthread");
    Ok(())
}

fn cxx_build(includes: &[&Path]) -> cc::Build {
    let mut b = cc::Build::new();
    b.cpp(true)
        .std("c++17")
        .opt_level(2)
        .debug(false)
        .warnings(false)
        .flag_if_supported("-faligned-new")
        .flag_if_supported("-fcf-protection=none");
    for (k, v) in CXX_DEFINES {
        b.define(k, *v);
    }
    for inc in includes {
        b.include(inc);
    }
    b
}

/// An empty directory at `dir`: Verilator does not remove the files of an earlier run, and
/// every `.cpp` in the directory is compiled.
fn fresh_dir(dir: &Path) -> Result<PathBuf, String> {
    if dir.exists() {
        fs::remove_dir_all(dir).map_err(|e| format!("removing {}: {e}", dir.display()))?;
    }
    fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    Ok(dir.to_path_buf())
}

fn cpp_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| format!("reading {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "cpp"))
        .collect();
    files.sort();
    Ok(files)
}

fn verilator_root() -> Result<PathBuf, String> {
    let root = command_output("verilator", &["--getenv", "VERILATOR_ROOT"])?;
    let root = PathBuf::from(root.trim());
    if !root.join("include").join("verilated.cpp").exists() {
        return Err(format!(
            "VERILATOR_ROOT {} has no include/verilated.cpp",
            root.display()
        ));
    }
    Ok(root)
}

fn command_output(program: &str, args: &[&str]) -> Result<String, String> {
    let output = Command::new(program).args(args).output().map_err(|e| {
        format!("cannot run `{program}` ({e}): install Verilator and g++ (apt-get install verilator g++), or run ./test.sh")
    })?;
    if !output.status.success() {
        return Err(format!(
            "`{program} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    String::from_utf8(output.stdout).map_err(|e| format!("`{program}` printed non-UTF-8: {e}"))
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let output = cmd
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{cmd:?} failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(())
}

fn env_var(name: &str) -> Result<String, String> {
    env::var(name).map_err(|_| format!("cargo did not set {name}"))
}
