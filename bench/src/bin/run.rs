//! `bench-run`: what `cargo xtask bench` runs once the bench package is built.
//!
//! Every HTTP server is pinned to core 0 (`taskset`) and loaded alone (the others sit
//! idle); `wrk` runs pinned to core 1 with one thread and 32 connections: one second of
//! warm-up, then `--seconds` measured, once per round; a row is its best round.
//! Every measured response must be a 2xx (a server that answers 401 fast would flatter
//! itself). Then the login burst, the revocation propagation, the memory figures and the
//! soak. The results go to stdout as a Markdown table, into `docs/BENCHMARKS.md` between
//! its `<!-- bench:begin -->` and `<!-- bench:end -->` markers, and into the chart
//! `docs/benchmarks.svg`.
//!
//! Options: `--seconds N` per measurement (default 3), `--rounds N` (default 3: each row
//! is the best of N measurements, every server measured once per round), `--soak N`
//! (default 300), `--fastapi DIR` (default `../shared/peers/fastapi_tutorial` beside the
//! repository), `--no-doc`, `--only-stores` (the stores-over-HTTP phase alone),
//! `--only-reference` (the reference apps' `/me` against `/health` alone, [`reference`]),
//! `--only-rows TEXT[,TEXT…]` (only the main table's rows whose label contains one of
//! the TEXTs, beside the bare rows; printed, never written to the docs).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark driver aborts on a broken setup

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use auth_bench::utc_now;

#[path = "run/reference.rs"]
mod reference;

const REDIS_URL: &str = "redis://127.0.0.1:6379";
/// The targets of issues #14 and #28.
const JWT_VS_BARE: f64 = 0.85;
const OURS_VS_PEER: f64 = 1.2;
const REDIS_VS_MEMORY: f64 = 0.85;
/// Issue #28: a cookie session costs what a token costs.
const SESSION_VS_BARE: f64 = 0.85;
/// Issue #28: bytes per live session in the memory store at one million.
const BYTES_PER_SESSION: f64 = 400.0;
const PROPAGATION_P99_MS: f64 = 100.0;
const BURST_P99_FACTOR: f64 = 2.0;
const VS_FASTAPI: f64 = 20.0;
/// The rows of the external issuer's RS256 token (issue #28).
const RS256_OURS: &str = "ours: JWT RS256, external issuer (JWKS)";
const RS256_PEER: &str = "jwt-authorizer 0.15 (axum 0.7)";
const AXUM07_BARE: &str = "bare axum 0.7 (jwt-authorizer's framework)";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Bare,
    Ours,
    Peer,
}

/// One measured row.
#[derive(Debug, Clone)]
struct Row {
    framework: &'static str,
    label: String,
    kind: Kind,
    route: String,
    rps: f64,
    p50_us: f64,
    p99_us: f64,
}

/// One server process to start.
struct Server {
    framework: &'static str,
    binary: String,
    mode: &'static str,
    env: Vec<(&'static str, String)>,
    /// (route, label, kind): the routes measured on this server, in order.
    routes: Vec<(&'static str, &'static str, Kind)>,
}

struct Options {
    root: PathBuf,
    bin_dir: PathBuf,
    seconds: u64,
    rounds: u32,
    soak: u64,
    fastapi: PathBuf,
    doc: bool,
    /// Only the stores-over-HTTP phase (`--only-stores`), for its own section.
    only_stores: bool,
    /// Only the reference apps' phase (`--only-reference`).
    only_reference: bool,
    /// Only the main table's rows whose label contains one of these comma-separated
    /// texts (`--only-rows TEXT[,TEXT…]`), and the bare rows; no other phase, no docs.
    only_rows: Option<String>,
}

fn main() {
    let opts = options();
    let started = Instant::now();
    ensure_wrk();
    ensure_redis();
    let machine = machine();
    println!("bench-run: {machine}");
    if opts.only_stores {
        let failures = stores_phase(&opts, &machine);
        if !failures.is_empty() {
            std::process::exit(1);
        }
        return;
    }
    if opts.only_reference {
        let (rows, mut failures) = reference::phase(&opts);
        let checks = reference::checks(&rows);
        println!("{}", reference::report(&rows, &checks));
        failures.extend(failed_checks(&checks));
        exit_with(&failures);
        return;
    }

    // Every server starts first and stays up (an idle one sleeps); each round measures
    // every route once, and a route's row is its best round: interference from the
    // other tenants of a shared machine only ever slows a measurement down.
    let mut failures: Vec<String> = Vec::new();
    let mut up: Vec<(Server, Started)> = Vec::new();
    // The external identity provider whose RS256 token two axum rows verify; idle once
    // the servers have fetched its keys.
    let issuer = match start(&opts, "bench-axum", "issuer", &[]) {
        Ok(issuer) => Some(issuer),
        Err(e) => {
            failures.push(format!("issuer: {e}"));
            None
        }
    };
    let mut servers = servers(issuer.as_ref().map(|i| i.url.as_str()));
    if let Some(text) = &opts.only_rows {
        for server in &mut servers {
            server.routes.retain(|(_, label, kind)| {
                *kind == Kind::Bare || text.split(',').any(|t| label.contains(t))
            });
        }
        servers.retain(|s| !s.routes.is_empty());
    }
    for server in servers {
        match start(&opts, &server.binary, server.mode, &server.env) {
            Ok(s) => up.push((server, s)),
            Err(e) => failures.push(format!("{} {}: {e}", server.framework, server.mode)),
        }
    }
    if opts.only_rows.is_none() {
        match fastapi(&opts) {
            Ok(pair) => up.push(pair),
            Err(e) => failures.push(format!("FastAPI: {e}")),
        }
    }
    let mut rows: Vec<Row> = Vec::new();
    for round in 0..opts.rounds {
        println!("bench-run: round {} of {}", round + 1, opts.rounds);
        for (server, started) in &up {
            for (route, label, kind) in &server.routes {
                match measure(&opts, started, route, round == 0) {
                    Ok(m) => {
                        println!(
                            "  {:<10} {:<48} {:>9.0} req/s  p50 {:>7.0} µs  p99 {:>7.0} µs",
                            server.framework, label, m.rps, m.p50_us, m.p99_us
                        );
                        let row = Row {
                            framework: server.framework,
                            label: label.to_string(),
                            kind: *kind,
                            route: route.to_string(),
                            rps: m.rps,
                            p50_us: m.p50_us,
                            p99_us: m.p99_us,
                        };
                        match rows
                            .iter_mut()
                            .find(|r| r.framework == row.framework && r.label == row.label)
                        {
                            Some(best) if best.rps >= row.rps => {}
                            Some(best) => *best = row,
                            None => rows.push(row),
                        }
                    }
                    Err(e) => failures.push(format!("{} {label}: {e}", server.framework)),
                }
            }
        }
    }
    drop(up);
    drop(issuer);
    if opts.only_rows.is_some() {
        let opts = Options { doc: false, ..opts };
        let results = BTreeMap::new();
        let figures = Figures {
            rows: &rows,
            bursts: &[],
            references: &[],
            results: &results,
        };
        let report = report(&opts, &machine, &figures, &failures, started);
        println!("{report}");
        exit_with(&failures);
        return;
    }

    let mut bursts = Vec::new();
    for (framework, binary) in [
        ("axum", "bench-axum"),
        ("actix-web", "bench-actix"),
        ("warp", "bench-warp"),
    ] {
        match login_burst(&opts, framework, binary) {
            Ok(b) => bursts.push(b),
            Err(e) => failures.push(format!("login burst {framework}: {e}")),
        }
    }

    let mut results = BTreeMap::new();
    // The Postgres replica's propagation, on a fresh schema (skipped without a server).
    let replication_args = postgres_schema(&format!("bench_replication_{}", std::process::id()))
        .map(|url| vec!["--postgres".to_string(), url])
        .unwrap_or_default();
    for (bin, args) in [
        ("bench-replication", replication_args),
        ("bench-cluster", vec![]),
        ("bench-memory", vec!["entries".to_string()]),
        (
            "bench-memory",
            vec!["soak".to_string(), opts.soak.to_string()],
        ),
    ] {
        match run_results(&opts, bin, &args) {
            Ok(r) => results.extend(r),
            Err(e) => failures.push(format!("{bin} {}: {e}", args.join(" "))),
        }
    }

    let (references, reference_failures) = reference::phase(&opts);
    failures.extend(reference_failures);
    failures.extend(stores_phase(&opts, &machine));
    let figures = Figures {
        rows: &rows,
        bursts: &bursts,
        references: &references,
        results: &results,
    };
    let report = report(&opts, &machine, &figures, &failures, started);
    println!("{report}");
    if opts.doc {
        if let Err(e) = write_doc(&opts, &report) {
            failures.push(format!("docs/BENCHMARKS.md: {e}"));
        }
        if let Err(e) = chart(&opts.root.join("docs/benchmarks.svg"), &rows) {
            failures.push(format!("docs/benchmarks.svg: {e}"));
        }
    }
    exit_with(&failures);
}

/// Prints the failures and exits non-zero when there are any.
fn exit_with(failures: &[String]) {
    if !failures.is_empty() {
        for f in failures {
            eprintln!("bench-run: FAILED {f}");
        }
        std::process::exit(1);
    }
}

/// The checks missed, as failures (for the phases run alone, whose report is printed
/// only).
fn failed_checks(checks: &[Check]) -> Vec<String> {
    checks
        .iter()
        .filter(|c| !c.met())
        .map(|c| format!("target missed: {}", c.what))
        .collect()
}

fn options() -> Options {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default();
    let bin_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(PathBuf::from))
        .unwrap_or_default();
    let mut opts = Options {
        fastapi: root.join("../shared/peers/fastapi_tutorial"),
        root,
        bin_dir,
        seconds: 3,
        rounds: 3,
        soak: 300,
        doc: true,
        only_stores: false,
        only_reference: false,
        only_rows: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| {
            args.next().unwrap_or_else(|| {
                eprintln!("bench-run: {name} needs a value");
                std::process::exit(2)
            })
        };
        match a.as_str() {
            "--seconds" => opts.seconds = value("--seconds").parse().unwrap_or(3),
            "--rounds" => opts.rounds = value("--rounds").parse().unwrap_or(3).max(1),
            "--soak" => opts.soak = value("--soak").parse().unwrap_or(300),
            "--fastapi" => opts.fastapi = PathBuf::from(value("--fastapi")),
            "--no-doc" => opts.doc = false,
            "--only-stores" => opts.only_stores = true,
            "--only-reference" => opts.only_reference = true,
            "--only-rows" => opts.only_rows = Some(value("--only-rows")),
            other => {
                eprintln!(
                    "bench-run: unknown option `{other}` (--seconds N, --rounds N, --soak N, --fastapi DIR, --no-doc, --only-stores, --only-reference, --only-rows TEXT[,TEXT…])"
                );
                std::process::exit(2);
            }
        }
    }
    opts
}

