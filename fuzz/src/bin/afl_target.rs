//! The AFL++ harness, built by `cargo afl build --features afl` (see `fuzz/fuzz.sh`):
//! - `afl-target TARGET` feeds each input AFL++ gives to the target named;
//! - `afl-target seeds OUT_DIR TARGET...` writes the targets' seed directories first
//!   (`snich_fuzz::seeds::write_afl_seeds`), so the campaign needs no second build.

use std::path::Path;

use snich_fuzz::seeds::write_afl_seeds;
use snich_fuzz::targets::Target;

const USAGE: &str = "usage: afl-target TARGET | afl-target seeds OUT_DIR TARGET...\n\
                     (targets: frame, ring_record, card, rtl, rules, trace_packets, scenario, capture)";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("seeds") {
        let Some(out) = args.get(1) else {
            eprintln!("{USAGE}");
            std::process::exit(2);
        };
        let mut targets = Vec::new();
        for name in &args[2..] {
            let Some(t) = Target::from_name(name) else {
                eprintln!("afl-target: no target `{name}`\n{USAGE}");
                std::process::exit(2);
            };
            targets.push(t);
        }
        match write_afl_seeds(Path::new(out), &targets) {
            Ok(counts) => {
                for (t, n) in counts {
                    println!("{}: {n} seeds", t.name());
                }
            }
            Err(e) => {
                eprintln!("afl-target: writing seeds into {out}: {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    let Some(target) = args.first().and_then(|n| Target::from_name(n)) else {
        eprintln!("{USAGE}");
        std::process::exit(2);
    };
    afl::fuzz!(|data: &[u8]| {
        target.run(data);
    });
}
