//! The byte formats of the access records in the durable store: a vhost's record, a user, a
//! user's permissions and topic permissions in a vhost. Pure encoding and decoding, no I/O;
//! written through `meta::store`, read back by `broker::recovery`. Each starts with a version
//! byte, like the other stored formats (`meta::formats`).
//!
//! Names, patterns and hashes can be longer than a short string: `text` is `len:u32 ‖ UTF-8`.
//! A limit is `0` (none) or `1 ‖ value:u64`.

use super::password::{HashAlgorithm, PasswordHash};
use super::permissions::{Permissions, TopicPermission};
use super::{User, UserLimits, VhostLimits, VhostSettings};
use crate::config::PermissionPatterns;
use crate::message::stored::{bad, FormatError, Reader, FORMAT_V1};
use bytes::{BufMut, Bytes, BytesMut};

fn put_text(out: &mut BytesMut, s: &str) {
    out.put_u32(u32::try_from(s.len()).expect("access record field over 4 GiB"));
    out.put_slice(s.as_bytes());
}

fn text(r: &mut Reader, what: &'static str) -> Result<String, FormatError> {
    let n = r.u32()? as usize;
    let b = r.take(n)?;
    String::from_utf8(b.to_vec()).map_err(|_| bad(what, "text is not UTF-8"))
}

fn put_texts(out: &mut BytesMut, list: &[String]) {
    out.put_u32(list.len() as u32);
    for s in list {
        put_text(out, s);
    }
}

fn texts(r: &mut Reader, what: &'static str) -> Result<Vec<String>, FormatError> {
    let n = r.u32()?;
    (0..n).map(|_| text(r, what)).collect()
}

fn put_limit(out: &mut BytesMut, limit: Option<u64>) {
    match limit {
        None => out.put_u8(0),
        Some(n) => {
            out.put_u8(1);
            out.put_u64(n);
        }
    }
}

fn limit(r: &mut Reader, what: &'static str) -> Result<Option<u64>, FormatError> {
    match r.u8()? {
        0 => Ok(None),
        1 => Ok(Some(r.u64()?)),
        other => Err(bad(what, format!("bad limit flag {other}"))),
    }
}

/// `v1 ‖ description:text ‖ tags:texts ‖ max-connections:limit ‖ max-queues:limit`.
pub(crate) fn encode_vhost(v: &VhostSettings) -> Bytes {
    let mut out = BytesMut::new();
    out.put_u8(FORMAT_V1);
    put_text(&mut out, &v.description);
    put_texts(&mut out, &v.tags);
    put_limit(&mut out, v.limits.max_connections);
    put_limit(&mut out, v.limits.max_queues);
    out.freeze()
}

pub(crate) fn decode_vhost(bytes: &Bytes) -> Result<VhostSettings, FormatError> {
    const WHAT: &str = "vhost";
    let mut r = Reader::new(bytes, WHAT)?;
    Ok(VhostSettings {
        description: text(&mut r, WHAT)?,
        tags: texts(&mut r, WHAT)?,
        limits: VhostLimits {
            max_connections: limit(&mut r, WHAT)?,
            max_queues: limit(&mut r, WHAT)?,
        },
    })
}

/// `v1 ‖ algorithm:u8 (0 no password, 1 SHA-256, 2 SHA-512, 3 MD5) ‖ [hash:text (base64, as
/// in definitions)] ‖ tags:texts ‖ max-connections:limit ‖ max-channels:limit`. The name is
/// the record's key.
pub(crate) fn encode_user(u: &User) -> Bytes {
    let mut out = BytesMut::new();
    out.put_u8(FORMAT_V1);
    match &u.password {
        None => out.put_u8(0),
        Some(h) => {
            out.put_u8(match h.algorithm() {
                HashAlgorithm::Sha256 => 1,
                HashAlgorithm::Sha512 => 2,
                HashAlgorithm::Md5 => 3,
            });
            put_text(&mut out, &h.to_base64());
        }
    }
    put_texts(&mut out, &u.tags);
    put_limit(&mut out, u.limits.max_connections);
    put_limit(&mut out, u.limits.max_channels);
    out.freeze()
}

