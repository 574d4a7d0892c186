//! Document IDs (wire spec §3.1): the `_id` strings clients see, such as
//! `j57000820c20a1g7104gm2rc1m70ynr8`.
//!
//! Binary form: `vint(table_number) ‖ internal_id[16] ‖ footer[2]`, where the vint is
//! LEB128 (7 bits a byte, least significant first, 1..=5 bytes) and the footer is the
//! Fletcher-16 checksum of the preceding bytes XOR the format version (0), little-endian.
//! Text form: lowercase Crockford base32 of those 19..=23 bytes, big-endian bits within
//! each 5-byte group, unpadded, so 31, 32, 34, 36 or 37 characters.
//!
//! Decoding is strict: a string decodes only if encoding the result gives the same string,
//! so every ID has exactly one spelling (Convex's Rust decoder behaves the same; its JS
//! decoder is more lenient).

use std::fmt;
use std::str::FromStr;

use hull_errors::{Error, Result};
use rand::RngCore;

use crate::tags;

/// Crockford's base32 alphabet, lowercase: no `i`, `l`, `o` or `u`.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// Byte -> 5-bit value of [`ALPHABET`], `INVALID_CHAR` elsewhere: ID decoding is on the hot
/// path of every `db.get`, so a table lookup replaces scanning the alphabet.
const DECODE: [u8; 256] = {
    let mut table = [INVALID_CHAR; 256];
    let mut i = 0;
    while i < ALPHABET.len() {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};
const INVALID_CHAR: u8 = 0xFF;
/// The footer is XORed with this, so a future format can be told apart.
const ID_VERSION: u16 = 0;
/// A u32 needs at most five 7-bit groups.
const VINT_MAX_LEN: usize = 5;
const INTERNAL_ID_LEN: usize = 16;
const FOOTER_LEN: usize = 2;
/// Shortest (1-byte vint) and longest (5-byte vint) binary forms.
const BINARY_LEN_MIN: usize = 1 + INTERNAL_ID_LEN + FOOTER_LEN;
const BINARY_LEN_MAX: usize = VINT_MAX_LEN + INTERNAL_ID_LEN + FOOTER_LEN;
/// Shortest and longest text forms (19 and 23 bytes in base32).
pub const ID_STRING_LEN_MIN: usize = 31;
/// See [`ID_STRING_LEN_MIN`].
pub const ID_STRING_LEN_MAX: usize = 37;

const _: () = assert!(base32_len(BINARY_LEN_MIN) == ID_STRING_LEN_MIN);
const _: () = assert!(base32_len(BINARY_LEN_MAX) == ID_STRING_LEN_MAX);

/// A document's identity: the number of its table and 16 bytes unique within that table.
///
/// Derived `Ord` (table number, then internal id) is *not* the order of the ID strings,
/// which is what indexes use (`_id` is indexed as its string form).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocumentId {
    /// The table's number; 0 is never a table. User tables start at 10001.
    pub table_number: u32,
    /// 14 random bytes and a 2-byte day number, see [`new_internal_id`].
    pub internal_id: [u8; 16],
}

impl DocumentId {
    /// An ID; `table_number` must not be 0.
    pub fn new(table_number: u32, internal_id: [u8; 16]) -> DocumentId {
        debug_assert_ne!(table_number, 0, "table number 0 is not a table");
        DocumentId {
            table_number,
            internal_id,
        }
    }

    /// The string form.
    pub fn encode(&self) -> String {
        debug_assert_ne!(self.table_number, 0, "table number 0 is not a table");
        base32_encode(&self.to_binary())
    }

