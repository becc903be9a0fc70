//! Value syntax of `rabbitmq.conf`, as RabbitMQ 3.10 (cuttlefish and its schema) reads it:
//! booleans, integers, sizes with units, durations in ms, listener addresses. Every parser
//! takes the value's text and says in its error what it expected; the caller adds the key and
//! where it was set.

use figment::value::Value;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// The text of a single value. Files, the environment and flags give strings; a TOML file
/// gives typed values, read here as the string RabbitMQ would have seen.
pub(super) fn text(value: &Value) -> Result<String, String> {
    match value {
        Value::String(_, s) => Ok(s.clone()),
        Value::Char(_, c) => Ok(c.to_string()),
        Value::Bool(_, b) => Ok(b.to_string()),
        Value::Num(_, n) => Ok(number_text(n)),
        Value::Array(..) | Value::Dict(..) | Value::Empty(..) => {
            Err("expected a single value, not a list or table".into())
        }
    }
}

fn number_text(n: &figment::value::Num) -> String {
    let n = *n;
    match (n.to_u128(), n.to_i128(), n.to_f64()) {
        (Some(u), _, _) => u.to_string(),
        (_, Some(i), _) => i.to_string(),
        (_, _, Some(f)) => f.to_string(),
        _ => String::new(),
    }
}

/// A list value: a TOML array, or a comma-separated string (`a, b`), or `none` (empty).
pub(super) fn list(value: &Value) -> Result<Vec<String>, String> {
    if let Value::Array(_, items) = value {
        return items.iter().map(text).collect();
    }
    let s = text(value)?;
    if s == "none" {
        return Ok(Vec::new());
    }
    Ok(s.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect())
}

/// `true` or `false`, exactly (cuttlefish's boolean enum refuses `TRUE` and `yes`).
pub(super) fn boolean(s: &str) -> Result<bool, String> {
    match s {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("'{s}' is not true or false")),
    }
}

/// A decimal integer between `min` and `max`.
pub(super) fn integer(s: &str, min: u64, max: u64) -> Result<u64, String> {
    let n: u64 = s
        .parse()
        .map_err(|_| format!("'{s}' is not a non-negative integer"))?;
    if n < min || n > max {
        return Err(format!("{n} is not between {min} and {max}"));
    }
    Ok(n)
}

/// A non-negative decimal number (`0.4`; cuttlefish wants the point, Warren also takes `1`).
pub(super) fn fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if f.is_finite() && f >= 0.0 => Ok(f),
        _ => Err(format!("'{s}' is not a non-negative number such as 0.4")),
    }
}

/// `vm_memory_high_watermark_paging_ratio`: as rabbit.schema's `less_than_1` validator, a
/// number strictly between 0 and 1.
pub(super) fn paging_ratio(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if f > 0.0 && f < 1.0 => Ok(f),
        _ => Err(format!("'{s}' is not a number between 0 and 1 such as 0.5")),
    }
}

/// cuttlefish's `bytesize` (`frame_max`): bytes, or `KB`/`MB`/`GB` (also lower case) meaning
/// powers of 1024.
pub(super) fn bytesize(s: &str) -> Result<u64, String> {
    let bad = || format!("'{s}' is not a size such as 131072, 128KB or 1MB");
    let (digits, shift) = match s.len().checked_sub(2).map(|i| s.split_at(i)) {
        Some((d, "KB" | "kb")) => (d, 10),
        Some((d, "MB" | "mb")) => (d, 20),
        Some((d, "GB" | "gb")) => (d, 30),
        _ => (s, 0),
    };
    let n: u64 = digits.parse().map_err(|_| bad())?;
    n.checked_mul(1 << shift).ok_or_else(bad)
}

/// RabbitMQ's information units (`vm_memory_high_watermark.absolute`,
/// `disk_free_limit.absolute`): bytes, or `kB`/`MB`/`GB` (powers of 1000) or `k`/`kiB`,
/// `M`/`MiB`, `G`/`GiB` (powers of 1024), with the spellings
/// `rabbit_resource_monitor_misc` accepts.
pub(super) fn information_unit(s: &str) -> Result<u64, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let factor: u64 = match unit {
        "" => 1,
        "kB" | "KB" | "kb" | "Kb" => 1000,
        "MB" | "mb" | "Mb" => 1000 * 1000,
        "GB" | "gb" | "Gb" => 1000 * 1000 * 1000,
        "k" | "K" | "kiB" | "KiB" | "kib" | "KIB" => 1 << 10,
        "M" | "m" | "MiB" | "mib" | "MIB" => 1 << 20,
        "G" | "g" | "GiB" | "gib" | "GIB" => 1 << 30,
        _ => 0,
    };
    let bad = || format!("'{s}' is not a size such as 50000000, 50MB or 2GiB");
    let n: u64 = digits.parse().map_err(|_| bad())?;
    if factor == 0 {
        return Err(bad());
    }
    n.checked_mul(factor).ok_or_else(bad)
}

