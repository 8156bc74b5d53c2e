//! Connecting tests to a real Redis: `AUTH_TEST_REDIS_URL`, default
//! `redis://127.0.0.1:6379`. No server is a loud failure, never a skip.

#![allow(dead_code, missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU64, Ordering};

use auth_redis::RedisStore;

pub fn redis_url() -> String {
    std::env::var("AUTH_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string())
}

/// A namespace no other test (or earlier run) uses.
pub fn unique_namespace(test: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "authtest:{test}:{}:{nanos}:{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
    .replace(
        |c: char| !c.is_ascii_alphanumeric() && c != ':' && c != '_',
        "_",
    )
}

pub async fn connect(namespace: &str) -> RedisStore {
    let url = redis_url();
    match RedisStore::connect(&url, namespace).await {
        Ok(store) => store,
        Err(e) => panic!(
            "\n\nREDIS TESTS NEED A REDIS SERVER and none answered at {url}: {e}\n\
             Start one with `redis-server --port 6379 --save '' --appendonly no` \
             (Debian: `apt-get install redis-server`), or point AUTH_TEST_REDIS_URL at one.\n\
             `.ci/run` starts one automatically.\n"
        ),
    }
}

/// A `redis-server` this test started itself on a free port; killed on drop.
#[derive(Debug)]
pub struct OwnServer {
    child: std::process::Child,
    pub port: u16,
}

impl OwnServer {
    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        Self::start_on(port)
    }

    pub fn start_on(port: u16) -> Self {
        let args: Vec<String> = [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        Self::spawn(port, &args)
    }

    pub fn spawn(port: u16, args: &[String]) -> Self {
        let child = std::process::Command::new("redis-server")
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("this test starts its own redis-server and could not: {e}. Install Debian's `redis-server`."));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not listen on {port}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Self { child, port }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free TCP port `p` on 127.0.0.1 whose cluster bus port `p + 10000` is free too.
pub fn free_cluster_port() -> u16 {
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        if port < 55_000 && std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

/// One `redis-server` of a test cluster. It runs under a small shell that kills it when
/// the test process's end of its stdin closes, so a cluster kept for a whole test binary
/// never outlives it; dropping the node kills it at once.
#[derive(Debug)]
pub struct ClusterNode {
    child: std::process::Child,
    pub port: u16,
    dir: std::path::PathBuf,
}

impl ClusterNode {
    /// `tls`: serve only TLS on `port` (and on the cluster bus), with `tls`'s files.
    pub fn start(port: u16, tls: Option<&ThrowawayCa>) -> Self {
        let dir =
            std::env::temp_dir().join(format!("auth-redis-cluster-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let port_args: Vec<String> = match tls {
            None => vec!["--port".into(), port.to_string()],
            Some(ca) => {
                let mut a = vec![
                    "--port".into(),
                    "0".into(),
                    "--tls-port".into(),
                    port.to_string(),
                    "--tls-cluster".into(),
                    "yes".into(),
                    "--tls-replication".into(),
                    "yes".into(),
                ];
                a.extend(ca.server_args());
                a
            }
        };
        let mut args: Vec<String> = [
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            "2000",
            // Replicas sync at once (the default waits 5 s for more replicas), so a
            // failover test never kills a primary whose replica has no data yet.
            "--repl-diskless-sync-delay",
            "0",
            "--dir",
            dir.to_str().expect("a UTF-8 temporary path"),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(port_args);
        let child = std::process::Command::new("sh")
            .arg("-c")
            .arg(r#"redis-server "$@" & p=$!; while read -r _; do :; done; kill $p; wait $p"#)
            .arg("sh")
            .args(&args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("this test starts redis-server processes and could not: {e}")
            });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server (cluster node) did not listen on {port}; is Debian's redis-server installed?"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Self { child, port, dir }
    }

    /// Kills the server now (the shell's stdin closes; the shell kills it and exits).
    pub fn kill(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
        // The shell waited for the server; make sure the port is free.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for ClusterNode {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Redis Cluster of real `redis-server` processes on free ports, built with
/// `redis-cli --cluster create`: `masters` primaries with `replicas` replicas each.
#[derive(Debug)]
pub struct OwnCluster {
    pub nodes: Vec<ClusterNode>,
    scheme: &'static str,
    cli_tls: Vec<String>,
}

impl OwnCluster {
    pub fn start(masters: usize, replicas: usize) -> Self {
        Self::start_with(masters, replicas, None)
    }

    /// With `tls`: every node serves TLS only, certified by `tls`'s CA.
    pub fn start_with(masters: usize, replicas: usize, tls: Option<&ThrowawayCa>) -> Self {
        let n = masters * (1 + replicas);
        let nodes: Vec<ClusterNode> = (0..n)
            .map(|_| ClusterNode::start(free_cluster_port(), tls))
            .collect();
        let cluster = Self {
            nodes,
            scheme: if tls.is_some() { "rediss" } else { "redis" },
            cli_tls: tls.map(ThrowawayCa::cli_args).unwrap_or_default(),
        };
        // `timeout`: a create that cannot finish (e.g. nodes that cannot talk on their
        // bus) fails the test instead of hanging it.
        let mut cmd = std::process::Command::new("timeout");
        cmd.args(["60", "redis-cli"])
            .args(&cluster.cli_tls)
            .arg("--cluster")
            .arg("create");
        for node in &cluster.nodes {
            cmd.arg(format!("127.0.0.1:{}", node.port));
        }
        let out = cmd
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .output()
            .unwrap_or_else(|e| panic!("redis-cli --cluster create could not run: {e}"));
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        cluster.wait_ok(&cluster.ports());
        cluster.wait_agreed(masters * replicas);
        cluster
    }

    /// Waits until every node knows `replicas` replicas, every replica is in sync with
    /// its primary and `redis-cli --cluster check` finds the nodes agreeing about the
    /// configuration.
    pub fn wait_agreed(&self, replicas: usize) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let ports = self.ports();
        loop {
            let known = ports.iter().all(|p| {
                self.cli(*p, &["cluster", "nodes"])
                    .lines()
                    .filter(|l| l.contains("slave") && !l.contains("fail"))
                    .count()
                    == replicas
            });
            let check = std::process::Command::new("redis-cli")
                .args(&self.cli_tls)
                .args(["--cluster", "check", &format!("127.0.0.1:{}", ports[0])])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            let synced = ports.iter().all(|p| {
                let info = self.cli(*p, &["info", "replication"]);
                !info.contains("role:slave") || info.contains("master_link_status:up")
            });
            if known && synced && check.contains("[OK] All nodes agree") && !check.contains("[ERR]")
            {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the test cluster did not settle: {check}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|n| n.port).collect()
    }

    /// Node URLs (all of them).
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("{}://127.0.0.1:{}", self.scheme, n.port))
            .collect()
    }

    /// `redis-cli` against `port` with this cluster's TLS options.
    pub fn cli(&self, port: u16, args: &[&str]) -> String {
        let out = std::process::Command::new("redis-cli")
            .args(&self.cli_tls)
            .args(["-p", &port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until every node in `ports` reports `cluster_state:ok` and knows all slots.
    pub fn wait_ok(&self, ports: &[u16]) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        for port in ports {
            loop {
                let info = self.cli(*port, &["cluster", "info"]);
                if info.contains("cluster_state:ok") && info.contains("cluster_slots_ok:16384") {
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "the test cluster did not become ready on {port}: {info}"
                );
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
    }

    /// The ports of the nodes that are primaries now.
    pub fn primaries(&self) -> Vec<u16> {
        self.ports()
            .into_iter()
            .filter(|p| self.cli(*p, &["role"]).starts_with("master"))
            .collect()
    }
}

/// One 3-primary cluster shared by every test of a test binary (started on first use;
/// its servers end with the test process).
pub fn shared_cluster() -> &'static OwnCluster {
    static CLUSTER: std::sync::OnceLock<OwnCluster> = std::sync::OnceLock::new();
    CLUSTER.get_or_init(|| OwnCluster::start(3, 0))
}

pub async fn connect_cluster(namespace: &str) -> RedisStore {
    let urls = shared_cluster().urls();
    RedisStore::connect_cluster(&urls, namespace)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test cluster at {urls:?}: {e}"))
}

/// A CA made for one test run with `openssl`, and a server certificate it signed for
/// `127.0.0.1` and `localhost` (also a client certificate: cluster nodes present it to
/// each other on the TLS bus); the files are deleted on drop.
#[derive(Debug)]
pub struct ThrowawayCa {
    pub dir: std::path::PathBuf,
}

impl ThrowawayCa {
    pub fn new() -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "auth-redis-ca-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("server.ext"),
            "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n\
             extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .unwrap();
        let run = |args: &[&str]| {
            let out = std::process::Command::new("openssl")
                .args(args)
                .current_dir(&dir)
                .output()
                .unwrap_or_else(|e| {
                    panic!("this test makes a CA with openssl and could not run it: {e}")
                });
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "1",
            "-subj",
            "/CN=auth-redis test CA",
        ]);
        run(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ]);
        run(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "1",
            "-extfile",
            "server.ext",
        ]);
        Self { dir }
    }

    pub fn path(&self, file: &str) -> String {
        self.dir.join(file).to_str().unwrap().to_string()
    }

    pub fn ca_pem(&self) -> Vec<u8> {
        std::fs::read(self.dir.join("ca.crt")).unwrap()
    }

    fn server_args(&self) -> Vec<String> {
        vec![
            "--tls-cert-file".into(),
            self.path("server.crt"),
            "--tls-key-file".into(),
            self.path("server.key"),
            "--tls-ca-cert-file".into(),
            self.path("ca.crt"),
            "--tls-auth-clients".into(),
            "no".into(),
        ]
    }

    pub fn cli_args(&self) -> Vec<String> {
        vec!["--tls".into(), "--cacert".into(), self.path("ca.crt")]
    }
}

impl Drop for ThrowawayCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A single TLS-only `redis-server` on a free port, certified by `ca`; killed on drop.
pub fn tls_server(ca: &ThrowawayCa) -> OwnServer {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let mut args = vec![
        "--port".to_string(),
        "0".into(),
        "--tls-port".into(),
        port.to_string(),
        "--bind".into(),
        "127.0.0.1".into(),
        "--save".into(),
        "".into(),
        "--appendonly".into(),
        "no".into(),
    ];
    args.extend(ca.server_args());
    OwnServer::spawn(port, &args)
}
