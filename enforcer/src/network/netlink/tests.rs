//! The client against the real kernel, each test inside network namespaces
//! it creates: a fresh thread `unshare(CLONE_NEWNET)`s first (checking its
//! namespace is no longer the process's), and everything in it vanishes
//! with the thread. The machine's own namespace is never touched.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, UdpSocket};
use std::os::fd::AsFd;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use nix::errno::Errno;

use super::*;
use crate::network::test_support::{in_new_namespace, namespace_id, unshare_network};

const HOST: &str = "enft-host0";
const PEER: &str = "enft-peer0";
const BRIDGE: &str = "enft-br0";

const HOST_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const PEER_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const HOST_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const PEER_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);

/// The calling thread's network namespace.
fn thread_namespace() -> (u64, u64) {
    namespace_id("/proc/thread-self/ns/net")
}

fn open() -> Netlink {
    Netlink::open().expect("open a netlink socket")
}

fn link(netlink: &mut Netlink, name: &str) -> Link {
    netlink
        .link(name)
        .expect("look up the link")
        .unwrap_or_else(|| panic!("no link {name}"))
}

#[test]
fn veth_pair_is_created_and_looked_up() {
    in_new_namespace("veth_pair_is_created_and_looked_up", || {
        let mut netlink = open();
        assert_eq!(netlink.link(HOST).expect("look up"), None);
        netlink
            .create_veth(HOST, PEER, None)
            .expect("create the pair");
        let host = link(&mut netlink, HOST);
        let peer = link(&mut netlink, PEER);
        assert_eq!(host.kind.as_deref(), Some("veth"), "{host:?}");
        assert_eq!(peer.kind.as_deref(), Some("veth"), "{peer:?}");
        assert_eq!(host.name, HOST);
        assert!(
            !host.up && !peer.up,
            "a new pair is down: {host:?} {peer:?}"
        );
        assert_eq!(host.master, None);
        assert_ne!(host.index, peer.index);
        let links = netlink.links().expect("dump links");
        let names: Vec<&str> = links.iter().map(|link| link.name.as_str()).collect();
        assert!(
            names.contains(&"lo") && names.contains(&HOST) && names.contains(&PEER),
            "{names:?}"
        );
        assert!(links.contains(&host), "{links:?}");
        let lo = links.iter().find(|link| link.name == "lo").expect("lo");
        assert_eq!(lo.kind, None, "{lo:?}");
    });
}

#[test]
fn veth_pair_takes_the_mtu() {
    in_new_namespace("veth_pair_takes_the_mtu", || {
        let mut netlink = open();
        netlink
            .create_veth(HOST, PEER, Some(1400))
            .expect("create the pair");
        assert_eq!(link(&mut netlink, HOST).mtu, 1400);
        assert_eq!(link(&mut netlink, PEER).mtu, 1400);
    });
}

#[test]
fn a_name_taken_is_eexist() {
    in_new_namespace("a_name_taken_is_eexist", || {
        let mut netlink = open();
        netlink
            .create_veth(HOST, PEER, None)
            .expect("create the pair");
        let error = netlink
            .create_veth(HOST, PEER, None)
            .expect_err("a second pair");
        assert!(error.is_exists(), "{error}");
        assert_eq!(
            error.to_string(),
            format!("cannot create veth pair {HOST}/{PEER}: EEXIST: File exists")
        );
        let error = netlink
            .create_veth("enft-other", PEER, None)
            .expect_err("a taken peer name");
        assert!(error.is_exists(), "{error}");
        assert_eq!(
            netlink.link("enft-other").expect("look up"),
            None,
            "nothing left behind"
        );
        netlink
            .create_bridge(BRIDGE, None)
            .expect("create the bridge");
        let error = netlink
            .create_bridge(BRIDGE, None)
            .expect_err("a second bridge");
        assert!(error.is_exists(), "{error}");
        let error = netlink
            .create_bridge(HOST, None)
            .expect_err("a bridge with a veth's name");
        assert!(error.is_exists(), "{error}");
    });
}

