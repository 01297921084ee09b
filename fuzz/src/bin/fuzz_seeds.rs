//! Writes AFL++'s seed directories: `fuzz-seeds OUT_DIR [TARGET...]` writes the seeds of each
//! target (all when none is named) into `OUT_DIR/TARGET/`, cut from the repository's test
//! data, together with the checked-in corpus (`fuzz/corpus/TARGET/`) and crashes
//! (`fuzz/regressions/TARGET/`).

use std::path::PathBuf;
use std::process::ExitCode;

use snich_fuzz::seeds::{afl_seeds, workspace_root};
use snich_fuzz::targets::Target;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(out) = args.next().map(PathBuf::from) else {
        eprintln!("usage: fuzz-seeds OUT_DIR [TARGET...]");
        return ExitCode::from(2);
    };
    let named: Vec<String> = args.collect();
    let mut targets = Vec::new();
    for name in &named {
        match Target::from_name(name) {
            Some(t) => targets.push(t),
            None => {
                eprintln!("fuzz-seeds: no target `{name}`");
                return ExitCode::from(2);
            }
        }
    }
    if targets.is_empty() {
        targets = Target::ALL.to_vec();
    }
    for target in targets {
        let dir = out.join(target.name());
        if let Err(e) = std::fs::create_dir_all(&dir) {
            eprintln!("fuzz-seeds: {}: {e}", dir.display());
            return ExitCode::FAILURE;
        }
        let mut written = 0;
        for (i, s) in afl_seeds(target, 48, 8 * 1024).into_iter().enumerate() {
            if std::fs::write(dir.join(format!("seed{i:03}")), &s.bytes).is_ok() {
                written += 1;
            }
        }
        for kept in ["corpus", "regressions"] {
            let from = workspace_root().join("fuzz").join(kept).join(target.name());
            for entry in std::fs::read_dir(&from).into_iter().flatten().flatten() {
                let name = format!("{kept}-{}", entry.file_name().to_string_lossy());
                if std::fs::copy(entry.path(), dir.join(name)).is_ok() {
                    written += 1;
                }
            }
        }
        println!("{}: {written} seeds in {}", target.name(), dir.display());
    }
    ExitCode::SUCCESS
}
