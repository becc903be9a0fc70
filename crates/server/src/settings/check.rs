//! Checks across keys, once every key is applied: values that each parse but cannot work
//! together refuse the start, naming every key involved and where it was set (or that it is
//! the default). A single bad value (a `frame_max` over 512 MiB, a permission pattern that is
//! no regular expression) is refused where its key is parsed.

use super::{Entry, SettingsError};
use crate::config::Config;

pub(super) fn check(config: &Config, used: &[Entry]) -> Vec<SettingsError> {
    let mut errors = Vec::new();
    if config.tls_listen.is_empty() {
        return errors;
    }
    let tls = &config.tls;
    let missing: Vec<&str> = [
        ("ssl_options.certfile", tls.certfile.is_none()),
        ("ssl_options.keyfile", tls.keyfile.is_none()),
    ]
    .into_iter()
    .filter_map(|(key, missing)| missing.then_some(key))
    .collect();
    if !missing.is_empty() {
        errors.push(conflict(
            used,
            &["listeners.ssl"],
            format!("TLS listeners need {}", missing.join(" and ")),
        ));
    }
    // Both pairs make Erlang's ssl (OTP 25) refuse the listener, so RabbitMQ cannot start.
    if tls.fail_if_no_peer_cert && !tls.verify_peer {
        errors.push(conflict(
            used,
            &["ssl_options.fail_if_no_peer_cert", "ssl_options.verify"],
            "fail_if_no_peer_cert = true needs verify = verify_peer".into(),
        ));
    }
    if tls.verify_peer && tls.cacertfile.is_none() {
        errors.push(conflict(
            used,
            &["ssl_options.verify", "ssl_options.cacertfile"],
            "verify_peer needs a cacertfile to check client certificates against".into(),
        ));
    }
    errors
}

/// An error naming each key (or the first key of a family) with where it was set.
fn conflict(used: &[Entry], keys: &[&str], reason: String) -> SettingsError {
    let named: Vec<String> = keys
        .iter()
        .map(|k| {
            let entry = used.iter().find(|e| {
                e.key == *k
                    || e.key
                        .strip_prefix(k)
                        .is_some_and(|rest| rest.starts_with('.'))
            });
            match entry {
                Some(e) => format!("{} ({})", e.key, e.place),
                None => format!("{k} (default)"),
            }
        })
        .collect();
    SettingsError::new(named.join(", "), "", reason)
}