#[test]
fn bridge_is_created_and_takes_a_master() {
    in_new_namespace("bridge_is_created_and_takes_a_master", || {
        let mut netlink = open();
        netlink
            .create_bridge(BRIDGE, Some(1450))
            .expect("create the bridge");
        let bridge = link(&mut netlink, BRIDGE);
        assert_eq!(bridge.kind.as_deref(), Some("bridge"), "{bridge:?}");
        assert_eq!(bridge.mtu, 1450);
        netlink
            .create_veth(HOST, PEER, None)
            .expect("create the pair");
        netlink.set_master(HOST, BRIDGE).expect("attach");
        assert_eq!(link(&mut netlink, HOST).master, Some(bridge.index));
        assert_eq!(link(&mut netlink, PEER).master, None);
        netlink.clear_master(HOST).expect("detach");
        assert_eq!(link(&mut netlink, HOST).master, None);

        let error = netlink
            .set_master(HOST, "enft-nobridge")
            .expect_err("a missing bridge");
        assert!(error.is_not_found(), "{error}");
        assert!(error.what.contains("enft-nobridge"), "{error}");
        let error = netlink
            .set_master("enft-nolink", BRIDGE)
            .expect_err("a missing link");
        assert!(error.is_not_found(), "{error}");
        // A master that is not a bridge: the kernel's answer.
        let error = netlink
            .set_master(HOST, PEER)
            .expect_err("a veth as master");
        eprintln!("a veth as master: {error}");
        assert_eq!(link(&mut netlink, HOST).master, None);
    });
}

#[test]
fn rename_mtu_and_up() {
    in_new_namespace("rename_mtu_and_up", || {
        let mut netlink = open();
        netlink
            .create_veth(HOST, PEER, None)
            .expect("create the pair");
        let before = link(&mut netlink, PEER);
        netlink.rename(PEER, "eth0").expect("rename");
        assert_eq!(netlink.link(PEER).expect("look up"), None);
        let renamed = link(&mut netlink, "eth0");
        assert_eq!(renamed.index, before.index);
        netlink.set_mtu("eth0", 1280).expect("set the MTU");
        assert_eq!(link(&mut netlink, "eth0").mtu, 1280);
        netlink.set_up("eth0").expect("set up");
        assert!(link(&mut netlink, "eth0").up);
        netlink.set_down("eth0").expect("set down");
        assert!(!link(&mut netlink, "eth0").up);
        netlink.set_up("lo").expect("set lo up");
        assert!(link(&mut netlink, "lo").up);

        let error = netlink
            .rename("enft-nolink", "eth1")
            .expect_err("rename a missing link");
        assert!(error.is_not_found(), "{error}");
        let error = netlink
            .rename(HOST, "eth0")
            .expect_err("rename onto a taken name");
        assert!(error.is_exists(), "{error}");
        let error = netlink
            .set_up("enft-nolink")
            .expect_err("set a missing link up");
        assert!(error.is_not_found(), "{error}");
        let error = netlink
            .set_mtu(HOST, 10)
            .expect_err("an MTU below the minimum");
        assert_eq!(error.errno, Errno::EINVAL, "{error}");
        // Renaming a link that is up: the kernel's answer.
        netlink.set_up("eth0").expect("set up");
        match netlink.rename("eth0", "eth1") {
            Ok(()) => eprintln!("renaming a link that is up: allowed"),
            Err(error) => eprintln!("renaming a link that is up: {error}"),
        }
    });
}

#[test]
fn addresses_v4_and_v6() {
    in_new_namespace("addresses_v4_and_v6", || {
        let mut netlink = open();
        netlink
            .create_veth(HOST, PEER, None)
            .expect("create the pair");
        netlink
            .add_address(HOST, HOST_V4.into(), 24)
            .expect("add the IPv4 address");
        netlink
            .add_address(HOST, HOST_V6.into(), 64)
            .expect("add the IPv6 address");
        let addresses = netlink.addresses(HOST).expect("list");
        assert!(addresses.contains(&(HOST_V4.into(), 24)), "{addresses:?}");
        assert!(addresses.contains(&(HOST_V6.into(), 64)), "{addresses:?}");
        assert_eq!(netlink.addresses(PEER).expect("list the peer's"), vec![]);

        let error = netlink
            .add_address(HOST, HOST_V4.into(), 24)
            .expect_err("a duplicate");
        assert!(error.is_exists(), "{error}");
        let error = netlink
            .add_address(HOST, HOST_V4.into(), 33)
            .expect_err("prefix 33");
        assert_eq!(error.errno, Errno::EINVAL, "{error}");
        let error = netlink
            .add_address(HOST, HOST_V6.into(), 129)
            .expect_err("prefix 129");
        assert_eq!(error.errno, Errno::EINVAL, "{error}");
        let error = netlink
            .add_address("enft-nolink", PEER_V4.into(), 24)
            .expect_err("a missing link");
        assert!(error.is_not_found(), "{error}");
        let error = netlink
            .addresses("enft-nolink")
            .expect_err("a missing link");
        assert!(error.is_not_found(), "{error}");
    });
}

