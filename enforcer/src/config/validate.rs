//! The rules for single values of the config: names, paths, durations,
//! sizes and counts. Each returns the message the config error shows after
//! the file, line and field. The command line uses the same rules for its
//! flags of the same meaning.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::Duration;

use policy_model::decision::{Cidr, EgressRule, Protocol};

/// Smallest memory ceiling: one page.
pub const MIN_MEMORY_BYTES: i64 = 4096;

/// The first host id of the default host id pool: 2^31.
pub const DEFAULT_HOST_ID_START: u32 = 1 << 31;

/// The ids of one leased range, and the unit of a pool's size.
pub const HOST_ID_RANGE: u32 = 65_536;

/// The highest host id a pool may hold: 4294967295 is `(uid_t) -1`, which
/// the kernel reads as "no id".
pub const MAX_HOST_ID: u32 = u32::MAX - 1;

/// The largest pool from `start`: as many whole ranges of
/// [`HOST_ID_RANGE`] ids as fit up to [`MAX_HOST_ID`] (0 if none does).
pub fn host_id_pool_fit(start: u32) -> u32 {
    let room = u64::from(MAX_HOST_ID) + 1 - u64::from(start.min(MAX_HOST_ID));
    let ranges = room / u64::from(HOST_ID_RANGE);
    u32::try_from(ranges * u64::from(HOST_ID_RANGE)).unwrap_or(u32::MAX - HOST_ID_RANGE + 1)
}

/// Checks `host_ids.start`: from 1 (host root is never leased) to
/// [`MAX_HOST_ID`].
pub fn check_host_id_start(value: i64) -> Result<u32, String> {
    match u32::try_from(value) {
        Ok(0) => Err(
            "0 is the host's root: the pool must start above it (the default is 2147483648)"
                .to_string(),
        ),
        Ok(start) if start <= MAX_HOST_ID => Ok(start),
        _ => Err(format!(
            "{value} is not a host id from 1 to {MAX_HOST_ID} (4294967295 is the kernel's \"no id\")"
        )),
    }
}

/// Checks `host_ids.size`: a positive multiple of [`HOST_ID_RANGE`].
pub fn check_host_id_size(value: i64) -> Result<u32, String> {
    match u32::try_from(value) {
        Ok(size) if size > 0 && size % HOST_ID_RANGE == 0 => Ok(size),
        _ => Err(format!(
            "{value} must be a positive multiple of {HOST_ID_RANGE} (each sandbox leases {HOST_ID_RANGE} ids)"
        )),
    }
}

/// Checks a host id pool of `size` ids from `start` as a whole: it ends at
/// [`MAX_HOST_ID`] or below and holds at least one range.
pub fn check_host_id_pool(start: u32, size: u32) -> Result<(), String> {
    if size == 0 {
        return Err(format!(
            "start = {start} leaves no room for a range of {HOST_ID_RANGE} ids below 4294967295"
        ));
    }
    let last = u64::from(start) + u64::from(size) - 1;
    if last > u64::from(MAX_HOST_ID) {
        return Err(format!(
            "start = {start} and size = {size} end at host id {last}, past {MAX_HOST_ID} (4294967295 is the kernel's \"no id\"); the largest size from this start is {}",
            host_id_pool_fit(start)
        ));
    }
    Ok(())
}

/// Checks `host_ids.subids`: a name or uid as `/etc/subuid` writes it.
pub fn parse_subid_owner(text: &str) -> Result<String, String> {
    let valid = !text.is_empty()
        && text.len() <= 256
        && !text.contains([':', '\n', '#'])
        && !text.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(text.to_string())
    } else {
        Err(format!(
            "{text:?} must be a user name or uid as /etc/subuid writes it (no ':', spaces or control characters)"
        ))
    }
}

