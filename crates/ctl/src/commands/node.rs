//! The node: status, ping, the health checks rabbitmq-diagnostics runs (check_running,
//! check_local_alarms, check_port_connectivity) and set_vm_memory_high_watermark, which goes to
//! Warren's one extension endpoint (`PUT /api/warren/vm-memory-high-watermark`).

use super::Ctx;
use crate::error::{CtlError, CtlResult, EX_DATAERR, EX_SOFTWARE, EX_UNAVAILABLE};
use serde_json::{json, Value};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// The Warren extension's path under /api.
pub const WATERMARK_PATH: [&str; 2] = ["warren", "vm-memory-high-watermark"];

fn overview(ctx: &Ctx) -> CtlResult<Value> {
    let reply = ctx.client.get(&["overview"])?;
    Ok(ctx.expect(reply, EX_SOFTWARE, EX_SOFTWARE)?.body)
}

fn node_name(overview: &Value) -> String {
    overview["node"].as_str().unwrap_or("unknown").to_string()
}

fn product(overview: &Value) -> &str {
    overview["product_name"].as_str().unwrap_or("RabbitMQ")
}

pub fn ping(ctx: &mut Ctx) -> CtlResult<()> {
    let node = node_name(&overview(ctx)?);
    ctx.out.banner(&format!(
        "Will ping {node}. This only checks that its management API answers. Timeout: {}000 ms.",
        ctx.timeout
    ));
    ctx.out.line("Ping succeeded");
    Ok(())
}

/// Waits, up to the timeout, for the API to answer; then as check_running.
pub fn await_startup(ctx: &mut Ctx) -> CtlResult<()> {
    let deadline = std::time::Instant::now() + Duration::from_secs(ctx.timeout);
    loop {
        match overview(ctx) {
            Err(e) if e.code == EX_UNAVAILABLE && std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(250));
            }
            _ => return check_running(ctx),
        }
    }
}

pub fn check_running(ctx: &mut Ctx) -> CtlResult<()> {
    let o = overview(ctx)?;
    let node = node_name(&o);
    ctx.out.banner(&format!(
        "Checking if {} is running on node {node} ...",
        product(&o)
    ));
    ctx.out.line(&format!(
        "{} on node {node} is fully booted and running",
        product(&o)
    ));
    Ok(())
}

pub fn is_running(ctx: &mut Ctx) -> CtlResult<()> {
    let o = overview(ctx)?;
    let node = node_name(&o);
    ctx.out
        .banner(&format!("Asking node {node} for its status ..."));
    ctx.out.line(&format!(
        "{} on node {node} is fully booted and running",
        product(&o)
    ));
    Ok(())
}

/// rabbitmqctl's deprecated node_health_check: the node answers and has no alarm.
pub fn health_check(ctx: &mut Ctx) -> CtlResult<()> {
    let node = node_name(&overview(ctx)?);
    ctx.out
        .banner(&format!("Checking health of node {node} ..."));
    let reply = ctx.client.get(&["health", "checks", "local-alarms"])?;
    if !reply.ok() {
        return Err(CtlError::reason(EX_UNAVAILABLE, reply.reason()));
    }
    ctx.out.line("Health check passed");
    Ok(())
}

pub fn check_vhosts(ctx: &mut Ctx) -> CtlResult<()> {
    let node = node_name(&overview(ctx)?);
    ctx.out.banner(&format!(
        "Checking if all vhosts are running on node {node} ..."
    ));
    let reply = ctx.client.get(&["health", "checks", "virtual-hosts"])?;
    if !reply.ok() {
        return Err(CtlError::reason(EX_UNAVAILABLE, reply.reason()));
    }
    ctx.out
        .line(&format!("Node {node} reported all vhosts as running"));
    Ok(())
}

pub fn check_quorum_critical(ctx: &mut Ctx) -> CtlResult<()> {
    let node = node_name(&overview(ctx)?);
    ctx.out.banner(&format!(
        "Checking if node {node} is critical for quorum of any quorum queues ..."
    ));
    let reply = ctx
        .client
        .get(&["health", "checks", "node-is-quorum-critical"])?;
    if !reply.ok() {
        return Err(CtlError::reason(EX_UNAVAILABLE, reply.reason()));
    }
    ctx.out.line(&format!(
        "Node {node} seems to be the only one in a single node cluster, the check does not apply"
    ));
    Ok(())
}

