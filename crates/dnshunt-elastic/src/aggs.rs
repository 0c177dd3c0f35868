//! Aggregations pushed down to the cluster: which fields can be aggregated (`_field_caps`), and
//! composite aggregations paged by `after_key`, so the cluster reduces every event to its
//! distinct key combinations and only those travel.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use ureq::http::Method;

use crate::client::{encode_path_segment, Client};
use crate::error::EsError;

/// One key of a composite aggregation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompositeSource {
    /// The key's name in the buckets.
    pub name: String,
    /// An aggregatable (keyword) field.
    pub field: String,
    /// Documents without the field form their own bucket (key `null`) instead of being left out.
    pub missing_bucket: bool,
}

/// Whether a field can be aggregated on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldCap {
    /// No index of the pattern has the field.
    Absent,
    /// Aggregate on this name (the field, or its `.keyword` sub-field).
    Aggregatable(String),
    /// The field exists but is not aggregatable anywhere (text without a keyword sub-field).
    NotAggregatable,
}

impl FieldCap {
    /// The name to aggregate on, if any.
    pub fn name(&self) -> Option<&str> {
        match self {
            FieldCap::Aggregatable(n) => Some(n),
            _ => None,
        }
    }
}

/// Indices that map the asked fields alike, and how to aggregate each field on them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldPlanGroup {
    pub indices: Vec<String>,
    pub fields: BTreeMap<String, FieldCap>,
}

/// How much a composite aggregation cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompositeStats {
    pub pages: u64,
    pub buckets: u64,
}

impl Client {
    /// Which name to aggregate each field on, per group of the pattern's indices that map the
    /// fields alike: the field itself where it is aggregatable (keyword), else its `.keyword`
    /// sub-field (dynamic mappings), else why not. Indices of one pattern may map a field
    /// differently (keyword in one, text in another): an aggregation over a text field fails,
    /// so each group is aggregated on its own. An empty pattern gives no group.
    pub fn field_plan(&self, index: &str, fields: &[&str]) -> Result<Vec<FieldPlanGroup>, EsError> {
        let mut asked: Vec<String> = Vec::new();
        for f in fields {
            asked.push((*f).to_owned());
            asked.push(format!("{f}.keyword"));
        }
        let path = format!(
            "/{}/_field_caps?fields={}&include_unmapped=true&ignore_unavailable=true&allow_no_indices=true",
            encode_path_segment(index),
            asked.join(",")
        );
        let answer = self.json(Method::GET, &path, None, "reading field capabilities")?;
        let indices: Vec<String> = answer
            .get("indices")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default();
        let caps = answer.get("fields").and_then(Value::as_object).cloned().unwrap_or_default();
        // (aggregatable, mapped) of a field in one index.
        let state = |field: &str, idx: &str| -> (bool, bool) {
            let Some(types) = caps.get(field).and_then(Value::as_object) else {
                return (false, false);
            };
            let listed = |t: &Value| t.get("indices").and_then(Value::as_array).map(|a| a.iter().any(|v| v.as_str() == Some(idx)));
            let entry = types
                .iter()
                .find(|(_, t)| listed(t) == Some(true))
                .or_else(|| types.iter().find(|(_, t)| t.get("indices").is_none()));
            match entry {
                Some((ty, t)) if ty != "unmapped" => (t.get("aggregatable").and_then(Value::as_bool) == Some(true), true),
                _ => (false, false),
            }
        };
        let mut groups: Vec<FieldPlanGroup> = Vec::new();
        for idx in &indices {
            let choices: BTreeMap<String, FieldCap> = fields
                .iter()
                .map(|f| {
                    let keyword = format!("{f}.keyword");
                    let cap = match (state(f, idx), state(&keyword, idx)) {
                        ((true, _), _) => FieldCap::Aggregatable((*f).to_owned()),
                        (_, (true, _)) => FieldCap::Aggregatable(keyword),
                        ((false, true), _) => FieldCap::NotAggregatable,
                        _ => FieldCap::Absent,
                    };
                    ((*f).to_owned(), cap)
                })
                .collect();
            match groups.iter_mut().find(|g| g.fields == choices) {
                Some(g) => g.indices.push(idx.clone()),
                None => groups.push(FieldPlanGroup {
                    indices: vec![idx.clone()],
                    fields: choices,
                }),
            }
        }
        Ok(groups)
    }

    /// Runs a composite aggregation over `index` for the documents matching `query`, page by
    /// page (`after_key`), handing every bucket's keys and document count to `each`.
    pub fn composite_each(
        &self,
        index: &str,
        query: &Value,
        sources: &[CompositeSource],
        page_size: usize,
        mut each: impl FnMut(&Map<String, Value>, u64),
    ) -> Result<CompositeStats, EsError> {
        let what = "composite aggregation";
        let path = format!("/{}/_search", encode_path_segment(index));
        let sources_json: Vec<Value> = sources
            .iter()
            .map(|s| json!({ s.name.clone(): { "terms": { "field": s.field, "missing_bucket": s.missing_bucket } } }))
            .collect();
        let mut after: Option<Value> = None;
        let mut stats = CompositeStats::default();
        loop {
            let mut composite = json!({ "size": page_size.max(1), "sources": sources_json });
            if let Some(a) = &after {
                composite["after"] = a.clone();
            }
            let body = json!({
                "size": 0,
                "track_total_hits": false,
                "query": query,
                "aggs": { "keys": { "composite": composite } }
            });
            let answer = self.json(Method::POST, &path, Some(&body), what)?;
            if let Some(failed) = answer.pointer("/_shards/failed").and_then(Value::as_u64).filter(|n| *n > 0) {
                let reason = answer.pointer("/_shards/failures/0/reason/reason").and_then(Value::as_str).unwrap_or("unknown");
                return Err(self.protocol(what, format!("{failed} shard(s) failed: {reason}")));
            }
            stats.pages += 1;
            let agg = answer.pointer("/aggregations/keys");
            let buckets = agg.and_then(|a| a.get("buckets")).and_then(Value::as_array).cloned().unwrap_or_default();
            for bucket in &buckets {
                let keys = bucket.get("key").and_then(Value::as_object).cloned().unwrap_or_default();
                let count = bucket.get("doc_count").and_then(Value::as_u64).unwrap_or(0);
                each(&keys, count);
                stats.buckets += 1;
            }
            match agg.and_then(|a| a.get("after_key")) {
                Some(key) if !buckets.is_empty() => after = Some(key.clone()),
                _ => break,
            }
        }
        Ok(stats)
    }
}