    /// Parses the string form, rejecting every string that [`encode`](Self::encode) could
    /// not have produced.
    pub fn decode(s: &str) -> Result<DocumentId> {
        let invalid = |reason: String| Err(invalid_id(s, &reason));
        let len = s.len();
        if !(ID_STRING_LEN_MIN..=ID_STRING_LEN_MAX).contains(&len) {
            return invalid(format!(
                "length {len} is not between {ID_STRING_LEN_MIN} and {ID_STRING_LEN_MAX}"
            ));
        }
        if let Some(bad) = s
            .chars()
            .find(|c| !c.is_ascii() || DECODE[*c as usize] == INVALID_CHAR)
        {
            return invalid(format!(
                "invalid character '{}': IDs use only lowercase Crockford base32 \
                 (0-9 and a-z without i, l, o, u)",
                bad.escape_debug()
            ));
        }
        let bytes = base32_decode(s).map_err(|reason| invalid_id(s, &reason))?;
        let (table_number, vint_len) =
            read_vint(&bytes).map_err(|reason| invalid_id(s, &reason))?;
        if table_number == 0 {
            return invalid("table number 0 is not a table".to_string());
        }
        let rest = &bytes[vint_len..];
        if rest.len() != INTERNAL_ID_LEN + FOOTER_LEN {
            return invalid(format!(
                "{} bytes follow the table number, expected {}",
                rest.len(),
                INTERNAL_ID_LEN + FOOTER_LEN
            ));
        }
        let (body, footer) = bytes.split_at(bytes.len() - FOOTER_LEN);
        let expected = fletcher16(body) ^ ID_VERSION;
        let found = u16::from_le_bytes([footer[0], footer[1]]);
        if found != expected {
            return invalid(format!(
                "checksum mismatch (found {found:#06x}, expected {expected:#06x})"
            ));
        }
        let mut internal_id = [0u8; INTERNAL_ID_LEN];
        internal_id.copy_from_slice(&rest[..INTERNAL_ID_LEN]);
        let id = DocumentId {
            table_number,
            internal_id,
        };
        // The checks above should make this redundant; it is the definition of canonical,
        // so it stays as the final word rather than an assumption.
        if id.encode() != s {
            return invalid("not in canonical form".to_string());
        }
        Ok(id)
    }

    fn to_binary(self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(BINARY_LEN_MAX);
        let mut rest = self.table_number;
        loop {
            let group = (rest & 0x7F) as u8;
            rest >>= 7;
            if rest == 0 {
                bytes.push(group);
                break;
            }
            bytes.push(group | 0x80);
        }
        bytes.extend_from_slice(&self.internal_id);
        let footer = fletcher16(&bytes) ^ ID_VERSION;
        bytes.extend_from_slice(&footer.to_le_bytes());
        bytes
    }
}

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}

impl FromStr for DocumentId {
    type Err = Error;

    fn from_str(s: &str) -> Result<DocumentId> {
        DocumentId::decode(s)
    }
}

/// A fresh internal id: 14 random bytes, then `unix_days` (days since 1970-01-01) as 2
/// big-endian bytes, as Convex's `transaction_id_generator.rs` lays them out. The day suffix
/// is what keeps IDs minted on the same day close together in storage.
pub fn new_internal_id(rng: &mut impl RngCore, unix_days: u16) -> [u8; 16] {
    let mut id = [0u8; INTERNAL_ID_LEN];
    rng.fill_bytes(&mut id[..INTERNAL_ID_LEN - 2]);
    id[INTERNAL_ID_LEN - 2..].copy_from_slice(&unix_days.to_be_bytes());
    id
}

fn invalid_id(s: &str, reason: &str) -> Error {
    // Quote at most a little more than the longest ID, so garbage input stays readable.
    let quoted: String = s.chars().take(ID_STRING_LEN_MAX + 3).collect();
    let ellipsis = if quoted.len() < s.len() { "..." } else { "" };
    Error::bad_request(
        tags::INVALID_ID,
        format!(
            "Invalid ID \"{}{ellipsis}\": {reason}",
            quoted.escape_debug()
        ),
    )
}

/// Fletcher-16 with modulus 256 (both sums wrap as u8), `(c1 << 8) | c0`.
fn fletcher16(bytes: &[u8]) -> u16 {
    let (mut c0, mut c1) = (0u8, 0u8);
    for &byte in bytes {
        c0 = c0.wrapping_add(byte);
        c1 = c1.wrapping_add(c0);
    }
    (u16::from(c1) << 8) | u16::from(c0)
}

