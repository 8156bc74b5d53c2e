//! `cargo xtask <task>`: project automation in Rust, so it runs wherever cargo does.
//!
//! - `cargo xtask ci`: exactly what CI runs (`.ci/run`: fmt check, clippy, the tests).
//! - `cargo xtask bench`: the criterion benchmarks of `auth-core` (release build).
//! - `cargo xtask http-load [SECONDS]`: each adapter's release `load` example, server on
//!   core 0 and `wrk` on core 1 (installed from Debian if missing), `/open` and the JWT
//!   route with the cache on and off, on memory, Redis direct and Redis replica (Redis at
//!   127.0.0.1:6379); prints one Markdown table (req/s, p50, p99). Issue #14's peer
//!   comparison and chart are not part of it yet.
//! - `cargo xtask fuzz [SECONDS] [TARGET...]`: every libFuzzer target (or the ones named)
//!   for SECONDS each (default 600), on its committed corpus under `fuzz/corpus/`,
//!   installing `cargo-fuzz` if missing. The toolchain is stable; `RUSTC_BOOTSTRAP=1`
//!   unlocks the sanitizer flags cargo-fuzz passes. A crash stops with the reproducer's
//!   path (`fuzz/artifacts/TARGET/`).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// The targets in `fuzz/fuzz_targets/`.
const FUZZ_TARGETS: [&str; 5] = [
    "bearer_header",
    "token_verify",
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
        Some("bench") => Command::new(env!("CARGO"))
            .args(["bench", "--package", "auth-core"])
            .current_dir(&root)
            .status(),
        Some("fuzz") => return fuzz(&root, args.collect()),
        Some("http-load") => return http_load(&root, args.next()),
        _ => {
            eprintln!(
                "usage: cargo xtask <ci|bench|http-load [SECONDS]|fuzz [SECONDS] [TARGET...]>"
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

/// One server configuration of `http-load`: a label and its environment.
const LOAD_CONFIGS: [(&str, &[(&str, &str)]); 4] = [
    ("JWT, memory, cache on", &[]),
    ("JWT, memory, cache off", &[("AUTH_VERIFIED_CACHE", "0")]),
    (
        "JWT, Redis direct",
        &[("AUTH_REDIS_URL", "redis://127.0.0.1:6379")],
    ),
    (
        "JWT, Redis replica",
        &[
            ("AUTH_REDIS_URL", "redis://127.0.0.1:6379"),
            ("AUTH_REDIS_REPLICA", "true"),
        ],
    ),
];

fn http_load(root: &Path, seconds: Option<String>) -> ExitCode {
    let seconds: u64 = seconds.and_then(|s| s.parse().ok()).unwrap_or(10);
    let has_wrk = Command::new("wrk").arg("--version").output().is_ok();
    if !has_wrk {
        eprintln!("xtask: installing wrk from Debian's packages");
        let ok = Command::new("apt-get")
            .args(["install", "-y", "-qq", "wrk"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("xtask: cannot install wrk");
            return ExitCode::FAILURE;
        }
    }
    let bin_dir = root.join("target/http-load");
    let _ = std::fs::create_dir_all(&bin_dir);
    println!("| adapter | route | req/s | p50 | p99 |\n|---|---|---|---|---|");
    for adapter in ["axum", "actix", "warp"] {
        // Each adapter's example is called `load`: build and copy one at a time.
        let built = Command::new(env!("CARGO"))
            .args([
                "build",
                "--release",
                "-q",
                "-p",
                &format!("auth-{adapter}"),
                "--example",
                "load",
            ])
            .current_dir(root)
            .status()
            .is_ok_and(|s| s.success());
        let binary = bin_dir.join(format!("load-{adapter}"));
        if !built || std::fs::copy(root.join("target/release/examples/load"), &binary).is_err() {
            eprintln!("xtask: cannot build the {adapter} load server");
            return ExitCode::FAILURE;
        }
        for (i, (label, env)) in LOAD_CONFIGS.iter().enumerate() {
            let routes: &[&str] = if i == 0 {
                &["/open", "/protected"]
            } else {
                &["/protected"]
            };
            let ns = format!("http-load-{adapter}-{}", std::process::id());
            match run_load(&binary, env, &ns, routes, seconds) {
                Ok(rows) => {
                    for (route, rps, p50, p99) in rows {
                        let what = if route == "/open" {
                            "open (no auth)"
                        } else {
                            label
                        };
                        println!("| {adapter} | {what} | {rps} | {p50} | {p99} |");
                    }
                }
                Err(e) => {
                    eprintln!("xtask: {adapter} {label}: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    ExitCode::SUCCESS
}

type Row = (String, String, String, String);

fn run_load(
    binary: &Path,
    env: &[(&str, &str)],
    namespace: &str,
    routes: &[&str],
    seconds: u64,
) -> Result<Vec<Row>, String> {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new("taskset")
        .arg("-c")
        .arg("0")
        .arg(binary)
        .envs(env.iter().copied())
        .env("AUTH_BIND", "127.0.0.1:0")
        .env("AUTH_REDIS_NAMESPACE", namespace)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the server: {e}"))?;
    let mut url = None;
    let mut header = None;
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Some(u) = line.trim().strip_prefix("listening on ") {
                url = Some(u.to_string());
            } else if let Some(pos) = line.find("Bearer ") {
                header = Some(line[pos..].trim().to_string());
            }
            if url.is_some() && header.is_some() {
                break;
            }
        }
    }
    let (Some(url), Some(header)) = (url, header) else {
        let _ = child.kill();
        return Err("the server printed no address and bearer header".into());
    };
    let mut rows = Vec::new();
    for route in routes {
        let out = Command::new("taskset")
            .args([
                "-c",
                "1",
                "wrk",
                "-t1",
                "-c32",
                &format!("-d{seconds}s"),
                "--latency",
                "-H",
            ])
            .arg(format!("Authorization: {header}"))
            .arg(format!("{url}{route}"))
            .output()
            .map_err(|e| format!("cannot run wrk: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let field = |prefix: &str| {
            text.lines()
                .find(|l| l.trim_start().starts_with(prefix))
                .and_then(|l| l.split_whitespace().nth(1))
                .unwrap_or("?")
                .to_string()
        };
        rows.push((
            route.to_string(),
            field("Requests/sec:"),
            field("50%"),
            field("99%"),
        ));
    }
    let _ = child.kill();
    let _ = child.wait();
    Ok(rows)
}
