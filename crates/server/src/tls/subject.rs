//! A client certificate's subject as the EXTERNAL user name, in RabbitMQ's formats
//! (`rabbit_ssl:peer_cert_auth_name`, `rabbit_cert_info`):
//! - the distinguished name: RFC 4514 style, the last RDN first, `CN=client,O=Org`, with
//!   RabbitMQ's short attribute names, dotted OIDs for others, and its escaping (`,+"\;<>`
//!   and a leading `#` or space or a trailing space get a backslash; bytes below 32 and from
//!   126 up, so every non-ASCII UTF-8 byte, become `\XX`);
//! - the common name: the CN values unescaped, in certificate order, joined by `,`.
//!
//! The certificate has been verified by rustls; this only reads its subject, with a small DER
//! reader (tags here are all single-byte).

/// Short names RabbitMQ 3.10 writes for attribute types (OIDs as DER content bytes).
const SHORT_NAMES: &[(&[u8], &str)] = &[
    (&[0x55, 0x04, 0x04], "SN"),
    (&[0x55, 0x04, 0x2a], "GIVENNAME"),
    (&[0x55, 0x04, 0x2b], "INITIALS"),
    (&[0x55, 0x04, 0x2c], "GENERATIONQUALIFIER"),
    (&[0x55, 0x04, 0x03], "CN"),
    (&[0x55, 0x04, 0x07], "L"),
    (&[0x55, 0x04, 0x08], "ST"),
    (&[0x55, 0x04, 0x0a], "O"),
    (&[0x55, 0x04, 0x0b], "OU"),
    (&[0x55, 0x04, 0x0c], "TITLE"),
    (&[0x55, 0x04, 0x06], "C"),
    (&[0x55, 0x04, 0x05], "SERIALNUMBER"),
    (&[0x55, 0x04, 0x41], "PSEUDONYM"),
    (
        &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19],
        "DC",
    ),
    (
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01],
        "EMAILADDRESS",
    ),
    (&[0x55, 0x04, 0x09], "STREET"),
    (
        &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01],
        "UID",
    ),
];

/// Attribute types Erlang's decoder knows, whose values it hands over decoded even when they
/// are not a DirectoryString (IA5String e-mail addresses and domain components).
const DECODED_BY_ERLANG: &[&str] = &[
    "SN",
    "GIVENNAME",
    "INITIALS",
    "GENERATIONQUALIFIER",
    "CN",
    "L",
    "ST",
    "O",
    "OU",
    "TITLE",
    "C",
    "SERIALNUMBER",
    "PSEUDONYM",
    "DC",
    "EMAILADDRESS",
    "STREET",
];

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const UTF8_STRING: u8 = 0x0c;
const PRINTABLE_STRING: u8 = 0x13;
const TELETEX_STRING: u8 = 0x14;
const IA5_STRING: u8 = 0x16;
const UNIVERSAL_STRING: u8 = 0x1c;
const BMP_STRING: u8 = 0x1e;
const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];

/// One attribute of the subject: its type OID (content bytes) and its value (tag, content).
struct Attribute<'a> {
    oid: &'a [u8],
    tag: u8,
    value: &'a [u8],
    /// The value's whole encoding (tag and length too).
    encoded: &'a [u8],
}

/// The subject's distinguished name as RabbitMQ formats it; `None` if the certificate does
/// not parse.
pub fn distinguished_name(cert_der: &[u8]) -> Option<String> {
    let rdns = subject_rdns(cert_der)?;
    let mut parts = Vec::with_capacity(rdns.len());
    for rdn in rdns.iter().rev() {
        let formatted: Vec<String> = rdn.iter().map(format_attribute).collect();
        parts.push(formatted.join("+"));
    }
    Some(parts.join(","))
}

/// The subject's common names joined by `,` (`None`: none, or the certificate does not parse).
pub fn common_name(cert_der: &[u8]) -> Option<String> {
    let names: Vec<String> = subject_rdns(cert_der)?
        .iter()
        .flatten()
        .filter(|a| a.oid == COMMON_NAME)
        .map(|a| String::from_utf8_lossy(&string_bytes(a.tag, a.value)).into_owned())
        .collect();
    (!names.is_empty()).then(|| names.join(","))
}

