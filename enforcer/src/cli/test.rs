//! `enforcer test`.

use std::collections::HashMap;
use std::path::PathBuf;

use clap::Args;
use enforcer::golden::{read_case_file, run_case};
use enforcer::printable::{escape, escape_message};

use super::{EXIT_DENIED, EXIT_OK, EngineArgs, chain_for};

/// Run golden cases against policy modules: each case is a request and the
/// expected decision fields, denial reason or error.
///
/// Prints one line per case and a closing `N passed, N failed`; exits 1 if
/// any case failed. See docs/policy-authoring.md for the case file format.
/// With a config and no --policy, each case is decided by the config's
/// chain for its request's tenant.
#[derive(Debug, Args)]
#[command(after_help = "Example cases.toml:\n  \
    [[case]]\n  \
    name = \"free tier is small\"\n  \
    request = { tenant = \"acme\", labels = { tier = \"free\" }, command = [\"python3\"] }\n  \
    expect = { allow = true, decision = { resources = { pids = { limit = 64 } } } }")]
pub struct TestArgs {
    /// Policy module; repeat to chain [default: the config's chain, else
    /// the built-in policy].
    #[arg(long = "policy", short = 'p', value_name = "FILE")]
    policies: Vec<PathBuf>,
    /// Case files (.toml or .json).
    #[arg(required = true, value_name = "CASE_FILE")]
    cases: Vec<PathBuf>,
    #[command(flatten)]
    engine: EngineArgs,
}

/// Runs `enforcer test`.
pub fn run(args: TestArgs) -> anyhow::Result<i32> {
    let files = args
        .cases
        .iter()
        .map(|path| read_case_file(path).map(|file| (path, file)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let engine = args.engine.engine()?;
    // One chain per tenant, loaded when a case first needs it.
    let mut chains = HashMap::new();
    let mut chain_of = |tenant: Option<&str>| -> Result<_, String> {
        let key = tenant.map(str::to_string);
        if let Some(chain) = chains.get(&key) {
            return Ok(Clone::clone(chain));
        }
        let chain = chain_for(&engine, &args.policies, tenant)
            .map_err(|error| super::describe_error(&error))?;
        chains.insert(key, chain.clone());
        Ok(chain)
    };
    let (mut passed, mut failed) = (0, 0);
    for (path, file) in &files {
        for case in &file.case {
            match run_case(|request| chain_of(request.tenant.as_deref()), case) {
                Ok(()) => {
                    passed += 1;
                    println!("ok    {}: {}", path.display(), escape(&case.name));
                }
                Err(message) => {
                    failed += 1;
                    println!(
                        "FAIL  {}: {}: {}",
                        path.display(),
                        escape(&case.name),
                        escape_message(&message.to_string())
                    );
                }
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    Ok(if failed == 0 { EXIT_OK } else { EXIT_DENIED })
}
