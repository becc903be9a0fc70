//! Helpers shared by the codec's integration tests: decoding captured streams, and the
//! proptest strategies (hand-written in `strategies`, generated per method in
//! `arbitrary_methods`).
#![allow(dead_code)]

pub mod arbitrary_methods;
pub mod strategies;

use bytes::{Bytes, BytesMut};
use warren_codec::frame::{decode_protocol_header, FrameDecoder};
use warren_codec::generated::FRAME_MIN_SIZE;
use warren_codec::{Frame, Method, ProtocolHeader};

/// Which end of a connection wrote a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    ClientToServer,
    ServerToClient,
}

/// One frame decoded from a capture, with the exact bytes it occupied on the wire.
#[derive(Debug)]
pub struct Decoded {
    pub frame: Frame,
    pub wire: Bytes,
}

/// A whole capture decoded: the protocol header (client streams) and every frame.
#[derive(Debug)]
pub struct Stream {
    pub header: Option<ProtocolHeader>,
    pub frames: Vec<Decoded>,
}

impl Stream {
    pub fn methods(&self) -> impl Iterator<Item = (u16, &Method)> {
        self.frames.iter().filter_map(|d| match &d.frame {
            Frame::Method { channel, method } => Some((*channel, method)),
            _ => None,
        })
    }

    /// The first method frame matching `pick`, or a panic naming what was missing.
    pub fn find<'a, T>(&'a self, what: &str, pick: impl Fn(&'a Method) -> Option<T>) -> T {
        self.methods()
            .find_map(|(_, m)| pick(m))
            .unwrap_or_else(|| panic!("no {what} in the stream"))
    }

    /// Names of all methods, in order, as `channel:class.method`.
    pub fn method_names(&self) -> Vec<String> {
        self.methods()
            .map(|(ch, m)| format!("{ch}:{}", m.name()))
            .collect()
    }
}

/// Reads a fixture under `tests/fixtures/`.
pub fn fixture(path: &str) -> Vec<u8> {
    let full = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&full).unwrap_or_else(|e| panic!("reading {full}: {e}"))
}

/// Decodes a captured stream to the last byte, as a server (or client) would: the protocol
/// header first for client streams, frames capped at the spec's 4096 bytes until
/// `connection.tune`/`tune-ok` name the negotiated `frame_max`. Panics on any error or on
/// leftover bytes.
pub fn decode_stream(bytes: &[u8], dir: Dir) -> Stream {
    let original = Bytes::copy_from_slice(bytes);
    let mut buf = BytesMut::from(bytes);
    let header = match dir {
        Dir::ClientToServer => {
            Some(decode_protocol_header(&mut buf).expect("eight bytes of protocol header"))
        }
        Dir::ServerToClient => None,
    };
    let mut dec = FrameDecoder::new(FRAME_MIN_SIZE);
    let mut frames = Vec::new();
    while !buf.is_empty() {
        let start = original.len() - buf.len();
        let frame = dec
            .decode(&mut buf)
            .unwrap_or_else(|e| panic!("frame {} failed to decode: {e:?}", frames.len()))
            .unwrap_or_else(|| panic!("stream ends inside frame {}", frames.len()));
        let end = original.len() - buf.len();
        if let Frame::Method { method, .. } = &frame {
            match method {
                Method::ConnectionTune(t) => dec.set_frame_max(t.frame_max),
                Method::ConnectionTuneOk(t) => dec.set_frame_max(t.frame_max),
                _ => {}
            }
        }
        frames.push(Decoded {
            frame,
            wire: original.slice(start..end),
        });
    }
    Stream { header, frames }
}

/// Decodes both directions of `tests/fixtures/<name>/conn1.*.bin`.
pub fn capture(name: &str) -> (Stream, Stream) {
    let c2s = decode_stream(
        &fixture(&format!("{name}/conn1.client-to-server.bin")),
        Dir::ClientToServer,
    );
    let s2c = decode_stream(
        &fixture(&format!("{name}/conn1.server-to-client.bin")),
        Dir::ServerToClient,
    );
    (c2s, s2c)
}

/// Decodes every complete frame in `buf` (a helper for split-point tests). Panics on errors.
pub fn drain(dec: &FrameDecoder, buf: &mut BytesMut, out: &mut Vec<Frame>) {
    while let Some(f) = dec.decode(buf).expect("valid stream") {
        out.push(f);
    }
}

/// Encodes one frame with our encoder.
pub fn encode(frame: &Frame) -> BytesMut {
    let mut out = BytesMut::new();
    frame.encode(&mut out);
    out
}
