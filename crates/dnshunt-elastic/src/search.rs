//! Reading an index pattern: point in time (Elasticsearch `/_pit`, OpenSearch
//! `/_search/point_in_time`) with `search_after`, or sliced scroll where there is no point in
//! time. This module speaks the APIs; which pages to ask for is the caller's business.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::{json, Value};
use ureq::http::Method;

use crate::client::{encode_path_segment, Client, Distribution};
use crate::error::EsError;

/// The outcome of asking for a point in time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PitOpen {
    Opened(String),
    /// The cluster has no point-in-time API (or refuses it here): read with scroll instead.
    Unsupported(String),
}

impl Client {
    fn distribution(&self) -> Distribution {
        self.info().map_or(Distribution::Elasticsearch, |i| i.distribution)
    }

    /// Opens a point in time on `index`. A missing concrete index is an error; a cluster
    /// without the API (404/405 "no handler", 400) is [`PitOpen::Unsupported`].
    pub fn open_pit(&self, index: &str, keep_alive: &str) -> Result<PitOpen, EsError> {
        if let Some(info) = self.info().filter(|i| !i.has_point_in_time()) {
            return Ok(PitOpen::Unsupported(format!("{info} has no point-in-time API")));
        }
        let (path, key) = match self.distribution() {
            Distribution::OpenSearch => (format!("/{}/_search/point_in_time?keep_alive={keep_alive}", encode_path_segment(index)), "pit_id"),
            Distribution::Elasticsearch => (format!("/{}/_pit?keep_alive={keep_alive}", encode_path_segment(index)), "id"),
        };
        let what = "opening a point in time";
        let reply = self.request(Method::POST, &path, None, what)?;
        if !reply.is_success() {
            let err = self.status_error(&reply, what);
            return match (reply.status, err.error_type()) {
                (404, Some("index_not_found_exception")) => Err(err),
                (400 | 404 | 405, _) => Ok(PitOpen::Unsupported(err.to_string())),
                _ => Err(err),
            };
        }
        let body = reply.json().map_err(|d| self.protocol(what, d))?;
        match body.get(key).and_then(Value::as_str) {
            Some(id) => Ok(PitOpen::Opened(id.to_owned())),
            None => Err(self.protocol(what, format!("no `{key}` in the answer"))),
        }
    }

    /// The open indices `pattern` (an index pattern, alias, data stream or comma-separated list)
    /// names now: `Ok(Some(names))`, empty when a wildcard matches nothing; `Ok(None)` when the
    /// cluster will not say (a user without the `monitor` privilege, a proxy that does not pass
    /// `_cat`, an answer that is not the list): reading then finds out. A concrete index that
    /// does not exist is an error.
    pub fn matching_indices(&self, pattern: &str) -> Result<Option<Vec<String>>, EsError> {
        let what = "listing the indices of the pattern";
        let path = format!("/_cat/indices/{}?format=json&h=index&expand_wildcards=open", encode_path_segment(pattern));
        let reply = self.request(Method::GET, &path, None, what)?;
        if !reply.is_success() {
            let err = self.status_error(&reply, what);
            return match (reply.status, err.error_type()) {
                (404, Some("index_not_found_exception")) => Err(err),
                _ => Ok(None),
            };
        }
        let Ok(Value::Array(rows)) = reply.json() else { return Ok(None) };
        Ok(Some(rows.iter().filter_map(|r| r.get("index").and_then(Value::as_str)).map(str::to_owned).collect()))
    }

    /// Closes a point in time (a missing one is not an error: it may have expired).
    pub fn close_pit(&self, id: &str) -> Result<(), EsError> {
        let (path, body) = match self.distribution() {
            Distribution::OpenSearch => ("/_search/point_in_time", json!({ "pit_id": [id] })),
            Distribution::Elasticsearch => ("/_pit", json!({ "id": id })),
        };
        let what = "closing a point in time";
        let bytes = serde_json::to_vec(&body).expect("JSON");
        let reply = self.request(Method::DELETE, path, Some((&bytes, "application/json")), what)?;
        if reply.is_success() || reply.status == 404 {
            Ok(())
        } else {
            Err(self.status_error(&reply, what))
        }
    }

