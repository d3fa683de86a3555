//! One parser per `/proc` file the enforcer reads, each a pure function of
//! the file's contents with a thin reader beside it:
//!
//! * `/proc/<pid>/stat` ([`Stat`]): state, parent, start time, ...;
//! * `/proc/<pid>/cgroup` ([`parse_proc_cgroup`]): a process's cgroup per
//!   hierarchy;
//! * `/proc/cgroups` ([`parse_proc_cgroups`]): the controllers the kernel
//!   knows;
//! * the `CapEff` line of `/proc/<pid>/status` ([`effective_capabilities`]).

use std::borrow::Cow;

/// `/proc/<pid>/stat` of one process, split into fields as `proc(5)`
/// numbers them. The command (field 2) is whatever the process named
/// itself, spaces, parentheses and bytes that are not UTF-8 included: it
/// runs from the first `(` to the last `)`, and every other field is read
/// after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat<'a> {
    /// Field 1: the pid.
    pub pid: i32,
    /// Field 2: the command, without its parentheses (not UTF-8 replaced).
    pub comm: Cow<'a, str>,
    /// Fields 3 on.
    fields: Vec<&'a str>,
}

impl<'a> Stat<'a> {
    /// Parses the contents of `/proc/<pid>/stat`; `None` when it is not
    /// one.
    pub fn parse(text: &'a [u8]) -> Option<Stat<'a>> {
        let close = text.iter().rposition(|&byte| byte == b')')?;
        let open = text.iter().position(|&byte| byte == b'(')?;
        if open >= close {
            return None;
        }
        let pid = std::str::from_utf8(&text[..open])
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let comm = String::from_utf8_lossy(&text[open + 1..close]);
        let fields: Vec<&str> = std::str::from_utf8(&text[close + 1..])
            .ok()?
            .split_ascii_whitespace()
            .collect();
        // A stat line has at least up to `starttime` (field 22).
        (fields.len() >= 20).then_some(Stat { pid, comm, fields })
    }

    /// Field `number` (1-based, as `proc(5)` counts; 3 and above).
    pub fn field(&self, number: usize) -> Option<&'a str> {
        self.fields.get(number.checked_sub(3)?).copied()
    }

    /// Field `number` as a number.
    pub fn number(&self, number: usize) -> Option<u64> {
        self.field(number)?.parse().ok()
    }

    /// Field 3: `R`, `S`, `D`, `Z`, `X`, ...
    pub fn state(&self) -> Option<char> {
        let state = self.field(3)?;
        let mut chars = state.chars();
        let first = chars.next()?;
        chars.next().is_none().then_some(first)
    }

    /// Whether the process is a zombie or dead (state `Z` or `X`).
    pub fn is_dead(&self) -> bool {
        matches!(self.state(), Some('Z' | 'X'))
    }

    /// Field 4: the parent's pid.
    pub fn ppid(&self) -> Option<i32> {
        self.field(4)?.parse().ok()
    }

    /// Field 22: the start time in clock ticks after boot, which tells a
    /// process from a later one with the same pid.
    pub fn start_time(&self) -> Option<u64> {
        self.number(22)
    }
}

/// The bytes of `/proc/<pid>/stat` (`pid` may be `self`), for
/// [`Stat::parse`]. Bytes, not text: the command need not be UTF-8.
pub fn read_stat(pid: impl std::fmt::Display) -> std::io::Result<Vec<u8>> {
    std::fs::read(format!("/proc/{pid}/stat"))
}

/// One line of `/proc/<pid>/cgroup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// Hierarchy id (0 for cgroup2).
    pub hierarchy_id: u32,
    /// Controllers of a v1 hierarchy (`cpu,cpuacct`), or `name=systemd`;
    /// empty for cgroup2.
    pub controllers: Vec<String>,
    /// Path relative to the hierarchy's root (it may contain `:`).
    pub path: String,
}

impl Membership {
    /// Whether this line is the cgroup2 one (`0::/path`).
    pub fn is_unified(&self) -> bool {
        self.hierarchy_id == 0 && self.controllers.is_empty()
    }

    /// The name of a v1 named hierarchy (`name=systemd` → `systemd`).
    pub fn name(&self) -> Option<&str> {
        self.controllers
            .iter()
            .find_map(|entry| entry.strip_prefix("name="))
    }

    /// Whether this line lists controller `controller` (`memory`).
    pub fn has_controller(&self, controller: &str) -> bool {
        self.controllers.iter().any(|entry| entry == controller)
    }
}