fn format_attribute(a: &Attribute<'_>) -> String {
    let short = SHORT_NAMES.iter().find(|(oid, _)| *oid == a.oid);
    let name = match short {
        Some((_, name)) => (*name).to_string(),
        None => dotted(a.oid),
    };
    let decoded = match short {
        Some((_, n)) if DECODED_BY_ERLANG.contains(n) => is_string(a.tag),
        _ => is_directory_string(a.tag),
    };
    let value = if decoded {
        string_bytes(a.tag, a.value)
    } else {
        // Erlang prints an undecoded value as a binary term: `<<19,2,85,83>>`.
        let bytes: Vec<String> = a.encoded.iter().map(u8::to_string).collect();
        format!("<<{}>>", bytes.join(",")).into_bytes()
    };
    format!("{name}={}", escape(&value))
}

/// The value as UTF-8 bytes, the way RabbitMQ converts each string type.
fn string_bytes(tag: u8, value: &[u8]) -> Vec<u8> {
    let from_chars = |chars: &mut dyn Iterator<Item = u32>| -> Vec<u8> {
        chars
            .map(|c| char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect::<String>()
            .into_bytes()
    };
    match tag {
        TELETEX_STRING => from_chars(&mut value.iter().map(|b| u32::from(*b))),
        BMP_STRING => from_chars(
            &mut value
                .chunks_exact(2)
                .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]]))),
        ),
        UNIVERSAL_STRING => from_chars(
            &mut value
                .chunks_exact(4)
                .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]])),
        ),
        _ => value.to_vec(),
    }
}

fn is_directory_string(tag: u8) -> bool {
    matches!(
        tag,
        UTF8_STRING | PRINTABLE_STRING | TELETEX_STRING | UNIVERSAL_STRING | BMP_STRING
    )
}

fn is_string(tag: u8) -> bool {
    is_directory_string(tag) || tag == IA5_STRING
}

/// RabbitMQ's `escape_rdn_value`, over the value's bytes.
fn escape(value: &[u8]) -> String {
    let mut out = String::with_capacity(value.len());
    for (i, &b) in value.iter().enumerate() {
        let first = i == 0;
        let last = i + 1 == value.len();
        match b {
            b' ' | b'#' if first => {
                out.push('\\');
                out.push(b as char);
            }
            b' ' if last => out.push_str("\\ "),
            b'"' | b'+' | b',' | b';' | b'<' | b'>' | b'\\' => {
                out.push('\\');
                out.push(b as char);
            }
            0..=31 | 126..=255 => out.push_str(&format!("\\{b:02X}")),
            _ => out.push(b as char),
        }
    }
    out
}

/// An OID's dotted decimal form.
fn dotted(oid: &[u8]) -> String {
    let mut arcs: Vec<u64> = Vec::new();
    let mut acc: u64 = 0;
    for &b in oid {
        acc = (acc << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (acc / 40).min(2);
                arcs.push(first);
                arcs.push(acc - first * 40);
            } else {
                arcs.push(acc);
            }
            acc = 0;
        }
    }
    let arcs: Vec<String> = arcs.iter().map(u64::to_string).collect();
    arcs.join(".")
}

/// The subject's RDNs in certificate order, each a list of attributes.
fn subject_rdns(cert: &[u8]) -> Option<Vec<Vec<Attribute<'_>>>> {
    let (_, cert, _) = Der::new(cert).expect(SEQUENCE)?;
    let (_, tbs, _) = Der::new(cert).expect(SEQUENCE)?;
    let mut tbs = Der::new(tbs);
    if tbs.peek() == Some(0xa0) {
        tbs.next()?; // [0] version
    }
    for _ in 0..4 {
        tbs.next()?; // serial number, signature algorithm, issuer, validity
    }
    let (_, subject, _) = tbs.expect(SEQUENCE)?;
    let mut rdns = Vec::new();
    let mut names = Der::new(subject);
    while !names.is_empty() {
        let (_, set, _) = names.expect(SET)?;
        let mut attrs = Vec::new();
        let mut set = Der::new(set);
        while !set.is_empty() {
            let (_, pair, _) = set.expect(SEQUENCE)?;
            let mut pair = Der::new(pair);
            let (_, oid, _) = pair.expect(OID)?;
            let (tag, value, encoded) = pair.next()?;
            attrs.push(Attribute {
                oid,
                tag,
                value,
                encoded,
            });
        }
        rdns.push(attrs);
    }
    Some(rdns)
}

