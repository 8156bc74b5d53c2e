//! Scenarios for the stores that outlive an app (Redis, SQLite, Postgres): a restart
//! loses nothing; two instances on one database share everything; a database outage
//! fails closed and recovers by itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::*;
use crate::app::{Storage, Target};

/// Scenario: a restart of the app loses nothing. Access tokens, refresh tokens, cookie
/// sessions and revocations made before the restart all hold after it, and a refresh
/// token rotated before the restart is still detected as reused (which revokes its
/// family).
pub async fn a_restart_loses_nothing(t: &Target) {
    assert!(t.persistent(), "only for stores that outlive the app");
    let storage = t.storage().await;
    let app = t.start_on(&storage, &[]).await;
    let first = login_bearer(&app, "alice").await;
    let rt0 = first["refresh_token"].as_str().unwrap().to_string();
    let r = refresh(&app, &rt0).await;
    assert_eq!(r.status(), 200);
    let second: Value = r.json().await.unwrap();
    let rt1 = second["refresh_token"].as_str().unwrap().to_string();
    let kept = login_bearer(&app, "bob").await;
    let revoked = login_bearer(&app, "carol").await;
    let r = app
        .client
        .post(app.url("/logout"))
        .header("authorization", bearer(&revoked))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (cookie, _csrf, _) = cookie_login(&app, "bob").await;
    drop(app);

    let app = t.start_on(&storage, &[]).await;
    assert_eq!(
        get(&app, "/me", Some(&bearer(&kept))).await.status(),
        200,
        "an access token issued before the restart holds"
    );
    expect_invalid_token(get(&app, "/me", Some(&bearer(&revoked))).await).await;
    assert_eq!(
        get_with_cookie(&app, "/dashboard", &cookie).await.status(),
        200,
        "a session started before the restart holds"
    );
    let r = refresh(&app, &rt1).await;
    assert_eq!(r.status(), 200, "the current refresh token holds");
    let third: Value = r.json().await.unwrap();
    assert_eq!(get(&app, "/me", Some(&bearer(&third))).await.status(), 200);
    // The token rotated away before the restart: reuse, detected; the family dies.
    expect_invalid_token(refresh(&app, &rt0).await).await;
    expect_invalid_token(get(&app, "/me", Some(&bearer(&third))).await).await;
}

async fn pair_on(t: &Target) -> (Storage, App, App) {
    let storage = t.storage().await;
    let a = t.start_on(&storage, &[]).await;
    let b = t.start_on(&storage, &[]).await;
    (storage, a, b)
}

/// Scenario: two instances on one database share logins, logouts, sessions and
/// rotations at once.
pub async fn two_instances_share_one_database(t: &Target) {
    let (_storage, a, b) = pair_on(t).await;
    // A logout on one is refused by the other.
    let tok = login_bearer(&a, "alice").await;
    assert_eq!(get(&b, "/me", Some(&bearer(&tok))).await.status(), 200);
    let r = a
        .client
        .post(a.url("/logout"))
        .header("authorization", bearer(&tok))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    expect_invalid_token(get(&b, "/me", Some(&bearer(&tok))).await).await;
    // A session started on one is ended on the other.
    let (cookie, csrf, _) = cookie_login(&a, "bob").await;
    assert_eq!(
        get_with_cookie(&b, "/dashboard", &cookie).await.status(),
        200
    );
    let r = super::cookie_logout(&b, &cookie, &csrf).await;
    assert_eq!(r.status(), 200);
    problem(get_with_cookie(&a, "/dashboard", &cookie).await, 401).await;
    // A rotation on one makes the old token a reuse on the other.
    let first = login_bearer(&a, "carol").await;
    let rt = first["refresh_token"].as_str().unwrap();
    assert_eq!(refresh(&a, rt).await.status(), 200);
    expect_invalid_token(refresh(&b, rt).await).await;
    expect_invalid_token(get(&a, "/me", Some(&bearer(&first))).await).await;
}

