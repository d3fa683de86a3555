//! Address leases: `<state dir>/.networks/<network>/<IPv4 address>`, one
//! file per leased address, holding the [`AddressLease`] as JSON (the
//! sandbox id, and the IPv6 address on a network with `subnet6`). The
//! directories are mode 0700 and the files 0600, the enforcer's own like
//! the rest of the state directory.
//!
//! Every change is made with the state directory's lock held
//! ([`StateDir::lock_directory`]), relative to the descriptors of the
//! checked directories, never through a symbolic link or into a directory
//! someone else owns: two runs never lease the same address. The
//! functions that take the lock themselves have a `_locked` twin taking a
//! [`DirectoryLock`] the caller holds, so that leasing and making the
//! bridge (or releasing and removing it) happen under one lock. A lease is
//! written to a temporary file (`O_CREAT|O_EXCL`) and renamed into place
//! without replacing anything, so a lease file is always whole; it is
//! removed only for the sandbox it names, or by [`sweep`] once that
//! sandbox is gone. A network's directory goes when its last lease (and
//! its bridge marker) does, and `.networks` when its last network does.
//!
//! `<network>/.bridge-created` marks a bridge the enforcer made, so that
//! it removes only bridges it made.
//!
//! The names start with `.`, which no sandbox id may, so they are never
//! taken for sandboxes.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::Read;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use nix::unistd::UnlinkatFlags;
use policy_model::decision::Cidr;
use serde::{Deserialize, Serialize};

use super::networks::NetworkSpec;
use crate::sandbox::state::{DirectoryLock, StateDir, StateError};
use crate::trusted::{Kind, is_entry, open_checked};

/// The lease directory's name inside the state directory.
pub const LEASE_DIR: &str = ".networks";

/// The marker, in a network's lease directory, that the enforcer created
/// the network's bridge.
pub const BRIDGE_MARKER: &str = ".bridge-created";

/// Temporary files of leases being written start with this.
use crate::lease_file::TEMPORARY_PREFIX;

/// Largest lease file read.
const MAX_LEASE_BYTES: u64 = 4096;

/// One leased address and the sandbox it is leased to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddressLease {
    /// The network's name.
    pub network: String,
    /// The sandbox's IPv4 address.
    pub address: Ipv4Addr,
    /// The subnet's prefix length.
    pub prefix: u8,
    /// The gateway (the bridge's address).
    pub gateway: Ipv4Addr,
    /// The sandbox's IPv6 address, on a network with `subnet6`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address6: Option<Ipv6Addr>,
    /// The `subnet6` prefix length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix6: Option<u8>,
    /// The IPv6 gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway6: Option<Ipv6Addr>,
    /// The sandbox id.
    pub sandbox: String,
}

/// Why an address cannot be leased or released.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// Every address of the network is leased.
    #[error(
        "network {network} ({subnet}) has no free address: all {capacity} addresses are leased, {}; wait for a sandbox to end, run `enforcer gc` if one crashed, or give networks.{network} a larger subnet",
        holders_list(holders)
    )]
    Exhausted {
        /// The network.
        network: String,
        /// Its subnet.
        subnet: Cidr,
        /// How many addresses sandboxes may lease from it.
        capacity: u64,
        /// Each lease: its address and its sandbox.
        holders: Vec<(Ipv4Addr, String)>,
    },
    /// Not a network name (`[a-z0-9][a-z0-9_-]{0,31}`).
    #[error("{name:?} is not a network name")]
    InvalidNetwork {
        /// What was given.
        name: String,
    },
    /// The state directory, a lease directory or a lease is not the
    /// enforcer's own, or a system call on them failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// A lease file that is not what the enforcer writes.
    #[error("corrupt address lease {path}: {why}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
}

