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

/// The GET workload of the wasi:tls clients (`HOST PORT SERVER_NAME REPEAT`:
/// REPEAT fetches of `/` from HOST:PORT verifying SERVER_NAME): their
/// arguments and the one summary line they print.
pub mod gets {
    use super::{Tag, json, line};

    /// The parsed arguments.
    pub struct Args {
        /// An IP address or a name to resolve.
        pub host: String,
        /// The port.
        pub port: u16,
        /// The name to verify, send as SNI and put in `Host`.
        pub server_name: String,
        /// How many fetches, one after another (at least one).
        pub repeat: u32,
    }

    impl Args {
        /// Parses `HOST PORT SERVER_NAME REPEAT` (without the program name);
        /// the error says what was wrong.
        pub fn parse(args: &[String]) -> Result<Self, String> {
            let [host, port, server_name, repeat] = args else {
                return Err(format!("expected 4 arguments, got {}", args.len()));
            };
            let port = port
                .parse()
                .map_err(|_| format!("PORT must be a number from 0 to 65535, not {port:?}"))?;
            let repeat = match repeat.parse::<u32>() {
                Ok(n) if n > 0 => n,
                _ => return Err(format!("REPEAT must be a positive number, not {repeat:?}")),
            };
            if host.is_empty() || server_name.is_empty() {
                return Err("HOST and SERVER_NAME must not be empty".into());
            }
            Ok(Self {
                host: host.clone(),
                port,
                server_name: server_name.clone(),
                repeat,
            })
        }
    }

    /// What one fetch measured.
    pub struct Round {
        /// From before the TCP connect to the end of the handshake.
        pub handshake_ms: f64,
        /// From the request written to the end of the response.
        pub transfer_ms: f64,
        /// From the request written to the first response bytes.
        pub first_byte_ms: f64,
        /// The status line's code.
        pub status: String,
        /// Bytes after the header.
        pub body_bytes: usize,
        /// Whether the response ended with the server's close_notify.
        pub clean: bool,
    }

    /// The summary line of `rounds` (at least one): medians, MB/s at the
    /// median transfer time, `eof` clean when every round ended cleanly. The
    /// rounds must agree on status and body size.
    pub fn summary(rounds: &[Round]) -> Result<String, String> {
        let first = rounds.first().ok_or("no fetch was made")?;
        if let Some(r) = rounds
            .iter()
            .find(|r| r.body_bytes != first.body_bytes || r.status != first.status)
        {
            return Err(format!(
                "the responses differ: status {} with {} body bytes, then status {} with {}",
                first.status, first.body_bytes, r.status, r.body_bytes
            ));
        }
        let handshake_ms = median(rounds.iter().map(|r| r.handshake_ms).collect());
        let transfer_ms = median(rounds.iter().map(|r| r.transfer_ms).collect());
        let first_byte_ms = median(rounds.iter().map(|r| r.first_byte_ms).collect());
        let mbps = if transfer_ms > 0.0 {
            first.body_bytes as f64 / transfer_ms / 1e3
        } else {
            0.0
        };
        let eof = if rounds.iter().all(|r| r.clean) {
            "clean"
        } else {
            "ragged"
        };
        let ms = |v: f64| (v * 100.0).round() / 100.0;
        Ok(line(
            Tag::Result,
            &json!({
                "status": first.status.clone(), "handshake_ms": ms(handshake_ms),
                "transfer_ms": ms(transfer_ms), "first_byte_ms": ms(first_byte_ms),
                "body_bytes": first.body_bytes, "mbps": (mbps * 10.0).round() / 10.0,
                "eof": eof, "repeat": rounds.len(),
            }),
        ))
    }

    /// The status code and body size of an HTTP/1.1 response.
    pub fn parse_response(response: &[u8]) -> Result<(String, usize), String> {
        let split = response
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| {
                format!(
                    "the response ({} bytes) has no end of header",
                    response.len()
                )
            })?;
        let head = String::from_utf8_lossy(&response[..split]);
        // The status line's second word.
        let status = head.split_whitespace().nth(1).unwrap_or("?").to_string();
        Ok((status, response.len() - (split + 4)))
    }

    fn median(mut values: Vec<f64>) -> f64 {
        values.sort_by(f64::total_cmp);
        let n = values.len();
        match n {
            0 => 0.0,
            _ if n % 2 == 1 => values[n / 2],
            _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
        }
    }
}
