//! Loading a policy is bounded and its compiled code is bound to it, tried
//! through the built binary the way an attacker would: modules built to be
//! expensive to compile (huge, many functions, huge bodies, billions of
//! locals, branchy code that passes every cap), and cache entries swapped,
//! planted, symlinked or stripped of their record under another module's
//! name.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Run, enforcer};

/// Longest a refusal by a pre-compile cap may take, process start included,
/// on a loaded machine; compiling any of these modules takes far longer.
const FAST: Duration = Duration::from_secs(3);

// ---- a tiny Wasm binary encoder -------------------------------------------

fn leb(mut value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

fn section(id: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![id];
    out.extend(leb(payload.len() as u64));
    out.extend_from_slice(payload);
    out
}

/// A module with one type `() -> ()`, one function of that type per body,
/// and a custom section of `padding` bytes.
fn module(bodies: &[Vec<u8>], padding: usize) -> Vec<u8> {
    let mut out = b"\0asm\x01\0\0\0".to_vec();
    out.extend(section(1, &[1, 0x60, 0, 0]));
    let mut functions = leb(bodies.len() as u64);
    functions.extend(std::iter::repeat_n(0u8, bodies.len()));
    out.extend(section(3, &functions));
    let mut code = leb(bodies.len() as u64);
    for body in bodies {
        code.extend(leb(body.len() as u64));
        code.extend_from_slice(body);
    }
    out.extend(section(10, &code));
    if padding > 0 {
        let mut custom = vec![7];
        custom.extend_from_slice(b"padding");
        custom.resize(padding, 0);
        out.extend(section(0, &custom));
    }
    out
}

/// A body declaring `locals` i32 locals around `code`.
fn body(locals: u32, code: &[u8]) -> Vec<u8> {
    let mut out = if locals == 0 {
        vec![0]
    } else {
        let mut declaration = vec![1];
        declaration.extend(leb(u64::from(locals)));
        declaration.push(0x7f);
        declaration
    };
    out.extend_from_slice(code);
    out.push(0x0b);
    out
}

/// About `size` bytes of small blocks that branch on one local and update
/// another, over `locals` locals chosen pseudo-randomly: every local stays
/// live across hundreds of blocks, which costs Cranelift's register
/// allocator superlinear time and memory (a 100 KB body takes over a CPU
/// second and 150 MiB). Valid, and within every pre-compile cap.
fn branchy(size: usize, locals: u32) -> Vec<u8> {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut pick = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % u64::from(locals)
    };
    let mut code = Vec::with_capacity(size + 32);
    while code.len() < size {
        let (test, update) = (pick(), pick());
        code.extend_from_slice(&[0x02, 0x40, 0x20]); // block; local.get
        code.extend(leb(test));
        code.extend_from_slice(&[0x0d, 0x00, 0x20]); // br_if 0; local.get
        code.extend(leb(update));
        code.extend_from_slice(&[0x41, 0x01, 0x6a, 0x21]); // i32.const 1; i32.add; local.set
        code.extend(leb(test));
        code.push(0x0b); // end
    }
    body(locals, &code)
}

/// Four branchy 100 KB functions: a 400 KB module within every cap that
/// needs several CPU seconds and about 500 MiB to compile.
fn expensive() -> Vec<u8> {
    let bodies: Vec<Vec<u8>> = (0..4).map(|_| branchy(100_000, 500)).collect();
    module(&bodies, 0)
}

// ---- helpers ----------------------------------------------------------------

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("writes module");
    path.display().to_string()
}

/// `enforcer eval --policy PATH` with `flags`, for a request of tenant acme.
fn eval(path: &str, flags: &[&str]) -> Run {
    let mut args = vec!["eval", "--policy", path];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["--tenant", "acme", "--", "/bin/true"]);
    enforcer(&args)
}

/// Asserts a refusal with exactly `message` after `policy PATH: `.
#[track_caller]
fn expect_refused(run: &Run, path: &str, message: &str) {
    run.expect_code(2)
        .expect_stderr(&[&format!("policy {path}: {message}")]);
    assert!(
        run.stdout.is_empty(),
        "a decision was printed: {}",
        run.stdout
    );
}

