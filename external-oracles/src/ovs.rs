//! A private Open vSwitch: `ovsdb-server` and `ovs-vswitchd` (userspace datapath, dummy
//! ports) in a directory of their own, and one JSON-RPC connection to the switch's unixctl
//! socket.
//!
//! No kernel module, no systemd and no other Open vSwitch instance is touched: every path the
//! daemons use (`OVS_RUNDIR`, `OVS_DBDIR`, `OVS_LOGDIR`, `OVS_SYSCONFDIR`, the database, the
//! pidfiles, the control sockets) is inside the private directory. The bridge is `br0` with
//! `fail_mode=secure` (no flows means drop, never the normal L2 switch) and one dummy port per
//! requested OpenFlow port number. Dropping [`PrivateOvs`] asks both daemons to exit through
//! their control sockets, then waits (bounded) and kills what is left by the pid in its
//! pidfile, never by process name.
//!
//! Trace gotchas worth knowing (Open vSwitch 3.1): use `tcp_dst`/`udp_dst` in traces, not
//! `tp_dst`; output to the input port is skipped (a drop); equal-priority overlapping rules are
//! undefined in OpenFlow.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The bridge every [`PrivateOvs`] has.
pub const BRIDGE: &str = "br0";

/// Where Debian's `openvswitch-common` installs the database schema.
pub const SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

/// How long [`PrivateOvs::unixctl`] waits for the bridge to appear.
const BRIDGE_WAIT: Duration = Duration::from_secs(10);

/// Errors of starting, driving or talking to a private Open vSwitch.
#[derive(Debug, thiserror::Error)]
pub enum OvsError {
    /// A program could not be started (not installed, not executable).
    #[error("could not run {program}: {source} (install openvswitch-switch; ./test.sh does)")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// A program ran and failed.
    #[error("{program} {args:?} failed ({status}): {stderr}")]
    Failed {
        /// The program.
        program: String,
        /// Its arguments.
        args: Vec<String>,
        /// Its exit status.
        status: String,
        /// What it said on standard error.
        stderr: String,
    },
    /// The private directory could not be made or written.
    #[error("private Open vSwitch directory {path}: {source}")]
    Directory {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `ovs-vswitchd` did not create the bridge in time.
    #[error("ovs-vswitchd did not create {BRIDGE} within {} s (see {log})", BRIDGE_WAIT.as_secs())]
    BridgeMissing {
        /// The switch's log file.
        log: PathBuf,
    },
    /// The unixctl connection failed.
    #[error("unixctl {socket}: {source}")]
    Connection {
        /// The control socket.
        socket: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The unixctl reply did not parse, or had the wrong id.
    #[error("unixctl {method}: bad reply: {reply}")]
    BadReply {
        /// The method called.
        method: String,
        /// What came back (or why nothing did).
        reply: String,
    },
    /// `ovs-vswitchd` answered the call with an error.
    #[error("unixctl {method} {params:?}: {error}")]
    Remote {
        /// The method called.
        method: String,
        /// Its parameters.
        params: Vec<String>,
        /// The error text.
        error: String,
    },
}

/// The datapath of the private bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatapathType {
    /// The userspace datapath (`netdev`), the one Open vSwitch runs outside the kernel.
    Netdev,
    /// The dummy datapath: `ofproto/trace` works, nothing is ever forwarded.
    Dummy,
}

impl DatapathType {
    fn name(self) -> &'static str {
        match self {
            DatapathType::Netdev => "netdev",
            DatapathType::Dummy => "dummy",
        }
    }
}

/// What a private Open vSwitch is started with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OvsConfig {
    /// OpenFlow port numbers; each gets a dummy port `p<N>` with `ofport_request=N`.
    pub ports: Vec<u16>,
    /// The bridge's datapath.
    pub datapath: DatapathType,
    /// `other_config:vlan-limit` (Open vSwitch's default, 1, keeps only the outer tag in the
    /// flow); `None` leaves it unset.
    pub vlan_limit: Option<u8>,
}

impl OvsConfig {
    /// The userspace datapath with `ports`, Open vSwitch's default VLAN limit.
    pub fn with_ports(ports: &[u16]) -> OvsConfig {
        OvsConfig {
            ports: ports.to_vec(),
            datapath: DatapathType::Netdev,
            vlan_limit: None,
        }
    }
}

/// A running private Open vSwitch; dropping it stops both daemons and removes its directory
/// (kept when the environment variable `KEEP_OVS` is set, for reading its logs).
#[derive(Debug)]
pub struct PrivateOvs {
    dir: PathBuf,
}

