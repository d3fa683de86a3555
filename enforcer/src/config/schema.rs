//! The shape of a config file (`config.toml` and each `config.d` drop-in;
//! a `tenants.d/<tenant>.toml` file holds one [`Tenant`]). Every field is
//! optional; an absent one means the built-in default (or the command
//! line's flag). Unknown keys are errors. Values are checked as they are
//! read, so an error carries the line it is on.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use policy_model::decision::{Cidr, EgressRule};

use super::validate;
use crate::decision::Ceilings;
use crate::evaluation::Mode;
use crate::network::networks::DefaultEgress;

/// One config file, or the merge of all of them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Directory, under each cgroup hierarchy, that holds every sandbox's
    /// cgroup (as `--cgroup-root`) [default: `enforcer`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_root: Option<CgroupRoot>,
    /// Directory of sandbox state files (as `--state-dir`) [default:
    /// `/run/enforcer`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_dir: Option<AbsolutePath>,
    /// Directory for compiled policy code (as `--cache-dir`) [default:
    /// `/var/cache/enforcer` for root, else `$XDG_CACHE_HOME/enforcer`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_dir: Option<AbsolutePath>,
    /// Whether `run` may mount cgroup controllers the decision needs but
    /// the host has not mounted: `false`, `true` (under
    /// `/run/enforcer/cgroup`) or a directory (as `run --mount-controllers`)
    /// [default: `false`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_controllers: Option<MountControllers>,
    /// Namespace paths decisions may join, as globs (as `run
    /// --allow-join`; a later file's list replaces an earlier one's)
    /// [default: none, no joins].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_join: Option<Vec<String>>,
    /// The pool of host ids leased to sandboxes whose decision asks for
    /// private host ids (a later file's table replaces an earlier one's as
    /// a whole) [default: the ids from 2147483648 up, 32767 ranges].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ids: Option<HostIdPool>,
    /// The operator's networks by name (a later file's table of a name
    /// replaces an earlier one's as a whole) [default: none].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<NetworkName, Network>,
    /// Limits on policy execution.
    #[serde(default, skip_serializing_if = "Limits::is_empty")]
    pub limits: Limits,
    /// The audit log.
    #[serde(default, skip_serializing_if = "Audit::is_empty")]
    pub audit: Audit,
    /// `enforcer runtime`, the OCI runtime wrapper for containerd, CRI-O
    /// and podman (docs/kubernetes.md).
    #[serde(default, skip_serializing_if = "Runtime::is_empty")]
    pub runtime: Runtime,
    /// The platform chain, evaluated first, in order (drop-ins append to
    /// it) [default: none, which means the embedded default policy].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platform: Vec<PlatformPolicy>,
    /// Tenants by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tenants: BTreeMap<TenantName, Tenant>,
}

/// Limits on policy execution; each has the meaning and default of the
/// flag of the same name (`--deadline`, `--memory-cap`, ...).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Wall-clock budget of one evaluation, e.g. `100ms`, `2s` [default:
    /// `100ms`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Deadline>,
    /// Linear-memory cap of a policy instance, in MiB [default: 64].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_cap_mib: Option<Count>,
    /// Largest response a policy may return, in KiB [default: 1024].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_cap_kib: Option<Count>,
    /// Largest policy module accepted, in MiB [default: 4].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_module_size_mib: Option<Count>,
    /// Most functions a policy module may define [default: 10000].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_functions: Option<Count>,
    /// Largest function body of a policy module, in KiB [default: 256].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_function_size_kib: Option<Count>,
    /// Most locals one function may declare [default: 10000].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_locals: Option<Count>,
    /// CPU seconds compiling one policy module may use [default: 10].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compile_time_s: Option<Count>,
    /// Address space the process compiling one module may use, in MiB
    /// [default: 1024].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compile_memory_mib: Option<Count>,
    /// Lowest policy log level printed: `error`, `warn`, `info`, `debug`
    /// [default: `info`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_log: Option<PolicyLog>,
}

impl Limits {
    fn is_empty(&self) -> bool {
        *self == Limits::default()
    }
}

