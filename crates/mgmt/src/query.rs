//! The list query parameters of RabbitMQ's API: `sort` and `sort_reverse`, `columns`, and with
//! `page` the paged envelope (`name` filters, as a case-insensitive substring or with
//! `use_regex=true` a regular expression; `page_size` at most 500, 100 by default;
//! `pagination=false` is ignored as RabbitMQ ignores it once `page` is given). Lists are built
//! as JSON values and shaped here, so every list endpoint behaves the same.

use crate::errors::{ApiError, ApiResult};
use axum::http::StatusCode;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

const DEFAULT_PAGE_SIZE: u64 = 100;
const MAX_PAGE_SIZE: u64 = 500;

/// The query string of a list request.
pub type Params = HashMap<String, String>;

/// The page requested, if any.
struct Page {
    number: u64,
    size: u64,
    filter: Option<regex::Regex>,
}

fn invalid() -> ApiError {
    ApiError::bad_request("Pagination parameters are invalid")
}

fn page(params: &Params) -> ApiResult<Option<Page>> {
    let Some(number) = params.get("page") else {
        return Ok(None);
    };
    let number: u64 = number.trim().parse().map_err(|_| invalid())?;
    let size = match params.get("page_size") {
        Some(s) => Some(s.trim().parse::<u64>().map_err(|_| invalid())?),
        None => None,
    };
    if number == 0 || size.is_some_and(|s| s == 0 || s > MAX_PAGE_SIZE) {
        let size = size.map_or("undefined".to_string(), |s| s.to_string());
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_pagination_parameters",
            format!("Invalid pagination parameters: page number {number}, page size {size}"),
        ));
    }
    let filter = match params.get("name").filter(|n| !n.is_empty()) {
        None => None,
        Some(name) => {
            let regex = params.get("use_regex").is_some_and(|v| v == "true");
            let pattern = match regex {
                true => name.clone(),
                false => format!("(?i){}", regex::escape(name)),
            };
            Some(regex::Regex::new(&pattern).map_err(|_| invalid())?)
        }
    };
    Ok(Some(Page {
        number,
        size: size.unwrap_or(DEFAULT_PAGE_SIZE),
        filter,
    }))
}

/// The value at a dotted path (`message_stats.publish`).
fn lookup<'a>(item: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(item, |v, key| v.get(key))
}

fn compare(a: Option<&Value>, b: Option<&Value>) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => {
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            x.partial_cmp(&y).unwrap_or(Equal)
        }
        (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
        (Some(x), Some(y)) => x.to_string().cmp(&y.to_string()),
        (None, Some(_)) => Less,
        (Some(_), None) => Greater,
        (None, None) => Equal,
    }
}

/// Keeps only the named columns (dotted paths keep the nesting).
fn select(item: &Value, columns: &[&str]) -> Value {
    let mut out = Map::new();
    for column in columns {
        let Some(v) = lookup(item, column) else {
            continue;
        };
        let mut parts = column.split('.').peekable();
        let mut slot = &mut out;
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                slot.insert(part.to_string(), v.clone());
                break;
            }
            let entry = slot.entry(part.to_string()).or_insert_with(|| json!({}));
            match entry.as_object_mut() {
                Some(m) => slot = m,
                None => break,
            }
        }
    }
    Value::Object(out)
}

/// Shapes a list as the query asks: sorted, filtered and paged, with only some columns.
pub fn shape(mut items: Vec<Value>, params: &Params) -> ApiResult<Value> {
    let page = page(params)?;
    if let Some(key) = params.get("sort").filter(|k| !k.is_empty()) {
        items.sort_by(|a, b| compare(lookup(a, key), lookup(b, key)));
    }
    if params.get("sort_reverse").is_some_and(|v| v == "true") {
        items.reverse();
    }
    let columns = columns(params);
    let Some(page) = page else {
        return Ok(Value::Array(project(items, &columns)));
    };
    let total = items.len() as u64;
    if let Some(filter) = &page.filter {
        items.retain(|i| {
            lookup(i, "name")
                .and_then(Value::as_str)
                .is_some_and(|n| filter.is_match(n))
        });
    }
    let filtered = items.len() as u64;
    let (start, take) = window(&page, filtered)?;
    let shown = items.into_iter().skip(start).take(take).collect();
    Ok(envelope(&page, total, filtered, project(shown, &columns)))
}

/// [`shape`] for a long list whose JSON is costly: a page without `sort` is filtered (by
/// `name_of`) and cut on the items themselves, and only the page's items become JSON, so
/// the first page of 10,000 queues costs a hundred. Anything else shapes the whole list.
pub fn shape_lazily<T>(
    mut items: Vec<T>,
    params: &Params,
    name_of: impl Fn(&T) -> &str,
    to_json: impl Fn(&T) -> Value,
) -> ApiResult<Value> {
    let sorted = params.get("sort").is_some_and(|k| !k.is_empty());
    let page = match page(params)? {
        Some(page) if !sorted => page,
        _ => return shape(items.iter().map(to_json).collect(), params),
    };
    if params.get("sort_reverse").is_some_and(|v| v == "true") {
        items.reverse();
    }
    let total = items.len() as u64;
    if let Some(filter) = &page.filter {
        items.retain(|i| filter.is_match(name_of(i)));
    }
    let filtered = items.len() as u64;
    let (start, take) = window(&page, filtered)?;
    let shown = items.iter().skip(start).take(take).map(to_json).collect();
    Ok(envelope(
        &page,
        total,
        filtered,
        project(shown, &columns(params)),
    ))
}

