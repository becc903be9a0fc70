//! The command line (clap): the flags that name settings files, `--set KEY=VALUE` for any
//! key, and named flags for the common keys. Values stay text here: the settings layer parses
//! them like any other source's, so a bad one is refused the same way (exit 78, naming the
//! key and the flag).

use super::layered::Source;
use super::{Layer, SettingsError};
use clap::Parser;
use std::path::PathBuf;

/// Warren: an AMQP 0-9-1 message broker, a drop-in for RabbitMQ.
///
/// Settings come from, lowest first: the defaults, a TOML file, rabbitmq.conf files, the
/// environment (WARREN_<KEY>, dots as __), then these flags. docs/configuration.md lists
/// every key. `warren ctl --help`: the CLI (rabbitmqctl's commands; docs/cli.md).
#[derive(Debug, Default, Parser)]
#[command(name = "warren", version, about)]
pub struct Flags {
    /// A settings file in RabbitMQ's rabbitmq.conf syntax (`key = value` lines).
    /// [env: WARREN_CONFIG, RABBITMQ_CONFIG_FILE]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// A TOML settings file with the same keys, below the rabbitmq.conf files.
    /// [env: WARREN_CONFIG_TOML]
    #[arg(long, value_name = "FILE")]
    pub config_toml: Option<PathBuf>,
    /// More rabbitmq.conf files, read after --config in name order: a directory (every file
    /// in it) or a pattern such as /etc/rabbitmq/conf.d/*.conf.
    /// [env: WARREN_CONFIG_FILES, RABBITMQ_CONFIG_FILES]
    #[arg(long, value_name = "DIR|PATTERN")]
    pub config_files: Option<PathBuf>,
    /// Sets any key, as a rabbitmq.conf line would (repeatable): --set heartbeat=30.
    #[arg(long = "set", short = 's', value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// AMQP listening address, IP:PORT or a port (repeatable, or comma-separated); replaces
    /// listeners.tcp.*. Default: [::]:5672. [env: WARREN_LISTEN]
    #[arg(long, value_name = "ADDR", value_delimiter = ',')]
    pub listen: Vec<String>,
    /// Directory for durable state (default: ./data). [env: WARREN_DATA_DIR]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<String>,
    /// Default user, created at start (default: guest).
    /// [env: WARREN_DEFAULT_USER, RABBITMQ_DEFAULT_USER]
    #[arg(long, value_name = "NAME")]
    pub default_user: Option<String>,
    /// Default user's password (default: guest).
    /// [env: WARREN_DEFAULT_PASS, RABBITMQ_DEFAULT_PASS]
    #[arg(long, value_name = "PASSWORD")]
    pub default_pass: Option<String>,
    /// Default vhost, created at start (default: /).
    /// [env: WARREN_DEFAULT_VHOST, RABBITMQ_DEFAULT_VHOST]
    #[arg(long, value_name = "VHOST")]
    pub default_vhost: Option<String>,
    /// Largest accepted message body in bytes (default: 134217728).
    /// [env: WARREN_MAX_MESSAGE_SIZE]
    #[arg(long, value_name = "BYTES")]
    pub max_message_size: Option<String>,
    /// Heartbeat interval proposed to clients, in seconds; 0 disables (default: 60).
    /// [env: WARREN_HEARTBEAT]
    #[arg(long, value_name = "SECONDS")]
    pub heartbeat: Option<String>,
    /// Largest frame offered to clients, in bytes (default: 131072). [env: WARREN_FRAME_MAX]
    #[arg(long, value_name = "BYTES")]
    pub frame_max: Option<String>,
    /// Most channels per connection (default: 2047). [env: WARREN_CHANNEL_MAX]
    #[arg(long, value_name = "N")]
    pub channel_max: Option<String>,
    /// A RabbitMQ definitions JSON file to import at start (users, vhosts, permissions).
    /// [env: WARREN_LOAD_DEFINITIONS]
    #[arg(long, value_name = "FILE")]
    pub load_definitions: Option<String>,
}

impl Flags {
    /// The flags' settings: `--set` first, so that a named flag wins over `--set` of its key.
    pub(super) fn read(&self) -> Result<Source, SettingsError> {
        let mut source = Source::new(Layer::Flags, "command line");
        for item in &self.set {
            let (key, value) = item.split_once('=').ok_or_else(|| {
                SettingsError::new("", "flag --set", format!("'{item}' is not KEY=VALUE"))
            })?;
            let key = key.trim();
            super::rabbitmq_conf::check_key(key)
                .map_err(|e| SettingsError::new("", "flag --set", e))?;
            source.push(
                key,
                value.trim().to_string().into(),
                format!("flag --set {key}"),
            );
        }
        if !self.listen.is_empty() {
            source.push("listen", self.listen.join(",").into(), "flag --listen");
        }
        for (value, key) in self.named() {
            if let Some(value) = value {
                let flag = format!("flag --{}", key.replace('_', "-"));
                source.push(key, value.clone().into(), flag);
            }
        }
        Ok(source)
    }

    /// Each named flag with the key it sets (the flag is the key with `-` for `_`).
    fn named(&self) -> [(&Option<String>, &'static str); 9] {
        [
            (&self.data_dir, "data_dir"),
            (&self.default_user, "default_user"),
            (&self.default_pass, "default_pass"),
            (&self.default_vhost, "default_vhost"),
            (&self.max_message_size, "max_message_size"),
            (&self.heartbeat, "heartbeat"),
            (&self.frame_max, "frame_max"),
            (&self.channel_max, "channel_max"),
            (&self.load_definitions, "load_definitions"),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::layered::merge;
    use crate::settings::values::text;

    fn read(args: &[&str]) -> Result<Vec<(String, String, String)>, SettingsError> {
        let flags =
            Flags::try_parse_from(std::iter::once("warren").chain(args.iter().copied())).unwrap();
        Ok(merge(&[flags.read()?])
            .into_iter()
            .map(|e| (e.key, text(&e.value).unwrap(), e.place))
            .collect())
    }

    #[test]
    fn named_flags_and_set_become_keys_and_a_named_flag_beats_set() {
        let got = read(&[
            "--set",
            "heartbeat=5",
            "-s",
            "vm_memory_high_watermark.relative = 0.6",
            "--heartbeat",
            "7",
            "--listen",
            "127.0.0.1:1,127.0.0.1:2",
            "--listen",
            "3",
            "--data-dir",
            "/srv",
        ])
        .unwrap();
        let want = [
            ("data_dir", "/srv", "flag --data-dir"),
            ("heartbeat", "7", "flag --heartbeat"),
            ("listen", "127.0.0.1:1,127.0.0.1:2,3", "flag --listen"),
            (
                "vm_memory_high_watermark.relative",
                "0.6",
                "flag --set vm_memory_high_watermark.relative",
            ),
        ];
        assert_eq!(
            got,
            want.map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        );
    }

    #[test]
    fn a_set_without_a_key_is_refused() {
        let err = read(&["--set", "heartbeat"]).unwrap_err();
        assert!(err.to_string().contains("not KEY=VALUE"), "{err}");
        let err = read(&["--set", "a b=1"]).unwrap_err();
        assert!(err.to_string().contains("not a key"), "{err}");
    }
}
