//! Field-name rules and the stored-document checks (wire spec §2.2–2.3).

use hull_values::{
    DocumentId, MAX_DOCUMENT_NESTING, MAX_USER_DOCUMENT_SIZE, Object, Value, check_field_name,
    check_user_document, check_value, tags,
};

fn doc(fields: Vec<(&str, Value)>) -> Object {
    fields
        .into_iter()
        .map(|(name, value)| (name.to_string(), value))
        .collect()
}

/// Checks `doc`, expecting an error with `tag` whose message contains `message`.
fn check_rejected(doc: &Object, tag: &str, message: &str) {
    let error = check_user_document(doc).expect_err("must be rejected");
    assert_eq!(error.short, tag, "{}", error.message);
    assert!(
        error.message.contains(message),
        "{:?} lacks {message:?}",
        error.message
    );
}

fn system_fields() -> Vec<(&'static str, Value)> {
    let id = DocumentId::new(10001, [7; 16]);
    vec![
        ("_id", Value::String(id.encode())),
        ("_creationTime", Value::Float64(1_700_000_000_000.5)),
    ]
}

#[test]
fn field_name_rules() {
    for ok in ["", "a", "_a", " ", "~", "a b", &"z".repeat(1024)] {
        assert!(check_field_name(ok).is_ok(), "{ok:?}");
    }
    for bad in ["$", "$a", "\u{1}", "a\nb", "\u{7f}", "ü", &"z".repeat(1025)] {
        assert_eq!(
            check_field_name(bad).unwrap_err().short,
            tags::INVALID_FIELD_NAME,
            "{bad:?}"
        );
    }
}

#[test]
fn system_fields_are_allowed_and_other_underscores_are_not() {
    let mut fields = system_fields();
    fields.push((
        "body",
        Value::Object(doc(vec![("_nested_is_fine", Value::Null)])),
    ));
    assert!(check_user_document(&doc(fields)).is_ok());
    check_rejected(
        &doc(vec![("_foo", Value::Null)]),
        tags::INVALID_OBJECT_FIELD,
        "Field '_foo' starts with an underscore, which is only allowed for system fields like '_id'",
    );
}

#[test]
fn system_fields_must_have_their_types() {
    check_rejected(
        &doc(vec![("_id", Value::Int64(1))]),
        tags::INVALID_SYSTEM_FIELD,
        "must be a string, not int64",
    );
    check_rejected(
        &doc(vec![("_id", Value::from("nope"))]),
        tags::INVALID_SYSTEM_FIELD,
        "not a document ID",
    );
    check_rejected(
        &doc(vec![("_creationTime", Value::Int64(1))]),
        tags::INVALID_SYSTEM_FIELD,
        "must be a float64",
    );
    check_rejected(
        &doc(vec![("_creationTime", Value::Float64(0.0))]),
        tags::INVALID_SYSTEM_FIELD,
        "greater than 0",
    );
    check_rejected(
        &doc(vec![("_creationTime", Value::Float64(f64::NAN))]),
        tags::INVALID_SYSTEM_FIELD,
        "2^53",
    );
}

#[test]
fn document_size_counts_system_fields() {
    // {"_id": .., "_creationTime": .., "a": "xx..."}: pad "a" so the total is exactly the limit.
    let base = doc(system_fields());
    let without_a = Value::Object(base.clone()).size();
    let padding = MAX_USER_DOCUMENT_SIZE - without_a - ("a".len() + 1) - 2;
    let mut at_limit = base.clone();
    at_limit.insert("a".to_string(), Value::String("x".repeat(padding)));
    assert_eq!(
        Value::Object(at_limit.clone()).size(),
        MAX_USER_DOCUMENT_SIZE
    );
    assert!(check_user_document(&at_limit).is_ok());
    let mut over = base;
    over.insert("a".to_string(), Value::String("x".repeat(padding + 1)));
    check_rejected(
        &over,
        tags::VALUE_TOO_LARGE,
        "Document is too large (1048577 bytes > maximum size 1048576 bytes)",
    );
}

fn nested_document(nesting: usize) -> Object {
    // The document itself is one level; the rest are arrays.
    let inner = (1..nesting).fold(Value::Null, |inner, _| Value::Array(vec![inner]));
    doc(vec![("a", inner)])
}

#[test]
fn document_nesting_is_limited() {
    assert_eq!(
        Value::Object(nested_document(MAX_DOCUMENT_NESTING)).nesting(),
        MAX_DOCUMENT_NESTING
    );
    assert!(check_user_document(&nested_document(MAX_DOCUMENT_NESTING)).is_ok());
    check_rejected(
        &nested_document(17),
        tags::TOO_NESTED,
        "nested 17 levels deep > maximum nesting 16",
    );
}

#[test]
fn documents_get_the_generic_checks_too() {
    check_rejected(
        &doc(vec![(
            "ok",
            Value::Object(doc(vec![("$bad", Value::Null)])),
        )]),
        tags::INVALID_FIELD_NAME,
        "'$bad'",
    );
    let long = Value::Array(vec![Value::Null; 8193]);
    check_rejected(
        &doc(vec![("a", long)]),
        tags::ARRAY_TOO_LONG,
        "8193 > maximum length 8192",
    );
}

#[test]
fn check_value_bounds_values_built_in_rust() {
    assert!(check_value(&Value::Object(nested_document(64))).is_ok());
    let too_deep = Value::Object(nested_document(65));
    let error = check_value(&too_deep).unwrap_err();
    assert_eq!(error.short, tags::TOO_NESTED);
    assert!(
        error
            .message
            .contains("nested 65 levels deep > maximum nesting 64"),
        "{}",
        error.message
    );
    let error = check_value(&Value::Object(doc(vec![("\0", Value::Null)]))).unwrap_err();
    assert_eq!(error.short, tags::INVALID_FIELD_NAME);
}
