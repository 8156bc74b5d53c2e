//! `cargo xtask test`: the whole test suite on a machine with only the Rust toolchain.
//!
//! Installs from Debian's packages what the tests need and is missing (`redis-server`
//! and `redis-tools`, `postgresql`, `openssl`, `chromium` and `chromium-driver`, and
//! `libssl-dev` with `pkg-config` to build webauthn-rs for the passkeys), starts a
//! throwaway Redis and a throwaway Postgres cluster on free ports in data directories of
//! their own (so nothing already running on the machine is reused by accident), runs
//! `cargo test --workspace` against them (`AUTH_TEST_REDIS_URL`,
//! `AUTH_TEST_DATABASE_URL`), and stops what it started, whatever the outcome. The whole
//! suite (no arguments) ends with the published crates' documentation built with
//! `RUSTDOCFLAGS=-D warnings`, so a broken doc link fails it too.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// Runs the suite; `extra` goes to `cargo test` (e.g. `-p auth-core`).
pub fn run(root: &Path, extra: Vec<String>) -> ExitCode {
    match provision_and_test(root, extra) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask test: {e}");
            ExitCode::FAILURE
        }
    }
}

fn provision_and_test(root: &Path, extra: Vec<String>) -> Result<ExitCode, String> {
    let whole_suite = extra.is_empty();
    install_missing()?;
    let scratch = scratch_dir()?;
    let redis = Redis::start(&scratch)?;
    let postgres = Postgres::start(&scratch)?;
    println!(
        "xtask test: Redis on {}, Postgres on {}",
        redis.url, postgres.url
    );
    let status = Command::new(env!("CARGO"))
        .args(["test", "--workspace"])
        .args(extra)
        .env("AUTH_TEST_REDIS_URL", &redis.url)
        .env("AUTH_TEST_DATABASE_URL", &postgres.url)
        .current_dir(root)
        .status()
        .map_err(|e| format!("cannot run cargo test: {e}"))?;
    drop(postgres);
    drop(redis);
    let _ = std::fs::remove_dir_all(&scratch);
    if !status.success() {
        return Ok(ExitCode::FAILURE);
    }
    if whole_suite && !docs_build(root)? {
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// The crates published to crates.io (`tests/invariants.rs` checks the same list).
const PUBLISHED: [&str; 8] = [
    "auth-core",
    "auth-axum",
    "auth-actix",
    "auth-warp",
    "auth-redis",
    "auth-openapi",
    "auth-sqlx",
    "authctl",
];

/// `cargo doc` of the published crates, every feature, warnings as errors.
fn docs_build(root: &Path) -> Result<bool, String> {
    println!(
        "xtask test: cargo doc -D warnings for {}",
        PUBLISHED.join(", ")
    );
    let mut cargo = Command::new(env!("CARGO"));
    cargo.args(["doc", "--no-deps", "--all-features"]);
    for krate in PUBLISHED {
        cargo.args(["-p", krate]);
    }
    let status = cargo
        .env("RUSTDOCFLAGS", "-D warnings")
        .current_dir(root)
        .status()
        .map_err(|e| format!("cannot run cargo doc: {e}"))?;
    Ok(status.success())
}

fn have(command: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {command}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Debian's PostgreSQL server binaries (`/usr/lib/postgresql/N/bin`), newest first.
fn postgres_bin() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    dirs.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    dirs.pop()
}

/// Whether pkg-config finds OpenSSL's development files (`libssl-dev`).
fn openssl_headers() -> bool {
    Command::new("pkg-config")
        .args(["--exists", "openssl"])
        .status()
        .is_ok_and(|s| s.success())
}

/// `apt-get install` of every package whose command is missing.
fn install_missing() -> Result<(), String> {
    let mut missing = Vec::new();
    if !have("redis-server") || !have("redis-cli") {
        missing.extend(["redis-server", "redis-tools"]);
    }
    if !have("psql") || postgres_bin().is_none() {
        missing.push("postgresql");
    }
    if !have("openssl") {
        missing.push("openssl");
    }
    if !have("chromium") || !have("chromedriver") {
        missing.extend(["chromium", "chromium-driver"]);
    }
    // auth-core's `passkeys` (webauthn-rs) builds openssl-sys: OpenSSL's headers, found
    // through pkg-config.
    if !have("pkg-config") || !openssl_headers() {
        missing.extend(["libssl-dev", "pkg-config"]);
    }
    if missing.is_empty() {
        return Ok(());
    }
    println!(
        "xtask test: installing {} from Debian's packages",
        missing.join(", ")
    );
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .map_err(|e| {
                format!(
                    "cannot run apt-get ({e}); install {} yourself",
                    missing.join(" ")
                )
            })
            .and_then(|s| {
                if s.success() {
                    Ok(())
                } else {
                    Err(format!(
                        "apt-get {} failed; install {} yourself",
                        args.join(" "),
                        missing.join(" ")
                    ))
                }
            })
    };
    apt(&["update", "-qq"])?;
    let mut install = vec!["install", "-y", "-qq"];
    install.extend(missing.iter().copied());
    apt(&install)
}

/// A fresh directory for the servers' data, readable by the `postgres` user.
fn scratch_dir() -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("xtask-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

/// A port nobody listens on now.
fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

fn wait_for(what: &str, mut ready: impl FnMut() -> bool) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if ready() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("{what} did not answer within 30 s"))
}