/// Reads the LEB128 table number; returns it and its length in bytes. Rejects vints longer
/// than 5 bytes, values above `u32::MAX`, and overlong forms (a zero final group).
fn read_vint(bytes: &[u8]) -> std::result::Result<(u32, usize), String> {
    let mut value = 0u32;
    for (i, &byte) in bytes.iter().enumerate().take(VINT_MAX_LEN) {
        let group = u32::from(byte & 0x7F);
        // The fifth group holds only the top 4 bits of a u32 and must end the vint.
        if i == VINT_MAX_LEN - 1 && byte > 0x0F {
            return Err("table number does not fit in 32 bits".to_string());
        }
        value |= group << (7 * i);
        if byte & 0x80 == 0 {
            if i > 0 && byte == 0 {
                return Err("table number has an overlong encoding".to_string());
            }
            return Ok((value, i + 1));
        }
    }
    Err("table number is truncated".to_string())
}

/// Characters of base32 for `len` bytes: 8 per full 5-byte group, and 2/4/5/7 for a final
/// group of 1/2/3/4 bytes (no padding).
const fn base32_len(len: usize) -> usize {
    (len * 8).div_ceil(5)
}

fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(base32_len(bytes.len()));
    for chunk in bytes.chunks(5) {
        let mut group = [0u8; 8];
        group[3..3 + chunk.len()].copy_from_slice(chunk);
        let bits = u64::from_be_bytes(group);
        for i in 0..base32_len(chunk.len()) {
            let index = (bits >> (35 - 5 * i)) & 0x1F;
            out.push(char::from(ALPHABET[index as usize]));
        }
    }
    out
}

/// Decodes base32 text already checked to use only [`ALPHABET`] characters.
fn base32_decode(s: &str) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len() * 5 / 8);
    for chunk in s.as_bytes().chunks(8) {
        let byte_len = chunk.len() * 5 / 8;
        if base32_len(byte_len) != chunk.len() {
            return Err(format!("length {} is not the length of any ID", s.len()));
        }
        let mut bits = 0u64;
        for (i, &c) in chunk.iter().enumerate() {
            let value = DECODE[c as usize];
            if value == INVALID_CHAR {
                return Err("invalid character".to_string());
            }
            bits |= (value as u64) << (35 - 5 * i);
        }
        let be = bits.to_be_bytes();
        // Bits past the last whole byte are padding; canonical encodings leave them zero.
        if be[3 + byte_len..].iter().any(|&b| b != 0) {
            return Err("not in canonical form (nonzero padding bits)".to_string());
        }
        out.extend_from_slice(&be[3..3 + byte_len]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sequential() -> [u8; 16] {
        std::array::from_fn(|i| i as u8)
    }

    #[test]
    fn spec_examples() {
        for (table_number, text) in [
            (10001, "j57000820c20a1g7104gm2rc1m70ynr8"),
            (1, "040020g30g2gc1r81450p30d1r7qke8"),
        ] {
            let id = DocumentId::new(table_number, sequential());
            assert_eq!(id.encode(), text);
            assert_eq!(id.to_string(), text);
            assert_eq!(DocumentId::decode(text).unwrap(), id);
        }
    }

    #[test]
    fn string_lengths_follow_vint_length() {
        for (table_number, len) in [
            (1, 31),
            (127, 31),
            (128, 32),
            (16383, 32),
            (16384, 34),
            (1 << 21, 36),
            (1 << 28, 37),
            (u32::MAX, 37),
        ] {
            let text = DocumentId::new(table_number, [0xAB; 16]).encode();
            assert_eq!(text.len(), len, "{table_number}");
            assert_eq!(
                DocumentId::decode(&text).unwrap().table_number,
                table_number
            );
        }
    }

    #[test]
    fn internal_id_ends_with_the_day() {
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(7);
        let id = new_internal_id(&mut rng, 0x4A3B);
        assert_eq!(id[14..], [0x4A, 0x3B]);
    }

    #[test]
    fn vint_edge_cases() {
        assert_eq!(
            read_vint(&[0x81, 0x00]),
            Err("table number has an overlong encoding".to_string())
        );
        assert_eq!(
            read_vint(&[0xFF, 0xFF, 0xFF, 0xFF, 0x0F]),
            Ok((u32::MAX, 5))
        );
        assert!(read_vint(&[0xFF, 0xFF, 0xFF, 0xFF, 0x10]).is_err());
        assert!(read_vint(&[0x80; 6]).is_err());
        assert!(read_vint(&[0x80]).is_err());
    }
}
