#!/usr/bin/env bash
# Coverage-guided fuzzing of every untrusted input with AFL++ on the stable toolchain
# (cargo-afl from crates.io; see the README's "Fuzzing" section).
#
#   fuzz/fuzz.sh SECONDS [TARGET...]
#
# Runs each target (all when none is named) for SECONDS with one AFL++ instance, seeded from
# the repository's test data, fuzz/corpus/TARGET and fuzz/regressions/TARGET. Findings land
# in target/afl/out/TARGET/default/crashes/; the script fails when any target crashed. A
# crash becomes a regression by copying it to fuzz/regressions/TARGET/NAME (NAME says what
# crashed) once fixed: `cargo test -p snich-fuzz` replays it.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:?usage: fuzz/fuzz.sh SECONDS [TARGET...]}
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(frame ring_record card rtl rules trace_packets scenario capture)

if ! cargo afl --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-afl from crates.io"
    cargo install cargo-afl --locked
fi
if ! ls "$HOME"/.local/share/afl.rs/rustc-*/afl.rs-*/afl/bin/afl-fuzz >/dev/null 2>&1; then
    cargo afl config --build
fi

export CARGO_TARGET_DIR="$PWD/target/afl"
cargo afl build -p snich-fuzz --features afl --profile fuzz --bin afl-target --quiet
"$CARGO_TARGET_DIR/fuzz/afl-target" seeds "$CARGO_TARGET_DIR/seeds" "${targets[@]}"

# No core-dump handler or CPU-frequency checks to satisfy (containers, CI).
export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1
export AFL_NO_AFFINITY=1 AFL_QUIET=1
crashed=()
for t in "${targets[@]}"; do
    out="$CARGO_TARGET_DIR/out/$t"
    rm -rf "$out"
    mkdir -p "$CARGO_TARGET_DIR/out"
    echo "fuzz.sh: $t for ${secs}s"
    cargo afl fuzz -V "$secs" -t 5000 -i "$CARGO_TARGET_DIR/seeds/$t" -o "$out" \
        -- "$CARGO_TARGET_DIR/fuzz/afl-target" "$t" >"$out.log" 2>&1 || {
        echo "fuzz.sh: afl-fuzz failed for $t, see $out.log" >&2
        tail -20 "$out.log" >&2
        exit 1
    }
    stats="$out/default/fuzzer_stats"
    execs=$(awk -F: '/^execs_done/ {gsub(/ /, "", $2); print $2}' "$stats")
    edges=$(awk -F: '/^edges_found/ {gsub(/ /, "", $2); print $2}' "$stats")
    n=$(find "$out/default/crashes" -type f -name 'id:*' | wc -l)
    echo "fuzz.sh: $t: $execs executions, $edges edges, $n crashes"
    [ "$n" -eq 0 ] || crashed+=("$t")
done
if [ ${#crashed[@]} -gt 0 ]; then
    echo "fuzz.sh: crashes in ${crashed[*]} (target/afl/out/TARGET/default/crashes)" >&2
    exit 1
fi
