//! A terminal of the sandbox's own (`run -t`, `exec -t`), as `runc run -t`
//! and `docker run -t` give one: a pseudo-terminal whose slave becomes the
//! workload's controlling terminal and standard streams, while the
//! enforcer relays bytes between the operator's streams and the master,
//! copies the operator's window size on start and on `SIGWINCH`, and puts
//! the operator's terminal in raw mode for the run (so `^C` reaches the
//! workload as a byte its own terminal turns into `SIGINT`), restoring it
//! afterwards.
//!
//! The workload never holds a descriptor of the operator's terminal, so
//! `TIOCSTI` or a foreground takeover cannot reach the operator's session.

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::thread::JoinHandle;

use nix::libc;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::termios::{self, SetArg, Termios};

use super::signals;

/// Why the terminal could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the sandbox's terminal: {what}: {err}")]
pub struct TtyError {
    /// The step.
    what: &'static str,
    /// The kernel's error.
    err: std::io::Error,
}

fn failed(what: &'static str) -> impl FnOnce(nix::errno::Errno) -> TtyError {
    move |errno| TtyError {
        what,
        err: errno.into(),
    }
}

/// A pseudo-terminal pair, both ends close-on-exec.
#[derive(Debug)]
pub struct Pty {
    /// The enforcer's end.
    pub master: OwnedFd,
    /// The workload's end (its controlling terminal).
    pub slave: OwnedFd,
}

