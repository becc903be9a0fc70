"""What the backlog benchmarks (scripts/bench-*-backlog.py) share: a process's resident set."""


def rss_mib(pid: int) -> int:
    """VmRSS of `pid` in MiB (for RabbitMQ, pass its beam.smp's pid)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) // 1024
    raise RuntimeError("no VmRSS")
