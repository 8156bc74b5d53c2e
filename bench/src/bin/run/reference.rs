//! The reference apps tried as a user would (issue #28): each of `reference-axum`,
//! `reference-actix` and `reference-warp` built in release (root workspace, the same
//! target directory as the bench), started on its in-memory default, unpinned; a bearer
//! token from its own `POST /token` (password grant, demo user alice); then
//! `wrk -t1 -c32`, unpinned, on `GET /health` and on `GET /me` with the bearer, of the
//! same process, once per round; each figure its best round. Target: `/me` ÷ `/health`
//! ≥ 0.85 per framework.

use std::fmt::Write as _;
use std::process::{Command, Stdio};

use super::{Check, JWT_VS_BARE, Measure, Options, Started, password_bearer, run_wrk};

/// The three apps: (framework, package and binary name).
const APPS: [(&str, &str); 3] = [
    ("axum", "reference-axum"),
    ("actix-web", "reference-actix"),
    ("warp", "reference-warp"),
];

/// What limits `/me` against `/health` when the target is missed.
const WHY_ME: &str = "`/me` verifies the bearer (the verified-token cache spares the HMAC), \
     checks revocation, clones the user out of the user store and serialises it (~7k \
     instructions over `/health` on axum, callgrind); `/health` only pings the store. \
     Unpinned, wrk shares the two cores with the app's workers, so the ratio moves from \
     run to run";

/// One reference app's two routes, each its best round.
#[derive(Debug, Clone)]
pub struct RefRow {
    /// `axum`, `actix-web` or `warp`.
    pub framework: &'static str,
    /// `GET /health`.
    pub health: Measure,
    /// `GET /me` with the bearer.
    pub me: Measure,
}

/// Builds the three apps, measures each; the rows measured and the failures.
pub fn phase(opts: &Options) -> (Vec<RefRow>, Vec<String>) {
    let mut failures = Vec::new();
    if let Err(e) = build(opts) {
        return (Vec::new(), vec![format!("reference apps: {e}")]);
    }
    let mut rows = Vec::new();
    for (framework, binary) in APPS {
        match measure_app(opts, framework, binary) {
            Ok(row) => rows.push(row),
            Err(e) => failures.push(format!("reference app {binary}: {e}")),
        }
    }
    (rows, failures)
}

/// `cargo build --release` of the three apps in the root workspace, into the target
/// directory this driver runs from (its binaries sit beside the bench's).
fn build(opts: &Options) -> Result<(), String> {
    let target = opts
        .bin_dir
        .parent()
        .ok_or("the driver's directory has no parent")?;
    println!("bench-run: building the reference apps (release)");
    let mut cmd = Command::new("cargo");
    cmd.args(["build", "--release", "--quiet"]);
    for (_, package) in APPS {
        cmd.args(["-p", package]);
    }
    let status = cmd
        .current_dir(&opts.root)
        .env("CARGO_TARGET_DIR", target)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cargo build exited with {status}"))
    }
}

/// Starts one app (unpinned, memory store), logs alice in, and measures both routes.
fn measure_app(opts: &Options, framework: &'static str, binary: &str) -> Result<RefRow, String> {
    let child = Command::new(opts.bin_dir.join(binary))
        .env("AUTH_BIND", "127.0.0.1:0")
        .env(
            "AUTH_JWT_SECRET",
            "bench-reference-access-secret-0123456789",
        )
        .env(
            "AUTH_REFRESH_SECRET",
            "bench-reference-refresh-secret-012345678",
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start: {e}"))?;
    let started = Started::listening(child)?;
    let bearer = password_bearer(&started.url)?;
    let health_url = format!("{}/health", started.url);
    let me_url = format!("{}/me", started.url);
    wrk_unpinned(&health_url, None, 1)?;
    wrk_unpinned(&me_url, Some(&bearer), 1)?;
    let mut best: Option<RefRow> = None;
    for _ in 0..opts.rounds {
        let health = wrk_unpinned(&health_url, None, opts.seconds)?;
        let me = wrk_unpinned(&me_url, Some(&bearer), opts.seconds)?;
        println!(
            "  {framework:<10} reference app: /health {:>7.0} req/s, /me {:>7.0} req/s ({:.2})",
            health.rps,
            me.rps,
            me.rps / health.rps
        );
        let row = best.get_or_insert(RefRow {
            framework,
            health,
            me,
        });
        if health.rps > row.health.rps {
            row.health = health;
        }
        if me.rps > row.me.rps {
            row.me = me;
        }
    }
    best.ok_or_else(|| "no round".to_string())
}

/// `wrk -t1 -c32`, not pinned (as a user runs it); fails on any non-2xx answer or
/// socket error.
fn wrk_unpinned(url: &str, header: Option<&str>, seconds: u64) -> Result<Measure, String> {
    let mut cmd = Command::new("wrk");
    cmd.args(["-t1", "-c32", "--latency"])
        .arg(format!("-d{seconds}s"));
    if let Some(h) = header {
        cmd.arg("-H").arg(h);
    }
    cmd.arg(url);
    run_wrk(&mut cmd, true)
}

/// One check per app: `/me` ÷ `/health` ≥ 0.85.
pub fn checks(rows: &[RefRow]) -> Vec<Check> {
    APPS.iter()
        .map(|(framework, binary)| {
            let row = rows.iter().find(|r| r.framework == *framework);
            Check::at_least(
                format!("{binary}: `GET /me` (bearer) / `GET /health`, unpinned"),
                row.map(|r| r.me.rps / r.health.rps),
                JWT_VS_BARE,
                WHY_ME.into(),
            )
        })
        .collect()
}

/// The section of the report: how it was measured, and one row per app.
pub fn table(rows: &[RefRow]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\n### Reference apps: `/me` against `/health` (issue #28)\n"
    );
    let _ = writeln!(
        s,
        "Each reference app built in release and run on its in-memory default, unpinned; \
         a bearer from its own `POST /token`; `wrk -t1 -c32 --latency`, unpinned, on \
         `GET /health` and `GET /me` (with the bearer) of the same process, each its best \
         round; every response a 2xx (checked).\n"
    );
    let _ = writeln!(
        s,
        "| app | `/health` req/s | p50 µs | p99 µs | `/me` req/s | p50 µs | p99 µs | `/me` ÷ `/health` |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let binary = APPS
            .iter()
            .find(|(f, _)| *f == r.framework)
            .map_or(r.framework, |(_, b)| *b);
        let _ = writeln!(
            s,
            "| {binary} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2} |",
            r.health.rps,
            r.health.p50_us,
            r.health.p99_us,
            r.me.rps,
            r.me.p50_us,
            r.me.p99_us,
            r.me.rps / r.health.rps
        );
    }
    s
}

/// The phase's own report (`--only-reference`): the table and its checks.
pub fn report(rows: &[RefRow], checks: &[Check]) -> String {
    let mut s = table(rows);
    let _ = writeln!(s, "\n| target | measured | bound | met |");
    let _ = writeln!(s, "|---|---:|---:|---|");
    for c in checks {
        let value = c
            .value
            .map_or("not measured".to_string(), |v| format!("{v:.3}{}", c.unit));
        let met = if c.met() { "yes" } else { "**no**" };
        let _ = writeln!(
            s,
            "| {} | {value} | ≥ {}{} | {met} |",
            c.what, c.bound, c.unit
        );
    }
    s
}