/// Opens a new pseudo-terminal pair from `/dev/ptmx`.
pub fn open_pty() -> Result<Pty, TtyError> {
    use nix::fcntl::OFlag;
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(failed("posix_openpt"))?;
    nix::pty::grantpt(&master).map_err(failed("grantpt"))?;
    nix::pty::unlockpt(&master).map_err(failed("unlockpt"))?;
    let name = nix::pty::ptsname_r(&master).map_err(failed("ptsname"))?;
    let slave = nix::fcntl::open(
        name.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(failed("opening the terminal's slave"))?;
    // SAFETY: both descriptors are fresh and owned by nobody else.
    let master = unsafe { OwnedFd::from_raw_fd(master.into_raw_fd()) };
    Ok(Pty { master, slave })
}

/// Opens a new pseudo-terminal pair in the `devpts` of the sandbox whose
/// first process is `pid` (its own root's `/dev/pts/ptmx`), so the
/// workload's terminal is a node of its own `/dev/pts` (`tty` names it).
/// The path is resolved inside that root without following any symlink,
/// and what it opens must be a `ptmx` (c 5:2): a sandbox cannot make the
/// enforcer open a host file through it.
pub fn open_pty_in_root_of(pid: i32) -> Result<Pty, TtyError> {
    use std::os::fd::AsRawFd;
    let root = nix::fcntl::open(
        format!("/proc/{pid}/root").as_str(),
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(failed("opening the sandbox's root"))?;
    // SAFETY: a NUL-terminated path; the result is a fresh descriptor.
    let master = unsafe {
        crate::sandbox::rootfs::sys::open_resolved(
            root.as_raw_fd(),
            c"dev/pts/ptmx".as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
            libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS,
        )
    }
    .map_err(|errno| {
        failed("opening the sandbox's /dev/pts/ptmx")(nix::errno::Errno::from_raw(errno))
    })?;
    // SAFETY: a fresh descriptor nobody else owns.
    let master = unsafe { OwnedFd::from_raw_fd(master) };
    let stat = nix::sys::stat::fstat(&master).map_err(failed("fstat of the sandbox's ptmx"))?;
    let is_ptmx = (stat.st_mode & libc::S_IFMT) == libc::S_IFCHR
        && libc::major(stat.st_rdev) == 5
        && libc::minor(stat.st_rdev) == 2;
    if !is_ptmx {
        return Err(failed("the sandbox's /dev/pts/ptmx is not a ptmx device")(
            nix::errno::Errno::ENOTTY,
        ));
    }
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK with an int on our stack; TIOCGPTPEER returns a
    // fresh descriptor of the slave or -1.
    let slave = unsafe {
        if libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) != 0 {
            return Err(failed("unlocking the sandbox's terminal")(
                nix::errno::Errno::last(),
            ));
        }
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if slave < 0 {
        return Err(failed("opening the sandbox's terminal's slave")(
            nix::errno::Errno::last(),
        ));
    }
    // SAFETY: a fresh descriptor nobody else owns.
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    Ok(Pty { master, slave })
}

/// Copies the window size of `from` (a terminal) to `to`; nothing when
/// `from` is no terminal.
fn copy_window_size(from: RawFd, to: RawFd) {
    // SAFETY: TIOCGWINSZ/TIOCSWINSZ with a winsize on our stack.
    unsafe {
        let mut size: libc::winsize = std::mem::zeroed();
        if libc::ioctl(from, libc::TIOCGWINSZ, &mut size) == 0 {
            libc::ioctl(to, libc::TIOCSWINSZ, &size);
        }
    }
}

/// Relays between the operator's standard streams and a pty master until
/// [`Relay::finish`]; restores the operator's terminal when dropped.
#[derive(Debug)]
pub struct Relay {
    master: RawFd,
    stop: Option<OwnedFd>,
    thread: Option<JoinHandle<()>>,
    saved: Option<Termios>,
}

impl Relay {
    /// Starts relaying `master`: the operator's terminal (when standard
    /// input is one) goes raw and lends its window size.
    pub fn start(master: OwnedFd) -> Result<Relay, TtyError> {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd()).ok();
        if let Some(saved) = &saved {
            let mut raw = saved.clone();
            termios::cfmakeraw(&mut raw);
            termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw)
                .map_err(failed("making the operator's terminal raw"))?;
        }
        copy_window_size(libc::STDIN_FILENO, master.as_raw_fd());
        let (stop_read, stop_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(failed("creating the relay's stop pipe"))?;
        let raw_master = master.as_raw_fd();
        let thread = std::thread::Builder::new()
            .name("tty-relay".into())
            .spawn(move || relay(master, stop_read))
            .map_err(|source| TtyError {
                what: "starting the relay thread",
                err: source,
            })?;
        Ok(Relay {
            master: raw_master,
            stop: Some(stop_write),
            thread: Some(thread),
            saved,
        })
    }

    /// Copies the operator's window size again (on `SIGWINCH`); the kernel
    /// tells the workload with its own `SIGWINCH`.
    pub fn resize(&self) {
        if self.thread.is_some() {
            copy_window_size(libc::STDIN_FILENO, self.master);
        }
    }

    /// Relays what the workload still wrote, stops, restores the
    /// operator's terminal.
    pub fn finish(mut self) {
        self.stop_and_restore();
    }

    fn stop_and_restore(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if let Some(saved) = self.saved.take() {
            let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSADRAIN, &saved);
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop_and_restore();
    }
}

/// Waits for `child` as [`signals::wait_forwarding`] does, copying the
/// operator's window size to `relay`'s terminal on every SIGWINCH, then
/// relays what is left and restores the operator's terminal.
pub fn wait_relaying(child: nix::unistd::Pid, relay: Option<Relay>) -> std::io::Result<i32> {
    let waited = signals::wait_forwarding_with(child, &|| {
        if let Some(relay) = &relay {
            relay.resize();
        }
    });
    if let Some(relay) = relay {
        relay.finish();
    }
    waited
}

/// The relay loop: operator's stdin → master, master → operator's stdout,
/// until every slave descriptor is closed or `stop` is.
fn relay(master: OwnedFd, stop: OwnedFd) {
    let mut input_open = true;
    let mut pending: Vec<u8> = Vec::new();
    let mut buffer = [0u8; 8192];
    // SAFETY: standard input stays open for the enforcer's whole life.
    let stdin = unsafe { BorrowedFd::borrow_raw(libc::STDIN_FILENO) };
    let stdin_is_terminal = nix::unistd::isatty(stdin).unwrap_or(false);
    loop {
        let mut master_events = PollFlags::POLLIN;
        if !pending.is_empty() {
            master_events |= PollFlags::POLLOUT;
        }
        let watch_input = input_open && pending.is_empty();
        let mut fds = vec![
            PollFd::new(master.as_fd(), master_events),
            PollFd::new(stop.as_fd(), PollFlags::POLLIN),
        ];
        if watch_input {
            fds.push(PollFd::new(stdin, PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return,
        }
        let ready = |index: usize| fds[index].revents().unwrap_or(PollFlags::empty());
        let (master_ready, stop_ready) = (ready(0), ready(1));
        let input_ready = if watch_input {
            ready(2)
        } else {
            PollFlags::empty()
        };
        if master_ready.contains(PollFlags::POLLIN) && !copy_out(&master, &mut buffer) {
            return;
        }
        if master_ready.contains(PollFlags::POLLOUT) && !pending.is_empty() {
            match nix::unistd::write(&master, &pending) {
                Ok(written) => {
                    pending.drain(..written);
                }
                Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => {}
                Err(_) => return,
            }
        }
        if master_ready.intersects(PollFlags::POLLHUP | PollFlags::POLLERR)
            && !master_ready.contains(PollFlags::POLLIN)
        {
            return; // every slave descriptor is closed
        }
        if !input_ready.is_empty() {
            match std::io::stdin().lock().read(&mut buffer) {
                Ok(0) | Err(_) => {
                    input_open = false;
                    if !stdin_is_terminal {
                        // End of piped input: end of file for the workload.
                        pending.push(0x04);
                    }
                }
                Ok(count) => pending.extend_from_slice(&buffer[..count]),
            }
        }
        if !stop_ready.is_empty() {
            drain(&master, &mut buffer);
            return;
        }
    }
}

/// Copies one read of the master to stdout; false at its end.
fn copy_out(master: &OwnedFd, buffer: &mut [u8]) -> bool {
    match nix::unistd::read(master, buffer) {
        Ok(0) => false,
        Ok(count) => {
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(&buffer[..count]);
            let _ = stdout.flush();
            true
        }
        Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => true,
        // EIO: every slave descriptor is closed.
        Err(_) => false,
    }
}

/// Copies what is left in the master without waiting for more.
fn drain(master: &OwnedFd, buffer: &mut [u8]) {
    loop {
        let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::ZERO) {
            Ok(1)
                if fds[0]
                    .revents()
                    .is_some_and(|events| events.contains(PollFlags::POLLIN)) =>
            {
                if !copy_out(master, buffer) {
                    return;
                }
            }
            _ => return,
        }
    }
}
