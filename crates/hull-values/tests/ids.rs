//! Document IDs (wire spec §3.1): the spec's examples, the generated fixture, rejections.

use hull_values::{DocumentId, tags};
use serde_json::Value as Json;

fn sequential() -> [u8; 16] {
    std::array::from_fn(|i| i as u8)
}

fn hex16(hex: &str) -> [u8; 16] {
    assert_eq!(hex.len(), 32, "{hex}");
    std::array::from_fn(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
}

/// Decodes `text`, expecting an `InvalidId` error whose message contains `message`.
fn check_rejected(text: &str, message: &str) {
    let error = DocumentId::decode(text).expect_err(text);
    assert_eq!(error.short, tags::INVALID_ID, "{}", error.message);
    assert!(
        error.message.contains(message),
        "{text}: {:?} lacks {message:?}",
        error.message
    );
}

/// Replaces the character at `index` with `replacement`.
fn with_char(text: &str, index: usize, replacement: char) -> String {
    text.chars()
        .enumerate()
        .map(|(i, c)| if i == index { replacement } else { c })
        .collect()
}

#[test]
fn spec_examples_both_directions() {
    let cases = [
        (10001, "j57000820c20a1g7104gm2rc1m70ynr8"),
        (1, "040020g30g2gc1r81450p30d1r7qke8"),
    ];
    for (table_number, text) in cases {
        let id = DocumentId {
            table_number,
            internal_id: sequential(),
        };
        assert_eq!(id.encode(), text);
        assert_eq!(text.parse::<DocumentId>().unwrap(), id);
    }
}

#[test]
fn generated_fixture_both_directions() {
    let fixture: Json =
        serde_json::from_str(include_str!("fixtures/id_vectors.json")).expect("fixture is JSON");
    let vectors = fixture["vectors"].as_array().expect("vectors");
    assert!(vectors.len() >= 40, "fixture looks truncated");
    let mut lengths = std::collections::BTreeSet::new();
    for vector in vectors {
        let table_number = u32::try_from(vector["table_number"].as_u64().unwrap()).unwrap();
        let internal_id = hex16(vector["internal_id_hex"].as_str().unwrap());
        let text = vector["id"].as_str().unwrap();
        let id = DocumentId {
            table_number,
            internal_id,
        };
        assert_eq!(id.encode(), text, "encode {table_number}");
        assert_eq!(DocumentId::decode(text).unwrap(), id, "decode {text}");
        lengths.insert(text.len());
    }
    // Every vint size, so every possible ID length, is covered.
    assert_eq!(
        lengths.into_iter().collect::<Vec<_>>(),
        [31, 32, 34, 36, 37]
    );
}

#[test]
fn rejects_bad_lengths_and_characters() {
    let valid = "j57000820c20a1g7104gm2rc1m70ynr8";
    check_rejected("", "length 0 is not between 31 and 37");
    check_rejected(&valid[..30], "length 30");
    check_rejected(&format!("{valid}000000"), "length 38");
    check_rejected(
        &format!("{valid}0"),
        "length 33 is not the length of any ID",
    );
    check_rejected(&valid.to_uppercase(), "invalid character 'J'");
    for letter in ['i', 'l', 'o', 'u'] {
        check_rejected(
            &with_char(valid, 3, letter),
            &format!("invalid character '{letter}'"),
        );
    }
    // 31 bytes, but not 31 characters of the alphabet.
    check_rejected(&format!("{}é", &valid[..29]), "invalid character 'é'");
}

#[test]
fn rejects_table_zero() {
    // Well-formed apart from the table number, so that rule is what rejects it.
    let zero = forge(&[0x00], &sequential());
    check_rejected(&zero, "table number 0 is not a table");
}

#[test]
fn rejects_checksum_mismatch() {
    let valid = "j57000820c20a1g7104gm2rc1m70ynr8";
    let flipped = with_char(valid, 10, if &valid[10..11] == "a" { 'b' } else { 'a' });
    check_rejected(&flipped, "checksum mismatch");
}

#[test]
fn rejects_nonzero_padding_bits() {
    // 31 characters = 19 bytes: the last character carries 3 padding bits.
    let valid = "040020g30g2gc1r81450p30d1r7qke8";
    check_rejected(
        &with_char(valid, 30, '9'),
        "not in canonical form (nonzero padding bits)",
    );
}

#[test]
fn rejects_overlong_and_oversized_vints() {
    // Table 1 written as two vint bytes.
    check_rejected(&forge(&[0x81, 0x00], &sequential()), "overlong");
    // Six-byte vints would be 24 bytes, an impossible length, so the largest case is a
    // five-byte vint that overflows u32.
    check_rejected(
        &forge(&[0xFF, 0xFF, 0xFF, 0xFF, 0x1F], &sequential()),
        "does not fit in 32 bits",
    );
    check_rejected(
        &forge(&[0xFF, 0xFF, 0xFF, 0xFF, 0x8F], &sequential()),
        "does not fit in 32 bits",
    );
}

#[test]
fn rejects_leftover_bytes() {
    // A 1-byte vint in a 20-byte string: one byte too many after the table number.
    let mut body = vec![0x05];
    body.extend_from_slice(&sequential());
    body.push(0xAA);
    check_rejected(
        &forge_raw(&body),
        "19 bytes follow the table number, expected 18",
    );
}

/// An ID string for arbitrary vint bytes, with a correct checksum.
fn forge(vint: &[u8], internal_id: &[u8; 16]) -> String {
    forge_raw(&[vint, internal_id].concat())
}

/// Base32 of `body ‖ fletcher16(body)`, written independently of the crate's encoder.
fn forge_raw(body: &[u8]) -> String {
    let (mut c0, mut c1) = (0u8, 0u8);
    for &b in body {
        c0 = c0.wrapping_add(b);
        c1 = c1.wrapping_add(c0);
    }
    let bytes = [body, &[c0, c1]].concat();
    let mut bits: String = bytes.iter().map(|b| format!("{b:08b}")).collect();
    while !bits.len().is_multiple_of(5) {
        bits.push('0');
    }
    let alphabet = b"0123456789abcdefghjkmnpqrstvwxyz";
    bits.as_bytes()
        .chunks(5)
        .map(|chunk| {
            let index = usize::from_str_radix(std::str::from_utf8(chunk).unwrap(), 2).unwrap();
            char::from(alphabet[index])
        })
        .collect()
}

#[test]
fn forge_agrees_with_the_encoder() {
    let id = DocumentId {
        table_number: 10001,
        internal_id: sequential(),
    };
    assert_eq!(forge(&[0x91, 0x4E], &sequential()), id.encode());
}