impl PrivateOvs {
    /// Starts `ovsdb-server` and `ovs-vswitchd` in a fresh directory under the system's
    /// temporary directory and creates [`BRIDGE`] with `config`'s ports.
    pub fn start(config: &OvsConfig) -> Result<PrivateOvs, OvsError> {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("snich-ovs-{}-{stamp}", std::process::id()));
        for sub in ["run", "db", "log", "etc"] {
            let path = dir.join(sub);
            std::fs::create_dir_all(&path)
                .map_err(|source| OvsError::Directory { path, source })?;
        }
        // The guard exists before any daemon does, so a failure below still stops them.
        let ovs = PrivateOvs { dir };
        let db = ovs.path("db/conf.db");
        let db_sock = ovs.path("run/db.sock");
        let db_arg = format!("--db=unix:{db_sock}");
        ovs.run("ovsdb-tool", &["create", &db, SCHEMA])?;
        ovs.run(
            "ovsdb-server",
            &[
                &db,
                &format!("--remote=punix:{db_sock}"),
                &format!("--pidfile={}", ovs.path("run/ovsdb-server.pid")),
                &format!("--unixctl={}", ovs.path("run/ovsdb-server.ctl")),
                &format!("--log-file={}", ovs.path("log/ovsdb-server.log")),
                "--detach",
            ],
        )?;
        ovs.run("ovs-vsctl", &[&db_arg, "--no-wait", "init"])?;
        if let Some(limit) = config.vlan_limit {
            ovs.run(
                "ovs-vsctl",
                &[
                    &db_arg,
                    "--no-wait",
                    "set",
                    "Open_vSwitch",
                    ".",
                    &format!("other_config:vlan-limit={limit}"),
                ],
            )?;
        }
        ovs.run(
            "ovs-vswitchd",
            &[
                &format!("unix:{db_sock}"),
                "--enable-dummy",
                "--disable-system",
                &format!("--pidfile={}", ovs.path("run/ovs-vswitchd.pid")),
                &format!("--unixctl={}", ovs.vswitchd_ctl().display()),
                &format!("--log-file={}", ovs.path("log/ovs-vswitchd.log")),
                "--detach",
            ],
        )?;
        let mut args: Vec<String> = [
            db_arg.as_str(),
            "add-br",
            BRIDGE,
            "--",
            "set",
            "bridge",
            BRIDGE,
            &format!("datapath_type={}", config.datapath.name()),
            "fail_mode=secure",
        ]
        .iter()
        .map(|s| (*s).to_string())
        .collect();
        for p in &config.ports {
            args.extend([
                "--".to_string(),
                "add-port".into(),
                BRIDGE.into(),
                format!("p{p}"),
                "--".into(),
                "set".into(),
                "interface".into(),
                format!("p{p}"),
                "type=dummy".into(),
                format!("ofport_request={p}"),
            ]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ovs.run("ovs-vsctl", &args)?;
        Ok(ovs)
    }

    /// The private directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `ovs-vswitchd`'s control socket.
    pub fn vswitchd_ctl(&self) -> PathBuf {
        self.dir.join("run/ovs-vswitchd.ctl")
    }

    fn path(&self, p: &str) -> String {
        self.dir.join(p).to_string_lossy().into_owned()
    }

    /// Runs an Open vSwitch program against this instance (its directories in the
    /// environment); returns its standard output.
    pub fn run(&self, program: &str, args: &[&str]) -> Result<String, OvsError> {
        let out = Command::new(program)
            .args(args)
            .env("OVS_RUNDIR", self.dir.join("run"))
            .env("OVS_DBDIR", self.dir.join("db"))
            .env("OVS_LOGDIR", self.dir.join("log"))
            .env("OVS_SYSCONFDIR", self.dir.join("etc"))
            .output()
            .map_err(|source| OvsError::Spawn {
                program: program.to_string(),
                source,
            })?;
        if !out.status.success() {
            return Err(OvsError::Failed {
                program: program.to_string(),
                args: args.iter().map(|a| (*a).to_string()).collect(),
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Replaces `bridge`'s flows with `flows` (ovs-ofctl `add-flows` text, one flow a line).
    pub fn add_flows(&self, bridge: &str, flows: &str) -> Result<(), OvsError> {
        let path = self.dir.join("flows.txt");
        std::fs::write(&path, flows).map_err(|source| OvsError::Directory {
            path: path.clone(),
            source,
        })?;
        self.run("ovs-ofctl", &["del-flows", bridge])?;
        self.run("ovs-ofctl", &["add-flows", bridge, &path.to_string_lossy()])?;
        Ok(())
    }

    /// A connection to `ovs-vswitchd`'s control socket, once [`BRIDGE`] exists (waits up to
    /// 10 s: the switch applies the database asynchronously).
    pub fn unixctl(&self) -> Result<Unixctl, OvsError> {
        let mut ctl = Unixctl::connect(&self.vswitchd_ctl())?;
        let since = Instant::now();
        while !ctl
            .call("ofproto/list", &[])?
            .lines()
            .any(|l| l.trim() == BRIDGE)
        {
            if since.elapsed() > BRIDGE_WAIT {
                return Err(OvsError::BridgeMissing {
                    log: self.dir.join("log/ovs-vswitchd.log"),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(ctl)
    }

    /// Asks the daemon behind `ctl` to exit, then waits (bounded) for the pid in `pidfile`
    /// to go and kills it if it has not.
    fn stop(&self, ctl: &str, pidfile: &str) {
        let _ = Command::new("ovs-appctl")
            .args(["-t", &self.path(ctl), "exit", "--cleanup"])
            .output();
        let Ok(pid) = std::fs::read_to_string(self.dir.join(pidfile)) else {
            return;
        };
        let pid = pid.trim();
        if pid.is_empty() || !pid.chars().all(|c| c.is_ascii_digit()) {
            return;
        }
        let proc_dir = PathBuf::from(format!("/proc/{pid}"));
        for _ in 0..100 {
            if !proc_dir.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = Command::new("kill").args(["-9", pid]).status();
    }
}

impl Drop for PrivateOvs {
    fn drop(&mut self) {
        self.stop("run/ovs-vswitchd.ctl", "run/ovs-vswitchd.pid");
        self.stop("run/ovsdb-server.ctl", "run/ovsdb-server.pid");
        if std::env::var_os("KEEP_OVS").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// One JSON-RPC connection to a unixctl socket (what `ovs-appctl` speaks), kept open: calls
/// on it are thousands of times cheaper than one `ovs-appctl` process per call.
pub struct Unixctl {
    socket: PathBuf,
    stream: UnixStream,
    replies: serde_json::StreamDeserializer<'static, serde_json::de::IoRead<UnixStream>, Value>,
    next_id: u64,
}

impl std::fmt::Debug for Unixctl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unixctl")
            .field("socket", &self.socket)
            .field("next_id", &self.next_id)
            .finish_non_exhaustive()
    }
}

impl Unixctl {
    /// Connects to `socket`.
    pub fn connect(socket: &Path) -> Result<Unixctl, OvsError> {
        let connection = |source| OvsError::Connection {
            socket: socket.to_path_buf(),
            source,
        };
        let stream = UnixStream::connect(socket).map_err(connection)?;
        let reader = stream.try_clone().map_err(connection)?;
        Ok(Unixctl {
            socket: socket.to_path_buf(),
            stream,
            replies: serde_json::Deserializer::from_reader(reader).into_iter(),
            next_id: 0,
        })
    }

    /// Calls `method` with `params`; returns the result text.
    pub fn call(&mut self, method: &str, params: &[&str]) -> Result<String, OvsError> {
        self.next_id += 1;
        let request = serde_json::json!({"id": self.next_id, "method": method, "params": params});
        self.stream
            .write_all(request.to_string().as_bytes())
            .map_err(|source| OvsError::Connection {
                socket: self.socket.clone(),
                source,
            })?;
        let bad = |reply: String| OvsError::BadReply {
            method: method.to_string(),
            reply,
        };
        let reply = match self.replies.next() {
            Some(Ok(reply)) => reply,
            Some(Err(e)) => return Err(bad(e.to_string())),
            None => return Err(bad("connection closed".to_string())),
        };
        if reply["id"] != self.next_id {
            return Err(bad(reply.to_string()));
        }
        if !reply["error"].is_null() {
            return Err(OvsError::Remote {
                method: method.to_string(),
                params: params.iter().map(|p| (*p).to_string()).collect(),
                error: reply["error"]
                    .as_str()
                    .map_or_else(|| reply["error"].to_string(), str::to_string),
            });
        }
        reply["result"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| bad(reply.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::programs;

    #[test]
    fn a_private_switch_traces_its_flows_and_leaves_nothing_behind() {
        if !programs::require(&programs::OPEN_VSWITCH).unwrap() {
            return;
        }
        let ovs = PrivateOvs::start(&OvsConfig::with_ports(&[1, 2])).unwrap();
        let dir = ovs.dir().to_path_buf();
        ovs.add_flows(
            BRIDGE,
            "priority=10,cookie=0x7,in_port=1,tcp,tp_dst=80,actions=output:2\n",
        )
        .unwrap();
        let mut ctl = ovs.unixctl().unwrap();
        let hit = ctl
            .call("ofproto/trace", &[BRIDGE, "in_port=1,tcp,tcp_dst=80"])
            .unwrap();
        assert!(
            hit.contains("cookie 0x7") && hit.contains("output:2"),
            "{hit}"
        );
        let miss = ctl
            .call("ofproto/trace", &[BRIDGE, "in_port=1,tcp,tcp_dst=81"])
            .unwrap();
        assert!(miss.contains("No match"), "{miss}");
        // A bad call is an error that names the method, not a panic.
        let err = ctl
            .call("ofproto/trace", &["no-such-bridge", "in_port=1"])
            .unwrap_err();
        assert!(matches!(err, OvsError::Remote { .. }), "{err}");
        let pid = std::fs::read_to_string(dir.join("run/ovs-vswitchd.pid")).unwrap();
        drop(ctl);
        drop(ovs);
        assert!(!dir.exists(), "directory removed");
        assert!(
            !Path::new(&format!("/proc/{}", pid.trim())).exists(),
            "ovs-vswitchd stopped"
        );
    }
}