/// A throwaway `redis-server`, stopped when dropped.
struct Redis {
    child: Child,
    url: String,
}

impl Redis {
    fn start(scratch: &Path) -> Result<Self, String> {
        let port = free_port()?;
        let dir = scratch.join("redis");
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start redis-server: {e}"))?;
        let redis = Redis {
            child,
            url: format!("redis://127.0.0.1:{port}"),
        };
        wait_for("redis-server", || {
            Command::new("redis-cli")
                .args(["-p", &port.to_string(), "ping"])
                .output()
                .is_ok_and(|o| o.stdout.starts_with(b"PONG"))
        })?;
        Ok(redis)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A throwaway PostgreSQL cluster (`initdb`, `pg_ctl`), stopped when dropped. As root
/// the server runs as the `postgres` user (PostgreSQL refuses root).
struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    url: String,
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// Runs a PostgreSQL tool, as the `postgres` user when we are root.
fn pg(bin: &Path, tool: &str, args: &[String], cwd: &Path) -> Result<(), String> {
    let program = bin.join(tool);
    let status = if is_root() {
        let quoted: Vec<String> = std::iter::once(program.display().to_string())
            .chain(args.iter().cloned())
            .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
            .collect();
        Command::new("su")
            .args(["postgres", "-c", &quoted.join(" ")])
            .current_dir(cwd)
            .stdout(Stdio::null())
            .status()
    } else {
        Command::new(&program)
            .args(args)
            .current_dir(cwd)
            .stdout(Stdio::null())
            .status()
    }
    .map_err(|e| format!("cannot run {tool}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{tool} failed ({status})"))
    }
}

impl Postgres {
    fn start(scratch: &Path) -> Result<Self, String> {
        let bin =
            postgres_bin().ok_or("no PostgreSQL server binaries under /usr/lib/postgresql")?;
        let port = free_port()?;
        let home = scratch.join("postgres");
        std::fs::create_dir_all(&home).map_err(|e| e.to_string())?;
        if is_root() {
            // The server's files belong to `postgres`; the scratch dir must be reachable.
            let _ = Command::new("chmod").arg("755").arg(scratch).status();
            let _ = Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(&home)
                .status();
        }
        let data = home.join("data");
        let s = |p: &Path| p.display().to_string();
        pg(
            &bin,
            "initdb",
            &[
                "-D".into(),
                s(&data),
                "-A".into(),
                "trust".into(),
                "-U".into(),
                "postgres".into(),
                "--no-sync".into(),
            ],
            &home,
        )?;
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=off -c max_connections=300",
            s(&home)
        );
        let postgres = Postgres {
            bin: bin.clone(),
            data: data.clone(),
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
        };
        pg(
            &bin,
            "pg_ctl",
            &[
                "-D".into(),
                s(&data),
                "-l".into(),
                s(&home.join("log")),
                "-w".into(),
                "-o".into(),
                options,
                "start".into(),
            ],
            &home,
        )?;
        let url = postgres.url.clone();
        wait_for("postgres", || {
            Command::new("psql")
                .args([url.as_str(), "-Atqc", "SELECT 1"])
                .output()
                .is_ok_and(|o| o.status.success())
        })?;
        Ok(postgres)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let cwd = self
            .data
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let _ = pg(
            &self.bin,
            "pg_ctl",
            &[
                "-D".into(),
                self.data.display().to_string(),
                "-m".into(),
                "fast".into(),
                "stop".into(),
            ],
            &cwd,
        );
    }
}