/// Milliseconds as RabbitMQ gives `handshake_timeout` and `consumer_timeout`; `infinity`
/// (where `allow_infinity`) is `None`.
pub(super) fn millis(s: &str, allow_infinity: bool) -> Result<Option<Duration>, String> {
    if allow_infinity && s == "infinity" {
        return Ok(None);
    }
    let n: u64 = s.parse().map_err(|_| {
        let alt = if allow_infinity { " or infinity" } else { "" };
        format!("'{s}' is not a number of milliseconds{alt}")
    })?;
    Ok(Some(Duration::from_millis(n)))
}

/// One listener: a port (every interface, `[::]` dual-stack, as RabbitMQ listens on all) or
/// `IP:PORT`, with an IPv6 address bare as RabbitMQ writes it (`::1:5672`) or bracketed
/// (`[::1]:5672`).
pub(super) fn listener(s: &str) -> Result<SocketAddr, String> {
    let bad = || format!("'{s}' is not a port or an IP:PORT address");
    if let Ok(port) = s.parse::<u16>() {
        return Ok(SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)));
    }
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let (ip, port) = s.rsplit_once(':').ok_or_else(bad)?;
    let ip: IpAddr = ip.parse().map_err(|_| bad())?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    Ok(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_rabbitmq_units() {
        // Checked against rabbit_resource_monitor_misc:parse_information_unit/1 (3.10.8).
        for (s, n) in [
            ("2GB", 2_000_000_000),
            ("2gb", 2_000_000_000),
            ("2GiB", 2 << 30),
            ("2G", 2 << 30),
            ("2k", 2048),
            ("2kB", 2000),
            ("50MB", 50_000_000),
            ("3MiB", 3 << 20),
            ("0", 0),
            ("1073741824", 1 << 30),
        ] {
            assert_eq!(information_unit(s), Ok(n), "{s}");
        }
        for s in ["2TB", "2 GB", "1.5GB", "-1", "2B", "", "GB"] {
            assert!(information_unit(s).is_err(), "{s}");
        }
        // cuttlefish_bytesize:parse/1: KB is 1024 there.
        assert_eq!(bytesize("1KB"), Ok(1024));
        assert_eq!(bytesize("1mb"), Ok(1 << 20));
        assert_eq!(bytesize("131072"), Ok(131_072));
        assert!(bytesize("1kB").is_err());
        assert!(bytesize("1K").is_err());
    }

    #[test]
    fn listeners_take_ports_and_both_ipv6_spellings() {
        assert_eq!(listener("5672").unwrap().to_string(), "[::]:5672");
        assert_eq!(
            listener("127.0.0.1:5673").unwrap().to_string(),
            "127.0.0.1:5673"
        );
        assert_eq!(listener("::1:5673").unwrap().to_string(), "[::1]:5673");
        assert_eq!(listener("[::1]:5673").unwrap().to_string(), "[::1]:5673");
        assert_eq!(listener(":::5673").unwrap().to_string(), "[::]:5673");
        assert!(listener("localhost:5672").is_err());
        assert!(listener("127.0.0.1:99999").is_err());
    }

    #[test]
    fn paging_ratios_are_strictly_between_0_and_1() {
        assert_eq!(paging_ratio("0.5"), Ok(0.5));
        assert_eq!(paging_ratio("0.99"), Ok(0.99));
        for s in ["0", "1", "1.0", "1.5", "-0.1", "NaN", "half"] {
            assert!(paging_ratio(s).is_err(), "{s}");
        }
    }

    #[test]
    fn scalars() {
        assert_eq!(boolean("true"), Ok(true));
        assert!(boolean("TRUE").is_err());
        assert!(boolean("yes").is_err());
        assert_eq!(integer("30", 0, 65535), Ok(30));
        assert!(integer("70000", 0, 65535).unwrap_err().contains("between"));
        assert!(integer("-1", 0, 10).is_err());
        assert_eq!(fraction("0.6"), Ok(0.6));
        assert_eq!(fraction("1"), Ok(1.0));
        assert!(fraction("-0.1").is_err());
        assert_eq!(millis("infinity", true), Ok(None));
        assert!(millis("infinity", false).is_err());
        assert_eq!(millis("1500", false), Ok(Some(Duration::from_millis(1500))));
        assert_eq!(list(&Value::from("none".to_string())), Ok(vec![]));
        assert_eq!(
            list(&Value::from("a, b".to_string())),
            Ok(vec!["a".to_string(), "b".to_string()])
        );
    }
}
