//! Making a sandbox's network, and removing it again.
//!
//! 1. [`reserve`], before the clone, under the state directory's lock:
//!    lease each interface's addresses and make each network's bridge if
//!    it is missing (its gateway address, up, masquerade, forwarding).
//! 2. [`attach`], after the clone, while the child waits on its release
//!    pipe: create each veth pair with its sandbox end made directly in
//!    the child's network namespace (opened once from the child's pid)
//!    under its final name, attach the host end to the bridge and bring it
//!    up; then, over a netlink socket opened in the child's namespace,
//!    bring `lo` up, give each interface its addresses, bring it up and
//!    add the default routes; then install the egress chain. Only then is
//!    the child released. A failure removes what this step made and names
//!    the step and the errno. (Making the end in place, rather than
//!    creating it on the host and moving it, spares a rename and the
//!    move's wait for the kernel's network-wide synchronisation, about
//!    28 ms per interface here.)
//! 3. [`teardown`] at the sandbox's end (its run, `delete`, `gc`): the
//!    egress chain, the host ends, the leases, and a bridge the enforcer
//!    made once its network's last lease is gone.

use std::net::IpAddr;
use std::os::fd::AsFd;

use super::egress::{self, InterfaceEgress};
use super::lease;
use super::netlink::Netlink;
use super::plan::NetworkPlan;
use super::record::{InterfaceRecord, NetworkRecord};
use crate::sandbox::state::StateDir;