/// Parses both formats: `hierarchy-ID:controller-list:path` (v1) and
/// `0::path` (v2). Malformed lines are skipped.
pub fn parse_proc_cgroup(text: &str) -> Vec<Membership> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let hierarchy_id = parts.next()?.parse().ok()?;
            let controllers = parts.next()?;
            let path = parts.next()?.to_string();
            Some(Membership {
                hierarchy_id,
                controllers: controllers
                    .split(',')
                    .filter(|name| !name.is_empty())
                    .map(String::from)
                    .collect(),
                path,
            })
        })
        .collect()
}

/// The text of `/proc/<pid>/cgroup` (`pid` may be `self`), for
/// [`parse_proc_cgroup`].
pub fn read_proc_cgroup(pid: impl std::fmt::Display) -> std::io::Result<String> {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
}

/// One row of `/proc/cgroups`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelController {
    /// The controller.
    pub name: String,
    /// The v1 hierarchy it is bound to; 0 when on cgroup2 or on none.
    pub hierarchy: u32,
    /// How many cgroups its hierarchy has.
    pub cgroups: u64,
    /// Whether it is enabled (not `cgroup_disable=`).
    pub enabled: bool,
}

/// Parses `/proc/cgroups`, in its order; the heading and malformed rows
/// are skipped.
pub fn parse_proc_cgroups(text: &str) -> Vec<KernelController> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [name, hierarchy, cgroups, enabled] = fields.as_slice() else {
                return None;
            };
            Some(KernelController {
                name: name.to_string(),
                hierarchy: hierarchy.parse().ok()?,
                cgroups: cgroups.parse().ok()?,
                enabled: *enabled == "1",
            })
        })
        .collect()
}

/// The text of `/proc/cgroups`, for [`parse_proc_cgroups`].
pub fn read_proc_cgroups() -> std::io::Result<String> {
    std::fs::read_to_string("/proc/cgroups")
}

/// The `CapEff` mask of `/proc/<pid>/status` (bit n: capability n); 0
/// when the line is missing or malformed.
pub fn effective_capabilities(status: &str) -> u64 {
    status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(0)
}