/// `[runtime]`: the OCI runtime mode (`enforcer runtime`, the
/// `enforcer-runtime` symlink). A later file's key replaces an earlier
/// one's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Runtime {
    /// The runtime every command is handed to, a name looked up in
    /// `search_path` or an absolute path: `runc` or `crun` [default:
    /// `runc`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegate: Option<String>,
    /// Directories searched for `delegate`, in order [default:
    /// `/usr/local/sbin`, `/usr/local/bin`, `/usr/sbin`, `/usr/bin`,
    /// `/sbin`, `/bin`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_path: Option<Vec<AbsolutePath>>,
    /// Annotations naming a container's tenant, the first present wins
    /// [default: `io.kubernetes.cri.sandbox-namespace` (containerd),
    /// `io.kubernetes.pod.namespace` (CRI-O)].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_annotations: Option<Vec<String>>,
    /// The tenant of a container none of `tenant_annotations` names, and
    /// of one whose namespace is not a configured tenant [default: none:
    /// such a container is decided by the platform chain alone when no
    /// tenant is configured, and refused when tenants are].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_tenant: Option<TenantName>,
    /// Annotation keys copied into the request's `labels` (containerd
    /// passes the pod annotations its `pod_annotations` allow-list names)
    /// [default: none].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_annotations: Option<Vec<String>>,
    /// Pod label keys copied into the request's `labels` (CRI-O passes the
    /// pod's labels in `io.kubernetes.cri-o.Labels`) [default: none].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_labels: Option<Vec<String>>,
}

impl Runtime {
    fn is_empty(&self) -> bool {
        *self == Runtime::default()
    }
}

/// The audit log's settings (read by the `audit` module).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Audit {
    /// The log file [default: `<state_dir>/audit.log`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<AbsolutePath>,
    /// Size at which the log is rotated to `<path>.1`, in bytes [default:
    /// 67108864].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<Count>,
    /// What a request does when its audit line cannot be written:
    /// `fail-closed` (it fails) or `fail-open` (it goes on) [default:
    /// `fail-closed`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_error: Option<OnError>,
}

impl Audit {
    fn is_empty(&self) -> bool {
        *self == Audit::default()
    }
}

/// What a request does when its audit line cannot be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnError {
    /// The request fails.
    FailClosed,
    /// The request goes on without its audit line.
    FailOpen,
}

/// A policy log level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyLog {
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warn,
    /// Information, warnings and errors.
    Info,
    /// Everything.
    Debug,
}

impl From<PolicyLog> for policy_sdk::LogLevel {
    fn from(level: PolicyLog) -> Self {
        match level {
            PolicyLog::Error => policy_sdk::LogLevel::Error,
            PolicyLog::Warn => policy_sdk::LogLevel::Warn,
            PolicyLog::Info => policy_sdk::LogLevel::Info,
            PolicyLog::Debug => policy_sdk::LogLevel::Debug,
        }
    }
}

/// One policy of the platform chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformPolicy {
    /// The module (`.wasm` or `.wat`); a relative path is relative to the
    /// directory of the file that names it.
    pub policy: PathBuf,
    /// Settings given to the policy as `request.settings` (a table).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<toml::Table>,
}

/// A tenant: its policy, mode, settings and ceilings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    /// The tenant's module, evaluated after the platform chain; a relative
    /// path is relative to the directory of the file that names it
    /// [default: none, the tenant gets the platform's decision].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PathBuf>,
    /// `enforce` (its decision is applied) or `audit` (it is evaluated
    /// and reported, only the chain before it is applied) [default:
    /// `enforce`].
    #[serde(default)]
    pub mode: Mode,
    /// Settings given to the tenant's policy as `request.settings`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<toml::Table>,
    /// Limits applied to the platform's decision before the tenant's
    /// policy sees it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ceilings: Option<CeilingsConfig>,
}

/// A tenant's ceilings as written in the config.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CeilingsConfig {
    /// Most memory: bytes, or a size with K, M, G or T (`1G`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemorySize>,
    /// Most tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<Count>,
    /// Most CPU time, in CPUs (`1.5`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<Cpus>,
}

impl CeilingsConfig {
    /// The ceilings to apply.
    pub fn ceilings(&self) -> Ceilings {
        Ceilings {
            memory: self.memory.map(|size| size.0),
            pids: self.pids.map(|count| count.0),
            cpus: self.cpus.map(|cpus| cpus.0),
        }
    }
}

