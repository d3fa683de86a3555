//! Networks that can talk, end to end through the built binary: the
//! enforcer runs inside a network namespace the test made (`nsenter
//! --net`), with an operator config declaring `[networks.test]` and the
//! label fixture policy choosing networks and egress (`-l network=test`,
//! `-l egress=...`). A sandbox reaches its gateway over ICMP and TCP, two
//! sandboxes on one bridge reach each other, a sandbox without interfaces
//! has only its loopback (up); egress allow-lists hold against a workload
//! that flushes its own rules; masquerade hides the sandbox's address;
//! twenty sandboxes at once get distinct addresses; `gc` after a SIGKILLed
//! enforcer removes the host end, the egress chain and the lease; `ps
//! --json` shows the interfaces.
//!
//! Every bridge, veth, address, route and nftables rule lives in a test
//! namespace (`enforcer-test-<pid>-<n>`, deleted on drop, also on
//! failure), with addresses from 192.0.2.0/24 and 203.0.113.0/24 only.
//! The `smoke_` tests check the fixture alone, without the enforcer's
//! networking.

mod common;
#[path = "common/netns.rs"]
mod netns;
#[path = "common/sandbox.rs"]
mod sandbox;
#[path = "common/cgroup.rs"]
mod test_cgroup;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::Child;
use std::sync::atomic::{AtomicU32, Ordering};

use enforcer::network::{chain_name, host_interface_name};
use netns::{
    BUSYBOX, GATEWAY, HOST_ADDRESS, Listener, NetNs, OTHER_OUTSIDE_ADDRESS, OUTSIDE_ADDRESS,
    Return, Topology, answer, cannot_run, cannot_run_fixture, client, listener, loopback_check,
};
use sandbox::{Harness, alive};
use test_cgroup::{require, wait_for};

// ---------------------------------------------------------------------
// Smoke tests of the fixture (no enforcer networking needed).
// ---------------------------------------------------------------------

#[test]
fn smoke_topology_pings_connects_and_leaves_nothing() {
    require!(cannot_run_fixture());
    let forwarding_before = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").expect("own");
    let (names, listener_pid) = {
        let topology = Topology::new(Return::Routed);
        let host = &topology.host;
        let outside = &topology.outside;
        for address in [OUTSIDE_ADDRESS, OTHER_OUTSIDE_ADDRESS] {
            host.ok(BUSYBOX, &["ping", "-c1", "-W2", address]);
        }
        outside.ok(BUSYBOX, &["ping", "-c1", "-W2", HOST_ADDRESS]);
        assert_eq!(host.ip_forward(), "1");
        assert_eq!(outside.ip_forward(), "0", "forwarding is per namespace");
        let routes = outside.ip(&["route", "show"]);
        assert!(routes.contains("192.0.2.0/24 via 203.0.113.1"), "{routes}");
        let server = Listener::start(outside, "0.0.0.0", 8080);
        let targets = [
            format!("{OUTSIDE_ADDRESS}:8080"),
            format!("{OTHER_OUTSIDE_ADDRESS}:8080"),
            format!("{OUTSIDE_ADDRESS}:8081"),
        ];
        let targets: Vec<&str> = targets.iter().map(String::as_str).collect();
        let out = host.sh(&client(&targets));
        assert_eq!(answer(&out, targets[0]), Some("hello"), "{out}");
        assert_eq!(answer(&out, targets[1]), Some("hello"), "{out}");
        assert_eq!(
            answer(&out, targets[2]),
            Some("failed ConnectionRefusedError"),
            "{out}"
        );
        assert_eq!(server.peers(), [HOST_ADDRESS, HOST_ADDRESS]);
        // The machine's own namespace has none of it.
        let own = std::process::Command::new("ip")
            .args(["-j", "link", "show"])
            .output()
            .expect("ip");
        let own = String::from_utf8_lossy(&own.stdout);
        assert!(
            !own.contains(netns::UPLINK) && !own.contains(netns::DOWNLINK),
            "{own}"
        );
        ([host.path(), outside.path()], server.pid())
    };
    for path in names {
        assert!(!path.exists(), "{} survived its drop", path.display());
    }
    assert!(!alive(listener_pid), "the listener survived its drop");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").expect("own"),
        forwarding_before,
        "the machine's own forwarding changed"
    );
}

#[test]
fn smoke_a_namespace_is_deleted_when_its_test_panics() {
    require!(cannot_run_fixture());
    let (sent, received) = std::sync::mpsc::channel();
    let panicked = std::thread::spawn(move || {
        let namespace = NetNs::new();
        sent.send(namespace.path()).expect("sends");
        panic!("a failing test");
    })
    .join();
    assert!(panicked.is_err());
    let path = received.recv().expect("the namespace's path");
    assert!(!path.exists(), "{} survived the panic", path.display());
}