pub fn check_alarms(ctx: &mut Ctx) -> CtlResult<()> {
    let node = node_name(&overview(ctx)?);
    ctx.out.banner(&format!(
        "Asking node {node} to report any local resource alarms ..."
    ));
    let reply = ctx.client.get(&["health", "checks", "local-alarms"])?;
    if reply.ok() {
        ctx.out
            .line(&format!("Node {node} reported no local alarms"));
        return Ok(());
    }
    if reply.status != 503 {
        return Err(CtlError::reason(EX_SOFTWARE, reply.reason()));
    }
    let alarms: Vec<String> = reply.body["alarms"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|a| match a["resource"].as_str() {
            Some("memory") => format!("Memory alarm on node {node}"),
            Some("disk") => format!("Free disk space alarm on node {node}"),
            other => format!("{} alarm on node {node}", other.unwrap_or("resource")),
        })
        .collect();
    Err(CtlError::reason(EX_UNAVAILABLE, alarms.join("\n")))
}

pub fn check_ports(ctx: &mut Ctx) -> CtlResult<()> {
    let o = overview(ctx)?;
    let node = node_name(&o);
    ctx.out.banner(&format!(
        "Testing TCP connections to all active listeners on node {node} ..."
    ));
    let mut ports: Vec<u64> = o["listeners"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|l| l["port"].as_u64())
        .collect();
    ports.sort_unstable();
    ports.dedup();
    let host = ctx.client.url(&[]);
    let host = url::Url::parse(&host).ok();
    let host = host
        .as_ref()
        .and_then(|u| u.host_str())
        .unwrap_or("127.0.0.1");
    let failed: Vec<String> = ports
        .iter()
        .filter(|p| !connects(host, **p as u16, Duration::from_secs(ctx.timeout)))
        .map(u64::to_string)
        .collect();
    let list: Vec<String> = ports.iter().map(u64::to_string).collect();
    if !failed.is_empty() {
        return Err(CtlError::reason(
            EX_UNAVAILABLE,
            format!(
                "Connection to ports {} on node {node} failed",
                failed.join(", ")
            ),
        ));
    }
    ctx.out.line(&format!(
        "Successfully connected to ports {} on node {node}.",
        list.join(", ")
    ));
    Ok(())
}

fn connects(host: &str, port: u16, timeout: Duration) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let Ok(addrs) = (host, port).to_socket_addrs() else {
        return false;
    };
    addrs
        .into_iter()
        .any(|a| TcpStream::connect_timeout(&a, timeout).is_ok())
}

