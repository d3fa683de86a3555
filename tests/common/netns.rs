//! Network namespaces for the networking tests, so that every bridge,
//! veth pair, address, route and nftables rule a test (or the enforcer it
//! runs) makes exists only in a namespace the test created and deletes on
//! drop, also when the test fails: [`NetNs`] (one named namespace,
//! `enforcer-test-<pid>-<n>`), [`Topology`] (a "host" namespace where the
//! enforcer runs, routed to an "outside" one) and [`Listener`] (a tiny TCP
//! server in a namespace). Addresses only from the documentation ranges.
//! Included with `#[path]` (after `common`, `test_cgroup` and `sandbox`).
//!
//! Commands enter a namespace with `nsenter --net` only: `ip netns exec`
//! remounts `/sys`, which hides `/sys/fs/cgroup` from the enforcer.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use super::sandbox::Harness;

/// The interpreter of the listener and client scripts, by absolute path:
/// the same file in the test's namespaces and in a sandbox's view.
pub const PYTHON: &str = "/usr/bin/python3";

/// Busybox, for `ping` and `ip` inside a sandbox.
pub const BUSYBOX: &str = "/usr/bin/busybox";

/// The "host" namespace's end of the uplink to "outside".
pub const HOST_ADDRESS: &str = "203.0.113.1";
/// The "outside" namespace's address.
pub const OUTSIDE_ADDRESS: &str = "203.0.113.2";
/// A second address of the "outside" namespace.
pub const OTHER_OUTSIDE_ADDRESS: &str = "203.0.113.3";
/// The subnet the tests' networks lease sandbox addresses from.
pub const SANDBOX_SUBNET: &str = "192.0.2.0/24";
/// That subnet's gateway (the bridge's address).
pub const GATEWAY: &str = "192.0.2.1";

/// The uplink's name in the host namespace (its peer is [`DOWNLINK`]).
pub const UPLINK: &str = "uplink0";
/// The uplink's name in the outside namespace.
pub const DOWNLINK: &str = "downlink0";

/// A TCP server: `python3 -c LISTENER ADDRESS PORT` prints `ready` once it
/// listens, then `peer <address>` for each connection, which it answers
/// with `hello` and closes. Runs until killed.
pub const LISTENER: &str = r#"
import socket, sys
server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((sys.argv[1], int(sys.argv[2])))
server.listen(64)
print("ready", flush=True)
while True:
    connection, peer = server.accept()
    print("peer %s" % peer[0], flush=True)
    try:
        connection.sendall(b"hello\n")
    except OSError:
        pass
    connection.close()
"#;

/// A TCP client: `python3 -c CLIENT HOST:PORT...` prints, for each target,
/// `HOST:PORT <what the server said>` or `HOST:PORT failed <error>`
/// (two seconds to connect and to read), and exits 0.
pub const CLIENT: &str = r#"
import socket, sys
for target in sys.argv[1:]:
    host, port = target.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=2) as connection:
            connection.settimeout(2)
            answer = connection.recv(64).decode().strip() or "nothing"
        print("%s %s" % (target, answer), flush=True)
    except OSError as error:
        print("%s failed %s" % (target, type(error).__name__), flush=True)
"#;

/// A loopback round trip: listens on 127.0.0.1 (a free port), connects to
/// itself and prints `loopback hello`, or `loopback failed <error>`.
pub const LOOPBACK_CHECK: &str = r#"
import socket
try:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.create_connection(server.getsockname(), timeout=2)
    accepted, _ = server.accept()
    accepted.sendall(b"hello\n")
    client.settimeout(2)
    print("loopback %s" % client.recv(16).decode().strip(), flush=True)
except OSError as error:
    print("loopback failed %s" % type(error).__name__, flush=True)
"#;

/// `SCRIPT` quoted for `/bin/sh` (the scripts hold no single quote).
fn quoted(script: &str) -> String {
    assert!(!script.contains('\''), "a script with a single quote");
    format!("'{script}'")
}

/// A shell command that runs [`CLIENT`] on `targets` (`HOST:PORT`).
pub fn client(targets: &[&str]) -> String {
    format!("{PYTHON} -c {} {}", quoted(CLIENT), targets.join(" "))
}

/// A shell command that runs [`LISTENER`] on `address`:`port` in the
/// foreground.
pub fn listener(address: &str, port: u16) -> String {
    format!("{PYTHON} -u -c {} {address} {port}", quoted(LISTENER))
}

/// A shell command that runs [`LOOPBACK_CHECK`].
pub fn loopback_check() -> String {
    format!("{PYTHON} -c {}", quoted(LOOPBACK_CHECK))
}

/// What [`CLIENT`] printed for `target` (`hello`, `failed ...`), or
/// `None` when it printed nothing for it.
pub fn answer<'a>(output: &'a str, target: &str) -> Option<&'a str> {
    output
        .lines()
        .find_map(|line| line.strip_prefix(target)?.strip_prefix(' '))
}