    /// One search request; returns the raw body of a 2xx answer (parsed by the caller, which
    /// wants to borrow from it).
    pub fn search_raw(&self, path: &str, body: &Value, what: &str) -> Result<Vec<u8>, EsError> {
        let bytes = serde_json::to_vec(body).expect("JSON");
        let reply = self.request(Method::POST, path, Some((&bytes, "application/json")), what)?;
        Ok(self.expect_success(reply, what)?.body)
    }

    /// The first page of a (sliced) scroll over `index`.
    pub fn scroll_start(&self, index: &str, keep_alive: &str, body: &Value) -> Result<Vec<u8>, EsError> {
        self.search_raw(&format!("/{}/_search?scroll={keep_alive}", encode_path_segment(index)), body, "starting a scroll")
    }

    /// The next page of a scroll.
    pub fn scroll_next(&self, scroll_id: &str, keep_alive: &str) -> Result<Vec<u8>, EsError> {
        self.search_raw("/_search/scroll", &json!({ "scroll": keep_alive, "scroll_id": scroll_id }), "continuing a scroll")
    }

    /// Frees scroll contexts (best effort: they expire anyway).
    pub fn clear_scroll(&self, ids: &[String]) -> Result<(), EsError> {
        if ids.is_empty() {
            return Ok(());
        }
        let bytes = serde_json::to_vec(&json!({ "scroll_id": ids })).expect("JSON");
        let what = "clearing a scroll";
        let reply = self.request(Method::DELETE, "/_search/scroll", Some((&bytes, "application/json")), what)?;
        if reply.is_success() || reply.status == 404 {
            Ok(())
        } else {
            Err(self.status_error(&reply, what))
        }
    }

    /// The sort that pages a point in time with a unique, stable order: `_shard_doc` where the
    /// cluster has it; otherwise index order (`_doc`) with `_id` to break ties between shards
    /// (OpenSearch before 3.3).
    pub fn pit_sort(&self) -> Value {
        if self.info().is_some_and(|i| i.has_shard_doc()) {
            json!([{ "_shard_doc": "asc" }])
        } else {
            json!([{ "_doc": "asc" }, { "_id": "asc" }])
        }
    }
}

/// What the pager needs from a search answer (the hits themselves are read by the caller's
/// document visitor from the same bytes).
#[derive(Debug, Default)]
pub struct PageMeta<'a> {
    pub pit_id: Option<String>,
    pub scroll_id: Option<String>,
    pub hits: Vec<HitMeta<'a>>,
    pub timed_out: bool,
    /// Shards that failed: their documents are missing from the answer.
    pub failed_shards: u64,
    pub shard_failure: Option<String>,
}

/// One hit's address and paging keys.
#[derive(Debug)]
pub struct HitMeta<'a> {
    pub index: Cow<'a, str>,
    pub id: Cow<'a, str>,
    pub sort: Option<Vec<Value>>,
    /// `fields.@timestamp[0]` asked for as `epoch_millis`.
    pub timestamp_ms: Option<i64>,
}

#[derive(Deserialize)]
struct RawPage<'a> {
    pit_id: Option<String>,
    #[serde(rename = "_scroll_id")]
    scroll_id: Option<String>,
    #[serde(default)]
    timed_out: bool,
    #[serde(rename = "_shards")]
    shards: Option<RawShards>,
    #[serde(borrow)]
    hits: Option<RawHits<'a>>,
}

#[derive(Deserialize)]
struct RawShards {
    #[serde(default)]
    failed: u64,
    #[serde(default)]
    failures: Vec<Value>,
}

#[derive(Deserialize)]
struct RawHits<'a> {
    #[serde(borrow, default)]
    hits: Vec<RawHit<'a>>,
}

