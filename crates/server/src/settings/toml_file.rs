//! TOML settings files: the same keys as `rabbitmq.conf`, as tables or dotted keys
//! (`[listeners.tcp]` then `default = 5672`, or `listeners.tcp.default = 5672`), with TOML's
//! typed values; lists may also be arrays (`auth_mechanisms = ["PLAIN", "AMQPLAIN"]`). Every
//! key keeps the line it was written on, for error messages.

use super::layered::Source;
use super::{Layer, SettingsError};
use figment::value::{Dict, Tag, Value};
use std::path::Path;
use toml_edit::{ImDocument, Item, TableLike};

/// Reads one TOML file as the source of the TOML layer.
pub(super) fn read(path: &Path) -> Result<Source, SettingsError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| SettingsError::new("", &shown, format!("cannot read the file: {e}")))?;
    let mut source = Source::new(Layer::Toml, format!("TOML file {shown}"));
    source.path = Some(path.to_path_buf());
    for (key, value, line) in parse(&text)
        .map_err(|(line, reason)| SettingsError::new("", format!("{shown}:{line}"), reason))?
    {
        source.push(key, value, format!("{shown}:{line}"));
    }
    Ok(source)
}

/// One leaf of a document: dotted key, value, 1-based line.
type Leaf = (String, Value, usize);

/// Every leaf of the document; an error names its line.
pub(super) fn parse(text: &str) -> Result<Vec<Leaf>, (usize, String)> {
    let doc = ImDocument::parse(text).map_err(|e| {
        let line = e.span().map_or(1, |s| line_of(text, s.start));
        (line, format!("not valid TOML: {}", e.message()))
    })?;
    let mut out = Vec::new();
    walk("", doc.as_table(), text, &mut out)?;
    Ok(out)
}

fn walk(
    prefix: &str,
    table: &dyn TableLike,
    text: &str,
    out: &mut Vec<Leaf>,
) -> Result<(), (usize, String)> {
    for (name, item) in table.iter() {
        let key = if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}.{name}")
        };
        let line = item.span().map_or(1, |s| line_of(text, s.start));
        match item {
            Item::None => {}
            Item::Table(t) => walk(&key, t, text, out)?,
            Item::Value(toml_edit::Value::InlineTable(t)) => walk(&key, t, text, out)?,
            Item::Value(v) => out.push((key, convert(v), line)),
            Item::ArrayOfTables(_) => {
                return Err((line, format!("{key}: an array of tables is no setting")))
            }
        }
    }
    Ok(())
}

fn convert(value: &toml_edit::Value) -> Value {
    use toml_edit::Value as T;
    match value {
        T::String(s) => Value::from(s.value().clone()),
        T::Integer(i) => Value::from(*i.value()),
        T::Float(f) => Value::from(*f.value()),
        T::Boolean(b) => Value::from(*b.value()),
        T::Datetime(d) => Value::from(d.value().to_string()),
        T::Array(a) => Value::Array(Tag::Default, a.iter().map(convert).collect()),
        T::InlineTable(t) => {
            let dict: Dict = t.iter().map(|(k, v)| (k.to_string(), convert(v))).collect();
            Value::Dict(Tag::Default, dict)
        }
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(1, |t| t.matches('\n').count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::values::text;

    #[test]
    fn tables_and_dotted_keys_flatten_to_rabbitmq_keys_with_their_lines() {
        let doc = "heartbeat = 30\n\n[listeners.tcp]\ndefault = 5672\n\"1\" = \"127.0.0.1:5673\"\n\
                   [vm_memory_high_watermark]\nrelative = 0.6\n[x]\ny.z = true\n\
                   auth_mechanisms = [\"PLAIN\", \"AMQPLAIN\"]\n";
        let got: Vec<_> = parse(doc)
            .unwrap()
            .into_iter()
            .map(|(k, v, line)| (k, text(&v).unwrap_or_else(|_| "[list]".into()), line))
            .collect();
        let want = [
            ("heartbeat", "30", 1),
            ("listeners.tcp.default", "5672", 4),
            ("listeners.tcp.1", "127.0.0.1:5673", 5),
            ("vm_memory_high_watermark.relative", "0.6", 7),
            ("x.y.z", "true", 9),
            ("x.auth_mechanisms", "[list]", 10),
        ];
        assert_eq!(got, want.map(|(k, v, l)| (k.to_string(), v.to_string(), l)));
    }

    #[test]
    fn a_syntax_error_names_its_line() {
        let (line, reason) = parse("heartbeat = 30\nframe_max = = 1\n").unwrap_err();
        assert_eq!(line, 2, "{reason}");
        assert!(reason.contains("not valid TOML"), "{reason}");
    }
}
