#![allow(clippy::indexing_slicing)] // test code: a bad index fails the test

use super::*;

fn totp() -> Totp {
    Totp::new(MfaKey::new(&[9u8; 32]).unwrap(), "Acme")
}

/// RFC 6238 Appendix B, SHA-1 (the last six digits of its eight-digit codes).
#[test]
fn rfc_6238_vectors() {
    let totp = totp();
    let enrolment = totp
        .enrol_with("u1", "ada@example.com", b"12345678901234567890")
        .unwrap();
    for (time, code) in [
        (59, "287082"),
        (1_111_111_109, "081804"),
        (1_111_111_111, "050471"),
        (1_234_567_890, "005924"),
        (2_000_000_000, "279037"),
        (20_000_000_000, "353130"),
    ] {
        assert_eq!(totp.code_at("u1", enrolment.sealed(), time).unwrap(), code);
        assert!(
            totp.verify("u1", enrolment.sealed(), code, time, None)
                .is_ok()
        );
    }
    assert_eq!(enrolment.secret(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
}

#[test]
fn one_step_of_drift_either_way_and_no_more() {
    let totp = totp();
    let e = totp.enrol("u1", "ada").unwrap();
    let now = 1_800_000_015;
    let code = totp.code_at("u1", e.sealed(), now).unwrap();
    let step = now / TOTP_STEP_SECS;
    assert_eq!(
        totp.verify("u1", e.sealed(), &code, now + 30, None),
        Ok(step)
    );
    assert_eq!(
        totp.verify("u1", e.sealed(), &code, now - 30, None),
        Ok(step)
    );
    assert_eq!(
        totp.verify("u1", e.sealed(), &code, now + 60, None),
        Err(MfaError::WrongCode)
    );
}

#[test]
fn a_step_is_accepted_once() {
    let totp = totp();
    let e = totp.enrol("u1", "ada").unwrap();
    let now = 1_800_000_000;
    let code = totp.code_at("u1", e.sealed(), now).unwrap();
    let step = totp.verify("u1", e.sealed(), &code, now, None).unwrap();
    assert_eq!(
        totp.verify("u1", e.sealed(), &code, now + 5, Some(step)),
        Err(MfaError::Replayed)
    );
    // An older code (previous step, still within the drift) is refused as well.
    let older = totp.code_at("u1", e.sealed(), now - 30).unwrap();
    assert_eq!(
        totp.verify("u1", e.sealed(), &older, now, Some(step)),
        Err(MfaError::Replayed)
    );
    // The next step's code is fine.
    let next = totp.code_at("u1", e.sealed(), now + 30).unwrap();
    assert!(
        totp.verify("u1", e.sealed(), &next, now + 30, Some(step))
            .is_ok()
    );
}

#[test]
fn malformed_codes_are_wrong_without_panicking() {
    let totp = totp();
    let e = totp.enrol("u1", "ada").unwrap();
    for code in [
        "",
        "12345",
        "1234567",
        "12345a",
        "１２３４５６",
        "💥💥💥",
        "123 456",
    ] {
        assert_eq!(
            totp.verify("u1", e.sealed(), code, 1_800_000_000, None),
            Err(MfaError::WrongCode),
            "{code:?}"
        );
    }
}

#[test]
fn a_sealed_secret_opens_only_for_its_user_and_key() {
    let totp = totp();
    let e = totp.enrol("u1", "ada").unwrap();
    assert_eq!(
        totp.code_at("u2", e.sealed(), 0),
        Err(MfaError::Unreadable),
        "another user's record"
    );
    let other = Totp::new(MfaKey::new(&[8u8; 32]).unwrap(), "Acme");
    assert_eq!(
        other.code_at("u1", e.sealed(), 0),
        Err(MfaError::Unreadable)
    );
    let tampered = SealedSecret::from_stored(format!("{}A", e.sealed().as_str()));
    assert_eq!(totp.code_at("u1", &tampered, 0), Err(MfaError::Unreadable));
    assert_eq!(
        totp.code_at("u1", &SealedSecret::from_stored("%%%"), 0),
        Err(MfaError::Unreadable)
    );
    // The stored text holds no trace of the secret.
    let secret_b32 = e.secret().to_string();
    assert!(!e.sealed().as_str().contains(&secret_b32));
}

#[test]
fn enrolment_gives_an_otpauth_url_and_hides_secrets_from_debug() {
    let e = totp().enrol("u1", "ada@example.com").unwrap();
    let url = e.otpauth_url();
    assert!(
        url.starts_with("otpauth://totp/Acme:ada%40example.com?"),
        "{url}"
    );
    assert!(url.contains(&format!("secret={}", e.secret())), "{url}");
    assert!(url.contains("issuer=Acme"), "{url}");
    assert_eq!(e.secret().len(), 32, "160 bits in base32");
    for shown in [
        format!("{e:?}"),
        format!("{:?}", e.sealed()),
        format!("{:?}", totp()),
    ] {
        assert!(!shown.contains(e.secret()), "{shown}");
        assert!(!shown.contains(e.sealed().as_str()), "{shown}");
    }
    assert!(matches!(
        totp().enrol("u1", "a:b"),
        Err(MfaError::AccountName(_))
    ));
}

#[test]
fn the_key_is_32_bytes() {
    assert!(matches!(
        MfaKey::new(&[1u8; 16]),
        Err(crate::ConfigError::InvalidMfaKey { got: 16 })
    ));
}

#[test]
fn recovery_codes_are_single_use_digests() {
    let codes = RecoveryCodes::generate();
    assert_eq!(codes.codes().len(), RECOVERY_CODE_COUNT);
    let unique: std::collections::BTreeSet<_> = codes.codes().iter().collect();
    assert_eq!(unique.len(), RECOVERY_CODE_COUNT);
    let first = &codes.codes()[0];
    assert_eq!(first.len(), 11);
    assert_eq!(first.as_bytes()[5], b'-');
    let mut stored = codes.digests().to_vec();
    assert!(
        stored
            .iter()
            .all(|d| !codes.codes().iter().any(|c| d.contains(c.as_str())))
    );
    // As typed: upper case, without the hyphen.
    let typed = first.replace('-', " ").to_uppercase();
    let index = RecoveryCodes::find(&typed, &stored).unwrap();
    assert_eq!(index, 0);
    stored.remove(index);
    assert_eq!(RecoveryCodes::find(first, &stored), None, "spent");
    assert_eq!(RecoveryCodes::find(&"x".repeat(1000), &stored), None);
    assert!(!format!("{codes:?}").contains(first.as_str()));
}
