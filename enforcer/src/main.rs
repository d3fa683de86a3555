//! `enforcer`: evaluate Wasm isolation policies and enforce their decisions.

mod cli;

fn main() {
    let code = cli::run();
    std::process::exit(code);
}
