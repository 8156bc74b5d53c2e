//! Browser-facing rules: login CSRF (the `Origin` of `POST /login`), the origin policy
//! (scheme, host and port), the `csrf_token` form field, private answers to every
//! credentialed request, and optional credentials failing closed when the store is down.

use reqwest::Response;
use serde_json::{Value, json};

use super::{bearer, cookie_login, get, header, login_bearer, problem};
use crate::app::{App, Target};

/// `POST /login` as alice with `origin` (when given).
async fn login_from(app: &App, origin: Option<&str>) -> Response {
    let mut req = app
        .client
        .post(app.url("/login"))
        .form(&[("username", "alice"), ("password", "password123")]);
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    req.send().await.expect("POST /login")
}

/// How many cookie sessions alice has (through `/sessions`, with a bearer login).
async fn cookie_sessions_of_alice(app: &App, tok: &Value) -> usize {
    let r = get(app, "/sessions", Some(&bearer(tok))).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    body["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == "session")
        .count()
}

/// Asserts a refused login: 403 problem, no cookie set, no session started.
async fn refused(app: &App, tok: &Value, origin: &str) {
    let before = cookie_sessions_of_alice(app, tok).await;
    let r = login_from(app, Some(origin)).await;
    assert!(
        header(&r, "set-cookie").is_none(),
        "{origin}: no cookie on a refused login"
    );
    let body = problem(r, 403).await;
    assert!(
        body["detail"].as_str().unwrap().contains("origin")
            || body["detail"].as_str().unwrap().contains("Origin"),
        "{origin}: {body}"
    );
    assert_eq!(
        cookie_sessions_of_alice(app, tok).await,
        before,
        "{origin}: no session started"
    );
}

async fn accepted(app: &App, origin: Option<&str>) {
    let r = login_from(app, origin).await;
    assert_eq!(r.status(), 200, "{origin:?}");
    assert!(header(&r, "set-cookie").is_some(), "{origin:?}");
}

/// The `host:port` the app is reached at (its `Host` header).
fn authority(app: &App) -> String {
    app.base.strip_prefix("http://").unwrap().to_string()
}

/// Scenario: `POST /login` refuses a cross-origin `Origin` (login CSRF) with 403 and
/// starts no session; the app's own origin (scheme, host and port: `https` with secure
/// cookies, `http` with `AUTH_COOKIE_SECURE=false`), each of `AUTH_ALLOWED_ORIGINS`, and
/// a request without `Origin` log in. The same policy guards cookie-authenticated
/// unsafe requests.
pub async fn login_csrf_and_the_origin_policy(t: &Target) {
    let app = t.start().await;
    let host = authority(&app);
    let port: u16 = host.rsplit_once(':').unwrap().1.parse().unwrap();
    let other_port = if port == 65535 { port - 1 } else { port + 1 };
    let tok = login_bearer(&app, "alice").await;

    refused(&app, &tok, "https://evil.example").await;
    refused(&app, &tok, "null").await;
    // Same host, other scheme (cookies are Secure: the app is served over https).
    refused(&app, &tok, &format!("http://{host}")).await;
    // Same host and scheme, other port (or the default one).
    refused(&app, &tok, &format!("https://127.0.0.1:{other_port}")).await;
    refused(&app, &tok, "https://127.0.0.1").await;
    refused(&app, &tok, &format!("https://{host}.evil.example")).await;
    accepted(&app, Some(&format!("https://{host}"))).await;
    accepted(&app, None).await;

    // Cookie-authenticated unsafe requests follow the same policy.
    let (cookie, csrf, _) = cookie_login(&app, "bob").await;
    let post = |origin: String| {
        app.client
            .post(app.url("/articles"))
            .header("cookie", &cookie)
            .header("x-csrf-token", &csrf)
            .header("origin", origin)
            .send()
    };
    let r = post(format!("http://{host}")).await.unwrap();
    assert_eq!(
        problem(r, 403).await["detail"],
        "CSRF token missing or invalid"
    );
    problem(
        post(format!("https://127.0.0.1:{other_port}"))
            .await
            .unwrap(),
        403,
    )
    .await;
    assert_eq!(post(format!("https://{host}")).await.unwrap().status(), 200);

    // Plain-HTTP development: the own origin is http.
    let dev = t.start_with(&[("AUTH_COOKIE_SECURE", "false")]).await;
    let dev_host = authority(&dev);
    let dev_tok = login_bearer(&dev, "alice").await;
    accepted(&dev, Some(&format!("http://{dev_host}"))).await;
    refused(&dev, &dev_tok, &format!("https://{dev_host}")).await;

    // Configured origins are allowed besides the own one, compared by scheme, host, port.
    let listed = t
        .start_with(&[(
            "AUTH_ALLOWED_ORIGINS",
            "https://app.example, http://localhost:3000",
        )])
        .await;
    let listed_host = authority(&listed);
    let listed_tok = login_bearer(&listed, "alice").await;
    accepted(&listed, Some("https://app.example")).await;
    accepted(&listed, Some("https://APP.example:443")).await;
    accepted(&listed, Some("http://localhost:3000")).await;
    accepted(&listed, Some(&format!("https://{listed_host}"))).await;
    for origin in [
        "http://app.example",
        "https://app.example:8443",
        "http://localhost:3001",
        "https://localhost:3000",
        "https://evil.example",
    ] {
        refused(&listed, &listed_tok, origin).await;
    }
}

/// Scenario: a malformed `AUTH_ALLOWED_ORIGINS` stops the app with one line.
pub async fn allowed_origins_are_validated(t: &Target) {
    for bad in [
        "app.example",
        "https://app.example/path",
        "ftp://app.example",
        "https://user@app.example",
        "https://app.example?x=1",
        "https://app.example:99999",
        "https://app.example,",
    ] {
        let mut cmd = std::process::Command::new(&t.binary);
        cmd.env("AUTH_JWT_SECRET", crate::app::ACCESS_SECRET)
            .env("AUTH_REFRESH_SECRET", crate::app::REFRESH_SECRET)
            .env("AUTH_BIND", "127.0.0.1:0")
            .env("AUTH_ALLOWED_ORIGINS", bad)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut exited = None;
        for _ in 0..300 {
            if let Some(status) = child.try_wait().unwrap() {
                exited = Some(status);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        if exited.is_none() {
            let _ = child.kill();
        }
        let out = child.wait_with_output().unwrap();
        assert!(
            exited.is_some_and(|s| !s.success()),
            "{bad:?} must refuse to start"
        );
        let err = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(lines.len(), 1, "one line: {err}");
        assert!(lines[0].contains("AUTH_ALLOWED_ORIGINS"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// Scenario: an HTML form may send the CSRF token as the form field `csrf_token`
/// instead of the `X-CSRF-Token` header (cookie-authenticated unsafe requests).
pub async fn csrf_token_form_field(t: &Target) {
    let app = t.start().await;
    let (cookie, csrf, _) = cookie_login(&app, "bob").await;
    let form_post = |path: &str, form: &[(&str, &str)]| {
        app.client
            .post(app.url(path))
            .header("cookie", &cookie)
            .form(form)
            .send()
    };
    let r = form_post("/articles", &[("title", "Forms"), ("csrf_token", &csrf)])
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"created_by": "bob@example.com"})
    );
    for form in [
        &[("title", "Forms"), ("csrf_token", "wrong")][..],
        &[("title", "Forms")][..],
        &[("csrf_token", ""), ("title", "Forms")][..],
        &[("csrf_token", csrf.as_str()), ("csrf_token", "wrong")][..],
    ] {
        let r = form_post("/articles", form).await.unwrap();
        assert_eq!(
            problem(r, 403).await["detail"],
            "CSRF token missing or invalid",
            "{form:?}"
        );
    }
    // A form body too large to read for the field is refused (the core's 400), never
    // waved through.
    let big = "x".repeat(20 * 1024);
    let r = form_post("/articles", &[("title", &big), ("csrf_token", &csrf)])
        .await
        .unwrap();
    problem(r, 400).await;

    // The field is read from form bodies only.
    let r = app
        .client
        .post(app.url("/articles"))
        .header("cookie", &cookie)
        .header("content-type", "text/plain")
        .body(format!("csrf_token={csrf}"))
        .send()
        .await
        .unwrap();
    problem(r, 403).await;

    // Logout by a form.
    let r = form_post("/logout", &[("csrf_token", &csrf)])
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(header(&r, "set-cookie").unwrap().contains("Max-Age=0"));
    let r = super::get_with_cookie(&app, "/dashboard", &cookie).await;
    problem(r, 401).await;
}

/// Scenario: every answer to a request that carried a credential (bearer, API key in
/// the header or the query, session cookie) is `Cache-Control: no-store` and names in
/// `Vary` the headers it depends on; anonymous answers are not forced private.
pub async fn credentialed_answers_are_never_stored(t: &Target) {
    let app = t.start().await;
    let vary_of = |r: &Response| -> Vec<String> {
        r.headers()
            .get_all("vary")
            .iter()
            .flat_map(|v| v.to_str().unwrap().split(','))
            .map(|v| v.trim().to_ascii_lowercase())
            .collect()
    };
    let private = |r: &Response, case: &str, names: &[&str]| {
        assert_eq!(header(r, "cache-control"), Some("no-store"), "{case}");
        let vary = vary_of(r);
        for n in names {
            assert!(
                vary.iter().any(|v| v == n),
                "{case}: Vary {vary:?} lacks {n}"
            );
        }
    };
    let r = get(&app, "/data?api_key=secret-key-123", None).await;
    assert_eq!(r.status(), 200);
    private(&r, "api key in the query", &[]);
    let r = get(&app, "/data?api_key=wrong-key", None).await;
    assert_eq!(r.status(), 401);
    private(&r, "refused api key in the query", &[]);
    let r = super::get_with_api_key(&app, "/data").await;
    assert_eq!(r.status(), 200);
    private(&r, "api key header", &["x-api-key"]);
    let tok = login_bearer(&app, "alice").await;
    let r = get(&app, "/me", Some(&bearer(&tok))).await;
    private(&r, "bearer", &["authorization"]);
    let (cookie, _, _) = cookie_login(&app, "bob").await;
    let r = super::get_with_cookie(&app, "/dashboard", &cookie).await;
    private(&r, "session cookie", &["cookie"]);
    // Each name once, even with every credential at once.
    let r = app
        .client
        .get(app.url("/data?api_key=secret-key-123"))
        .header("x-api-key", "secret-key-123")
        .header("cookie", &cookie)
        .header("authorization", bearer(&tok))
        .send()
        .await
        .unwrap();
    let vary = vary_of(&r);
    private(&r, "all", &["authorization", "cookie", "x-api-key"]);
    for n in ["authorization", "cookie", "x-api-key"] {
        assert_eq!(vary.iter().filter(|v| *v == n).count(), 1, "{vary:?}");
    }
    let r = get(&app, "/health", None).await;
    assert_ne!(header(&r, "cache-control"), Some("no-store"));
    let r = get(&app, "/data", None).await;
    assert_ne!(header(&r, "cache-control"), Some("no-store"));
}

/// `GET /hello` (optional bearer) on `app`.
async fn hello(app: &App, authorization: Option<&str>) -> Response {
    get(app, "/hello", authorization).await
}

/// Scenario (two instances' section: it starts its own Redis and stops it): an
/// optional credential (`GET /hello`, optional bearer) is `null` only when none was
/// sent; a refused token is 401; a store outage is 503, never "anonymous".
pub async fn optional_bearer_fails_closed_on_store_outage(binary: &str) {
    let (mut server, url) = super::private_redis().await;
    let app = App::start(binary, None, &[("AUTH_REDIS_URL", url.as_str())]).await;
    let tok = login_bearer(&app, "alice").await;
    let r = hello(&app, Some(&bearer(&tok))).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"user": "1"}));
    let r = hello(&app, None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"user": null}));
    super::expect_invalid_token(hello(&app, Some("Bearer not-a-token")).await).await;

    let _ = server.kill();
    let _ = server.wait();
    let r = hello(&app, Some(&bearer(&tok))).await;
    assert_eq!(header(&r, "retry-after"), Some("1"));
    problem(r, 503).await;
    let r = hello(&app, None).await;
    assert_eq!(r.status(), 200, "no credential: anonymous, store or not");
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"user": null}));
}

