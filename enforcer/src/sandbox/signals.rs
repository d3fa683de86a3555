//! Signals in the enforcer while a sandbox runs: SIGINT, SIGTERM, SIGHUP
//! and SIGQUIT are forwarded to the workload, SIGCHLD tells it ended,
//! SIGWINCH resizes the sandbox's terminal (`-t`). They
//! are blocked before any thread starts (so no thread takes them) and
//! taken synchronously with `sigwaitinfo`.

use nix::libc;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, pthread_sigmask};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

/// The signals forwarded to the workload.
pub const FORWARDED: [Signal; 4] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
];

fn waited_set() -> SigSet {
    let mut set = SigSet::empty();
    for signal in FORWARDED {
        set.add(signal);
    }
    set.add(Signal::SIGCHLD);
    set.add(Signal::SIGWINCH);
    set
}

/// Blocks the forwarded signals and SIGCHLD in the calling thread (and the
/// threads it starts later); returns the mask before, which the workload
/// gets back.
pub fn block() -> std::io::Result<libc::sigset_t> {
    let mut old = SigSet::empty();
    pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&waited_set()), Some(&mut old))?;
    Ok(*old.as_ref())
}

/// The exit status the enforcer reports for a wait status: the exit code,
/// or 128 + the signal that killed it.
pub fn exit_code(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, signal, _) => Some(128 + signal as i32),
        _ => None,
    }
}

/// Waits for `child` to exit, forwarding the forwarded signals to it, and
/// returns its exit code (128 + signal when killed). The signals must be
/// blocked ([`block`]).
pub fn wait_forwarding(child: Pid) -> std::io::Result<i32> {
    wait_forwarding_with(child, &|| {})
}

/// [`wait_forwarding`], calling `on_resize` on each `SIGWINCH` (the
/// operator's terminal changed size: a sandbox's terminal follows).
pub fn wait_forwarding_with(child: Pid, on_resize: &dyn Fn()) -> std::io::Result<i32> {
    let set = waited_set();
    loop {
        // Reap first: the child may have ended before we started waiting.
        match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => {}
            Ok(status) => {
                if let Some(code) = exit_code(status) {
                    return Ok(code);
                }
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(error) => return Err(error.into()),
        }
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: sigwaitinfo with a valid set and a zeroed siginfo.
        let signal = unsafe { libc::sigwaitinfo(set.as_ref(), &mut info) };
        if signal < 0 {
            continue;
        }
        if signal == libc::SIGWINCH {
            on_resize();
        } else if signal != libc::SIGCHLD
            && let Ok(signal) = Signal::try_from(signal)
        {
            let _ = kill(child, signal);
        }
    }
}

/// Parses a signal given as a name (`TERM`, `SIGTERM`) or a number.
pub fn parse_signal(text: &str) -> Result<Signal, String> {
    if let Ok(number) = text.parse::<i32>() {
        return Signal::try_from(number).map_err(|_| format!("{number} is not a signal"));
    }
    let name = text.to_ascii_uppercase();
    let name = if name.starts_with("SIG") {
        name
    } else {
        format!("SIG{name}")
    };
    name.parse()
        .map_err(|_| format!("{text:?} is not a signal name such as TERM, KILL or HUP"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_by_name_and_number() {
        assert_eq!(parse_signal("TERM"), Ok(Signal::SIGTERM));
        assert_eq!(parse_signal("sigkill"), Ok(Signal::SIGKILL));
        assert_eq!(parse_signal("1"), Ok(Signal::SIGHUP));
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("999").is_err());
    }

    #[test]
    fn killed_is_128_plus_signal() {
        let pid = Pid::from_raw(1);
        assert_eq!(exit_code(WaitStatus::Exited(pid, 7)), Some(7));
        assert_eq!(
            exit_code(WaitStatus::Signaled(pid, Signal::SIGKILL, false)),
            Some(137)
        );
    }
}
