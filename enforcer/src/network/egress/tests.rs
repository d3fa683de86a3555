//! Tests against real nftables, each in a fresh network namespace of its
//! own thread (never the machine's): the tables vanish with it.

use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::time::Instant;

use policy_model::decision::{Cidr, EgressRule};
use serde_json::Value;

use super::rules;
use super::*;
use crate::network::test_support;

/// The running test's name (its thread's).
fn test_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("network::egress test")
        .to_string()
}

/// Reports that the test cannot run here and why (counted).
fn skipped(why: &str) {
    test_support::skipped(&test_name(), why);
}

/// Runs `body` in a new thread that first moved into a new network
/// namespace of its own; skips (counted) when that or `nft` is missing.
fn in_netns(body: impl FnOnce() + Send + 'static) {
    if Nft::find().is_err() {
        return skipped("nft is not installed");
    }
    test_support::in_new_namespace(&test_name(), body);
}

/// Runs a command (in the calling thread's namespace), asserting success.
fn sh(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("{program}: {err}"));
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A host end to key rules on: one end of a veth pair (its peer named
/// `<name>p`), in the test's namespace.
fn dummy(name: &str) {
    let peer = format!("{name}p");
    sh(
        "ip",
        &["link", "add", name, "type", "veth", "peer", "name", &peer],
    );
}

/// `nft -j list table <family> enforcer`, `None` when absent.
fn table(family: &str) -> Option<Value> {
    let output = Command::new("nft")
        .args(["-j", "list", "table", family, TABLE])
        .output()
        .expect("nft");
    output
        .status
        .success()
        .then(|| serde_json::from_slice(&output.stdout).expect("json"))
}

fn objects<'a>(document: &'a Value, kind: &str) -> Vec<&'a Value> {
    document["nftables"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|object| object.get(kind))
        .collect()
}

/// The comments of the rules in base chain `chain` of `family`'s table.
fn comments(family: &str, chain: &str) -> Vec<String> {
    let Some(document) = table(family) else {
        return Vec::new();
    };
    objects(&document, "rule")
        .into_iter()
        .filter(|rule| rule["chain"] == chain)
        .map(|rule| rule["comment"].as_str().unwrap_or("").to_string())
        .collect()
}