#[test]
fn ipv6_address_is_usable_at_once() {
    in_new_namespace("ipv6_address_is_usable_at_once", || {
        let mut netlink = open();
        netlink
            .create_veth(HOST, PEER, None)
            .expect("create the pair");
        netlink.set_up(PEER).expect("up");
        netlink.set_up(HOST).expect("up");
        netlink.add_address(HOST, HOST_V6.into(), 64).expect("add");
        // Not tentative: a socket binds to it at once (EADDRNOTAVAIL
        // while duplicate address detection runs).
        UdpSocket::bind((HOST_V6, 0)).expect("bind to the new IPv6 address");
    });
}

/// The default route's line of `/proc/thread-self/net/route` (this
/// thread's namespace): the gateway in the kernel's hex.
fn proc_default_gateway() -> Option<String> {
    let table = std::fs::read_to_string("/proc/thread-self/net/route")
        .expect("read /proc/thread-self/net/route");
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields.get(1) == Some(&"00000000") && fields.get(7) == Some(&"00000000"))
            .then(|| fields.get(2).map(|gateway| gateway.to_string()))
            .flatten()
    })
}

#[test]
fn default_route_v4_and_v6() {
    in_new_namespace("default_route_v4_and_v6", || {
        let mut netlink = open();
        assert_eq!(proc_default_gateway(), None);
        let error = netlink
            .add_default_route(HOST_V4.into())
            .expect_err("a gateway no link reaches");
        eprintln!("an unreachable gateway: {error}");
        assert_eq!(error.errno, Errno::ENETUNREACH, "{error}");

        netlink
            .create_veth(HOST, PEER, None)
            .expect("create the pair");
        netlink.add_address(PEER, PEER_V4.into(), 24).expect("add");
        netlink.add_address(PEER, PEER_V6.into(), 64).expect("add");
        netlink.set_up(PEER).expect("up");
        netlink
            .add_default_route(HOST_V4.into())
            .expect("the IPv4 default route");
        netlink
            .add_default_route(HOST_V6.into())
            .expect("the IPv6 default route");
        let error = netlink
            .add_default_route(HOST_V4.into())
            .expect_err("a second default");
        assert!(error.is_exists(), "{error}");

        let peer = link(&mut netlink, PEER);
        let routes = netlink.routes().expect("dump routes");
        let defaults: Vec<&Route> = routes
            .iter()
            .filter(|route| route.is_default() && route.table == route::MAIN_TABLE)
            .collect();
        assert!(
            defaults
                .iter()
                .any(|route| route.gateway == Some(HOST_V4.into())
                    && route.destination == IpAddr::from([0u8; 4])
                    && route.interface == Some(peer.index)),
            "{routes:#?}"
        );
        assert!(
            defaults
                .iter()
                .any(|route| route.gateway == Some(HOST_V6.into())
                    && route.destination == IpAddr::from([0u8; 16])
                    && route.interface == Some(peer.index)),
            "{routes:#?}"
        );
        // The kernel's own view, little-endian hex: 192.0.2.1 = 010200C0.
        assert_eq!(proc_default_gateway().as_deref(), Some("010200C0"));
    });
}

#[test]
fn delete_then_not_there() {
    in_new_namespace("delete_then_not_there", || {
        let mut netlink = open();
        netlink
            .create_veth(HOST, PEER, None)
            .expect("create the pair");
        netlink
            .create_bridge(BRIDGE, None)
            .expect("create the bridge");
        assert!(netlink.delete_link(HOST).expect("delete"));
        assert_eq!(netlink.link(HOST).expect("look up"), None);
        assert_eq!(
            netlink.link(PEER).expect("look up"),
            None,
            "the peer goes with it"
        );
        assert!(!netlink.delete_link(HOST).expect("delete again"));
        assert!(!netlink.delete_link(PEER).expect("delete the peer"));
        assert!(netlink.delete_link(BRIDGE).expect("delete the bridge"));
        assert!(
            !netlink
                .delete_link(BRIDGE)
                .expect("delete the bridge again")
        );
        let names: Vec<String> = netlink
            .links()
            .expect("dump")
            .into_iter()
            .map(|link| link.name)
            .collect();
        assert_eq!(names, vec!["lo".to_string()]);
    });
}

