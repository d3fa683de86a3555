//! Digests and random names as lower-case hex: module digests (sha256),
//! decision ids, generated sandbox ids.

use sha2::{Digest, Sha256};

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut text, byte| {
            // Writing to a String cannot fail.
            let _ = write!(text, "{byte:02x}");
            text
        })
}

/// The sha256 of `bytes`, in lower-case hex (64 digits).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// The length of a sha256 in bytes.
pub const SHA256_LEN: usize = 32;

/// The bytes of a sha256 written as 64 lower-case hex digits; `None` for
/// anything else (upper case, signs, another length).
pub fn parse_sha256_hex(text: &str) -> Option<[u8; SHA256_LEN]> {
    fn digit(byte: u8) -> Option<u8> {
        match byte {
            b'0'..=b'9' => Some(byte - b'0'),
            b'a'..=b'f' => Some(byte - b'a' + 10),
            _ => None,
        }
    }
    if text.len() != 2 * SHA256_LEN {
        return None;
    }
    let mut bytes = [0u8; SHA256_LEN];
    for (byte, pair) in bytes.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
        *byte = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_two_lower_case_digits_per_byte() {
        assert_eq!(hex(&[]), "");
        assert_eq!(hex(&[0, 1, 0xab, 0xff]), "0001abff");
    }

    #[test]
    fn a_sha256_hex_round_trips_and_nothing_else_parses() {
        let digest = sha256_hex(b"abc");
        let bytes = parse_sha256_hex(&digest).expect("parses");
        assert_eq!(hex(&bytes), digest);
        let upper = digest.to_uppercase();
        let signed = format!("+a{}", &digest[2..]);
        let short = &digest[..62];
        let long = format!("{digest}00");
        let odd = format!("{}g", &digest[..63]);
        for bad in [upper.as_str(), &signed, short, &long, &odd, ""] {
            assert_eq!(parse_sha256_hex(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn sha256_of_known_inputs() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
