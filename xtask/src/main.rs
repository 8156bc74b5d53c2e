//! `cargo xtask <task>`: project automation in Rust, so it runs wherever cargo does.
//!
//! - `cargo xtask test [ARGS]`: the whole test suite on a fresh Debian machine: installs
//!   what is missing, starts a throwaway Redis and Postgres on free ports, runs
//!   `cargo test --workspace [ARGS]`, stops them (see `test.rs`).
//! - `cargo xtask ci`: exactly what CI runs (`.ci/run`: fmt check, clippy, the tests).
//! - `cargo xtask bench [OPTIONS]`: the side-by-side HTTP benchmark (`docs/BENCHMARKS.md`);
//!   `--only-stores` runs only login, refresh and a session request on each store;
//!   `--only-instructions` only the callgrind count of instructions per request.
//!   Builds the bench-only package `bench/` (its own workspace: bare axum, actix-web and
//!   warp servers, ours on each, the peers) in release into the shared `target/`, then
//!   runs its driver `bench-run`: every server pinned to core 0 with `wrk` on core 1
//!   (installed from Debian if missing), the tutorial's FastAPI app in a virtualenv, the
//!   login burst, revocation propagation over Redis and Postgres, the reference apps'
//!   `/me` against `/health` (it builds them in release into the same `target/`), memory
//!   per entry and a 5-minute soak; prints the table and rewrites the generated part of
//!   `docs/BENCHMARKS.md` and `docs/benchmarks.svg`. OPTIONS go to `bench-run`:
//!   `--seconds N` (per measurement, default 3), `--rounds N` (default 3; a row is its
//!   best round), `--soak N` (default 300), `--fastapi DIR`, `--no-doc`,
//!   `--only-reference` (the reference apps' phase alone), `--only-rows TEXT` (the main
//!   table's rows whose label contains TEXT, printed only). After a whole run of the
//!   driver, `bench-instructions` counts instructions per request under callgrind
//!   (valgrind) and rewrites its section too; `--only-instructions` runs only that.
//! - `cargo xtask criterion`: the criterion micro-benchmarks of `auth-core`,
//!   `auth-redis` and `auth-sqlx` (release build; Redis and Postgres must answer).
//! - `cargo xtask fuzz [SECONDS] [TARGET...]`: every libFuzzer target (or the ones named)
//!   for SECONDS each (default 600), on its committed corpus under `fuzz/corpus/`,
//!   installing `cargo-fuzz` if missing. The toolchain is stable; `RUSTC_BOOTSTRAP=1`
//!   unlocks the sanitizer flags cargo-fuzz passes. A crash stops with the reproducer's
//!   path (`fuzz/artifacts/TARGET/`).
#![allow(clippy::indexing_slicing, clippy::string_slice)] // a developer tool: its input is our own command line and files

mod test;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// The targets in `fuzz/fuzz_targets/`.
const FUZZ_TARGETS: [&str; 6] = [
    "bearer_header",
    "token_verify",
    "token_header",
    "cookie_header",
    "token_form",
    "api_key",
];

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let task = args.next();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default();
    let status = match task.as_deref() {
        Some("ci") => Command::new("bash")
            .arg(root.join(".ci/run"))
            .current_dir(&root)
            .status(),
        Some("criterion") => Command::new(env!("CARGO"))
            .args([
                "bench",
                "--package",
                "auth-core",
                "--package",
                "auth-redis",
                "--package",
                "auth-sqlx",
            ])
            .current_dir(&root)
            .status(),
        Some("bench") => return bench(&root, args.collect()),
        Some("test") => return test::run(&root, args.collect()),
        Some("fuzz") => return fuzz(&root, args.collect()),
        _ => {
            eprintln!(
                "usage: cargo xtask <test [CARGO TEST ARGS]|ci|bench [--seconds N] [--rounds N] [--soak N] [--fastapi DIR] [--no-doc] [--only-stores] [--only-reference] [--only-rows TEXT[,TEXT…]] [--only-instructions]|criterion|fuzz [SECONDS] [TARGET...]>"
            );
            return ExitCode::from(2);
        }
    };
    report(task.as_deref().unwrap_or_default(), status)
}