fn entries(cache: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(cache) {
        Ok(listing) => listing
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "cwasm"))
            .collect(),
        Err(_) => Vec::new(),
    }
}

// ---- finding 9: compiling is bounded ---------------------------------------

#[test]
fn an_oversize_module_is_refused_before_compiling() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 4.5 MB of the branchiest code: compiling it would take minutes.
    let bodies: Vec<Vec<u8>> = (0..18).map(|_| branchy(250_000, 1000)).collect();
    let code = module(&bodies, 0);
    let path = write(dir.path(), "big.wasm", &code);
    let run = eval(&path, &["--no-cache"]);
    expect_refused(
        &run,
        &path,
        &format!(
            "too large to compile: {} bytes, the cap is 4 MiB (--max-module-size)",
            code.len()
        ),
    );
    assert!(run.elapsed < FAST, "took {:?}", run.elapsed);

    // Padding in a custom section counts too, and so does `.wat` text.
    let padding = module(&[], 9 << 20);
    let padded = write(dir.path(), "padded.wasm", &padding);
    expect_refused(
        &eval(&padded, &["--no-cache"]),
        &padded,
        &format!(
            "too large to compile: {} bytes, the cap is 4 MiB (--max-module-size)",
            padding.len()
        ),
    );
    let text = format!("(module) {}", ";; padding\n".repeat(500_000));
    let wat = write(dir.path(), "padded.wat", text.as_bytes());
    expect_refused(
        &eval(&wat, &["--no-cache"]),
        &wat,
        &format!(
            "too large to compile: {} bytes, the cap is 4 MiB (--max-module-size)",
            text.len()
        ),
    );

    // A 1 TiB sparse file is refused by its size, unread.
    let sparse = dir.path().join("sparse.wasm");
    std::fs::File::create(&sparse)
        .and_then(|file| file.set_len(1 << 40))
        .expect("creates a sparse file");
    let sparse = sparse.display().to_string();
    let run = eval(&sparse, &["--no-cache"]);
    expect_refused(
        &run,
        &sparse,
        "too large to compile: 1099511627776 bytes, the cap is 4 MiB (--max-module-size)",
    );
    assert!(run.elapsed < FAST, "took {:?}", run.elapsed);
}

#[test]
fn a_module_with_too_many_functions_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bodies = vec![body(0, &[]); 10_001];
    let path = write(dir.path(), "many.wasm", &module(&bodies, 0));
    let run = eval(&path, &["--no-cache"]);
    expect_refused(
        &run,
        &path,
        "too many functions to compile: 10001, the cap is 10000 (--max-functions)",
    );
    assert!(run.elapsed < FAST, "took {:?}", run.elapsed);
    // The cap is the operator's: raised, the module compiles and fails
    // later, on the ABI.
    expect_refused(
        &eval(&path, &["--no-cache", "--max-functions", "10001"]),
        &path,
        "missing export `memory`",
    );
}

#[test]
fn a_huge_function_body_or_billions_of_locals_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let huge = body(0, &vec![0x01; 300_000]); // 300,000 nops
    let path = write(
        dir.path(),
        "huge-body.wasm",
        &module(&[body(0, &[]), huge.clone()], 0),
    );
    let run = eval(&path, &["--no-cache"]);
    expect_refused(
        &run,
        &path,
        &format!(
            "function 1 is too large to compile: {} bytes, the cap is 256 KiB (--max-function-size)",
            huge.len()
        ),
    );
    assert!(run.elapsed < FAST, "took {:?}", run.elapsed);

    // Ten bytes that declare 4,294,967,295 locals.
    let path = write(
        dir.path(),
        "locals.wasm",
        &module(&[body(u32::MAX, &[])], 0),
    );
    expect_refused(
        &eval(&path, &["--no-cache"]),
        &path,
        "function 0 has too many locals to compile: 4294967295, the cap is 10000 (--max-locals)",
    );
    // Many small declarations add up.
    let mut declarations = leb(20_000);
    for _ in 0..20_000 {
        declarations.extend_from_slice(&[1, 0x7f]);
    }
    declarations.push(0x0b);
    let path = write(dir.path(), "declarations.wasm", &module(&[declarations], 0));
    expect_refused(
        &eval(&path, &["--no-cache", "--max-locals", "5000"]),
        &path,
        "function 0 has too many locals to compile: 5001, the cap is 5000 (--max-locals)",
    );
}

