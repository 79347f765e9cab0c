//! The one-line reports memtls's example programs print for the programs that
//! drive them (tests, benchmarks, `memtls demo`), and the one reader of them.
//!
//! A report is a line: a tag, a space, and a JSON object, e.g.
//! `memtls-result {"status":200,"version":"TLSv1.3",...}`. Programs print them
//! with [`print`]; readers find them in an output with [`all`] or [`first`] and
//! read fields with [`Report`]'s accessors. Python scripts print the same form
//! (`print("memtls-bench", json.dumps(fields))`).

#![warn(missing_docs)]

use serde_json::{Map, Value};

pub use serde_json::json;

/// What a report says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    /// The outcome of a client run (`https-get`, `starttls`, the wasi:tls client).
    Result,
    /// A connection a server accepted (`tls-echo-server`).
    Accepted,
    /// Figures of a benchmark script.
    Bench,
}

impl Tag {
    /// The tag as printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Tag::Result => "memtls-result",
            Tag::Accepted => "memtls-accepted",
            Tag::Bench => "memtls-bench",
        }
    }
}

/// The report line for `fields` (a JSON object).
pub fn line(tag: Tag, fields: &Value) -> String {
    format!("{} {fields}", tag.as_str())
}

/// Prints the report line for `fields` on stdout.
pub fn print(tag: Tag, fields: &Value) {
    println!("{}", line(tag, fields));
}

/// One report's fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Report(pub Map<String, Value>);

impl Report {
    /// The field as text: strings as they are, numbers and booleans as JSON
    /// writes them; `None` when absent.
    pub fn text(&self, key: &str) -> Option<String> {
        self.0.get(key).map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }

    /// The field as a number, when it is one.
    pub fn number(&self, key: &str) -> Option<f64> {
        self.0.get(key)?.as_f64()
    }

    /// Every field as text, sorted by name.
    pub fn fields(&self) -> Vec<(String, String)> {
        self.0
            .keys()
            .filter_map(|k| Some((k.clone(), self.text(k)?)))
            .collect()
    }
}

/// Every report with `tag` in `output`, in order. A tagged line whose rest is
/// not a JSON object is skipped.
pub fn all(tag: Tag, output: &str) -> Vec<Report> {
    output
        .lines()
        .filter_map(|l| l.strip_prefix(tag.as_str())?.strip_prefix(' '))
        .filter_map(|rest| match serde_json::from_str(rest.trim()) {
            Ok(Value::Object(map)) => Some(Report(map)),
            _ => None,
        })
        .collect()
}

/// The first report with `tag` in `output`.
pub fn first(tag: Tag, output: &str) -> Option<Report> {
    all(tag, output).into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip() {
        let printed = line(
            Tag::Result,
            &json!({"status": 200, "version": "TLSv1.3", "eof": "clean", "ms": 1.5}),
        );
        let output = format!("noise\n{printed}\nmemtls-result not json\n");
        let reports = all(Tag::Result, &output);
        assert_eq!(reports.len(), 1);
        let r = &reports[0];
        assert_eq!(r.text("status").as_deref(), Some("200"));
        assert_eq!(r.text("version").as_deref(), Some("TLSv1.3"));
        assert_eq!(r.number("ms"), Some(1.5));
        assert_eq!(r.text("missing"), None);
        assert!(first(Tag::Accepted, &output).is_none());
    }
}
