//! Conversions between our field values and amqp_serde types (filled below).