#[test]
fn a_module_within_the_caps_that_blows_the_time_budget_is_refused_and_not_cached() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    let path = write(dir.path(), "branchy.wasm", &expensive());
    let cache_flag = cache.display().to_string();
    let run = eval(&path, &["--cache-dir", &cache_flag, "--compile-time", "1"]);
    expect_refused(
        &run,
        &path,
        "compiling ran past its time budget of 1 CPU second (--compile-time); nothing was cached",
    );
    // Killed at one CPU second; the wall-clock guard (12 s) never fired.
    assert!(
        run.elapsed < Duration::from_secs(12),
        "took {:?}",
        run.elapsed
    );
    assert!(entries(&cache).is_empty(), "{:?}", entries(&cache));
}

#[test]
fn a_module_within_the_caps_that_blows_the_memory_budget_is_refused_and_not_cached() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    let path = write(dir.path(), "branchy.wasm", &expensive());
    let cache_flag = cache.display().to_string();
    let run = eval(
        &path,
        &["--cache-dir", &cache_flag, "--compile-memory", "128"],
    );
    expect_refused(
        &run,
        &path,
        "compiling ran past its memory budget of 128 MiB (--compile-memory); nothing was cached",
    );
    assert!(entries(&cache).is_empty(), "{:?}", entries(&cache));
}

#[test]
fn real_policies_compile_within_the_default_budget_and_caps() {
    for name in ["default", "tenant_tiers", "gpu", "hugepages"] {
        let run = enforcer(&["inspect", "--json", "--no-cache", &common::example(name)]);
        run.expect_code(0);
        let code = &run.json()["code"];
        let functions = code["functions"].as_u64().expect("functions");
        let largest = code["largestFunction"].as_u64().expect("largest");
        let locals = code["mostLocals"].as_u64().expect("locals");
        // An order of magnitude of room under every default cap.
        assert!(functions * 10 <= 10_000, "{name}: {functions} functions");
        assert!(largest * 10 <= 256 << 10, "{name}: {largest} bytes");
        assert!(locals * 10 <= 10_000, "{name}: {locals} locals");
    }
}

// ---- finding 10: a cache entry is bound to its module ----------------------