/// Every server of the main table; `issuer` is the URL of the bench's identity provider
/// (`bench-axum issuer`), whose RS256 token ours and `jwt-authorizer` verify on axum.
fn servers(issuer: Option<&str>) -> Vec<Server> {
    let ns = |tag: &str| format!("bench-{}-{tag}", std::process::id());
    let mut out = Vec::new();
    for (framework, binary, peers) in [
        (
            "axum",
            "bench-axum",
            &[
                ("jwt-auth", "/jwt", "axum-jwt-auth 0.7"),
                (
                    "login",
                    "/session",
                    "axum-login 0.18 + tower-sessions memory store",
                ),
            ][..],
        ),
        (
            "actix-web",
            "bench-actix",
            &[(
                "httpauth",
                "/jwt",
                "actix-web-httpauth 0.8 + jsonwebtoken check",
            )][..],
        ),
        ("warp", "bench-warp", &[][..]),
    ] {
        let server = |mode, env: Vec<(&'static str, String)>, routes| Server {
            framework,
            binary: binary.to_string(),
            mode,
            env,
            routes,
        };
        out.push(server(
            "bare",
            vec![],
            vec![("/hello", "bare (no auth)", Kind::Bare)],
        ));
        // One server per route, each with its route mounted first (actix-web and warp try
        // routes in order; the bare server's route is its only one).
        for (route, label) in [
            ("/jwt", "ours: JWT, memory"),
            ("/apikey", "ours: API key"),
            ("/session", "ours: cookie session"),
        ] {
            out.push(server(
                "ours",
                vec![("BENCH_FIRST_ROUTE", route.into())],
                vec![(route, label, Kind::Ours)],
            ));
        }
        out.push(server(
            "ours",
            vec![("AUTH_VERIFIED_CACHE", "0".into())],
            vec![("/jwt", "ours: JWT, memory, cache off", Kind::Ours)],
        ));
        out.push(server(
            "ours",
            vec![
                ("AUTH_REDIS_URL", REDIS_URL.into()),
                ("AUTH_REDIS_REPLICA", "true".into()),
                ("AUTH_REDIS_NAMESPACE", ns(&format!("{framework}-replica"))),
            ],
            vec![("/jwt", "ours: JWT, Redis (replica)", Kind::Ours)],
        ));
        out.push(server(
            "ours",
            vec![
                ("AUTH_REDIS_URL", REDIS_URL.into()),
                ("AUTH_REDIS_NAMESPACE", ns(&format!("{framework}-direct"))),
            ],
            vec![("/jwt", "ours: JWT, Redis (direct)", Kind::Ours)],
        ));
        let schema = format!(
            "bench_{}_replica_{}",
            framework.replace('-', "_"),
            std::process::id()
        );
        if let Some(url) = postgres_schema(&schema) {
            out.push(server(
                "ours",
                vec![
                    ("AUTH_DATABASE_URL", url),
                    ("AUTH_DATABASE_REPLICA", "true".into()),
                ],
                vec![("/jwt", "ours: JWT, Postgres (replica)", Kind::Ours)],
            ));
        }
        if let (Some(url), "axum") = (issuer, framework) {
            out.push(server(
                "ours",
                vec![
                    ("AUTH_TRUSTED_ISSUERS", url.to_string()),
                    ("AUTH_TRUSTED_AUDIENCE", auth_bench::issuer::AUDIENCE.into()),
                ],
                vec![("/rs256", RS256_OURS, Kind::Ours)],
            ));
        }
        for (mode, route, label) in peers {
            out.push(server(mode, vec![], vec![(route, label, Kind::Peer)]));
        }
        if let (Some(url), "axum") = (issuer, framework) {
            out.push(server(
                "jwt-authorizer",
                vec![(auth_bench::issuer::ISSUER_ENV, url.to_string())],
                vec![
                    ("/rs256", RS256_PEER, Kind::Peer),
                    ("/hello", AXUM07_BARE, Kind::Bare),
                ],
            ));
        }
    }
    out
}

