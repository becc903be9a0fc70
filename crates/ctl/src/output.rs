//! What commands print, as rabbitmqctl prints it: banner lines ("Listing queues for vhost /
//! ...") unless `-q`/`-s`; tables tab-separated with a header row (none with `-s` or
//! `--no-table-headers`, nor over an empty list); `--formatter json` a JSON array, one object per line, no banners.

use crate::cli::{Formatter, Global};
use serde_json::Value;
use std::io::Write;

pub struct Out {
    quiet: bool,
    headers: bool,
    json: bool,
    stdout: std::io::Stdout,
}

impl Out {
    pub fn new(g: &Global) -> Out {
        let json = g.formatter == Formatter::Json;
        Out {
            quiet: g.quiet || g.silent || json,
            headers: !(g.silent || g.no_table_headers),
            json,
            stdout: std::io::stdout(),
        }
    }

    pub fn json(&self) -> bool {
        self.json
    }

    /// An informational line, left out by `-q`, `-s` and `--formatter json`.
    pub fn banner(&mut self, text: &str) {
        if !self.quiet {
            self.line(text);
        }
    }

    /// A result line, always printed.
    pub fn line(&mut self, text: &str) {
        let _ = writeln!(self.stdout, "{text}");
    }

    /// Rows of values under `columns`, as a table or a JSON array.
    pub fn table(&mut self, columns: &[String], rows: &[Vec<Value>]) {
        let mut text = String::new();
        if self.json {
            text.push_str("[\n");
            for (i, row) in rows.iter().enumerate() {
                text.push_str(if i == 0 { "{" } else { ",{" });
                let fields: Vec<String> = columns
                    .iter()
                    .zip(row)
                    .map(|(c, v)| format!("{}:{v}", Value::from(c.as_str())))
                    .collect();
                text.push_str(&fields.join(","));
                text.push_str("}\n");
            }
            text.push_str("]\n");
        } else {
            // rabbitmqctl prints no header row over no rows.
            if self.headers && !rows.is_empty() {
                text.push_str(&columns.join("\t"));
                text.push('\n');
            }
            for row in rows {
                let cells: Vec<String> = row.iter().map(cell).collect();
                text.push_str(&cells.join("\t"));
                text.push('\n');
            }
        }
        let _ = self.stdout.write_all(text.as_bytes());
    }
}

/// One table cell as rabbitmqctl shows it: strings bare, lists as `[a, b]`, tables
/// (arguments) as `[{"key",value}]`, missing values empty.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(cell).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(m) => {
            let items: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{{{},{}}}", Value::from(k.as_str()), v))
                .collect();
            format!("[{}]", items.join(","))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cells_look_like_rabbitmqctl_ones() {
        assert_eq!(cell(&json!("q")), "q");
        assert_eq!(cell(&json!(true)), "true");
        assert_eq!(cell(&json!(3)), "3");
        assert_eq!(cell(&json!(null)), "");
        assert_eq!(
            cell(&json!(["monitoring", "management"])),
            "[monitoring, management]"
        );
        assert_eq!(cell(&json!({})), "[]");
        assert_eq!(
            cell(&json!({"x-max-length": 10, "x-queue-mode": "lazy"})),
            r#"[{"x-max-length",10},{"x-queue-mode","lazy"}]"#
        );
    }
}
