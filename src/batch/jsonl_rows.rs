//! JSONL: the `jsonl` input format, one JSON object per line.
//!
//! Owns finding the URL field in each line and splicing the result into the line's own text:
//! the output line is the input line with `,"hostloc":{…}` inserted before its final `}`, so
//! every original byte (key order, spacing, number spelling, escapes, a `\r` before the `\n`)
//! stays as it was. The result key is `hostloc`, or when the object already has that key,
//! `hostloc_hostloc` (and so on): an existing field is never overwritten. A line that is not a
//! JSON object (invalid JSON, invalid UTF-8, blank, an array, …) becomes a new object
//! `{"raw_line":"…","hostloc":{…}}` carrying the line as a string (plus `raw_line_hex` with its
//! exact bytes when they are not UTF-8).
//!
//! Must not: re-serialise the user's object, or drop a line.

use std::io::BufRead;

use serde_json::{Map, Value};

use super::rows::{Event, Lines, Row, RowSource, Target, line_text, utf8};
use super::{BatchError, Endpoint, RESULT_KEY};

/// The UTF-8 byte order mark.
const BOM: char = '\u{feff}';

/// Where in each object the URL is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Field {
    /// A top-level key.
    Key(String),
    /// A JSON Pointer (RFC 6901) into nested objects, e.g. `/report/url`.
    Pointer(String),
}

impl Field {
    fn parse(name: &str) -> Field {
        if name.starts_with('/') {
            Field::Pointer(name.to_owned())
        } else {
            Field::Key(name.to_owned())
        }
    }

    fn find<'a>(&self, object: &'a Map<String, Value>) -> Option<&'a Value> {
        match self {
            Field::Key(key) => object.get(key),
            Field::Pointer(pointer) => {
                // The first reference token selects a key of the object; the rest is an
                // ordinary pointer into that value.
                let tokens = &pointer[1..];
                let (first, rest) = match tokens.find('/') {
                    Some(slash) => (&tokens[..slash], &tokens[slash..]),
                    None => (tokens, ""),
                };
                let first = first.replace("~1", "/").replace("~0", "~");
                object.get(&first)?.pointer(rest)
            }
        }
    }

    fn describe(&self) -> String {
        match self {
            Field::Key(key) => format!("field {key:?}"),
            Field::Pointer(pointer) => format!("value at {pointer:?}"),
        }
    }
}

/// Reads one JSON object per line.
pub(crate) struct JsonlSource<R> {
    lines: Lines<R>,
    field: Field,
}

impl<R: BufRead> JsonlSource<R> {
    /// Objects of `reader` (which is `input`), with the URL in `url_column`: a top-level key,
    /// or a JSON Pointer when it starts with `/`.
    pub(crate) fn new(reader: R, url_column: &str, input: Endpoint) -> JsonlSource<R> {
        JsonlSource {
            lines: Lines::new(reader, input),
            field: Field::parse(url_column),
        }
    }
}

impl<R: BufRead + Send> RowSource for JsonlSource<R> {
    fn next_event(&mut self) -> Result<Option<Event>, BatchError> {
        let Some((number, end_offset)) = self.lines.advance()? else {
            return Ok(None);
        };
        let text = self.lines.text();
        let line = text.strip_suffix(b"\n").unwrap_or(text);
        let (target, prefix, suffix) = match parse_object(line) {
            Ok((object, text)) => {
                let target = match self.field.find(&object) {
                    Some(Value::String(url)) => Target::Url(url.clone().into_bytes()),
                    Some(other) => Target::Unusable {
                        input: String::new(),
                        reason: format!(
                            "line {}: the {} is {}, not a string",
                            number,
                            self.field.describe(),
                            kind(other)
                        ),
                    },
                    None => Target::Unusable {
                        input: String::new(),
                        reason: format!("line {number}: no {}", self.field.describe()),
                    },
                };
                let (prefix, suffix) = splice(text, &object);
                (target, prefix, suffix)
            }
            Err(problem) => {
                let target = Target::Unusable {
                    input: String::new(),
                    reason: format!("line {number}: {problem}"),
                };
                let (prefix, suffix) = wrap(line_text(line));
                (target, prefix, suffix)
            }
        };
        Ok(Some(Event::Row(Row {
            number,
            line: number,
            end_offset,
            target,
            prefix,
            suffix,
        })))
    }
}

/// Parses a line (without its `\n`) as one JSON object.
fn parse_object(line: &[u8]) -> Result<(Map<String, Value>, &str), String> {
    let text = utf8(line)?;
    if text.trim_matches(is_json_space).is_empty() {
        return Err("blank line, no JSON object".to_owned());
    }
    // A byte order mark (a Windows tool's, on the first line) is not JSON; it stays in the
    // output as part of the line's text.
    let json = text.strip_prefix(BOM).unwrap_or(text);
    let value: Value = serde_json::from_str(json).map_err(|error| {
        let message = error.to_string();
        let message = message.split(" at line ").next().unwrap_or_default();
        format!("not valid JSON: {message} at column {}", error.column())
    })?;
    match value {
        Value::Object(object) => Ok((object, text)),
        other => Err(format!("{}, not a JSON object", kind(&other))),
    }
}

