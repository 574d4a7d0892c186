//! Argument and return validation, done in Rust before and after user code runs, with the
//! error texts Convex produces.
//!
//! Texts (observed from Convex deployments, see the crate README notes):
//! - `ArgumentValidationError: Value does not match validator.\nPath: .jobId\nValue: "x"\nValidator: v.id("jobs")`
//! - `ArgumentValidationError: Object contains extra field `f` that is not in the validator.\n\nObject: {a: 1, f: 2}\nValidator: v.object({a: v.float64()})`
//! - `ArgumentValidationError: Object is missing the required field `f`. Consider wrapping the field validator in `v.optional(...)` if this is expected.\n\nObject: {}\nValidator: v.object({f: v.string()})`
//!
//! The `Path:` line is empty for the top-level object. Values print JavaScript-style: strings
//! JSON-quoted, object keys bare, bigints with an `n` suffix.

use std::collections::BTreeMap;

use hull_db::schema::Validator;
use hull_values::{DocumentId, Object, Value};

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
        Declared::Validator(validator) => check(validator, arg, tables, &mut Vec::new()),
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
        Declared::Validator(validator) => check(validator, value, tables, &mut Vec::new()),
    }
}

fn path_line(path: &[String]) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("Path: {}", path.concat())
    }
}

fn mismatch(validator: &Validator, value: &Value, path: &[String]) -> String {
    format!(
        "Value does not match validator.\n{}\nValue: {}\nValidator: {}",
        path_line(path),
        display_value(value),
        validator
    )
}

fn check(
    validator: &Validator,
    value: &Value,
    tables: TableLookup<'_>,
    path: &mut Vec<String>,
) -> Result<(), String> {
    match (validator, value) {
        (Validator::Any, _) => Ok(()),
        (Validator::Null, Value::Null)
        | (Validator::Float64, Value::Float64(_))
        | (Validator::Int64, Value::Int64(_))
        | (Validator::Boolean, Value::Boolean(_))
        | (Validator::String, Value::String(_))
        | (Validator::Bytes, Value::Bytes(_)) => Ok(()),
        (Validator::Literal(expected), actual) if expected == actual => Ok(()),
        (Validator::Id(table), Value::String(id)) => {
            match (DocumentId::decode(id), tables(table)) {
                (Ok(id), Some(number)) if id.table_number == number => Ok(()),
                _ => Err(mismatch(validator, value, path)),
            }
        }
        (Validator::Array(element), Value::Array(items)) => {
            for (position, item) in items.iter().enumerate() {
                path.push(format!("[{position}]"));
                check(element, item, tables, path)?;
                path.pop();
            }
            Ok(())
        }
        (Validator::Record(keys, values), Value::Object(object)) => {
            for (name, item) in object {
                path.push(format!(".{name}"));
                check(keys, &Value::String(name.clone()), tables, path)?;
                check(values, item, tables, path)?;
                path.pop();
            }
            Ok(())
        }
        (Validator::Object(fields), Value::Object(object)) => {
            check_object(validator, fields, object, tables, path)
        }
        (Validator::Union(members), _) => {
            if members
                .iter()
                .any(|member| check(member, value, tables, &mut path.clone()).is_ok())
            {
                Ok(())
            } else {
                Err(mismatch(validator, value, path))
            }
        }
        _ => Err(mismatch(validator, value, path)),
    }
}

fn check_object(
    validator: &Validator,
    fields: &BTreeMap<String, (Validator, bool)>,
    object: &Object,
    tables: TableLookup<'_>,
    path: &mut Vec<String>,
) -> Result<(), String> {
    let context = |head: String, path: &[String]| {
        format!(
            "{head}\n{}\nObject: {}\nValidator: {}",
            path_line(path),
            display_value(&Value::Object(object.clone())),
            validator
        )
    };
    for (name, (field_validator, optional)) in fields {
        match object.get(name) {
            None if *optional => {}
            None => {
                return Err(context(
                    format!(
                        "Object is missing the required field `{name}`. Consider wrapping the field validator in `v.optional(...)` if this is expected."
                    ),
                    path,
                ));
            }
            Some(value) => {
                path.push(format!(".{name}"));
                check(field_validator, value, tables, path)?;
                path.pop();
            }
        }
    }
    if let Some(extra) = object.keys().find(|name| !fields.contains_key(*name)) {
        return Err(context(
            format!("Object contains extra field `{extra}` that is not in the validator."),
            path,
        ));
    }
    Ok(())
}

/// Formats a value the way Convex's error messages do (JavaScript-like).
pub fn display_value(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    if out.len() > 2000 {
        let cut = out.floor_char_boundary(2000);
        out.truncate(cut);
        out.push_str("...");
    }
    out
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Int64(i) => out.push_str(&format!("{i}n")),
        Value::Float64(f) => out.push_str(&format_number(*f)),
        Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::String(s) => out.push_str(&serde_json::Value::String(s.clone()).to_string()),
        Value::Bytes(b) => out.push_str(&format!("ArrayBuffer({})", b.len())),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(fields) => {
            out.push('{');
            for (i, (name, item)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(name);
                out.push_str(": ");
                write_value(out, item);
            }
            out.push('}');
        }
    }
}

/// A number as JavaScript's `String(n)` prints it (for the common cases).
pub fn format_number(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        }
    } else if f == 0.0 {
        if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        }
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