#[test]
fn smoke_the_enforcer_runs_inside_the_test_namespace() {
    require!(cannot_run_fixture());
    let host = NetNs::new();
    let harness = host.harness();
    let mut child = harness.spawn_sh(&["--id", "inside"], "echo ready; sleep 60");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("reads");
    assert_eq!(line, "ready\n");
    // nsenter execs the enforcer: the child is the enforcer, in `host`.
    assert_eq!(
        sandbox::inode(format!("/proc/{}/ns/net", child.id())),
        sandbox::inode(host.path())
    );
    // `nsenter --net` keeps the cgroup hierarchies in view.
    assert!(
        harness.root_directories().iter().any(|d| d.exists()),
        "the sandbox's cgroups"
    );
    let ps = harness.command("ps", &["--json"]);
    ps.expect_code(0);
    assert_eq!(ps.json()[0]["id"], "inside");
    harness.command("delete", &["inside"]).expect_code(0);
    child.wait().expect("reaps the enforcer");
}

#[test]
fn smoke_the_scripts_run_in_a_sandbox() {
    require!(cannot_run());
    let host = NetNs::new();
    let harness = host.harness();
    let nft = netns::which("nft").expect("cannot_run checked nft");
    let policy = sandbox::labels();
    let target = format!("{GATEWAY}:8080");
    let run = harness.sh(
        &["-p", &policy, "-l", "net-admin=1"],
        &format!(
            "{BUSYBOX} ip -o link; {}; {}; {SHOW_ETH0}; {nft} flush ruleset && echo nft-flushed; true",
            loopback_check(),
            client(&[&target]),
            nft = nft.display()
        ),
    );
    run.expect_code(0);
    assert!(
        run.stdout.lines().any(|line| line.contains(": lo:")),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("loopback "), "{}", run.stdout);
    assert!(
        answer(&run.stdout, &target).is_some_and(|a| a.starts_with("failed")),
        "{}",
        run.stdout
    );
    assert_eq!(eth0_address(&run.stdout), None);
    assert!(run.stdout.contains("nft-flushed"), "{}", run.stderr);
}

#[test]
fn smoke_the_harness_sees_address_leases() {
    require!(cannot_run_fixture());
    let harness = Harness::new();
    let network = harness.state.path().join(".networks").join("test");
    std::fs::create_dir_all(&network).expect("mkdir");
    std::fs::write(network.join("192.0.2.9"), "").expect("a lease");
    std::fs::write(network.join(".lock"), "").expect("a lock");
    assert_eq!(harness.address_leases(), ["test/192.0.2.9"]);
    assert!(harness.state_entries().is_empty());
    std::fs::remove_file(network.join("192.0.2.9")).expect("removes");
    assert!(harness.address_leases().is_empty());
    assert_eq!(
        eth0_address("2: eth0    inet 192.0.2.7/24 brd 192.0.2.255 scope global eth0"),
        Some("192.0.2.7/24".to_string())
    );
    assert!(is_sandbox_address("192.0.2.7/24"));
    assert!(!is_sandbox_address("192.0.2.1/24") && !is_sandbox_address("203.0.113.2/24"));
}

// ---------------------------------------------------------------------
// The end-to-end tests (need the enforcer's networking).
// ---------------------------------------------------------------------

/// Where a test's enforcer runs.
enum Site {
    /// One namespace.
    Host(NetNs),
    /// A host namespace routed to an outside one.
    Routed(Topology),
}

/// A test's network: its namespaces, an operator config with
/// `[networks.test]` (bridge `enft...`, 192.0.2.0/24, gateway 192.0.2.1)
/// and the harness running the enforcer in the host namespace. Fields drop
/// in order: the harness deletes what is left inside the namespaces before
/// they go.
struct Net {
    harness: Harness,
    listeners: Vec<Listener>,
    config: tempfile::TempDir,
    bridge: String,
    site: Site,
}

/// A bridge name (`enft` + hex, within 15 bytes) no other test uses.
fn unique_bridge() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "enft{:x}x{:x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    );
    assert!(name.len() <= 15, "{name}");
    name
}

impl Net {
    /// `site`, and `[networks.test]` with `settings` (TOML lines such as
    /// `egress = "none"`).
    fn new(site: Site, settings: &str) -> Net {
        let config = tempfile::Builder::new()
            .prefix("enforcer-test-config-")
            .tempdir()
            .expect("tempdir");
        let file = config.path().join("config.toml");
        let host = match &site {
            Site::Host(host) => host,
            Site::Routed(topology) => &topology.host,
        };
        let harness = host.harness().with_config(&file);
        let net = Net {
            harness,
            listeners: Vec::new(),
            config,
            bridge: unique_bridge(),
            site,
        };
        net.configure(settings);
        net
    }