/// A cursor over consecutive DER elements.
struct Der<'a> {
    rest: &'a [u8],
}

impl<'a> Der<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Der { rest: bytes }
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    fn peek(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// The next element: (tag, content, whole encoding).
    fn next(&mut self) -> Option<(u8, &'a [u8], &'a [u8])> {
        let all = self.rest;
        let tag = *all.first()?;
        let first = *all.get(1)?;
        let (len, header) = if first < 0x80 {
            (usize::from(first), 2)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 {
                return None;
            }
            let bytes = all.get(2..2 + n)?;
            let len = bytes.iter().fold(0usize, |l, b| (l << 8) | usize::from(*b));
            (len, 2 + n)
        };
        let end = header.checked_add(len)?;
        let content = all.get(header..end)?;
        self.rest = &all[end..];
        Some((tag, content, &all[..end]))
    }

    fn expect(&mut self, tag: u8) -> Option<(u8, &'a [u8], &'a [u8])> {
        let element = self.next()?;
        (element.0 == tag).then_some(element)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DnType, DnValue, KeyPair};

    fn cert_with(subject: &[(DnType, DnValue)]) -> Vec<u8> {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        for (t, v) in subject {
            params.distinguished_name.push(t.clone(), v.clone());
        }
        let key = KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    fn utf8(s: &str) -> DnValue {
        DnValue::Utf8String(s.into())
    }

    #[test]
    fn last_rdn_first_with_short_names() {
        let der = cert_with(&[
            (
                DnType::CountryName,
                DnValue::PrintableString("GB".try_into().unwrap()),
            ),
            (DnType::OrganizationName, utf8("Warren")),
            (DnType::CommonName, utf8("client")),
        ]);
        assert_eq!(distinguished_name(&der).unwrap(), "CN=client,O=Warren,C=GB");
        assert_eq!(common_name(&der).unwrap(), "client");
    }

    #[test]
    fn escapes_as_rabbitmq_does() {
        let der = cert_with(&[
            (DnType::OrganizationName, utf8("#a, b+c;\"<d>\\ ")),
            (DnType::CommonName, utf8(" caf\u{e9}~")),
        ]);
        assert_eq!(
            distinguished_name(&der).unwrap(),
            "CN=\\ caf\\C3\\A9\\7E,O=\\#a\\, b\\+c\\;\\\"\\<d\\>\\\\\\ "
        );
        // The CN form is the raw value.
        assert_eq!(common_name(&der).unwrap(), " caf\u{e9}~");
    }

    #[test]
    fn other_string_types_and_unknown_attributes() {
        let bmp = rcgen::BmpString::try_from("l\u{3bb}").unwrap();
        let universal = rcgen::UniversalString::try_from("\u{e9}").unwrap();
        let teletex = rcgen::TeletexString::try_from("x~y").unwrap();
        let der = cert_with(&[
            (DnType::CustomDnType(vec![2, 5, 4, 97]), utf8("VATGB-123")),
            (DnType::LocalityName, DnValue::TeletexString(teletex)),
            (
                DnType::OrganizationalUnitName,
                DnValue::UniversalString(universal),
            ),
            (DnType::CommonName, DnValue::BmpString(bmp)),
        ]);
        assert_eq!(
            distinguished_name(&der).unwrap(),
            "CN=l\\CE\\BB,OU=\\C3\\A9,L=x\\7Ey,2.5.4.97=VATGB-123"
        );
        assert_eq!(common_name(&der).unwrap(), "l\u{3bb}");
    }

    #[test]
    fn no_common_name_and_garbage() {
        let der = cert_with(&[(DnType::OrganizationName, utf8("o"))]);
        assert_eq!(common_name(&der), None);
        assert_eq!(distinguished_name(&der).unwrap(), "O=o");
        assert_eq!(distinguished_name(&[0x30, 0x82, 0xff]), None);
        assert_eq!(distinguished_name(&[]), None);
    }

    #[test]
    fn dotted_oids() {
        assert_eq!(dotted(&[0x55, 0x04, 0x61]), "2.5.4.97");
        assert_eq!(
            dotted(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01]),
            "1.2.840.113549.1.9.1"
        );
    }
}
