//! What the network module's unit tests share: a seeded generator, the
//! counted "skipped" line, and running a test inside a network namespace
//! of its own (never the machine's).

use std::io::Write;
use std::os::unix::fs::MetadataExt;

/// splitmix64: tiny, seeded, the same on every machine (as
/// `tests/tighten_property.rs` uses).
pub struct Rng(pub u64);

impl Rng {
    /// The next number.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Says why `test` did not run, the way the integration tests'
/// `skipped()` does: to stderr and to `ENFORCER_TEST_SKIP_LOG`, where
/// `scripts/test` counts it.
pub fn skipped(test: &str, why: &str) {
    let line = format!("SKIPPED {test}: {why}");
    eprintln!("{line}");
    if let Ok(path) = std::env::var("ENFORCER_TEST_SKIP_LOG")
        && let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
    {
        let _ = writeln!(file, "{line}");
    }
}

/// The (device, inode) of a namespace file.
pub fn namespace_id(path: &str) -> (u64, u64) {
    let metadata = std::fs::metadata(path).unwrap_or_else(|e| panic!("stat {path}: {e}"));
    (metadata.dev(), metadata.ino())
}

/// Moves the calling thread into a new network namespace; `false` (the
/// test is skipped, counted) when the kernel refuses. Panics when the
/// thread's namespace is still the process's afterwards.
pub fn unshare_network(test: &str) -> bool {
    // SAFETY: unshare of the network namespace changes only this thread.
    if unsafe { nix::libc::unshare(nix::libc::CLONE_NEWNET) } != 0 {
        skipped(
            test,
            &format!(
                "cannot unshare a network namespace: {}",
                nix::errno::Errno::last()
            ),
        );
        return false;
    }
    assert_ne!(
        namespace_id("/proc/thread-self/ns/net"),
        namespace_id("/proc/self/ns/net"),
        "the test thread is still in the process's network namespace: refusing to go on"
    );
    true
}

/// Runs `body` in a fresh thread in a new network namespace of its own
/// (which goes, with everything made in it, when the thread ends).
pub fn in_new_namespace(test: &str, body: impl FnOnce() + Send) {
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new()
            .name(test.to_string())
            .spawn_scoped(scope, || {
                if unshare_network(test) {
                    body();
                }
            })
            .expect("a test thread");
        if let Err(panic) = thread.join() {
            std::panic::resume_unwind(panic);
        }
    });
}