/// `192.0.2.2 to sandbox "a", ...` (the first ten, then how many more).
fn holders_list(holders: &[(Ipv4Addr, String)]) -> String {
    const SHOWN: usize = 10;
    let mut text = holders
        .iter()
        .take(SHOWN)
        .map(|(address, id)| format!("{address} to sandbox {id:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    if holders.len() > SHOWN {
        text.push_str(&format!(" and {} more", holders.len() - SHOWN));
    }
    text
}

/// A lease directory, opened and checked.
struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(Errno) -> LeaseError + 'a {
    move |errno| {
        LeaseError::State(StateError::Io {
            action,
            path: path.to_path_buf(),
            err: errno.into(),
        })
    }
}

/// The state directory's lock; `None` if the state directory does not
/// exist (then neither does any lease).
fn lock_states(states: &StateDir) -> Result<Option<DirectoryLock>, LeaseError> {
    Ok(states.lock_directory_if_present()?)
}

/// The state directory's lock, which must exist.
fn lock_existing(states: &StateDir) -> Result<DirectoryLock, LeaseError> {
    lock_states(states)?.ok_or_else(|| {
        LeaseError::State(StateError::Io {
            action: "open the state directory",
            path: states.root().to_path_buf(),
            err: std::io::ErrorKind::NotFound.into(),
        })
    })
}

fn check_network_name(name: &str) -> Result<(), LeaseError> {
    crate::config::parse_network_name(name)
        .map(drop)
        .map_err(|_| LeaseError::InvalidNetwork {
            name: name.to_string(),
        })
}

/// `name` in `at` (whose path is `at_path`), a directory checked as the
/// enforcer's own; created first (mode 0700) if `create`. `None`: it does
/// not exist.
fn open_dir(
    at: BorrowedFd<'_>,
    at_path: &Path,
    name: &str,
    create: bool,
) -> Result<Option<Dir>, LeaseError> {
    let path = at_path.join(name);
    if create {
        match nix::sys::stat::mkdirat(at, name, Mode::S_IRWXU) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(errno) => return Err(io("create", &path)(errno)),
        }
    }
    let fd = open_checked(
        at,
        Path::new(name),
        &path,
        Kind::Directory,
        OFlag::empty(),
        true,
    )
    .map_err(StateError::from)?;
    Ok(fd.map(|fd| Dir { fd, path }))
}

/// `.networks/` of `states` (whose lock is `lock`).
fn open_root(
    states: &StateDir,
    lock: &DirectoryLock,
    create: bool,
) -> Result<Option<Dir>, LeaseError> {
    open_dir(lock.root(), states.root(), LEASE_DIR, create)
}

/// `.networks/` and `.networks/<network>/`.
fn open_network(
    states: &StateDir,
    lock: &DirectoryLock,
    network: &str,
    create: bool,
) -> Result<Option<(Dir, Dir)>, LeaseError> {
    check_network_name(network)?;
    let Some(root) = open_root(states, lock, create)? else {
        return Ok(None);
    };
    let Some(dir) = open_dir(root.fd.as_fd(), &root.path, network, create)? else {
        remove_if_empty(lock.root(), LEASE_DIR, &root)?;
        return Ok(None);
    };
    Ok(Some((root, dir)))
}