/// A step of a sandbox's network failed.
#[derive(Debug, thiserror::Error)]
#[error("network: {step}: {source}")]
pub struct NetworkError {
    /// What was being done, e.g. `attach enf0123456789i0 to bridge enforcer0`.
    pub step: String,
    /// Why it failed (the kernel's errno for a netlink step).
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

fn failed<E>(step: impl Into<String>) -> impl FnOnce(E) -> NetworkError
where
    E: std::error::Error + Send + Sync + 'static,
{
    let step = step.into();
    move |source| NetworkError {
        step,
        source: Box::new(source),
    }
}

/// The record of `plan` before anything is made: the interfaces, their
/// networks and bridges, the chain (no lease yet).
pub fn record_of(plan: &NetworkPlan) -> NetworkRecord {
    NetworkRecord {
        interfaces: plan
            .interfaces
            .iter()
            .map(|interface| InterfaceRecord {
                name: interface.name.clone(),
                host_name: interface.host_name.clone(),
                host_index: None,
                network: interface.network.as_ref().map(|spec| spec.name.clone()),
                bridge: interface.network.as_ref().map(|spec| spec.bridge.clone()),
                lease: None,
            })
            .collect(),
        chain: plan.chain.clone(),
    }
}

/// Leases the addresses of `plan`'s interfaces to sandbox `id` into
/// `record` (made by [`record_of`]) and makes the networks' bridges that
/// are missing, all under the state directory's lock. On a failure,
/// `record` holds what was leased, for [`teardown`].
pub fn reserve(
    states: &StateDir,
    plan: &NetworkPlan,
    id: &str,
    record: &mut NetworkRecord,
) -> Result<(), NetworkError> {
    if plan
        .interfaces
        .iter()
        .all(|interface| interface.network.is_none())
    {
        return Ok(());
    }
    let lock = states
        .lock_directory()
        .map_err(failed("lock the state directory"))?;
    let mut host = Netlink::open().map_err(failed("open a netlink socket"))?;
    let mut ready: Vec<&str> = Vec::new();
    for (planned, recorded) in plan.interfaces.iter().zip(&mut record.interfaces) {
        let Some(spec) = &planned.network else {
            continue;
        };
        if !ready.contains(&spec.name.as_str()) {
            ensure_bridge(states, &lock, &mut host, spec)?;
            ready.push(&spec.name);
        }
        let leased = lease::lease_locked(states, &lock, spec, id).map_err(failed(format!(
            "lease an address of network {} for {}",
            spec.name, planned.name
        )))?;
        recorded.lease = Some(leased);
    }
    Ok(())
}

/// Makes `spec`'s bridge if it is missing (recording that the enforcer
/// made it), gives it the gateway addresses it lacks, brings it up, and
/// turns on masquerading and forwarding.
fn ensure_bridge(
    states: &StateDir,
    lock: &crate::sandbox::state::DirectoryLock,
    host: &mut Netlink,
    spec: &super::networks::NetworkSpec,
) -> Result<(), NetworkError> {
    let bridge = &spec.bridge;
    let existing = host
        .link(bridge)
        .map_err(failed(format!("look up bridge {bridge}")))?;
    match existing {
        None => {
            lease::mark_bridge_created(states, lock, &spec.name)
                .map_err(failed(format!("record bridge {bridge} as the enforcer's")))?;
            if let Err(error) = host.create_bridge(bridge, spec.mtu) {
                // Not ours after all (made meanwhile by someone else, or
                // refused): never removed as if it were.
                let _ = lease::clear_bridge_created(states, lock, &spec.name);
                return Err(failed(format!(
                    "create bridge {bridge} for network {}",
                    spec.name
                ))(error));
            }
        }
        Some(link) if link.kind.as_deref() != Some("bridge") => {
            return Err(NetworkError {
                step: format!("use {bridge} as network {}'s bridge", spec.name),
                source: format!(
                    "{bridge} exists and is not a bridge (it is a {} link): rename it, or give the network another bridge",
                    link.kind.as_deref().unwrap_or("plain")
                )
                .into(),
            });
        }
        Some(_) => {}
    }
    let present = host
        .addresses(bridge)
        .map_err(failed(format!("list the addresses of bridge {bridge}")))?;
    let mut gateways = vec![(IpAddr::V4(spec.gateway), spec.subnet.prefix)];
    if let (Some(gateway), Some(subnet)) = (spec.gateway6, spec.subnet6) {
        gateways.push((IpAddr::V6(gateway), subnet.prefix));
    }
    for (address, prefix) in gateways {
        if !present.iter().any(|(have, _)| *have == address) {
            host.add_address(bridge, address, prefix)
                .map_err(failed(format!(
                    "give bridge {bridge} the gateway address {address}/{prefix}"
                )))?;
        }
    }
    host.set_up(bridge)
        .map_err(failed(format!("bring bridge {bridge} up")))?;
    if spec.masquerade {
        egress::set_masquerade(&spec.name, spec.subnet, bridge).map_err(failed(format!(
            "masquerade network {} ({})",
            spec.name, spec.subnet
        )))?;
    }
    enable_forwarding("/proc/sys/net/ipv4/ip_forward")?;
    if spec.subnet6.is_some() {
        enable_forwarding("/proc/sys/net/ipv6/conf/all/forwarding")?;
    }
    Ok(())
}

/// Turns on forwarding in the enforcer's network namespace (as Docker
/// and Podman do); never off again.
fn enable_forwarding(path: &str) -> Result<(), NetworkError> {
    let on = std::fs::read_to_string(path)
        .map_err(failed(format!("read {path}")))?
        .trim()
        == "1";
    if !on {
        std::fs::write(path, "1").map_err(failed(format!("turn on forwarding ({path})")))?;
    }
    Ok(())
}

/// Makes `plan`'s interfaces for the child `pid` (still waiting on its
/// release pipe) with the addresses `record` leased, and installs the
/// egress chain. On a failure it removes the host ends and the chain it
/// made (the sandbox ends go with them, or with the child). Returns the
/// host ends' interface indexes, in the plan's order, for the record.
pub fn attach(
    plan: &NetworkPlan,
    record: &NetworkRecord,
    pid: i32,
) -> Result<Vec<u32>, NetworkError> {
    let mut host = Netlink::open().map_err(failed("open a netlink socket"))?;
    let mut made: Vec<(&str, u32)> = Vec::new();
    let result = make(plan, record, pid, &mut host, &mut made);
    if result.is_err() {
        for (name, index) in &made {
            if host
                .link(name)
                .ok()
                .flatten()
                .is_some_and(|link| link.index == *index)
            {
                let _ = host.delete_link(name);
            }
        }
        if let Some(chain) = &plan.chain {
            let _ = egress::remove(chain);
        }
    }
    result.map(|()| made.into_iter().map(|(_, index)| index).collect())
}

fn make<'p>(
    plan: &'p NetworkPlan,
    record: &NetworkRecord,
    pid: i32,
    host: &mut Netlink,
    made: &mut Vec<(&'p str, u32)>,
) -> Result<(), NetworkError> {
    // Opened once: every step names this namespace, whatever becomes of
    // the pid.
    let path = format!("/proc/{pid}/ns/net");
    let namespace = std::fs::File::open(&path).map_err(failed(format!(
        "open the sandbox's network namespace ({path})"
    )))?;
    for interface in &plan.interfaces {
        let (host_name, name) = (&interface.host_name, &interface.name);
        host.create_veth_into(host_name, name, interface.mtu, namespace.as_fd())
            .map_err(failed(format!("make the sandbox's {name}")))?;
        let index = host
            .link(host_name)
            .map_err(failed(format!("look up {host_name}")))?
            .map(|link| link.index)
            .ok_or_else(|| NetworkError {
                step: format!("look up {host_name}"),
                source: "the host end vanished as it was made".into(),
            })?;
        made.push((host_name, index));
        if let Some(spec) = &interface.network {
            host.set_master(host_name, &spec.bridge)
                .map_err(failed(format!(
                    "attach {host_name} to bridge {} (network {})",
                    spec.bridge, spec.name
                )))?;
        }
        host.set_up(host_name)
            .map_err(failed(format!("bring {host_name} up")))?;
    }
    let mut inside = Netlink::open_in(namespace.as_fd()).map_err(failed(format!(
        "open a netlink socket in the sandbox's network namespace (pid {pid})"
    )))?;
    if plan.loopback {
        inside
            .set_up("lo")
            .map_err(failed("bring the sandbox's lo up"))?;
    }
    for (interface, recorded) in plan.interfaces.iter().zip(&record.interfaces) {
        let name = &interface.name;
        if let Some(leased) = &recorded.lease {
            for (address, prefix) in lease_addresses(leased) {
                inside
                    .add_address(name, address, prefix)
                    .map_err(failed(format!(
                        "give {name} the address {address}/{prefix}"
                    )))?;
            }
        }
        inside
            .set_up(name)
            .map_err(failed(format!("bring {name} up in the sandbox")))?;
        if interface.default_route
            && let Some(leased) = &recorded.lease
        {
            let mut gateways = vec![IpAddr::V4(leased.gateway)];
            gateways.extend(leased.gateway6.map(IpAddr::V6));
            for gateway in gateways {
                inside
                    .add_default_route(gateway)
                    .map_err(failed(format!("add the default route via {gateway}")))?;
            }
        }
    }
    if let Some(chain) = &plan.chain {
        let interfaces: Vec<InterfaceEgress> = plan
            .interfaces
            .iter()
            .filter_map(|interface| {
                interface.egress.as_ref().map(|allow| InterfaceEgress {
                    host_interface: interface.host_name.clone(),
                    allow: allow.clone(),
                })
            })
            .collect();
        egress::install(chain, &interfaces)
            .map_err(failed(format!("install the egress chain {chain}")))?;
    }
    Ok(())
}

/// The addresses of a lease with their prefix lengths, IPv4 first.
pub fn lease_addresses(leased: &lease::AddressLease) -> Vec<(IpAddr, u8)> {
    let mut addresses = vec![(IpAddr::V4(leased.address), leased.prefix)];
    if let (Some(address), Some(prefix)) = (leased.address6, leased.prefix6) {
        addresses.push((IpAddr::V6(address), prefix));
    }
    addresses
}

/// Removes what `record` holds: the egress chain, the host ends, the
/// leases, then each bridge the enforcer made whose network has no lease
/// left. Every step is tried; the errors are returned.
pub fn teardown(states: &StateDir, record: &NetworkRecord) -> Vec<NetworkError> {
    let mut errors = Vec::new();
    if let Some(chain) = &record.chain
        && let Err(error) = egress::remove(chain)
    {
        errors.push(failed(format!("remove the egress chain {chain}"))(error));
    }
    match Netlink::open() {
        Err(error) => errors.push(failed("open a netlink socket")(error)),
        Ok(mut host) => {
            for interface in &record.interfaces {
                if let Err(error) = remove_host_end(&mut host, interface) {
                    errors.push(failed(format!("remove {}", interface.host_name))(error));
                }
            }
            if record.interfaces.iter().any(|i| i.network.is_some()) {
                errors.extend(release(states, record, &mut host));
            }
        }
    }
    errors
}

/// Removes `interface`'s host end if it is still the link the enforcer
/// made (same name, same index); usually it went with the sandbox's
/// network namespace already.
fn remove_host_end(
    host: &mut Netlink,
    interface: &InterfaceRecord,
) -> Result<(), super::netlink::NetlinkError> {
    let Some(index) = interface.host_index else {
        return Ok(());
    };
    if host
        .link(&interface.host_name)?
        .is_some_and(|link| link.index == index)
    {
        host.delete_link(&interface.host_name)?;
    }
    Ok(())
}

/// The leases and unused bridges of `record`, under the directory lock.
fn release(states: &StateDir, record: &NetworkRecord, host: &mut Netlink) -> Vec<NetworkError> {
    let mut errors = Vec::new();
    let lock = match states.lock_directory() {
        Ok(lock) => lock,
        Err(error) => return vec![failed("lock the state directory")(error)],
    };
    for interface in &record.interfaces {
        if let Some(leased) = &interface.lease
            && let Err(error) = lease::release_locked(states, &lock, leased)
        {
            errors.push(failed(format!(
                "release {} of network {}",
                leased.address, leased.network
            ))(error));
        }
    }
    for (network, bridge) in record.networks() {
        if let Err(error) = remove_unused_bridge(states, &lock, host, network, bridge) {
            errors.push(error);
        }
    }
    errors
}

/// Removes `network`'s bridge (and masquerade rule) if the enforcer made
/// it and no lease of the network is left.
fn remove_unused_bridge(
    states: &StateDir,
    lock: &crate::sandbox::state::DirectoryLock,
    host: &mut Netlink,
    network: &str,
    bridge: Option<&str>,
) -> Result<(), NetworkError> {
    let ours = lease::bridge_created(states, lock, network).map_err(failed(format!(
        "read whether network {network}'s bridge is ours"
    )))?;
    if !ours {
        return Ok(());
    }
    let left = lease::leases_of_locked(states, lock, network)
        .map_err(failed(format!("list the leases of network {network}")))?;
    if !left.is_empty() {
        return Ok(());
    }
    match egress::remove_masquerade(network) {
        Ok(_) | Err(egress::EgressError::NotInstalled) => {}
        Err(error) => {
            return Err(failed(format!(
                "remove network {network}'s masquerade rule"
            ))(error));
        }
    }
    if let Some(bridge) = bridge {
        host.delete_link(bridge).map_err(failed(format!(
            "remove bridge {bridge} of network {network}"
        )))?;
    }
    lease::clear_bridge_created(states, lock, network)
        .map_err(failed(format!("clear network {network}'s bridge record")))
}

/// Traffic counters of each interface, from the sandbox's side (the host
/// end's receive counters are what the sandbox sent).
pub fn counters(record: &NetworkRecord) -> Vec<Option<super::netlink::LinkStats>> {
    let Ok(mut host) = Netlink::open() else {
        return vec![None; record.interfaces.len()];
    };
    record
        .interfaces
        .iter()
        .map(|interface| {
            host.stats(&interface.host_name)
                .ok()
                .flatten()
                .map(|stats| super::netlink::LinkStats {
                    rx_bytes: stats.tx_bytes,
                    tx_bytes: stats.rx_bytes,
                    rx_packets: stats.tx_packets,
                    tx_packets: stats.rx_packets,
                })
        })
        .collect()
}
