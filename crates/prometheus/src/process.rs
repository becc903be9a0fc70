//! The process figures RabbitMQ reports from the Erlang VM, read from /proc for Warren's own
//! process: open file descriptors and their limit. Elsewhere than Linux they read as 0.

/// Open file descriptors.
pub(crate) fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64)
}

/// The soft limit on open file descriptors (`ulimit -n`).
pub(crate) fn max_fds() -> u64 {
    let Ok(limits) = std::fs::read_to_string("/proc/self/limits") else {
        return 0;
    };
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l["Max open files".len()..].split_whitespace().next())
        .and_then(|soft| soft.parse().ok())
        .unwrap_or(0)
}

/// The sockets RabbitMQ allows itself out of the descriptor limit: 90 % of what is left
/// after 100 reserved for files (1024 descriptors give 832, as the node here reports).
pub(crate) fn max_tcp_sockets(max_fds: u64) -> u64 {
    (max_fds.saturating_sub(100) * 9).div_ceil(10)
}

#[cfg(test)]
mod tests {
    #[test]
    fn socket_limit_matches_rabbitmq_for_1024_descriptors() {
        assert_eq!(super::max_tcp_sockets(1024), 832);
    }

    #[test]
    fn this_process_has_descriptors_under_its_limit() {
        let (open, max) = (super::open_fds(), super::max_fds());
        assert!(open > 0 && open <= max, "open {open}, max {max}");
    }
}
