#!/usr/bin/env python3
"""Measure this machine's real Linux bridge and Open vSwitch (userspace datapath) forwarding
64-byte UDP frames, for `snich calibrate` (schema real_switches/v1, the format of
tests/data/real_switches/*.json).

Setup per configuration, all in private network namespaces (the host's network is untouched):

    sender ns: udp_sender on CPU 0 --veth--> switch ns: the switch on CPU 1 --veth--> sink ns

The switch's ingress veth runs in NAPI mode (GRO on) with threaded NAPI, its kthread pinned to
CPU 1; ovs-vswitchd (non-PMD: AF_PACKET "system" ports or "afxdp-nonpmd" ports) is pinned to
CPU 1 too. Frames go to a MAC nobody owns, so the bridge floods them to the sink port and
OVS's NORMAL action does the same; the sink drops them as OTHERHOST. Rates are counter deltas
over a window after a warm-up: offered = sender veth tx (+tx_dropped), forwarded = sink veth
rx. CPU time from /proc: CPU 1's busy and softirq time (/proc/stat), the NAPI kthread's and
ovs-vswitchd's utime+stime (/proc/PID/stat).

Trap handled: on Linux 6.15 and later veth in NAPI mode pushes back on a full ring and
trafgen 0.6.8 dies on EAGAIN from a TX_RING flush (within milliseconds, measured here), so the
sender is scripts/udp_sender.c (AF_PACKET, sendmmsg batches of 64, through a pfifo qdisc on
the sender's veth, EAGAIN/ENOBUFS retried and counted per run in `sender_retries`), compiled
with cc at start.

Root only. Bounded in time (--budget-s: configurations not started in time are listed in
meta.skipped), and every namespace and daemon it made is removed (daemons by pid) on exit,
including on Ctrl-C.

    sudo scripts/measure_real_switches.py --out tests/data/real_switches/real_switches_$(date +%F).json
"""

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

SCHEMA = "real_switches/v1"
SINK_MAC = "02:00:00:00:00:99"
SRC_MAC = "02:00:00:00:00:01"
USER_HZ = os.sysconf("SC_CLK_TCK")
SENDER_CPU = 0
SWITCH_CPU = 1

SWITCHES = ["none", "bridge", "bridge-linear", "bridge-set", "ovs-afpacket", "ovs-afxdp"]


class Skip(Exception):
    """A configuration that cannot run here (the reason goes to meta.skipped)."""


def run(cmd, ns=None, check=True, input_text=None, env=None):
    if ns is not None:
        cmd = ["ip", "netns", "exec", ns] + cmd
    p = subprocess.run(cmd, capture_output=True, text=True, input=input_text, env=env)
    if check and p.returncode != 0:
        raise Skip(f"{' '.join(cmd)}: exit {p.returncode}: {p.stderr.strip()[:300]}")
    return p.stdout


def cpu_times(cpu):
    """(busy, softirq, total) jiffies of one CPU from /proc/stat."""
    with open("/proc/stat") as f:
        for line in f:
            parts = line.split()
            if parts[0] == f"cpu{cpu}":
                v = [int(x) for x in parts[1:]]
                idle = v[3] + v[4]
                total = sum(v[:8])
                return total - idle, v[6], total
    raise RuntimeError(f"cpu{cpu} not in /proc/stat")


def proc_cpu(pid):
    """utime+stime jiffies of a process (all its threads), 0 if gone."""
    if pid is None:
        return 0
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return int(rest[11]) + int(rest[12])
    except OSError:
        return 0


def link_stats(ns, dev):
    out = json.loads(run(["ip", "-j", "-s", "-n", ns, "link", "show", "dev", dev]))
    s = out[0]["stats64"]
    return {
        "rx": s["rx"]["packets"],
        "rx_dropped": s["rx"]["dropped"],
        "tx": s["tx"]["packets"],
        "tx_dropped": s["tx"]["dropped"],
    }


def busy_pct(cpu_each):
    """Background busy % of both CPUs over 1 s."""
    a = [cpu_times(c) for c in cpu_each]
    time.sleep(1.0)
    b = [cpu_times(c) for c in cpu_each]
    return {
        f"cpu{c}": round(100.0 * (y[0] - x[0]) / max(1, y[2] - x[2]), 1)
        for c, x, y in zip(cpu_each, a, b)
    }


def ip4(i):
    return f"10.99.{i // 256}.{i % 256}"


