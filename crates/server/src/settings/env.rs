//! The environment layer: `WARREN_<KEY>` sets any key, with the key in upper case and its dots
//! written `__` (`WARREN_HEARTBEAT`, `WARREN_LISTENERS__TCP__DEFAULT`,
//! `WARREN_VM_MEMORY_HIGH_WATERMARK__RELATIVE`); RabbitMQ's `RABBITMQ_DEFAULT_USER`,
//! `RABBITMQ_DEFAULT_PASS` and `RABBITMQ_DEFAULT_VHOST` set their keys too, below their
//! `WARREN_*` twins. An empty variable counts as unset, as in RabbitMQ's scripts. The
//! variables that name files (`WARREN_CONFIG`, `RABBITMQ_CONFIG_FILE`...) are no keys: the
//! file layers read them.

use super::layered::Source;
use super::Layer;

/// Variables that name settings files, not settings.
pub(super) const FILE_VARIABLES: &[&str] =
    &["WARREN_CONFIG", "WARREN_CONFIG_TOML", "WARREN_CONFIG_FILES"];

/// RabbitMQ's variables for keys, as its image and scripts read them.
const RABBITMQ_VARIABLES: &[(&str, &str)] = &[
    ("RABBITMQ_DEFAULT_USER", "default_user"),
    ("RABBITMQ_DEFAULT_PASS", "default_pass"),
    ("RABBITMQ_DEFAULT_VHOST", "default_vhost"),
];

/// The key a `WARREN_*` variable sets, if it is one.
fn key_for(variable: &str) -> Option<String> {
    let rest = variable.strip_prefix("WARREN_")?;
    if rest.is_empty() || FILE_VARIABLES.contains(&variable) {
        return None;
    }
    Some(rest.to_ascii_lowercase().replace("__", "."))
}

/// A non-empty variable of `env`.
pub(super) fn get<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    env.iter()
        .rev()
        .find(|(n, v)| n == name && !v.is_empty())
        .map(|(_, v)| v.as_str())
}

/// The environment's settings.
pub(super) fn read(env: &[(String, String)]) -> Source {
    let mut source = Source::new(Layer::Env, "environment");
    // RabbitMQ's first, so that a WARREN_* twin replaces them.
    for (variable, key) in RABBITMQ_VARIABLES {
        if let Some(value) = get(env, variable) {
            source.push(
                *key,
                value.into(),
                format!("environment variable {variable}"),
            );
        }
    }
    let mut own: Vec<_> = env
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .filter_map(|(n, v)| Some((key_for(n)?, n, v)))
        .collect();
    own.sort();
    for (key, variable, value) in own {
        source.push(
            key,
            value.clone().into(),
            format!("environment variable {variable}"),
        );
    }
    source
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::layered::merge;
    use crate::settings::values::text;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn settings(pairs: &[(&str, &str)]) -> Vec<(String, String, String)> {
        merge(&[read(&env(pairs))])
            .into_iter()
            .map(|e| (e.key, text(&e.value).unwrap(), e.place))
            .collect()
    }

    #[test]
    fn variables_map_to_keys() {
        assert_eq!(
            key_for("WARREN_LISTENERS__TCP__DEFAULT").as_deref(),
            Some("listeners.tcp.default")
        );
        assert_eq!(key_for("WARREN_DATA_DIR").as_deref(), Some("data_dir"));
        assert_eq!(key_for("WARREN_CONFIG"), None);
        assert_eq!(key_for("RABBITMQ_NODENAME"), None);
        assert_eq!(
            key_for("WARREN_VM_MEMORY_HIGH_WATERMARK__RELATIVE").as_deref(),
            Some("vm_memory_high_watermark.relative")
        );
    }

    #[test]
    fn rabbitmq_variables_count_and_warren_twins_win() {
        let got = settings(&[
            ("RABBITMQ_DEFAULT_USER", "ann"),
            ("RABBITMQ_DEFAULT_VHOST", "orders"),
            ("WARREN_DEFAULT_USER", "bob"),
            ("WARREN_HEARTBEAT", ""),
            ("WARREN_CONFIG", "/etc/warren.conf"),
            ("PATH", "/usr/bin"),
        ]);
        assert_eq!(
            got,
            [
                (
                    "default_user",
                    "bob",
                    "environment variable WARREN_DEFAULT_USER"
                ),
                (
                    "default_vhost",
                    "orders",
                    "environment variable RABBITMQ_DEFAULT_VHOST"
                ),
            ]
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        );
    }
}
