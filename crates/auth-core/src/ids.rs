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

/// Lower-case hex of `bytes`, without a `format!` per byte (session keys are computed
/// on every cookie request).
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let digit = |n: u8| DIGITS.get(usize::from(n)).copied().unwrap_or(b'0');
    let out: Vec<u8> = bytes
        .iter()
        .flat_map(|b| [digit(b >> 4), digit(b & 0x0f)])
        .collect();
    // Only ASCII digits and letters were written.
    String::from_utf8(out).unwrap_or_default()
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

    #[test]
    fn hex_is_lower_case_two_digits_a_byte() {
        assert_eq!(hex(&[0, 9, 15, 16, 171, 255]), "00090f10abff");
        assert_eq!(hex(&[]), "");
    }
}
