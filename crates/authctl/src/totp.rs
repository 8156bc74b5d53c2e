//! `authctl totp qr`: an enrolment's `otpauth://` URL as a QR code in the terminal, for an
//! authenticator app to scan.

use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;

use crate::{Fail, Outcome};

/// The longest URL accepted: an enrolment URL is a few hundred bytes.
const MAX_URL_BYTES: usize = 2048;

/// Checks `url` as a TOTP enrolment URL and prints it as a QR code (two modules per
/// character cell, dark on light, with the quiet zone scanners need), then what it holds.
pub fn qr(url: &str) -> Outcome {
    let url = url.trim();
    if url.len() > MAX_URL_BYTES {
        return Err(Fail(format!(
            "the URL is {} bytes; an otpauth URL is at most {MAX_URL_BYTES}",
            url.len()
        )));
    }
    if !url.starts_with("otpauth://totp/") {
        return Err(Fail(
            "not a TOTP enrolment URL: it must start with `otpauth://totp/` (the `otpauth_url` of POST /mfa/totp/enroll)".into(),
        ));
    }
    let totp = totp_rs::Totp::from_url_unchecked(url)
        .map_err(|e| Fail(format!("the otpauth URL cannot be read: {e}")))?;
    let code = QrCode::new(url.as_bytes())
        .map_err(|e| Fail(format!("the URL does not fit in a QR code: {e}")))?;
    let picture = code
        .render::<Dense1x2>()
        .dark_color(Dense1x2::Light)
        .light_color(Dense1x2::Dark)
        .quiet_zone(true)
        .build();
    println!("{picture}");
    let issuer = totp.issuer().unwrap_or("(none)");
    println!("issuer: {issuer}");
    println!("account: {}", totp.account_name());
    println!(
        "{} digits, every {} s, {}",
        totp.digits(),
        totp.step(),
        totp.algorithm()
    );
    Ok(true)
}