/// Checks a cgroup root: one directory name of `A-Z a-z 0-9 - _ .`.
pub fn parse_cgroup_root(text: &str) -> Result<String, String> {
    let valid = !text.is_empty()
        && text != "."
        && text != ".."
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if valid {
        Ok(text.to_string())
    } else {
        Err(format!(
            "{text:?} must be one directory name of A-Z, a-z, 0-9, '-', '_' and '.'"
        ))
    }
}

/// Checks a tenant name (the rule of [`crate::request::is_valid_tenant`]).
pub fn parse_tenant_name(text: &str) -> Result<String, String> {
    if crate::request::is_valid_tenant(text) {
        Ok(text.to_string())
    } else {
        Err(format!(
            "tenant {text:?} must be 1 to 63 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit"
        ))
    }
}

/// The longest network name.
pub const MAX_NETWORK_NAME: usize = 32;

/// Shortest and longest IPv4 prefix of a network's `subnet`.
pub const SUBNET_PREFIXES: std::ops::RangeInclusive<u8> = 8..=30;

/// Shortest and longest IPv6 prefix of a network's `subnet6`.
pub const SUBNET6_PREFIXES: std::ops::RangeInclusive<u8> = 64..=120;

/// The MTUs a network may set (68 is IPv4's minimum).
pub const MTUS: std::ops::RangeInclusive<u32> = 68..=65535;

/// Checks a network name: `[a-z0-9][a-z0-9_-]{0,31}` (it names a
/// directory of leases, so no `.` or `/`).
pub fn parse_network_name(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let valid = !bytes.is_empty()
        && bytes.len() <= MAX_NETWORK_NAME
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if valid {
        Ok(text.to_string())
    } else {
        Err(format!(
            "network {text:?} must be 1 to {MAX_NETWORK_NAME} characters of a-z, 0-9, '_' and '-', starting with a letter or digit"
        ))
    }
}

/// Checks a bridge name by the kernel's rules for interface names (1 to
/// 15 bytes, not `.` or `..`, no `/`, `:` or white space; printable
/// ASCII here), and that it cannot be a host-side interface name the
/// enforcer derives (`enf` + 10 hex digits + `i<index>`).
pub fn parse_bridge_name(text: &str) -> Result<String, String> {
    let max = policy_model::decision::MAX_INTERFACE_NAME;
    let valid = !text.is_empty()
        && text.len() <= max
        && text != "."
        && text != ".."
        && text
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'/' && b != b':');
    if !valid {
        return Err(format!(
            "{text:?} is not an interface name: 1 to {max} bytes of printable ASCII without '/', ':' or spaces, not '.' or '..'"
        ));
    }
    if is_derived_interface_name(text) {
        return Err(format!(
            "{text:?} has the form of the host-side interface names the enforcer derives (enf + 10 hex digits + i<index>); pick another name"
        ));
    }
    Ok(text.to_string())
}

/// Whether `name` has the form of [`crate::network::host_interface_name`].
fn is_derived_interface_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix(crate::network::HOST_INTERFACE_PREFIX) else {
        return false;
    };
    let (digest, index) = rest.split_at(rest.len().min(10));
    digest.len() == 10
        && digest.bytes().all(|b| b.is_ascii_hexdigit())
        && index
            .strip_prefix('i')
            .is_some_and(|index| !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit()))
}

/// Checks a network's `subnet`: an IPv4 block with its host bits clear
/// and a prefix in [`SUBNET_PREFIXES`].
pub fn parse_subnet(text: &str) -> Result<Cidr, String> {
    let block = Cidr::parse(text).map_err(|error| error.to_string())?;
    if !block.is_ipv4() || !text.contains('/') {
        return Err(format!(
            "{text:?} must be an IPv4 block such as 192.0.2.0/24"
        ));
    }
    if !SUBNET_PREFIXES.contains(&block.prefix) {
        return Err(format!(
            "{text:?}: the prefix must be /{} to /{} (a /31 or /32 leaves no address to lease besides the gateway)",
            SUBNET_PREFIXES.start(),
            SUBNET_PREFIXES.end()
        ));
    }
    Ok(block)
}

