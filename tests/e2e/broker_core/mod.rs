//! The broker core driven by an unmodified lapin client over TCP: one test per behaviour,
//! asserting what the client observes (messages, counts, flags, reply codes), one file per area.

mod consumers_and_acks;
mod publishing_and_routing;
mod startup_and_shutdown;
mod topology_rules;