/// `[host_ids]`: where the host ids leased to sandboxes come from. The
/// table's keys are checked one by one (an error names `host_ids.start`,
/// `host_ids.size` or `host_ids.subids`), then together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "HostIdsTable", into = "HostIdsTable")]
pub enum HostIdPool {
    /// `size` ids from `start` (each default filled in: `start`
    /// 2147483648, `size` as many 65,536-id ranges as fit below
    /// 4294967295).
    Range {
        /// The first host id of the pool.
        start: u32,
        /// How many ids, a multiple of 65,536.
        size: u32,
    },
    /// The ranges `/etc/subuid` and `/etc/subgid` give this owner (a user
    /// name, or a uid), read when a range is leased.
    Subids {
        /// The owner.
        owner: String,
    },
}

impl Default for HostIdPool {
    fn default() -> Self {
        let start = validate::DEFAULT_HOST_ID_START;
        HostIdPool::Range {
            start,
            size: validate::host_id_pool_fit(start),
        }
    }
}

/// `[host_ids]` as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HostIdsTable {
    /// The first host id of the pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    start: Option<HostIdStart>,
    /// How many ids, a multiple of 65,536.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    size: Option<HostIdSize>,
    /// An owner in `/etc/subuid` and `/etc/subgid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    subids: Option<SubidOwner>,
}

impl TryFrom<HostIdsTable> for HostIdPool {
    type Error = String;

    fn try_from(table: HostIdsTable) -> Result<Self, String> {
        match (table.start, table.size, table.subids) {
            (None, None, Some(owner)) => Ok(HostIdPool::Subids { owner: owner.0 }),
            (_, _, Some(owner)) => Err(format!(
                "subids = {:?} and start/size exclude each other: the pool is either the owner's subordinate ids or the range start/size",
                owner.0
            )),
            (start, size, None) => {
                let start = start.map_or(validate::DEFAULT_HOST_ID_START, |start| start.0);
                let size = match size {
                    Some(size) => size.0,
                    None => validate::host_id_pool_fit(start),
                };
                validate::check_host_id_pool(start, size)?;
                Ok(HostIdPool::Range { start, size })
            }
        }
    }
}

impl From<HostIdPool> for HostIdsTable {
    fn from(pool: HostIdPool) -> Self {
        match pool {
            HostIdPool::Range { start, size } => HostIdsTable {
                start: Some(HostIdStart(start)),
                size: Some(HostIdSize(size)),
                subids: None,
            },
            HostIdPool::Subids { owner } => HostIdsTable {
                subids: Some(SubidOwner(owner)),
                ..HostIdsTable::default()
            },
        }
    }
}

/// `host_ids.start`: a host id from 1 to 4294967294.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
struct HostIdStart(u32);

impl<'de> Deserialize<'de> for HostIdStart {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = i64::deserialize(deserializer)?;
        validate::check_host_id_start(value)
            .map(HostIdStart)
            .map_err(de::Error::custom)
    }
}

/// `host_ids.size`: a positive multiple of 65,536.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
struct HostIdSize(u32);

impl<'de> Deserialize<'de> for HostIdSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = i64::deserialize(deserializer)?;
        validate::check_host_id_size(value)
            .map(HostIdSize)
            .map_err(de::Error::custom)
    }
}

/// `[networks.<name>]`: one operator network, its defaults filled in.
/// The table's keys are checked one by one (an error names
/// `networks.<name>.subnet`, ...), then together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "NetworkTable", into = "NetworkTable")]
pub struct Network {
    /// The host bridge.
    pub bridge: String,
    /// The IPv4 block.
    pub subnet: Cidr,
    /// The bridge's address (a host address of `subnet`).
    pub gateway: Ipv4Addr,
    /// The IPv6 block, if any.
    pub subnet6: Option<Cidr>,
    /// The bridge's IPv6 address (set exactly when `subnet6` is).
    pub gateway6: Option<Ipv6Addr>,
    /// The default egress of its interfaces.
    pub egress: DefaultEgress,
    /// Whether traffic leaving through the host is masqueraded.
    pub masquerade: bool,
    /// The MTU, if set.
    pub mtu: Option<u32>,
}

/// `[networks.<name>]` as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct NetworkTable {
    bridge: BridgeName,
    subnet: Subnet,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gateway: Option<Gateway>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    subnet6: Option<Subnet6>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gateway6: Option<Gateway6>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    egress: Option<EgressSetting>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    masquerade: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mtu: Option<Mtu>,
}

impl TryFrom<NetworkTable> for Network {
    type Error = String;

