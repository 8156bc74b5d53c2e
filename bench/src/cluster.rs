//! A local Redis Cluster of 3 primaries for the benches (`bench-cluster`, and the
//! stores phase of `bench-run`): `redis-server --cluster-enabled yes` on free ports,
//! joined by `redis-cli --cluster create`, stopped when the [`Cluster`] is dropped.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the nodes may take to listen, and the cluster to report `cluster_state:ok`.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running local cluster. Each node runs under a shell that kills it when its stdin
/// closes: when this value is dropped, or however this process ends.
#[derive(Debug)]
pub struct Cluster {
    /// The node shells; dropping them closes their stdin.
    _nodes: Vec<Child>,
    /// `redis://127.0.0.1:PORT` of every primary.
    pub urls: Vec<String>,
}

impl Cluster {
    /// The node URLs as one comma list (`AUTH_REDIS_CLUSTER_NODES`).
    pub fn nodes_env(&self) -> String {
        self.urls.join(",")
    }
}

/// A free port whose cluster bus port (port + 10 000) is free too.
fn free_port() -> Result<u16, String> {
    for _ in 0..100 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        if port < 55_000 && std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return Ok(port);
        }
    }
    Err("no free port pair (port, port + 10000) in 100 tries".into())
}

/// Waits until `ready` holds, at most until `deadline`.
fn wait_until(
    deadline: Instant,
    what: &str,
    mut ready: impl FnMut() -> bool,
) -> Result<(), String> {
    while !ready() {
        if Instant::now() > deadline {
            return Err(format!("{what}: timed out"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Starts 3 `--cluster-enabled` nodes and joins them as a cluster of 3 primaries (no
/// replicas); returns once every node reports `cluster_state:ok`.
pub fn start() -> Result<Cluster, String> {
    let deadline = Instant::now() + START_TIMEOUT;
    let mut nodes = Vec::new();
    let mut ports = Vec::new();
    for _ in 0..3 {
        let port = free_port()?;
        let dir = std::env::temp_dir().join(format!("bench-cluster-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let child = Command::new("sh")
            .arg("-c")
            .arg(r#"redis-server "$@" & p=$!; while read -r _; do :; done; kill $p; wait $p; rm -rf "$D""#)
            .arg("sh")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--cluster-enabled", "yes", "--dir"])
            .arg(&dir)
            .env("D", &dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("redis-server (apt-get install redis-server): {e}"))?;
        nodes.push(child);
        wait_until(deadline, "a cluster node to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        })?;
        ports.push(port);
    }
    let created = Command::new("timeout")
        .args(["60", "redis-cli", "--cluster", "create"])
        .args(ports.iter().map(|p| format!("127.0.0.1:{p}")))
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .output()
        .map_err(|e| format!("redis-cli: {e}"))?;
    if !created.status.success() {
        return Err(format!(
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&created.stdout)
        ));
    }
    for p in &ports {
        wait_until(deadline, "cluster_state:ok", || {
            Command::new("redis-cli")
                .args(["-p", &p.to_string(), "cluster", "info"])
                .output()
                .is_ok_and(|info| {
                    String::from_utf8_lossy(&info.stdout).contains("cluster_state:ok")
                })
        })?;
    }
    let urls = ports
        .iter()
        .map(|p| format!("redis://127.0.0.1:{p}"))
        .collect();
    Ok(Cluster {
        _nodes: nodes,
        urls,
    })
}
