//! Validation texts, matching, priorities and how definitions and arguments combine, checked
//! against what RabbitMQ 3.10.8 answers and does.

use super::*;
use serde_json::json;

fn spec(name: &str, body: Value) -> PolicySpec {
    PolicySpec {
        name: name.to_string(),
        pattern: body["pattern"].clone(),
        apply_to: body.get("apply-to").cloned(),
        priority: body.get("priority").cloned(),
        definition: body["definition"].clone(),
    }
}

fn check(kind: PolicyKind, body: Value) -> Result<Policy, String> {
    spec("p", body).validate(kind)
}

fn err(body: Value) -> String {
    check(PolicyKind::Policy, body).unwrap_err()
}

#[test]
fn rabbitmqs_texts_for_bad_policies() {
    let d = |def: Value| err(json!({"pattern": "^q", "definition": def}));
    assert_eq!(
        d(json!({"max-length": -1})),
        "-1 is not a valid maximum length"
    );
    assert_eq!(
        d(json!({"max-length": "x"})),
        "<<\"x\">> is not a valid maximum length"
    );
    assert_eq!(
        d(json!({"bogus": 1, "max-length": 1, "zz": 2})),
        "[{<<\"bogus\">>,1},{<<\"zz\">>,2}] are not recognised policy settings"
    );
    assert_eq!(d(json!({})), "no policy provided");
    assert_eq!(d(json!({"expires": 0})), "0 is not a valid queue expiry");
    assert_eq!(
        d(json!({"message-ttl": 1.5})),
        "1.5 is not a valid message TTL"
    );
    assert_eq!(
        d(json!({"dead-letter-exchange": true})),
        "true is not a valid dead letter exchange name"
    );
    assert_eq!(
        d(json!({"overflow": "x"})),
        "<<\"x\">> is not a valid overflow value"
    );
    assert_eq!(
        d(json!({"ha-mode": "exactly"})),
        "ha-mode=\"exactly\" takes an integer, none given"
    );
    assert_eq!(
        d(json!({"ha-params": 2})),
        "ha-mode must be specified to specify ha-params, ha-sync-mode or ha-promote-on-shutdown"
    );
    assert_eq!(
        err(
            json!({"pattern": "^q", "apply-to": "classic_queues", "definition": {"max-length": 1}})
        ),
        "apply-to 'classic_queues' unrecognised; should be 'queues', 'exchanges' or 'all'"
    );
    assert_eq!(
        err(json!({"pattern": "^q", "priority": "7", "definition": {"max-length": 1}})),
        "priority should be a number, actually was <<\"7\">>"
    );
    assert_eq!(
        err(json!({"pattern": 5, "definition": {"max-length": 1}})),
        "pattern should be a binary but was 5"
    );
    assert!(check(
        PolicyKind::Policy,
        json!({"pattern": "^q", "priority": 1.5,
            "definition": {"ha-mode": "nodes", "ha-params": ["a"], "queue-mode": "lazy"}})
    )
    .is_ok());
}

#[test]
fn operator_policies_take_the_numeric_limits_only() {
    let op = |def: Value| {
        check(
            PolicyKind::Operator,
            json!({"pattern": "^q", "definition": def}),
        )
    };
    assert_eq!(
        op(json!({"overflow": "reject-publish"})).unwrap_err(),
        "[{<<\"overflow\">>,<<\"reject-publish\">>}] are not recognised policy settings"
    );
    assert!(
        op(json!({"max-length": 5, "message-ttl": 100, "expires": 1000,
        "max-length-bytes": 10, "delivery-limit": 3}))
        .is_ok()
    );
}

fn policies(list: &[(&str, Value)], operator: &[(&str, Value)]) -> Policies {
    let mut set = Policies::default();
    for (kind, items) in [(PolicyKind::Policy, list), (PolicyKind::Operator, operator)] {
        for (name, body) in items {
            set.put(kind, spec(name, body.clone()).validate(kind).unwrap());
        }
    }
    set
}

#[test]
fn the_highest_priority_wins_and_ties_go_to_the_first_name() {
    let set = policies(
        &[
            (
                "b",
                json!({"pattern": "^q", "priority": 2, "definition": {"max-length": 2}}),
            ),
            (
                "a",
                json!({"pattern": "^q", "priority": 2, "definition": {"max-length": 1}}),
            ),
            (
                "c",
                json!({"pattern": "^q", "priority": 1, "definition": {"max-length": 3}}),
            ),
            (
                "x",
                json!({"pattern": "^q", "apply-to": "exchanges",
                "priority": 9, "definition": {"alternate-exchange": "ae"}}),
            ),
        ],
        &[],
    );
    assert_eq!(set.for_queue("q1").policy_name().as_deref(), Some("a"));
    assert_eq!(set.for_exchange("q1").policy_name().as_deref(), Some("x"));
    assert!(set.for_queue("other").is_empty());
}

