//! Shared helpers for the end-to-end tests in `tests/`.
//!
//! The root package exists only to host those tests; the broker itself lives in `crates/`.
