//! The operator's config: `/etc/enforcer/config.toml` (or `--config`,
//! `$ENFORCER_CONFIG`), its `config.d/*.toml` drop-ins and
//! `tenants.d/<tenant>.toml` files, merged into one [`Config`]. It holds
//! the cgroup root, state and cache directories, policy execution limits,
//! the audit log's settings, the host id pool, the operator's networks,
//! the platform chain and the tenants. Nothing
//! here evaluates a policy or applies a decision (see [`crate::chain`]).
//!
//! See `docs/operators.md` for every field.

mod error;
mod load;
mod schema;
mod validate;

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use error::{ConfigError, ParseError};
pub use load::{DEFAULT_PATH, ENV_VAR, load, load_from};
pub use schema::{
    AbsolutePath, Audit, BridgeName, CeilingsConfig, CgroupRoot, ConfigFile, Count, Cpus, Deadline,
    HostIdPool, Limits, MemorySize, MountControllers, Network, NetworkName, OnError,
    PlatformPolicy, PolicyLog, Runtime, Tenant, TenantName,
};
pub use validate::{
    DEFAULT_HOST_ID_START, HOST_ID_RANGE, MAX_HOST_ID, MAX_NETWORK_NAME, MTUS, SUBNET_PREFIXES,
    SUBNET6_PREFIXES, check_egress_rule, check_network, format_duration, host_id_pool_fit,
    host_range, parse_bridge_name, parse_cgroup_root, parse_duration, parse_network_name,
    parse_size, parse_tenant_name, settings_json,
};

use crate::network::networks::{NetworkSpec, Networks};

/// The merged config and where each part came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The merged values (policy paths absolute).
    pub values: ConfigFile,
    /// Every file read, in order.
    pub files: Vec<PathBuf>,
    /// The file each platform policy came from, in chain order.
    pub platform_sources: Vec<PathBuf>,
    /// The file each tenant came from.
    pub tenant_sources: BTreeMap<String, PathBuf>,
    /// The file each network came from (the last that defines it).
    pub network_sources: BTreeMap<String, PathBuf>,
}

impl Config {
    /// Tenant `name`, if the config defines it.
    pub fn tenant(&self, name: &str) -> Option<&Tenant> {
        self.values.tenants.get(&TenantName(name.to_string()))
    }

    /// The operator's networks by name, defaults applied.
    pub fn networks(&self) -> Networks {
        self.values
            .networks
            .iter()
            .map(|(name, network)| (name.0.clone(), network_spec(&name.0, network)))
            .collect()
    }

    /// Network `name`, defaults applied, if the config defines it.
    pub fn network(&self, name: &str) -> Option<NetworkSpec> {
        self.values
            .networks
            .get(&NetworkName(name.to_string()))
            .map(|network| network_spec(name, network))
    }

    /// The names of the tenants, sorted.
    pub fn tenant_names(&self) -> Vec<&str> {
        self.values
            .tenants
            .keys()
            .map(|name| name.0.as_str())
            .collect()
    }
}

