//! Access records (vhosts, users, permissions, topic permissions) and vhost deletion, which
//! is the one command that cascades.

use super::{declare_queue, enqueue, message_ids, open, tempdir};
use crate::*;
use bytes::Bytes;

fn b(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

fn grant(vhost: &str, user: &str, def: &'static str) -> StoredGrant {
    StoredGrant {
        vhost: vhost.into(),
        user: user.into(),
        def: b(def),
    }
}

#[test]
fn access_records_survive_a_crash_and_deletes_remove_only_their_record() {
    let dir = tempdir();
    let (store, _) = open(dir.path());
    store
        .submit_blocking(
            vec![
                Command::PutVhost {
                    name: "/".into(),
                    def: b("root"),
                },
                Command::PutVhost {
                    name: "v".into(),
                    def: b("v1"),
                },
                Command::PutVhost {
                    name: "v".into(),
                    def: b("v2"),
                },
                Command::PutUser {
                    name: "alice".into(),
                    def: b("a"),
                },
                Command::PutUser {
                    name: "bob".into(),
                    def: b("b"),
                },
                Command::SetPermissions {
                    vhost: "/".into(),
                    user: "alice".into(),
                    def: b("p1"),
                },
                Command::SetPermissions {
                    vhost: "v".into(),
                    user: "bob".into(),
                    def: b("p2"),
                },
                Command::SetTopicPermissions {
                    vhost: "v".into(),
                    user: "bob".into(),
                    def: b("t"),
                },
                Command::DeleteUser {
                    name: "alice".into(),
                },
                Command::ClearTopicPermissions {
                    vhost: "v".into(),
                    user: "bob".into(),
                },
            ],
            true,
        )
        .unwrap();
    drop(store);
    let (_store, rec) = open(dir.path());
    let names = |r: &[StoredRecord]| -> Vec<(String, Bytes)> {
        r.iter().map(|r| (r.name.clone(), r.def.clone())).collect()
    };
    assert_eq!(
        names(&rec.vhosts),
        vec![("/".into(), b("root")), ("v".into(), b("v2"))]
    );
    assert_eq!(names(&rec.users), vec![("bob".into(), b("b"))]);
    // A user's deletion leaves its permissions to the server (it clears them itself).
    assert_eq!(
        rec.permissions,
        vec![grant("/", "alice", "p1"), grant("v", "bob", "p2")]
    );
    assert!(rec.topic_permissions.is_empty());
}

#[test]
fn deleting_a_vhost_removes_everything_in_it_and_nothing_else() {
    let dir = tempdir();
    let (store, _) = open(dir.path());
    declare_queue(&store, 1, "q");
    store
        .submit_blocking(
            vec![
                Command::PutVhost {
                    name: "v".into(),
                    def: b("v"),
                },
                // A vhost whose name is a prefix of the other's: untouched.
                Command::PutVhost {
                    name: "v2".into(),
                    def: b("v2"),
                },
                Command::DeclareQueue {
                    vhost: "v".into(),
                    name: "q".into(),
                    queue: 2,
                    def: b("d"),
                },
                Command::DeclareQueue {
                    vhost: "v2".into(),
                    name: "q".into(),
                    queue: 3,
                    def: b("d"),
                },
                Command::DeclareExchange {
                    vhost: "v".into(),
                    name: "x".into(),
                    def: b("x"),
                },
                Command::Bind {
                    vhost: "v".into(),
                    key: b("k"),
                    def: b("d"),
                },
                Command::SetPermissions {
                    vhost: "v".into(),
                    user: "u".into(),
                    def: b("p"),
                },
                Command::SetTopicPermissions {
                    vhost: "v".into(),
                    user: "u".into(),
                    def: b("t"),
                },
                Command::SetPermissions {
                    vhost: "v2".into(),
                    user: "u".into(),
                    def: b("p"),
                },
                Command::PutUser {
                    name: "u".into(),
                    def: b("u"),
                },
            ],
            true,
        )
        .unwrap();
    let only_v = enqueue(&store, "only in v", &[(2, 0)]);
    let shared = enqueue(&store, "in / and v", &[(1, 0), (2, 1)]);
    let in_v2 = enqueue(&store, "in v2", &[(3, 0)]);
    // Deleted, and in the same batch something declared in it again afterwards survives.
    store
        .submit_blocking(
            vec![
                Command::DeclareExchange {
                    vhost: "v".into(),
                    name: "early".into(),
                    def: b("x"),
                },
                Command::DeleteVhost { name: "v".into() },
                Command::DeclareExchange {
                    vhost: "v".into(),
                    name: "late".into(),
                    def: b("x"),
                },
            ],
            true,
        )
        .unwrap();
    let ids = message_ids(&store);
    assert!(!ids.contains(&only_v));
    assert!(ids.contains(&shared) && ids.contains(&in_v2));
    assert_eq!(store.stats().ignored, 0);
    drop(store);

    let (store, rec) = open(dir.path());
    let queues: Vec<_> = rec
        .queues
        .iter()
        .map(|q| (q.vhost.as_str(), q.id, q.messages))
        .collect();
    assert_eq!(queues, vec![("/", 1, 1), ("v2", 3, 1)]);
    let exchanges: Vec<_> = rec
        .exchanges
        .iter()
        .map(|x| (x.vhost.as_str(), x.name.as_str()))
        .collect();
    assert_eq!(exchanges, vec![("v", "late")]);
    assert!(rec.bindings.is_empty());
    assert_eq!(
        rec.vhosts
            .iter()
            .map(|v| v.name.as_str())
            .collect::<Vec<_>>(),
        vec!["v2"]
    );
    assert_eq!(rec.permissions, vec![grant("v2", "u", "p")]);
    assert!(rec.topic_permissions.is_empty());
    assert_eq!(rec.users.len(), 1);
    assert_eq!(message_ids(&store).len(), 2);
}

#[test]
fn policies_survive_a_restart_and_go_with_their_vhost() {
    let dir = tempdir();
    let (store, _) = open(dir.path());
    let policy = |vhost: &str, name: &str, operator: bool, def: &'static str| Command::SetPolicy {
        vhost: vhost.into(),
        name: name.into(),
        operator,
        def: b(def),
    };
    store
        .submit_blocking(
            vec![
                policy("/", "p", false, "p1"),
                policy("/", "p", true, "op"),
                policy("/", "gone", false, "x"),
                policy("v", "p", false, "in v"),
                Command::ClearPolicy {
                    vhost: "/".into(),
                    name: "gone".into(),
                    operator: false,
                },
                policy("/", "p", false, "p2"),
            ],
            true,
        )
        .unwrap();
    store
        .submit_blocking(vec![Command::DeleteVhost { name: "v".into() }], true)
        .unwrap();
    drop(store);
    let (_, rec) = open(dir.path());
    let stored = |vhost: &str, name: &str, def: &'static str| StoredPolicy {
        vhost: vhost.into(),
        name: name.into(),
        def: b(def),
    };
    assert_eq!(rec.policies, vec![stored("/", "p", "p2")]);
    assert_eq!(rec.operator_policies, vec![stored("/", "p", "op")]);
}
