//! A fixed decode workload for instruction-count profiling, which stays repeatable on a
//! noisy machine where wall-clock figures do not:
//!
//! ```text
//! cargo bench -p warren-codec --bench decode_profile --no-run
//! valgrind --tool=callgrind --toggle-collect='decode_profile::decode_rounds' \
//!     target/release/deps/decode_profile-<hash>
//! ```
//!
//! It decodes `ROUNDS` clones of the codec bench's read buffer (`SETS_PER_BUFFER` publish
//! frame-sets each, cloned beforehand), exactly as `decode_publish` in benches/codec.rs does,
//! and prints the number of frame-sets: instructions per frame-set = callgrind's total / that
//! number. Environment: `DECODE_PROFILE_LEN` (body bytes, default 16), `DECODE_PROFILE_ROUNDS`
//! (default 100).

use std::hint::black_box;
use warren_codec::FrameDecoder;

mod fixtures;
use fixtures::*;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The measured work: every buffer decoded to the end, frames dropped as they come.
#[inline(never)]
fn decode_rounds(decoder: &FrameDecoder, buffers: Vec<bytes::BytesMut>) {
    for mut buf in buffers {
        for _ in 0..SETS_PER_BUFFER * 3 {
            black_box(decoder.decode(&mut buf).unwrap().unwrap());
        }
        assert!(buf.is_empty());
    }
}

fn main() {
    let len = env_or("DECODE_PROFILE_LEN", 16);
    let rounds = env_or("DECODE_PROFILE_ROUNDS", 100);
    let stream = publish_stream(len);
    let buffers: Vec<_> = (0..rounds).map(|_| stream.clone()).collect();
    let decoder = FrameDecoder::new(FRAME_MAX);
    let start = std::time::Instant::now();
    decode_rounds(&decoder, buffers);
    let sets = rounds * SETS_PER_BUFFER;
    eprintln!(
        "decoded {sets} publish frame-sets with {len}-byte bodies, {:.0} ns each (wall clock)",
        start.elapsed().as_nanos() as f64 / sets as f64
    );
}
