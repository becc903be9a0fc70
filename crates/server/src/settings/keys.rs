//! Every key Warren reads and the `Config` field it sets: RabbitMQ's names and value syntax
//! (rabbit.schema, rabbitmq_management.schema and rabbitmq_prometheus.schema of 3.10.8), and
//! Warren's own (`listen`, `data_dir`, `closing_timeout`, `store.*`). docs/configuration.md
//! lists them. A setting may own several keys (`vm_memory_high_watermark.relative` and
//! `.absolute`) or a family (`listeners.tcp` and every `listeners.tcp.NAME`): the highest layer
//! that sets any of them sets the whole field, so the environment's listeners replace the
//! file's instead of adding to them. Within one layer the family's keys combine as in
//! RabbitMQ.

use super::values::{
    boolean, bytesize, fraction, information_unit, integer, list, listener, millis, paging_ratio,
};
use super::{Entry, SettingsError};
use crate::access::permissions::Permissions;
use crate::config::{
    CertLoginFrom, Config, DiskFreeLimit, MemoryWatermark, PermissionPatterns, TlsVersion,
    MESSAGE_SIZE_LIMIT,
};
use figment::value::Value;
use std::path::PathBuf;
use std::time::Duration;

pub(super) type Apply = fn(&mut Config, &Group) -> Result<(), SettingsError>;

/// One field (or a few that go together) and the keys that set it.
pub(super) struct Setting {
    keys: &'static [&'static str],
    /// Each key also covers `KEY.NAME`.
    family: bool,
    apply: Apply,
}

pub(super) fn one(keys: &'static [&'static str], apply: Apply) -> Setting {
    Setting {
        keys,
        family: false,
        apply,
    }
}

pub(super) fn family(keys: &'static [&'static str], apply: Apply) -> Setting {
    Setting {
        keys,
        family: true,
        apply,
    }
}

impl Setting {
    fn claims(&self, key: &str) -> bool {
        self.keys.iter().any(|k| {
            key == *k
                || (self.family
                    && key
                        .strip_prefix(k)
                        .is_some_and(|rest| rest.starts_with('.')))
        })
    }
}

/// The entries of one setting from the highest layer that sets it, sorted by key.
pub(super) struct Group<'a> {
    keys: &'static [&'static str],
    entries: Vec<&'a Entry>,
}

/// The outcome of applying merged entries to the defaults.
pub(super) struct Applied {
    pub config: Config,
    /// The entries that set a field (the winning layer's, per setting).
    pub used: Vec<Entry>,
    /// Keys no setting knows.
    pub unknown: Vec<Entry>,
    pub errors: Vec<SettingsError>,
}

/// Applies `entries` (one per key, already merged) over `Config::default()`.
pub(super) fn apply(entries: Vec<Entry>) -> Applied {
    let mut config = Config::default();
    let mut errors = Vec::new();
    let mut claimed = vec![false; entries.len()];
    let mut used_at = Vec::new();
    for setting in table() {
        let mine: Vec<usize> = (0..entries.len())
            .filter(|&i| setting.claims(&entries[i].key))
            .collect();
        let Some(top) = mine.iter().map(|&i| entries[i].layer).max() else {
            continue;
        };
        mine.iter().for_each(|&i| claimed[i] = true);
        let winners: Vec<usize> = mine
            .into_iter()
            .filter(|&i| entries[i].layer == top)
            .collect();
        let group = Group {
            keys: setting.keys,
            entries: winners.iter().map(|&i| &entries[i]).collect(),
        };
        if let Err(e) = (setting.apply)(&mut config, &group) {
            errors.push(e);
        }
        used_at.extend(winners);
    }
    let mut used = Vec::new();
    let mut unknown = Vec::new();
    for (i, entry) in entries.into_iter().enumerate() {
        if used_at.contains(&i) {
            used.push(entry);
        } else if !claimed[i] {
            unknown.push(entry);
        }
    }
    Applied {
        config,
        used,
        unknown,
        errors,
    }
}

