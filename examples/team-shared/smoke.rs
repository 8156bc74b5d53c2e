//! The smoke test every team example passes unchanged: it starts the binary against the
//! local Redis and checks the service end to end over real HTTP. Included with `#[path]`
//! by each example's `tests/smoke.rs`.

use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use reqwest::{Client, Response, StatusCode, header};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const JWT: &str = "team-test-access-secret-of-at-least-32-bytes";
const REFRESH: &str = "team-test-refresh-secret-of-at-least-32-bytes";

/// A running example: the process (killed on drop) and its base URL.
pub struct Server {
    _child: Child,
    base: String,
}

/// The example binary with the test's environment: keys, next keys for the rotation
/// route, the local Redis under a namespace of its own, a free port.
fn command(bin: &str) -> Command {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let mut cmd = Command::new(bin);
    cmd.env("TEAM_BIND", "127.0.0.1:0")
        .env("TEAM_JWT_SECRET", JWT)
        .env("TEAM_REFRESH_SECRET", REFRESH)
        .env(
            "TEAM_JWT_SECRET_NEXT",
            "team-test-next-access-secret-of-32-bytes+",
        )
        .env(
            "TEAM_REFRESH_SECRET_NEXT",
            "team-test-next-refresh-secret-of-32-bytes",
        )
        .env("TEAM_KEY_ID_NEXT", "2026-12")
        .env(
            "TEAM_REDIS_URL",
            std::env::var("AUTH_TEST_REDIS_URL")
                .unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
        )
        .env(
            "TEAM_REDIS_NAMESPACE",
            format!("team-test-{}-{nanos}", std::process::id()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    cmd
}

/// Starts `bin` and waits for its `listening on http://HOST:PORT` line.
pub async fn start(bin: &str) -> Server {
    let mut child = command(bin).spawn().expect("start the example");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("the example prints its address within 30 s")
        .unwrap()
        .expect("a start-up line");
    let base = line
        .strip_prefix("listening on ")
        .expect("`listening on http://HOST:PORT`")
        .to_string();
    Server {
        _child: child,
        base,
    }
}

/// Without its keys the service refuses to start, with one line naming the variable.
pub async fn refuses_to_start_without_keys(bin: &str) {
    let out = command(bin)
        .env_remove("TEAM_JWT_SECRET")
        .stderr(Stdio::piped())
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("TEAM_JWT_SECRET is not set"), "{stderr}");
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `(access, refresh)` from the password grant of `/token`.
    async fn token(&self, http: &Client, user: &str, password: &str) -> (String, String) {
        let r = http
            .post(self.url("/token"))
            .form(&[("username", user), ("password", password)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.unwrap();
        (
            body["access_token"].as_str().unwrap().to_string(),
            body["refresh_token"].as_str().unwrap().to_string(),
        )
    }

    /// The form login of `/login` (a cookie session).
    async fn login(&self, http: &Client, user: &str, password: &str) -> Response {
        let form = [("username", user), ("password", password)];
        let login = http.post(self.url("/login")).form(&form);
        login.send().await.unwrap()
    }

    async fn get(&self, http: &Client, path: &str, bearer: Option<&str>) -> Response {
        let mut req = http.get(self.url(path));
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        req.send().await.unwrap()
    }
}

/// The `kid` in a JWT's header.
fn kid(token: &str) -> String {
    let header = token.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    let header: Value = serde_json::from_slice(&bytes).unwrap();
    header["kid"].as_str().unwrap().to_string()
}

/// A refusal in the team's shape, with the core's status.
async fn assert_team_error(r: Response, status: StatusCode, code: &str) {
    assert_eq!(r.status(), status);
    assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "{body}");
    assert_eq!(body["error"]["status"], status.as_u16(), "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
}

/// The whole service, end to end.
pub async fn service_works(bin: &str) {
    let app = start(bin).await;
    let http = Client::new();

    // Typed claims: the tenant travels in the token, and survives a refresh.
    let (access, refresh) = app.token(&http, "alice", "password123").await;
    // The secret shortcut names its key after the secret (`auth_core::token::derived_kid`).
    assert!(kid(&access).starts_with("hs-"), "{}", kid(&access));
    let r = app.get(&http, "/whoami", Some(&access)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let me: Value = r.json().await.unwrap();
    assert_eq!(me, json!({"user": "1", "tenant_id": "acme"}));
    let r = http
        .post(app.url("/refresh"))
        .json(&json!({ "refresh_token": refresh }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let refreshed: Value = r.json().await.unwrap();
    let refreshed = refreshed["access_token"].as_str().unwrap();
    let me: Value = app
        .get(&http, "/whoami", Some(refreshed))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["tenant_id"], "acme");

    // The role guard refuses an editor, in the team's shape with the core's 403.
    let (bob, _) = app.token(&http, "bob", "password456").await;
    let r = http
        .post(app.url("/admin/rotate-keys"))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_team_error(r, StatusCode::FORBIDDEN, "forbidden").await;

    // Optional auth: null without a token; a bad token is a 401 that keeps the core's
    // WWW-Authenticate.
    let hello: Value = app.get(&http, "/hello", None).await.json().await.unwrap();
    assert_eq!(hello, json!({"user": null}));
    let hello: Value = app
        .get(&http, "/hello", Some(&access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(hello, json!({"user": "1"}));
    let r = app.get(&http, "/hello", Some("not-a-token")).await;
    let challenge = r.headers()[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    assert!(challenge.contains("invalid_token"), "{challenge}");
    assert_team_error(r, StatusCode::UNAUTHORIZED, "invalid-token").await;

    // The ready-made routes' own refusals come in the team's shape too.
    let r = app.login(&http, "carol", "wrong").await;
    assert_team_error(r, StatusCode::UNAUTHORIZED, "invalid-credentials").await;

    // Cookie login: the session carries the tenant; POST needs the CSRF token.
    let r = app.login(&http, "carol", "password789").await;
    assert_eq!(r.status(), StatusCode::OK);
    let set_cookie = r.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string();
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    let login: Value = r.json().await.unwrap();
    let csrf = login["csrf_token"].as_str().unwrap();
    let session = |http: &Client| {
        http.get(app.url("/session"))
            .header(header::COOKIE, &cookie)
    };
    let s: Value = session(&http).send().await.unwrap().json().await.unwrap();
    assert_eq!(s["user"], "3");
    assert_eq!(s["data"], json!({"tenant_id": "globex", "theme": "light"}));
    let prefs = |http: &Client| {
        http.post(app.url("/preferences"))
            .header(header::COOKIE, &cookie)
            .json(&json!({"theme": "dark"}))
    };
    let r = prefs(&http).send().await.unwrap();
    assert_team_error(r, StatusCode::FORBIDDEN, "csrf").await;
    let r = prefs(&http)
        .header("x-csrf-token", csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let s: Value = session(&http).send().await.unwrap().json().await.unwrap();
    assert_eq!(s["data"], json!({"tenant_id": "globex", "theme": "dark"}));

    // Key rotation by an admin: earlier tokens still work, new ones carry the new kid.
    let r = http
        .post(app.url("/admin/rotate-keys"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let rotated: Value = r.json().await.unwrap();
    assert_eq!(rotated, json!({"access_kid": "access-2026-12"}));
    let r = app.get(&http, "/whoami", Some(&access)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let (fresh, _) = app.token(&http, "alice", "password123").await;
    assert_eq!(kid(&fresh), "access-2026-12");
    let me: Value = app
        .get(&http, "/whoami", Some(&fresh))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["tenant_id"], "acme");
}

/// The browser routes render refusals the team's way: the login page for a visitor
/// without a session, an HTML page for a refused one; the core's status and challenge
/// stay for an API client.
pub async fn browser_pages_work(bin: &str) {
    let app = start(bin).await;
    // A browser follows redirects; the test looks at the redirect itself.
    let http = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // No session: 303 to the login page, back to the page and its query afterwards.
    let r = app.get(&http, "/app/orders?page=2", None).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers()[header::LOCATION],
        "/login?next=%2Fapp%2Forders%3Fpage%3D2"
    );
    assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");

    // An API client with a token it cannot use gets the core's 401 and challenge, not a
    // redirect (then the team's error JSON, as everywhere).
    let r = app.get(&http, "/app/orders", Some("not-a-token")).await;
    assert!(r.headers().contains_key(header::WWW_AUTHENTICATE));
    assert_team_error(r, StatusCode::UNAUTHORIZED, "not-authenticated").await;

    // With a session the page renders; a viewer meets the admin page's 403 as HTML.
    let r = app.login(&http, "carol", "password789").await;
    assert_eq!(r.status(), StatusCode::OK);
    let set_cookie = r.headers()[header::SET_COOKIE].to_str().unwrap();
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    let page = |path: &str| {
        http.get(app.url(path))
            .header(header::COOKIE, &cookie)
            .send()
    };
    let r = page("/app/orders").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("Orders of user 3"));
    let r = page("/app/admin").await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        r.headers()[header::CONTENT_TYPE],
        "text/html; charset=utf-8"
    );
    let html = r.text().await.unwrap();
    assert!(html.starts_with("<!doctype html>"), "{html}");
    assert!(html.contains("<h1>Forbidden</h1>"), "{html}");

    // Routes outside the group keep the team's error JSON.
    let r = app.get(&http, "/session", None).await;
    assert_team_error(r, StatusCode::UNAUTHORIZED, "not-authenticated").await;
}