/// The path of `program` in `$PATH`, if any.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|directory| directory.join(program))
        .find(|candidate| candidate.is_file())
}

/// Why the fixture cannot run here, or `None`: it needs root, `ip`,
/// `nsenter`, `/usr/bin/python3` and `/usr/bin/busybox`.
pub fn cannot_run_fixture() -> Option<&'static str> {
    if !nix::unistd::geteuid().is_root() {
        return Some("needs root to create network namespaces");
    }
    if which("ip").is_none() {
        return Some("needs `ip` (iproute2) to build the test's network namespaces");
    }
    if which("nsenter").is_none() {
        return Some("needs `nsenter` (util-linux) to run commands in a network namespace");
    }
    if !Path::new(PYTHON).is_file() {
        return Some("needs /usr/bin/python3 for the TCP listeners and clients");
    }
    if !Path::new(BUSYBOX).is_file() {
        return Some("needs /usr/bin/busybox for ping and ip inside the sandbox");
    }
    None
}

/// Why the end-to-end networking tests cannot run here, or `None`: the
/// fixture's needs and `nft` (the enforcer's egress rules, and the tests'
/// view of them).
pub fn cannot_run() -> Option<&'static str> {
    cannot_run_fixture().or_else(|| {
        which("nft")
            .is_none()
            .then_some("needs `nft` (nftables) for the enforcer's egress rules")
    })
}

/// A name no other namespace of this test binary uses.
fn unique_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "enforcer-test-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// Runs `command`, panicking (with its output) unless it succeeds;
/// returns its stdout.
#[track_caller]
fn checked(mut command: Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("{command:?}: {error}"));
    assert!(
        output.status.success(),
        "{command:?}: {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// One named network namespace (`/run/netns/enforcer-test-<pid>-<n>`),
/// with its loopback up; deleted on drop, also when the test panics.
pub struct NetNs {
    name: String,
}

impl NetNs {
    /// Adds a new namespace (`ip netns add`) and brings its `lo` up.
    #[track_caller]
    pub fn new() -> NetNs {
        let name = unique_name();
        let mut add = Command::new("ip");
        add.args(["netns", "add", &name]);
        checked(add);
        let namespace = NetNs { name };
        namespace.ip(&["link", "set", "lo", "up"]);
        namespace
    }

    /// Its name under `/run/netns`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its mount point, `/run/netns/NAME`.
    pub fn path(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.name)
    }

    /// `nsenter --net=PATH PROGRAM` (nothing else entered).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("nsenter");
        command
            .arg(format!("--net={}", self.path().display()))
            .arg(program);
        command
    }

    /// Runs `PROGRAM ARGS` in the namespace to the end.
    pub fn output(&self, program: &str, args: &[&str]) -> Output {
        let mut command = self.command(program);
        command.args(args).stdin(Stdio::null());
        command
            .output()
            .unwrap_or_else(|error| panic!("{command:?}: {error}"))
    }

    /// Runs `PROGRAM ARGS` in the namespace; panics unless it succeeds;
    /// returns its stdout.
    #[track_caller]
    pub fn ok(&self, program: &str, args: &[&str]) -> String {
        let mut command = self.command(program);
        command.args(args).stdin(Stdio::null());
        checked(command)
    }

    /// `/bin/sh -c SCRIPT` in the namespace; panics unless it succeeds;
    /// returns its stdout.
    #[track_caller]
    pub fn sh(&self, script: &str) -> String {
        self.ok("/bin/sh", &["-c", script])
    }

    /// `ip ARGS` in the namespace; panics unless it succeeds.
    #[track_caller]
    pub fn ip(&self, args: &[&str]) -> String {
        self.ok("ip", args)
    }

    /// Every link of the namespace, from `ip -j link`.
    pub fn links(&self) -> Vec<serde_json::Value> {
        serde_json::from_str(&self.ip(&["-j", "link", "show"])).expect("ip -j link is JSON")
    }

    /// The link named `name`, if the namespace has it.
    pub fn link(&self, name: &str) -> Option<serde_json::Value> {
        self.links().into_iter().find(|link| link["ifname"] == name)
    }

    /// The names of the namespace's links.
    pub fn link_names(&self) -> Vec<String> {
        self.links()
            .iter()
            .filter_map(|link| link["ifname"].as_str().map(str::to_string))
            .collect()
    }

    /// `nft list tables` in the namespace.
    pub fn nft_tables(&self) -> String {
        self.ok("nft", &["list", "tables"])
    }

    /// `nft list ruleset` in the namespace.
    pub fn nft_ruleset(&self) -> String {
        self.ok("nft", &["list", "ruleset"])
    }

    /// Whether the namespace's nftables hold a chain named `chain` (in
    /// any table).
    pub fn has_chain(&self, chain: &str) -> bool {
        self.nft_ruleset()
            .lines()
            .any(|line| line.trim().strip_prefix("chain ") == Some(&format!("{chain} {{")))
    }

    /// Turns IPv4 forwarding on in this namespace only (the setting is
    /// per namespace; the machine's own is never touched).
    #[track_caller]
    pub fn enable_ip_forward(&self) {
        self.sh("echo 1 > /proc/sys/net/ipv4/ip_forward");
        assert_eq!(self.ip_forward(), "1");
    }

    /// The namespace's `net.ipv4.ip_forward`.
    pub fn ip_forward(&self) -> String {
        self.ok("cat", &["/proc/sys/net/ipv4/ip_forward"])
            .trim()
            .to_string()
    }

    /// A bridge `name` with `address` (CIDR), up: the state the enforcer
    /// finds when an operator made the bridge itself.
    #[track_caller]
    pub fn add_bridge(&self, name: &str, address: &str) {
        self.ip(&["link", "add", name, "type", "bridge"]);
        self.ip(&["address", "add", address, "dev", name]);
        self.ip(&["link", "set", name, "up"]);
    }

    /// A sandbox harness whose every enforcer command runs in this
    /// namespace.
    pub fn harness(&self) -> Harness {
        Harness::new().in_network_namespace(&self.path())
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        // Deleting the mount frees the namespace once no process holds
        // it; the kernel then removes every link, address, route and rule
        // in it.
        let deleted = Command::new("ip")
            .args(["netns", "delete", &self.name])
            .output();
        match deleted {
            Ok(output) if output.status.success() => {}
            Ok(output) => eprintln!(
                "cannot delete network namespace {}: {}",
                self.name,
                String::from_utf8_lossy(&output.stderr)
            ),
            Err(error) => eprintln!("cannot delete network namespace {}: {error}", self.name),
        }
    }
}