    fn try_from(table: NetworkTable) -> Result<Self, String> {
        let subnet = table.subnet.0;
        let subnet6 = table.subnet6.map(|block| block.0);
        let (gateway, gateway6) = validate::check_network(
            &subnet,
            table.gateway.map(|gateway| gateway.0),
            subnet6.as_ref(),
            table.gateway6.map(|gateway| gateway.0),
        )?;
        Ok(Network {
            bridge: table.bridge.0,
            subnet,
            gateway,
            subnet6,
            gateway6,
            egress: table.egress.map_or(DefaultEgress::All, |egress| egress.0),
            masquerade: table.masquerade.unwrap_or(false),
            mtu: table.mtu.map(|mtu| mtu.0),
        })
    }
}

impl From<Network> for NetworkTable {
    fn from(network: Network) -> Self {
        NetworkTable {
            bridge: BridgeName(network.bridge),
            subnet: Subnet(network.subnet),
            gateway: Some(Gateway(network.gateway)),
            subnet6: network.subnet6.map(Subnet6),
            gateway6: network.gateway6.map(Gateway6),
            egress: Some(EgressSetting(network.egress)),
            masquerade: Some(network.masquerade),
            mtu: network.mtu.map(Mtu),
        }
    }
}

/// Declares a newtype read from a string through a checking function and
/// written back with its `Display`.
macro_rules! checked_text {
    ($(#[$doc:meta])* $name:ident($inner:ty), $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        struct $name($inner);

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                let check: fn(&str) -> Result<$inner, String> = $check;
                check(&text).map($name).map_err(de::Error::custom)
            }
        }
    };
}

checked_text!(
    /// `networks.<name>.subnet`: an IPv4 block.
    Subnet(Cidr),
    validate::parse_subnet
);

checked_text!(
    /// `networks.<name>.subnet6`: an IPv6 block.
    Subnet6(Cidr),
    validate::parse_subnet6
);

checked_text!(
    /// `networks.<name>.gateway`: an IPv4 address.
    Gateway(Ipv4Addr),
    validate::parse_ipv4
);

checked_text!(
    /// `networks.<name>.gateway6`: an IPv6 address.
    Gateway6(Ipv6Addr),
    validate::parse_ipv6
);

/// `networks.<name>.mtu`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
struct Mtu(u32);

impl<'de> Deserialize<'de> for Mtu {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = i64::deserialize(deserializer)?;
        validate::check_mtu(value)
            .map(Mtu)
            .map_err(de::Error::custom)
    }
}

/// `networks.<name>.egress`: `"all"`, `"none"` or a list of rules.
#[derive(Debug, Clone, PartialEq, Eq)]
struct EgressSetting(DefaultEgress);

impl Serialize for EgressSetting {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            DefaultEgress::All => serializer.serialize_str("all"),
            DefaultEgress::None => serializer.serialize_str("none"),
            DefaultEgress::List(rules) => rules.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for EgressSetting {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Expect;
        impl<'de> Visitor<'de> for Expect {
            type Value = DefaultEgress;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    "\"all\", \"none\" or a list of rules such as [{ destination = \"203.0.113.0/24\", protocol = \"tcp\", port = 443 }]",
                )
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
                match value {
                    "all" => Ok(DefaultEgress::All),
                    "none" => Ok(DefaultEgress::None),
                    _ => Err(E::invalid_value(de::Unexpected::Str(value), &self)),
                }
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut rules = Vec::new();
                while let Some(rule) = seq.next_element::<CheckedRule>()? {
                    rules.push(rule.0);
                }
                Ok(DefaultEgress::List(rules))
            }
        }
        deserializer.deserialize_any(Expect).map(EgressSetting)
    }
}

/// One egress rule of a network, checked.
struct CheckedRule(EgressRule);

impl<'de> Deserialize<'de> for CheckedRule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let rule = EgressRule::deserialize(deserializer)?;
        validate::check_egress_rule(&rule)
            .map(|()| CheckedRule(rule))
            .map_err(de::Error::custom)
    }
}

/// `mount_controllers`: off, on under the default directory, or on under
/// a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountControllers {
    /// Never mount (`false`).
    Off,
    /// Mount under `/run/enforcer/cgroup` (`true`).
    Default,
    /// Mount under this directory.
    Under(PathBuf),
}

