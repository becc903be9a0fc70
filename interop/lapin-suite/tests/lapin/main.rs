//! The lapin interop scenarios: each runs once per broker named in `WARREN_URL` /
//! `RABBITMQ_URL` (warren_testkit::on_each_broker). They are `#[ignore]`d because they need
//! running brokers: `interop/run` starts them and runs
//! `cargo test -p warren-lapin-interop -- --include-ignored`. One test binary with a module per
//! area; run one area with `... --test lapin -- --include-ignored queues::`.

mod acks;
mod connection;
mod core;
mod exchanges;
mod publishing;
mod queues;
mod tls;