/// `network` of the config as the rest of the enforcer sees it.
fn network_spec(name: &str, network: &Network) -> NetworkSpec {
    let Network {
        bridge,
        subnet,
        gateway,
        subnet6,
        gateway6,
        egress,
        masquerade,
        mtu,
    } = network.clone();
    NetworkSpec {
        name: name.to_string(),
        bridge,
        subnet,
        gateway,
        subnet6,
        gateway6,
        egress,
        masquerade,
        mtu,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::evaluation::Mode;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&path, text).expect("writes");
        path
    }

    fn error_of(text: &str) -> String {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(dir.path(), "config.toml", text);
        let error = load_from(&path).expect_err("invalid");
        error
            .to_string()
            .replace(&path.display().to_string(), "FILE")
    }

    #[test]
    fn the_runtime_table_is_read_and_checked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(
            dir.path(),
            "config.toml",
            "[runtime]\ndelegate = \"crun\"\ndefault_tenant = \"shared\"\nlabel_annotations = [\"example.com/tier\"]\n\
             [tenants.shared]\nmode = \"enforce\"\n",
        );
        let config = load_from(&path).expect("loads");
        let settings = crate::runtime::RuntimeSettings::from_config(&config.values.runtime);
        assert_eq!(settings.delegate, "crun");
        assert_eq!(settings.default_tenant.as_deref(), Some("shared"));
        assert_eq!(settings.label_annotations, ["example.com/tier"]);
        assert_eq!(
            settings.tenant_annotations,
            crate::runtime::RuntimeSettings::default().tenant_annotations
        );
        assert_eq!(
            error_of("[runtime]\ndelegate = \"bin/runc\"\n"),
            "config FILE: runtime.delegate: \"bin/runc\" must be a name looked up in search_path (runc) or an absolute path"
        );
        assert_eq!(
            error_of("[runtime]\ndefault_tenant = \"ghost\"\n"),
            "config FILE: runtime.default_tenant: \"ghost\" is not a configured tenant (known tenants: none)"
        );
        assert!(error_of("[runtime]\ndelegat = \"runc\"\n").contains("unknown field `delegat`"));
    }

    #[test]
    fn errors_name_the_file_line_and_field() {
        assert_eq!(
            error_of("cgroup_root = \"enforcer\"\n\n[tenants.acme]\nmode = \"enforcing\"\n"),
            "config FILE line 4: tenants.acme.mode: unknown variant `enforcing`, expected `enforce` or `audit`"
        );
        let unknown = error_of("[limits]\ndeadline = \"1s\"\nbogus = 1\n");
        assert!(
            unknown.starts_with("config FILE line 3: limits")
                && unknown.contains("unknown field `bogus`"),
            "{unknown}"
        );
        let tenant = error_of("[tenants.\"Bad/Name\"]\nmode = \"audit\"\n");
        assert!(
            tenant.starts_with("config FILE line 1: tenants")
                && tenant.contains("tenant \"Bad/Name\" must be"),
            "{tenant}"
        );
        let deadline = error_of("\n[limits]\ndeadline = \"5m\"\n");
        assert!(
            deadline.starts_with("config FILE line 3: limits.deadline: \"5m\": the unit"),
            "{deadline}"
        );
        let ceiling = error_of("[tenants.a.ceilings]\npids = 0\n");
        assert_eq!(
            ceiling,
            "config FILE line 2: tenants.a.ceilings.pids: 0 must be positive"
        );
        let memory = error_of("[tenants.a.ceilings]\nmemory = \"1 G\"\n");
        assert!(
            memory.starts_with(
                "config FILE line 2: tenants.a.ceilings.memory: \"1 G\" is not a size"
            ),
            "{memory}"
        );
        let root = error_of("cgroup_root = \"../up\"\n");
        assert!(
            root.starts_with(
                "config FILE line 1: cgroup_root: \"../up\" must be one directory name"
            ),
            "{root}"
        );
        let syntax = error_of("[tenants\n");
        assert!(syntax.starts_with("config FILE line 1: "), "{syntax}");
        let relative = error_of("state_dir = \"run/enforcer\"\n");
        assert!(
            relative.contains("state_dir: run/enforcer must be an absolute path"),
            "{relative}"
        );
    }

    #[test]
    fn drop_ins_replace_scalars_and_append_to_the_platform_chain() {
        let dir = tempfile::tempdir().expect("tempdir");
        let main = write(
            dir.path(),
            "config.toml",
            "cgroup_root = \"main\"\n[limits]\ndeadline = \"1s\"\nmemory_cap_mib = 32\n\
             [[platform]]\npolicy = \"platform.wasm\"\n[tenants.acme]\npolicy = \"/abs/acme.wasm\"\n",
        );
        write(
            dir.path(),
            "config.d/20-later.toml",
            "cgroup_root = \"later\"\n[[platform]]\npolicy = \"/late.wasm\"\n",
        );
        write(
            dir.path(),
            "config.d/10-first.toml",
            "cgroup_root = \"first\"\n[limits]\ndeadline = \"2s\"\n[[platform]]\npolicy = \"sub/first.wasm\"\n\
             [tenants.beta]\nmode = \"audit\"\n",
        );
        write(dir.path(), "config.d/ignored.conf", "not = toml = at all");
        write(
            dir.path(),
            "tenants.d/gamma.toml",
            "policy = \"gamma.wasm\"\nsettings = { max_pids = 64 }\n[ceilings]\nmemory = \"1G\"\npids = 256\ncpus = 1.5\n",
        );
        let config = load_from(&main).expect("loads");
        let values = &config.values;
        assert_eq!(values.cgroup_root, Some(CgroupRoot("later".into())));
        assert_eq!(
            values.limits.deadline,
            Some(Deadline(std::time::Duration::from_secs(2)))
        );
        assert_eq!(values.limits.memory_cap_mib, Some(Count(32)));
        let platform: Vec<PathBuf> = values.platform.iter().map(|p| p.policy.clone()).collect();
        assert_eq!(
            platform,
            [
                dir.path().join("platform.wasm"),
                dir.path().join("config.d/sub/first.wasm"),
                PathBuf::from("/late.wasm"),
            ]
        );
        assert_eq!(config.platform_sources[0], main);
        assert_eq!(config.tenant_names(), ["acme", "beta", "gamma"]);
        assert_eq!(config.tenant("beta").map(|t| t.mode), Some(Mode::Audit));
        let gamma = config.tenant("gamma").expect("gamma");
        assert_eq!(gamma.policy, Some(dir.path().join("tenants.d/gamma.wasm")));
        assert_eq!(
            gamma.ceilings.map(|c| c.ceilings()),
            Some(crate::decision::Ceilings {
                memory: Some(1 << 30),
                pids: Some(256),
                cpus: Some(1.5),
            })
        );
        assert_eq!(
            config.tenant_sources["gamma"],
            dir.path().join("tenants.d/gamma.toml")
        );
        assert_eq!(config.files.len(), 4, "{:?}", config.files);
    }

    #[test]
    fn the_host_id_pool_defaults_and_errors_name_the_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let read = |text: &str| {
            let path = write(dir.path(), "pool.toml", text);
            load_from(&path).map(|config| config.values.host_ids)
        };
        assert_eq!(read("").expect("loads"), None);
        assert_eq!(
            HostIdPool::default(),
            HostIdPool::Range {
                start: 2147483648,
                size: 32767 * 65536
            }
        );
        assert_eq!(
            read("[host_ids]\n").expect("loads"),
            Some(HostIdPool::default())
        );
        assert_eq!(
            read("[host_ids]\nstart = 4294836224\n").expect("loads"),
            Some(HostIdPool::Range {
                start: 4294836224,
                size: 65536
            }),
            "as many ranges as fit below 4294967295"
        );
        assert_eq!(
            read("[host_ids]\nsize = 131072\n").expect("loads"),
            Some(HostIdPool::Range {
                start: 2147483648,
                size: 131072
            })
        );
        assert_eq!(
            read("[host_ids]\nsubids = \"enforcer\"\n").expect("loads"),
            Some(HostIdPool::Subids {
                owner: "enforcer".into()
            })
        );
        assert_eq!(
            error_of("[host_ids]\nstart = 4294967295\n"),
            "config FILE line 2: host_ids.start: 4294967295 is not a host id from 1 to 4294967294 (4294967295 is the kernel's \"no id\")"
        );
        for (text, needle) in [
            (
                "[host_ids]\nsize = 0\n",
                "line 2: host_ids.size: 0 must be a positive multiple of 65536",
            ),
            (
                "[host_ids]\nstart = -1\n",
                "line 2: host_ids.start: -1 is not a host id",
            ),
            (
                "[host_ids]\nstart = 4294967040\n",
                "host_ids: start = 4294967040 leaves no room",
            ),
            (
                "[host_ids]\nstart = 4000000000\nsize = 655360000\n",
                "end at host id 4655359999, past 4294967294",
            ),
            (
                "[host_ids]\nsubids = \"a:b\"\n",
                "host_ids.subids: \"a:b\" must be a user name",
            ),
            (
                "[host_ids]\nsubids = \"svc\"\nsize = 65536\n",
                "host_ids: subids = \"svc\" and start/size exclude each other",
            ),
        ] {
            let error = error_of(text);
            assert!(error.contains(needle), "{text:?}: {error}");
        }
    }

    #[test]
    fn a_drop_in_replaces_the_host_id_pool_as_a_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let main = write(dir.path(), "config.toml", "[host_ids]\nsubids = \"svc\"\n");
        write(
            dir.path(),
            "config.d/10-range.toml",
            "[host_ids]\nstart = 3000000000\n",
        );
        let config = load_from(&main).expect("loads");
        assert_eq!(
            config.values.host_ids,
            Some(HostIdPool::Range {
                start: 3000000000,
                size: 19759 * 65536
            })
        );
        let shown = toml::to_string(&config.values).expect("shows");
        assert!(
            shown.contains("[host_ids]\nstart = 3000000000\nsize = 1294925824\n"),
            "{shown}"
        );
    }

    #[test]
    fn networks_fill_in_their_defaults() {
        let dir = tempfile::tempdir().expect("tempdir");
        let main = write(
            dir.path(),
            "config.toml",
            "[networks.default]\nbridge = \"enforcer0\"\nsubnet = \"192.0.2.0/24\"\n\n\
             [networks.web-2]\nbridge = \"br-web\"\nsubnet = \"198.51.100.0/28\"\ngateway = \"198.51.100.14\"\n\
             subnet6 = \"2001:db8:1::/64\"\negress = [{ destination = \"203.0.113.0/24\", protocol = \"tcp\", port = 443, endPort = 444 }, { destination = \"2001:db8:9::1\" }]\n\
             masquerade = true\nmtu = 1400\n\n[networks.closed]\nbridge = \"br-closed\"\nsubnet = \"203.0.113.0/30\"\negress = \"none\"\n",
        );
        let config = load_from(&main).expect("loads");
        let networks = config.networks();
        assert_eq!(
            networks.keys().collect::<Vec<_>>(),
            ["closed", "default", "web-2"]
        );
        let default = &networks["default"];
        assert_eq!(
            default,
            &NetworkSpec {
                name: "default".into(),
                bridge: "enforcer0".into(),
                subnet: policy_model::decision::Cidr::parse("192.0.2.0/24").expect("cidr"),
                gateway: "192.0.2.1".parse().expect("address"),
                subnet6: None,
                gateway6: None,
                egress: crate::network::networks::DefaultEgress::All,
                masquerade: false,
                mtu: None,
            }
        );
        let web = config.network("web-2").expect("web-2");
        assert_eq!(web.gateway.to_string(), "198.51.100.14");
        assert_eq!(
            web.gateway6.map(|g| g.to_string()).as_deref(),
            Some("2001:db8:1::1")
        );
        assert_eq!(
            web.egress.allow_list(),
            [
                policy_model::decision::EgressRule {
                    end_port: Some(444),
                    ..policy_model::decision::EgressRule::tcp("203.0.113.0/24", 443)
                },
                policy_model::decision::EgressRule::to("2001:db8:9::1"),
            ]
        );
        assert!(web.masquerade);
        assert_eq!(web.mtu, Some(1400));
        assert_eq!(
            networks["closed"].egress,
            crate::network::networks::DefaultEgress::None
        );
        assert_eq!(config.network_sources["closed"], main);
        assert!(config.network("absent").is_none());
        // Shown, it reads back the same.
        let shown = toml::to_string(&config.values).expect("shows");
        let again = write(dir.path(), "again/config.toml", &shown);
        assert_eq!(
            load_from(&again).expect("reads back").networks(),
            networks,
            "{shown}"
        );
        let json = serde_json::to_value(&networks["web-2"]).expect("json");
        assert_eq!(json["subnet"], "198.51.100.0/28");
        assert_eq!(json["subnet6"], "2001:db8:1::/64");
        assert_eq!(json["egress"]["list"][0]["endPort"], 444);
    }

    #[test]
    fn network_errors_name_the_file_line_and_key() {
        let network = |extra: &str| {
            format!(
                "[networks.default]\nbridge = \"enforcer0\"\nsubnet = \"192.0.2.0/24\"\n{extra}"
            )
        };
        let mut failures = Vec::new();
        for (text, expected) in [
            (
                "[networks.Default]\nbridge = \"b\"\nsubnet = \"192.0.2.0/24\"\n".to_string(),
                "config FILE line 1: networks.Default: network \"Default\" must be 1 to 32 characters of a-z, 0-9, '_' and '-', starting with a letter or digit",
            ),
            (
                network("bogus = 1\n"),
                "config FILE line 4: networks.default.bogus: unknown field `bogus`, expected one of `bridge`, `subnet`,",
            ),
            (
                "[networks.default]\nbridge = \"enforcer0\"\n".to_string(),
                "config FILE line 1: networks.default: missing field `subnet`",
            ),
            (
                "[networks.default]\nbridge = \"a-very-long-bridge\"\nsubnet = \"192.0.2.0/24\"\n".to_string(),
                "config FILE line 2: networks.default.bridge: \"a-very-long-bridge\" is not an interface name",
            ),
            (
                "[networks.default]\nbridge = \"br/0\"\nsubnet = \"192.0.2.0/24\"\n".to_string(),
                "config FILE line 2: networks.default.bridge: \"br/0\" is not an interface name",
            ),
            (
                "[networks.default]\nbridge = \"enf0123456789i0\"\nsubnet = \"192.0.2.0/24\"\n".to_string(),
                "config FILE line 2: networks.default.bridge: \"enf0123456789i0\" has the form of the host-side interface names",
            ),
            (
                "[networks.default]\nbridge = \"b\"\nsubnet = \"192.0.2.1/24\"\n".to_string(),
                "config FILE line 3: networks.default.subnet: 192.0.2.1/24 has host bits set: the block is 192.0.2.0/24",
            ),
            (
                "[networks.default]\nbridge = \"b\"\nsubnet = \"192.0.2.0/31\"\n".to_string(),
                "config FILE line 3: networks.default.subnet: \"192.0.2.0/31\": the prefix must be /8 to /30",
            ),
            (
                "[networks.default]\nbridge = \"b\"\nsubnet = \"2001:db8::/64\"\n".to_string(),
                "config FILE line 3: networks.default.subnet: \"2001:db8::/64\" must be an IPv4 block",
            ),
            (
                network("gateway = \"192.0.2.255\"\n"),
                "networks.default: gateway 192.0.2.255 is not a host address of subnet 192.0.2.0/24 (192.0.2.1 to 192.0.2.254)",
            ),
            (
                network("gateway = \"gw\"\n"),
                "config FILE line 4: networks.default.gateway: \"gw\" is not an IPv4 address",
            ),
            (
                network("gateway6 = \"2001:db8::1\"\n"),
                "networks.default: gateway6 = 2001:db8::1 needs subnet6",
            ),
            (
                network("subnet6 = \"2001:db8::/56\"\n"),
                "config FILE line 4: networks.default.subnet6: \"2001:db8::/56\": the prefix must be /64 to /120",
            ),
            (
                network("subnet6 = \"2001:db8::/121\"\n"),
                "config FILE line 4: networks.default.subnet6: \"2001:db8::/121\": the prefix must be /64 to /120",
            ),
            (
                "[networks.default]\nbridge = \"b\"\nsubnet = \"192.0.0.0/16\"\nsubnet6 = \"2001:db8::/120\"\n".to_string(),
                "networks.default: subnet6 2001:db8::/120 holds fewer addresses than subnet 192.0.0.0/16",
            ),
            (
                network("subnet6 = \"2001:db8::/64\"\ngateway6 = \"2001:db8::\"\n"),
                "networks.default: gateway6 2001:db8:: is not an address of subnet6 2001:db8::/64 after its base",
            ),
            (
                network("mtu = 67\n"),
                "config FILE line 4: networks.default.mtu: 67 is not an MTU from 68 to 65535",
            ),
            (
                network("masquerade = \"yes\"\n"),
                "config FILE line 4: networks.default.masquerade: invalid type: string \"yes\", expected a boolean",
            ),
            (
                network("egress = \"some\"\n"),
                "config FILE line 4: networks.default.egress: invalid value: string \"some\", expected \"all\", \"none\" or a list of rules",
            ),
            (
                network("egress = [{ destination = \"203.0.113.0/24\", port = 443 }]\n"),
                "networks.default.egress[0]: port 443 needs protocol = \"tcp\" or \"udp\"",
            ),
            (
                network("egress = [{ destination = \"203.0.113.0/24\", protocol = \"icmp\", port = 1 }]\n"),
                "port 1 needs protocol = \"tcp\" or \"udp\"",
            ),
            (
                network("egress = [{ destination = \"203.0.113.0/24\", protocol = \"tcp\", port = 443, endPort = 80 }]\n"),
                "endPort 80 is below port 443",
            ),
            (
                network("egress = [{ destination = \"203.0.113.0/24\", protocol = \"tcp\", endPort = 80 }]\n"),
                "endPort 80 needs a port",
            ),
            (
                network("egress = [{ destination = \"203.0.113.1/24\" }]\n"),
                "destination: 203.0.113.1/24 has host bits set",
            ),
            (
                network("egress = [{ destination = \"203.0.113.0/24\", proto = \"tcp\" }]\n"),
                "unknown field `proto`",
            ),
        ] {
            let error = error_of(&text);
            if !error.contains(expected) {
                failures.push(format!("{text:?}:\n{error}\nlacks\n{expected}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    }

    #[test]
    fn a_drop_in_replaces_a_network_and_networks_may_not_collide() {
        let dir = tempfile::tempdir().expect("tempdir");
        let main = write(
            dir.path(),
            "config.toml",
            "[networks.default]\nbridge = \"enforcer0\"\nsubnet = \"192.0.2.0/24\"\nmasquerade = true\n\
             [networks.other]\nbridge = \"br-other\"\nsubnet = \"198.51.100.0/24\"\n",
        );
        let drop_in = write(
            dir.path(),
            "config.d/10-default.toml",
            "[networks.default]\nbridge = \"enforcer1\"\nsubnet = \"203.0.113.0/24\"\n",
        );
        let config = load_from(&main).expect("loads");
        let default = config.network("default").expect("default");
        assert_eq!(default.bridge, "enforcer1");
        assert_eq!(default.subnet.to_string(), "203.0.113.0/24");
        assert!(
            !default.masquerade,
            "replaced as a whole, not merged key by key"
        );
        assert_eq!(config.network_sources["default"], drop_in);
        assert_eq!(config.network_sources["other"], main);

        let collide = |text: &str| {
            write(dir.path(), "config.d/20-new.toml", text);
            load_from(&main).expect_err("collides").to_string()
        };
        let bridge = collide("[networks.new]\nbridge = \"br-other\"\nsubnet = \"192.0.2.0/24\"\n");
        assert!(
            bridge.contains(&format!(
                "config {}: networks.other.bridge: br-other is also the bridge of network new (networks.new, in {}); each network needs its own",
                main.display(),
                dir.path().join("config.d/20-new.toml").display()
            )),
            "{bridge}"
        );
        let subnet =
            collide("[networks.new]\nbridge = \"br-new\"\nsubnet = \"198.51.100.128/25\"\n");
        assert!(
            subnet.contains("networks.other.subnet: 198.51.100.0/24 overlaps 198.51.100.128/25, the subnet of network new"),
            "{subnet}"
        );
        let subnet6 = collide(
            "[networks.new]\nbridge = \"br-new\"\nsubnet = \"192.0.2.0/24\"\nsubnet6 = \"2001:db8::/64\"\n\
             [networks.zz]\nbridge = \"br-zz\"\nsubnet = \"192.0.2.0/24\"\n",
        );
        assert!(subnet6.contains("overlaps"), "{subnet6}");
        let v6 = collide(
            "[networks.new]\nbridge = \"br-new\"\nsubnet = \"192.0.2.0/24\"\nsubnet6 = \"2001:db8::/64\"\n\
             [networks.new2]\nbridge = \"br-new2\"\nsubnet = \"198.18.0.0/24\"\nsubnet6 = \"2001:db8::/96\"\n",
        );
        assert!(
            v6.contains("networks.new2.subnet6: 2001:db8::/96 overlaps 2001:db8::/64, the subnet6 of network new"),
            "{v6}"
        );
    }

    #[test]
    fn a_drop_in_cannot_empty_the_platform_chain() {
        let dir = tempfile::tempdir().expect("tempdir");
        let main = write(
            dir.path(),
            "config.toml",
            "[[platform]]\npolicy = \"/p.wasm\"\n",
        );
        write(dir.path(), "config.d/99-empty.toml", "platform = []\n");
        let config = load_from(&main).expect("loads");
        assert_eq!(config.values.platform.len(), 1);
    }

    #[test]
    fn a_tenant_in_two_files_names_both() {
        let dir = tempfile::tempdir().expect("tempdir");
        let main = write(dir.path(), "config.toml", "[tenants.acme]\n");
        let drop_in = write(dir.path(), "tenants.d/acme.toml", "mode = \"audit\"\n");
        let error = load_from(&main).expect_err("duplicate").to_string();
        assert!(
            error.contains(&main.display().to_string())
                && error.contains(&drop_in.display().to_string())
                && error.contains("tenant acme is defined twice"),
            "{error}"
        );
    }

    #[test]
    fn tenants_d_file_names_must_be_tenant_names() {
        let dir = tempfile::tempdir().expect("tempdir");
        let main = write(dir.path(), "config.toml", "");
        write(dir.path(), "tenants.d/Not_OK.toml", "");
        let error = load_from(&main).expect_err("bad name").to_string();
        assert!(
            error.contains("tenants.d/Not_OK.toml: the file name: tenant \"Not_OK\""),
            "{error}"
        );
    }

    #[test]
    fn the_default_path_may_be_absent_an_explicit_one_may_not() {
        let missing = Path::new("/nonexistent/enforcer/config.toml");
        let error = load(Some(missing)).expect_err("missing").to_string();
        assert!(error.contains("no such file"), "{error}");
    }
}
