//! `/etc/subuid` and `/etc/subgid` (subuid(5)): lines of
//! `owner:start:count`, the owner a login name or a uid. Only the named
//! owner's lines are read strictly; other lines are skipped, as are empty
//! lines and `#` comments.

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::{HostIdError, RANGE_SIZE};
use crate::config::MAX_HOST_ID;

/// The subordinate uid file.
pub const SUBUID_FILE: &str = "/etc/subuid";

/// The subordinate gid file.
pub const SUBGID_FILE: &str = "/etc/subgid";

/// Largest subid file read, in bytes.
const MAX_FILE_BYTES: u64 = 4 << 20;

/// One line of a subid file for the owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubidEntry {
    /// The first subordinate id.
    pub start: u32,
    /// How many.
    pub count: u32,
    /// Its line (from 1).
    pub line: usize,
}

/// The lines of `text` (read from `path`) that belong to `owner` (its
/// name, or `uid` written as a number).
pub fn parse(
    text: &str,
    owner: &str,
    uid: Option<u32>,
    path: &Path,
) -> Result<Vec<SubidEntry>, HostIdError> {
    let mut entries = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line_number = index + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split(':');
        let name = fields.next().unwrap_or_default();
        let ours = name == owner || uid.is_some_and(|uid| name == uid.to_string());
        if !ours {
            continue;
        }
        let bad = |why: String| HostIdError::Subids {
            path: path.to_path_buf(),
            line: Some(line_number),
            why,
        };
        let (Some(start), Some(count), None) = (fields.next(), fields.next(), fields.next()) else {
            return Err(bad(format!("{line:?} is not owner:start:count")));
        };
        let start: u32 = start
            .parse()
            .map_err(|_| bad(format!("{start:?} is not a host id")))?;
        let count: u32 = count
            .parse()
            .map_err(|_| bad(format!("{count:?} is not a count of ids")))?;
        if start == 0 {
            return Err(bad(
                "the range starts at 0, the host's root, which is never leased".into(),
            ));
        }
        if count > 0 && u64::from(start) + u64::from(count) - 1 > u64::from(MAX_HOST_ID) {
            return Err(bad(format!(
                "{start}:{count} reaches past {MAX_HOST_ID} (4294967295 is the kernel's \"no id\")"
            )));
        }
        entries.push(SubidEntry {
            start,
            count,
            line: line_number,
        });
    }
    Ok(entries)
}

/// The first ids of the whole ranges of [`RANGE_SIZE`] ids in `entries`,
/// sorted; two entries that overlap are an error naming their lines.
pub fn range_starts(entries: &[SubidEntry], path: &Path) -> Result<Vec<u32>, HostIdError> {
    let mut sorted = entries.to_vec();
    sorted.sort_by_key(|entry| entry.start);
    for pair in sorted.windows(2) {
        let (first, second) = (pair[0], pair[1]);
        if u64::from(first.start) + u64::from(first.count) > u64::from(second.start) {
            return Err(HostIdError::Subids {
                path: path.to_path_buf(),
                line: Some(second.line),
                why: format!(
                    "{}:{} overlaps {}:{} of line {}",
                    second.start, second.count, first.start, first.count, first.line
                ),
            });
        }
    }
    let mut starts = Vec::new();
    for entry in &sorted {
        let ranges = entry.count / RANGE_SIZE;
        starts.extend((0..ranges).map(|index| entry.start + index * RANGE_SIZE));
    }
    Ok(starts)
}

