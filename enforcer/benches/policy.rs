#![allow(missing_docs)] // criterion_group! generates undocumented functions
//! Per-decision latency and throughput of the policy host, against the same
//! policy called natively, plus module load times.
//!
//! `cargo bench -p enforcer` (add `-- <filter>` to pick a group).

use std::path::Path;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use enforcer::policy::{Allocation, EngineOptions, Policy, PolicyEngine};
use policy_sdk::Request;
use policy_sdk::testing::request;

#[path = "../../tests/common/policies.rs"]
mod policies;

fn tiers_wasm() -> Vec<u8> {
    let path = policies::example("tenant_tiers");
    std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn sample_request() -> Request {
    request()
        .id("bench-job")
        .tenant("acme")
        .label("tier", "pro")
        .command(&["/usr/bin/python3", "train.py", "--epochs", "3"])
        .build()
}

fn engine(allocation: Allocation, cache_dir: Option<&Path>) -> PolicyEngine {
    PolicyEngine::new(EngineOptions {
        allocation,
        cache_dir: cache_dir.map(Path::to_path_buf),
        ..EngineOptions::default()
    })
    .expect("engine")
}

fn pooling() -> Allocation {
    Allocation::pooling()
}

fn load(engine: &PolicyEngine) -> Policy {
    engine
        .load_bytes("tenant-tiers", &tiers_wasm())
        .expect("loads")
}

fn per_decision(c: &mut Criterion) {
    let request = sample_request();
    let json = serde_json::to_vec(&request).expect("serializes");
    let mut group = c.benchmark_group("decision");
    group.throughput(Throughput::Elements(1));

    group.bench_function("native (parse + evaluate + print)", |b| {
        b.iter(|| {
            let parsed: Request = serde_json::from_slice(&json).expect("parses");
            let decision = policy_tenant_tiers::evaluate(&parsed).expect("decides");
            serde_json::to_vec(&decision).expect("prints")
        })
    });
    group.bench_function("native (evaluate only)", |b| {
        b.iter(|| policy_tenant_tiers::evaluate(&request).expect("decides"))
    });
    for (name, allocation) in [
        ("wasm fresh store, pooling", pooling()),
        ("wasm fresh store, on-demand", Allocation::OnDemand),
    ] {
        let policy = load(&engine(allocation, None));
        group.bench_function(name, |b| {
            b.iter(|| policy.evaluate_json(&json).expect("decides"))
        });
    }
    group.finish();
}

/// Decisions per second with `threads` threads sharing one engine.
fn throughput(c: &mut Criterion) {
    let json = serde_json::to_vec(&sample_request()).expect("serializes");
    let policy = load(&engine(pooling(), None));
    let mut group = c.benchmark_group("throughput");
    group.throughput(Throughput::Elements(1));
    for threads in [1usize, 2] {
        group.bench_function(format!("{threads} thread(s), one engine"), |b| {
            b.iter_custom(|iterations| {
                let per_thread = iterations.div_ceil(threads as u64);
                let barrier = Barrier::new(threads + 1);
                std::thread::scope(|scope| {
                    for _ in 0..threads {
                        scope.spawn(|| {
                            barrier.wait();
                            for _ in 0..per_thread {
                                policy.evaluate_json(&json).expect("decides");
                            }
                        });
                    }
                    barrier.wait();
                    // The scope joins the workers before returning.
                    Instant::now()
                })
                .elapsed()
            })
        });
    }
    group.finish();
}

fn loading(c: &mut Criterion) {
    let bytes = tiers_wasm();
    let mut group = c.benchmark_group("load");
    group.sample_size(10);
    let no_cache = engine(Allocation::OnDemand, None);
    group.bench_function("cold: compile", |b| {
        b.iter(|| {
            no_cache
                .load_bytes("tenant-tiers", &bytes)
                .expect("compiles")
        })
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let cached = engine(Allocation::OnDemand, Some(dir.path()));
    cached
        .load_bytes("tenant-tiers", &bytes)
        .expect("fills the cache");
    group.sample_size(50);
    group.bench_function(
        "warm: cache hit (sha256 + mmap deserialize + checks)",
        |b| b.iter(|| cached.load_bytes("tenant-tiers", &bytes).expect("loads")),
    );
    let wasmtime = cached.wasmtime().clone();
    let digest = load(&cached).digest().to_string();
    let entry = cached
        .cache()
        .expect("cache")
        .entry_path(&wasmtime, &digest);
    group.bench_function("warm: mmap deserialize only", |b| {
        b.iter(|| {
            unsafe { wasmtime::Module::deserialize_file(&wasmtime, &entry) }.expect("deserializes")
        })
    });
    group.bench_function("sha256 of the module", |b| {
        b.iter(|| <sha2::Sha256 as sha2::Digest>::digest(&bytes))
    });
    group.finish();
}

/// What `enforcer eval` pays in-process: engine, warm load, one decision.
fn one_shot(c: &mut Criterion) {
    let request = sample_request();
    let dir = tempfile::tempdir().expect("tempdir");
    engine(Allocation::OnDemand, Some(dir.path()));
    load(&engine(Allocation::OnDemand, Some(dir.path())));
    let mut group = c.benchmark_group("one-shot");
    group.sample_size(30);
    for (name, allocation) in [("on-demand", Allocation::OnDemand), ("pooling", pooling())] {
        group.bench_function(format!("engine + warm load + 1 decision, {name}"), |b| {
            b.iter(|| {
                let policy = load(&engine(allocation, Some(dir.path())));
                policy.evaluate(&request).expect("decides")
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = per_decision, throughput, loading, one_shot
}
criterion_main!(benches);
