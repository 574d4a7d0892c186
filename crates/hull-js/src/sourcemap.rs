//! Source maps (v3) for stack traces: frames in the bundled modules (`util.js:40:15`) are
//! mapped back to the user's sources (`../convex/util.ts:52:11`), as Convex shows them.

use std::collections::HashMap;

use serde::Deserialize;

/// One decoded source map: for each generated line, segments sorted by generated column.
#[derive(Debug, Default)]
pub struct SourceMap {
    sources: Vec<String>,
    /// lines[generated_line] = [(generated_col, source, source_line, source_col)] (all 0-based)
    lines: Vec<Vec<(u32, u32, u32, u32)>>,
}

fn base64_value(byte: u8) -> Option<i64> {
    Some(match byte {
        b'A'..=b'Z' => byte - b'A',
        b'a'..=b'z' => byte - b'a' + 26,
        b'0'..=b'9' => byte - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as i64)
}

/// Decodes one segment's VLQ fields.
fn decode_segment(segment: &str) -> Option<Vec<i64>> {
    let mut fields = Vec::with_capacity(5);
    let (mut value, mut shift) = (0i64, 0u32);
    for byte in segment.bytes() {
        let digit = base64_value(byte)?;
        value |= (digit & 31) << shift;
        if digit & 32 != 0 {
            shift += 5;
            if shift > 60 {
                return None;
            }
        } else {
            let negative = value & 1 == 1;
            let magnitude = value >> 1;
            fields.push(if negative { -magnitude } else { magnitude });
            value = 0;
            shift = 0;
        }
    }
    (shift == 0).then_some(fields)
}

impl SourceMap {
    /// Parses a source map's JSON text; `None` if it is not a usable v3 map.
    pub fn parse(json: &str) -> Option<SourceMap> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Raw {
            sources: Vec<String>,
            #[serde(default)]
            source_root: Option<String>,
            mappings: String,
        }
        let raw: Raw = serde_json::from_str(json).ok()?;
        let root = raw.source_root.unwrap_or_default();
        let sources = raw
            .sources
            .into_iter()
            .map(|s| format!("{root}{s}"))
            .collect();
        let (mut source, mut source_line, mut source_col) = (0i64, 0i64, 0i64);
        let mut lines = Vec::new();
        for line in raw.mappings.split(';') {
            let mut generated_col = 0i64;
            let mut segments = Vec::new();
            for segment in line.split(',').filter(|s| !s.is_empty()) {
                let fields = decode_segment(segment)?;
                // Fields are deltas of up to 60 bits: sums can overflow, and a position that
                // does not fit a u32 (or is negative) makes the map unusable.
                generated_col = generated_col.checked_add(*fields.first()?)?;
                if fields.len() >= 4 {
                    source = source.checked_add(fields[1])?;
                    source_line = source_line.checked_add(fields[2])?;
                    source_col = source_col.checked_add(fields[3])?;
                    segments.push((
                        u32::try_from(generated_col).ok()?,
                        u32::try_from(source).ok()?,
                        u32::try_from(source_line).ok()?,
                        u32::try_from(source_col).ok()?,
                    ));
                }
            }
            segments.sort_by_key(|s| s.0);
            lines.push(segments);
        }
        Some(SourceMap { sources, lines })
    }

    /// Maps a 1-based generated position to (source, 1-based line, 1-based column).
    pub fn lookup(&self, line: u32, column: u32) -> Option<(&str, u32, u32)> {
        let segments = self.lines.get(line.checked_sub(1)? as usize)?;
        let column = column.saturating_sub(1);
        let index = segments.partition_point(|s| s.0 <= column).checked_sub(1)?;
        let (_, source, source_line, source_col) = segments[index];
        Some((
            self.sources.get(source as usize)?,
            source_line.checked_add(1)?,
            source_col.checked_add(1)?,
        ))
    }
}