impl MountControllers {
    /// The directory to mount under, if mounting is on.
    pub fn dir(&self) -> Option<PathBuf> {
        match self {
            MountControllers::Off => None,
            MountControllers::Default => {
                Some(PathBuf::from(crate::cgroup::mount::DEFAULT_MOUNT_BASE))
            }
            MountControllers::Under(dir) => Some(dir.clone()),
        }
    }
}

impl Serialize for MountControllers {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            MountControllers::Off => serializer.serialize_bool(false),
            MountControllers::Default => serializer.serialize_bool(true),
            MountControllers::Under(dir) => dir.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for MountControllers {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Expect;
        impl Visitor<'_> for Expect {
            type Value = MountControllers;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("true, false or an absolute directory path")
            }
            fn visit_bool<E: de::Error>(self, value: bool) -> Result<Self::Value, E> {
                Ok(if value {
                    MountControllers::Default
                } else {
                    MountControllers::Off
                })
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
                let path = PathBuf::from(value);
                validate::check_absolute(&path).map_err(E::custom)?;
                Ok(MountControllers::Under(path))
            }
        }
        deserializer.deserialize_any(Expect)
    }
}

/// Declares a newtype read through a checking function from a string.
macro_rules! checked_string {
    ($(#[$doc:meta])* $name:ident($inner:ty), $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(pub $inner);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                let check: fn(&str) -> Result<$inner, String> = $check;
                check(&text).map($name).map_err(de::Error::custom)
            }
        }
    };
}

checked_string!(
    /// A cgroup root: one directory name.
    CgroupRoot(String),
    validate::parse_cgroup_root
);

checked_string!(
    /// A tenant name: `[a-z0-9][a-z0-9._-]{0,62}`.
    TenantName(String),
    validate::parse_tenant_name
);

checked_string!(
    /// A network name: `[a-z0-9][a-z0-9_-]{0,31}`.
    NetworkName(String),
    validate::parse_network_name
);

checked_string!(
    /// `networks.<name>.bridge`: an interface name.
    BridgeName(String),
    validate::parse_bridge_name
);

checked_string!(
    /// `host_ids.subids`: an owner name (or uid) of `/etc/subuid`.
    SubidOwner(String),
    validate::parse_subid_owner
);

checked_string!(
    /// An absolute path.
    AbsolutePath(PathBuf),
    |text| {
        let path = PathBuf::from(text);
        validate::check_absolute(&path).map(|()| path)
    }
);

impl AbsolutePath {
    /// The path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl std::fmt::Display for NetworkName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Display for TenantName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A positive duration, written `100ms`, `2s` or `500us`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline(pub Duration);

impl Serialize for Deadline {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&validate::format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for Deadline {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        validate::parse_duration(&text)
            .map(Deadline)
            .map_err(de::Error::custom)
    }
}

/// A positive whole number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Count(pub i64);

impl Count {
    /// The value as a `u64` (it is positive).
    pub fn get(self) -> u64 {
        self.0.unsigned_abs()
    }
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = i64::deserialize(deserializer)?;
        validate::check_positive(value)
            .map(Count)
            .map_err(de::Error::custom)
    }
}

/// A number of CPUs, from 0.01 up.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Cpus(pub f64);

impl<'de> Deserialize<'de> for Cpus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Expect;
        impl Visitor<'_> for Expect {
            type Value = f64;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a number of CPUs such as 1.5")
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<f64, E> {
                Ok(value)
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<f64, E> {
                Ok(value as f64)
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<f64, E> {
                Ok(value as f64)
            }
        }
        let value = deserializer.deserialize_any(Expect)?;
        validate::check_cpus(value)
            .map(Cpus)
            .map_err(de::Error::custom)
    }
}

/// A memory size in bytes, written as a byte count or with K, M, G or T.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct MemorySize(pub i64);

impl<'de> Deserialize<'de> for MemorySize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Expect;
        impl Visitor<'_> for Expect {
            type Value = i64;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a size such as 512M, 1G or a byte count")
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<i64, E> {
                Ok(value)
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<i64, E> {
                i64::try_from(value).map_err(|_| E::custom(format!("{value} is too large")))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<i64, E> {
                validate::parse_size(value).map_err(E::custom)
            }
        }
        let value = deserializer.deserialize_any(Expect)?;
        validate::check_memory(value)
            .map(MemorySize)
            .map_err(de::Error::custom)
    }
}