fn columns(params: &Params) -> Vec<&str> {
    params
        .get("columns")
        .map(|c| {
            c.split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

fn project(items: Vec<Value>, columns: &[&str]) -> Vec<Value> {
    match columns.is_empty() {
        true => items,
        false => items.iter().map(|i| select(i, columns)).collect(),
    }
}

/// Where the page starts in the filtered list and how many it shows; RabbitMQ's 400 for a
/// page past the end.
fn window(page: &Page, filtered: u64) -> ApiResult<(usize, usize)> {
    let page_count = filtered.div_ceil(page.size);
    if page.number > page_count.max(1) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "page_out_of_range",
            format!(
                "Page out of range, page: {} page size: {}, len: {filtered}",
                page.number, page.size
            ),
        ));
    }
    let start = (page.number - 1) * page.size;
    let take = page.size.min(filtered.saturating_sub(start));
    Ok((start as usize, take as usize))
}

fn envelope(page: &Page, total: u64, filtered: u64, shown: Vec<Value>) -> Value {
    json!({
        "filtered_count": filtered,
        "item_count": shown.len(),
        "items": shown,
        "page": page.number,
        "page_count": filtered.div_ceil(page.size),
        "page_size": page.size,
        "total_count": total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn names(n: usize) -> Vec<Value> {
        (0..n)
            .map(|i| json!({"name": format!("q{i}"), "n": i, "s": {"x": i}}))
            .collect()
    }

    #[test]
    fn pages_filter_and_count_like_rabbitmq() {
        let got = shape(names(5), &params(&[("page", "2"), ("page_size", "2")])).unwrap();
        assert_eq!(got["items"], json!([names(5)[2], names(5)[3]]));
        assert_eq!(
            (got["page_count"].as_u64(), got["total_count"].as_u64()),
            (Some(3), Some(5))
        );
        let got = shape(names(12), &params(&[("page", "1"), ("name", "Q1")])).unwrap();
        assert_eq!(got["filtered_count"], 3);
        let got = shape(
            names(12),
            &params(&[("page", "1"), ("name", "^q1$"), ("use_regex", "true")]),
        )
        .unwrap();
        assert_eq!(got["filtered_count"], 1);
    }

    #[test]
    fn bad_pages_are_rabbitmqs_400s() {
        let err = |p: &[(&str, &str)]| shape(names(2), &params(p)).unwrap_err();
        assert_eq!(err(&[("page", "0")]).error, "invalid_pagination_parameters");
        assert_eq!(
            err(&[("page", "x")]).reason,
            "Pagination parameters are invalid"
        );
        assert_eq!(
            err(&[("page", "1"), ("page_size", "501")]).error,
            "invalid_pagination_parameters"
        );
        assert_eq!(
            err(&[("page", "5"), ("page_size", "1")]).reason,
            "Page out of range, page: 5 page size: 1, len: 2"
        );
    }

    #[test]
    fn sorts_reverses_and_selects_columns() {
        let got = shape(
            names(3),
            &params(&[
                ("sort", "n"),
                ("sort_reverse", "true"),
                ("columns", "name,s.x"),
            ]),
        )
        .unwrap();
        assert_eq!(
            got,
            json!([{"name": "q2", "s": {"x": 2}}, {"name": "q1", "s": {"x": 1}}, {"name": "q0", "s": {"x": 0}}])
        );
    }

    #[test]
    fn a_lazy_page_is_the_same_as_a_shaped_one() {
        let cases: &[&[(&str, &str)]] = &[
            &[("page", "2"), ("page_size", "3")],
            &[("page", "1"), ("name", "Q1")],
            &[("page", "1"), ("sort_reverse", "true"), ("columns", "name")],
            &[("page", "1"), ("sort", "n"), ("sort_reverse", "true")],
            &[("columns", "s.x")],
            &[("page", "9"), ("page_size", "5")],
        ];
        for case in cases {
            let p = params(case);
            let name = |v: &Value| v["name"].as_str().unwrap_or_default().to_owned();
            let lazy = shape_lazily(
                names(12),
                &p,
                |v| v["name"].as_str().unwrap(),
                |v| v.clone(),
            );
            let eager = shape(names(12), &p);
            match (lazy, eager) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{case:?}"),
                (Err(a), Err(b)) => assert_eq!(a.reason, b.reason, "{case:?}"),
                (a, b) => panic!(
                    "{case:?}: {:?} vs {:?}",
                    a.map(|v| name(&v)),
                    b.map(|v| name(&v))
                ),
            }
        }
    }
}