    /// One namespace.
    fn host_only(settings: &str) -> Net {
        Net::new(Site::Host(NetNs::new()), settings)
    }

    /// A host namespace and an outside one.
    fn routed(back: Return, settings: &str) -> Net {
        Net::new(Site::Routed(Topology::new(back)), settings)
    }

    /// Rewrites the config (read by each command at start).
    fn configure(&self, settings: &str) {
        let text = format!(
            "[networks.test]\nbridge = \"{}\"\nsubnet = \"192.0.2.0/24\"\ngateway = \"{GATEWAY}\"\n{settings}\n",
            self.bridge
        );
        std::fs::write(self.config_file(), text).expect("writes the config");
    }

    fn config_file(&self) -> PathBuf {
        self.config.path().join("config.toml")
    }

    fn host(&self) -> &NetNs {
        match &self.site {
            Site::Host(host) => host,
            Site::Routed(topology) => &topology.host,
        }
    }

    fn outside(&self) -> &NetNs {
        match &self.site {
            Site::Host(_) => panic!("this test has no outside namespace"),
            Site::Routed(topology) => &topology.outside,
        }
    }

    /// Starts a listener on `address`:`port` in `namespace` (one of this
    /// net's); returns its index for [`Net::peers`].
    fn listen(&mut self, outside: bool, address: &str, port: u16) -> usize {
        let namespace = if outside { self.outside() } else { self.host() };
        let listener = Listener::start(namespace, address, port);
        self.listeners.push(listener);
        self.listeners.len() - 1
    }

    fn peers(&self, listener: usize) -> Vec<String> {
        self.listeners[listener].peers()
    }

    /// `-p <label policy> -l LABEL... OPTIONS`.
    fn options<'a>(policy: &'a str, labels: &[&'a str], options: &[&'a str]) -> Vec<&'a str> {
        let mut all = vec!["-p", policy];
        for label in labels {
            all.extend(["-l", label]);
        }
        all.extend_from_slice(options);
        all
    }

    /// `enforcer run -p <labels> -l LABEL... OPTIONS -- sh -c SCRIPT`.
    fn sh(&self, labels: &[&str], options: &[&str], script: &str) -> common::Run {
        let policy = sandbox::labels();
        self.harness
            .sh(&Net::options(&policy, labels, options), script)
    }

    /// The same, detached; returns the id.
    fn detach(&self, labels: &[&str], options: &[&str], script: &str) -> String {
        let policy = sandbox::labels();
        self.harness
            .detach_sh(&Net::options(&policy, labels, options), script)
    }

    /// The same, attached in the background, once the workload printed
    /// `ready`; returns the enforcer and what the workload printed before.
    fn spawn_ready(&self, labels: &[&str], options: &[&str], script: &str) -> (Child, String) {
        let policy = sandbox::labels();
        let mut child = self
            .harness
            .spawn_sh(&Net::options(&policy, labels, options), script);
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut before = String::new();
        loop {
            let mut line = String::new();
            if stdout.read_line(&mut line).expect("reads") == 0 {
                let _ = child.kill();
                let _ = child.wait();
                let mut stderr = String::new();
                if let Some(mut pipe) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
                }
                panic!("the workload ended before it was ready:\n{before}\nstderr:\n{stderr}");
            }
            if line == "ready\n" {
                break;
            }
            before.push_str(&line);
        }
        (child, before)
    }

    /// Asserts the sandbox `id` left no host end, no egress chain, no
    /// lease in the host namespace and state directory.
    #[track_caller]
    fn assert_gone(&self, id: &str) {
        let host_end = host_interface_name(id, 0);
        assert!(
            self.host().link(&host_end).is_none(),
            "host end {host_end} left: {:?}",
            self.host().link_names()
        );
        let chain = chain_name(id);
        assert!(
            !self.host().has_chain(&chain),
            "chain {chain} left:\n{}",
            self.host().nft_ruleset()
        );
        let leases = self.harness.address_leases();
        assert!(leases.is_empty(), "leases left: {leases:?}");
    }
}

/// The IPv4 address (CIDR) on `eth0` from `busybox ip -4 -o addr show dev
/// eth0` in `output`.
fn eth0_address(output: &str) -> Option<String> {
    output
        .lines()
        .filter(|line| line.contains("eth0"))
        .find_map(|line| {
            let mut words = line.split_whitespace();
            words.find(|word| *word == "inet")?;
            words.next().map(str::to_string)
        })
}

/// The address part of a CIDR (`192.0.2.2/24` → `192.0.2.2`).
fn address_of(cidr: &str) -> &str {
    cidr.split('/').next().unwrap_or(cidr)
}

