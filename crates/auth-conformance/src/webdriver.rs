//! A small W3C WebDriver client over `reqwest` (already in the test build), driving
//! Debian's `chromium` through `chromedriver` for the browser tests. It speaks the dozen
//! endpoints the tests use: sessions, navigation, finding elements (CSS or XPath),
//! clicking, typing, reading text, screenshots.
//!
//! Missing `chromium` or `chromedriver` is a loud failure naming the packages (`.ci/run`
//! installs them), never a skip.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

/// The W3C element key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A running `chromedriver` with one headless Chromium session; both end on drop.
#[derive(Debug)]
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    client: reqwest::Client,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// How to find an element.
#[derive(Debug, Clone, Copy)]
pub enum By<'a> {
    /// A CSS selector.
    Css(&'a str),
    /// An XPath expression.
    XPath(&'a str),
}

impl Browser {
    /// Starts `chromedriver` (from `PATH`) and a headless Chromium (`/usr/bin/chromium`,
    /// or `AUTH_TEST_CHROMIUM`), with the flags a closed network needs.
    pub async fn start() -> Browser {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start chromedriver ({e}): install Debian's `chromium` and \
                     `chromium-driver` packages (.ci/run does)"
                )
            });
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = client.get(format!("{base}/status")).send().await
                && let Ok(v) = r.json::<Value>().await
                && v["value"]["ready"] == true
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not become ready on {base}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let binary =
            std::env::var("AUTH_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let profile = std::env::temp_dir().join(format!("auth-e2e-{}-{port}", std::process::id()));
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": binary,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,1600",
                    format!("--user-data-dir={}", profile.display()),
                ]
            }
        }}});
        let mut browser = Browser {
            driver,
            base,
            session: String::new(),
            client,
        };
        let v = browser.call("POST", "/session", Some(caps)).await;
        browser.session = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {v}"))
            .to_string();
        browser
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let req = match method {
            "POST" => self.client.post(url).json(&body.unwrap_or(json!({}))),
            "DELETE" => self.client.delete(url),
            _ => self.client.get(url),
        };
        let r = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("WebDriver {path}: {e}"));
        let v: Value = r.json().await.unwrap();
        v["value"].clone()
    }

    fn session_path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    /// Opens `url`.
    pub async fn goto(&self, url: &str) {
        self.call(
            "POST",
            &self.session_path("/url"),
            Some(json!({"url": url})),
        )
        .await;
    }

    async fn find_now(&self, by: By<'_>) -> Option<String> {
        let (using, value) = match by {
            By::Css(s) => ("css selector", s),
            By::XPath(s) => ("xpath", s),
        };
        let v = self
            .call(
                "POST",
                &self.session_path("/element"),
                Some(json!({"using": using, "value": value})),
            )
            .await;
        v[ELEMENT].as_str().map(String::from)
    }

    /// Waits (up to 20 s) for an element and returns its id.
    pub async fn find(&self, by: By<'_>) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(id) = self.find_now(by).await {
                return id;
            }
            assert!(Instant::now() < deadline, "no element {by:?} within 20 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks the element `by` finds (scrolled into view by the driver).
    pub async fn click(&self, by: By<'_>) {
        let id = self.find(by).await;
        let v = self
            .call(
                "POST",
                &self.session_path(&format!("/element/{id}/click")),
                None,
            )
            .await;
        assert!(v.is_null(), "click {by:?}: {v}");
    }

    /// Types `text` into the element `by` finds.
    pub async fn type_into(&self, by: By<'_>, text: &str) {
        let id = self.find(by).await;
        let v = self
            .call(
                "POST",
                &self.session_path(&format!("/element/{id}/value")),
                Some(json!({"text": text})),
            )
            .await;
        assert!(v.is_null(), "type into {by:?}: {v}");
    }

    /// The visible text of the element `by` finds.
    pub async fn text(&self, by: By<'_>) -> String {
        let id = self.find(by).await;
        self.call(
            "GET",
            &self.session_path(&format!("/element/{id}/text")),
            None,
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    /// Waits (up to 20 s) until the element's text contains `needle`; returns the text.
    pub async fn wait_for_text(&self, by: By<'_>, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = self.text(by).await;
            if text.contains(needle) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "{by:?} never showed `{needle}`; last text: {text}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Scrolls the first element matching the CSS selector into view.
    pub async fn scroll_to(&self, css: &str) {
        self.call(
            "POST",
            &self.session_path("/execute/sync"),
            Some(json!({
                "script": "const e = document.querySelector(arguments[0]); if (e) { e.scrollIntoView({block: 'center'}); }",
                "args": [css],
            })),
        )
        .await;
    }

    /// A PNG screenshot of the page.
    pub async fn screenshot(&self) -> Vec<u8> {
        let v = self
            .call("GET", &self.session_path("/screenshot"), None)
            .await;
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .unwrap_or_default()
    }

    /// Ends the session (the browser quits).
    pub async fn quit(self) {
        self.call("DELETE", &self.session_path(""), None).await;
    }
}