/// Scenario: 20 concurrent refreshes of one token, spread over two instances on one
/// database: exactly one wins.
pub async fn concurrent_refreshes_across_two_instances_have_one_winner(t: &Target) {
    let (_storage, a, b) = pair_on(t).await;
    let tok = login_bearer(&a, "alice").await;
    let rt = tok["refresh_token"].as_str().unwrap().to_string();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let app = if i % 2 == 0 { &a } else { &b };
        let (client, url, rt) = (app.client.clone(), app.url("/refresh"), rt.clone());
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .json(&json!({"refresh_token": rt}))
                .send()
                .await
                .unwrap();
            let status = r.status();
            (status, r.json::<Value>().await.ok())
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        let (status, body) = task.await.unwrap();
        assert!(
            status == StatusCode::OK || status == StatusCode::UNAUTHORIZED,
            "{status}"
        );
        if status == StatusCode::OK {
            winners.push(body.unwrap());
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one of 20 concurrent refreshes wins"
    );
    // The losers were reuse, on both instances: the family, winner included, is revoked.
    for app in [&a, &b] {
        expect_invalid_token(get(app, "/me", Some(&bearer(&winners[0]))).await).await;
    }
}

/// A TCP proxy to `upstream` that can be cut (every connection closed, new ones refused)
/// and restored: a database outage without stopping the database.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    cut: tokio::sync::watch::Sender<u64>,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let (cut, cuts) = tokio::sync::watch::channel(0u64);
        let live = up.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !live.load(Ordering::SeqCst) {
                    continue; // dropped: refused
                }
                let upstream = upstream.clone();
                let mut cuts = cuts.clone();
                // Only a cut after this connection was made ends it.
                cuts.borrow_and_update();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cuts.changed() => {}
                    }
                });
            }
        });
        Proxy { port, up, cut }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cut.send_modify(|n| *n += 1);
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// `scheme://user@host:port/db?q` → (`host:port`, the same URL through `127.0.0.1:proxy`).
fn through_proxy(url: &str, proxy: u16) -> (String, String) {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (authority, tail) = rest
        .split_at_checked(rest.find(['/', '?']).unwrap_or(rest.len()))
        .unwrap();
    let (user, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (format!("{u}@"), h),
        None => (String::new(), authority),
    };
    let upstream = if hostport.contains(':') {
        hostport.to_string()
    } else {
        format!("{hostport}:5432")
    };
    (
        upstream,
        format!("{scheme}://{user}127.0.0.1:{proxy}{tail}"),
    )
}

/// Scenario: the database goes away (every connection cut, new ones refused): protected
/// routes, `/health` and logins answer 503, never 200; when it is back the app recovers
/// by itself, and the login made before the outage still holds.
pub async fn database_outage_fails_closed_and_recovers(t: &Target) {
    let storage = t.storage().await;
    let url = storage.database_url.clone().expect("a database target");
    let (upstream, _) = through_proxy(&url, 0);
    let proxy = Proxy::start(upstream).await;
    let (_, proxied) = through_proxy(&url, proxy.port);
    let app = t
        .start_on(
            &Storage {
                redis_namespace: None,
                database_url: Some(proxied),
            },
            &[],
        )
        .await;
    let tok = login_bearer(&app, "alice").await;
    assert_eq!(get(&app, "/me", Some(&bearer(&tok))).await.status(), 200);

    proxy.cut();
    let r = get(&app, "/me", Some(&bearer(&tok))).await;
    assert_eq!(header(&r, "retry-after"), Some("1"));
    problem(r, 503).await;
    problem(get(&app, "/health", None).await, 503).await;
    let r = token_raw(&app, &[("username", "alice"), ("password", "password123")]).await;
    oauth_error(r, 503, "temporarily_unavailable").await;

    proxy.restore();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let status = get(&app, "/me", Some(&bearer(&tok))).await.status();
        if status == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the app did not recover after the database came back ({status})"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(get(&app, "/health", None).await.status(), 200);
}