#[test]
fn bad_names_are_refused_before_any_request() {
    in_new_namespace("bad_names_are_refused_before_any_request", || {
        let mut netlink = open();
        let long = "enft-0123456789a"; // 16 bytes
        for bad in [
            "", long, "a/b", "a b", "a\tb", "a\nb", "a\0b", ".", "..", "a:b", "a\u{b}b",
            "a\u{a0}b", "\u{e0}",
        ] {
            let refused = [
                netlink.create_veth(bad, PEER, None).err(),
                netlink.create_veth(HOST, bad, None).err(),
                netlink.create_bridge(bad, None).err(),
                netlink.link(bad).err(),
                netlink.delete_link(bad).err(),
                netlink.rename(bad, "eth0").err(),
                netlink.set_up(bad).err(),
                netlink.set_mtu(bad, 1500).err(),
                netlink.set_master(bad, BRIDGE).err(),
                netlink.set_master(HOST, bad).err(),
                netlink.move_to_namespace_of(bad, 1).err(),
                netlink.add_address(bad, PEER_V4.into(), 24).err(),
                netlink.addresses(bad).err(),
                netlink.stats(bad).err(),
            ];
            for (step, error) in refused.into_iter().enumerate() {
                let error = error.unwrap_or_else(|| panic!("{bad:?} accepted at step {step}"));
                assert_eq!(error.errno, Errno::EINVAL, "{bad:?} step {step}: {error}");
                assert!(
                    error.what.contains(&format!("{bad:?}")),
                    "{bad:?} step {step}: {error}"
                );
            }
        }
        let error = netlink.rename(HOST, long).expect_err("a long new name");
        assert!(error.what.contains("16 bytes"), "{error}");
        netlink
            .create_veth("enft-0123456789", PEER, None)
            .expect("15 bytes is fine");
        let names: Vec<String> = netlink
            .links()
            .expect("dump")
            .into_iter()
            .map(|link| link.name)
            .collect();
        assert_eq!(names.len(), 3, "only lo and the one good pair: {names:?}");
    });
}

#[test]
fn stats_are_readable() {
    in_new_namespace("stats_are_readable", || {
        let mut netlink = open();
        assert_eq!(netlink.stats(HOST).expect("stats of nothing"), None);
        netlink
            .create_veth(HOST, PEER, None)
            .expect("create the pair");
        let stats = netlink.stats(HOST).expect("stats").expect("some stats");
        assert_eq!(stats, LinkStats::default(), "a new pair has sent nothing");
        let json = serde_json::to_value(stats).expect("serialize");
        assert_eq!(json["rxBytes"], 0, "{json}");
        assert_eq!(json["txPackets"], 0, "{json}");
    });
}

#[test]
fn dumps_span_many_datagrams_and_a_small_buffer_grows() {
    in_new_namespace("dumps_span_many_datagrams_and_a_small_buffer_grows", || {
        let mut netlink = open();
        const PAIRS: usize = 60;
        for index in 0..PAIRS {
            netlink
                .create_veth(&format!("enft-h{index}"), &format!("enft-p{index}"), None)
                .expect("create a pair");
        }
        // A buffer far smaller than one link message: every read grows it.
        netlink.buffer = Vec::new();
        let links = netlink.links().expect("dump");
        assert_eq!(links.len(), 2 * PAIRS + 1, "every pair and lo");
        for index in 0..PAIRS {
            assert!(
                links
                    .iter()
                    .any(|link| link.name == format!("enft-p{index}")),
                "enft-p{index}"
            );
        }
        netlink.buffer = Vec::new();
        assert_eq!(link(&mut netlink, "enft-h7").kind.as_deref(), Some("veth"));
        // A dump of many addresses, too.
        for host in 1..=200u8 {
            netlink
                .add_address("enft-h0", Ipv4Addr::new(198, 51, 100, host).into(), 24)
                .expect("add");
        }
        assert_eq!(netlink.addresses("enft-h0").expect("list").len(), 200);
    });
}

#[test]
fn moving_into_the_namespace_of_a_missing_process_fails() {
    in_new_namespace(
        "moving_into_the_namespace_of_a_missing_process_fails",
        || {
            let mut netlink = open();
            netlink
                .create_veth(HOST, PEER, None)
                .expect("create the pair");
            let error = netlink
                .move_to_namespace_of(PEER, i32::MAX)
                .expect_err("no such process");
            eprintln!("moving into a missing process's namespace: {error}");
            assert_eq!(error.errno, Errno::ESRCH, "{error}");
            assert!(error.what.contains(PEER), "{error}");
            let error = netlink
                .move_to_namespace_of(PEER, -1)
                .expect_err("a negative pid");
            assert_eq!(error.errno, Errno::EINVAL, "{error}");
            assert!(netlink.link(PEER).expect("look up").is_some(), "still here");
        },
    );
}

