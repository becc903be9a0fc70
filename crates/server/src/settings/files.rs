//! Which settings files are read. Each is named by a flag, else by a variable (Warren's,
//! then RabbitMQ's): the TOML file (`--config-toml`, `WARREN_CONFIG_TOML`); the main
//! `rabbitmq.conf` (`--config`, `WARREN_CONFIG`, `RABBITMQ_CONFIG_FILE`, whose `.conf`
//! extension may be left out as RabbitMQ allows); more `rabbitmq.conf` files (`--config-files`,
//! `WARREN_CONFIG_FILES`, `RABBITMQ_CONFIG_FILES`: a directory, every file in it, or a pattern
//! such as `conf.d/*.conf`), read after the main one in name order. Nothing is read unless
//! named: RabbitMQ's default paths under /etc/rabbitmq belong to RabbitMQ.

use super::env::get;
use super::{Flags, SettingsError};
use std::path::{Path, PathBuf};

/// The files to read, each layer's lowest first.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Files {
    pub toml: Option<PathBuf>,
    pub conf: Vec<PathBuf>,
}

/// A path given by a flag or a variable, with where it was given.
struct Named {
    path: PathBuf,
    place: String,
}

fn named(
    flag: &Option<PathBuf>,
    flag_name: &str,
    env: &[(String, String)],
    variables: &[&str],
) -> Option<Named> {
    if let Some(path) = flag {
        return Some(Named {
            path: path.clone(),
            place: format!("flag {flag_name}"),
        });
    }
    variables.iter().find_map(|v| {
        get(env, v).map(|p| Named {
            path: p.into(),
            place: format!("environment variable {v}"),
        })
    })
}

pub(super) fn locate(flags: &Flags, env: &[(String, String)]) -> Result<Files, SettingsError> {
    let toml = named(
        &flags.config_toml,
        "--config-toml",
        env,
        &["WARREN_CONFIG_TOML"],
    );
    let main = named(
        &flags.config,
        "--config",
        env,
        &["WARREN_CONFIG", "RABBITMQ_CONFIG_FILE"],
    );
    let more = named(
        &flags.config_files,
        "--config-files",
        env,
        &["WARREN_CONFIG_FILES", "RABBITMQ_CONFIG_FILES"],
    );
    let mut conf = Vec::new();
    if let Some(main) = main {
        conf.push(main_file(main)?);
    }
    if let Some(more) = more {
        for path in listed(&more)? {
            if !conf.contains(&path) {
                conf.push(path);
            }
        }
    }
    Ok(Files {
        toml: toml.map(|t| t.path),
        conf,
    })
}

/// The main file: RabbitMQ's classic Erlang-term format (`.config`) is refused, and a name
/// without an extension finds `NAME.conf`.
fn main_file(main: Named) -> Result<PathBuf, SettingsError> {
    let path = main.path;
    match path.extension().and_then(|e| e.to_str()) {
        Some("config") => Err(SettingsError::new(
            "",
            main.place,
            format!(
                "{}: the classic Erlang-term format (.config) is not supported; use the \
                 rabbitmq.conf format",
                path.display()
            ),
        )),
        None if !path.exists() && path.with_extension("conf").is_file() => {
            Ok(path.with_extension("conf"))
        }
        _ => Ok(path),
    }
}

/// The files of a directory or of a pattern in its last component, sorted by name.
fn listed(more: &Named) -> Result<Vec<PathBuf>, SettingsError> {
    let path = &more.path;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let (dir, pattern) = if name.contains(['*', '?']) {
        (path.parent().unwrap_or(Path::new(".")), Some(name))
    } else {
        (path.as_path(), None)
    };
    let entries = std::fs::read_dir(dir).map_err(|e| {
        SettingsError::new(
            "",
            more.place.clone(),
            format!("cannot list {}: {e}", dir.display()),
        )
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            // Hidden files (editor swap files) are no settings.
            !name.starts_with('.') && pattern.is_none_or(|p| glob(p.as_bytes(), name.as_bytes()))
        })
        .map(|e| e.path())
        .collect();
    files.sort();
    Ok(files)
}