/// A started server: its process, base URL and announced `route → header`.
struct Started {
    child: Child,
    url: String,
    headers: BTreeMap<String, String>,
}

impl Started {
    /// Guards `child` (stopped on drop whatever happens next) once it printed its
    /// `listening on URL` line on stdout; the rest of its output is drained, so that it
    /// never blocks on a full pipe.
    fn listening(mut child: Child) -> Result<Self, String> {
        let url = child.stdout.take().and_then(|out| {
            let mut lines = BufReader::new(out).lines();
            let url = lines.by_ref().map_while(Result::ok).find_map(|l| {
                l.strip_prefix("listening on ")
                    .map(|u| u.trim().to_string())
            });
            std::thread::spawn(move || for _ in lines {});
            url
        });
        let started = Self {
            child,
            url: url.unwrap_or_default(),
            headers: BTreeMap::new(),
        };
        if started.url.is_empty() {
            return Err("printed no `listening on` line".into());
        }
        Ok(started)
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(
    opts: &Options,
    binary: &str,
    mode: &str,
    env: &[(&str, String)],
) -> Result<Started, String> {
    let mut child = Command::new("taskset")
        .arg("-c")
        .arg("0")
        .arg(opts.bin_dir.join(binary))
        .arg(mode)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("AUTH_BIND", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {binary}: {e}"))?;
    let mut url = None;
    let mut headers = BTreeMap::new();
    let mut ready = false;
    if let Some(out) = child.stdout.take() {
        let mut lines = BufReader::new(out).lines();
        for line in lines.by_ref().map_while(Result::ok) {
            if let Some(u) = line.strip_prefix("listening on ") {
                url = Some(u.trim().to_string());
            } else if let Some(rest) = line.strip_prefix("route ") {
                if let Some((path, header)) = rest.split_once(' ') {
                    headers.insert(path.to_string(), header.to_string());
                }
            } else if line == "ready" {
                ready = true;
                break;
            }
        }
        // Keep draining, so that a chatty server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
    }
    let started = Started {
        child,
        url: url.unwrap_or_default(),
        headers,
    };
    if !ready || started.url.is_empty() {
        return Err(format!("{binary} {mode} did not announce itself"));
    }
    Ok(started)
}

/// One measurement of `route` on a started server (after 1 s of warm-up when `warm`).
fn measure(opts: &Options, started: &Started, route: &str, warm: bool) -> Result<Measure, String> {
    let header = started
        .headers
        .get(route)
        .ok_or_else(|| format!("no credentials announced for {route}"))?;
    let url = format!("{}{route}", started.url);
    if warm {
        wrk(&url, &[header], 1, 32, None)?;
    }
    wrk(&url, &[header], opts.seconds, 32, None)
}

#[derive(Debug, Clone, Copy)]
struct Measure {
    rps: f64,
    p50_us: f64,
    p99_us: f64,
}

/// Runs wrk pinned to core 1; fails when any response was not a 2xx or 3xx.
fn wrk(
    url: &str,
    headers: &[&String],
    seconds: u64,
    connections: u32,
    script: Option<&Path>,
) -> Result<Measure, String> {
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", "1", "wrk", "-t1", "--latency"])
        .arg(format!("-c{connections}"))
        .arg(format!("-d{seconds}s"));
    for h in headers {
        cmd.arg("-H").arg(h.as_str());
    }
    if let Some(s) = script {
        // The login load: slow requests by design; wait for them rather than count them
        // as errors.
        cmd.arg("-s").arg(s).arg("--timeout").arg("60s");
    }
    cmd.arg(url);
    run_wrk(&mut cmd, script.is_none())
}

/// Runs a prepared `wrk` command and parses its report (`strict`: any non-2xx answer or
/// socket error fails the measurement).
fn run_wrk(cmd: &mut Command, strict: bool) -> Result<Measure, String> {
    let out = cmd.output().map_err(|e| format!("cannot run wrk: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() {
        return Err(format!("wrk failed: {text}"));
    }
    parse_wrk(&text, strict)
}

fn parse_wrk(text: &str, strict: bool) -> Result<Measure, String> {
    if let Some(line) = text
        .lines()
        .find(|l| l.contains("Non-2xx or 3xx responses"))
    {
        return Err(format!("refused requests: {}", line.trim()));
    }
    if let Some(line) = text.lines().find(|l| strict && l.contains("Socket errors")) {
        return Err(format!("socket errors: {}", line.trim()));
    }
    let field = |prefix: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .and_then(|l| l.split_whitespace().nth(1))
            .map(str::to_string)
            .ok_or_else(|| format!("no `{prefix}` in wrk's output: {text}"))
    };
    let rps: f64 = field("Requests/sec:")?
        .parse()
        .map_err(|_| "bad Requests/sec".to_string())?;
    Ok(Measure {
        rps,
        p50_us: micros(&field("50%")?)?,
        p99_us: micros(&field("99%")?)?,
    })
}

fn micros(v: &str) -> Result<f64, String> {
    let (num, factor) = if let Some(n) = v.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1e3)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1e6)
    } else {
        (v, 1.0)
    };
    num.parse::<f64>()
        .map(|n| n * factor)
        .map_err(|_| format!("bad latency `{v}`"))
}

/// The tutorial's FastAPI app under uvicorn (one worker, pinned like the others), in the
/// virtualenv `cargo xtask bench` made under `target/bench/venv`. Its JWT route is
/// `GET /me`.
fn fastapi(opts: &Options) -> Result<(Server, Started), String> {
    let app = &opts.fastapi;
    if !app.join("run.py").exists() {
        return Err(format!("no run.py in {}", app.display()));
    }
    // `cargo xtask bench` makes it while the servers build.
    let python = opts.root.join("target/bench/venv/bin/python");
    if !python.exists() {
        return Err(format!(
            "no virtualenv at {}: run `cargo xtask bench`, which makes it",
            python.display()
        ));
    }
    let child = Command::new("taskset")
        .arg("-c")
        .arg("0")
        .arg(&python)
        .arg("run.py")
        .current_dir(app)
        .env("AUTH_BIND", "127.0.0.1:0")
        .env(
            "AUTH_JWT_SECRET",
            "fastapi-bench-secret-0123456789abcdef012",
        )
        .env("WORKERS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start uvicorn: {e}"))?;
    let mut started = Started::listening(child)?;
    let bearer = password_bearer(&started.url)?;
    started.headers.insert("/me".into(), bearer);
    let server = Server {
        framework: "FastAPI",
        binary: "uvicorn".into(),
        mode: "run.py",
        env: Vec::new(),
        routes: vec![(
            "/me",
            "tutorial app: JWT (PyJWT), uvicorn 1 worker",
            Kind::Peer,
        )],
    };
    Ok((server, started))
}

/// `Authorization: Bearer …` for alice, from a password grant (`POST /token`) on the
/// server at `url` (the tutorial's app and our reference apps share the demo login).
fn password_bearer(url: &str) -> Result<String, String> {
    let body = post_form(
        url.trim_start_matches("http://"),
        "/token",
        "grant_type=password&username=alice&password=password123",
    )?;
    let token = body
        .split("\"access_token\":\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .ok_or_else(|| format!("no access_token in {body}"))?;
    Ok(format!("Authorization: Bearer {token}"))
}

fn post_form(addr: &str, path: &str, body: &str) -> Result<String, String> {
    let mut stream = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| e.to_string())?;
    Ok(response)
}