/// Whether `cidr` is a host address of 192.0.2.0/24 other than the
/// gateway.
fn is_sandbox_address(cidr: &str) -> bool {
    let Some((address, prefix)) = cidr.split_once('/') else {
        return false;
    };
    let Ok(address) = address.parse::<std::net::Ipv4Addr>() else {
        return false;
    };
    let [a, b, c, d] = address.octets();
    prefix == "24" && [a, b, c] == [192, 0, 2] && d != 0 && d != 1 && d != 255
}

/// `busybox ip -4 -o addr show dev eth0`, for [`eth0_address`].
const SHOW_ETH0: &str = "/usr/bin/busybox ip -4 -o addr show dev eth0";

#[test]
fn a_sandbox_reaches_its_gateway_over_icmp_and_tcp() {
    require!(cannot_run());
    let mut net = Net::host_only("egress = \"all\"\nmasquerade = false");
    let server = net.listen(false, "0.0.0.0", 8080);
    let script = format!(
        "{SHOW_ETH0}; {BUSYBOX} ip route; {BUSYBOX} ip -o link; \
         {BUSYBOX} ping -c1 -W2 {GATEWAY} >/dev/null && echo ping-ok; {}",
        client(&[&format!("{GATEWAY}:8080")])
    );
    let run = net.sh(&["network=test"], &["--id", "gw"], &script);
    run.expect_code(0);
    let address = eth0_address(&run.stdout).unwrap_or_else(|| panic!("no eth0: {}", run.stdout));
    assert!(is_sandbox_address(&address), "{address}");
    assert!(
        run.stdout.contains(&format!("default via {GATEWAY}")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .lines()
            .any(|line| line.contains(": lo:") && line.contains("UP")),
        "lo is up: {}",
        run.stdout
    );
    assert!(run.stdout.contains("ping-ok"), "{}", run.stdout);
    assert_eq!(
        answer(&run.stdout, &format!("{GATEWAY}:8080")),
        Some("hello"),
        "{}",
        run.stdout
    );
    assert_eq!(net.peers(server), [address_of(&address)]);
    net.assert_gone("gw");
    assert!(
        net.host().link(&net.bridge).is_none(),
        "the enforcer made bridge {} and its last sandbox ended",
        net.bridge
    );
}

#[test]
fn two_sandboxes_on_one_bridge_talk_over_tcp() {
    require!(cannot_run());
    let net = Net::host_only("egress = \"all\"");
    net.detach(
        &["network=test"],
        &["--id", "server"],
        &listener("0.0.0.0", 8080),
    );
    let ps = net.harness.command("ps", &["--json"]);
    ps.expect_code(0);
    let server = ps.json()[0]["interfaces"][0]["address"]
        .as_str()
        .unwrap_or_else(|| panic!("ps shows no address: {}", ps.stdout))
        .to_string();
    assert!(is_sandbox_address(&server), "{server}");
    let target = format!("{}:8080", address_of(&server));
    // The server may still be starting: retry a refused connection.
    let script = format!(
        "{SHOW_ETH0}; for i in $(seq 100); do out=$({}); \
         case \"$out\" in *hello*) break;; esac; sleep 0.1; done; echo \"$out\"",
        client(&[&target])
    );
    let run = net.sh(&["network=test"], &["--id", "client"], &script);
    run.expect_code(0);
    assert_eq!(
        answer(&run.stdout, &target),
        Some("hello"),
        "{}",
        run.stdout
    );
    let own = eth0_address(&run.stdout).expect("the client's address");
    assert_ne!(own, server, "two sandboxes, one address");
    net.harness.command("delete", &["server"]).expect_code(0);
    net.assert_gone("server");
    net.assert_gone("client");
}

#[test]
fn a_sandbox_without_interfaces_has_only_its_loopback_and_it_is_up() {
    require!(cannot_run());
    let net = Net::host_only("egress = \"all\"");
    // Something to reach, were the sandbox not isolated: a bridge with
    // the gateway address and a listener in the host namespace.
    net.host().add_bridge(&net.bridge, &format!("{GATEWAY}/24"));
    let server = Listener::start(net.host(), "0.0.0.0", 8080);
    let gateway = format!("{GATEWAY}:8080");
    let script = format!(
        "{BUSYBOX} ip -o link; {}; {}; {BUSYBOX} ping -c1 -W1 {GATEWAY} >/dev/null 2>&1 || echo ping-failed",
        loopback_check(),
        client(&[&gateway])
    );
    let run = net.sh(&[], &[], &script);
    run.expect_code(0);
    // `ip -o link`: one line a link. Besides lo only the kernel's
    // fallback tunnels (sit0, tunl0...) may exist, and they are down.
    let links: Vec<&str> = run
        .stdout
        .lines()
        .filter(|line| line.contains("link/"))
        .collect();
    let lo: Vec<&&str> = links.iter().filter(|line| line.contains(": lo:")).collect();
    assert!(
        lo.len() == 1 && lo[0].contains(",UP"),
        "lo is up: {}",
        run.stdout
    );
    for link in links.iter().filter(|line| !line.contains(": lo:")) {
        assert!(
            !link.contains(",UP") && !link.contains("link/ether"),
            "only lo: {}",
            run.stdout
        );
    }
    assert!(run.stdout.contains("loopback hello\n"), "{}", run.stdout);
    assert!(
        answer(&run.stdout, &gateway).is_some_and(|a| a.starts_with("failed")),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("ping-failed"), "{}", run.stdout);
    assert!(server.peers().is_empty());
    // Only the test's bridge: no host end was made.
    let names = net.host().link_names();
    assert!(
        names
            .iter()
            .all(|name| !name.starts_with("enf") || *name == net.bridge),
        "{names:?}"
    );
}

#[test]
fn loopback_down_when_the_policy_says_so() {
    require!(cannot_run());
    let net = Net::host_only("egress = \"all\"");
    let run = net.sh(
        &["loopback=down"],
        &[],
        &format!("{BUSYBOX} ip -o link; {}", loopback_check()),
    );
    run.expect_code(0);
    let lo = run
        .stdout
        .lines()
        .find(|line| line.contains(": lo:"))
        .unwrap_or_else(|| panic!("no lo: {}", run.stdout));
    assert!(!lo.contains(",UP"), "lo stays down: {lo}");
    assert!(run.stdout.contains("loopback failed"), "{}", run.stdout);
}

#[test]
fn an_isolated_pair_has_no_address_and_no_bridge() {
    require!(cannot_run());
    let net = Net::host_only("egress = \"all\"");
    let (mut child, before) = net.spawn_ready(
        &["isolated=1"],
        &["--id", "alone"],
        &format!("{BUSYBOX} ip -o link; {SHOW_ETH0}; echo ready; sleep 60"),
    );
    assert!(before.contains(": eth0"), "{before}");
    assert_eq!(eth0_address(&before), None, "{before}");
    let host_end = host_interface_name("alone", 0);
    let link = net
        .host()
        .link(&host_end)
        .unwrap_or_else(|| panic!("no {host_end}: {:?}", net.host().link_names()));
    assert!(link["master"].is_null(), "{link}");
    assert!(net.host().link(&net.bridge).is_none(), "no bridge made");
    net.harness.command("delete", &["alone"]).expect_code(0);
    child.wait().expect("reaps the enforcer");
    net.assert_gone("alone");
}

/// The three connections the egress tests try, and a ping.
fn egress_probe() -> String {
    format!(
        "{}; {BUSYBOX} ping -c1 -W1 {OUTSIDE_ADDRESS} >/dev/null 2>&1 && echo ping-ok; true",
        client(&[
            &format!("{OUTSIDE_ADDRESS}:8080"),
            &format!("{OUTSIDE_ADDRESS}:8081"),
            &format!("{OTHER_OUTSIDE_ADDRESS}:8080"),
        ])
    )
}

/// A routed net with listeners on 0.0.0.0:8080 and :8081 outside.
fn outside_with_listeners(settings: &str) -> (Net, usize, usize) {
    let mut net = Net::routed(Return::Routed, settings);
    let first = net.listen(true, "0.0.0.0", 8080);
    let second = net.listen(true, "0.0.0.0", 8081);
    (net, first, second)
}

/// Asserts that only 203.0.113.2:8080 answered in `run`.
#[track_caller]
fn only_the_allowed_destination(run: &common::Run) {
    run.expect_code(0);
    let out = &run.stdout;
    assert_eq!(answer(out, "203.0.113.2:8080"), Some("hello"), "{out}");
    for refused in ["203.0.113.2:8081", "203.0.113.3:8080"] {
        assert!(
            answer(out, refused).is_some_and(|a| a.starts_with("failed")),
            "{refused} must be out of reach: {out}"
        );
    }
    assert!(!out.contains("ping-ok"), "ICMP is not allowed: {out}");
}

#[test]
fn egress_none_with_an_allow_list_lets_one_address_and_port_out() {
    require!(cannot_run());
    let (net, first, second) = outside_with_listeners("egress = \"all\"");
    // Baseline: on an open network every destination answers, so the
    // failures below are the egress rules, not the topology.
    let open = net.sh(&["network=test"], &["--id", "open"], &egress_probe());
    open.expect_code(0);
    for target in ["203.0.113.2:8080", "203.0.113.2:8081", "203.0.113.3:8080"] {
        assert_eq!(
            answer(&open.stdout, target),
            Some("hello"),
            "{}",
            open.stdout
        );
    }
    assert!(open.stdout.contains("ping-ok"), "{}", open.stdout);
    net.assert_gone("open");
    let before = (net.peers(first).len(), net.peers(second).len());

    net.configure("egress = \"none\"");
    let run = net.sh(
        &["network=test", "egress=tcp:203.0.113.2/32:8080"],
        &["--id", "allowed", "--timings"],
        &format!("{SHOW_ETH0}; {}", egress_probe()),
    );
    only_the_allowed_destination(&run);
    let address = eth0_address(&run.stdout).expect("an address");
    // 8080 saw the two hellos (.2 and .3 of the baseline) and one more;
    // 8081 none more.
    let peers = net.peers(first);
    assert_eq!(peers.len(), before.0 + 1, "{peers:?}");
    assert_eq!(peers.last().map(String::as_str), Some(address_of(&address)));
    assert_eq!(net.peers(second).len(), before.1, "{:?}", net.peers(second));
    net.assert_gone("allowed");
}

#[test]
fn an_operator_allow_list_is_the_default_egress() {
    require!(cannot_run());
    let (net, _, _) = outside_with_listeners(
        "egress = [{ destination = \"203.0.113.2/32\", protocol = \"tcp\", port = 8080 }]",
    );
    let run = net.sh(&["network=test"], &["--id", "listed"], &egress_probe());
    only_the_allowed_destination(&run);
    net.assert_gone("listed");
}

#[test]
fn a_policy_egress_none_closes_an_open_network() {
    require!(cannot_run());
    let (net, first, second) = outside_with_listeners("egress = \"all\"");
    let run = net.sh(
        &["network=test", "egress=none"],
        &["--id", "closed"],
        &egress_probe(),
    );
    run.expect_code(0);
    for target in ["203.0.113.2:8080", "203.0.113.2:8081", "203.0.113.3:8080"] {
        assert!(
            answer(&run.stdout, target).is_some_and(|a| a.starts_with("failed")),
            "{target}: {}",
            run.stdout
        );
    }
    assert!(!run.stdout.contains("ping-ok"), "{}", run.stdout);
    assert!(net.peers(first).is_empty() && net.peers(second).is_empty());
    net.assert_gone("closed");
}

#[test]
fn the_workload_flushes_its_own_rules_and_still_cannot_get_out() {
    require!(cannot_run());
    let (net, _, second) = outside_with_listeners("egress = \"none\"");
    // Root in its user namespace, given CAP_NET_ADMIN over its network
    // namespace (`net-admin=1`): it flushes every rule it can see, opens
    // its own policies, adds an address of its own, and tries again.
    let nft = netns::which("nft").expect("cannot_run checked nft");
    let attack = format!(
        "id -u; \
         if [ -x {nft} ]; then {nft} flush ruleset && echo nft-flushed; fi; \
         for tool in iptables ip6tables iptables-legacy iptables-nft; do \
           if command -v $tool >/dev/null 2>&1; then \
             $tool -F && $tool -P OUTPUT ACCEPT && $tool -P FORWARD ACCEPT && echo $tool-flushed; \
           fi; \
         done; \
         {BUSYBOX} ip address add 192.0.2.250/24 dev eth0 && echo address-added; \
         {}",
        egress_probe(),
        nft = nft.display()
    );
    let run = net.sh(
        &[
            "network=test",
            "egress=tcp:203.0.113.2/32:8080",
            "net-admin=1",
        ],
        &["--id", "attacker"],
        &attack,
    );
    run.expect_code(0);
    let out = &run.stdout;
    assert!(out.starts_with("0\n"), "root in its user namespace: {out}");
    assert!(
        out.contains("nft-flushed"),
        "the attacker could flush: {out} {}",
        run.stderr
    );
    // The way out still works where allowed: what fails below is the
    // host's rules, not a broken sandbox.
    assert_eq!(answer(out, "203.0.113.2:8080"), Some("hello"), "{out}");
    for refused in ["203.0.113.2:8081", "203.0.113.3:8080"] {
        assert!(
            answer(out, refused).is_some_and(|a| a.starts_with("failed")),
            "{refused} must stay out of reach: {out}"
        );
    }
    assert!(!out.contains("ping-ok"), "{out}");
    assert!(net.peers(second).is_empty(), "{:?}", net.peers(second));
    net.assert_gone("attacker");
}

#[test]
fn masquerade_shows_the_host_address_outside() {
    require!(cannot_run());
    // No route back from outside: only masqueraded traffic is answered.
    let mut net = Net::routed(Return::None, "egress = \"all\"\nmasquerade = false");
    let server = net.listen(true, "0.0.0.0", 8080);
    let target = format!("{OUTSIDE_ADDRESS}:8080");
    let plain = net.sh(&["network=test"], &["--id", "plain"], &client(&[&target]));
    plain.expect_code(0);
    assert!(
        answer(&plain.stdout, &target).is_some_and(|a| a.starts_with("failed")),
        "without masquerade there is no way back: {}",
        plain.stdout
    );
    net.assert_gone("plain");
    let tried = net.peers(server).len();
    net.configure("egress = \"all\"\nmasquerade = true");
    let run = net.sh(
        &["network=test"],
        &["--id", "masked"],
        &format!("{SHOW_ETH0}; {}", client(&[&target])),
    );
    run.expect_code(0);
    assert_eq!(
        answer(&run.stdout, &target),
        Some("hello"),
        "{}",
        run.stdout
    );
    let address = eth0_address(&run.stdout).expect("an address");
    assert!(is_sandbox_address(&address), "{address}");
    let peers = net.peers(server);
    assert_eq!(peers[tried..], [HOST_ADDRESS], "{peers:?}");
    net.assert_gone("masked");
}

#[test]
fn twenty_sandboxes_at_once_get_distinct_addresses() {
    require!(cannot_run());
    let net = Net::host_only("egress = \"all\"");
    // Each holds its address until all twenty hold one: the leases are
    // concurrent, not one after another.
    let gate = tempfile::tempdir().expect("a gate directory");
    let go = gate.path().join("go");
    let script = format!(
        "{SHOW_ETH0}; {BUSYBOX} ping -c1 -W5 {GATEWAY} >/dev/null && echo ping-ok; \
         n=0; while [ ! -e {go} ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n+1)); done",
        go = go.display()
    );
    let runs: Vec<common::Run> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..20)
            .map(|index| {
                let (net, script) = (&net, &script);
                scope.spawn(move || {
                    let id = format!("many-{index}");
                    net.sh(&["network=test"], &["--id", &id], script)
                })
            })
            .collect();
        let started = std::time::Instant::now();
        let mut all_leased = false;
        while !all_leased && started.elapsed() < std::time::Duration::from_secs(60) {
            all_leased = net.harness.address_leases().len() == 20;
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        std::fs::write(&go, b"").expect("open the gate");
        assert!(
            all_leased,
            "20 leases at once; held: {:?}",
            net.harness.address_leases()
        );
        handles
            .into_iter()
            .map(|handle| handle.join().expect("a run"))
            .collect()
    });
    let mut addresses = BTreeSet::new();
    for run in &runs {
        run.expect_code(0);
        assert!(run.stdout.contains("ping-ok"), "{}", run.stdout);
        let address = eth0_address(&run.stdout).expect("an address");
        assert!(is_sandbox_address(&address), "{address}");
        assert!(addresses.insert(address.clone()), "{address} given twice");
    }
    assert_eq!(addresses.len(), 20);
    for index in 0..20 {
        net.assert_gone(&format!("many-{index}"));
    }
    assert!(
        net.host().link(&net.bridge).is_none(),
        "bridge {} outlived its last sandbox",
        net.bridge
    );
}