pub(crate) fn decode_user(name: &str, bytes: &Bytes) -> Result<User, FormatError> {
    const WHAT: &str = "user";
    let mut r = Reader::new(bytes, WHAT)?;
    let algorithm = match r.u8()? {
        0 => None,
        1 => Some(HashAlgorithm::Sha256),
        2 => Some(HashAlgorithm::Sha512),
        3 => Some(HashAlgorithm::Md5),
        other => return Err(bad(WHAT, format!("unknown hashing algorithm {other}"))),
    };
    let password = match algorithm {
        None => None,
        Some(a) => Some(
            PasswordHash::from_base64(a, &text(&mut r, WHAT)?)
                .ok_or_else(|| bad(WHAT, "bad password hash"))?,
        ),
    };
    Ok(User {
        name: name.to_string(),
        password,
        tags: texts(&mut r, WHAT)?,
        limits: UserLimits {
            max_connections: limit(&mut r, WHAT)?,
            max_channels: limit(&mut r, WHAT)?,
        },
    })
}

/// `v1 ‖ configure:text ‖ write:text ‖ read:text` (the patterns as set).
pub(crate) fn encode_permissions(p: &PermissionPatterns) -> Bytes {
    let mut out = BytesMut::new();
    out.put_u8(FORMAT_V1);
    for pattern in [&p.configure, &p.write, &p.read] {
        put_text(&mut out, pattern);
    }
    out.freeze()
}

pub(crate) fn decode_permissions(bytes: &Bytes) -> Result<Permissions, FormatError> {
    const WHAT: &str = "permissions";
    let mut r = Reader::new(bytes, WHAT)?;
    let patterns = PermissionPatterns {
        configure: text(&mut r, WHAT)?,
        write: text(&mut r, WHAT)?,
        read: text(&mut r, WHAT)?,
    };
    Permissions::new(patterns).map_err(|e| bad(WHAT, e.to_string()))
}

/// `v1 ‖ count:u32 ‖ (exchange:text ‖ write:text ‖ read:text)*`: one user's topic permissions
/// in one vhost, every exchange's.
pub(crate) fn encode_topic_permissions(list: &[TopicPermission]) -> Bytes {
    let mut out = BytesMut::new();
    out.put_u8(FORMAT_V1);
    out.put_u32(list.len() as u32);
    for t in list {
        put_text(&mut out, &t.exchange);
        put_text(&mut out, &t.write);
        put_text(&mut out, &t.read);
    }
    out.freeze()
}

pub(crate) fn decode_topic_permissions(bytes: &Bytes) -> Result<Vec<TopicPermission>, FormatError> {
    const WHAT: &str = "topic permissions";
    let mut r = Reader::new(bytes, WHAT)?;
    let n = r.u32()?;
    (0..n)
        .map(|_| {
            Ok(TopicPermission {
                exchange: text(&mut r, WHAT)?,
                write: text(&mut r, WHAT)?,
                read: text(&mut r, WHAT)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_records_round_trip() {
        let v = VhostSettings {
            description: "orders, é".into(),
            tags: vec!["prod".into(), "eu".into()],
            limits: VhostLimits {
                max_connections: Some(0),
                max_queues: None,
            },
        };
        assert_eq!(decode_vhost(&encode_vhost(&v)).unwrap(), v);

        let hashed = PasswordHash::new("s3cret");
        let u = User {
            name: "alice".into(),
            password: Some(hashed),
            tags: vec!["monitoring".into()],
            limits: UserLimits {
                max_connections: Some(3),
                max_channels: Some(u64::MAX),
            },
        };
        let back = decode_user("alice", &encode_user(&u)).unwrap();
        assert!(back.password.as_ref().unwrap().verify("s3cret"));
        assert_eq!((back.tags, back.limits), (u.tags.clone(), u.limits));
        let nopw = User {
            password: None,
            ..u
        };
        assert!(decode_user("alice", &encode_user(&nopw))
            .unwrap()
            .password
            .is_none());

        let p = PermissionPatterns {
            configure: "^a_".into(),
            write: String::new(),
            read: ".*".into(),
        };
        assert_eq!(
            decode_permissions(&encode_permissions(&p))
                .unwrap()
                .patterns(),
            &p
        );

        let t = vec![TopicPermission {
            exchange: "amq.topic".into(),
            write: "^{username}".into(),
            read: ".*".into(),
        }];
        assert_eq!(
            decode_topic_permissions(&encode_topic_permissions(&t)).unwrap(),
            t
        );
    }

    #[test]
    fn bad_access_records_are_errors() {
        assert!(decode_vhost(&Bytes::from_static(&[1, 0, 0, 0, 9])).is_err());
        assert!(decode_user("u", &Bytes::from_static(&[1, 7])).is_err());
        let bad_regex = encode_permissions(&PermissionPatterns {
            configure: "(".into(),
            write: String::new(),
            read: String::new(),
        });
        assert!(decode_permissions(&bad_regex).is_err());
    }
}