/// The protected route's p99 idle, then again while 8 connections log in with
/// argon2id (`POST /token`, password grant) on the same server.
#[derive(Debug, Clone)]
struct Burst {
    framework: &'static str,
    idle: Measure,
    burst: Measure,
    logins_per_s: f64,
}

fn login_burst(opts: &Options, framework: &'static str, binary: &str) -> Result<Burst, String> {
    let started = start(opts, binary, "ours", &[])?;
    let header = started
        .headers
        .get("/jwt")
        .ok_or("no bearer announced")?
        .clone();
    let url = format!("{}/jwt", started.url);
    let script = opts.root.join("target/bench/login.lua");
    std::fs::create_dir_all(opts.root.join("target/bench")).map_err(|e| e.to_string())?;
    std::fs::write(
        &script,
        "wrk.method = \"POST\"\n\
         wrk.body = \"grant_type=password&username=alice&password=password123\"\n\
         wrk.headers[\"Content-Type\"] = \"application/x-www-form-urlencoded\"\n",
    )
    .map_err(|e| e.to_string())?;
    wrk(&url, &[&header], 1, 32, None)?;
    // Idle, then under the burst, once per round; each phase keeps its best (lowest) p99.
    let mut best: Option<Burst> = None;
    for _ in 0..opts.rounds {
        let idle = wrk(&url, &[&header], opts.seconds, 32, None)?;
        let token_url = format!("{}/token", started.url);
        let (seconds, script) = (opts.seconds, script.clone());
        // Four logins of one user at once: a fifth simultaneous attempt of a username is
        // refused by design (each holds a throttle reservation while it hashes).
        let logins =
            std::thread::spawn(move || wrk(&token_url, &[], seconds + 2, 4, Some(&script)));
        // Let the logins start first, so the whole measured window is under the burst.
        std::thread::sleep(Duration::from_millis(500));
        let burst = wrk(&url, &[&header], opts.seconds, 32, None)?;
        let logins = logins.join().map_err(|_| "login wrk panicked")??;
        println!(
            "  {framework:<10} login burst: p99 idle {:.0} µs, under 4 concurrent logins {:.0} µs ({:.1} logins/s)",
            idle.p99_us, burst.p99_us, logins.rps
        );
        let b = best.get_or_insert(Burst {
            framework,
            idle,
            burst,
            logins_per_s: logins.rps,
        });
        if idle.p99_us < b.idle.p99_us {
            b.idle = idle;
        }
        if burst.p99_us < b.burst.p99_us {
            b.burst = burst;
            b.logins_per_s = logins.rps;
        }
    }
    best.ok_or_else(|| "no round".to_string())
}

/// Runs a bench binary pinned to core 0 and collects its `result NAME VALUE` lines.
fn run_results(
    opts: &Options,
    binary: &str,
    args: &[String],
) -> Result<BTreeMap<String, String>, String> {
    println!("bench-run: {binary} {}", args.join(" "));
    let mut child = Command::new("taskset")
        .arg("-c")
        .arg("0")
        .arg(opts.bin_dir.join(binary))
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start: {e}"))?;
    let mut results = BTreeMap::new();
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("result ") {
                if let Some((k, v)) = rest.split_once(' ') {
                    results.insert(k.to_string(), v.to_string());
                }
            } else {
                println!("  {line}");
            }
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("exited with {status}"));
    }
    Ok(results)
}

fn ensure_wrk() {
    if Command::new("wrk").arg("--version").output().is_ok() {
        return;
    }
    println!("bench-run: installing wrk from Debian's packages");
    let ok = Command::new("apt-get")
        .args(["install", "-y", "-qq", "wrk"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("bench-run: cannot install wrk (apt-get install wrk)");
        std::process::exit(1);
    }
}

fn redis_answers() -> bool {
    let Ok(mut s) = std::net::TcpStream::connect("127.0.0.1:6379") else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 7];
    s.write_all(b"PING\r\n").is_ok()
        && s.read(&mut buf)
            .is_ok_and(|n| buf[..n].starts_with(b"+PONG"))
}