#[test]
fn opening_the_namespace_of_a_missing_process_is_not_found() {
    let error = Netlink::open_in_namespace_of(i32::MAX).expect_err("no such process");
    assert!(error.is_not_found(), "{error}");
    assert!(
        error.what.contains(&format!("/proc/{}/ns/net", i32::MAX)),
        "{error}"
    );
}

/// A process this test started, killed and reaped when the test ends,
/// also on failure.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `sleep 30` started from a thread in a second new network namespace:
/// the child inherits that namespace.
fn child_in_new_namespace(test: &str) -> Option<ChildGuard> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                if !unshare_network(test) {
                    return None;
                }
                let child = Command::new("sleep")
                    .arg("30")
                    .spawn()
                    .expect("start sleep");
                Some(ChildGuard(child))
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Waits until `check` holds, for up to 5 seconds.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_peer_moved_into_another_namespace_is_set_up_there() {
    let test = "a_peer_moved_into_another_namespace_is_set_up_there";
    in_new_namespace(test, || {
        let Some(child) = child_in_new_namespace(test) else {
            return;
        };
        let pid = i32::try_from(child.0.id()).expect("a pid");
        let mine = thread_namespace();
        let theirs = namespace_id(&format!("/proc/{pid}/ns/net"));
        assert_ne!(theirs, mine);
        assert_ne!(theirs, namespace_id("/proc/self/ns/net"));

        let started = Instant::now();
        let mut host = open();
        host.create_veth(HOST, PEER, None).expect("create the pair");
        let created = started.elapsed();
        host.move_to_namespace_of(PEER, pid).expect("move the peer");
        let moved_at = started.elapsed();
        assert_eq!(host.link(PEER).expect("look up"), None, "gone from here");

        let mut sandbox = Netlink::open_in_namespace_of(pid).expect("open a socket there");
        let opened = started.elapsed();
        assert_eq!(
            thread_namespace(),
            mine,
            "the calling thread stays where it was"
        );
        let moved = link(&mut sandbox, PEER);
        assert_eq!(moved.kind.as_deref(), Some("veth"), "{moved:?}");
        sandbox.rename(PEER, "eth0").expect("rename");
        sandbox
            .add_address("eth0", PEER_V4.into(), 24)
            .expect("add the IPv4 address");
        sandbox
            .add_address("eth0", PEER_V6.into(), 64)
            .expect("add the IPv6 address");
        sandbox.set_up("lo").expect("lo up");
        sandbox.set_up("eth0").expect("eth0 up");
        sandbox
            .add_default_route(HOST_V4.into())
            .expect("the default route");
        // The host end is still down (no carrier here): IPv6 takes it too.
        sandbox
            .add_default_route(HOST_V6.into())
            .expect("the IPv6 default route");
        host.add_address(HOST, HOST_V4.into(), 24)
            .expect("the host end's address");
        host.set_up(HOST).expect("the host end up");
        let elapsed = started.elapsed();
        eprintln!(
            "pair, move, open there, rename, 2 addresses, 2 ups, 2 routes, host address and up: {elapsed:?} \
             (pair created at {created:?}, moved at {moved_at:?}, socket there at {opened:?})"
        );

        let eth0 = link(&mut sandbox, "eth0");
        assert!(eth0.up, "{eth0:?}");
        assert!(link(&mut sandbox, "lo").up);
        let addresses = sandbox.addresses("eth0").expect("list");
        assert!(addresses.contains(&(PEER_V4.into(), 24)), "{addresses:?}");
        assert!(addresses.contains(&(PEER_V6.into(), 64)), "{addresses:?}");
        let routes = sandbox.routes().expect("dump routes there");
        for gateway in [IpAddr::from(HOST_V4), IpAddr::from(HOST_V6)] {
            assert!(
                routes
                    .iter()
                    .any(|route| route.is_default() && route.gateway == Some(gateway)),
                "{gateway}: {routes:#?}"
            );
        }
        assert!(
            host.routes()
                .expect("dump routes here")
                .iter()
                .all(|route| !route.is_default())
        );

        // Traffic between the namespaces shows in both ends' counters: a
        // UDP datagram from this thread's namespace to the sandbox's
        // address (nothing listens: the kernel there answers ICMP).
        let before = host.stats(HOST).expect("stats").expect("some stats");
        let socket = UdpSocket::bind((HOST_V4, 0)).expect("bind here");
        socket.send_to(b"ping", (PEER_V4, 9)).expect("send");
        eventually("the datagram to arrive", || {
            let stats = sandbox.stats("eth0").expect("stats").expect("some stats");
            stats.rx_packets > 0 && stats.rx_bytes > 0
        });
        let after = host.stats(HOST).expect("stats").expect("some stats");
        assert!(after.tx_packets > before.tx_packets, "{before:?} {after:?}");
        assert!(after.tx_bytes > before.tx_bytes, "{before:?} {after:?}");

        // The host end's name is still free in the sandbox, the sandbox's
        // is unknown here.
        assert_eq!(sandbox.link(HOST).expect("look up"), None);
        assert_eq!(host.link("eth0").expect("look up"), None);
        drop(child);
    });
}

