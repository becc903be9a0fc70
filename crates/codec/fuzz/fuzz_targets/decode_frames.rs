//! Arbitrary bytes from a peer through the protocol header, the frame decoder (at several
//! frame_max values, whole and byte by byte), field tables and content headers. The checks
//! live in `warren_codec::fuzzing::decode_stream` so the regression tests replay them.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    warren_codec::fuzzing::decode_stream(data);
});