/// Redis at 127.0.0.1:6379, started as `.ci/run` does when none answers.
fn ensure_redis() {
    if redis_answers() {
        return;
    }
    println!("bench-run: no Redis on 127.0.0.1:6379; starting one");
    let _ = Command::new("redis-server")
        .args([
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "--port",
            "6379",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .status();
    for _ in 0..50 {
        if redis_answers() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("bench-run: Redis does not answer on 127.0.0.1:6379 (apt-get install redis-server)");
    std::process::exit(1);
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let output = |cmd: &str, args: &[&str]| {
        Command::new(cmd)
            .args(args)
            .output()
            .ok()
            .map(|o| {
                let mut s = String::from_utf8_lossy(&o.stdout).to_string();
                s.push_str(&String::from_utf8_lossy(&o.stderr));
                s.lines().next().unwrap_or_default().trim().to_string()
            })
            .unwrap_or_default()
    };
    format!(
        "{cpu}, {cores} cores; Linux {}; {}; {}; redis-server {}",
        output("uname", &["-r"]),
        output("rustc", &["--version"]),
        output("wrk", &["--version"])
            .split(" [")
            .next()
            .unwrap_or_default(),
        output("redis-server", &["--version"])
            .split_whitespace()
            .find_map(|w| w.strip_prefix("v="))
            .unwrap_or("?"),
    )
}

fn find<'a>(rows: &'a [Row], framework: &str, label: &str) -> Option<&'a Row> {
    rows.iter()
        .find(|r| r.framework == framework && r.label == label)
}

/// One target: what, the measured ratio, the bound, met or not.
struct Check {
    what: String,
    value: Option<f64>,
    bound: f64,
    at_least: bool,
    unit: &'static str,
    /// What limits it, said when the target is missed.
    why: String,
}

impl Check {
    /// A ratio that must reach `bound`.
    fn at_least(what: String, value: Option<f64>, bound: f64, why: String) -> Self {
        Self {
            what,
            value,
            bound,
            at_least: true,
            unit: "×",
            why,
        }
    }

    /// A figure that must stay at or under `bound`.
    fn at_most(
        what: String,
        value: Option<f64>,
        bound: f64,
        unit: &'static str,
        why: String,
    ) -> Self {
        Self {
            what,
            value,
            bound,
            at_least: false,
            unit,
            why,
        }
    }

    fn met(&self) -> bool {
        self.value.is_some_and(|v| {
            if self.at_least {
                v >= self.bound
            } else {
                v <= self.bound
            }
        })
    }
}

fn checks(
    rows: &[Row],
    bursts: &[Burst],
    references: &[reference::RefRow],
    results: &BTreeMap<String, String>,
) -> Vec<Check> {
    let ratio = |a: Option<&Row>, b: Option<&Row>| Some(a?.rps / b?.rps);
    let mut out = Vec::new();
    for (what, row, bound, why) in [
        (
            "JWT (memory, cache on)",
            "ours: JWT, memory",
            JWT_VS_BARE,
            WHY_JWT,
        ),
        (
            "cookie session (memory)",
            "ours: cookie session",
            SESSION_VS_BARE,
            WHY_SESSION,
        ),
    ] {
        for fw in ["axum", "actix-web", "warp"] {
            out.push(Check::at_least(
                format!("{fw}: {what} / bare"),
                ratio(find(rows, fw, row), find(rows, fw, "bare (no auth)")),
                bound,
                why.into(),
            ));
        }
    }
    for (fw, ours, peer) in [
        ("axum", "ours: JWT, memory", "axum-jwt-auth 0.7"),
        (
            "axum",
            "ours: cookie session",
            "axum-login 0.18 + tower-sessions memory store",
        ),
        (
            "actix-web",
            "ours: JWT, memory",
            "actix-web-httpauth 0.8 + jsonwebtoken check",
        ),
    ] {
        out.push(Check::at_least(
            format!("{fw}: {ours} / {peer}"),
            ratio(find(rows, fw, ours), find(rows, fw, peer)),
            OURS_VS_PEER,
            match ratio(find(rows, fw, "bare (no auth)"), find(rows, fw, peer)) {
                Some(ceiling) if ceiling < OURS_VS_PEER => format!(
                    "the peer already serves 1/{ceiling:.2} of the bare route's rate: \
                     {OURS_VS_PEER}× the peer would be faster than the framework without any auth"
                ),
                _ if ours.contains("session") => WHY_SESSION.into(),
                _ => WHY_JWT.into(),
            },
        ));
    }
    out.push(Check::at_least(
        "axum: JWT RS256 of an external issuer (JWKS, cache on) / bare".into(),
        ratio(
            find(rows, "axum", RS256_OURS),
            find(rows, "axum", "bare (no auth)"),
        ),
        JWT_VS_BARE,
        WHY_RS256.into(),
    ));
    out.push(Check::at_least(
        format!("axum: {RS256_OURS} / {RS256_PEER}"),
        ratio(
            find(rows, "axum", RS256_OURS),
            find(rows, "axum", RS256_PEER),
        ),
        OURS_VS_PEER,
        match ratio(
            find(rows, "axum", AXUM07_BARE),
            find(rows, "axum", RS256_PEER),
        ) {
            Some(ceiling) if ceiling < OURS_VS_PEER => format!(
                "the peer already serves 1/{ceiling:.2} of its bare axum 0.7 route's rate: \
                 {OURS_VS_PEER}× the peer would be faster than that framework without any auth"
            ),
            _ => WHY_RS256.into(),
        },
    ));
    for fw in ["axum", "actix-web", "warp"] {
        out.push(Check::at_least(
            format!("{fw}: JWT Redis (replica) / JWT memory"),
            ratio(
                find(rows, fw, "ours: JWT, Redis (replica)"),
                find(rows, fw, "ours: JWT, memory"),
            ),
            REDIS_VS_MEMORY,
            WHY_REPLICA.into(),
        ));
        out.push(Check::at_least(
            format!("{fw}: JWT Postgres (replica) / JWT memory"),
            ratio(
                find(rows, fw, "ours: JWT, Postgres (replica)"),
                find(rows, fw, "ours: JWT, memory"),
            ),
            REDIS_VS_MEMORY,
            WHY_REPLICA.into(),
        ));
    }
    for (store, key, why) in [
        (
            "Redis",
            "propagation_p99_us",
            "the stream reader's wake-up on the loaded core",
        ),
        (
            "Postgres",
            "pg_propagation_p99_us",
            "the LISTEN connection's notification, then the reader's wake-up on the loaded core",
        ),
    ] {
        out.push(Check::at_most(
            format!("{store}: revocation on one instance refused by another, p99 over 1 000"),
            results
                .get(key)
                .and_then(|v| v.parse::<f64>().ok())
                .map(|us| us / 1000.0),
            PROPAGATION_P99_MS,
            " ms",
            why.into(),
        ));
    }
    for b in bursts {
        out.push(Check::at_most(
            format!("{}: JWT p99 under a login burst / idle p99", b.framework),
            Some(b.burst.p99_us / b.idle.p99_us),
            BURST_P99_FACTOR,
            "×",
            WHY_BURST.into(),
        ));
    }
    let fastapi = rows.iter().find(|r| r.framework == "FastAPI");
    for fw in ["axum", "actix-web", "warp"] {
        out.push(Check::at_least(
            format!("{fw}: JWT / the tutorial's FastAPI app"),
            ratio(find(rows, fw, "ours: JWT, memory"), fastapi),
            VS_FASTAPI,
            "the FastAPI figure depends on its Python build (one uvicorn worker)".into(),
        ));
    }
    let num = |k: &str| results.get(k).and_then(|v| v.parse::<f64>().ok());
    for (what, end, start, why) in [
        (
            "soak: entries held, highest in the second half / highest from 60 s to half \
             time (expired entries purged)",
            "soak_entries_max",
            "soak_entries_max_60s_to_half",
            "entries expire but are not swept",
        ),
        (
            "soak: resident set at the end / at half time (memory flat)",
            "soak_rss_end_kib",
            "soak_rss_mid_kib",
            "the store's entries stay bounded (row above), but a table that doubles late \
             steps the process up: hashbrown doubles a full table holding more than half \
             its room once deleted slots fill it, and glibc's heap keeps the old table's \
             space (samples below)",
        ),
    ] {
        out.push(Check::at_most(
            what.into(),
            num(end).zip(num(start)).map(|(e, s)| e / s),
            1.10,
            "×",
            why.into(),
        ));
    }
    out.push(Check::at_most(
        "memory store: bytes per live session at 1 000 000".into(),
        num("bytes_per_session"),
        BYTES_PER_SESSION,
        " bytes",
        "each session keeps its record (user id, roles, CSRF token, times) and a table slot".into(),
    ));
    out.extend(reference::checks(references));
    out
}

/// What limits the JWT route against the bare one (callgrind, `docs/BENCHMARKS.md`).
const WHY_JWT: &str = "per request the extractor adds ~2.2k-2.3k instructions (`bench-instructions`, \
     2026-12-08 03:20) to the bare route's ~15k (axum), ~20k (actix-web), ~12k (warp): the \
     verified-token cache lookup by the header's bytes (~0.5k: two keyed hashes and a \
     shard lock), the revocation check on the memory store (~0.4k: its lock, a clock read, \
     three map lookups) and the time re-check with its own clock read (~0.2k), all \
     answered in place, so the extractor's future is ready at once and nothing is boxed; \
     warp adds ~4.3k, as its filter chain polls a future per combinator, clones the \
     request's header map (~0.55k with its drop) and parses the empty query string";
const WHY_SESSION: &str = "per request the session extractor adds ~3.0k (axum), ~3.3k \
     (actix-web), ~5.7k (warp) instructions (`bench-instructions`, 2026-12-08 03:20): the \
     cookie scan (~0.3k; a cached id is found by its bytes), the key-cache lookup (~0.4k: \
     two keyed hashes and a shard lock), the memory store's decode of the hex key (~0.36k) \
     and its lookup under a lock, answered in place (no future boxed); warp adds the CSRF \
     form branch (an `or` and a second `and_then`) to the filter chain the JWT route pays";
const WHY_REPLICA: &str = "the replica answers from a local set, but under a mutex, with two \
     clock reads and three map lookups per check, and its stream reader shares the one core";
/// What limits the external issuer's RS256 route (resource-server mode) against the bare
/// one: the verified-token cache spares the RSA verify, not the rest.
const WHY_RS256: &str = "with the verified-token cache the RSA signature is checked once per \
     token, and (since 2026-12-07) a cached token is found by the header's bytes, with no \
     text check and no decoding of its claims; per request the extractor still misses our \
     own cache first, checks whether the issuer's keys are due for a refresh, and \
     re-checks the token's time claims from the claims' JSON map";
const WHY_BURST: &str = "argon2 runs on SCHED_IDLE threads, but every login is also a request \
     on the same core (form parsing, token issue), and hashing evicts the caches";

/// Everything a run measured, for the report.
#[derive(Clone, Copy)]
struct Figures<'a> {
    /// The main table.
    rows: &'a [Row],
    /// The login burst, per framework.
    bursts: &'a [Burst],
    /// The reference apps' `/me` against `/health`.
    references: &'a [reference::RefRow],
    /// The `result NAME VALUE` lines of the other bench binaries.
    results: &'a BTreeMap<String, String>,
}