/// Checks a network's `subnet6`: an IPv6 block with its host bits clear
/// and a prefix in [`SUBNET6_PREFIXES`].
pub fn parse_subnet6(text: &str) -> Result<Cidr, String> {
    let block = Cidr::parse(text).map_err(|error| error.to_string())?;
    if block.is_ipv4() || !text.contains('/') {
        return Err(format!(
            "{text:?} must be an IPv6 block such as 2001:db8:1::/64"
        ));
    }
    if !SUBNET6_PREFIXES.contains(&block.prefix) {
        return Err(format!(
            "{text:?}: the prefix must be /{} to /{}",
            SUBNET6_PREFIXES.start(),
            SUBNET6_PREFIXES.end()
        ));
    }
    Ok(block)
}

/// Parses an IPv4 address (a network's `gateway`).
pub fn parse_ipv4(text: &str) -> Result<Ipv4Addr, String> {
    text.parse()
        .map_err(|_| format!("{text:?} is not an IPv4 address such as 192.0.2.1"))
}

/// Parses an IPv6 address (a network's `gateway6`).
pub fn parse_ipv6(text: &str) -> Result<Ipv6Addr, String> {
    text.parse()
        .map_err(|_| format!("{text:?} is not an IPv6 address such as 2001:db8:1::1"))
}

/// Checks a network's `mtu`.
pub fn check_mtu(value: i64) -> Result<u32, String> {
    match u32::try_from(value) {
        Ok(mtu) if MTUS.contains(&mtu) => Ok(mtu),
        _ => Err(format!(
            "{value} is not an MTU from {} to {}",
            MTUS.start(),
            MTUS.end()
        )),
    }
}

/// Checks one egress rule: its destination an address or a block (host
/// bits clear), a port only with `tcp` or `udp`, an `endPort` only with a
/// port and not below it.
pub fn check_egress_rule(rule: &EgressRule) -> Result<(), String> {
    Cidr::parse(&rule.destination).map_err(|error| format!("destination: {error}"))?;
    if rule.port == Some(0) {
        return Err("port: 0 is not a port (1 to 65535)".into());
    }
    if let Some(port) = rule.port
        && !matches!(rule.protocol, Some(Protocol::Tcp | Protocol::Udp))
    {
        return Err(format!(
            "port {port} needs protocol = \"tcp\" or \"udp\" (ICMP and \"every protocol\" have no ports)"
        ));
    }
    match (rule.port, rule.end_port) {
        (None, Some(end)) => Err(format!(
            "endPort {end} needs a port (the first of the range)"
        )),
        (Some(port), Some(end)) if end < port => Err(format!("endPort {end} is below port {port}")),
        _ => Ok(()),
    }
}

/// The host addresses of a network's IPv4 block: the first and the last
/// (the block without its network and broadcast addresses).
pub fn host_range(subnet: &Cidr) -> Option<(Ipv4Addr, Ipv4Addr)> {
    let IpAddr::V4(base) = subnet.address else {
        return None;
    };
    let size = 1u64 << (32 - u32::from(subnet.prefix));
    if size < 4 {
        return None;
    }
    let base = u64::from(u32::from(base));
    let first = u32::try_from(base + 1).ok()?;
    let last = u32::try_from(base + size - 2).ok()?;
    Some((Ipv4Addr::from(first), Ipv4Addr::from(last)))
}

