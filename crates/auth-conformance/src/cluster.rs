//! A Redis Cluster for the cluster scenarios: `AUTH_TEST_REDIS_CLUSTER_NODES` (a comma
//! list of node URLs) when set, otherwise 3 primaries of real `redis-server` processes on
//! free ports, built with `redis-cli --cluster create` once per test process. Each server
//! runs under a small shell that kills it when the test process's end of its stdin
//! closes, so the cluster never outlives the tests.

use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The cluster's node URLs, comma-separated (the `AUTH_REDIS_CLUSTER_NODES` format).
pub fn cluster_nodes() -> String {
    if let Ok(nodes) = std::env::var("AUTH_TEST_REDIS_CLUSTER_NODES") {
        return nodes;
    }
    static CLUSTER: OnceLock<LocalCluster> = OnceLock::new();
    CLUSTER
        .get_or_init(|| LocalCluster::start(3))
        .ports
        .iter()
        .map(|p| format!("redis://127.0.0.1:{p}"))
        .collect::<Vec<_>>()
        .join(",")
}

struct LocalCluster {
    ports: Vec<u16>,
    _nodes: Vec<Child>,
}

fn free_port() -> u16 {
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        // The cluster bus listens on port + 10000.
        if port < 55_000 && std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

impl LocalCluster {
    fn start(primaries: usize) -> Self {
        let mut nodes = Vec::new();
        let mut ports = Vec::new();
        for _ in 0..primaries {
            let port = free_port();
            let dir = std::env::temp_dir().join(format!(
                "auth-conformance-cluster-{}-{port}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("a temporary directory");
            let child = Command::new("sh")
                .arg("-c")
                .arg(r#"redis-server "$@" & p=$!; while read -r _; do :; done; kill $p; wait $p; rm -rf "$D""#)
                .arg("sh")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "no", "--cluster-enabled", "yes",
                    "--cluster-config-file", "nodes.conf", "--dir"])
                .arg(&dir)
                .env("D", &dir)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("the cluster scenarios start redis-server processes and could not: {e}")
                });
            let deadline = Instant::now() + Duration::from_secs(10);
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "redis-server did not listen on {port}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            nodes.push(child);
            ports.push(port);
        }
        let out = Command::new("timeout")
            .args(["60", "redis-cli", "--cluster", "create"])
            .args(ports.iter().map(|p| format!("127.0.0.1:{p}")))
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .unwrap_or_else(|e| panic!("redis-cli --cluster create could not run: {e}"));
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        for port in &ports {
            loop {
                let info = Command::new("redis-cli")
                    .args(["-p", &port.to_string(), "cluster", "info"])
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                    .unwrap_or_default();
                if info.contains("cluster_state:ok") {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the cluster did not become ready"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Self {
            ports,
            _nodes: nodes,
        }
    }
}
