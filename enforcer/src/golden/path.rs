//! Field paths into a decision's JSON, in the syntax the mismatch messages
//! print: keys joined by `.`, `[N]` for an array element, and `["KEY"]`
//! (a JSON string) for a key that holds a `.` or a `[`:
//! `resources.memory.limit`, `namespaces[0].type`,
//! `resources.unified["memory.max"]`.

use std::fmt;

use serde_json::Value;

/// One step of a [`FieldPath`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// An object key.
    Key(String),
    /// An array index.
    Index(usize),
}

/// A parsed field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    text: String,
    segments: Vec<Segment>,
}

/// Why a field path does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{path:?} is not a field path ({why}); write keys joined by '.', [N] for an array element, [\"KEY\"] for a key with a '.' in it"
)]
pub struct PathError {
    /// The text given.
    pub path: String,
    /// What is wrong with it.
    pub why: &'static str,
}

impl FieldPath {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<FieldPath, PathError> {
        let fail = |why| PathError {
            path: text.to_string(),
            why,
        };
        let mut segments = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(bracketed) = rest.strip_prefix('[') {
                let (segment, after) = bracketed_segment(bracketed).map_err(fail)?;
                segments.push(segment);
                rest = after;
                continue;
            }
            // After a key, `rest` starts with '.' or '['; after a ']', it
            // must.
            let key_text = if segments.is_empty() {
                rest
            } else {
                rest.strip_prefix('.')
                    .ok_or_else(|| fail("expected '.' or '[' after ']'"))?
            };
            let end = key_text.find(['.', '[']).unwrap_or(key_text.len());
            if end == 0 {
                return Err(fail("empty key"));
            }
            segments.push(Segment::Key(key_text[..end].to_string()));
            rest = &key_text[end..];
        }
        if segments.is_empty() {
            return Err(fail("empty"));
        }
        Ok(FieldPath {
            text: text.to_string(),
            segments,
        })
    }

    /// The steps, outermost first.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The value at this path in `value`, if there is one.
    pub fn lookup<'a>(&self, value: &'a Value) -> Option<&'a Value> {
        self.segments
            .iter()
            .try_fold(value, |value, segment| match segment {
                Segment::Key(key) => value.as_object()?.get(key),
                Segment::Index(index) => value.as_array()?.get(*index),
            })
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The segment after a `[`: `N]` or `"KEY"]`, and what follows the `]`.
fn bracketed_segment(text: &str) -> Result<(Segment, &str), &'static str> {
    if text.starts_with('"') {
        // The shortest prefix that is a whole JSON string literal.
        let mut escaped = false;
        for (offset, c) in text.char_indices().skip(1) {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => {
                    let literal = &text[..=offset];
                    let key: String =
                        serde_json::from_str(literal).map_err(|_| "a bad string in [\"...\"]")?;
                    let after = text[offset + 1..]
                        .strip_prefix(']')
                        .ok_or("expected ']' after the quoted key")?;
                    return Ok((Segment::Key(key), after));
                }
                _ => escaped = false,
            }
        }
        return Err("an unterminated string in [\"...\"]");
    }
    let end = text.find(']').ok_or("an unclosed '['")?;
    let index = text[..end]
        .parse::<usize>()
        .map_err(|_| "[...] holds neither an index nor a quoted key")?;
    Ok((Segment::Index(index), &text[end + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn segments(text: &str) -> Vec<Segment> {
        FieldPath::parse(text).expect("parses").segments().to_vec()
    }

    #[test]
    fn paths_parse_as_the_mismatch_messages_print_them() {
        use Segment::{Index, Key};
        assert_eq!(segments("hostname"), [Key("hostname".into())]);
        assert_eq!(
            segments("resources.memory.limit"),
            [
                Key("resources".into()),
                Key("memory".into()),
                Key("limit".into())
            ]
        );
        assert_eq!(
            segments("namespaces[0].type"),
            [Key("namespaces".into()), Index(0), Key("type".into())]
        );
        assert_eq!(
            segments("resources.unified[\"memory.max\"]"),
            [
                Key("resources".into()),
                Key("unified".into()),
                Key("memory.max".into())
            ]
        );
        assert_eq!(segments("a[1][2]"), [Key("a".into()), Index(1), Index(2)]);
        assert_eq!(segments("[3]"), [Index(3)]);
    }

    #[test]
    fn bad_paths_are_refused_with_the_reason() {
        for (text, why) in [
            ("", "empty"),
            ("a..b", "empty key"),
            ("a.", "empty key"),
            (".a", "empty key"),
            ("a[", "an unclosed '['"),
            ("a[x]", "[...] holds neither an index nor a quoted key"),
            ("a[0]b", "expected '.' or '[' after ']'"),
            ("a[\"b", "an unterminated string in [\"...\"]"),
            ("a[\"b\"", "expected ']' after the quoted key"),
        ] {
            assert_eq!(
                FieldPath::parse(text).map(|path| path.segments().to_vec()),
                Err(PathError {
                    path: text.into(),
                    why
                }),
                "{text}"
            );
        }
    }

    #[test]
    fn lookup_follows_keys_and_indices() {
        let value = json!({"a": {"b": [10, {"c": "x"}]}, "d.e": 1});
        let at = |text: &str| {
            FieldPath::parse(text)
                .expect("parses")
                .lookup(&value)
                .cloned()
        };
        assert_eq!(at("a.b[0]"), Some(json!(10)));
        assert_eq!(at("a.b[1].c"), Some(json!("x")));
        assert_eq!(at("a.b[2]"), None);
        assert_eq!(at("a.x"), None);
        assert_eq!(at("a.b.c"), None);
        assert_eq!(at("[\"d.e\"]"), Some(json!(1)));
        assert_eq!(at("d.e"), None);
    }
}
