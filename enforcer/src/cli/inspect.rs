//! `enforcer inspect`.

use std::borrow::Cow;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use enforcer::policy::describe;
use enforcer::printable::escape;
use serde_json::json;

use super::{EXIT_OK, EngineArgs};

/// Show what a policy module is: ABI version, imports, exports, metadata,
/// whether it checks its settings, size, its code's shape against the compile caps (functions, largest
/// body, most locals), sha256 and whether its compiled code is cached.
///
/// Loading checks the module exactly as `eval` does, so a module that
/// inspects cleanly is one the enforcer will run.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Policy module (.wasm or .wat), or a built-in policy
    /// (`builtin:default`).
    file: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    engine: EngineArgs,
}

/// Runs `enforcer inspect`.
pub fn run(args: InspectArgs) -> anyhow::Result<i32> {
    let engine = args.engine.engine()?;
    let (name, bytes) =
        match enforcer::embedded::lookup(&args.file) {
            Some(builtin) => {
                let builtin = builtin?;
                (builtin.label(), Cow::Borrowed(builtin.bytes))
            }
            None => (
                args.file.display().to_string(),
                Cow::Owned(std::fs::read(&args.file).with_context(|| {
                    format!("policy {}: cannot read module", args.file.display())
                })?),
            ),
        };
    let cache_before = match engine.cache() {
        Some(cache) => {
            let digest = enforcer::digest::sha256_hex(&bytes);
            cache.describe_entry(engine.wasmtime(), &digest)
        }
        None => "disabled".into(),
    };
    let policy = engine.load_bytes(&name, &bytes)?;
    let metadata = policy.metadata()?;
    let imports: Vec<String> = policy
        .module()
        .imports()
        .map(|import| {
            format!(
                "{}.{}: {}",
                import.module(),
                import.name(),
                describe(&import.ty())
            )
        })
        .collect();
    let exports: Vec<String> = policy
        .module()
        .exports()
        .map(|export| format!("{}: {}", export.name(), describe(&export.ty())))
        .collect();
    if args.json {
        let value = json!({
            "file": args.file,
            "abiVersion": policy_sdk::abi::ABI_VERSION,
            "sha256": policy.digest(),
            "size": policy.size(),
            "code": {
                "functions": policy.shape().functions,
                "largestFunction": policy.shape().largest_function,
                "mostLocals": policy.shape().most_locals,
            },
            "metadata": metadata,
            "validatesSettings": policy.has_settings_check(),
            "imports": imports,
            "exports": exports,
            "cache": {"before": cache_before, "load": policy.cache_outcome().to_string()},
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(EXIT_OK);
    }
    println!("file:        {}", args.file.display());
    println!("abi version: {}", policy_sdk::abi::ABI_VERSION);
    match &metadata {
        Some(meta) => {
            println!("name:        {}", escape(&meta.name));
            println!("version:     {}", escape(&meta.version));
            println!("description: {}", escape(&meta.description));
        }
        None => println!("metadata:    (no policy_metadata export)"),
    }
    println!(
        "settings:    {}",
        if policy.has_settings_check() {
            "checked by policy_validate_settings"
        } else {
            "not checked (no policy_validate_settings export)"
        }
    );
    println!("size:        {} bytes", policy.size());
    let shape = policy.shape();
    println!(
        "code:        {} functions, largest body {} bytes, at most {} locals",
        shape.functions, shape.largest_function, shape.most_locals
    );
    println!("sha256:      {}", policy.digest());
    println!(
        "cache:       {cache_before}; this load: {}",
        policy.cache_outcome()
    );
    println!("imports:");
    if imports.is_empty() {
        println!("  (none)");
    }
    for import in &imports {
        println!("  {}", escape(import));
    }
    println!("exports:");
    for export in &exports {
        println!("  {}", escape(export));
    }
    Ok(EXIT_OK)
}
