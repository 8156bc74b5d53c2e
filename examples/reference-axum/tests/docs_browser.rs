//! End to end in a real headless browser (Debian's Chromium through chromedriver): open
//! `/docs`, authorize with alice's password through the OAuth2 password flow, "Try it
//! out" on `GET /me`, and see a 200 with alice's email. The authorized page is saved as
//! `target/e2e/docs-authorized.png`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use auth_conformance::Target;
use auth_conformance::webdriver::{Browser, By};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swagger_ui_authorizes_with_the_password_flow_and_calls_me() {
    let app = Target::memory(env!("CARGO_BIN_EXE_reference-axum"))
        .start()
        .await;
    let browser = Browser::start().await;
    browser.goto(&app.url("/docs")).await;

    // "Authorize" → the OAuth2 password flow form.
    browser.click(By::Css("button.btn.authorize")).await;
    browser.type_into(By::Css("#oauth_username"), "alice").await;
    browser
        .type_into(By::Css("#oauth_password"), "password123")
        .await;
    let oauth_box =
        "//input[@id='oauth_username']/ancestor::div[contains(@class,'auth-container')]";
    browser
        .click(By::XPath(&format!(
            "{oauth_box}//button[contains(@class,'authorize')]"
        )))
        .await;
    // Authorized: the oauth2 form now shows the user and a Logout button.
    let modal = browser
        .wait_for_text(By::Css(".modal-ux-content"), "Logout")
        .await;
    assert!(!modal.contains("Auth Error"), "{modal}");
    browser.click(By::Css("button.btn-done")).await;

    // GET /me: expand, "Try it out", "Execute".
    let me = "#operations-default-get_me";
    browser
        .click(By::Css(&format!("{me} .opblock-summary-control")))
        .await;
    browser.click(By::Css(&format!("{me} .try-out__btn"))).await;
    browser.click(By::Css(&format!("{me} .execute"))).await;
    let status = browser
        .wait_for_text(
            By::Css(&format!(
                "{me} .live-responses-table tr.response .response-col_status"
            )),
            "200",
        )
        .await;
    assert!(status.starts_with("200"), "{status}");
    let body = browser
        .wait_for_text(
            By::Css(&format!(
                "{me} .live-responses-table tr.response .response-col_description"
            )),
            "alice@example.com",
        )
        .await;
    assert!(body.contains("\"roles\""), "{body}");

    browser
        .scroll_to(&format!("{me} .live-responses-table tr.response"))
        .await;
    let png = browser.screenshot().await;
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("../e2e");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("docs-authorized.png");
    std::fs::write(&path, &png).unwrap();
    println!("screenshot: {}", path.display());
    browser.quit().await;
}
