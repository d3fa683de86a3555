//! `enforcer`: evaluate Wasm isolation policies and enforce their decisions.

mod cli;

fn main() {
    restore_sigpipe();
    ensure_standard_streams();
    let code = cli::run();
    std::process::exit(code);
}

/// Gives SIGPIPE back its default disposition (the Rust runtime ignores it
/// before `main`), so that a command whose output is closed (`enforcer
/// check | head -1`) ends quietly, killed by SIGPIPE, as coreutils do,
/// instead of panicking on EPIPE. `run` and `exec` ignore it again
/// ([`cli::run`]): they must outlive a closed output to clean up.
fn restore_sigpipe() {
    // SAFETY: setting a signal's disposition before any thread exists.
    unsafe {
        nix::libc::signal(nix::libc::SIGPIPE, nix::libc::SIG_DFL);
    }
}

/// Opens `/dev/null` on any of descriptors 0 to 2 the caller left closed,
/// so that no file the enforcer opens later (a state lock, a cgroup file)
/// lands on a standard stream a sandbox inherits.
fn ensure_standard_streams() {
    use nix::libc;
    for fd in 0..3 {
        // SAFETY: F_GETFD only reads flags; open returns the lowest free
        // descriptor, which is `fd` itself when it was closed.
        unsafe {
            if libc::fcntl(fd, libc::F_GETFD) < 0 {
                libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
            }
        }
    }
}
