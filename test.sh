#!/usr/bin/env bash
# Installs what the test suite needs when it is missing, then runs every test.
#
# On a fresh Debian machine, as root:  ./test.sh
#   - Verilator and g++ (hw-rtl's co-simulation), Open vSwitch (the flow-setup oracle),
#     Python's venv (for the open FPGA flow) and Slurm with munge (`snich slurm`'s test
#     starts a single-node cluster) come from apt when missing.
#   - cargo-afl from crates.io (AFL++ built from its sources) for the fuzz targets' bounded run.
#   - Formatting, clippy (all targets, warnings are errors) and the whole workspace's
#     tests, unit, integration and doc.
#   - The open FPGA flow is `hw-rtl/synth/run.sh` (Yosys and nextpnr from PyPI, in a virtual
#     environment; see DESIGN.md). Its gate-level co-simulation (hw-rtl's `gate-level`
#     feature) passes but takes about 30 minutes here, so it is not run here yet.
set -euo pipefail
cd "$(dirname "$0")"

need=()
command -v verilator >/dev/null 2>&1 || need+=(verilator)
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v ovs-vswitchd >/dev/null 2>&1 || need+=(openvswitch-switch)
command -v python3 >/dev/null 2>&1 || need+=(python3)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)
# Slurm and munge: the single-node cluster of sim-harness's tests/integration/slurm.rs.
command -v slurmctld >/dev/null 2>&1 || need+=(slurmctld)
command -v slurmd >/dev/null 2>&1 || need+=(slurmd)
command -v sbatch >/dev/null 2>&1 || need+=(slurm-client)
command -v munged >/dev/null 2>&1 || need+=(munge)
if [ ${#need[@]} -gt 0 ]; then
    echo "test.sh: installing ${need[*]} from apt"
    if [ "$(id -u)" -ne 0 ]; then
        echo "test.sh: need root to install ${need[*]}" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

# Tests that compare against Open vSwitch or Verilator, or run through Slurm, fail, instead
# of skipping, when a program they need is missing (external-oracles::programs).
export SNICH_REQUIRE_TOOLS=1

echo "test.sh: cargo fmt --check"
cargo fmt --all -- --check
echo "test.sh: cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "test.sh: cargo test"
cargo test --workspace --quiet
# Every fuzz target for a short bounded time with AFL++ (cargo-afl is installed from
# crates.io when missing); the corpora and found crashes were replayed by cargo test above.
# SNICH_FUZZ_SECONDS per target (default 15; 0 skips). A long campaign: see README "Fuzzing".
fuzz_secs=${SNICH_FUZZ_SECONDS:-15}
if [ "$fuzz_secs" -gt 0 ]; then
    echo "test.sh: fuzzing each target for ${fuzz_secs}s"
    fuzz/fuzz.sh "$fuzz_secs"
fi
echo "test.sh: all tests passed"
