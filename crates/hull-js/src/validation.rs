//! Argument and return validation, done in Rust before and after user code runs, with the
//! error texts Convex produces.
//!
//! Texts (observed from Convex deployments, see the crate README notes):
//! - `ArgumentValidationError: Value does not match validator.\nPath: .jobId\nValue: "x"\nValidator: v.id("jobs")`
//! - `ArgumentValidationError: Object contains extra field `f` that is not in the validator.\n\nObject: {a: 1, f: 2}\nValidator: v.object({a: v.float64()})`
//! - `ArgumentValidationError: Object is missing the required field `f`. Consider wrapping the field validator in `v.optional(...)` if this is expected.\n\nObject: {}\nValidator: v.object({f: v.string()})`
//!
//! The `Path:` line is empty for the top-level object. Values print JavaScript-style: strings
//! JSON-quoted, object keys bare, bigints with an `n` suffix. The checking itself is
//! `hull_db::schema::Validator::check`, shared with schema validation of documents.

use hull_db::schema::Validator;
pub use hull_db::schema::{display_value, format_number};
use hull_values::Value;

/// What `exportArgs()` / `exportReturns()` declared, parsed.
#[derive(Clone, Debug, PartialEq)]
pub enum Declared {
    /// No validator (`returns` absent, or legacy functions without `args`).
    Unvalidated,
    /// A validator.
    Validator(Validator),
}

/// Looks up a table's number by name (for `v.id` checks).
pub type TableLookup<'a> = &'a dyn Fn(&str) -> Option<u32>;

/// Checks a function's arguments: exactly one argument, an object, matching `declared`.
/// Returns the error message (without the `ArgumentValidationError: ` prefix).
pub fn check_args(
    declared: &Declared,
    args: &[Value],
    tables: TableLookup<'_>,
) -> Result<(), String> {
    let arg = match args {
        [] => return Ok(()),
        [one] => one,
        _ => {
            return Err(format!(
                "Expected exactly one argument, but received {} arguments.",
                args.len()
            ));
        }
    };
    let Value::Object(_) = arg else {
        return Err(format!(
            "Expected the function's argument to be an object, but received {}.",
            display_value(arg)
        ));
    };
    match declared {
        Declared::Unvalidated => Ok(()),
        Declared::Validator(validator) => validator.check(arg, tables),
    }
}

/// Checks a return value against `declared`.
pub fn check_returns(
    declared: &Declared,
    value: &Value,
    tables: TableLookup<'_>,
) -> Result<(), String> {
    match declared {
        Declared::Unvalidated => Ok(()),
        Declared::Validator(validator) => validator.check(value, tables),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hull_values::Object;

    fn parse(json: &str) -> Declared {
        Declared::Validator(Validator::from_json(&serde_json::from_str(json).unwrap()).unwrap())
    }

    #[test]
    fn messages() {
        let v = parse(
            r#"{"type":"object","value":{"message":{"fieldType":{"type":"object","value":{"body":{"fieldType":{"type":"string"},"optional":false}}},"optional":false},"author":{"fieldType":{"type":"string"},"optional":false}}}"#,
        );
        let none = |_: &str| None;
        let mut args = Object::new();
        args.insert("author".into(), Value::String("a".into()));
        let mut message = Object::new();
        message.insert("body".into(), Value::Float64(42.0));
        args.insert("message".into(), Value::Object(message));
        assert_eq!(
            check_args(&v, &[Value::Object(args.clone())], &none).unwrap_err(),
            "Value does not match validator.\nPath: .message.body\nValue: 42\nValidator: v.string()"
        );
        args.remove("author");
        args.insert("x".into(), Value::Null);
        let err = check_args(&v, &[Value::Object(args)], &none).unwrap_err();
        assert!(
            err.starts_with("Object is missing the required field `author`."),
            "{err}"
        );
        assert!(err.contains("\n\nObject: {message: {body: 42}, x: null}\nValidator: v.object({author: v.string(), message: v.object({body: v.string()})})"), "{err}");
    }
}