#[derive(Deserialize)]
struct RawHit<'a> {
    #[serde(rename = "_index", borrow)]
    index: Cow<'a, str>,
    #[serde(rename = "_id", borrow)]
    id: Cow<'a, str>,
    sort: Option<Vec<Value>>,
    fields: Option<RawFields>,
}

#[derive(Deserialize)]
struct RawFields {
    #[serde(rename = "@timestamp")]
    timestamp: Option<Vec<Value>>,
}

/// Reads the paging facts of a search answer (`_source` is skipped, not built).
pub fn page_meta(body: &[u8]) -> Result<PageMeta<'_>, String> {
    let raw: RawPage<'_> = serde_json::from_slice(body).map_err(|e| format!("search answer is not the expected JSON: {e}"))?;
    let (failed_shards, shard_failure) = match raw.shards {
        Some(s) => {
            let first = s.failures.first().map(|f| {
                let (ty, reason) = crate::client::error_of(&serde_json::to_vec(&json!({ "error": f.get("reason").cloned().unwrap_or(Value::Null) })).unwrap_or_default());
                format!("{}{reason}", ty.map(|t| format!("{t}: ")).unwrap_or_default())
            });
            (s.failed, first)
        }
        None => (0, None),
    };
    Ok(PageMeta {
        pit_id: raw.pit_id,
        scroll_id: raw.scroll_id,
        timed_out: raw.timed_out,
        failed_shards,
        shard_failure,
        hits: raw
            .hits
            .map(|h| h.hits)
            .unwrap_or_default()
            .into_iter()
            .map(|h| HitMeta {
                index: h.index,
                id: h.id,
                sort: h.sort,
                timestamp_ms: h.fields.and_then(|f| f.timestamp).and_then(|v| v.first().and_then(epoch_millis)),
            })
            .collect(),
    })
}

/// `1561471781401`, `"1561471781401"` or `"1561471781401.123456"` (date_nanos) → ms.
fn epoch_millis(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f.floor() as i64)),
        Value::String(s) => {
            let int = s.split('.').next().unwrap_or(s);
            int.trim().parse().ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_meta_reads_hits_sort_and_timestamps() {
        let body = br#"{"pit_id":"P2","took":3,"timed_out":false,"_shards":{"total":2,"successful":2,"skipped":0,"failed":0},
            "hits":{"total":{"value":5,"relation":"eq"},"max_score":null,"hits":[
              {"_index":"t1","_id":"d1","_score":null,"_source":{"x":{"deep":[1,2,3]}},"fields":{"@timestamp":["1577836801000"]},"sort":[0,"d1"]},
              {"_index":"t1","_id":"d\"2","_score":null,"_source":{},"fields":{"@timestamp":["1577836802000.123456"]},"sort":[1,"d2"]},
              {"_index":"t1","_id":"d3","_source":{}}]}}"#;
        let meta = page_meta(body).unwrap();
        assert_eq!(meta.pit_id.as_deref(), Some("P2"));
        assert_eq!(meta.hits.len(), 3);
        assert_eq!(meta.hits[0].timestamp_ms, Some(1577836801000));
        assert_eq!(meta.hits[1].id, "d\"2");
        assert_eq!(meta.hits[1].timestamp_ms, Some(1577836802000));
        assert_eq!(meta.hits[1].sort.as_ref().unwrap()[1], "d2");
        assert_eq!(meta.hits[2].timestamp_ms, None);
        assert_eq!(meta.failed_shards, 0);
    }

    #[test]
    fn failed_shards_are_reported() {
        let body = br#"{"timed_out":false,"_shards":{"total":2,"successful":1,"failed":1,"failures":[{"shard":0,"index":"t","reason":{"type":"query_shard_exception","reason":"No mapping found for [_shard_doc] in order to sort on"}}]},"hits":{"hits":[]}}"#;
        let meta = page_meta(body).unwrap();
        assert_eq!(meta.failed_shards, 1);
        assert_eq!(
            meta.shard_failure.as_deref(),
            Some("query_shard_exception: No mapping found for [_shard_doc] in order to sort on")
        );
    }
}
