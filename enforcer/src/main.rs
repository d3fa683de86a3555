//! `enforcer`: evaluate Wasm isolation policies and enforce their decisions.

mod cli;

fn main() {
    ensure_standard_streams();
    let code = cli::run();
    std::process::exit(code);
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