class Sender:
    """scripts/udp_sender.c (compiled into the work directory) in the sender namespace on
    CPU 0 for the whole warm-up and window; it retries EAGAIN/ENOBUFS, so the 6.15+ veth
    back-pressure trap does not kill it."""

    def __init__(self, binary, ns, dev, flows, seconds, log):
        self.cmd = ["ip", "netns", "exec", ns, "taskset", "-c", str(SENDER_CPU), binary, dev,
                    str(flows), f"{seconds:g}"]
        self.log = log
        self.proc = None
        self.retries = None

    def start(self):
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=self.log,
                                     text=True)

    def stop(self):
        p = self.proc
        if p is None:
            return
        try:
            # It stops by itself after its duration and prints what it sent.
            out, _ = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
        parts = (out or "").split()
        if len(parts) == 2:
            self.retries = int(parts[1])


class Testbed:
    """The namespaces, veths and daemons of one configuration; `close` removes them."""

    def __init__(self, tag, workdir):
        self.tag = tag
        self.dir = tempfile.mkdtemp(prefix="testbed-", dir=workdir)
        self.ns_snd, self.ns_sw, self.ns_snk = f"{tag}s", f"{tag}w", f"{tag}k"
        self.tx, self.swin = f"{tag}a0", f"{tag}a1"
        self.swout, self.rx = f"{tag}b1", f"{tag}b0"
        self.namespaces = []
        self.daemons = []
        self.napi_pid = None
        self.ovs_pid = None
        self.no_switch = False

    def up(self, ingress_napi=True):
        for ns in (self.ns_snd, self.ns_sw, self.ns_snk):
            run(["ip", "netns", "add", ns])
            self.namespaces.append(ns)
        run(["ip", "link", "add", self.tx, "netns", self.ns_snd, "type", "veth",
             "peer", "name", self.swin, "netns", self.ns_sw])
        run(["ip", "link", "add", self.swout, "netns", self.ns_sw, "type", "veth",
             "peer", "name", self.rx, "netns", self.ns_snk])
        run(["ip", "-n", self.ns_snd, "link", "set", self.tx, "up"])
        run(["ip", "-n", self.ns_sw, "link", "set", self.swin, "up"])
        run(["ip", "-n", self.ns_sw, "link", "set", self.swout, "up"])
        run(["ip", "-n", self.ns_snk, "link", "set", self.rx, "up"])
        # veth hands a frame to the peer's NAPI only if the sender offers no TSO; a pfifo on
        # the sender's veth turns the peer's full ring into back-pressure instead of drops.
        run(["ethtool", "-K", self.tx, "tso", "off"], ns=self.ns_snd)
        run(["tc", "qdisc", "add", "dev", self.tx, "root", "pfifo", "limit", "1000"],
            ns=self.ns_snd)
        if ingress_napi:
            run(["ethtool", "-K", self.swin, "gro", "on"], ns=self.ns_sw)
            run(["sh", "-c", f"echo 1 > /sys/class/net/{self.swin}/threaded"], ns=self.ns_sw)
            self.pin_napi()

    def pin_napi(self):
        self.napi_pid = None
        want = f"napi/{self.swin}-"
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/comm") as f:
                    comm = f.read().strip()
            except OSError:
                continue
            if comm.startswith(want):
                # A kthread of an earlier testbed may be exiting: skip pids that vanish.
                if run(["taskset", "-pc", str(SWITCH_CPU), pid], check=False):
                    self.napi_pid = max(self.napi_pid or 0, int(pid))
        if self.napi_pid is None:
            raise Skip(f"no threaded NAPI kthread for {self.swin}")

    def bridge(self):
        run(["ip", "-n", self.ns_sw, "link", "add", "br0", "type", "bridge"])
        run(["ip", "-n", self.ns_sw, "link", "set", self.swin, "master", "br0"])
        run(["ip", "-n", self.ns_sw, "link", "set", self.swout, "master", "br0"])
        run(["ip", "-n", self.ns_sw, "link", "set", "br0", "up"])

    def nftables(self, kind, rules, set_key="saddr"):
        lines = ["table bridge snich {"]
        if kind == "set" and set_key == "saddr-sport":
            # Concatenated key: every flow (UDP source port) is looked up at its own hash
            # bucket, so the lookups spread over the set's buckets as the flows grow.
            elems = ", ".join(f"{ip4(i % 65536)} . {5 + i // 65536}" for i in range(rules))
            lines.append("  set miss { type ipv4_addr . inet_service; "
                         f"elements = {{ {elems} }} }}")
        elif kind == "set":
            elems = ", ".join(ip4(i) for i in range(rules))
            lines.append(f"  set miss {{ type ipv4_addr; elements = {{ {elems} }} }}")
        lines.append("  chain forward { type filter hook forward priority 0; policy accept;")
        if kind == "set" and set_key == "saddr-sport":
            lines.append("    ip saddr . udp sport @miss drop")
        elif kind == "set":
            lines.append("    ip saddr @miss drop")
        else:
            lines.extend(f"    ip saddr {ip4(i)} drop" for i in range(rules))
        lines.append("    accept")
        lines.append("  }")
        lines.append("}")
        path = os.path.join(self.dir, "rules.nft")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        run(["nft", "-f", path], ns=self.ns_sw)

    def ovs_env(self):
        env = dict(os.environ)
        for k in ("OVS_RUNDIR", "OVS_DBDIR", "OVS_LOGDIR", "OVS_SYSCONFDIR"):
            env[k] = self.dir
        return env

    def ovs(self, port_type, rules):
        env = self.ovs_env()
        db = os.path.join(self.dir, "conf.db")
        sock = os.path.join(self.dir, "db.sock")
        run(["ovsdb-tool", "create", db, "/usr/share/openvswitch/vswitch.ovsschema"], env=env)
        log = open(os.path.join(self.dir, "ovsdb.log"), "w")
        p = subprocess.Popen(["ovsdb-server", db, f"--remote=punix:{sock}",
                              f"--unixctl={self.dir}/ovsdb.ctl"], stdout=log, stderr=log,
                             env=env)
        self.daemons.append(p)
        for _ in range(100):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        vsctl = ["ovs-vsctl", f"--db=unix:{sock}", "--timeout=10"]
        run(vsctl + ["--no-wait", "init"], env=env)
        log = open(os.path.join(self.dir, "vswitchd.log"), "w")
        p = subprocess.Popen(["ip", "netns", "exec", self.ns_sw, "taskset", "-c",
                              str(SWITCH_CPU), "ovs-vswitchd", f"unix:{sock}",
                              f"--unixctl={self.dir}/vswitchd.ctl"],
                             stdout=log, stderr=log, env=env)
        self.daemons.append(p)
        self.ovs_pid = p.pid
        time.sleep(0.5)
        if p.poll() is not None:
            raise Skip(f"ovs-vswitchd exited {p.returncode}")
        run(vsctl + ["add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=netdev"],
            env=env)
        for name, ofport in ((self.swin, 1), (self.swout, 2)):
            extra = []
            if port_type == "afxdp-nonpmd":
                extra = ["type=afxdp-nonpmd", "options:xdp-mode=native"]
            run(vsctl + ["add-port", "br0", name, "--", "set", "interface", name,
                         f"ofport_request={ofport}"] + extra, env=env)
        # Ports up?
        for _ in range(50):
            out = run(vsctl + ["--columns=error", "list", "interface"], env=env)
            if '"' not in out:
                break
            time.sleep(0.1)
        errors = run(vsctl + ["--columns=name,error", "list", "interface"], env=env)
        if '"' in errors.replace(f'"{self.swin}"', "").replace(f'"{self.swout}"', ""):
            raise Skip(f"OVS port error: {errors.strip()}")
        # Any thread OVS started after taskset inherits CPU 1; make sure of all of them.
        run(["taskset", "-apc", str(SWITCH_CPU), str(p.pid)])
        flows = []
        for i in range(rules):
            flows.append(f"priority={1000 + rules - i},udp,nw_src={ip4(i)},actions=drop")
        flows.append("priority=0,actions=NORMAL" if rules == 0 else "priority=0,actions=output:2")
        path = os.path.join(self.dir, "flows.txt")
        with open(path, "w") as f:
            f.write("\n".join(flows) + "\n")
        ofctl = ["ovs-ofctl", "--timeout=30"]
        run(ofctl + ["del-flows", f"unix:{self.dir}/br0.mgmt"], env=env)
        run(ofctl + ["add-flows", f"unix:{self.dir}/br0.mgmt", path], env=env)

    def close(self):
        for p in reversed(self.daemons):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(5)
        self.daemons = []
        for ns in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self.namespaces = []
        shutil.rmtree(self.dir, ignore_errors=True)