/// A policy that allows every request with `reason`.
fn answering(reason: &str) -> String {
    let response = format!(r#"{{"decision":{{"allow":true,"reason":"{reason}"}}}}"#);
    common::wat::responding(response.as_bytes())
}

struct Pair {
    _dir: tempfile::TempDir,
    cache: PathBuf,
    a: String,
    b: String,
}

impl Pair {
    /// Modules A and B, both compiled into one cache.
    fn new() -> Pair {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = dir.path().join("cache");
        let a = write(dir.path(), "a.wat", answering("policy A").as_bytes());
        let b = write(dir.path(), "b.wat", answering("policy B").as_bytes());
        let pair = Pair {
            _dir: dir,
            cache,
            a,
            b,
        };
        assert_eq!(pair.decide(&pair.a).0, "policy A");
        assert_eq!(pair.decide(&pair.b).0, "policy B");
        pair
    }

    fn cache_flag(&self) -> String {
        self.cache.display().to_string()
    }

    /// Evaluates `policy` through the cache: its reason and stderr.
    fn decide(&self, policy: &str) -> (String, String) {
        let run = eval(policy, &["--cache-dir", &self.cache_flag()]);
        run.expect_code(0);
        let reason = run.json()["reason"].as_str().expect("reason").to_string();
        (reason, run.stderr)
    }

    /// `inspect --json` of `policy` through the cache.
    fn inspect(&self, policy: &str) -> serde_json::Value {
        let run = enforcer(&[
            "inspect",
            "--json",
            "--cache-dir",
            &self.cache_flag(),
            policy,
        ]);
        run.expect_code(0);
        run.json()
    }

    fn sha256(&self, policy: &str) -> String {
        let run = enforcer(&["inspect", "--json", "--no-cache", policy]);
        run.expect_code(0);
        run.json()["sha256"].as_str().expect("sha256").to_string()
    }

    /// The cache entry of `policy`.
    fn entry(&self, policy: &str) -> PathBuf {
        let digest = self.sha256(policy);
        entries(&self.cache)
            .into_iter()
            .find(|path| {
                path.file_name()
                    .is_some_and(|name| name.to_string_lossy().starts_with(&digest))
            })
            .unwrap_or_else(|| panic!("no entry for {policy}"))
    }
}

#[test]
fn a_swapped_cache_entry_is_detected_recompiled_and_the_modules_own_decision_comes_out() {
    let pair = Pair::new();
    let (entry_a, entry_b) = (pair.entry(&pair.a), pair.entry(&pair.b));
    let sha_b = pair.sha256(&pair.b);
    std::fs::copy(&entry_b, &entry_a).expect("copies B's code over A's entry");

    let (reason, stderr) = pair.decide(&pair.a);
    assert_eq!(reason, "policy A", "B's code ran under A's name");
    assert!(
        stderr.contains("enforcer: warning: policy")
            && stderr.contains("another module")
            && stderr.contains(&sha_b),
        "the swap was not reported:\n{stderr}"
    );
    // Rewritten: the next load is a hit, and silent.
    let (reason, stderr) = pair.decide(&pair.a);
    assert_eq!(reason, "policy A");
    assert!(!stderr.contains("warning"), "{stderr}");
    let info = pair.inspect(&pair.a);
    assert_eq!(info["cache"]["load"], "hit");
    assert_eq!(info["sha256"], pair.sha256(&pair.a));

    // `inspect` sees a swap before it loads, and says what it found.
    std::fs::copy(&entry_b, &entry_a).expect("swaps again");
    let info = pair.inspect(&pair.a);
    let before = info["cache"]["before"].as_str().expect("before");
    assert!(
        before.starts_with("cached but refused: it holds the compiled code of another module")
            && before.contains(&sha_b),
        "{before}"
    );
    assert!(
        info["cache"]["load"]
            .as_str()
            .expect("load")
            .starts_with("refused (it holds the compiled code of another module"),
        "{info}"
    );
}

#[test]
fn a_planted_entry_a_symlink_or_a_bare_artifact_is_refused() {
    let pair = Pair::new();
    let entry_a = pair.entry(&pair.a);

    // B's entry, record and all, planted under A's name by another user
    // (uid 4242, no account needed): refused by its owner before its record
    // is even read.
    std::fs::copy(pair.entry(&pair.b), &entry_a).expect("plants");
    std::os::unix::fs::chown(&entry_a, Some(4242), Some(4242)).expect("chowns");
    let (reason, stderr) = pair.decide(&pair.a);
    assert_eq!(reason, "policy A", "the planted entry ran");
    assert!(stderr.contains("is owned by uid 4242"), "{stderr}");

    // A symlink to B's entry is not followed (O_NOFOLLOW).
    std::fs::remove_file(&entry_a).expect("removes");
    std::os::unix::fs::symlink(pair.entry(&pair.b), &entry_a).expect("links");
    let (reason, stderr) = pair.decide(&pair.a);
    assert_eq!(reason, "policy A", "the linked entry ran");
    assert!(stderr.contains("is a symlink"), "{stderr}");

    // B's bare wasmtime artifact (the previous format, no record): valid
    // code for this engine, but nothing says which module it is.
    let mut bare = std::fs::read(pair.entry(&pair.b)).expect("reads");
    bare.truncate(bare.len() - 48);
    std::fs::write(&entry_a, bare).expect("plants");
    let (reason, stderr) = pair.decide(&pair.a);
    assert_eq!(reason, "policy A", "the bare artifact ran");
    assert!(stderr.contains("no enforcer record"), "{stderr}");
}
