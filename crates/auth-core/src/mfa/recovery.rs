//! Recovery codes: single-use codes for a user who lost the authenticator, shown once and
//! stored only as digests.

use std::fmt;

use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// How many recovery codes an enrolment gets.
pub const RECOVERY_CODE_COUNT: usize = 10;

/// The alphabet of a code: lower-case letters and digits without the look-alikes
/// (`0`/`o`, `1`/`l`/`i`), 31 symbols.
const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
/// Symbols per code, shown as two groups of five (`xxxxx-xxxxx`): about 50 bits each.
const SYMBOLS: usize = 10;

/// Ten fresh recovery codes: [`codes`](Self::codes) to show the user once,
/// [`digests`](Self::digests) to store.
pub struct RecoveryCodes {
    codes: Vec<String>,
    digests: Vec<String>,
}

impl fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecoveryCodes")
            .field("count", &self.codes.len())
            .finish_non_exhaustive()
    }
}

impl RecoveryCodes {
    /// [`RECOVERY_CODE_COUNT`] new codes from the OS-seeded CSPRNG.
    pub fn generate() -> Self {
        let codes: Vec<String> = (0..RECOVERY_CODE_COUNT).map(|_| new_code()).collect();
        let digests = codes.iter().map(|c| Self::digest(c)).collect();
        Self { codes, digests }
    }

    /// The codes, to show once (`xxxxx-xxxxx`).
    pub fn codes(&self) -> &[String] {
        &self.codes
    }

    /// Their digests, to store (hex SHA-256 of the normalised code).
    pub fn digests(&self) -> &[String] {
        &self.digests
    }

    /// The digest of a code as a user types it: case, spaces and hyphens do not matter.
    pub fn digest(code: &str) -> String {
        let normalised: String = code
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .flat_map(char::to_lowercase)
            .collect();
        let digest = Sha256::digest(normalised.as_bytes());
        crate::ids::hex(&digest)
    }

    /// The index in `stored` of the digest of `code`, comparing with every stored digest
    /// in constant time (spend it: remove it from the store in the same atomic step).
    pub fn find(code: &str, stored: &[String]) -> Option<usize> {
        // A typed code is short; anything long is not one (bounded work).
        if code.len() > 64 {
            return None;
        }
        let digest = Self::digest(code);
        let mut found = None;
        for (index, candidate) in stored.iter().enumerate() {
            if bool::from(candidate.as_bytes().ct_eq(digest.as_bytes())) && found.is_none() {
                found = Some(index);
            }
        }
        found
    }
}

fn new_code() -> String {
    let mut code = String::with_capacity(SYMBOLS + 1);
    let mut count = 0;
    while count < SYMBOLS {
        let mut byte = [0u8; 1];
        rand::fill(&mut byte);
        // Rejection sampling keeps every symbol equally likely (248 = 8 × 31).
        if byte[0] >= 248 {
            continue;
        }
        if count == SYMBOLS / 2 {
            code.push('-');
        }
        let symbol = ALPHABET.get(usize::from(byte[0]) % ALPHABET.len()).copied();
        code.push(char::from(symbol.unwrap_or(b'a')));
        count += 1;
    }
    code
}