fn table() -> Vec<Setting> {
    let mut table = core_table();
    table.extend(super::https_keys::settings());
    table.extend(super::log_keys::settings());
    table
}

fn core_table() -> Vec<Setting> {
    vec![
        family(&["listeners.tcp", "listen"], |c, g| {
            c.listen = listeners(g)?;
            c.no_tcp_listeners = c.listen.is_empty();
            Ok(())
        }),
        family(&["listeners.ssl"], |c, g| {
            c.tls_listen = listeners(g)?;
            Ok(())
        }),
        one(&["ssl_options.cacertfile"], |c, g| {
            c.tls.cacertfile = Some(readable_file(g.entry())?);
            Ok(())
        }),
        one(&["ssl_options.certfile"], |c, g| {
            c.tls.certfile = Some(readable_file(g.entry())?);
            Ok(())
        }),
        one(&["ssl_options.keyfile"], |c, g| {
            c.tls.keyfile = Some(readable_file(g.entry())?);
            Ok(())
        }),
        one(&["ssl_options.verify"], |c, g| {
            c.tls.verify_peer = g.entry().parse(verify)?;
            Ok(())
        }),
        one(&["ssl_options.fail_if_no_peer_cert"], |c, g| {
            c.tls.fail_if_no_peer_cert = g.entry().parse(boolean)?;
            Ok(())
        }),
        family(&["ssl_options.versions"], |c, g| {
            c.tls.versions = g
                .values()?
                .into_iter()
                .map(|(v, e)| e.parse_text(&v, tls_version))
                .collect::<Result<_, _>>()?;
            Ok(())
        }),
        family(&["auth_mechanisms"], |c, g| {
            c.auth_mechanisms = mechanisms(g)?;
            Ok(())
        }),
        one(&["ssl_cert_login_from"], |c, g| {
            c.ssl_cert_login_from = g.entry().parse(cert_login_from)?;
            Ok(())
        }),
        // RabbitMQ's newer spelling first: in one layer `load_definitions` wins.
        one(&["definitions.local.path", "load_definitions"], |c, g| {
            c.load_definitions = Some(definitions_file(g.entry())?);
            Ok(())
        }),
        one(&["data_dir"], |c, g| {
            c.data_dir = PathBuf::from(g.entry().parse(non_empty)?);
            Ok(())
        }),
        one(&["default_user"], |c, g| {
            c.default_user = g.entry().parse(non_empty)?;
            Ok(())
        }),
        one(&["default_pass"], |c, g| {
            c.default_pass = g.entry().text()?;
            Ok(())
        }),
        one(&["default_vhost"], |c, g| {
            c.default_vhost = g.entry().parse(non_empty)?;
            Ok(())
        }),
        family(&["default_user_tags"], |c, g| {
            c.default_user_tags = g.names()?;
            Ok(())
        }),
        one(&["default_permissions.configure"], |c, g| {
            c.default_permissions.configure = g.entry().parse(pattern)?;
            Ok(())
        }),
        one(&["default_permissions.read"], |c, g| {
            c.default_permissions.read = g.entry().parse(pattern)?;
            Ok(())
        }),
        one(&["default_permissions.write"], |c, g| {
            c.default_permissions.write = g.entry().parse(pattern)?;
            Ok(())
        }),
        family(&["loopback_users"], |c, g| {
            c.loopback_users = g.names()?;
            Ok(())
        }),
        one(&["heartbeat"], |c, g| {
            c.heartbeat = g.entry().parse(|s| integer(s, 0, 65_535))? as u16;
            Ok(())
        }),
        one(&["frame_max"], |c, g| {
            c.frame_max = g.entry().parse(frame_max)?;
            Ok(())
        }),
        one(&["channel_max"], |c, g| {
            // RabbitMQ: 0 means no limit, the most a channel number can be.
            let n = g.entry().parse(|s| integer(s, 0, 65_535))? as u16;
            c.channel_max = if n == 0 { u16::MAX } else { n };
            Ok(())
        }),
        one(&["max_message_size"], |c, g| {
            c.max_message_size = g.entry().parse(|s| integer(s, 1, MESSAGE_SIZE_LIMIT))?;
            Ok(())
        }),
        one(&["handshake_timeout"], |c, g| {
            c.handshake_timeout = g
                .entry()
                .parse(|s| millis(s, true))?
                .unwrap_or(Duration::MAX);
            Ok(())
        }),
        one(&["closing_timeout"], |c, g| {
            c.closing_timeout = g.entry().parse(|s| millis(s, false))?.unwrap_or_default();
            Ok(())
        }),
        one(&["consumer_timeout"], |c, g| {
            c.consumer_timeout = g.entry().parse(consumer_timeout)?;
            Ok(())
        }),
        one(&["management.tcp.port"], |c, g| {
            c.management_port = g.entry().parse(|s| integer(s, 0, 65_535))? as u16;
            Ok(())
        }),
        one(&["management.enabled"], |c, g| {
            c.management_enabled = g.entry().parse(boolean)?;
            Ok(())
        }),
        one(&["prometheus.tcp.port"], |c, g| {
            c.prometheus_port = g.entry().parse(|s| integer(s, 0, 65_535))? as u16;
            Ok(())
        }),
        one(
            &[
                "vm_memory_high_watermark.absolute",
                "vm_memory_high_watermark.relative",
            ],
            |c, g| {
                c.memory_high_watermark = memory_watermark(g)?;
                Ok(())
            },
        ),
        one(&["vm_memory_high_watermark_paging_ratio"], |c, g| {
            c.memory_paging_ratio = g.entry().parse(paging_ratio)?;
            Ok(())
        }),
        one(
            &["disk_free_limit.absolute", "disk_free_limit.relative"],
            |c, g| {
                c.disk_free_limit = disk_free_limit(g)?;
                Ok(())
            },
        ),
        one(&["store.pending_max"], |c, g| {
            c.store_pending_max = g.entry().parse(information_unit)?;
            Ok(())
        }),
        one(&["store.max_batch_requests"], |c, g| {
            c.store_options.max_batch_requests = g.entry().parse(|s| size(s, integer_text))?;
            Ok(())
        }),
        one(&["store.max_batch_bytes"], |c, g| {
            c.store_options.max_batch_bytes = g.entry().parse(|s| size(s, information_unit))?;
            Ok(())
        }),
        one(&["store.block_cache_bytes"], |c, g| {
            c.store_options.block_cache_bytes = g.entry().parse(|s| size(s, information_unit))?;
            Ok(())
        }),
        one(&["store.msgs_write_buffer_bytes"], |c, g| {
            c.store_options.msgs_write_buffer_bytes =
                g.entry().parse(|s| size(s, information_unit))?;
            Ok(())
        }),
        one(&["store.qidx_write_buffer_bytes"], |c, g| {
            c.store_options.qidx_write_buffer_bytes =
                g.entry().parse(|s| size(s, information_unit))?;
            Ok(())
        }),
    ]
}