/// The way back from "outside" to the sandboxes' subnet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Return {
    /// "outside" routes 192.0.2.0/24 through the host namespace
    /// (203.0.113.1): sandboxes reach it with their own addresses.
    Routed,
    /// No route back: only masqueraded traffic gets answers.
    None,
}

/// A "host" namespace (where the enforcer runs) and an "outside" one,
/// joined by a veth pair on 203.0.113.0/24: host 203.0.113.1 on
/// [`UPLINK`], outside 203.0.113.2 and 203.0.113.3 on [`DOWNLINK`];
/// forwarding on in the host namespace.
pub struct Topology {
    /// Where the enforcer runs.
    pub host: NetNs,
    /// What the sandboxes try to reach.
    pub outside: NetNs,
}

impl Topology {
    #[track_caller]
    pub fn new(back: Return) -> Topology {
        let host = NetNs::new();
        let outside = NetNs::new();
        host.ip(&[
            "link",
            "add",
            UPLINK,
            "type",
            "veth",
            "peer",
            "name",
            DOWNLINK,
            "netns",
            outside.name(),
        ]);
        host.ip(&[
            "address",
            "add",
            &format!("{HOST_ADDRESS}/24"),
            "dev",
            UPLINK,
        ]);
        host.ip(&["link", "set", UPLINK, "up"]);
        for address in [OUTSIDE_ADDRESS, OTHER_OUTSIDE_ADDRESS] {
            outside.ip(&["address", "add", &format!("{address}/24"), "dev", DOWNLINK]);
        }
        outside.ip(&["link", "set", DOWNLINK, "up"]);
        host.enable_ip_forward();
        if back == Return::Routed {
            outside.ip(&["route", "add", SANDBOX_SUBNET, "via", HOST_ADDRESS]);
        }
        Topology { host, outside }
    }
}

/// A [`LISTENER`] running in a namespace (as its own process, by pid),
/// killed and reaped on drop.
pub struct Listener {
    child: Child,
    peers: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
    /// The port it listens on.
    pub port: u16,
}

impl Listener {
    /// Starts a listener on `address`:`port` in `namespace` and waits
    /// until it listens.
    #[track_caller]
    pub fn start(namespace: &NetNs, address: &str, port: u16) -> Listener {
        let mut command = namespace.command(PYTHON);
        command
            .args(["-u", "-c", LISTENER, address, &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command
            .spawn()
            .unwrap_or_else(|error| panic!("{command:?}: {error}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let peers = Arc::new(Mutex::new(Vec::new()));
        let (ready, is_ready) = mpsc::channel();
        let reader = {
            let peers = Arc::clone(&peers);
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if line == "ready" {
                        let _ = ready.send(());
                    } else if let Some(peer) = line.strip_prefix("peer ") {
                        peers.lock().expect("peers").push(peer.to_string());
                    }
                }
            })
        };
        let mut listener = Listener {
            child,
            peers,
            reader: Some(reader),
            port,
        };
        if is_ready.recv_timeout(Duration::from_secs(20)).is_err() {
            let status = listener.child.try_wait();
            panic!("the listener on {address}:{port} did not start ({status:?})");
        }
        listener
    }

    /// Its pid (the Python process: `nsenter` execs it).
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The peer address of each connection so far, in order.
    pub fn peers(&self) -> Vec<String> {
        self.peers.lock().expect("peers").clone()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        // Our own, not yet reaped child: its pid cannot have been reused.
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}
