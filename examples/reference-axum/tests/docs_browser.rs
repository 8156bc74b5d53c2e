//! End to end in a real headless browser (Debian's Chromium through chromedriver, driven
//! with fantoccini: `auth_conformance::browser`): open `/docs` (everything it loads comes
//! from the app: no CDN), authorize with alice's password through the OAuth2 password flow, "Try it
//! out" on `GET /me`, and see a 200 with alice's email. The authorized page is saved as
//! `target/e2e/docs-authorized.png`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use auth_conformance::Target;
use auth_conformance::browser::{Browser, Locator};

/// Clicks the element `locator` finds, once it exists.
async fn click(browser: &Browser, locator: Locator<'_>) {
    browser
        .click_when_there(locator)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Types `text` into the element `locator` finds, once it exists.
async fn type_into(browser: &Browser, locator: Locator<'_>, text: &str) {
    let element = browser
        .wait()
        .for_element(locator)
        .await
        .unwrap_or_else(|e| panic!("no element {locator:?}: {e}"));
    element
        .send_keys(text)
        .await
        .unwrap_or_else(|e| panic!("type into {locator:?}: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swagger_ui_authorizes_with_the_password_flow_and_calls_me() {
    let app = Target::memory(env!("CARGO_BIN_EXE_reference-axum"))
        .start()
        .await;
    let browser = Browser::start().await.unwrap();
    browser.goto(&app.url("/docs")).await.unwrap();
    browser
        .wait()
        .for_element(Locator::Css("button.btn.authorize"))
        .await
        .unwrap();
    // Offline: everything the page loaded (scripts, styles, the spec) came from the app.
    let foreign = browser
        .execute(
            "return performance.getEntriesByType('resource').map(e => e.name)\
             .filter(n => !n.startsWith(location.origin + '/'));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(foreign, serde_json::json!([]), "requests to other origins");

    // "Authorize" → the OAuth2 password flow form.
    click(&browser, Locator::Css("button.btn.authorize")).await;
    type_into(&browser, Locator::Css("#oauth_username"), "alice").await;
    type_into(&browser, Locator::Css("#oauth_password"), "password123").await;
    let oauth_box =
        "//input[@id='oauth_username']/ancestor::div[contains(@class,'auth-container')]";
    click(
        &browser,
        Locator::XPath(&format!(
            "{oauth_box}//button[contains(@class,'authorize')]"
        )),
    )
    .await;
    // Authorized: the oauth2 form now shows the user and a Logout button.
    let modal = browser
        .wait_for_text(Locator::Css(".modal-ux-content"), "Logout")
        .await
        .unwrap();
    assert!(!modal.contains("Auth Error"), "{modal}");
    click(&browser, Locator::Css("button.btn-done")).await;

    // GET /me: expand, "Try it out", "Execute".
    let me = "#operations-default-get_me";
    click(
        &browser,
        Locator::Css(&format!("{me} .opblock-summary-control")),
    )
    .await;
    click(&browser, Locator::Css(&format!("{me} .try-out__btn"))).await;
    click(&browser, Locator::Css(&format!("{me} .execute"))).await;
    let status = browser
        .wait_for_text(
            Locator::Css(&format!(
                "{me} .live-responses-table tr.response .response-col_status"
            )),
            "200",
        )
        .await
        .unwrap();
    assert!(status.starts_with("200"), "{status}");
    let body = browser
        .wait_for_text(
            Locator::Css(&format!(
                "{me} .live-responses-table tr.response .response-col_description"
            )),
            "alice@example.com",
        )
        .await
        .unwrap();
    assert!(body.contains("\"roles\""), "{body}");

    browser
        .execute(
            "document.querySelector(arguments[0]).scrollIntoView({block: 'center'});",
            vec![serde_json::json!(format!(
                "{me} .live-responses-table tr.response"
            ))],
        )
        .await
        .unwrap();
    let png = browser.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("../e2e");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("docs-authorized.png");
    std::fs::write(&path, &png).unwrap();
    println!("screenshot: {}", path.display());
    browser.quit().await.unwrap();
}