/// Checks a network as a whole and fills in its defaults: the gateway (the
/// subnet's first host address) must be a host address of the subnet;
/// `gateway6` (the first address after the `subnet6` base) only with
/// `subnet6`, inside it and not its base; `subnet6` must hold as many
/// addresses as `subnet` (a sandbox's IPv6 address is the `subnet6` base
/// plus its IPv4 address's offset in `subnet`).
pub fn check_network(
    subnet: &Cidr,
    gateway: Option<Ipv4Addr>,
    subnet6: Option<&Cidr>,
    gateway6: Option<Ipv6Addr>,
) -> Result<(Ipv4Addr, Option<Ipv6Addr>), String> {
    let (first, last) =
        host_range(subnet).ok_or_else(|| format!("subnet {subnet} has no host addresses"))?;
    let gateway = gateway.unwrap_or(first);
    if !(first..=last).contains(&gateway) {
        return Err(format!(
            "gateway {gateway} is not a host address of subnet {subnet} ({first} to {last})"
        ));
    }
    let gateway6 = match (subnet6, gateway6) {
        (None, None) => None,
        (None, Some(gateway6)) => {
            return Err(format!(
                "gateway6 = {gateway6} needs subnet6 (the IPv6 block it lies in)"
            ));
        }
        (Some(block), gateway6) => {
            let IpAddr::V6(base) = block.address else {
                return Err(format!("subnet6 {block} is not an IPv6 block"));
            };
            if 128 - u32::from(block.prefix) < 32 - u32::from(subnet.prefix) {
                return Err(format!(
                    "subnet6 {block} holds fewer addresses than subnet {subnet}: a sandbox's IPv6 address is the subnet6 base plus its IPv4 address's offset in subnet, so subnet6 needs a prefix of /{} or shorter",
                    96 + u32::from(subnet.prefix)
                ));
            }
            let first6 = Ipv6Addr::from(u128::from(base) + 1);
            let gateway6 = gateway6.unwrap_or(first6);
            if !block.contains(IpAddr::V6(gateway6)) || gateway6 == base {
                return Err(format!(
                    "gateway6 {gateway6} is not an address of subnet6 {block} after its base {base}"
                ));
            }
            Some(gateway6)
        }
    };
    Ok((gateway, gateway6))
}

/// Parses a positive duration such as `100ms`, `2s` or `500us`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let value: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 100ms or 2s"))?;
    let duration = match unit {
        "ms" => Duration::from_millis(value),
        "s" => Duration::from_secs(value),
        "us" => Duration::from_micros(value),
        _ => return Err(format!("{text:?}: the unit must be us, ms or s")),
    };
    if duration.is_zero() {
        return Err(format!("{text:?}: the duration must be positive"));
    }
    Ok(duration)
}

/// Formats a duration the way [`parse_duration`] reads it.
pub fn format_duration(duration: Duration) -> String {
    let micros = duration.as_micros();
    if micros.is_multiple_of(1_000_000) {
        format!("{}s", micros / 1_000_000)
    } else if micros.is_multiple_of(1_000) {
        format!("{}ms", micros / 1_000)
    } else {
        format!("{micros}us")
    }
}

