//! Warren's end-to-end tests: real TCP, real clients (lapin, or the test kit's raw client for
//! what no client sends), against an in-process broker per test. One test binary with a module
//! per area, so the broker and RocksDB are linked once (docs/decisions.md, "One test binary").
//! Run one area with `cargo test -p warren-tests --test e2e broker_core::`.

mod access;
mod admin;
mod alarms;
mod broker_core;
mod broker_protocol;
mod consumer_timeout;
mod durability;
mod flow_control;
mod hostile_input;
mod paging;
mod permissions;
mod policies;
mod retries_and_limits;
mod shutdown;
mod tls;
mod tls_lapin;
