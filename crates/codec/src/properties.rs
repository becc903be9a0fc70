//! The content header frame: class, body size and the basic properties.
//!
//! The property bytes are kept exactly as received (`raw_properties`) next to their decoded
//! form, so a broker forwards them to consumers unchanged without re-encoding per delivery.

use crate::error::DecodeError;
use crate::generated::{BasicProperties, CLASS_BASIC};
use crate::wire::{self, fail, PResult};
use bytes::{BufMut, Bytes, BytesMut};

/// Bit 0 of a property-flags word: another flags word follows.
const CONTINUATION: u16 = 1;
/// Bits of the first flags word that name one of the 14 basic properties (15 down to 2).
const KNOWN_FLAGS: u16 = 0xFFFC;

/// A decoded content header.
#[derive(Debug, Clone)]
pub struct ContentHeader {
    pub class_id: u16,
    /// Unused by 0-9-1 ("weight"); kept so a header re-encodes byte for byte.
    pub weight: u16,
    pub body_size: u64,
    pub properties: BasicProperties,
    /// Property flags word(s) and property list exactly as they are on the wire.
    pub raw_properties: Bytes,
}

impl PartialEq for ContentHeader {
    fn eq(&self, other: &Self) -> bool {
        self.class_id == other.class_id
            && self.weight == other.weight
            && self.body_size == other.body_size
            && self.properties == other.properties
    }
}

impl ContentHeader {
    /// A basic-class header for `body_size` bytes, encoding `properties` once.
    pub fn new(body_size: u64, properties: BasicProperties) -> Self {
        let mut raw = BytesMut::with_capacity(16);
        encode_properties(&properties, &mut raw);
        ContentHeader {
            class_id: CLASS_BASIC,
            weight: 0,
            body_size,
            properties,
            raw_properties: raw.freeze(),
        }
    }

    /// Replaces the properties (e.g. when a broker adds headers), re-encoding the raw bytes.
    pub fn set_properties(&mut self, properties: BasicProperties) {
        let mut raw = BytesMut::with_capacity(self.raw_properties.len() + 16);
        encode_properties(&properties, &mut raw);
        self.raw_properties = raw.freeze();
        self.properties = properties;
    }

    /// Decodes a header frame's payload (a view of `base`).
    #[inline]
    pub fn decode(base: &Bytes, payload: &[u8]) -> Result<ContentHeader, DecodeError> {
        let mut header = ContentHeader::empty();
        header.decode_into(base, payload)?;
        Ok(header)
    }

    /// A basic-class header with no properties and no body, to be filled by
    /// [`ContentHeader::decode_into`].
    #[inline]
    pub(crate) fn empty() -> ContentHeader {
        ContentHeader {
            class_id: CLASS_BASIC,
            weight: 0,
            body_size: 0,
            properties: BasicProperties::default(),
            raw_properties: Bytes::new(),
        }
    }

    /// Decodes a header frame's payload into `self`, which must be [`ContentHeader::empty`].
    /// The properties are parsed in place: returning the large decoded value through each
    /// parser layer would copy it at every one.
    #[inline]
    pub(crate) fn decode_into(&mut self, base: &Bytes, payload: &[u8]) -> Result<(), DecodeError> {
        wire::finish("content header", self.parse_into(base, payload))
    }

    #[inline]
    fn parse_into<'a>(&mut self, base: &Bytes, i: &'a [u8]) -> PResult<'a, ()> {
        let (i, class_id) = wire::short(i)?;
        if class_id != CLASS_BASIC {
            return fail(DecodeError::BadContentClass(class_id));
        }
        let (i, weight) = wire::short(i)?;
        let (i, body_size) = wire::longlong(i)?;
        let props_start = i;
        let (i, ()) = decode_properties_into(&mut self.properties, base, i)?;
        let raw_len = props_start.len() - i.len();
        self.raw_properties = wire::view(base, &props_start[..raw_len]);
        self.class_id = class_id;
        self.weight = weight;
        self.body_size = body_size;
        Ok((i, ()))
    }

    /// Appends the header frame payload.
    pub fn encode_payload(&self, buf: &mut BytesMut) {
        buf.put_u16(self.class_id);
        buf.put_u16(self.weight);
        buf.put_u64(self.body_size);
        buf.put_slice(&self.raw_properties);
    }

    pub fn payload_len(&self) -> usize {
        12 + self.raw_properties.len()
    }
}