/// Parses a byte size: digits, optionally followed by `K`, `M`, `G` or
/// `T` (powers of 1024), e.g. `1G`, `512M`, `1048576`.
pub fn parse_size(text: &str) -> Result<i64, String> {
    let bad = || format!("{text:?} is not a size such as 512M, 1G or a byte count");
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let number: i64 = digits.parse().map_err(|_| bad())?;
    let shift = match unit {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return Err(bad()),
    };
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// Checks a memory ceiling: at least one page.
pub fn check_memory(bytes: i64) -> Result<i64, String> {
    if bytes >= MIN_MEMORY_BYTES {
        Ok(bytes)
    } else {
        Err(format!(
            "{bytes} must be at least {MIN_MEMORY_BYTES} bytes (one page)"
        ))
    }
}

/// Checks a count that must be positive.
pub fn check_positive(value: i64) -> Result<i64, String> {
    if value > 0 {
        Ok(value)
    } else {
        Err(format!("{value} must be positive"))
    }
}

/// Checks a CPU ceiling: at least 0.01 CPU, and finite.
pub fn check_cpus(cpus: f64) -> Result<f64, String> {
    if (0.01..=1_000_000.0).contains(&cpus) {
        Ok(cpus)
    } else {
        Err(format!("{cpus} must be a number of CPUs from 0.01 up"))
    }
}

/// Checks a path that must be absolute.
pub fn check_absolute(path: &Path) -> Result<(), String> {
    if path.is_absolute() {
        Ok(())
    } else {
        Err(format!("{} must be an absolute path", path.display()))
    }
}

/// A settings table as the JSON object a policy receives. TOML dates and
/// times become their TOML text; a float JSON cannot hold (NaN, infinity)
/// is an error.
pub fn settings_json(table: &toml::Table) -> Result<serde_json::Value, String> {
    table
        .iter()
        .map(|(key, value)| {
            toml_to_json(value)
                .map(|value| (key.clone(), value))
                .map_err(|error| format!("{key}: {error}"))
        })
        .collect::<Result<serde_json::Map<_, _>, _>>()
        .map(serde_json::Value::Object)
}

fn toml_to_json(value: &toml::Value) -> Result<serde_json::Value, String> {
    use serde_json::Value as Json;
    Ok(match value {
        toml::Value::String(text) => Json::String(text.clone()),
        toml::Value::Integer(number) => Json::from(*number),
        toml::Value::Float(number) => serde_json::Number::from_f64(*number)
            .map(Json::Number)
            .ok_or_else(|| {
                format!("{number} cannot be given to a policy (JSON has no such number)")
            })?,
        toml::Value::Boolean(flag) => Json::Bool(*flag),
        toml::Value::Datetime(datetime) => Json::String(datetime.to_string()),
        toml::Value::Array(items) => Json::Array(
            items
                .iter()
                .enumerate()
                .map(|(index, item)| {
                    toml_to_json(item).map_err(|error| format!("[{index}]: {error}"))
                })
                .collect::<Result<_, _>>()?,
        ),
        toml::Value::Table(table) => settings_json(table)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_suffixes() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("4K"), Ok(4096));
        for bad in ["", "G", "1g", "1 G", "1GB", "-1G", "1.5G"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
        assert!(parse_size("99999999999T").is_err());
    }

    #[test]
    fn durations_round_trip() {
        for text in ["100ms", "2s", "250us"] {
            let duration = parse_duration(text).expect("parses");
            assert_eq!(format_duration(duration), text);
        }
        for bad in ["0ms", "1m", "ms", "1.5s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names_follow_the_existing_rules() {
        assert!(parse_cgroup_root("enforcer").is_ok());
        assert!(parse_cgroup_root("a/b").is_err());
        assert!(parse_cgroup_root("..").is_err());
        assert!(parse_tenant_name("acme").is_ok());
        assert!(parse_tenant_name("Acme").is_err());
        assert!(parse_tenant_name("../x").is_err());
    }

    #[test]
    fn settings_become_json() {
        let table: toml::Table =
            toml::from_str("max_pids = 64\nname = \"x\"\nratio = 0.5\nlist = [1, 2]\n[nested]\nok = true\nwhen = 1979-05-27")
                .expect("parses");
        let json = settings_json(&table).expect("converts");
        assert_eq!(
            json,
            serde_json::json!({"max_pids": 64, "name": "x", "ratio": 0.5, "list": [1, 2],
                "nested": {"ok": true, "when": "1979-05-27"}})
        );
        let nan: toml::Table = toml::from_str("x = [nan]").expect("parses");
        assert!(
            settings_json(&nan)
                .expect_err("NaN")
                .starts_with("x: [0]: ")
        );
    }

    #[test]
    fn ceilings_must_be_positive() {
        assert!(check_memory(4095).is_err());
        assert!(check_positive(0).is_err());
        assert!(check_cpus(0.0).is_err());
        assert!(check_cpus(f64::NAN).is_err());
        assert!(check_cpus(1.5).is_ok());
    }
}
