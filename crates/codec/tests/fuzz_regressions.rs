//! Replays every file in tests/fuzz_regressions/ through the fuzz target's body
//! (`warren_codec::fuzzing::decode_stream`): the inputs cargo-fuzz crashed on (`crash-*`,
//! `oom-*`, ...) and a few seeds (`seed-*`). Adding a file is enough to add a case.

use std::path::PathBuf;
use warren_codec::fuzzing::decode_stream;

fn inputs() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, bytes)
        })
        .collect()
}

#[test]
fn every_regression_input_replays_cleanly() {
    let inputs = inputs();
    assert!(
        inputs
            .iter()
            .filter(|(n, _)| n.starts_with("seed-"))
            .count()
            >= 5,
        "the seed inputs are missing"
    );
    for (name, bytes) in &inputs {
        let outcome = std::panic::catch_unwind(|| decode_stream(bytes));
        assert!(
            outcome.is_ok(),
            "{name} ({} bytes) failed, see above",
            bytes.len()
        );
    }
}

/// The capture seeds are real client streams: after the protocol header they decode to frames
/// without a single error, so the fuzzer starts from inputs that reach deep into the decoder.
#[test]
fn capture_seeds_decode_cleanly() {
    use bytes::BytesMut;
    use warren_codec::frame::{decode_protocol_header, Frame, ProtocolHeader};
    use warren_codec::FrameDecoder;

    let mut checked = 0;
    for (name, bytes) in inputs() {
        if !name.starts_with("seed-capture-pika") && !name.starts_with("seed-capture-amqplib") {
            continue;
        }
        let mut buf = BytesMut::from(&bytes[..]);
        assert_eq!(
            decode_protocol_header(&mut buf),
            Some(ProtocolHeader::Amqp091),
            "{name}"
        );
        let decoder = FrameDecoder::new(131_072);
        let mut methods = 0;
        while let Some(frame) = decoder
            .decode(&mut buf)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
        {
            methods += usize::from(matches!(frame, Frame::Method { .. }));
        }
        assert!(methods >= 5, "{name}: only {methods} methods");
        checked += 1;
    }
    assert_eq!(checked, 6);
}
