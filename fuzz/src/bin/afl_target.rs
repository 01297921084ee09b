//! The AFL++ harness: `afl-target TARGET` feeds each input AFL++ gives to the target named
//! (see `snich_fuzz::targets::Target::ALL`). Built by `cargo afl build --features afl`.

fn main() {
    let name = std::env::args().nth(1).unwrap_or_default();
    let Some(target) = snich_fuzz::targets::Target::from_name(&name) else {
        eprintln!("usage: afl-target TARGET (one of frame, ring_record, card, rtl, rules, trace_packets, scenario, capture)");
        std::process::exit(2);
    };
    afl::fuzz!(|data: &[u8]| {
        target.run(data);
    });
}
