//! The `rabbitmq.conf` format: RabbitMQ's sysctl-like `key = value` lines (cuttlefish). Keys
//! are dot-separated fields of letters, digits, `_` and `-`; `#` starts a comment anywhere on
//! a line, so a bare value cannot hold one; blank lines are skipped; a later line wins over an
//! earlier one for the same key. One addition kept from Warren's earlier format: a value in
//! double quotes is taken without them, and may then hold `#`.

use super::layered::Source;
use super::{Layer, SettingsError};
use std::path::Path;

/// One `key = value` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Line {
    pub key: String,
    pub value: String,
    /// 1-based.
    pub number: usize,
}

/// Reads one file as a source of the `rabbitmq.conf` layer.
pub(super) fn read(path: &Path) -> Result<Source, SettingsError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| SettingsError::new("", &shown, format!("cannot read the file: {e}")))?;
    let lines = parse(&text)
        .map_err(|(number, reason)| SettingsError::new("", format!("{shown}:{number}"), reason))?;
    let mut source = Source::new(Layer::RabbitConf, format!("rabbitmq.conf file {shown}"));
    source.path = Some(path.to_path_buf());
    for line in lines {
        let place = format!("{shown}:{}", line.number);
        source.push(line.key, line.value.into(), place);
    }
    Ok(source)
}

/// Parses the text of one file; an error names the line (1-based) and what is wrong.
pub(super) fn parse(text: &str) -> Result<Vec<Line>, (usize, String)> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let number = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, rest) = line
            .split_once('=')
            .ok_or((number, "expected `key = value`".to_string()))?;
        let key = key.trim();
        check_key(key).map_err(|e| (number, e))?;
        let value = value(rest).map_err(|e| (number, format!("{key}: {e}")))?;
        out.push(Line {
            key: key.to_string(),
            value,
            number,
        });
    }
    Ok(out)
}

pub(super) fn check_key(key: &str) -> Result<(), String> {
    let field_ok = |f: &str| {
        !f.is_empty()
            && f.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    if key.split('.').all(field_ok) {
        Ok(())
    } else {
        Err(format!(
            "'{key}' is not a key (letters, digits, _ and -, in fields separated by dots)"
        ))
    }
}

/// The value after `=`: up to a `#` comment, trimmed; or the text between double quotes.
fn value(rest: &str) -> Result<String, String> {
    let rest = rest.trim_start();
    if let Some(quoted) = rest.strip_prefix('"') {
        let (inner, after) = quoted
            .split_once('"')
            .ok_or("the closing double quote is missing")?;
        let after = after.trim_start();
        if !(after.is_empty() || after.starts_with('#')) {
            return Err(format!("unexpected '{after}' after the closing quote"));
        }
        return Ok(inner.to_string());
    }
    let value = rest.split('#').next().unwrap_or_default().trim_end();
    if value.is_empty() {
        return Err("no value after `=`".into());
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse(text)
            .unwrap()
            .into_iter()
            .map(|l| (l.key, l.value))
            .collect()
    }

    #[test]
    fn reads_lines_the_way_cuttlefish_does() {
        // Each case checked with cuttlefish_conf:files/1 of RabbitMQ 3.10.8.
        let text = "# comment\n\n  heartbeat=5\ndefault_pass = a=b\nx.y-z_W.9 = 1 # trailing\n\
                    default_user = ab#cd\nlisteners.tcp.1 = 5672\r\nname = a b  \n";
        assert_eq!(
            pairs(text),
            [
                ("heartbeat", "5"),
                ("default_pass", "a=b"),
                ("x.y-z_W.9", "1"),
                ("default_user", "ab"),
                ("listeners.tcp.1", "5672"),
                ("name", "a b"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
    }

    #[test]
    fn quotes_are_stripped_and_may_hold_a_hash() {
        assert_eq!(
            pairs("default_pass = \"s3#cret\"  # why\n"),
            [("default_pass".to_string(), "s3#cret".to_string())]
        );
    }

    #[test]
    fn syntax_errors_name_the_line() {
        for (text, line, words) in [
            ("heartbeat = 1\nnot a setting\n", 2, "key = value"),
            ("default pass = x\n", 1, "not a key"),
            ("a..b = 1\n", 1, "not a key"),
            ("\n\ndefault_pass =\n", 3, "no value"),
            ("default_pass = \"abc\n", 1, "closing double quote"),
            ("default_pass = \"a\" b\n", 1, "after the closing quote"),
        ] {
            let (n, e) = parse(text).unwrap_err();
            assert_eq!(n, line, "{text:?}: {e}");
            assert!(e.contains(words), "{text:?}: {e}");
        }
    }
}