#[test]
fn patterns_take_pcres_lookahead() {
    let set = policies(
        &[(
            "not-amq",
            json!({"pattern": "^(?!amq\\.).*", "definition": {"max-length": 1}}),
        )],
        &[],
    );
    assert!(set.for_exchange("amq.direct").is_empty());
    assert_eq!(
        set.for_queue("orders").policy_name().as_deref(),
        Some("not-amq")
    );
}

#[test]
fn a_policy_with_a_quorum_key_skips_classic_queues() {
    let set = policies(
        &[(
            "dl",
            json!({"pattern": ".*", "definition": {"delivery-limit": 3, "max-length": 1}}),
        )],
        &[],
    );
    assert!(set.for_queue("q").policy.is_none());
    assert_eq!(set.for_exchange("q").policy_name().as_deref(), Some("dl"));
}

#[test]
fn operator_policies_cap_numbers_and_arguments_combine_as_rabbitmq_does() {
    let set = policies(
        &[(
            "p",
            json!({"pattern": "^q", "definition": {"max-length": 10, "message-ttl": 5000,
            "dead-letter-exchange": "dlx", "overflow": "reject-publish", "consumer-timeout": 900}}),
        )],
        &[(
            "o",
            json!({"pattern": "^q", "definition": {"max-length": 2, "message-ttl": 10000,
            "expires": 100000}}),
        )],
    );
    let applied = set.for_queue("q1");
    assert_eq!(
        Value::Object(applied.effective_definition()),
        json!({"max-length": 2, "message-ttl": 5000, "expires": 100000,
            "dead-letter-exchange": "dlx", "overflow": "reject-publish", "consumer-timeout": 900})
    );
    let mut declared = FieldTable::new();
    declared.push(ShortStr::from_static("x-max-length"), FieldValue::I32(1));
    declared.push(
        ShortStr::from_static("x-overflow"),
        FieldValue::LongStr("drop-head".into()),
    );
    declared.push(
        ShortStr::from_static("x-message-ttl"),
        FieldValue::I32(9000),
    );
    declared.push(
        ShortStr::from_static("x-consumer-timeout"),
        FieldValue::I32(2000),
    );
    let args = applied.queue_arguments(&declared);
    // The smaller number; the argument over the policy for the rest.
    assert_eq!(
        args.get("x-max-length").and_then(FieldValue::as_i64),
        Some(1)
    );
    assert_eq!(
        args.get("x-message-ttl").and_then(FieldValue::as_i64),
        Some(5000)
    );
    assert_eq!(
        args.get("x-expires").and_then(FieldValue::as_i64),
        Some(100000)
    );
    assert_eq!(
        args.get("x-consumer-timeout").and_then(FieldValue::as_i64),
        Some(900)
    );
    assert_eq!(
        args.get("x-overflow").and_then(FieldValue::as_str),
        Some("drop-head")
    );
    assert_eq!(
        args.get("x-dead-letter-exchange")
            .and_then(FieldValue::as_str),
        Some("dlx")
    );
}

#[test]
fn an_exchanges_own_alternate_exchange_wins() {
    let set = policies(
        &[(
            "p",
            json!({"pattern": ".*", "definition": {"alternate-exchange": "pae"}}),
        )],
        &[],
    );
    let applied = set.for_exchange("x");
    assert_eq!(
        applied.alternate_exchange(&FieldTable::new()).as_deref(),
        Some("pae")
    );
    let mut args = FieldTable::new();
    args.push(
        ShortStr::from_static("alternate-exchange"),
        FieldValue::LongStr("own".into()),
    );
    assert_eq!(applied.alternate_exchange(&args).as_deref(), Some("own"));
}

#[test]
fn stored_records_round_trip() {
    let p = check(
        PolicyKind::Policy,
        json!({"pattern": "^q", "apply-to": "queues", "priority": 3,
            "definition": {"max-length": 5}}),
    )
    .unwrap();
    let back = stored::decode("p", PolicyKind::Policy, &stored::encode(&p)).unwrap();
    assert_eq!(back, p);
}
