//! The settings layer: the one place that turns every source of configuration into a
//! [`Config`]. Layers, lowest first: the defaults (`Config::default()`, RabbitMQ's values), a
//! TOML file, `rabbitmq.conf` files (the main one, then a conf.d directory), the environment,
//! the command line. Each source is a figment provider of flat keys (`layered.rs`): for one
//! key the higher layer wins; a field that several keys set (a family such as
//! `listeners.tcp.*`) takes them from the highest layer that sets any of them (`keys.rs`).
//! A value Warren cannot use, or values that cannot work together (`check.rs`), refuse the
//! start, naming the key and where it was set (file:line, variable, flag); the binary then
//! exits with [`EX_CONFIG`]. An unknown key is a warning naming it. docs/configuration.md
//! lists every key.

mod check;
mod env;
mod files;
mod flags;
mod https_keys;
mod keys;
mod layered;
mod log_keys;
mod rabbitmq_conf;
mod toml_file;
mod values;

#[cfg(test)]
mod tests;

pub use flags::Flags;

/// RabbitMQ's information units (`256MiB`, `1GB`, bytes), as `vm_memory_high_watermark.absolute`
/// takes them; `warren ctl set_vm_memory_high_watermark absolute` parses them the same way.
pub fn parse_information_unit(s: &str) -> Result<u64, String> {
    values::information_unit(s)
}

use crate::config::Config;
use figment::value::Value;
use std::fmt;
use std::path::PathBuf;

/// The exit status for settings the broker cannot start with (sysexits' EX_CONFIG), which the
/// Docker entrypoint and service managers read as "fix the configuration, do not retry".
pub const EX_CONFIG: u8 = 78;

/// Where a value came from, lowest first (the defaults are below all of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Layer {
    Toml,
    RabbitConf,
    Env,
    Flags,
}

/// One key after merging: its value, its layer and where it was set.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub key: String,
    pub value: Value,
    pub layer: Layer,
    /// `file:line`, `environment variable NAME` or `flag --name`.
    pub place: String,
}

impl Entry {
    fn refuse(&self, reason: impl Into<String>) -> SettingsError {
        SettingsError::new(&self.key, &self.place, reason)
    }

    fn text(&self) -> Result<String, SettingsError> {
        values::text(&self.value).map_err(|e| self.refuse(e))
    }

    /// The value's text through `parse`, refused with this key and place on error.
    fn parse<T>(&self, parse: impl FnOnce(&str) -> Result<T, String>) -> Result<T, SettingsError> {
        let text = self.text()?;
        self.parse_text(&text, parse)
    }

    /// One item of this entry's list through `parse`.
    fn parse_text<T>(
        &self,
        text: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, SettingsError> {
        parse(text).map_err(|e| self.refuse(e))
    }
}

/// A setting Warren cannot start with: the key (or keys), where it was set, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError {
    pub key: String,
    pub place: String,
    pub reason: String,
}

impl SettingsError {
    pub(crate) fn new(
        key: impl Into<String>,
        place: impl Into<String>,
        reason: impl Into<String>,
    ) -> SettingsError {
        SettingsError {
            key: key.into(),
            place: place.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for part in [&self.place, &self.key] {
            if !part.is_empty() {
                write!(f, "{part}: ")?;
            }
        }
        f.write_str(&self.reason)
    }
}

impl std::error::Error for SettingsError {}

/// What the settings layer made of its sources.
#[derive(Debug)]
pub struct Settings {
    pub config: Config,
    /// The settings files read, lowest layer first.
    pub files: Vec<PathBuf>,
    /// Keys no setting knows, as `key (place)`; each was logged as a warning.
    pub unknown: Vec<String>,
}

/// Builds the configuration from the command line and the environment (`env`: name and
/// value pairs; only `WARREN_*` and the `RABBITMQ_*` ones the layer knows are read).
pub fn load(flags: &Flags, env: &[(String, String)]) -> Result<Settings, Vec<SettingsError>> {
    let files = files::locate(flags, env).map_err(|e| vec![e])?;
    let mut sources = Vec::new();
    if let Some(path) = &files.toml {
        sources.push(toml_file::read(path).map_err(|e| vec![e])?);
    }
    for path in &files.conf {
        sources.push(rabbitmq_conf::read(path).map_err(|e| vec![e])?);
    }
    sources.push(env::read(env));
    sources.push(flags.read().map_err(|e| vec![e])?);
    sources.retain(|s| !s.is_empty() || s.path.is_some());
    let applied = keys::apply(layered::merge(&sources));
    let unknown: Vec<String> = applied
        .unknown
        .iter()
        .map(|e| format!("{} ({})", e.key, e.place))
        .collect();
    for e in &applied.unknown {
        tracing::warn!("unknown setting {} ({}): ignored", e.key, e.place);
    }
    let mut errors = applied.errors;
    if errors.is_empty() {
        errors = check::check(&applied.config, &applied.used);
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Settings {
        config: applied.config,
        files: files.toml.into_iter().chain(files.conf).collect(),
        unknown,
    })
}

/// This process's `WARREN_*` and `RABBITMQ_*` variables, for [`load`].
pub fn process_environment() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(name, value)| {
            let name = name.into_string().ok()?;
            let ours = name.starts_with("WARREN_") || name.starts_with("RABBITMQ_");
            ours.then(|| (name, value.to_string_lossy().into_owned()))
        })
        .collect()
}
