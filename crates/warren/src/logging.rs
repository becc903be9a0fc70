//! The console log, as RabbitMQ 3.10 writes it: plaintext lines `TIME [level] message
//! key=value...` with RabbitMQ's time format (`2026-12-05 09:30:00.123456+00:00`), or one JSON
//! object per line with `log.console.formatter = json` (`time`, `level`, `msg`, and the event's
//! other fields). tracing-subscriber does the filtering and writing; these formatters only lay
//! out one event, through its `FormatEvent` extension point. Colour codes only on a terminal
//! (or as `log.console.use_colors` says). `RUST_LOG`, when set, overrides the level.

use std::fmt::Write as _;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;
use warren_server::config::{LogLevel, LogOptions};

/// Installs the process's logger. Called once, before anything logs.
pub fn init(options: &LogOptions) {
    let level = options.level.or(options.default_level);
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(match (options.enabled, level) {
            (false, _) | (_, Some(LogLevel::None)) => "off",
            (_, Some(LogLevel::Debug)) => "debug",
            (_, Some(LogLevel::Warning)) => "warn",
            (_, Some(LogLevel::Error)) => "error",
            (_, Some(LogLevel::Info) | None) => "info",
        })
    });
    let colors = options.colors.unwrap_or_else(on_a_terminal);
    let format = Format {
        json: options.json,
        colors: colors && !options.json,
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(format.colors)
        .event_format(format)
        .init();
}

/// True when the log goes to a terminal and NO_COLOR (no-color.org) is not set. A run with
/// stdout sent to a file (`warren > warren.log 2>&1`, a service manager's pipe) gets no colour
/// codes either.
fn on_a_terminal() -> bool {
    use std::io::IsTerminal;
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color && std::io::stdout().is_terminal() && std::io::stderr().is_terminal()
}

struct Format {
    json: bool,
    colors: bool,
}

impl<S, N> FormatEvent<S, N> for Format
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let time = now();
        let level = level_name(*event.metadata().level());
        if self.json {
            let mut object = serde_json::Map::new();
            object.insert("time".into(), time.into());
            object.insert("level".into(), level.into());
            object.insert("msg".into(), fields.message.into());
            object.insert("target".into(), event.metadata().target().into());
            for (k, v) in fields.rest {
                object.insert(k, v.into());
            }
            return writeln!(writer, "{}", serde_json::Value::Object(object));
        }
        let (on, off) = match (self.colors, *event.metadata().level()) {
            (true, Level::ERROR) => ("\x1b[1;31m", "\x1b[0m"),
            (true, Level::WARN) => ("\x1b[1;33m", "\x1b[0m"),
            (true, Level::DEBUG | Level::TRACE) => ("\x1b[2m", "\x1b[0m"),
            _ => ("", ""),
        };
        let mut line = format!("{time} {on}[{level}]{off} {}", fields.message);
        for (k, v) in &fields.rest {
            let _ = write!(line, " {k}={v}");
        }
        writeln!(writer, "{line}")
    }
}

/// RabbitMQ's level words.
fn level_name(level: Level) -> &'static str {
    match level {
        Level::ERROR => "error",
        Level::WARN => "warning",
        Level::INFO => "info",
        Level::DEBUG | Level::TRACE => "debug",
    }
}

/// RabbitMQ's default time format (`rfc3339_space`), in UTC.
fn now() -> String {
    const FORMAT: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:6]+00:00"
    );
    time::OffsetDateTime::now_utc()
        .format(FORMAT)
        .unwrap_or_default()
}

/// An event's message and its other fields as text.
#[derive(Default)]
struct Fields {
    message: String,
    rest: Vec<(String, String)>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message = value.to_string(),
            name => self.rest.push((name.to_string(), value.to_string())),
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            name => self.rest.push((name.to_string(), format!("{value:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_is_rabbitmqs_rfc3339_space() {
        let t = now();
        assert_eq!(t.len(), "2026-12-05 09:30:00.123456+00:00".len(), "{t}");
        assert_eq!(
            (&t[4..5], &t[10..11], &t[26..]),
            ("-", " ", "+00:00"),
            "{t}"
        );
    }
}