def measure_once(tb, warmup_s, window_s):
    time.sleep(warmup_s)

    def snap():
        return {
            "t": time.monotonic(),
            "cpu": cpu_times(SWITCH_CPU),
            "napi": proc_cpu(tb.napi_pid),
            "ovs": proc_cpu(tb.ovs_pid),
            "tx": link_stats(tb.ns_snd, tb.tx),
            "in": link_stats(tb.ns_sw, tb.swin),
            "out": link_stats(tb.ns_sw, tb.swout),
            "rx": link_stats(tb.ns_snk, tb.rx),
        }

    a = snap()
    time.sleep(window_s)
    b = snap()
    dt = b["t"] - a["t"]

    def rate(dev, key):
        return (b[dev][key] - a[dev][key]) / dt

    jiffies = b["cpu"][2] - a["cpu"][2]
    busy = 100.0 * (b["cpu"][0] - a["cpu"][0]) / max(1, jiffies)
    softirq = 100.0 * (b["cpu"][1] - a["cpu"][1]) / max(1, jiffies)
    napi = 100.0 * (b["napi"] - a["napi"]) / USER_HZ / dt
    ovs = 100.0 * (b["ovs"] - a["ovs"]) / USER_HZ / dt
    offered = rate("tx", "tx") + rate("tx", "tx_dropped")
    # With no switch the packets end in the switch namespace (dropped as OTHERHOST there).
    forwarded = rate("in", "rx") if tb.no_switch else rate("rx", "rx")
    ns_per_fwd = busy / 100.0 * 1e9 / forwarded if forwarded > 0 else None
    return {
        "window_s": round(dt, 3),
        "offered_pps": round(offered),
        "forwarded_pps": round(forwarded),
        "switch_rx_pps": round(rate("in", "rx")),
        "egress_tx_pps": round(rate("out", "tx")),
        "egress_drop_pps": round(rate("out", "tx_dropped")),
        "switch_core_busy_pct": round(busy, 1),
        "switch_core_softirq_pct": round(softirq, 1),
        "napi_thread_cpu_pct": round(napi, 1),
        "ovs_vswitchd_cpu_pct": round(ovs, 1),
        # Softirq run inside the NAPI thread is in both its stime and CPU 1's softirq time:
        # the sum is capped at what CPU 1 was busy.
        "switch_threads_cpu_pct": round(min(napi + ovs + softirq, busy), 1),
        "switch_core_ns_per_fwd_pkt": round(ns_per_fwd) if ns_per_fwd else None,
    }


