//! Document IDs (`hull_values::DocumentId::decode`): never panics; strict (an accepted string
//! is exactly the encoding of the ID it decodes to); and any (table number, internal id)
//! encodes to a string of legal length that decodes back to it.
#![no_main]

use hull_values::{DocumentId, ID_STRING_LEN_MAX, ID_STRING_LEN_MIN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(text) = hull_fuzz::text(data)
        && let Ok(id) = DocumentId::decode(text)
    {
        assert_eq!(
            id.encode(),
            text,
            "DocumentId::decode accepted a non-canonical string"
        );
    }
    if data.len() >= 20 {
        let table_number = u32::from_le_bytes(data[..4].try_into().unwrap());
        if table_number != 0 {
            let id = DocumentId::new(table_number, data[4..20].try_into().unwrap());
            let encoded = id.encode();
            assert!((ID_STRING_LEN_MIN..=ID_STRING_LEN_MAX).contains(&encoded.len()));
            assert_eq!(
                DocumentId::decode(&encoded).expect("encode produced an undecodable ID"),
                id
            );
        }
    }
});
