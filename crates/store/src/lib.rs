//! Warren's durable store (placeholder while the first build runs).
