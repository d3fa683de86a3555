//! `enforcer runtime` (and the binary invoked as `enforcer-runtime`): the
//! OCI runtime wrapper, runc's command line in front of the delegate
//! (`enforcer::runtime`, docs/kubernetes.md).

use std::ffi::OsString;

use enforcer::runtime::RuntimeSettings;
use enforcer::runtime::args::{self, Action};
use enforcer::runtime::delegate::Delegate;

/// The program name under which the binary is the runtime wrapper.
pub const PROGRAM_NAME: &str = "enforcer-runtime";

/// Runs the runtime mode with the arguments after the program name (or
/// after `runtime`); returns the exit status when it does not hand over.
pub fn main(argv: Vec<OsString>) -> i32 {
    let settings = RuntimeSettings::default();
    let invocation = match args::parse(&argv) {
        Ok(invocation) => invocation,
        Err(error) => {
            eprintln!("enforcer-runtime: {error}");
            return 2;
        }
    };
    let delegate = match Delegate::find(&settings) {
        Ok(delegate) => delegate,
        Err(error) => {
            eprintln!("enforcer-runtime: {error}");
            return 2;
        }
    };
    match invocation.action {
        Action::PassThrough => {}
        _ => {}
    }
    let error = delegate.exec(&invocation.argv);
    eprintln!(
        "enforcer-runtime: cannot run {}: {error}",
        delegate.path.display()
    );
    127
}