/// Rewrites `file:line:col` locations in a QuickJS stack (`    at f (util.js:3:9)`, or
/// `    at util.js:3:9`) through the source maps `map_for` finds; unknown frames stay as they are.
pub fn map_stack(
    stack: &str,
    map_for: &mut dyn FnMut(&str) -> Option<std::rc::Rc<SourceMap>>,
) -> String {
    let mut cache: HashMap<String, Option<std::rc::Rc<SourceMap>>> = HashMap::new();
    stack
        .lines()
        .map(|frame| {
            let (head, location, tail) = match (frame.rfind('('), frame.ends_with(')')) {
                (Some(open), true) => (&frame[..=open], &frame[open + 1..frame.len() - 1], ")"),
                _ => match frame.find("at ") {
                    Some(at) => (&frame[..at + 3], &frame[at + 3..], ""),
                    None => return frame.to_owned(),
                },
            };
            let mut parts = location.rsplitn(3, ':');
            let (Some(col), Some(line), Some(file)) = (parts.next(), parts.next(), parts.next())
            else {
                return frame.to_owned();
            };
            let (Ok(line), Ok(col)) = (line.parse::<u32>(), col.parse::<u32>()) else {
                return frame.to_owned();
            };
            let map = cache
                .entry(file.to_owned())
                .or_insert_with(|| map_for(file))
                .clone();
            match map.as_deref().and_then(|m| m.lookup(line, col)) {
                Some((source, line, col)) => format!("{head}{source}:{line}:{col}{tail}"),
                None => frame.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflowing_or_out_of_range_positions_make_the_map_unusable() {
        // See: issue 12, part 3 (the `push_request` fuzz target's input
        // fuzz/corpus/push_request/regression-source-map-overflow): sixty-bit deltas summed
        // past i64::MAX panicked in debug builds and wrapped in release ones.
        let big = format!("+{}f", "/".repeat(10)).repeat(4);
        let mappings = vec![big; 20].join(",");
        let json = format!(r#"{{"version":3,"sources":["a.ts"],"mappings":"{mappings}"}}"#);
        assert!(SourceMap::parse(&json).is_none());
        // u32::MAX (not u32::MAX + 1) is a valid line, but has no 1-based successor.
        let map = SourceMap::parse(r#"{"version":3,"sources":["a.ts"],"mappings":"AA+/////HA"}"#).unwrap();
        assert_eq!(map.lookup(1, 1), None);
        assert!(SourceMap::parse(r#"{"version":3,"sources":["a.ts"],"mappings":"AAgggggggIA"}"#).is_none());
    }

    #[test]
    fn decodes_and_looks_up() {
        // "AAAA" = [0,0,0,0]; "IAAE" = [4,0,0,2]; ";" next line; "AACA" = [0,0,1,0]
        let map = SourceMap::parse(
            r#"{"version":3,"sources":["../convex/a.ts"],"mappings":"AAAA,IAAE;AACA"}"#,
        )
        .unwrap();
        assert_eq!(map.lookup(1, 1), Some(("../convex/a.ts", 1, 1)));
        assert_eq!(map.lookup(1, 7), Some(("../convex/a.ts", 1, 3)));
        assert_eq!(
            map.lookup(2, 3),
            Some(("../convex/a.ts", 2, 3)),
            "source columns are relative to the previous segment"
        );
        assert_eq!(map.lookup(3, 1), None);
        let stack = "    at f (a.js:1:5)\n    at a.js:2:1\n    at native";
        let mapped = map_stack(stack, &mut |file| {
            (file == "a.js").then(|| {
                std::rc::Rc::new(
                    SourceMap::parse(
                        r#"{"version":3,"sources":["../convex/a.ts"],"mappings":"AAAA,IAAE;AACA"}"#,
                    )
                    .unwrap(),
                )
            })
        });
        assert_eq!(
            mapped,
            "    at f (../convex/a.ts:1:3)\n    at ../convex/a.ts:2:3\n    at native"
        );
    }
}