impl<'a> Group<'a> {
    /// The entry of a one-key setting; of several keys, the last by key.
    pub(super) fn entry(&self) -> &'a Entry {
        self.entries[self.entries.len() - 1]
    }

    /// Whether `entry` is the family's own key (`listeners.tcp`), not one of its names.
    fn is_bare(&self, entry: &Entry) -> bool {
        self.keys.contains(&entry.key.as_str())
    }

    /// The name after the family key: `listeners.tcp.1` -> `1`.
    fn name_of(&self, entry: &'a Entry) -> &'a str {
        self.keys
            .iter()
            .find_map(|k| entry.key.strip_prefix(k)?.strip_prefix('.'))
            .unwrap_or(&entry.key)
    }

    /// The named entries, numbers in numeric order first (`auth_mechanisms.2` before `.10`),
    /// then the other names.
    fn named(&self) -> Vec<&'a Entry> {
        let mut named: Vec<&Entry> = self
            .entries
            .iter()
            .copied()
            .filter(|e| !self.is_bare(e))
            .collect();
        named.sort_by_key(|e| {
            let name = self.name_of(e);
            (
                name.parse::<u64>().map_err(|_| name.to_string()),
                e.key.clone(),
            )
        });
        named
    }

    /// The list items of the bare keys: `None` when one of them is `none`, which empties the
    /// family and wins over its named keys, as in RabbitMQ.
    fn bare_items(&self) -> Result<Option<Vec<(String, &'a Entry)>>, SettingsError> {
        let mut out = Vec::new();
        for bare in self.entries.iter().filter(|e| self.is_bare(e)) {
            if matches!(&bare.value, Value::String(_, s) if s == "none") {
                return Ok(None);
            }
            let items = list(&bare.value).map_err(|e| bare.refuse(e))?;
            out.extend(items.into_iter().map(|v| (v, *bare)));
        }
        Ok(Some(out))
    }

    /// The values a list family sets, each with its entry: `FAMILY = a, b` (or an array),
    /// then each `FAMILY.NAME = value`.
    pub(super) fn values(&self) -> Result<Vec<(String, &'a Entry)>, SettingsError> {
        let Some(mut out) = self.bare_items()? else {
            return Ok(Vec::new());
        };
        for e in self.named() {
            out.push((e.text()?, e));
        }
        Ok(out)
    }

    /// The names a flag family turns on: `FAMILY.NAME = true` (RabbitMQ's `default_user_tags`
    /// and `loopback_users`), or `FAMILY = a, b`.
    fn names(&self) -> Result<Vec<String>, SettingsError> {
        let Some(items) = self.bare_items()? else {
            return Ok(Vec::new());
        };
        let mut out: Vec<String> = Vec::new();
        let on = self.named().into_iter().map(|e| {
            let on = e.parse(boolean)?;
            Ok(on.then(|| self.name_of(e).to_string()))
        });
        for name in items.into_iter().map(|(v, _)| Ok(Some(v))).chain(on) {
            match name? {
                Some(n) if !out.contains(&n) => out.push(n),
                _ => {}
            }
        }
        Ok(out)
    }
}