/// The output around the result for a JSON object line: everything before its final `}`, a
/// comma unless the object is empty, and the result key; then the `}` and whatever followed
/// it on the line.
fn splice(text: &str, object: &Map<String, Value>) -> (Vec<u8>, Vec<u8>) {
    let close = text.trim_end_matches(is_json_space).len().saturating_sub(1);
    let mut key = RESULT_KEY.to_owned();
    while object.contains_key(&key) {
        key.insert_str(0, "hostloc_");
    }
    let mut prefix = text.as_bytes()[..close].to_vec();
    if !object.is_empty() {
        prefix.push(b',');
    }
    push_key(&mut prefix, &key);
    let mut suffix = text.as_bytes()[close..].to_vec();
    suffix.push(b'\n');
    (prefix, suffix)
}

/// The output around the result for a line that is not a JSON object: a new object that
/// carries the line.
fn wrap(line: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut prefix = b"{".to_vec();
    push_key(&mut prefix, "raw_line");
    push_string(&mut prefix, &String::from_utf8_lossy(line));
    if std::str::from_utf8(line).is_err() {
        prefix.push(b',');
        push_key(&mut prefix, "raw_line_hex");
        let hex: String = line.iter().map(|byte| format!("{byte:02x}")).collect();
        push_string(&mut prefix, &hex);
    }
    prefix.push(b',');
    push_key(&mut prefix, RESULT_KEY);
    (prefix, b"}\n".to_vec())
}

fn push_key(out: &mut Vec<u8>, key: &str) {
    push_string(out, key);
    out.push(b':');
}

fn push_string(out: &mut Vec<u8>, text: &str) {
    // Serialising a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

/// JSON's insignificant whitespace (RFC 8259), which is narrower than Unicode's.
fn is_json_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `input` with `field` and writes each row with `R` as the result.
    fn check(field: &str, input: &[u8], expected: &[(&str, &str)]) {
        let mut source = JsonlSource::new(input, field, Endpoint::Stdin);
        let mut rows = Vec::new();
        while let Some(Event::Row(row)) = source.next_event().unwrap() {
            let mut line = row.prefix.clone();
            line.push(b'R');
            line.extend_from_slice(&row.suffix);
            let target = match row.target {
                Target::Url(url) => format!("url {}", String::from_utf8(url).unwrap()),
                Target::Unusable { reason, .. } => reason,
            };
            rows.push((String::from_utf8(line).unwrap(), target));
        }
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(line, target)| ((*line).to_owned(), (*target).to_owned()))
            .collect();
        assert_eq!(rows, expected);
    }

    #[test]
    fn results_are_spliced_into_the_original_text() {
        check(
            "url",
            b"{\"id\":1, \"url\":\"a.nl\" , \"n\":{\"url\":2}}\n\
              {}\r\n\
              {\"url\":\"\\u0061.nl\",\"hostloc\":0,\"hostloc_hostloc\":1}  \n\
              { \"url\": null }",
            &[
                (
                    "{\"id\":1, \"url\":\"a.nl\" , \"n\":{\"url\":2},\"hostloc\":R}\n",
                    "url a.nl",
                ),
                ("{\"hostloc\":R}\r\n", "line 2: no field \"url\""),
                (
                    "{\"url\":\"\\u0061.nl\",\"hostloc\":0,\"hostloc_hostloc\":1,\
                     \"hostloc_hostloc_hostloc\":R}  \n",
                    "url a.nl",
                ),
                (
                    "{ \"url\": null ,\"hostloc\":R}\n",
                    "line 4: the field \"url\" is null, not a string",
                ),
            ],
        );
    }

    #[test]
    fn a_byte_order_mark_is_kept_but_not_parsed() {
        check(
            "url",
            "\u{feff}{\"url\":\"a.nl\"}\n".as_bytes(),
            &[("\u{feff}{\"url\":\"a.nl\",\"hostloc\":R}\n", "url a.nl")],
        );
    }

    #[test]
    fn a_pointer_reaches_nested_fields() {
        check(
            "/report/links/0",
            b"{\"report\":{\"links\":[\"a.nl\"]}}\n{\"report\":{}}\n",
            &[
                (
                    "{\"report\":{\"links\":[\"a.nl\"]},\"hostloc\":R}\n",
                    "url a.nl",
                ),
                (
                    "{\"report\":{},\"hostloc\":R}\n",
                    "line 2: no value at \"/report/links/0\"",
                ),
            ],
        );
    }

    #[test]
    fn lines_that_are_not_objects_are_carried_as_strings() {
        check(
            "url",
            b"{\"url\":\"a.nl\"\n\n[1]\n\"a.nl\"\r\n\xff{}\n{\"url\":\"a.nl\"} x\n",
            &[
                (
                    "{\"raw_line\":\"{\\\"url\\\":\\\"a.nl\\\"\",\"hostloc\":R}\n",
                    "line 1: not valid JSON: EOF while parsing an object at column 13",
                ),
                (
                    "{\"raw_line\":\"\",\"hostloc\":R}\n",
                    "line 2: blank line, no JSON object",
                ),
                (
                    "{\"raw_line\":\"[1]\",\"hostloc\":R}\n",
                    "line 3: an array, not a JSON object",
                ),
                (
                    "{\"raw_line\":\"\\\"a.nl\\\"\",\"hostloc\":R}\n",
                    "line 4: a string, not a JSON object",
                ),
                (
                    "{\"raw_line\":\"\u{fffd}{}\",\"raw_line_hex\":\"ff7b7d\",\"hostloc\":R}\n",
                    "line 5: not valid UTF-8 (byte 1 cannot be decoded)",
                ),
                (
                    "{\"raw_line\":\"{\\\"url\\\":\\\"a.nl\\\"} x\",\"hostloc\":R}\n",
                    "line 6: not valid JSON: trailing characters at column 16",
                ),
            ],
        );
    }
}