#[test]
fn gc_after_a_sigkilled_enforcer_removes_host_end_chain_and_lease() {
    require!(cannot_run());
    let net = Net::host_only("egress = \"none\"");
    let (mut child, _) = net.spawn_ready(
        &["network=test"],
        &["--id", "crash"],
        "echo ready; sleep 60",
    );
    wait_for("the state to name the process", || {
        !net.harness.state("crash")["process"].is_null()
    });
    let workload = net.harness.pid("crash");
    let host_end = host_interface_name("crash", 0);
    let chain = chain_name("crash");
    let link = net
        .host()
        .link(&host_end)
        .unwrap_or_else(|| panic!("no {host_end}: {:?}", net.host().link_names()));
    assert_eq!(link["master"], net.bridge.as_str(), "{link}");
    assert!(net.host().has_chain(&chain), "{}", net.host().nft_ruleset());
    assert!(
        net.host().nft_tables().contains("table inet enforcer"),
        "{}",
        net.host().nft_tables()
    );
    assert_eq!(net.harness.address_leases().len(), 1);
    // SIGKILL our own child, the enforcer (nsenter execed it).
    child.kill().expect("SIGKILLs the enforcer");
    child.wait().expect("reaps it");
    wait_for("the workload to die with its enforcer", || !alive(workload));
    // Nothing ran the enforcer's clean-up: the chain and the lease stay
    // (the host end goes with the sandbox's namespace, or stays).
    assert!(net.host().has_chain(&chain), "{}", net.host().nft_ruleset());
    assert_eq!(net.harness.address_leases().len(), 1);
    let gc = net.harness.command("gc", &[]);
    gc.expect_code(0);
    assert!(gc.stdout.contains("removed crash"), "{}", gc.stdout);
    net.assert_gone("crash");
}