fn listeners(group: &Group) -> Result<Vec<std::net::SocketAddr>, SettingsError> {
    group
        .values()?
        .into_iter()
        .map(|(v, e)| e.parse_text(&v, listener))
        .collect()
}

fn mechanisms(group: &Group) -> Result<Vec<String>, SettingsError> {
    let mut out: Vec<String> = Vec::new();
    for (v, e) in group.values()? {
        let name = e.parse_text(&v, |s| match s {
            "PLAIN" | "AMQPLAIN" | "EXTERNAL" => Ok(s.to_string()),
            _ => Err(format!(
                "'{s}' is not a mechanism Warren offers (PLAIN, AMQPLAIN, EXTERNAL)"
            )),
        })?;
        if !out.contains(&name) {
            out.push(name);
        }
    }
    if out.is_empty() {
        return Err(group
            .entry()
            .refuse("no mechanism left: no client could log in"));
    }
    Ok(out)
}

/// `.relative` or `.absolute`; RabbitMQ's translation takes `.relative` when a layer sets
/// both. The keys sort `absolute` first, so the group's last entry is the one that counts.
fn memory_watermark(group: &Group) -> Result<MemoryWatermark, SettingsError> {
    let e = group.entry();
    if e.key.ends_with(".relative") {
        Ok(MemoryWatermark::Relative(e.parse(fraction)?))
    } else {
        Ok(MemoryWatermark::Absolute(e.parse(information_unit)?))
    }
}

fn disk_free_limit(group: &Group) -> Result<DiskFreeLimit, SettingsError> {
    let e = group.entry();
    if e.key.ends_with(".relative") {
        Ok(DiskFreeLimit::MemRelative(e.parse(fraction)?))
    } else {
        Ok(DiskFreeLimit::Absolute(e.parse(information_unit)?))
    }
}