fn chains(family: &str) -> Vec<String> {
    table(family)
        .map(|document| {
            objects(&document, "chain")
                .into_iter()
                .map(|chain| chain["name"].as_str().expect("name").to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn egress(interface: &str, allow: Vec<EgressRule>) -> InterfaceEgress {
    InterfaceEgress {
        host_interface: interface.to_string(),
        allow,
    }
}

fn some_rules() -> Vec<EgressRule> {
    vec![
        EgressRule::tcp("192.0.2.10", 443),
        EgressRule {
            end_port: Some(5400),
            ..EgressRule::udp("198.51.100.0/24", 5300)
        },
        EgressRule {
            protocol: Some(policy_model::decision::Protocol::Icmp),
            ..EgressRule::to("2001:db8::/32")
        },
        EgressRule::to("203.0.113.0/24"),
    ]
}

#[test]
fn install_makes_tables_chains_and_jumps_and_again_replaces() {
    in_netns(|| {
        dummy("enftest0");
        dummy("enftest1");
        let interfaces = [
            egress("enftest0", some_rules()),
            egress("enftest1", Vec::new()),
        ];
        install("sandbox-a", &interfaces).expect("install");
        let mut names = chains("inet");
        names.sort();
        assert_eq!(
            names,
            ["forward", "input", "postrouting", "prerouting", "sandbox-a"]
        );
        assert_eq!(chains("bridge"), ["prerouting"]);
        for (family, chain) in [
            ("inet", "forward"),
            ("inet", "input"),
            ("inet", "prerouting"),
            ("bridge", "prerouting"),
        ] {
            assert_eq!(
                comments(family, chain),
                ["sandbox-a"; 2],
                "{family} {chain}"
            );
        }
        let text = sh("nft", &["list", "chain", "inet", TABLE, "sandbox-a"]);
        for expected in [
            "ct state established,related accept",
            "ip daddr 192.0.2.10 tcp dport 443 accept",
            "ip daddr 198.51.100.0/24 udp dport 5300-5400 accept",
            "ip6 daddr 2001:db8::/32 meta l4proto ipv6-icmp accept",
            "ip daddr 203.0.113.0/24 accept",
            "icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert } accept",
            "counter packets 0 bytes 0 drop comment \"dropped\"",
        ] {
            assert!(text.contains(expected), "{expected:?} missing in\n{text}");
        }
        let before = text.lines().count();

        // Again, with one interface less and one rule: replaced, no duplicates.
        install(
            "sandbox-a",
            &[egress("enftest0", vec![EgressRule::tcp("192.0.2.10", 80)])],
        )
        .expect("reinstall");
        for (family, chain) in [
            ("inet", "forward"),
            ("inet", "input"),
            ("bridge", "prerouting"),
        ] {
            assert_eq!(comments(family, chain), ["sandbox-a"], "{family} {chain}");
        }
        let text = sh("nft", &["list", "chain", "inet", TABLE, "sandbox-a"]);
        assert!(text.contains("tcp dport 80 accept"), "{text}");
        assert!(!text.contains("443"), "{text}");
        assert!(text.lines().count() < before, "{text}");
        assert_eq!(
            text.lines().filter(|line| line.contains("drop")).count(),
            1,
            "{text}"
        );
        assert_eq!(dropped("sandbox-a").expect("dropped"), Some((0, 0)));
        println!("{}", ruleset_text().expect("text").expect("tables"));
    });
}

#[test]
fn two_sandboxes_coexist_and_the_last_removal_deletes_the_tables() {
    in_netns(|| {
        dummy("enftest0");
        dummy("enftest1");
        install("sandbox-a", &[egress("enftest0", some_rules())]).expect("a");
        install("sandbox-b", &[egress("enftest1", Vec::new())]).expect("b");
        let mut listed = sandbox_chains().expect("chains");
        listed.sort();
        assert_eq!(listed, ["sandbox-a", "sandbox-b"]);

        assert!(remove("sandbox-a").expect("remove a"));
        assert_eq!(sandbox_chains().expect("chains"), ["sandbox-b"]);
        assert_eq!(comments("inet", "forward"), ["sandbox-b"]);
        assert_eq!(comments("bridge", "prerouting"), ["sandbox-b"]);
        assert!(!remove("sandbox-a").expect("again"), "absent: false");
        assert_eq!(dropped("sandbox-a").expect("dropped"), None);

        assert!(remove("sandbox-b").expect("remove b"));
        assert!(table("inet").is_none(), "inet table left");
        assert!(table("bridge").is_none(), "bridge table left");
        assert!(!remove("sandbox-b").expect("no table"));
        assert!(sandbox_chains().expect("none").is_empty());
    });
}

#[test]
fn masquerade_is_idempotent_and_keeps_the_table_alive() {
    in_netns(|| {
        dummy("enftest0");
        let subnet = Cidr::parse("192.0.2.0/24").expect("subnet");
        set_masquerade("web", subnet, "enfbr0").expect("set");
        set_masquerade("web", subnet, "enfbr0").expect("set again");
        set_masquerade("v6", Cidr::parse("2001:db8:1::/64").expect("v6"), "enfbr1").expect("v6");
        assert_eq!(comments("inet", "postrouting"), ["web", "v6"]);
        let text = sh("nft", &["list", "chain", "inet", TABLE, "postrouting"]);
        assert!(
            text.contains("ip saddr 192.0.2.0/24 oifname != \"enfbr0\" masquerade comment \"web\""),
            "{text}"
        );
        assert!(
            text.contains("ip6 saddr 2001:db8:1::/64 oifname != \"enfbr1\" masquerade"),
            "{text}"
        );

        install("sandbox-a", &[egress("enftest0", Vec::new())]).expect("install");
        assert!(remove("sandbox-a").expect("remove"));
        assert!(
            table("inet").is_some(),
            "the masquerade rules keep the table"
        );
        assert!(remove_masquerade("web").expect("remove web"));
        assert!(!remove_masquerade("web").expect("again"));
        assert!(table("inet").is_some());
        assert!(remove_masquerade("v6").expect("remove v6"));
        assert!(table("inet").is_none(), "the last thing deletes the table");
        assert!(!remove_masquerade("v6").expect("no table"));
    });
}

#[test]
fn a_bad_rule_is_refused_naming_it_and_nothing_is_applied() {
    in_netns(|| {
        dummy("enftest0");
        let bad = EgressRule::tcp("192.0.2.1/24", 443);
        let err = install(
            "sandbox-a",
            &[egress("enftest0", vec![EgressRule::to("192.0.2.9"), bad])],
        )
        .expect_err("host bits");
        let message = err.to_string();
        assert!(message.contains("egress rule 1 of enftest0"), "{message}");
        assert!(message.contains("192.0.2.1/24"), "{message}");
        assert!(
            table("inet").is_none() && table("bridge").is_none(),
            "applied"
        );

        install(
            "sandbox-a",
            &[egress("enftest0", vec![EgressRule::tcp("192.0.2.9", 22)])],
        )
        .expect("good");
        let before = ruleset_text().expect("text");
        for interfaces in [
            vec![egress(
                "enftest0",
                vec![EgressRule {
                    end_port: Some(10),
                    ..EgressRule::tcp("192.0.2.9", 20)
                }],
            )],
            vec![egress(
                "enftest0",
                vec![EgressRule {
                    port: Some(53),
                    ..EgressRule::to("192.0.2.9")
                }],
            )],
            vec![egress("missing0", Vec::new())],
            vec![egress("bad name", Vec::new())],
        ] {
            let err = install("sandbox-a", &interfaces).expect_err("refused");
            assert!(!err.to_string().is_empty());
            assert_eq!(ruleset_text().expect("text"), before, "changed after {err}");
        }
        for chain in ["forward", "bad chain", ""] {
            assert!(
                matches!(install(chain, &[]), Err(EgressError::Name { .. })),
                "{chain:?}"
            );
        }
        assert_eq!(ruleset_text().expect("text"), before);
    });
}

#[test]
fn a_stale_listing_never_deletes_a_sandbox_added_meanwhile() {
    in_netns(|| {
        dummy("enftest0");
        dummy("enftest1");
        let nft = Nft::find().expect("nft");
        nft.install("sandbox-a", &[egress("enftest0", Vec::new())])
            .expect("a");
        // What remove("sandbox-a") would apply, from a listing taken now.
        let listing = nft.listing().expect("listing");
        let tables = nft::tables_to_delete(&listing, Some("sandbox-a"), None);
        assert!(tables.is_some(), "sandbox-a is the last thing");
        let stale = rules::remove_batch("sandbox-a", true, &listing.jumps("sandbox-a"), tables);
        // Meanwhile another enforcer adds sandbox-b.
        nft.install("sandbox-b", &[egress("enftest1", Vec::new())])
            .expect("b");
        assert!(
            nft.apply("stale removal", &stale).is_err(),
            "stale batch applied"
        );
        assert_eq!(chains("inet").len(), 6, "{:?}", chains("inet"));
        // The real remove lists again: sandbox-b stays.
        assert!(nft.remove("sandbox-a").expect("remove"));
        assert_eq!(nft.sandbox_chains().expect("chains"), ["sandbox-b"]);
    });
}

#[test]
fn a_missing_nft_gives_the_clear_error() {
    let empty = tempfile::tempdir().expect("tempdir");
    let err = Nft::find_in(Some(empty.path().as_os_str()), &[]).expect_err("no nft");
    assert_eq!(
        err.to_string(),
        "nftables' `nft` is not installed (Debian: apt-get install nftables); networks with egress rules need it"
    );
    assert!(Nft::find_in(None, &[]).is_err());
    let missing = empty.path().join("nft");
    let missing = missing.to_str().expect("utf-8");
    assert!(Nft::find_in(Some(empty.path().as_os_str()), &[missing]).is_err());
    // A non-executable file named nft is not nft.
    std::fs::write(empty.path().join("nft"), "").expect("write");
    assert!(Nft::find_in(Some(empty.path().as_os_str()), &[]).is_err());
}

#[test]
fn timing_of_install_and_remove() {
    in_netns(|| {
        dummy("enftest0");
        let interfaces = [egress("enftest0", some_rules())];
        let start = Instant::now();
        install("sandbox-a", &interfaces).expect("install");
        let first = start.elapsed();
        let start = Instant::now();
        install("sandbox-a", &interfaces).expect("reinstall");
        let again = start.elapsed();
        let start = Instant::now();
        assert!(remove("sandbox-a").expect("remove"));
        let removal = start.elapsed();
        println!("nft timing: install {first:?}, reinstall {again:?}, remove {removal:?}");
    });
}

/// Processes a test started, killed and reaped by pid when dropped (also
/// on failure); their network namespaces go with them.
struct Children(Vec<std::process::Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Children {
    /// A process holding a new network namespace; its pid.
    fn namespace(&mut self) -> u32 {
        let child = Command::new("unshare")
            .args(["--net", "--", "sleep", "60"])
            .spawn()
            .expect("unshare");
        let pid = child.id();
        self.0.push(child);
        // Wait until it is in its own namespace.
        let own = test_support::namespace_id("/proc/thread-self/ns/net").1;
        for _ in 0..200 {
            if std::fs::metadata(format!("/proc/{pid}/ns/net"))
                .map(|meta| meta.ino())
                .ok()
                != Some(own)
            {
                return pid;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("process {pid} did not enter a new network namespace");
    }
}

/// Runs `ip args...` inside the network namespace of `pid`.
fn ip_in(pid: u32, args: &[&str]) {
    let net = format!("--net=/proc/{pid}/ns/net");
    let mut full = vec![net.as_str(), "ip"];
    full.extend_from_slice(args);
    sh("nsenter", &full);
}

/// Whether a TCP connect from `pid`'s namespace to `address:port` succeeds.
fn connects(pid: u32, address: &str, port: u16) -> bool {
    let script = format!(
        "import socket\nsocket.create_connection(('{address}', {port}), timeout=1.5).close()"
    );
    Command::new("nsenter")
        .args([
            &format!("--net=/proc/{pid}/ns/net"),
            "python3",
            "-c",
            &script,
        ])
        .stderr(std::process::Stdio::null())
        .status()
        .expect("python3")
        .success()
}

/// The real thing, over a bridge as the enforcer wires it: a "sandbox"
/// namespace whose veth's host end is a port of bridge `enfbr0` in this
/// test's "host" namespace, routed to an "outside" namespace with a
/// listener on two ports. With one port allowed, the sandbox connects to
/// it and not to the other nor to the host's own services (IPv4 and
/// IPv6), the drop counter counts the refusals, and IPv6 to the gateway
/// works when allowed (neighbour discovery passes).
#[test]
fn traffic_through_a_bridge_port_is_filtered() {
    in_netns(|| {
        if Command::new("python3").arg("-V").output().is_err() {
            return skipped("python3 is not installed");
        }
        let mut children = Children(Vec::new());
        let sandbox = children.namespace();
        let outside = children.namespace();
        sh("sysctl", &["-qw", "net.ipv4.ip_forward=1"]);
        sh("ip", &["link", "add", "enfbr0", "type", "bridge"]);
        sh("ip", &["addr", "add", "192.0.2.1/24", "dev", "enfbr0"]);
        sh("ip", &["link", "set", "enfbr0", "up"]);
        let (sandbox_ns, outside_ns) = (sandbox.to_string(), outside.to_string());
        sh(
            "ip",
            &[
                "link",
                "add",
                "enfh0",
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                &sandbox_ns,
            ],
        );
        sh("ip", &["link", "set", "enfh0", "master", "enfbr0", "up"]);
        ip_in(sandbox, &["addr", "add", "192.0.2.2/24", "dev", "eth0"]);
        ip_in(sandbox, &["link", "set", "eth0", "up"]);
        ip_in(sandbox, &["link", "set", "lo", "up"]);
        ip_in(sandbox, &["route", "add", "default", "via", "192.0.2.1"]);
        sh(
            "ip",
            &[
                "link",
                "add",
                "enfo0",
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                &outside_ns,
            ],
        );
        sh("ip", &["addr", "add", "198.51.100.1/24", "dev", "enfo0"]);
        sh("ip", &["link", "set", "enfo0", "up"]);
        ip_in(outside, &["addr", "add", "198.51.100.2/24", "dev", "eth0"]);
        ip_in(outside, &["link", "set", "eth0", "up"]);
        ip_in(outside, &["route", "add", "default", "via", "198.51.100.1"]);
        let listener = "import socket, select\n\
            socks = []\n\
            for port in (8080, 8081):\n    \
                s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n    \
                s.bind(('198.51.100.2', port)); s.listen(16); socks.append(s)\n\
            print('ready', flush=True)\n\
            while True:\n    \
                for s in select.select(socks, [], [])[0]:\n        \
                    s.accept()[0].close()\n";
        let mut server = Command::new("nsenter")
            .args([
                &format!("--net=/proc/{outside}/ns/net"),
                "python3",
                "-c",
                listener,
            ])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("listener");
        let mut ready = String::new();
        let stdout = server.stdout.take().expect("stdout");
        children.0.push(server);
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut ready)
            .expect("ready");
        assert_eq!(ready.trim(), "ready");

        // The host's own services, on IPv4 and IPv6 (the bridge's addresses).
        sh(
            "ip",
            &["addr", "add", "2001:db8::1/64", "dev", "enfbr0", "nodad"],
        );
        ip_in(
            sandbox,
            &["addr", "add", "2001:db8::2/64", "dev", "eth0", "nodad"],
        );
        let host_listener = "import socket, select\n\
            a = socket.socket(); a.bind(('192.0.2.1', 8082)); a.listen(16)\n\
            b = socket.socket(socket.AF_INET6); b.bind(('2001:db8::1', 8083)); b.listen(16)\n\
            print('ready', flush=True)\n\
            while True:\n    \
                for s in select.select([a, b], [], [])[0]:\n        \
                    s.accept()[0].close()\n";
        let mut host = Command::new("python3")
            .args(["-c", host_listener])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("host listener");
        let host_stdout = host.stdout.take().expect("stdout");
        children.0.push(host);
        let mut ready = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(host_stdout), &mut ready)
            .expect("ready");
        assert_eq!(ready.trim(), "ready");
        assert!(
            connects(sandbox, "192.0.2.1", 8082),
            "host unreachable before rules"
        );
        assert!(
            connects(sandbox, "2001:db8::1", 8083),
            "host v6 unreachable before rules"
        );

        // Without rules both ports answer (the wiring works).
        assert!(
            connects(sandbox, "198.51.100.2", 8080),
            "no route before rules"
        );
        assert!(
            connects(sandbox, "198.51.100.2", 8081),
            "no route before rules"
        );

        install(
            "sandbox-t",
            &[egress("enfh0", vec![EgressRule::tcp("198.51.100.2", 8080)])],
        )
        .expect("install");
        assert!(
            connects(sandbox, "198.51.100.2", 8080),
            "allowed port refused"
        );
        assert!(
            !connects(sandbox, "198.51.100.2", 8081),
            "other port reached"
        );
        assert!(
            !connects(sandbox, "192.0.2.1", 8082),
            "the host's service reached"
        );
        assert!(
            !connects(sandbox, "2001:db8::1", 8083),
            "the host's v6 service reached"
        );
        let (packets, _) = dropped("sandbox-t").expect("dropped").expect("chain");
        assert!(packets > 0, "the drop counted nothing");

        // IPv6 to the gateway works when allowed: neighbour discovery passes.
        install(
            "sandbox-t",
            &[egress("enfh0", vec![EgressRule::tcp("2001:db8::1", 8083)])],
        )
        .expect("v6");
        // Forget the neighbours, so the connection needs neighbour discovery.
        ip_in(sandbox, &["-6", "neigh", "flush", "dev", "eth0"]);
        sh("ip", &["-6", "neigh", "flush", "dev", "enfbr0"]);
        assert!(connects(sandbox, "2001:db8::1", 8083), "allowed v6 refused");
        assert!(!connects(sandbox, "192.0.2.1", 8082), "v4 host reached");

        // Nothing allowed: not even the allowed port, nor the host itself.
        install("sandbox-t", &[egress("enfh0", Vec::new())]).expect("none");
        assert!(
            !connects(sandbox, "198.51.100.2", 8080),
            "egress none leaked"
        );
        assert!(remove("sandbox-t").expect("remove"));
        assert!(
            connects(sandbox, "198.51.100.2", 8081),
            "removal left a drop"
        );
    });
}