/// The names in `dir`.
fn names(dir: &Dir) -> Result<Vec<String>, LeaseError> {
    let mut listing = nix::dir::Dir::openat(
        &dir.fd,
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(io("read", &dir.path))?;
    let mut names = Vec::new();
    for entry in listing.iter() {
        let entry = entry.map_err(io("read", &dir.path))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != "." && name != ".." {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// The lease file `name` of network `network`'s directory `dir`; `None`
/// if it is gone.
fn read_lease(dir: &Dir, network: &str, name: &str) -> Result<Option<AddressLease>, LeaseError> {
    let path = dir.path.join(name);
    let Some(fd) = open_checked(
        dir.fd.as_fd(),
        Path::new(name),
        &path,
        Kind::File,
        OFlag::O_RDONLY,
        true,
    )
    .map_err(StateError::from)?
    else {
        return Ok(None);
    };
    let mut text = Vec::new();
    File::from(fd)
        .take(MAX_LEASE_BYTES)
        .read_to_end(&mut text)
        .map_err(|err| {
            LeaseError::State(StateError::Io {
                action: "read",
                path: path.clone(),
                err,
            })
        })?;
    let corrupt = |why: String| LeaseError::Corrupt {
        path: path.clone(),
        why,
    };
    let lease: AddressLease =
        serde_json::from_slice(&text).map_err(|error| corrupt(error.to_string()))?;
    if lease.network != network || lease.address.to_string() != name {
        return Err(corrupt(format!(
            "it records {} on network {:?}",
            lease.address, lease.network
        )));
    }
    if !policy_model::is_valid_id(&lease.sandbox) {
        return Err(corrupt(format!(
            "it names {:?}, not a sandbox id",
            lease.sandbox
        )));
    }
    Ok(Some(lease))
}

/// Every lease of network `network` (directory `dir`), by address.
/// Leftover temporary files (of a run that died while writing one; the
/// lock is held) are removed; the bridge marker is not a lease.
fn read_all(dir: &Dir, network: &str) -> Result<Vec<AddressLease>, LeaseError> {
    let mut leases = Vec::new();
    for name in names(dir)? {
        if name == BRIDGE_MARKER {
            continue;
        }
        if name.starts_with(TEMPORARY_PREFIX) {
            match nix::unistd::unlinkat(&dir.fd, name.as_str(), UnlinkatFlags::NoRemoveDir) {
                Ok(()) | Err(Errno::ENOENT) => {}
                Err(errno) => return Err(io("remove", &dir.path.join(&name))(errno)),
            }
            continue;
        }
        let canonical = name
            .parse::<Ipv4Addr>()
            .is_ok_and(|address| address.to_string() == name);
        if !canonical {
            return Err(LeaseError::Corrupt {
                path: dir.path.join(&name),
                why: "not a lease (a lease file is named by its IPv4 address)".into(),
            });
        }
        if let Some(lease) = read_lease(dir, network, &name)? {
            leases.push(lease);
        }
    }
    leases.sort_by_key(|lease| lease.address);
    Ok(leases)
}

/// Writes `lease` into `dir`: a temporary file renamed to its address,
/// never over another lease.
fn write_lease(dir: &Dir, lease: &AddressLease) -> Result<(), LeaseError> {
    let name = lease.address.to_string();
    let text = serde_json::to_vec(lease).map_err(|error| LeaseError::Corrupt {
        path: dir.path.join(&name),
        why: error.to_string(),
    })?;
    crate::lease_file::create_new(dir.fd.as_fd(), &dir.path, &name, &text)?;
    Ok(())
}

/// Removes `dir` (entry `name` of `at`) if it holds nothing and is still
/// the one checked.
fn remove_if_empty(at: BorrowedFd<'_>, name: &str, dir: &Dir) -> Result<(), LeaseError> {
    if !names(dir)?.is_empty() || !is_entry(at, Path::new(name), dir.fd.as_fd()) {
        return Ok(());
    }
    match nix::unistd::unlinkat(at, name, UnlinkatFlags::RemoveDir) {
        Ok(()) | Err(Errno::ENOENT | Errno::ENOTEMPTY) => Ok(()),
        Err(errno) => Err(io("remove", &dir.path)(errno)),
    }
}

/// Removes network `network`'s directory if empty, then `.networks/`.
fn tidy(lock: &DirectoryLock, root: &Dir, network: &str, dir: &Dir) -> Result<(), LeaseError> {
    remove_if_empty(root.fd.as_fd(), network, dir)?;
    remove_if_empty(lock.root(), LEASE_DIR, root)
}

/// Leases the lowest free address of `network` to sandbox `sandbox`
/// (whose lock the caller holds, so that [`sweep`] leaves the lease alone
/// until the sandbox's state records it), taking the state directory's
/// lock. Each call leases another address: a sandbox with two interfaces
/// on one network holds two.
pub fn lease(
    states: &StateDir,
    network: &NetworkSpec,
    sandbox: &str,
) -> Result<AddressLease, LeaseError> {
    let lock = lock_existing(states)?;
    lease_locked(states, &lock, network, sandbox)
}

/// [`lease`] with the state directory's lock `lock` held by the caller.
pub fn lease_locked(
    states: &StateDir,
    lock: &DirectoryLock,
    network: &NetworkSpec,
    sandbox: &str,
) -> Result<AddressLease, LeaseError> {
    if !policy_model::is_valid_id(sandbox) {
        return Err(StateError::InvalidId(sandbox.to_string()).into());
    }
    let (root, dir) = open_network(states, lock, &network.name, true)?.ok_or_else(|| {
        io("open", &states.root().join(LEASE_DIR).join(&network.name))(Errno::ENOENT)
    })?;
    let leases = read_all(&dir, &network.name)?;
    let taken: BTreeSet<Ipv4Addr> = leases.iter().map(|lease| lease.address).collect();
    let Some(slot) = network.lowest_free(&taken) else {
        let error = LeaseError::Exhausted {
            network: network.name.clone(),
            subnet: network.subnet,
            capacity: network.capacity(),
            holders: leases
                .into_iter()
                .map(|lease| (lease.address, lease.sandbox))
                .collect(),
        };
        tidy(lock, &root, &network.name, &dir)?;
        return Err(error);
    };
    let lease = AddressLease {
        network: network.name.clone(),
        address: slot.address,
        prefix: network.subnet.prefix,
        gateway: network.gateway,
        address6: slot.address6,
        prefix6: slot.address6.and(network.subnet6.map(|block| block.prefix)),
        gateway6: slot.address6.and(network.gateway6),
        sandbox: sandbox.to_string(),
    };
    if let Err(error) = write_lease(&dir, &lease) {
        let _ = tidy(lock, &root, &network.name, &dir);
        return Err(error);
    }
    Ok(lease)
}

/// Releases `lease` if its file still names `lease.sandbox` (whose lock
/// the caller holds), taking the state directory's lock; whether it did.
/// A lease of another sandbox is left alone.
pub fn release(states: &StateDir, lease: &AddressLease) -> Result<bool, LeaseError> {
    let Some(lock) = lock_states(states)? else {
        return Ok(false);
    };
    release_locked(states, &lock, lease)
}

/// [`release`] with the state directory's lock `lock` held by the caller.
pub fn release_locked(
    states: &StateDir,
    lock: &DirectoryLock,
    lease: &AddressLease,
) -> Result<bool, LeaseError> {
    let Some((root, dir)) = open_network(states, lock, &lease.network, false)? else {
        return Ok(false);
    };
    let name = lease.address.to_string();
    let holder = read_lease(&dir, &lease.network, &name)?;
    if holder.is_none_or(|holder| holder.sandbox != lease.sandbox) {
        tidy(lock, &root, &lease.network, &dir)?;
        return Ok(false);
    }
    nix::unistd::unlinkat(&dir.fd, name.as_str(), UnlinkatFlags::NoRemoveDir)
        .map_err(io("remove", &dir.path.join(&name)))?;
    tidy(lock, &root, &lease.network, &dir)?;
    Ok(true)
}

/// The networks with a lease directory, each checked as a name.
fn network_names(root: &Dir) -> Result<Vec<String>, LeaseError> {
    let names = names(root)?;
    for name in &names {
        if crate::config::parse_network_name(name).is_err() {
            return Err(LeaseError::Corrupt {
                path: root.path.join(name),
                why: "not a network's lease directory".into(),
            });
        }
    }
    Ok(names)
}

/// Every lease of every network, by network and address.
pub fn leases(states: &StateDir) -> Result<Vec<AddressLease>, LeaseError> {
    let Some(lock) = lock_states(states)? else {
        return Ok(Vec::new());
    };
    let Some(root) = open_root(states, &lock, false)? else {
        return Ok(Vec::new());
    };
    let mut all = Vec::new();
    for network in network_names(&root)? {
        if let Some(dir) = open_dir(root.fd.as_fd(), &root.path, &network, false)? {
            all.extend(read_all(&dir, &network)?);
        }
    }
    Ok(all)
}

/// The leases of `network`, by address, with the state directory's lock
/// `lock` held by the caller (to decide whether a bridge is still used).
pub fn leases_of_locked(
    states: &StateDir,
    lock: &DirectoryLock,
    network: &str,
) -> Result<Vec<AddressLease>, LeaseError> {
    match open_network(states, lock, network, false)? {
        Some((_root, dir)) => read_all(&dir, network),
        None => Ok(Vec::new()),
    }
}

/// Releases every lease whose sandbox is gone (`enforcer gc`, after the
/// stale sandboxes are removed), taking the state directory's lock: its
/// id has no sandbox, or one that nobody holds locked and that has no
/// state file (an abandoned claim). A lease whose sandbox is locked
/// (being started or cleaned up), has a state, or cannot be read is kept.
/// Returns the leases released. Bridges are not touched (see
/// [`bridge_created`]).
pub fn sweep(states: &StateDir) -> Result<Vec<AddressLease>, LeaseError> {
    let Some(lock) = lock_states(states)? else {
        return Ok(Vec::new());
    };
    sweep_locked(states, &lock)
}

/// [`sweep`] with the state directory's lock `lock` held by the caller.
pub fn sweep_locked(
    states: &StateDir,
    lock: &DirectoryLock,
) -> Result<Vec<AddressLease>, LeaseError> {
    let Some(root) = open_root(states, lock, false)? else {
        return Ok(Vec::new());
    };
    let mut released = Vec::new();
    for network in network_names(&root)? {
        let Some(dir) = open_dir(root.fd.as_fd(), &root.path, &network, false)? else {
            continue;
        };
        for lease in read_all(&dir, &network)? {
            if !is_orphaned(states, &lease) {
                continue;
            }
            let name = lease.address.to_string();
            nix::unistd::unlinkat(&dir.fd, name.as_str(), UnlinkatFlags::NoRemoveDir)
                .map_err(io("remove", &dir.path.join(&name)))?;
            released.push(lease);
        }
        remove_if_empty(root.fd.as_fd(), &network, &dir)?;
    }
    remove_if_empty(lock.root(), LEASE_DIR, &root)?;
    Ok(released)
}

/// Whether `lease`'s sandbox is gone (see [`sweep`]). Never waits for a
/// sandbox's lock: one held means the sandbox is in use.
fn is_orphaned(states: &StateDir, lease: &AddressLease) -> bool {
    let id = &lease.sandbox;
    match states.is_sandbox(id) {
        Ok(true) => {}
        Ok(false) => return true,
        Err(error) => return error.is_not_found(),
    }
    let lock = match states.try_lock(id) {
        Ok(Some(lock)) => lock,
        Ok(None) => return false,
        Err(error) => return error.is_not_found(),
    };
    // An abandoned claim is gone; a sandbox with a state keeps the
    // leases its state records (a state that cannot be read keeps them
    // all, for the `gc` that removes the sandbox).
    if !states.has_state(&lock) {
        return true;
    }
    match states.load_locked(&lock) {
        Ok(state) => !state.network.as_ref().is_some_and(|record| {
            record
                .interfaces
                .iter()
                .any(|interface| interface.lease.as_ref() == Some(lease))
        }),
        Err(_) => false,
    }
}

/// Marks network `network`'s bridge as made by the enforcer (`lock`
/// held), so that it is removed once unused.
pub fn mark_bridge_created(
    states: &StateDir,
    lock: &DirectoryLock,
    network: &str,
) -> Result<(), LeaseError> {
    let (_root, dir) = open_network(states, lock, network, true)?
        .ok_or_else(|| io("open", &states.root().join(LEASE_DIR).join(network))(Errno::ENOENT))?;
    let path = dir.path.join(BRIDGE_MARKER);
    open_checked(
        dir.fd.as_fd(),
        Path::new(BRIDGE_MARKER),
        &path,
        Kind::File,
        OFlag::O_CREAT | OFlag::O_WRONLY,
        true,
    )
    .map_err(StateError::from)?;
    Ok(())
}

/// Whether the enforcer made network `network`'s bridge (`lock` held).
pub fn bridge_created(
    states: &StateDir,
    lock: &DirectoryLock,
    network: &str,
) -> Result<bool, LeaseError> {
    let Some((_root, dir)) = open_network(states, lock, network, false)? else {
        return Ok(false);
    };
    let marker = open_checked(
        dir.fd.as_fd(),
        Path::new(BRIDGE_MARKER),
        &dir.path.join(BRIDGE_MARKER),
        Kind::File,
        OFlag::O_RDONLY,
        true,
    )
    .map_err(StateError::from)?;
    Ok(marker.is_some())
}

/// Removes network `network`'s bridge marker (`lock` held; the bridge is
/// gone), and its directory if that leaves it empty.
pub fn clear_bridge_created(
    states: &StateDir,
    lock: &DirectoryLock,
    network: &str,
) -> Result<(), LeaseError> {
    let Some((root, dir)) = open_network(states, lock, network, false)? else {
        return Ok(());
    };
    match nix::unistd::unlinkat(&dir.fd, BRIDGE_MARKER, UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => {}
        Err(errno) => return Err(io("remove", &dir.path.join(BRIDGE_MARKER))(errno)),
    }
    tidy(lock, &root, network, &dir)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::network::networks::DefaultEgress;

    fn network(name: &str, subnet: &str, gateway: &str) -> NetworkSpec {
        NetworkSpec {
            name: name.into(),
            bridge: "enforcer0".into(),
            subnet: Cidr::parse(subnet).expect("subnet"),
            gateway: gateway.parse().expect("gateway"),
            subnet6: None,
            gateway6: None,
            egress: DefaultEgress::All,
            masquerade: false,
            mtu: None,
        }
    }

    #[test]
    fn lease_release_and_sweep_in_a_state_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let states = StateDir::new(dir.path());
        let mut spec = network("default", "192.0.2.0/24", "192.0.2.1");
        spec.subnet6 = Some(Cidr::parse("2001:db8:1::/64").expect("subnet6"));
        spec.gateway6 = Some("2001:db8:1::1".parse().expect("gateway6"));
        let _a = states.claim("a").expect("claims a");
        let _b = states.claim("b").expect("claims b");
        let first = lease(&states, &spec, "a").expect("leases");
        assert_eq!(
            first,
            AddressLease {
                network: "default".into(),
                address: "192.0.2.2".parse().expect("address"),
                prefix: 24,
                gateway: "192.0.2.1".parse().expect("address"),
                address6: Some("2001:db8:1::2".parse().expect("address")),
                prefix6: Some(64),
                gateway6: Some("2001:db8:1::1".parse().expect("address")),
                sandbox: "a".into(),
            }
        );
        let file = dir.path().join(".networks/default/192.0.2.2");
        let text = std::fs::read_to_string(&file).expect("a lease file");
        assert!(
            text.contains("\"sandbox\":\"a\"") && text.contains("2001:db8:1::2"),
            "{text}"
        );
        let mode =
            |path: &Path| std::fs::metadata(path).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(&dir.path().join(".networks/default")), 0o700);
        assert_eq!(mode(&dir.path().join(".networks")), 0o700);
        let second = lease(&states, &spec, "b").expect("leases");
        assert_eq!(second.address.to_string(), "192.0.2.3");
        let other = network("other", "198.51.100.0/24", "198.51.100.1");
        let third = lease(&states, &other, "c").expect("leases");
        assert_eq!(
            leases(&states).expect("lists"),
            [first.clone(), second.clone(), third.clone()]
        );

        let as_b = AddressLease {
            sandbox: "b".into(),
            ..first.clone()
        };
        assert!(!release(&states, &as_b).expect("releases"), "not b's");
        assert!(release(&states, &first).expect("releases"));
        assert!(!release(&states, &first).expect("releases"), "gone");
        assert_eq!(
            lease(&states, &spec, "c").expect("leases").address,
            first.address,
            "the lowest free again"
        );
        // a and b are claimed (and locked by us): the sweep keeps theirs;
        // c has no sandbox: its two leases go.
        let released = sweep(&states).expect("sweeps");
        assert_eq!(
            released
                .iter()
                .map(|lease| (lease.network.as_str(), lease.sandbox.as_str()))
                .collect::<Vec<_>>(),
            [("default", "c"), ("other", "c")]
        );
        assert!(!dir.path().join(".networks/other").exists());
        let lock = states.lock_directory().expect("locks");
        assert_eq!(
            leases_of_locked(&states, &lock, "default").expect("lists"),
            std::slice::from_ref(&second)
        );
        assert!(
            leases_of_locked(&states, &lock, "other")
                .expect("lists")
                .is_empty()
        );
        assert!(matches!(
            leases_of_locked(&states, &lock, "../up"),
            Err(LeaseError::InvalidNetwork { .. })
        ));
        drop(lock);
        assert!(release(&states, &second).expect("releases"));
        assert!(
            !dir.path().join(LEASE_DIR).exists(),
            "the empty lease directories are removed"
        );
        assert!(matches!(
            lease(&states, &spec, "../x"),
            Err(LeaseError::State(StateError::InvalidId(_)))
        ));
    }

    #[test]
    fn twenty_concurrent_leases_get_distinct_addresses_and_a_slash_30_runs_out() {
        let dir = tempfile::tempdir().expect("tempdir");
        let states = StateDir::new(dir.path());
        let spec = network("default", "192.0.2.0/24", "192.0.2.1");
        let threads: Vec<_> = (0..20)
            .map(|index| {
                let states = states.clone();
                let spec = spec.clone();
                std::thread::spawn(move || lease(&states, &spec, &format!("s{index}")))
            })
            .collect();
        let leased: Vec<AddressLease> = threads
            .into_iter()
            .map(|thread| thread.join().expect("joins").expect("leases"))
            .collect();
        let addresses: BTreeSet<Ipv4Addr> = leased.iter().map(|lease| lease.address).collect();
        assert_eq!(addresses.len(), 20, "{leased:?}");
        let expected: BTreeSet<Ipv4Addr> =
            (2..22).map(|last| Ipv4Addr::new(192, 0, 2, last)).collect();
        assert_eq!(addresses, expected, "the lowest twenty");
        assert_eq!(leases(&states).expect("lists").len(), 20);
        let threads: Vec<_> = leased
            .into_iter()
            .map(|lease| {
                let states = states.clone();
                std::thread::spawn(move || release(&states, &lease))
            })
            .collect();
        for thread in threads {
            assert!(thread.join().expect("joins").expect("releases"));
        }
        assert!(!dir.path().join(LEASE_DIR).exists(), "nothing is left");

        let small = network("small", "203.0.113.0/30", "203.0.113.1");
        let only = lease(&states, &small, "a").expect("leases");
        assert_eq!(only.address.to_string(), "203.0.113.2");
        let error = lease(&states, &small, "b")
            .expect_err("exhausted")
            .to_string();
        assert_eq!(
            error,
            "network small (203.0.113.0/30) has no free address: all 1 addresses are leased, 203.0.113.2 to sandbox \"a\"; wait for a sandbox to end, run `enforcer gc` if one crashed, or give networks.small a larger subnet"
        );
        assert!(release(&states, &only).expect("releases"));
        assert!(!dir.path().join(LEASE_DIR).exists());
    }

    #[test]
    fn the_bridge_marker_outlives_the_leases_and_is_no_lease() {
        let dir = tempfile::tempdir().expect("tempdir");
        let states = StateDir::new(dir.path());
        let spec = network("default", "192.0.2.0/24", "192.0.2.1");
        let lock = states.lock_directory().expect("locks");
        assert!(!bridge_created(&states, &lock, "default").expect("reads"));
        let held = lease_locked(&states, &lock, &spec, "a").expect("leases");
        mark_bridge_created(&states, &lock, "default").expect("marks");
        mark_bridge_created(&states, &lock, "default").expect("marks again");
        assert!(bridge_created(&states, &lock, "default").expect("reads"));
        assert_eq!(
            leases_of_locked(&states, &lock, "default").expect("lists"),
            std::slice::from_ref(&held)
        );
        assert!(release_locked(&states, &lock, &held).expect("releases"));
        assert!(
            leases_of_locked(&states, &lock, "default")
                .expect("lists")
                .is_empty()
        );
        assert!(
            bridge_created(&states, &lock, "default").expect("reads"),
            "kept"
        );
        clear_bridge_created(&states, &lock, "default").expect("clears");
        assert!(!bridge_created(&states, &lock, "default").expect("reads"));
        assert!(!dir.path().join(LEASE_DIR).exists());
    }

    #[test]
    fn a_symlinked_or_foreign_lease_directory_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let states = StateDir::new(dir.path());
        let spec = network("default", "192.0.2.0/24", "192.0.2.1");
        let elsewhere = tempfile::tempdir().expect("tempdir");
        std::os::unix::fs::symlink(elsewhere.path(), dir.path().join(LEASE_DIR)).expect("links");
        let error = lease(&states, &spec, "a")
            .expect_err("a symlink")
            .to_string();
        assert!(error.contains("it is a symbolic link"), "{error}");
        std::fs::remove_file(dir.path().join(LEASE_DIR)).expect("unlinks");
        std::fs::create_dir(dir.path().join(LEASE_DIR)).expect("mkdir");
        std::fs::set_permissions(
            dir.path().join(LEASE_DIR),
            std::fs::Permissions::from_mode(0o777),
        )
        .expect("chmod");
        let error = lease(&states, &spec, "a")
            .expect_err("writable by others")
            .to_string();
        assert!(
            error.contains("lets group or others write to it"),
            "{error}"
        );
        assert!(
            std::fs::read_dir(elsewhere.path())
                .expect("lists")
                .next()
                .is_none()
        );
        if nix::unistd::geteuid().is_root() {
            std::fs::set_permissions(
                dir.path().join(LEASE_DIR),
                std::fs::Permissions::from_mode(0o700),
            )
            .expect("chmod");
            nix::unistd::chown(
                &dir.path().join(LEASE_DIR),
                Some(nix::unistd::Uid::from_raw(65534)),
                None,
            )
            .expect("chown");
            let error = lease(&states, &spec, "a").expect_err("foreign").to_string();
            assert!(error.contains("owned by uid 65534"), "{error}");
        }
        // A lease file that is not the enforcer's is corrupt, not trusted.
        let forged = tempfile::tempdir().expect("tempdir");
        let forged_states = StateDir::new(forged.path());
        std::fs::create_dir_all(forged.path().join(".networks/default")).expect("mkdir");
        for path in [".networks", ".networks/default"] {
            std::fs::set_permissions(
                forged.path().join(path),
                std::fs::Permissions::from_mode(0o700),
            )
            .expect("chmod");
        }
        std::fs::write(forged.path().join(".networks/default/192.0.2.2"), "{}").expect("writes");
        std::fs::set_permissions(
            forged.path().join(".networks/default/192.0.2.2"),
            std::fs::Permissions::from_mode(0o600),
        )
        .expect("chmod");
        let error = lease(&forged_states, &spec, "a")
            .expect_err("corrupt")
            .to_string();
        assert!(error.starts_with("corrupt address lease"), "{error}");
    }
}