/// `start:count, ...` of `entries`, for messages.
pub fn describe(entries: &[SubidEntry]) -> String {
    if entries.is_empty() {
        return "none".to_string();
    }
    entries
        .iter()
        .map(|entry| format!("{}:{}", entry.start, entry.count))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads a subid file. Running as root, it must be owned by root and
/// writable by nobody else (whoever can write it chooses the host ids of
/// every sandbox).
pub fn read(path: &Path) -> Result<String, HostIdError> {
    let error = |why: String| HostIdError::Subids {
        path: path.to_path_buf(),
        line: None,
        why,
    };
    let file = std::fs::File::open(path).map_err(|err| error(format!("cannot read it: {err}")))?;
    let metadata = file
        .metadata()
        .map_err(|err| error(format!("cannot read it: {err}")))?;
    if !metadata.is_file() {
        return Err(error("it is not a regular file".into()));
    }
    if nix::unistd::geteuid().is_root() {
        if metadata.uid() != 0 {
            return Err(error(format!(
                "it is owned by uid {}, not root; running as root, the enforcer takes host ids only from a file owned by root and writable by nobody else",
                metadata.uid()
            )));
        }
        if metadata.mode() & 0o022 != 0 {
            return Err(error(format!(
                "its mode {:04o} lets group or others write to it; chmod go-w {}",
                metadata.mode() & 0o7777,
                path.display()
            )));
        }
    }
    let mut text = String::new();
    file.take(MAX_FILE_BYTES)
        .read_to_string(&mut text)
        .map_err(|err| error(format!("cannot read it: {err}")))?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "/test/subuid";

    fn entries(text: &str, owner: &str, uid: Option<u32>) -> Result<Vec<SubidEntry>, String> {
        parse(text, owner, uid, Path::new(FILE)).map_err(|error| error.to_string())
    }

    #[test]
    fn the_owners_lines_by_name_or_uid() {
        let text = "# comment\n\nalice:100000:65536\nbob:165536:65536\n1001:300000:131072\nalice:500000:1000\n";
        let alice = entries(text, "alice", Some(1001)).expect("parses");
        assert_eq!(
            alice,
            [
                SubidEntry {
                    start: 100000,
                    count: 65536,
                    line: 3
                },
                SubidEntry {
                    start: 300000,
                    count: 131072,
                    line: 5
                },
                SubidEntry {
                    start: 500000,
                    count: 1000,
                    line: 6
                },
            ]
        );
        let starts = range_starts(&alice, Path::new(FILE)).expect("no overlap");
        assert_eq!(starts, [100000, 300000, 365536], "1000 ids make no range");
        assert!(entries(text, "carol", None).expect("parses").is_empty());
    }

    #[test]
    fn bad_lines_of_the_owner_name_the_line() {
        for (text, needle) in [
            ("alice:x:65536\n", "line 1: \"x\" is not a host id"),
            (
                "bob:1\nalice:100000\n",
                "line 2: \"alice:100000\" is not owner:start:count",
            ),
            ("alice:0:65536\n", "line 1: the range starts at 0"),
            ("alice:4294901760:65536\n", "reaches past 4294967294"),
            ("alice:1:-5\n", "\"-5\" is not a count"),
        ] {
            let error = entries(text, "alice", None).expect_err(text);
            assert!(error.starts_with(FILE) && error.contains(needle), "{error}");
        }
        // Others' malformed lines are not ours to judge.
        assert!(
            entries("bob:garbage\n", "alice", None)
                .expect("skips")
                .is_empty()
        );
    }

    #[test]
    fn overlapping_entries_are_refused() {
        let entries = entries("a:100000:65536\na:150000:65536\n", "a", None).expect("parses");
        let error = range_starts(&entries, Path::new(FILE))
            .expect_err("overlap")
            .to_string();
        assert!(
            error.contains("line 2: 150000:65536 overlaps 100000:65536 of line 1"),
            "{error}"
        );
    }

    #[test]
    fn a_file_writable_by_others_is_refused_when_root() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("subuid");
        std::fs::write(&path, "a:100000:65536\n").expect("writes");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert_eq!(read(&path).expect("reads"), "a:100000:65536\n");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        let result = read(&path);
        if nix::unistd::geteuid().is_root() {
            let error = result.expect_err("writable").to_string();
            assert!(error.contains("its mode 0666"), "{error}");
        } else {
            assert!(result.is_ok());
        }
    }
}