/// Scenario: `POST /login` takes a form (what browsers post) or a JSON object (what
/// scripts send), with the same answers: a session and its CSRF token for the right
/// password, one sentence for a wrong one, 400 for a body that is neither or lacks a
/// field.
pub async fn login_accepts_a_form_or_json(t: &Target) {
    let app = t.start().await;
    let post = |body: Value| app.client.post(app.url("/login")).json(&body).send();
    let r = post(json!({"username": "bob", "password": "password456"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(header(&r, "set-cookie").is_some_and(|c| c.starts_with("session_id=")));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["message"], "Logged in");
    assert!(body["csrf_token"].as_str().is_some_and(|t| t.len() >= 32));

    let wrong = post(json!({"username": "bob", "password": "nope"}))
        .await
        .unwrap();
    let form_wrong = app
        .client
        .post(app.url("/login"))
        .form(&[("username", "bob"), ("password", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        problem(wrong, 401).await["detail"],
        problem(form_wrong, 401).await["detail"],
        "one sentence whatever the body's type"
    );
    problem(post(json!({"username": "bob"})).await.unwrap(), 400).await;
    problem(post(json!(["bob", "password456"])).await.unwrap(), 400).await;
    let junk = app
        .client
        .post(app.url("/login"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    problem(junk, 400).await;
    let text = app
        .client
        .post(app.url("/login"))
        .header("content-type", "text/plain")
        .body("username=bob&password=password456")
        .send()
        .await
        .unwrap();
    problem(text, 400).await;
}