#[test]
fn typical_call_takes() {
    in_new_namespace("typical_call_takes", || {
        let mut netlink = open();
        netlink
            .create_veth(HOST, PEER, None)
            .expect("create the pair");
        const CALLS: u32 = 200;
        let started = Instant::now();
        for _ in 0..CALLS {
            netlink.link(HOST).expect("look up");
        }
        let lookup = started.elapsed() / CALLS;
        let started = Instant::now();
        for index in 0..20 {
            netlink
                .create_veth(&format!("enft-t{index}"), &format!("enft-u{index}"), None)
                .expect("create");
        }
        let create = started.elapsed() / 20;
        eprintln!("link lookup: {lookup:?}; veth pair creation: {create:?}");
        assert!(lookup < Duration::from_millis(50), "{lookup:?}");
    });
}

#[test]
fn a_namespace_file_works_like_a_pid() {
    let test = "a_namespace_file_works_like_a_pid";
    in_new_namespace(test, || {
        let Some(child) = child_in_new_namespace(test) else {
            return;
        };
        let namespace = std::fs::File::open(format!("/proc/{}/ns/net", child.0.id()))
            .expect("open the child's namespace");
        let mut host = open();
        host.create_veth(HOST, PEER, None).expect("create the pair");
        host.move_to_namespace(PEER, namespace.as_fd())
            .expect("move the peer");
        assert_eq!(host.link(PEER).expect("look up"), None);
        let mut sandbox = Netlink::open_in(namespace.as_fd()).expect("open a socket there");
        assert!(sandbox.link(PEER).expect("look up").is_some());

        let not_network =
            std::fs::File::open("/proc/thread-self/ns/uts").expect("open a uts namespace");
        let error = Netlink::open_in(not_network.as_fd()).expect_err("not a network namespace");
        assert_eq!(error.errno, Errno::EINVAL, "{error}");
        let error = host
            .move_to_namespace(HOST, not_network.as_fd())
            .expect_err("not a network namespace");
        eprintln!("moving into a uts namespace: {error}");
        assert!(host.link(HOST).expect("look up").is_some(), "still here");
        drop(child);
    });
}

#[test]
fn a_peer_made_in_another_namespace_arrives_under_its_name() {
    let test = "a_peer_made_in_another_namespace_arrives_under_its_name";
    in_new_namespace(test, || {
        let Some(child) = child_in_new_namespace(test) else {
            return;
        };
        let pid = i32::try_from(child.0.id()).expect("a pid");
        let namespace =
            std::fs::File::open(format!("/proc/{pid}/ns/net")).expect("the child's namespace");
        let mut host = open();
        // `eth0` may be taken here; there, it is free.
        host.create_veth("eth0", "placeholder0", None)
            .expect("a pair holding eth0 on this side");
        let started = Instant::now();
        host.create_veth_into(HOST, "eth0", Some(1400), namespace.as_fd())
            .expect("create the pair across");
        let created = started.elapsed();
        eprintln!("pair made across namespaces in {created:?}");
        assert!(host.link(HOST).expect("look up").is_some());
        let mut sandbox = Netlink::open_in(namespace.as_fd()).expect("a socket there");
        let eth0 = link(&mut sandbox, "eth0");
        assert_eq!(
            (eth0.kind.as_deref(), eth0.mtu, eth0.up),
            (Some("veth"), 1400, false),
            "{eth0:?}"
        );
        assert!(host.delete_link(HOST).expect("delete"), "ours to delete");
        assert_eq!(
            sandbox.link("eth0").expect("look up"),
            None,
            "the other end goes with it"
        );
    });
}
