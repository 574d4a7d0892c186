//! How long Hull takes to check a presented server key, by kind of key: the real one, a forgery
//! of it (right id, wrong secret), a well-formed key of unknown id (another deployment's), and
//! garbage after the prefix. The forged and unknown cases should cost what the real one costs
//! (the public key is derived and compared either way), so timing tells an attacker nothing
//! about which ids exist. Prints medians per check and their ratios to the real key's.
//!
//! `./scripts/bench.sh keys [ROUNDS]`

use std::sync::Arc;
use std::time::Instant;

use hull_app::{AppConfig, Application, InstanceSecret, NewServerKey, RequestOrigin};
use hull_db::Database;
use hull_keys::MintedKey;
use hull_store::MemoryPersistence;

/// Checks per sample; the median of the samples is reported.
const CHECKS_PER_SAMPLE: usize = 200;

fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(101);
    let app = Application::open(
        Database::open(Arc::new(MemoryPersistence::new())).unwrap(),
        AppConfig::new("bench", InstanceSecret::generate()),
    )
    .unwrap();
    let minted = MintedKey::generate();
    app.create_server_key(NewServerKey {
        name: "bench".into(),
        key_id: minted.key_id,
        public_key: minted.public_key,
        allow: vec!["*".into()],
        act_as: false,
        read_only: false,
        allow_browser: false,
        expires_at_ms: None,
        rate: None,
    })
    .unwrap();
    let real = minted.secret.clone();
    let mut forged = real.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let unknown = MintedKey::generate().secret;
    let garbage = format!("hull_sk_{}", "x".repeat(real.len() - "hull_sk_".len()));
    let origin = RequestOrigin::default();
    let cases = [("real key", real), ("forged (known id)", forged), ("unknown id", unknown), ("garbage", garbage)];

    let mut medians = Vec::new();
    for (name, key) in &cases {
        let mut samples: Vec<f64> = (0..rounds)
            .map(|_| {
                let started = Instant::now();
                for _ in 0..CHECKS_PER_SAMPLE {
                    let _ = std::hint::black_box(app.server_key_caller(std::hint::black_box(key), None, &origin));
                }
                started.elapsed().as_nanos() as f64 / CHECKS_PER_SAMPLE as f64
            })
            .collect();
        samples.sort_by(f64::total_cmp);
        medians.push((name, samples[samples.len() / 2]));
    }
    let base = medians[0].1;
    println!("| presented | median per check | ratio to the real key |\n|---|---|---|");
    for (name, median) in &medians {
        println!("| {name} | {:.1} µs | {:.2} |", median / 1000.0, median / base);
    }
}