#[test]
fn ps_json_shows_each_interface_with_its_counters() {
    require!(cannot_run());
    let net = Net::host_only("egress = \"all\"");
    net.detach(
        &["network=test"],
        &["--id", "web"],
        &format!("{BUSYBOX} ping -c3 -W1 {GATEWAY} >/dev/null; sleep 60"),
    );
    let interface = |ps: &serde_json::Value| {
        ps.as_array()
            .and_then(|sandboxes| sandboxes.iter().find(|s| s["id"] == "web"))
            .map(|sandbox| sandbox["interfaces"][0].clone())
            .unwrap_or(serde_json::Value::Null)
    };
    let counted = |value: &serde_json::Value, key: &str| value[key].as_u64().unwrap_or(0) > 0;
    wait_for("traffic on the interface", || {
        let listing = interface(&net.harness.command("ps", &["--json"]).json());
        ["rxBytes", "txBytes", "rxPackets", "txPackets"]
            .iter()
            .all(|key| counted(&listing, key))
    });
    let ps = net.harness.command("ps", &["--json"]);
    ps.expect_code(0);
    let listing = ps.json();
    let interfaces = listing[0]["interfaces"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", ps.stdout));
    assert_eq!(interfaces.len(), 1, "{}", ps.stdout);
    let eth0 = &interfaces[0];
    let host_end = host_interface_name("web", 0);
    assert_eq!(eth0["name"], "eth0");
    assert_eq!(eth0["hostName"], host_end.as_str());
    assert_eq!(eth0["network"], "test");
    assert_eq!(eth0["gateway"], GATEWAY);
    let address = eth0["address"].as_str().unwrap_or_default();
    assert!(is_sandbox_address(address), "{}", ps.stdout);
    for key in ["rxBytes", "txBytes", "rxPackets", "txPackets"] {
        assert!(eth0[key].is_u64(), "{key}: {}", ps.stdout);
    }
    let link = net.host().link(&host_end).expect("the host end");
    assert_eq!(link["master"], net.bridge.as_str(), "{link}");
    assert!(
        link["flags"]
            .as_array()
            .is_some_and(|flags| flags.iter().any(|flag| flag == "UP")),
        "{link}"
    );
    net.harness.command("delete", &["web"]).expect_code(0);
    net.assert_gone("web");
}

#[test]
fn a_failed_step_is_named_and_leaves_nothing_but_the_hosts_own_links() {
    require!(cannot_run());
    let net = Net::host_only("egress = \"none\"");
    // A link of the host's under the name a policy asks for.
    net.host().ip(&[
        "link", "add", "taken0", "type", "veth", "peer", "name", "taken0p",
    ]);
    let run = net.sh(
        &["network=test", "host-name=taken0"],
        &["--id", "clash"],
        "echo started",
    );
    run.expect_code(125).expect_stderr(&[
        "network: make the sandbox's eth0: cannot create veth pair taken0 (host) / eth0 (sandbox)",
        "EEXIST",
    ]);
    assert!(!run.stdout.contains("started"), "{}", run.stdout);
    let taken = net.host().link("taken0").expect("the host's link stays");
    assert_eq!(taken["link"], "taken0p", "the same pair: {taken}");
    net.assert_gone("clash");
    assert!(
        net.host().link(&net.bridge).is_none(),
        "the bridge the run made goes with it: {:?}",
        net.host().link_names()
    );
    assert!(
        net.harness.state_entries().is_empty(),
        "{:?}",
        net.harness.state_entries()
    );
}

#[test]
fn a_bridge_name_held_by_another_kind_of_link_is_refused() {
    require!(cannot_run());
    let net = Net::host_only("egress = \"all\"");
    let peer = format!("{}p", net.bridge);
    net.host().ip(&[
        "link",
        "add",
        &net.bridge,
        "type",
        "veth",
        "peer",
        "name",
        &peer,
    ]);
    let run = net.sh(&["network=test"], &["--id", "notbridge"], "echo started");
    run.expect_code(125)
        .expect_stderr(&["exists and is not a bridge (it is a veth link)"]);
    assert!(!run.stdout.contains("started"), "{}", run.stdout);
    let link = net.host().link(&net.bridge).expect("the host's link stays");
    let addresses = net.host().ip(&["-j", "addr", "show", "dev", &net.bridge]);
    assert!(
        !addresses.contains("192.0.2.1"),
        "left untouched: {addresses}"
    );
    assert_eq!(link["link"], peer.as_str(), "the same pair: {link}");
    net.assert_gone("notbridge");
    net.host().ip(&["link", "delete", &net.bridge]);
}
