//! Per-call overhead of the function runtime on the basic fixture bundle.
//!
//!     ./scripts/bench.sh js [ITERATIONS]   (= cargo run --release -p hull-bench --bin js)
//!
//! Reports medians and tails for: a query on a pooled (reused) context, the same query in a
//! fresh context per call (modules from bytecode, and from source), a mutation, a mutation with
//! nested `ctx.runQuery`/`ctx.runMutation`, an action calling a query, and module load of the
//! zod-heavy `profiles.js` from source vs bytecode.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hull_db::{Database, Schema};
use hull_js::{JsRuntime, ModuleMap, PushRequest, RuntimeConfig};
use hull_store::MemoryPersistence;
use serde_json::json;

const BASIC: &str = include_str!("../../../crates/hull-js/tests/fixtures/basic.push.json");

fn stats(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];
    println!(
        "{name:<58} median {:>8.1} µs   p90 {:>8.1} µs   p99 {:>8.1} µs   (n={})",
        at(0.5).as_secs_f64() * 1e6,
        at(0.9).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6,
        samples.len()
    );
}

fn main() {
    let iterations: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    let push = PushRequest::parse(BASIC).unwrap();
    let db = Database::open(Arc::new(MemoryPersistence::new())).unwrap();
    let schema = Schema::parse(
        &JsRuntime::evaluate_schema(push.schema.as_ref().unwrap(), RuntimeConfig::default())
            .unwrap(),
    )
    .unwrap();
    db.run(0, |tx| {
        tx.set_schema(Some(schema.clone()))?;
        for table in schema.tables.values() {
            for index in &table.indexes {
                tx.create_index(&table.name, &index.name, &index.fields)?;
            }
        }
        Ok(())
    })
    .unwrap();
    let modules = ModuleMap::new(push.modules);
    let mut rt = JsRuntime::new(modules.clone(), RuntimeConfig::default()).unwrap();
    let (out, _) = rt
        .execute_mutation(&db, "channels:create", &json!({ "name": "general" }), 3)
        .unwrap();
    let channel = out.result.unwrap().to_json();
    for i in 0..3 {
        let args = json!({ "message": { "channel": channel, "body": format!("hello {i}") }, "author": "bench" });
        rt.execute_mutation(&db, "messages:send", &args, 3)
            .unwrap()
            .0
            .result
            .unwrap();
    }
    let list_args = json!({ "channel": channel });

    let run = |rt: &mut JsRuntime, n: usize| -> Vec<Duration> {
        (0..n)
            .map(|_| {
                let mut tx = db.begin();
                let start = Instant::now();
                let outcome = rt.run_query("messages:list", &list_args, &mut tx).unwrap();
                let elapsed = start.elapsed();
                assert_eq!(outcome.result.unwrap().as_array().unwrap().len(), 3);
                elapsed
            })
            .collect()
    };
    run(&mut rt, 50);
    stats(
        "query messages:list (3 docs), pooled context",
        run(&mut rt, iterations),
    );

    let mut fresh = JsRuntime::new(
        modules.clone(),
        RuntimeConfig {
            reuse_context: false,
            ..RuntimeConfig::default()
        },
    )
    .unwrap();
    run(&mut fresh, 5);
    stats(
        "query messages:list, fresh context per call (bytecode)",
        run(&mut fresh, iterations / 4),
    );
    let mut fresh_source = JsRuntime::new(
        modules.clone(),
        RuntimeConfig {
            reuse_context: false,
            bytecode_cache: false,
            ..RuntimeConfig::default()
        },
    )
    .unwrap();
    run(&mut fresh_source, 5);
    stats(
        "query messages:list, fresh context per call (source)",
        run(&mut fresh_source, iterations / 4),
    );

    let resets: Vec<Duration> = (0..(iterations / 4))
        .map(|_| {
            let start = Instant::now();
            fresh.reset().unwrap();
            start.elapsed()
        })
        .collect();
    stats(
        "fresh context alone (QuickJS runtime + context + prelude)",
        resets,
    );

    let send: Vec<Duration> = (0..iterations)
        .map(|i| {
            let mut tx = db.begin();
            let args = json!({ "message": { "channel": channel, "body": format!("m{i}") }, "author": "bench" });
            let start = Instant::now();
            let outcome = rt.run_mutation("messages:send", &args, &mut tx).unwrap();
            let elapsed = start.elapsed();
            outcome.result.unwrap();
            elapsed
        })
        .collect();
    stats(
        "mutation messages:send (not committed), pooled context",
        send,
    );

    let nested: Vec<Duration> = (0..iterations)
        .map(|i| {
            let mut tx = db.begin();
            let args = json!({ "name": format!("n{i}") });
            let start = Instant::now();
            let outcome = rt
                .run_mutation("util:createAndList", &args, &mut tx)
                .unwrap();
            let elapsed = start.elapsed();
            outcome.result.unwrap();
            elapsed
        })
        .collect();
    stats(
        "mutation + nested runQuery + nested runMutation (savepoint)",
        nested,
    );

    let action_args = json!({ "channel": channel });
    let actions: Vec<Duration> = (0..iterations)
        .map(|_| {
            let start = Instant::now();
            let outcome = rt.run_action("profiles:latest", &action_args, &db).unwrap();
            let elapsed = start.elapsed();
            outcome.result.unwrap();
            elapsed
        })
        .collect();
    stats("action with one ctx.runQuery, pooled context", actions);

    let zod_args = json!({ "profile": { "handle": "ada_l" } });
    for (label, bytecode_cache) in [
        (
            "zod module graph (profiles.js, ~90 KB) load from source",
            false,
        ),
        ("zod module graph load from bytecode", true),
    ] {
        let mut rt = JsRuntime::new(
            modules.clone(),
            RuntimeConfig {
                bytecode_cache,
                ..RuntimeConfig::default()
            },
        )
        .unwrap();
        let mut tx = db.begin();
        rt.run_query("profiles:check", &zod_args, &mut tx)
            .unwrap()
            .result
            .unwrap();
        let samples = (0..(iterations / 10).max(10))
            .map(|_| {
                rt.reset().unwrap();
                let mut tx = db.begin();
                let start = Instant::now();
                rt.run_query("profiles:check", &zod_args, &mut tx)
                    .unwrap()
                    .result
                    .unwrap();
                start.elapsed()
            })
            .collect();
        stats(&format!("{label} + 1 call"), samples);
    }
    let rt_heap = rt.heap_size();
    println!(
        "QuickJS heap of the pooled runtime after the run: {} KiB",
        rt_heap / 1024
    );
}