/// Decodes the flag word(s) and the property list into `props` (all `None` before). Extra
/// flag words (continuation bit) are read and must name no property, since 0-9-1 defines none
/// past the first word.
#[inline]
pub fn decode_properties_into<'a>(
    props: &mut BasicProperties,
    base: &Bytes,
    i: &'a [u8],
) -> PResult<'a, ()> {
    let (mut i, flags) = wire::label("property flags", wire::short(i))?;
    if flags & !KNOWN_FLAGS & !CONTINUATION != 0 {
        return fail(DecodeError::Malformed {
            what: "property flags (unknown property)",
        });
    }
    let mut more = flags & CONTINUATION != 0;
    while more {
        let (rest, extra) = wire::label("property flags", wire::short(i))?;
        if extra & !CONTINUATION != 0 {
            return fail(DecodeError::Malformed {
                what: "property flags (unknown property)",
            });
        }
        more = extra & CONTINUATION != 0;
        i = rest;
    }
    BasicProperties::decode_list_into(props, flags & KNOWN_FLAGS, base, i)
}

impl BasicProperties {
    /// Decodes properties kept as raw flags-and-list bytes (what a broker stores with a
    /// message), for the rare paths that must read or change them (dead-lettering, headers
    /// routing of a broker-made message). The strings of the result are views of a copy.
    pub fn from_raw(raw: &[u8]) -> Result<BasicProperties, DecodeError> {
        let raw = Bytes::copy_from_slice(raw);
        let mut props = BasicProperties::default();
        wire::finish(
            "basic properties",
            decode_properties_into(&mut props, &raw, &raw),
        )?;
        Ok(props)
    }

    /// The flags word and property list as one buffer (the inverse of [`Self::from_raw`]).
    pub fn to_raw(&self) -> Bytes {
        let mut raw = BytesMut::with_capacity(64);
        encode_properties(self, &mut raw);
        raw.freeze()
    }
}

/// Appends the flags word and the property list.
pub fn encode_properties(p: &BasicProperties, buf: &mut BytesMut) {
    buf.put_u16(p.flags());
    p.encode_list(buf);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strings::ShortStr;

    #[test]
    fn continuation_words_are_honoured() {
        // content-type + continuation, then an empty second word.
        let mut v = vec![0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5];
        v.extend_from_slice(&[0x80, 0x01, 0x00, 0x00, 4]);
        v.extend_from_slice(b"text");
        let base = Bytes::from(v);
        let h = ContentHeader::decode(&base, &base).unwrap();
        assert_eq!(h.body_size, 5);
        assert_eq!(h.properties.content_type.unwrap(), "text");
        assert_eq!(h.raw_properties.len(), 4 + 5);
    }

    #[test]
    fn unknown_property_bit_is_refused() {
        let base = Bytes::from_static(&[0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x02]);
        assert!(matches!(
            ContentHeader::decode(&base, &base),
            Err(DecodeError::Malformed { .. })
        ));
    }

    #[test]
    fn raw_properties_round_trip() {
        let props = BasicProperties {
            expiration: Some(ShortStr::from_static("60000")),
            priority: Some(3),
            ..Default::default()
        };
        let raw = props.to_raw();
        assert_eq!(BasicProperties::from_raw(&raw).unwrap(), props);
        assert!(BasicProperties::from_raw(&raw.slice(..raw.len() - 1)).is_err());
    }

    #[test]
    fn new_header_round_trips() {
        let props = BasicProperties {
            delivery_mode: Some(2),
            message_id: Some(ShortStr::from_static("m-1")),
            ..Default::default()
        };
        let h = ContentHeader::new(42, props);
        let mut buf = BytesMut::new();
        h.encode_payload(&mut buf);
        let base = buf.freeze();
        assert_eq!(ContentHeader::decode(&base, &base).unwrap(), h);
    }
}