def spread(values):
    return {"median": round(statistics.median(values)), "min": min(values), "max": max(values)}


def configurations(args):
    out = []
    for sw in args.switches:
        for flows in args.flows:
            if sw == "none":
                out.append(("none", "veth", "none", 0, "none", flows))
            elif sw == "bridge":
                out.append(("linux-bridge", "veth", "none", 0, "none", flows))
            elif sw == "bridge-linear":
                out += [("linux-bridge", "veth", "linear", r, "accept", flows) for r in args.rules]
            elif sw == "bridge-set":
                out += [("linux-bridge", "veth", "set", r, "accept", flows)
                        for r in args.set_sizes]
            elif sw in ("ovs-afpacket", "ovs-afxdp"):
                ports = "system" if sw == "ovs-afpacket" else "afxdp-nonpmd"
                out += [("ovs-netdev", ports, "openflow", r, "NORMAL" if r == 0 else "output",
                         flows) for r in args.rules]
    return out


def ints(text):
    return [int(x) for x in text.split(",") if x]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=None, help="output JSON (default: stdout)")
    ap.add_argument("--rules", type=ints, default=[0, 10, 100, 1000],
                    help="linear nftables and OpenFlow rule counts")
    ap.add_argument("--set-sizes", type=ints, default=[1000, 5000, 20000],
                    help="nftables set sizes (bridge-set)")
    ap.add_argument("--set-key", choices=["saddr", "saddr-sport"], default="saddr",
                    help="the sets' key: the source address (every flow looks up one key) or "
                         "source address . UDP source port (each flow its own key)")
    ap.add_argument("--flows", type=ints, default=[1, 1000])
    ap.add_argument("--switches", type=lambda s: s.split(","), default=SWITCHES,
                    help=",".join(SWITCHES))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--warmup-s", type=float, default=1.0)
    ap.add_argument("--window-s", type=float, default=3.0)
    ap.add_argument("--budget-s", type=float, default=1200.0,
                    help="start no configuration after this many seconds")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("measure_real_switches: needs root (network namespaces, veth, nftables, OVS)")
    if os.cpu_count() < 2:
        sys.exit("measure_real_switches: needs 2 CPUs (sender on CPU 0, switch on CPU 1)")
    for s in args.switches:
        if s not in SWITCHES:
            sys.exit(f"measure_real_switches: --switches: unknown switch {s!r} (known: {SWITCHES})")

    start = time.monotonic()
    tag = f"s{os.getpid() % 1000}"
    testbeds = 0
    workdir = tempfile.mkdtemp(prefix="snich-measure-")
    current = {"tb": None, "sender": None}

    def cleanup(*_):
        if current["sender"] is not None:
            current["sender"].stop()
        if current["tb"] is not None:
            current["tb"].close()
        sys.exit("measure_real_switches: interrupted; namespaces and daemons removed")

    signal.signal(signal.SIGINT, cleanup)
    signal.signal(signal.SIGTERM, cleanup)

    def version(cmd, pkg):
        try:
            return subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg],
                                  capture_output=True, text=True).stdout.strip() or None
        except OSError:
            return None

    packages = {p: version(None, p) for p in
                ("openvswitch-switch", "nftables", "netsniff-ng", "iproute2", "ethtool")}
    cpu_model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    ovs_version = run(["ovs-vswitchd", "--version"], check=False).split()[-1:] or ["?"]
    date = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    common = {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model,
        "kernel": platform.release(),
        "packages": packages,
        "ovs_version": ovs_version[0],
        "date": date,
    }
    before = busy_pct([0, 1])
    records, skipped = [], []
    sender_bin = os.path.join(workdir, "udp_sender")
    source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "udp_sender.c")
    cc = subprocess.run(["cc", "-O2", "-o", sender_bin, source], capture_output=True, text=True)
    if cc.returncode != 0:
        shutil.rmtree(workdir, ignore_errors=True)
        sys.exit(f"measure_real_switches: cannot compile {source}: {cc.stderr.strip()}")
    sender_log = open(os.path.join(workdir, "sender.log"), "w")
    for (sw, ports, kind, rules, final, flows) in configurations(args):
        label = f"{sw} {ports} {kind}/{rules} flows={flows}"
        if time.monotonic() - start > args.budget_s:
            skipped.append(f"{label}: time budget of {args.budget_s:.0f} s spent")
            continue
        runs = []
        try:
            for rep in range(1, args.reps + 1):
                testbeds += 1
                # Names unique per testbed, so no kthread of an earlier one matches.
                tb = Testbed(f"{tag}{testbeds % 10000}", workdir)
                current["tb"] = tb
                try:
                    tb.up(ingress_napi=True)
                    if sw == "linux-bridge":
                        tb.bridge()
                        if kind != "none":
                            tb.nftables(kind, rules, args.set_key)
                    elif sw == "ovs-netdev":
                        tb.ovs(ports, rules)
                        # Attaching XDP re-creates the veth's NAPI kthread: pin the new one.
                        tb.pin_napi()
                    else:
                        tb.no_switch = True
                    sender = Sender(sender_bin, tb.ns_snd, tb.tx, flows,
                                    args.warmup_s + args.window_s + 0.5, sender_log)
                    current["sender"] = sender
                    sender.start()
                    try:
                        r = measure_once(tb, args.warmup_s, args.window_s)
                    finally:
                        sender.stop()
                        current["sender"] = None
                    if r["switch_core_ns_per_fwd_pkt"] is None:
                        raise Skip("nothing forwarded")
                    r["sender_retries"] = sender.retries
                    runs.append({"switch": sw, "ports": ports, "rule_kind": kind,
                                 "rules": rules, "final_action": final, "flows": flows,
                                 "rep": rep, **r})
                finally:
                    tb.close()
                    current["tb"] = None
        except Skip as e:
            skipped.append(f"{label}: {e}")
            print(f"skipped {label}: {e}", file=sys.stderr)
            continue
        med = lambda k: statistics.median(x[k] for x in runs)
        offered = [x["offered_pps"] for x in runs]
        fwd = [x["forwarded_pps"] for x in runs]
        loss = statistics.median(
            100.0 * (1 - x["forwarded_pps"] / x["offered_pps"]) if x["offered_pps"] else 0.0
            for x in runs)
        rec = {
            "switch": sw, "ports": ports, "rule_kind": kind, "rules": rules,
            "final_action": final, "flows": flows, "frame_bytes": 64, "bytes_on_veth": 60,
            **({"set_key": args.set_key} if kind == "set" else {}),
            "reps": len(runs),
            "offered_pps": spread(offered),
            "forwarded_pps": spread(fwd),
            "loss_pct_median": round(loss, 1),
            "switch_rx_pps_median": round(med("switch_rx_pps")),
            "egress_drop_pps_median": round(med("egress_drop_pps")),
            "switch_core_busy_pct_median": round(med("switch_core_busy_pct"), 1),
            "switch_core_softirq_pct_median": round(med("switch_core_softirq_pct"), 1),
            "napi_thread_cpu_pct_median": round(med("napi_thread_cpu_pct"), 1),
            "ovs_vswitchd_cpu_pct_median": round(med("ovs_vswitchd_cpu_pct"), 1),
            "switch_threads_cpu_pct_median": round(med("switch_threads_cpu_pct"), 1),
            "switch_core_ns_per_fwd_pkt_median": round(med("switch_core_ns_per_fwd_pkt")),
            "switch_core_saturated": med("switch_core_busy_pct") >= 95.0,
            **common,
            "runs": runs,
        }
        records.append(rec)
        print(f"{label}: forwarded {rec['forwarded_pps']} pps, "
              f"{rec['switch_core_ns_per_fwd_pkt_median']} ns/pkt, "
              f"sender retries {[x['sender_retries'] for x in runs]}", file=sys.stderr)
    after = busy_pct([0, 1])
    meta = {
        **common,
        "script": "scripts/measure_real_switches.py",
        "schema": SCHEMA,
        "method": (
            "scripts/udp_sender.c (1 process, CPU 0, AF_PACKET sendmmsg batches of 64 through "
            "a pfifo qdisc of 1000 on the sender veth, TSO off so veth uses the peer's NAPI; "
            "EAGAIN/ENOBUFS retried, counted in runs[].sender_retries; trafgen 0.6.8 dies on "
            "the EAGAIN of Linux 6.15+ veth back-pressure) -> veth -> switch "
            "whose whole work runs on CPU 1 (ingress veth in NAPI mode, threaded NAPI kthread "
            "pinned there; ovs-vswitchd non-PMD pinned there) -> veth -> sink (frames to an "
            "unowned MAC, dropped as OTHERHOST). Each repetition builds fresh namespaces. "
            f"Rates are counter deltas over a {args.window_s:g}s window after "
            f"{args.warmup_s:g}s warm-up: offered = sender veth tx(+tx_dropped), forwarded = "
            "receiver veth rx_packets. CPU time from /proc/stat (CPU 1) and /proc/PID/stat "
            "(NAPI kthread, ovs-vswitchd); switch_threads_cpu_pct = NAPI kthread + ovs-vswitchd + "
            "CPU 1 softirq (capped at CPU 1's busy time: softirq run in the NAPI thread counts in "
            "both), the switch's own share of the core when other work shares it "
            "(switch_core_busy_pct counts everything on CPU 1). Kernel bridge: veth NAPI ring back-pressures the "
            "sender (closed loop); OVS: socket overflow drops (open loop), so its cost per "
            "packet is fitted from the core's time over the packets it received and forwarded. "
            "nftables: bridge family, forward hook; linear = N rules 'ip saddr 10.99.x.y drop' "
            "(never matching) then 'accept'; set = one ipv4_addr set of N elements, "
            "'ip saddr @set drop' then 'accept' (--set-key saddr-sport: a set of "
            "'ipv4_addr . inet_service' elements 10.99.x.y . 5.., 'ip saddr . udp sport @set "
            "drop'). OpenFlow: N 'udp,nw_src=10.99.x.y,drop' "
            "then priority 0 NORMAL (0 rules) or output:2. Shared 2-core machine: other "
            "processes ran during the measurement (see background_busy_pct_*)."
        ),
        "rx_steering": "threaded-napi",
        "reps": args.reps,
        "warmup_s": args.warmup_s,
        "window_s": args.window_s,
        "background_busy_pct_before": before,
        "background_busy_pct_after": after,
        "skipped": skipped,
        "elapsed_s": round(time.monotonic() - start),
    }
    text = json.dumps({"meta": meta, "records": records}, indent=1) + "\n"
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    for s in skipped:
        print(f"skipped: {s}", file=sys.stderr)
    sender_log.close()
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