fn report(
    opts: &Options,
    machine: &str,
    figures: &Figures<'_>,
    failures: &[String],
    started: Instant,
) -> String {
    let Figures {
        rows,
        bursts,
        references,
        results,
    } = *figures;
    let mut s = String::new();
    let date = utc_now();
    let _ = writeln!(
        s,
        "Generated by `cargo xtask bench` on {date} ({:.1} min for the measurements, after the build).\n",
        started.elapsed().as_secs_f64() / 60.0
    );
    let _ = writeln!(s, "Machine: {machine}.\n");
    let _ = writeln!(
        s,
        "Each server loaded alone, pinned to core 0; `wrk -t1 -c32 -d{}s --latency` pinned to \
         core 1 after 1 s of warm-up, {} rounds over all servers, each row its best round \
         (p50 and p99 from that round); every response a 2xx (checked). One run: compare \
         ratios within it.\n",
        opts.seconds, opts.rounds
    );
    let _ = writeln!(s, "![requests per second per server](benchmarks.svg)\n");
    let _ = writeln!(
        s,
        "| framework | server | route | req/s | p50 µs | p99 µs | vs bare |"
    );
    let _ = writeln!(s, "|---|---|---|---:|---:|---:|---:|");
    for r in rows {
        let bare = find(rows, r.framework, "bare (no auth)");
        let vs = bare.map_or("".to_string(), |b| format!("{:.2}", r.rps / b.rps));
        let _ = writeln!(
            s,
            "| {} | {} | `{}` | {:.0} | {:.0} | {:.0} | {vs} |",
            r.framework, r.label, r.route, r.rps, r.p50_us, r.p99_us
        );
    }
    let _ = writeln!(s, "\n### Targets (issues #14 and #28)\n");
    let _ = writeln!(s, "| target | measured | bound | met | what limits it |");
    let _ = writeln!(s, "|---|---:|---:|---|---|");
    for c in checks(rows, bursts, references, results) {
        // `--only-rows` measures a few rows: leave out the targets it did not measure.
        if opts.only_rows.is_some() && c.value.is_none() {
            continue;
        }
        let op = if c.at_least { "≥" } else { "≤" };
        let value = c
            .value
            .map_or("not measured".to_string(), |v| match c.unit {
                " bytes" => format!("{v:.0}{}", c.unit),
                unit => format!("{v:.3}{unit}"),
            });
        let met = if c.met() { "yes" } else { "**no**" };
        let why = if c.met() { "" } else { c.why.as_str() };
        let _ = writeln!(
            s,
            "| {} | {value} | {op} {}{} | {met} | {why} |",
            c.what, c.bound, c.unit
        );
    }
    let _ = writeln!(s, "\n### Login burst\n");
    let _ = writeln!(
        s,
        "`GET /jwt` (32 connections) alone, then while 4 more connections log in with the \
         password grant (`POST /token`, argon2id m=19456 t=2 p=1) on the same server; \
         {} rounds, each phase's lowest p99.\n",
        opts.rounds
    );
    let _ = writeln!(
        s,
        "| framework | idle p99 µs | burst p99 µs | ratio | req/s idle | req/s burst | logins/s |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|");
    for b in bursts {
        let _ = writeln!(
            s,
            "| {} | {:.0} | {:.0} | {:.2} | {:.0} | {:.0} | {:.1} |",
            b.framework,
            b.idle.p99_us,
            b.burst.p99_us,
            b.burst.p99_us / b.idle.p99_us,
            b.idle.rps,
            b.burst.rps,
            b.logins_per_s
        );
    }
    if !references.is_empty() {
        s.push_str(&reference::table(references));
    }
    let get = |k: &str| results.get(k).map_or("?", String::as_str);
    let _ = writeln!(s, "\n### Revocation propagation and memory\n");
    let _ = writeln!(
        s,
        "- Redis Cluster (3 local primaries) beside one Redis, sequential, 200 users: \
         JWT + revocation check {} µs vs {} µs single (with the replica {} µs vs {} µs); \
         refresh {} µs vs {} µs single (`bench-cluster`).",
        get("cluster_cluster_check_us"),
        get("cluster_single_check_us"),
        get("cluster_cluster_replica_check_us"),
        get("cluster_single_replica_check_us"),
        get("cluster_cluster_refresh_us"),
        get("cluster_single_refresh_us"),
    );
    let _ = writeln!(
        s,
        "- Two instances with replicas on one Redis: a revocation on A refused by B after \
         p50 {} µs, p99 {} µs, max {} µs (1 000 revocations); one check on B: replica {} µs, \
         direct round trip {} µs (`bench-replication`).",
        get("propagation_p50_us"),
        get("propagation_p99_us"),
        get("propagation_max_us"),
        get("check_replica_us"),
        get("check_direct_us"),
    );
    let _ = writeln!(
        s,
        "- Two instances with replicas (LISTEN/NOTIFY) on one Postgres, a fresh schema: a \
         revocation on A refused by B after p50 {} µs, p99 {} µs, max {} µs (1 000 \
         revocations) (`bench-replication --postgres`).",
        get("pg_propagation_p50_us"),
        get("pg_propagation_p99_us"),
        get("pg_propagation_max_us"),
    );
    let _ = writeln!(
        s,
        "- Memory store at 1 000 000 entries: {} bytes per live session, {} bytes per revoked \
         `jti`, {} bytes per listed token (allowlist) (`bench-memory entries`).",
        get("bytes_per_session"),
        get("bytes_per_jti"),
        get("bytes_per_listed")
    );
    let _ = writeln!(
        s,
        "- Soak (`bench-memory soak {}`): {} login/refresh/logout cycles and as many cookie \
         sessions (half ended, half left to time out; lifetimes 20/40/30 s). Resident set \
         {} KiB at 60 s, {} KiB at half time ({} s), {} KiB at the end, {} KiB at most in \
         the second half; entries held {} at 60 s, {} at half time, {} at the end.",
        get("soak_seconds"),
        get("soak_cycles"),
        get("soak_rss_at_60s_kib"),
        get("soak_rss_mid_kib"),
        get("soak_half_s"),
        get("soak_rss_end_kib"),
        get("soak_rss_max_kib"),
        get("soak_entries_at_60s"),
        get("soak_entries_mid"),
        get("soak_entries_end"),
    );
    let _ = writeln!(
        s,
        "- Soak resident set every 10 s (KiB): {}.",
        get("soak_rss_samples_kib").replace(',', ", ")
    );
    if !failures.is_empty() {
        let _ = writeln!(s, "\n### Failed in this run\n");
        for f in failures {
            let _ = writeln!(s, "- {f}");
        }
    }
    s
}

