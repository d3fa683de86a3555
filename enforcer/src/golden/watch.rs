//! What `enforcer test --watch` waits for: a change to a policy module or
//! case file, seen by polling each file's modification time and size.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// How often [`Snapshot::wait_for_change`] looks.
pub const POLL_INTERVAL: Duration = Duration::from_millis(300);

/// A file's modification time and size, or `None` when it cannot be read
/// (missing, say): appearing and disappearing are changes too.
type Stamp = Option<(Option<SystemTime>, u64)>;

/// The stamps of a set of files at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    files: Vec<(PathBuf, Stamp)>,
}

fn stamp(path: &Path) -> Stamp {
    std::fs::metadata(path)
        .ok()
        .map(|metadata| (metadata.modified().ok(), metadata.len()))
}

impl Snapshot {
    /// The stamps of `paths` now.
    pub fn of(paths: impl IntoIterator<Item = PathBuf>) -> Snapshot {
        Snapshot { files: Vec::new() }.with(paths)
    }

    /// This snapshot and the stamps, now, of those of `paths` it lacks (a
    /// run takes the snapshot of its files before it reads them, so a
    /// change made meanwhile is seen, and adds the files it found on the
    /// way, such as the config's policy modules).
    pub fn with(mut self, paths: impl IntoIterator<Item = PathBuf>) -> Snapshot {
        for path in paths {
            if self.files.iter().all(|(seen, _)| *seen != path) {
                let now = stamp(&path);
                self.files.push((path, now));
            }
        }
        self
    }

    /// The first file whose stamp differs from this snapshot's now.
    pub fn changed(&self) -> Option<&Path> {
        self.files
            .iter()
            .find(|(path, then)| stamp(path) != *then)
            .map(|(path, _)| path.as_path())
    }

    /// Polls every `interval` until a file changes, then until no file
    /// changes for one more `interval` (an editor that truncates and then
    /// writes, or a build that writes a module in pieces, is done); returns
    /// the first file that changed.
    pub fn wait_for_change(&self, interval: Duration) -> PathBuf {
        let changed = loop {
            if let Some(path) = self.changed() {
                break path.to_path_buf();
            }
            std::thread::sleep(interval);
        };
        let paths = || self.files.iter().map(|(path, _)| path.clone());
        loop {
            let settled = Snapshot::of(paths());
            std::thread::sleep(interval);
            if settled.changed().is_none() {
                return changed;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_a_removal_and_a_creation_are_changes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, "1").expect("writes");
        let snapshot = Snapshot::of([a.clone(), b.clone(), a.clone()]);
        assert_eq!(snapshot.files.len(), 2);
        assert_eq!(snapshot.changed(), None);
        std::fs::write(&a, "22").expect("writes");
        assert_eq!(snapshot.changed(), Some(a.as_path()));
        let snapshot = Snapshot::of([a.clone(), b.clone()]);
        std::fs::write(&b, "new").expect("writes");
        assert_eq!(
            snapshot.wait_for_change(Duration::from_millis(1)),
            b.as_path()
        );
        let snapshot = Snapshot::of([a.clone()]).with([a.clone(), b.clone()]);
        assert_eq!(snapshot.files.len(), 2);
        std::fs::remove_file(&a).expect("removes");
        assert_eq!(snapshot.changed(), Some(a.as_path()));
    }
}
