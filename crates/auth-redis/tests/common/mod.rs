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
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
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
