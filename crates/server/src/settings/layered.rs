//! Layering with figment: every source (a file, the environment, the flags) is a figment
//! provider of flat `rabbitmq.conf` keys; figment merges them in order, so for one key the
//! later source wins, and tags each value with the provider it came from. `merge` turns the
//! result back into entries that know their layer and where they were set (file:line, the
//! variable, the flag).

use super::{Entry, Layer};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use std::collections::HashMap;
use std::path::PathBuf;

/// One source's settings, keys flat (`listeners.tcp.default`), as cuttlefish keeps them: a
/// key and its sub-keys (`listeners.tcp` and `listeners.tcp.1`) are separate entries.
#[derive(Debug, Clone)]
pub(super) struct Source {
    pub layer: Layer,
    /// Unique among the sources of one load: figment's metadata name for this provider.
    pub label: String,
    pub path: Option<PathBuf>,
    values: Dict,
    places: HashMap<String, String>,
}

impl Source {
    pub fn new(layer: Layer, label: impl Into<String>) -> Source {
        Source {
            layer,
            label: label.into(),
            path: None,
            values: Dict::new(),
            places: HashMap::new(),
        }
    }

    /// Sets `key`; a later push of the same key replaces it (the last line of a file wins).
    pub fn push(&mut self, key: impl Into<String>, value: Value, place: impl Into<String>) {
        let key = key.into();
        self.places.insert(key.clone(), place.into());
        self.values.insert(key, value);
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

impl Provider for Source {
    fn metadata(&self) -> Metadata {
        let meta = Metadata::named(self.label.clone());
        match &self.path {
            Some(path) => meta.source(path.as_path()),
            None => meta,
        }
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.values.clone()))
    }
}

/// Merges the sources, lowest first, into one entry per key (sorted by key).
pub(super) fn merge(sources: &[Source]) -> Vec<Entry> {
    let figment = sources.iter().fold(Figment::new(), Figment::merge);
    // Our providers cannot fail, so neither can the merge.
    let mut data = figment.data().unwrap_or_default();
    let dict = data.remove(&Profile::Default).unwrap_or_default();
    dict.into_iter()
        .filter_map(|(key, value)| {
            let label = figment.get_metadata(value.tag())?.name.clone();
            let source = sources.iter().find(|s| s.label == label)?;
            let place = source.places.get(&key).cloned().unwrap_or_default();
            Some(Entry {
                key,
                value,
                layer: source.layer,
                place,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_later_source_wins_per_key_and_entries_keep_their_origin() {
        let mut file = Source::new(Layer::RabbitConf, "file a.conf");
        file.push("heartbeat", "30".into(), "a.conf:1");
        file.push("default_user", "ann".into(), "a.conf:2");
        let mut env = Source::new(Layer::Env, "environment");
        env.push("heartbeat", "5".into(), "WARREN_HEARTBEAT");
        let entries = merge(&[file, env]);
        let got: Vec<_> = entries
            .iter()
            .map(|e| {
                (
                    e.key.as_str(),
                    super::super::values::text(&e.value).unwrap(),
                    e.layer,
                    e.place.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("default_user", "ann".into(), Layer::RabbitConf, "a.conf:2"),
                ("heartbeat", "5".into(), Layer::Env, "WARREN_HEARTBEAT"),
            ]
        );
    }
}
