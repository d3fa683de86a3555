#![allow(missing_docs)] // criterion_group! generates undocumented functions
//! Cost of a sandbox's cgroups on this host: planning the default policy's
//! resources, creating them in every hierarchy, and removing them. Needs
//! root; every cgroup is named `enforcer-test-bench-<pid>-<n>` and removed.
//!
//! `cargo bench -p enforcer --bench cgroups`

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use enforcer::cgroup::{create, discover, plan, remove};
use policy_sdk::{Decision, MIB};

fn unique_root() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "enforcer-test-bench-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

fn cgroups(c: &mut Criterion) {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED the cgroup benchmarks: they need root");
        return;
    }
    let resources = Decision::allow()
        .memory_limit(512 * MIB)
        .pids(256)
        .default_devices()
        .resources
        .expect("resources");
    let resources = enforcer::decision::NormalResources::from_oci(&resources);
    let layout = discover();
    let mut group = c.benchmark_group("cgroups");
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("discover", |b| b.iter(discover));
    group.bench_function("plan (default policy's resources)", |b| {
        b.iter(|| plan(&resources, &layout, "enforcer-test-bench", "job").expect("plans"))
    });
    // The sandbox's parent exists already, as for every sandbox after the
    // first: measure the per-sandbox leaf.
    let root = unique_root();
    let parent = plan(&resources, &layout, &root, "keep").expect("plans");
    let parent = create(&parent).expect("creates");
    let mut counter = 0u64;
    let mut next_plan = || {
        counter += 1;
        plan(&resources, &layout, &root, &format!("job{counter}")).expect("plans")
    };
    group.bench_function("create", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                let plan = next_plan();
                let started = Instant::now();
                let created = create(&plan).expect("creates");
                total += started.elapsed();
                remove(&created, Duration::from_secs(5)).expect("removes");
            }
            total
        })
    });
    group.bench_function("remove (empty)", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                let created = create(&next_plan()).expect("creates");
                let started = Instant::now();
                remove(&created, Duration::from_secs(5)).expect("removes");
                total += started.elapsed();
            }
            total
        })
    });
    group.finish();
    remove(&parent, Duration::from_secs(5)).expect("removes");
}

criterion_group!(benches, cgroups);
criterion_main!(benches);