/// `*` and `?` matching of one file name.
fn glob(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.split_first(), name.split_first()) {
        (None, None) => true,
        (Some((b'*', rest)), _) => {
            glob(rest, name) || name.split_first().is_some_and(|(_, n)| glob(pattern, n))
        }
        (Some((b'?', rest)), Some((_, n))) => glob(rest, n),
        (Some((p, rest)), Some((c, n))) if p == c => glob(rest, n),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn flags(args: &[&str]) -> Flags {
        Flags::try_parse_from(std::iter::once("warren").chain(args.iter().copied())).unwrap()
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn flags_beat_warren_variables_beat_rabbitmq_ones() {
        let e = env(&[
            ("RABBITMQ_CONFIG_FILE", "/r.conf"),
            ("WARREN_CONFIG", "/w.conf"),
            ("WARREN_CONFIG_TOML", "/w.toml"),
        ]);
        let got = locate(&flags(&[]), &e).unwrap();
        assert_eq!(got.conf, [PathBuf::from("/w.conf")]);
        assert_eq!(got.toml, Some(PathBuf::from("/w.toml")));
        let got = locate(&flags(&["--config", "/f.conf"]), &e).unwrap();
        assert_eq!(got.conf, [PathBuf::from("/f.conf")]);
        let got = locate(&flags(&[]), &env(&[("RABBITMQ_CONFIG_FILE", "/r.conf")])).unwrap();
        assert_eq!(got.conf, [PathBuf::from("/r.conf")]);
        assert_eq!(locate(&flags(&[]), &[]).unwrap(), Files::default());
    }

    #[test]
    fn conf_d_directories_and_patterns_list_files_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for name in ["20-b.conf", "10-a.conf", "notes.txt", ".swap.conf"] {
            std::fs::write(d.join(name), "").unwrap();
        }
        std::fs::create_dir(d.join("sub.conf")).unwrap();
        std::fs::write(d.join("rabbitmq.conf"), "").unwrap();
        let main = d.join("rabbitmq");
        let e = env(&[
            ("RABBITMQ_CONFIG_FILE", main.to_str().unwrap()),
            ("RABBITMQ_CONFIG_FILES", d.join("*.conf").to_str().unwrap()),
        ]);
        let names = |files: Files| -> Vec<String> {
            files
                .conf
                .iter()
                .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                .collect()
        };
        // The main file (extension added) first, once, then the pattern's files by name.
        assert_eq!(
            names(locate(&flags(&[]), &e).unwrap()),
            ["rabbitmq.conf", "10-a.conf", "20-b.conf"]
        );
        let dir_flag = flags(&["--config-files", d.to_str().unwrap()]);
        assert_eq!(
            names(locate(&dir_flag, &[]).unwrap()),
            ["10-a.conf", "20-b.conf", "notes.txt", "rabbitmq.conf"]
        );
        let missing = flags(&["--config-files", "/no/such/dir"]);
        let err = locate(&missing, &[]).unwrap_err().to_string();
        assert!(
            err.contains("flag --config-files") && err.contains("cannot list"),
            "{err}"
        );
    }

    #[test]
    fn the_classic_format_is_refused() {
        let e = env(&[("RABBITMQ_CONFIG_FILE", "/etc/rabbitmq/rabbitmq.config")]);
        let err = locate(&flags(&[]), &e).unwrap_err().to_string();
        assert!(
            err.contains("RABBITMQ_CONFIG_FILE") && err.contains(".config"),
            "{err}"
        );
    }

    #[test]
    fn glob_matches_names() {
        assert!(glob(b"*.conf", b"10-a.conf"));
        assert!(glob(b"?0-*.conf", b"10-a.conf"));
        assert!(!glob(b"*.conf", b"a.conf.bak"));
        assert!(glob(b"*", b""));
    }
}
