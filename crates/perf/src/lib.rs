//! warren-perf: a PerfTest-style load generator for AMQP 0-9-1 brokers, with a compare mode
//! that measures Warren against RabbitMQ.
//!
//! Module map:
//! - [`client`]: a minimal AMQP client on `warren-codec` (handshake, setup calls, hot-loop
//!   halves). Chosen over lapin and amqprs by measured CPU per message (docs/benchmarks.md).
//! - [`scenario`]: scenario types, the standard compare set, topologies.
//! - [`runner`]: runs one scenario against one broker and measures it.
//! - [`compare`]: runs the standard set against two brokers, interleaved.
//! - [`floor`]: the machine's latency floor (a forwarder that does no work), for context.
//! - [`stats`]: percentiles, confirm bookkeeping, rates and ratios.
//! - [`procstat`]: CPU and RSS from /proc.
//! - [`tls`]: `amqps://` (rustls) under the client.
//! - [`report`]: text tables and JSON.
//! - [`soak`]: the soak benchmark (memory watermark, blocked publishers, exactly-once check).
//! - [`cli`]: the command line.
//!
//! Only the binary (`src/main.rs`) prints.

pub mod cli;
pub mod client;
pub mod compare;
pub mod floor;
pub mod procstat;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod soak;
pub mod stats;
pub mod tls;
