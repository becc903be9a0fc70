//! The console log's keys, as RabbitMQ 3.10.8's rabbit.schema names them: `log.console`,
//! `log.console.level`, `log.default.level`, `log.console.formatter` (plaintext, json) and
//! `log.console.use_colors`. Its other `log.*` keys (files, rotation, exchange, syslog,
//! per-category levels, format details) are not read: they warn as unknown keys.

use super::keys::{one, Setting};
use super::values::boolean;
use crate::config::LogLevel;

pub(super) fn settings() -> Vec<Setting> {
    vec![
        one(&["log.console"], |c, g| {
            c.log.enabled = g.entry().parse(boolean)?;
            Ok(())
        }),
        one(&["log.console.level"], |c, g| {
            c.log.level = Some(g.entry().parse(level)?);
            Ok(())
        }),
        one(&["log.default.level"], |c, g| {
            c.log.default_level = Some(g.entry().parse(level)?);
            Ok(())
        }),
        one(&["log.console.formatter"], |c, g| {
            c.log.json = g.entry().parse(formatter)?;
            Ok(())
        }),
        one(&["log.console.use_colors"], |c, g| {
            c.log.colors = Some(g.entry().parse(boolean)?);
            Ok(())
        }),
    ]
}

fn level(s: &str) -> Result<LogLevel, String> {
    Ok(match s {
        "debug" => LogLevel::Debug,
        "info" | "notice" => LogLevel::Info,
        "warning" => LogLevel::Warning,
        "error" | "critical" | "alert" | "emergency" => LogLevel::Error,
        "none" => LogLevel::None,
        _ => return Err(
            "must be one of debug, info, notice, warning, error, critical, alert, emergency, none"
                .into(),
        ),
    })
}

/// `true` for json.
fn formatter(s: &str) -> Result<bool, String> {
    match s {
        "plaintext" => Ok(false),
        "json" => Ok(true),
        _ => Err("must be plaintext or json".into()),
    }
}
