//! Random identifiers from the operating system's CSPRNG (through `rand`'s thread RNG,
//! a ChaCha generator seeded and periodically reseeded from the OS).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// `N` random bytes, base64url-encoded without padding (URL- and cookie-safe).
pub(crate) fn random_b64<const N: usize>() -> String {
    let mut bytes = [0u8; N];
    rand::fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A 128-bit random identifier, used for `jti` and `sid`.
pub(crate) fn new_id() -> String {
    random_b64::<16>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_128_bit_and_url_safe() {
        let id = new_id();
        assert_eq!(
            id.len(),
            22,
            "16 bytes in unpadded base64url are 22 characters"
        );
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_ne!(new_id(), new_id());
    }
}