fn write_doc(opts: &Options, report: &str) -> Result<(), String> {
    write_between(
        opts,
        "<!-- bench:begin -->",
        "<!-- bench:end -->",
        &format!("{report}\n"),
    )
}

/// Requests/s per server, grouped by framework, as SVG.
fn chart(path: &Path, rows: &[Row]) -> Result<(), String> {
    use plotters::prelude::*;
    // One slot per row, an empty slot between frameworks; slot 0 is at the top.
    let mut bars: Vec<(String, f64, Kind)> = Vec::new();
    let mut last = "";
    for r in rows {
        if !last.is_empty() && r.framework != last {
            bars.push((String::new(), 0.0, Kind::Bare));
        }
        last = r.framework;
        bars.push((format!("{}: {}", r.framework, r.label), r.rps, r.kind));
    }
    let n = bars.len();
    let max = rows.iter().map(|r| r.rps).fold(0.0, f64::max) * 1.15;
    let height = 80 + 24 * n as u32;
    let root = SVGBackend::new(path, (1100, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Requests per second, one route, server on one pinned core (wrk -c32)",
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(430)
        .build_cartesian_2d(0.0..max, (0..n).into_segmented())
        .map_err(|e| e.to_string())?;
    let labels: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .light_line_style(WHITE)
        .y_labels(n)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => labels.get(n - 1 - *i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .x_label_formatter(&|v| format!("{:.0}k", v / 1000.0))
        .x_desc("requests/s")
        .draw()
        .map_err(|e| e.to_string())?;
    for (kind, name, colour) in [
        (Kind::Bare, "bare framework", RGBColor(150, 150, 150)),
        (Kind::Ours, "ours", RGBColor(31, 119, 180)),
        (Kind::Peer, "peers", RGBColor(255, 127, 14)),
    ] {
        chart
            .draw_series(
                bars.iter()
                    .enumerate()
                    .filter(|(_, b)| !b.0.is_empty() && b.2 == kind)
                    .map(|(i, (_, v, _))| {
                        let y = n - 1 - i;
                        let mut bar = Rectangle::new(
                            [
                                (0.0, SegmentValue::Exact(y)),
                                (*v, SegmentValue::Exact(y + 1)),
                            ],
                            colour.filled(),
                        );
                        bar.set_margin(3, 3, 0, 0);
                        bar
                    }),
            )
            .map_err(|e| e.to_string())?
            .label(name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], colour.filled()));
    }
    chart
        .draw_series(
            bars.iter()
                .enumerate()
                .filter(|(_, b)| !b.0.is_empty())
                .map(|(i, (_, v, _))| {
                    Text::new(
                        format!("{v:.0}"),
                        (*v + max * 0.005, SegmentValue::CenterOf(n - 1 - i)),
                        TextStyle::from(("sans-serif", 12).into_font()).pos(
                            plotters::style::text_anchor::Pos::new(
                                plotters::style::text_anchor::HPos::Left,
                                plotters::style::text_anchor::VPos::Center,
                            ),
                        ),
                    )
                }),
        )
        .map_err(|e| e.to_string())?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

/// Login, refresh and a session-authenticated request over HTTP on one store.
struct StoreRow {
    store: &'static str,
    login: Measure,
    refresh: Measure,
    session: Measure,
}

/// The stores-over-HTTP phase: `bench-stores` on memory, Redis, a local Redis Cluster
/// of 3 primaries (started for the phase, [`auth_bench::cluster`]), SQLite and Postgres;
/// prints its table and writes it between `<!-- stores:begin -->` and
/// `<!-- stores:end -->` in `docs/BENCHMARKS.md`. Returns the failures.
fn stores_phase(opts: &Options, machine: &str) -> Vec<String> {
    let started = Instant::now();
    let mut failures = Vec::new();
    let mut rows = Vec::new();
    // Stopped when dropped, at the end of the phase.
    let cluster = match auth_bench::cluster::start() {
        Ok(c) => Some(c),
        Err(e) => {
            failures.push(format!("stores Redis Cluster: {e}"));
            None
        }
    };
    for (store, env) in store_envs(opts, cluster.as_ref()) {
        match store_row(opts, store, &env) {
            Ok(row) => rows.push(row),
            Err(e) => failures.push(format!("stores {store}: {e}")),
        }
    }
    let report = stores_report(opts, machine, &rows, &failures, started);
    println!("{report}");
    if opts.doc
        && let Err(e) = write_between(
            opts,
            "<!-- stores:begin -->",
            "<!-- stores:end -->",
            &report,
        )
    {
        failures.push(format!("docs/BENCHMARKS.md: {e}"));
    }
    failures
}

/// Each store's settings, as the reference apps read them (the Redis Cluster row when
/// `cluster` runs).
fn store_envs(
    opts: &Options,
    cluster: Option<&auth_bench::cluster::Cluster>,
) -> Vec<(&'static str, Vec<(&'static str, String)>)> {
    let id = std::process::id();
    let mut out = vec![
        ("memory", vec![]),
        (
            "Redis",
            vec![
                ("AUTH_REDIS_URL", "redis://127.0.0.1:6379".to_string()),
                ("AUTH_REDIS_NAMESPACE", format!("bench-stores-{id}")),
            ],
        ),
    ];
    if let Some(cluster) = cluster {
        out.push((
            "Redis Cluster",
            vec![
                ("AUTH_REDIS_CLUSTER_NODES", cluster.nodes_env()),
                ("AUTH_REDIS_NAMESPACE", format!("bench-stores-cluster-{id}")),
            ],
        ));
    }
    out.push((
        "SQLite",
        vec![(
            "AUTH_DATABASE_URL",
            format!(
                "sqlite://{}",
                opts.root
                    .join(format!("target/bench/stores-{id}.db"))
                    .display()
            ),
        )],
    ));
    if let Some(url) = postgres_schema(&format!("bench_stores_{id}")) {
        out.push(("Postgres", vec![("AUTH_DATABASE_URL", url)]));
    }
    out
}

/// A fresh schema on the Postgres server the tests use (`AUTH_TEST_DATABASE_URL`,
/// default `postgres://postgres@127.0.0.1:5432/postgres`), as a URL whose connections
/// use it; `None` (and a line saying the row is skipped) when no server answers.
fn postgres_schema(schema: &str) -> Option<String> {
    let admin = std::env::var("AUTH_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let made = Command::new("psql")
        .arg(&admin)
        .args(["-Atqc", &format!("CREATE SCHEMA {schema}")])
        .status()
        .is_ok_and(|s| s.success());
    if !made {
        println!("bench-run: no Postgres at {admin}; the row of {schema} is skipped");
        return None;
    }
    let sep = if admin.contains('?') { '&' } else { '?' };
    Some(format!("{admin}{sep}options[search_path]={schema}"))
}

fn store_row(
    opts: &Options,
    store: &'static str,
    env: &[(&str, String)],
) -> Result<StoreRow, String> {
    let _ = std::fs::create_dir_all(opts.root.join("target/bench"));
    let mut env: Vec<(&str, String)> = env.to_vec();
    env.push((
        "AUTH_JWT_SECRET",
        "bench-stores-access-secret-of-48-bytes-0123456789".into(),
    ));
    env.push((
        "AUTH_REFRESH_SECRET",
        "bench-stores-refresh-secret-of-48-bytes-012345678".into(),
    ));
    env.push(("AUTH_COOKIE_SECURE", "false".into()));
    let server = start(opts, "bench-stores", "stores", &env)?;
    let cookie = server
        .headers
        .get("/dashboard")
        .ok_or("no session cookie announced")?
        .clone();
    let tokens: Vec<String> = server
        .headers
        .iter()
        .filter(|(k, _)| k.starts_with("refresh:"))
        .map(|(_, v)| v.clone())
        .collect();
    let dir = opts.root.join("target/bench");
    let login = dir.join("stores-login.lua");
    std::fs::write(
        &login,
        "wrk.method = \"POST\"\n\
         wrk.body = \"grant_type=password&username=alice&password=password123\"\n\
         wrk.headers[\"Content-Type\"] = \"application/x-www-form-urlencoded\"\n",
    )
    .map_err(|e| e.to_string())?;
    let refresh = dir.join("stores-refresh.lua");
    std::fs::write(&refresh, REFRESH_LUA).map_err(|e| e.to_string())?;

    let dashboard = format!("{}/dashboard", server.url);
    wrk(&dashboard, &[&cookie], 1, 32, None)?;
    let session = wrk(&dashboard, &[&cookie], opts.seconds, 32, None)?;
    // One rotation chain per connection: each refresh presents the token the last one
    // returned (a token presented twice would be reuse and end the family).
    let refresh = wrk_chains(
        &format!("{}/refresh", server.url),
        &tokens,
        opts.seconds,
        &refresh,
    )?;
    // At most 4 logins of one user at once: the fifth simultaneous attempt of a username
    // is refused by design (each holds a throttle reservation while it hashes).
    let login = wrk(
        &format!("{}/token", server.url),
        &[],
        opts.seconds,
        4,
        Some(&login),
    )?;
    println!(
        "  {store:<13} login {:>6.1}/s p50 {:>8.0} µs | refresh {:>7.0}/s p50 {:>7.0} µs | session {:>7.0}/s p50 {:>6.0} µs",
        login.rps, login.p50_us, refresh.rps, refresh.p50_us, session.rps, session.p50_us
    );
    Ok(StoreRow {
        store,
        login,
        refresh,
        session,
    })
}

/// Each wrk thread runs one connection whose requests chain refresh tokens: thread `i`
/// starts from script argument `i`, and every answer's new `refresh_token` is the next
/// request's.
const REFRESH_LUA: &str = r#"local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end
function init(args)
  token = args[id]
end
function request()
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"},
    '{"refresh_token":"' .. token .. '"}')
end
function response(status, headers, body)
  local next_token = body:match('"refresh_token":"([^"]+)"')
  if next_token then token = next_token end
end
"#;

/// wrk with one connection per thread (the refresh chains), pinned to core 1.
fn wrk_chains(
    url: &str,
    tokens: &[String],
    seconds: u64,
    script: &Path,
) -> Result<Measure, String> {
    if tokens.is_empty() {
        return Err("no refresh tokens announced".into());
    }
    let n = tokens.len();
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", "1", "wrk", "--latency"])
        .arg(format!("-t{n}"))
        .arg(format!("-c{n}"))
        .arg(format!("-d{seconds}s"))
        .arg("-s")
        .arg(script)
        .arg(url)
        .arg("--")
        .args(tokens);
    run_wrk(&mut cmd, true)
}

fn stores_report(
    opts: &Options,
    machine: &str,
    rows: &[StoreRow],
    failures: &[String],
    started: Instant,
) -> String {
    let mut s = String::new();
    let date = utc_now();
    let _ = writeln!(
        s,
        "Generated by `cargo xtask bench` (alone: `cargo xtask bench --only-stores`) on {date} \
         ({:.1} min). Machine: {machine}.\n",
        started.elapsed().as_secs_f64() / 60.0
    );
    let _ = writeln!(
        s,
        "`bench-stores` (the reference apps' routes through `reference_common::build`) on each \
         store (Redis Cluster: 3 local primaries, `AUTH_REDIS_CLUSTER_NODES`), pinned to \
         core 0; wrk pinned to core 1, {} s each after 1 s of warm-up, every \
         response a 2xx (checked). Login: `POST /token` (password grant, argon2id), 4 \
         connections. Refresh: `POST /refresh`, 2 connections each rotating its own chain. \
         Session request: `GET /dashboard` with a session cookie (the session is loaded, \
         its user read when it slides), 32 connections.\n",
        opts.seconds
    );
    let _ = writeln!(
        s,
        "| store | login/s | login p50 µs | refresh/s | refresh p50 µs | refresh p99 µs | session req/s | session p50 µs | session p99 µs |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {:.1} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} |",
            r.store,
            r.login.rps,
            r.login.p50_us,
            r.refresh.rps,
            r.refresh.p50_us,
            r.refresh.p99_us,
            r.session.rps,
            r.session.p50_us,
            r.session.p99_us
        );
    }
    if !failures.is_empty() {
        let _ = writeln!(s, "\nFailed in this run:\n");
        for f in failures {
            let _ = writeln!(s, "- {f}");
        }
    }
    s
}

