//! `cargo bench -p hull-bench`: the same program as `cargo run --release -p hull-bench`
//! (no libtest harness; the `--bench` flag cargo passes is ignored).
fn main() {
    hull_bench::main();
}
