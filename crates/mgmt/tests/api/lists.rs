//! Sorting, columns and pagination of lists, and the request body limit.

use crate::Api;
use hyper::StatusCode;
use serde_json::json;

#[tokio::test]
async fn lists_page_sort_filter_and_select_columns() {
    let api = Api::start().await;
    for v in ["a1", "a2", "b1"] {
        api.call("PUT", &format!("vhosts/{v}"), Some("{}")).await;
    }
    let names = api
        .get("vhosts?sort=name&sort_reverse=true&columns=name")
        .await
        .json;
    assert_eq!(
        names,
        json!([{"name": "b1"}, {"name": "a2"}, {"name": "a1"}, {"name": "/"}])
    );
    let page = api.get("vhosts?page=2&page_size=3&columns=name").await.json;
    assert_eq!(
        page,
        json!({"filtered_count": 4, "item_count": 1, "items": [{"name": "b1"}],
        "page": 2, "page_count": 2, "page_size": 3, "total_count": 4})
    );
    let filtered = api.get("vhosts?page=1&name=A").await.json;
    assert_eq!(filtered["filtered_count"], 2);
    let regex = api.get("vhosts?page=1&name=%5Eb&use_regex=true").await.json;
    assert_eq!(regex["filtered_count"], 1);
    let out = api.get("vhosts?page=5&page_size=1").await;
    assert_eq!(
        out.error(),
        (
            "page_out_of_range".into(),
            json!("Page out of range, page: 5 page size: 1, len: 4")
        )
    );
    assert_eq!(
        api.get("vhosts?page=0").await.error().0,
        "invalid_pagination_parameters"
    );
    api.stop().await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_without_harm() {
    let api = Api::start().await;
    let big = format!(
        r#"{{"description":"{}"}}"#,
        "x".repeat(warren_mgmt::MAX_BODY + 1)
    );
    let answer = api.call("PUT", "vhosts/big", Some(&big)).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(api.get("vhosts/big").await.status, StatusCode::NOT_FOUND);
    assert_eq!(api.get("whoami").await.status, StatusCode::OK);
    api.stop().await;
}