/// Replaces what stands between `begin` and `end` in `docs/BENCHMARKS.md`.
fn write_between(opts: &Options, begin: &str, end: &str, text: &str) -> Result<(), String> {
    auth_bench::write_between(&opts.root.join("docs/BENCHMARKS.md"), begin, end, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_output_is_parsed_and_refusals_fail_the_row() {
        let ok = "  Latency Distribution\n     50%  350.00us\n     75%  1.00ms\n     90%  2ms\n     99%    1.20ms\n  445000 requests in 5.00s, 60MB read\nRequests/sec:  88896.78\n";
        let m = parse_wrk(ok, true).unwrap();
        assert_eq!(m.rps, 88896.78);
        assert_eq!(m.p50_us, 350.0);
        assert_eq!(m.p99_us, 1200.0);
        let refused = format!("{ok}  Non-2xx or 3xx responses: 12\n");
        assert!(parse_wrk(&refused, true).is_err());
        let errors = format!("{ok}  Socket errors: connect 0, read 0, write 0, timeout 3\n");
        assert!(parse_wrk(&errors, true).is_err());
        assert!(
            parse_wrk(&errors, false).is_ok(),
            "the login load may time out"
        );
    }

    #[test]
    fn chart_draws_every_row() {
        let row = |framework, label: &str, kind, rps| Row {
            framework,
            label: label.into(),
            kind,
            route: "/x".into(),
            rps,
            p50_us: 1.0,
            p99_us: 2.0,
        };
        let rows = vec![
            row("axum", "bare (no auth)", Kind::Bare, 100_000.0),
            row("axum", "ours: JWT, memory", Kind::Ours, 90_000.0),
            row("axum", "axum-jwt-auth 0.7", Kind::Peer, 80_000.0),
            row("warp", "bare (no auth)", Kind::Bare, 120_000.0),
            row("FastAPI", "tutorial app", Kind::Peer, 3_000.0),
        ];
        let path = std::env::temp_dir().join(format!("bench-chart-{}.svg", std::process::id()));
        chart(&path, &rows).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        for r in &rows {
            assert!(
                svg.contains(&format!("{}: {}", r.framework, r.label)),
                "{}",
                r.label
            );
            assert!(svg.contains(&format!("{:.0}", r.rps)));
        }
        assert!(svg.contains("peers") && svg.contains("bare framework"));
        if let Ok(keep) = std::env::var("BENCH_CHART_KEEP") {
            std::fs::copy(&path, keep).unwrap();
        }
        let _ = std::fs::remove_file(&path);
    }
}