fn report(task: &str, status: std::io::Result<std::process::ExitStatus>) -> ExitCode {
    match status {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(s) => {
            eprintln!("xtask: {task} failed ({s})");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("xtask: could not start {task}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn fuzz(root: &Path, args: Vec<String>) -> ExitCode {
    let (seconds, named): (u64, Vec<String>) = match args.first().map(|a| a.parse::<u64>()) {
        Some(Ok(s)) => (s, args[1..].to_vec()),
        Some(Err(_)) => (600, args),
        None => (600, Vec::new()),
    };
    let targets: Vec<&str> = if named.is_empty() {
        FUZZ_TARGETS.to_vec()
    } else {
        match named
            .iter()
            .map(|n| FUZZ_TARGETS.iter().find(|t| *t == n).copied().ok_or(n))
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(t) => t,
            Err(n) => {
                eprintln!(
                    "xtask: no fuzz target `{n}`; targets: {}",
                    FUZZ_TARGETS.join(", ")
                );
                return ExitCode::from(2);
            }
        }
    };
    let has_fuzz = Command::new(env!("CARGO"))
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_fuzz {
        eprintln!("xtask: installing cargo-fuzz from crates.io");
        let installed = Command::new(env!("CARGO"))
            .args(["install", "cargo-fuzz", "--locked"])
            .status();
        if !installed.is_ok_and(|s| s.success()) {
            eprintln!("xtask: cannot install cargo-fuzz");
            return ExitCode::FAILURE;
        }
    }
    for target in targets {
        println!("xtask: fuzzing {target} for {seconds} s");
        let status = Command::new(env!("CARGO"))
            .args(["fuzz", "run", "--fuzz-dir", "fuzz", "-O", target, "--"])
            .arg(format!("-max_total_time={seconds}"))
            .args([
                "-rss_limit_mb=2048",
                "-max_len=70000",
                "-print_final_stats=1",
            ])
            .env("RUSTC_BOOTSTRAP", "1")
            .current_dir(root)
            .status();
        if report(&format!("fuzz {target}"), status) != ExitCode::SUCCESS {
            eprintln!("xtask: see fuzz/artifacts/{target}/ for the input that failed");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// What the tutorial's FastAPI app needs (its README's list).
const FASTAPI_PACKAGES: &str = "fastapi uvicorn python-multipart pyjwt";

/// Builds the bench package (release, shared `target/`) and runs its driver.
fn bench(root: &Path, args: Vec<String>) -> ExitCode {
    let target = root.join("target");
    // The FastAPI peer's virtualenv is made while the servers build (pip mostly waits on
    // the network; the build on the CPU).
    let venv = target.join("bench/venv");
    let only_stores = args.iter().any(|a| a == "--only-stores");
    let only_instructions = args.iter().any(|a| a == "--only-instructions");
    let making_venv = if only_stores || only_instructions || venv.join("bin/python").exists() {
        None
    } else {
        println!("xtask: making the FastAPI virtualenv in {}", venv.display());
        let script = format!(
            "python3 -m venv '{0}' && '{0}/bin/pip' install -q {1}",
            venv.display(),
            FASTAPI_PACKAGES
        );
        Command::new("sh").arg("-c").arg(script).spawn().ok()
    };
    println!("xtask: building the bench package (release)");
    // `--only-stores` needs only the driver and the stores server.
    let bins: &[&str] = if only_stores {
        &["--bin", "bench-run", "--bin", "bench-stores"]
    } else {
        &["--bins"]
    };
    let built = Command::new(env!("CARGO"))
        .args(["build", "--release"])
        .args(bins)
        .arg("--manifest-path")
        .arg(root.join("bench/Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(root)
        .status();
    let venv_made = match making_venv {
        Some(mut child) => child.wait(),
        None => Ok(std::process::ExitStatus::default()),
    };
    if report("bench build", built) != ExitCode::SUCCESS
        || report("FastAPI virtualenv", venv_made) != ExitCode::SUCCESS
    {
        return ExitCode::FAILURE;
    }
    // `--only-instructions`: the callgrind counts alone; `--only-stores`: the store rows
    // alone; otherwise the driver, then the counts (never while the driver loads the CPU).
    if !only_instructions {
        let status = Command::new(target.join("release/bench-run"))
            .args(&args)
            .current_dir(root)
            .status();
        let ran = report("bench", status);
        let partial = args
            .iter()
            .any(|a| ["--only-stores", "--only-reference", "--only-rows"].contains(&a.as_str()));
        if ran != ExitCode::SUCCESS || partial {
            return ran;
        }
    }
    let no_doc: &[&str] = if args.iter().any(|a| a == "--no-doc") {
        &["--no-doc"]
    } else {
        &[]
    };
    let counted = Command::new(target.join("release/bench-instructions"))
        .args(no_doc)
        .current_dir(root)
        .status();
    report("bench-instructions", counted)
}