/// Whether this process has capability `number` in its effective set
/// (see [`super::capability_number`]).
pub fn has_capability(number: u32) -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    number < 64 && effective_capabilities(&status) & (1 << number) != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stat line of pid `pid` with command `comm`: state S, parent 1,
    /// start time 4242 (field 22), 52 fields in all.
    fn stat_line(pid: i32, comm: &[u8]) -> Vec<u8> {
        let mut line = format!("{pid} (").into_bytes();
        line.extend_from_slice(comm);
        line.extend_from_slice(b") S 1");
        for field in 5..=52 {
            let value = if field == 22 { 4242 } else { field };
            line.extend_from_slice(format!(" {value}").as_bytes());
        }
        line.push(b'\n');
        line
    }

    #[test]
    fn stat_fields_are_counted_after_the_last_parenthesis() {
        for comm in [
            &b"sh"[..],
            b"a b",
            b") S 99 (",
            b"x) R 7 8 (y",
            b"((",
            b"",
            b"\xff\xfe",
        ] {
            let line = stat_line(42, comm);
            let stat = Stat::parse(&line).unwrap_or_else(|| panic!("{comm:?}"));
            assert_eq!(stat.pid, 42);
            assert_eq!(stat.comm, String::from_utf8_lossy(comm), "{comm:?}");
            assert_eq!(stat.state(), Some('S'), "{comm:?}");
            assert_eq!(stat.ppid(), Some(1), "{comm:?}");
            assert_eq!(stat.start_time(), Some(4242), "{comm:?}");
            assert_eq!(stat.number(52), Some(52));
            assert_eq!(stat.field(53), None);
            assert_eq!(stat.field(2), None, "the command is not a field");
            assert!(!stat.is_dead());
        }
    }

    #[test]
    fn malformed_stat_is_refused() {
        for text in [
            &b""[..],
            b"42",
            b"42 (sh",
            b"42 sh) S 1",
            b") 42 (sh S 1",
            b"x (sh) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20",
            b"42 (sh) S 1 2 3",
        ] {
            assert_eq!(
                Stat::parse(text),
                None,
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
        let zombie = stat_line(7, b"gone").replacen(b") S", b") Z");
        assert!(Stat::parse(&zombie).expect("parses").is_dead());
    }

    trait ReplaceBytes {
        fn replacen(&self, from: &[u8], to: &[u8]) -> Vec<u8>;
    }

    impl ReplaceBytes for Vec<u8> {
        fn replacen(&self, from: &[u8], to: &[u8]) -> Vec<u8> {
            let at = self
                .windows(from.len())
                .position(|window| window == from)
                .expect("present");
            [&self[..at], to, &self[at + from.len()..]].concat()
        }
    }

    #[test]
    fn this_process_and_a_thread_with_a_hostile_name() {
        let bytes = read_stat("self").expect("readable");
        let stat = Stat::parse(&bytes).expect("parses");
        assert_eq!(stat.pid, std::process::id() as i32);
        assert!(stat.state().is_some() && !stat.is_dead());
        assert!(stat.start_time().is_some());
        // A thread names itself like a stat line, with a byte that is not
        // UTF-8: the kernel writes it as is and the fields still parse.
        let (tid, bytes) = std::thread::spawn(|| {
            let name = b") Z 1 (\xff\0";
            // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most
            // 16 bytes from a buffer we own.
            let set = unsafe { nix::libc::prctl(nix::libc::PR_SET_NAME, name.as_ptr()) };
            assert_eq!(set, 0);
            // SAFETY: gettid has no arguments.
            let tid = unsafe { nix::libc::gettid() };
            (
                tid,
                std::fs::read("/proc/thread-self/stat").expect("readable"),
            )
        })
        .join()
        .expect("thread");
        let stat = Stat::parse(&bytes).expect("parses");
        assert_eq!(stat.pid, tid);
        assert_eq!(stat.comm, ") Z 1 (\u{fffd}");
        assert_eq!(stat.state(), Some('R'));
        assert!(!stat.is_dead());
        assert_eq!(stat.ppid(), Some(nix::unistd::getppid().as_raw()));
    }

    #[test]
    fn parses_v1_and_v2_cgroup_lines() {
        let text = "12:pids:/user.slice\n4:cpu,cpuacct:/\n1:name=systemd:/init.scope\n\
                    0::/a:b\nbroken\nx:memory:/\n5:memory\n";
        let entries = parse_proc_cgroup(text);
        assert_eq!(entries.len(), 4);
        assert_eq!(entries[0].controllers, ["pids"]);
        assert!(entries[0].has_controller("pids"));
        assert_eq!(entries[1].controllers, ["cpu", "cpuacct"]);
        assert_eq!(entries[1].name(), None);
        assert_eq!(entries[2].controllers, ["name=systemd"]);
        assert_eq!(entries[2].name(), Some("systemd"));
        assert!(!entries[2].is_unified());
        assert!(entries[3].is_unified());
        assert_eq!(entries[3].path, "/a:b", "a colon in the path is kept");
    }

    #[test]
    fn a_named_hierarchy_with_controllers_and_colons_in_paths() {
        let entries = parse_proc_cgroup("3:cpu,name=mine:/x:y:z\n0::/::\n");
        assert_eq!(entries[0].name(), Some("mine"));
        assert!(entries[0].has_controller("cpu"));
        assert_eq!(entries[0].path, "/x:y:z");
        assert_eq!(entries[1].path, "/::");
    }

    #[test]
    fn parses_this_process_cgroups() {
        let text = read_proc_cgroup("self").expect("readable");
        let entries = parse_proc_cgroup(&text);
        assert_eq!(entries.len(), text.lines().count());
        assert!(entries.iter().all(|entry| entry.path.starts_with('/')));
    }

    #[test]
    fn proc_cgroups_rows_in_order() {
        let text = "#subsys_name\thierarchy\tnum_cgroups\tenabled\n\
                    cpuset\t2\t3\t1\nmemory\t0\t90\t0\nbroken\t1\nx\ty\t1\t1\n";
        let rows = parse_proc_cgroups(text);
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows[0],
            KernelController {
                name: "cpuset".into(),
                hierarchy: 2,
                cgroups: 3,
                enabled: true
            }
        );
        assert!(!rows[1].enabled);
        let this_host = parse_proc_cgroups(&read_proc_cgroups().expect("readable"));
        assert!(this_host.iter().any(|row| row.name == "memory"));
    }

    #[test]
    fn effective_capabilities_from_status() {
        let status = "Name:\tsh\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n";
        assert_eq!(effective_capabilities(status), 0x1ff_ffff_ffff);
        assert_eq!(effective_capabilities("CapEff:\tzz\n"), 0);
        assert_eq!(effective_capabilities(""), 0);
        assert!(!has_capability(64));
        let status = std::fs::read_to_string("/proc/self/status").expect("readable");
        let mask = effective_capabilities(&status);
        for (name, number) in super::super::CAPABILITIES {
            assert_eq!(has_capability(*number), mask & (1 << number) != 0, "{name}");
        }
    }
}
