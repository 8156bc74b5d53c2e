//! `cargo xtask <task>`: project automation in Rust, so it runs wherever cargo does.
//!
//! - `cargo xtask ci`: exactly what CI runs (`.ci/run`: fmt check, clippy, the tests).
//! - `cargo xtask bench`: the criterion benchmarks of `auth-core` (release build).

use std::path::PathBuf;
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let task = std::env::args().nth(1);
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
        _ => {
            eprintln!("usage: cargo xtask <ci|bench>");
            return ExitCode::from(2);
        }
    };
    match status {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(s) => {
            eprintln!("xtask: {} failed ({s})", task.unwrap_or_default());
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("xtask: could not start the task: {e}");
            ExitCode::FAILURE
        }
    }
}