pub(super) fn verify(s: &str) -> Result<bool, String> {
    match s {
        "verify_peer" => Ok(true),
        "verify_none" => Ok(false),
        _ => Err(format!("'{s}' is not verify_peer or verify_none")),
    }
}

pub(super) fn tls_version(s: &str) -> Result<TlsVersion, String> {
    match s {
        "tlsv1.2" => Ok(TlsVersion::Tls12),
        "tlsv1.3" => Ok(TlsVersion::Tls13),
        "tlsv1" | "tlsv1.1" => Err(format!(
            "{s} is not supported: Warren speaks tlsv1.2 and tlsv1.3"
        )),
        _ => Err(format!("'{s}' is not a TLS version (tlsv1.2, tlsv1.3)")),
    }
}

fn cert_login_from(s: &str) -> Result<CertLoginFrom, String> {
    match s {
        "distinguished_name" => Ok(CertLoginFrom::DistinguishedName),
        "common_name" => Ok(CertLoginFrom::CommonName),
        "subject_alternative_name" | "subject_alt_name" => Err(format!(
            "{s} is not supported yet: use distinguished_name or common_name"
        )),
        _ => Err(format!("'{s}' is not distinguished_name or common_name")),
    }
}

fn non_empty(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    Ok(s.to_string())
}

/// A permission pattern, compiled the way the access registry compiles it.
fn pattern(s: &str) -> Result<String, String> {
    let p = s.to_string();
    Permissions::new(PermissionPatterns {
        configure: p.clone(),
        write: p.clone(),
        read: p.clone(),
    })
    .map_err(|e| e.to_string())?;
    Ok(p)
}

fn frame_max(s: &str) -> Result<u32, String> {
    const FRAME_MIN_SIZE: u64 = 4096;
    let n = bytesize(s)?;
    if !(FRAME_MIN_SIZE..=MESSAGE_SIZE_LIMIT).contains(&n) {
        return Err(format!(
            "{n} is not between {FRAME_MIN_SIZE} (AMQP's smallest frame_max) and \
             {MESSAGE_SIZE_LIMIT} (512 MiB, RabbitMQ's cap on message sizes)"
        ));
    }
    Ok(n as u32)
}

fn consumer_timeout(s: &str) -> Result<Option<Duration>, String> {
    match millis(s, true)? {
        Some(d) if d.is_zero() => Err("must be at least 1 ms (or infinity)".into()),
        d => Ok(d),
    }
}

fn integer_text(s: &str) -> Result<u64, String> {
    integer(s, 0, u64::MAX)
}

/// A store size or count: at least 1, and fits this machine's `usize`.
fn size(s: &str, parse: fn(&str) -> Result<u64, String>) -> Result<usize, String> {
    match parse(s)? {
        0 => Err("must be at least 1".into()),
        n => usize::try_from(n).map_err(|_| format!("{n} is too large")),
    }
}

/// RabbitMQ's `file_accessible` check: the file exists and can be read.
pub(super) fn readable_file(entry: &Entry) -> Result<PathBuf, SettingsError> {
    let path = PathBuf::from(entry.parse(non_empty)?);
    match std::fs::File::open(&path).and_then(|f| f.metadata()) {
        Ok(m) if m.is_file() => Ok(path),
        Ok(_) => Err(entry.refuse(format!("{} is not a file", path.display()))),
        Err(e) => Err(entry.refuse(format!("cannot read {}: {e}", path.display()))),
    }
}

fn definitions_file(entry: &Entry) -> Result<PathBuf, SettingsError> {
    let path = PathBuf::from(entry.parse(non_empty)?);
    if path.is_dir() {
        return Err(entry.refuse(format!(
            "{} is a directory: Warren imports one definitions file",
            path.display()
        )));
    }
    readable_file(entry)
}
