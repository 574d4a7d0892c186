//! `e2e`: the end-to-end benchmark (see `hull_bench::e2e` and `bench/README.md`).
//!
//!     ./scripts/bench.sh e2e [--smoke]      builds hull, limit_server and this in release, runs it
//!
//! Flags:
//!   --smoke              small sizes and short windows (the test suite's run; numbers mean nothing)
//!   --out DIR            where latest.md and latest.json go (default: HULL_E2E_OUT, else bench/results)
//!   --hull PATH          the hull binary (default: next to this program)
//!   --systems a,b        a subset of hull,node,limit (default: all three)

use std::path::PathBuf;

use hull_bench::e2e::{self, Binaries, Config, System};
use hull_bench::support::repo_root;

/// The validated command line.
struct Args {
    config: Config,
    out: PathBuf,
    hull: PathBuf,
    systems: Vec<System>,
}

fn usage(problem: &str) -> ! {
    eprintln!("e2e: {problem}\nusage: e2e [--smoke] [--out DIR] [--hull PATH] [--systems hull,node,limit]");
    std::process::exit(2);
}

fn parse() -> Args {
    let here = std::env::current_exe().expect("this program's path");
    let mut args = Args { config: Config::full(), out: e2e::default_out_dir(), hull: here.with_file_name("hull"), systems: System::ALL.to_vec() };
    let mut raw = std::env::args().skip(1);
    while let Some(flag) = raw.next() {
        let mut value = || raw.next().unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--smoke" => args.config = Config::smoke(),
            "--out" => args.out = PathBuf::from(value()),
            "--hull" => args.hull = PathBuf::from(value()),
            "--systems" => {
                args.systems = value()
                    .split(',')
                    .map(|name| System::ALL.into_iter().find(|s| s.name() == name).unwrap_or_else(|| usage(&format!("unknown system {name}"))))
                    .collect();
                args.systems.sort();
                args.systems.dedup();
            }
            _ => usage(&format!("unknown argument {flag}")),
        }
    }
    if !args.systems.contains(&System::Hull) {
        usage("--systems must include hull (the other systems are its baselines)");
    }
    args
}

fn main() {
    let args = parse();
    let here = std::env::current_exe().expect("this program's path");
    let binaries = Binaries { hull: args.hull, limit: here.with_file_name("limit_server"), node_script: repo_root().join("bench/node/server.mjs") };
    let report = e2e::run(&args.config, &binaries, &args.systems);
    print!("{}", report.to_markdown());
    match report.write(&args.out) {
        Ok((markdown, json)) => eprintln!("wrote {} and {}", markdown.display(), json.display()),
        Err(error) => {
            eprintln!("could not write the results to {}: {error}", args.out.display());
            std::process::exit(1);
        }
    }
}