pub fn status(ctx: &mut Ctx) -> CtlResult<()> {
    let o = overview(ctx)?;
    let node = node_name(&o);
    let reply = ctx.client.get(&["nodes", &node])?;
    let n = ctx.expect(reply, EX_SOFTWARE, EX_SOFTWARE)?.body;
    let vhosts = ctx.client.get(&["vhosts"])?.body;
    let vhost_count = vhosts.as_array().map_or(0, Vec::len);
    let alarms: Vec<&str> = [("mem_alarm", "memory"), ("disk_free_alarm", "disk")]
        .iter()
        .filter(|(k, _)| n[*k].as_bool() == Some(true))
        .map(|(_, name)| *name)
        .collect();
    if ctx.out.json() {
        let status = json!({
            "alarms": alarms, "disk_free": n["disk_free"], "disk_free_limit": n["disk_free_limit"],
            "listeners": o["listeners"], "pid": n["os_pid"], "node": node,
            "product_name": o["product_name"], "product_version": o["product_version"],
            "rabbitmq_version": o["rabbitmq_version"],
            "memory": {"total": n["mem_used"]}, "vm_memory_high_watermark_limit": n["mem_limit"],
            "totals": {"connection_count": o["object_totals"]["connections"],
                       "queue_count": o["object_totals"]["queues"],
                       "virtual_host_count": vhost_count},
        });
        ctx.out.line(&status.to_string());
        return Ok(());
    }
    let gb = |v: &Value| format!("{:.4} gb", v.as_f64().unwrap_or(0.0) / 1e9);
    let mut lines = vec![
        format!("Status of node {node} ..."),
        "Runtime\n".into(),
        format!("OS PID: {}", crate::output::cell(&n["os_pid"])),
        format!("Product name: {}", product(&o)),
        format!(
            "Product version: {}",
            crate::output::cell(&o["product_version"])
        ),
        format!(
            "RabbitMQ version: {}",
            crate::output::cell(&o["rabbitmq_version"])
        ),
        format!("Node name: {node}"),
        "\nAlarms\n".into(),
    ];
    if alarms.is_empty() {
        lines.push("(none)".into());
    }
    lines.extend(alarms.iter().map(|a| format!("{a} alarm")));
    lines.extend([
        "\nMemory\n".into(),
        format!("Total memory used: {}", gb(&n["mem_used"])),
        format!("Memory high watermark: {}", gb(&n["mem_limit"])),
        "\nFree Disk Space\n".into(),
        format!(
            "Low free disk space watermark: {}",
            gb(&n["disk_free_limit"])
        ),
        format!("Free disk space: {}", gb(&n["disk_free"])),
        "\nTotals\n".into(),
        format!("Connection count: {}", o["object_totals"]["connections"]),
        format!("Queue count: {}", o["object_totals"]["queues"]),
        format!("Virtual host count: {vhost_count}"),
        "\nListeners\n".into(),
    ]);
    for l in o["listeners"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        lines.push(format!(
            "Interface: {}, port: {}, protocol: {}",
            crate::output::cell(&l["ip_address"]),
            l["port"],
            crate::output::cell(&l["protocol"])
        ));
    }
    ctx.out.line(&lines.join("\n"));
    Ok(())
}

/// `<fraction>` or `absolute <bytes with an optional unit>`, checked as rabbitmqctl checks them.
fn watermark(args: &[String]) -> CtlResult<(Value, String)> {
    let bad = |why: &str| {
        CtlError::new(
            EX_DATAERR,
            format!("Error (argument validation): Bad argument{why}"),
        )
    };
    match args {
        [f] => {
            let v: f64 = f.parse().map_err(|_| bad("."))?;
            if !(0.0..=1.0).contains(&v) {
                return Err(bad(
                    ": The threshold should be a fraction between 0.0 and 1.0",
                ));
            }
            Ok((json!({"relative": v}), f.clone()))
        }
        [kw, size] if kw == "absolute" => {
            let bytes =
                warren_server::settings::parse_information_unit(size).map_err(|_| bad("."))?;
            Ok((json!({"absolute": bytes}), format!("{size} bytes")))
        }
        _ => Err(bad(".")),
    }
}

pub fn set_watermark(ctx: &mut Ctx, args: &[String]) -> CtlResult<()> {
    let (body, shown) = watermark(args)?;
    let node = node_name(&overview(ctx)?);
    ctx.out.banner(&format!(
        "Setting memory threshold on {node} to {shown} ..."
    ));
    let reply = ctx.client.put(&WATERMARK_PATH, &body)?;
    // RabbitMQ answers 405 for an unknown path under /api/ with a method it does not route.
    if matches!(reply.status, 404 | 405) {
        return Err(CtlError::reason(
            EX_SOFTWARE,
            "the node has no /api/warren/vm-memory-high-watermark (a Warren extension of the management API)",
        ));
    }
    ctx.expect(reply, EX_SOFTWARE, EX_SOFTWARE).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermarks_are_fractions_or_absolute_sizes() {
        let w = |a: &[&str]| watermark(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(w(&["0.5"]).unwrap().0, json!({"relative": 0.5}));
        assert_eq!(
            w(&["absolute", "256MiB"]).unwrap(),
            (json!({"absolute": 268435456}), "256MiB bytes".to_string())
        );
        assert_eq!(
            w(&["absolute", "1000000000"]).unwrap().0["absolute"],
            1_000_000_000
        );
        assert_eq!(w(&["2"]).unwrap_err().code, EX_DATAERR);
        assert_eq!(w(&["absolute", "bogus"]).unwrap_err().code, EX_DATAERR);
        assert_eq!(w(&["relative", "0.5"]).unwrap_err().code, EX_DATAERR);
    }
}
