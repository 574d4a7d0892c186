//! `cargo run --release -p hull-bench [-- --quick]`: see `bench/README.md`.
fn main() {
    hull_bench::main();
}
