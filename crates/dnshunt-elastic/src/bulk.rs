//! Writing documents: `_bulk` with per-document outcomes (429 rejections retried with backoff,
//! version conflicts handed back, everything else reported per document), and `_mget`.

use std::time::Duration;

use serde_json::{json, Value};
use ureq::http::Method;

use crate::client::{encode_path_segment, Client};
use crate::error::EsError;

/// How one document is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteOp {
    /// Create or overwrite.
    Index,
    /// Create; a document with this id already existing is a conflict.
    Create,
    /// Overwrite only if nobody changed the document since it was read.
    IndexIfUnchanged { seq_no: i64, primary_term: i64 },
}

/// One document for `_bulk`.
#[derive(Clone, Debug)]
pub struct BulkDoc {
    pub id: String,
    pub op: WriteOp,
    /// The document, serialised.
    pub source: Vec<u8>,
}

/// What a bulk write did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BulkOutcome {
    /// Documents written (created or updated).
    pub written: usize,
    /// Documents created (a subset of `written`).
    pub created: usize,
    /// Ids that hit a version conflict (409): changed or created by someone else meanwhile.
    pub conflicts: Vec<String>,
    /// How many 429-rejected documents were sent again.
    pub retried: usize,
}

/// A stored document as `_mget` returns it.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredDoc {
    pub seq_no: i64,
    pub primary_term: i64,
    pub source: Value,
}

const MAX_DOCS_PER_REQUEST: usize = 1000;
const MAX_BYTES_PER_REQUEST: usize = 8 << 20;

impl Client {
    /// Writes `docs` to `index` with `_bulk`, in requests of at most 1000 documents or 8 MiB.
    /// Documents rejected with 429 are sent again with exponential backoff (bounded tries);
    /// version conflicts are returned; any other per-document failure fails the call with the
    /// first examples (document id, error type, reason). `refresh` makes the documents
    /// searchable before returning (`refresh=wait_for`).
    pub fn bulk(&self, index: &str, docs: &[BulkDoc], refresh: bool) -> Result<BulkOutcome, EsError> {
        let mut outcome = BulkOutcome::default();
        let mut failures: Vec<String> = Vec::new();
        let mut failed = 0usize;
        let mut start = 0;
        while start < docs.len() {
            let mut end = start;
            let mut bytes = 0;
            while end < docs.len() && end - start < MAX_DOCS_PER_REQUEST && (end == start || bytes + docs[end].source.len() < MAX_BYTES_PER_REQUEST) {
                bytes += docs[end].source.len() + 128;
                end += 1;
            }
            let mut pending: Vec<&BulkDoc> = docs[start..end].iter().collect();
            let mut attempt = 0;
            while !pending.is_empty() {
                let (rejected, mut fails) = self.bulk_once(index, &pending, refresh, &mut outcome)?;
                attempt += 1;
                if rejected.is_empty() {
                    failed += fails.len();
                    failures.append(&mut fails);
                    break;
                }
                if attempt >= self.max_tries() {
                    failed += fails.len() + rejected.len();
                    failures.append(&mut fails);
                    failures.extend(rejected.iter().map(|d| format!("{}: rejected (429) {} times", d.id, attempt)));
                    break;
                }
                failed += fails.len();
                failures.append(&mut fails);
                outcome.retried += rejected.len();
                std::thread::sleep(self.backoff_for(attempt));
                pending = rejected;
            }
            start = end;
        }
        if failed > 0 {
            return Err(EsError::Bulk {
                url: self.url().to_owned(),
                what: format!("writing to {index}"),
                failed,
                total: docs.len(),
                examples: failures.into_iter().take(5).collect::<Vec<_>>().join("; "),
            });
        }
        Ok(outcome)
    }

    /// One `_bulk` request; returns the documents rejected with 429 and the failures.
    fn bulk_once<'d>(&self, index: &str, docs: &[&'d BulkDoc], refresh: bool, outcome: &mut BulkOutcome) -> Result<(Vec<&'d BulkDoc>, Vec<String>), EsError> {
        let mut body = Vec::with_capacity(docs.iter().map(|d| d.source.len() + 128).sum());
        for doc in docs {
            let meta = match &doc.op {
                WriteOp::Index => json!({ "index": { "_index": index, "_id": doc.id } }),
                WriteOp::Create => json!({ "create": { "_index": index, "_id": doc.id } }),
                WriteOp::IndexIfUnchanged { seq_no, primary_term } => {
                    json!({ "index": { "_index": index, "_id": doc.id, "if_seq_no": seq_no, "if_primary_term": primary_term } })
                }
            };
            serde_json::to_writer(&mut body, &meta).expect("JSON");
            body.push(b'\n');
            body.extend_from_slice(&doc.source);
            body.push(b'\n');
        }
        let path = if refresh { "/_bulk?refresh=wait_for" } else { "/_bulk" };
        let what = format!("writing to {index}");
        let reply = self.request(Method::POST, path, Some((&body, "application/x-ndjson")), &what)?;
        let reply = self.expect_success(reply, &what)?;
        let answer = reply.json().map_err(|d| self.protocol(&what, d))?;
        let items = answer
            .get("items")
            .and_then(Value::as_array)
            .ok_or_else(|| self.protocol(&what, "bulk answer has no `items`"))?;
        if items.len() != docs.len() {
            return Err(self.protocol(&what, format!("bulk answer has {} items for {} documents", items.len(), docs.len())));
        }
        let mut rejected = Vec::new();
        let mut failures = Vec::new();
        for (doc, item) in docs.iter().zip(items) {
            let result = item.as_object().and_then(|o| o.values().next()).cloned().unwrap_or(Value::Null);
            let status = result.get("status").and_then(Value::as_u64).unwrap_or(0) as u16;
            match status {
                200..=299 => {
                    outcome.written += 1;
                    if result.get("result").and_then(Value::as_str) == Some("created") {
                        outcome.created += 1;
                    }
                }
                409 => outcome.conflicts.push(doc.id.clone()),
                429 => rejected.push(*doc),
                _ => {
                    let err = result.get("error").cloned().unwrap_or(Value::Null);
                    let ty = err.get("type").and_then(Value::as_str).unwrap_or("error");
                    let reason = err.get("reason").and_then(Value::as_str).unwrap_or("");
                    failures.push(format!("{}: HTTP {status} {ty}: {}", doc.id, self.redact(reason)));
                }
            }
        }
        Ok((rejected, failures))
    }

    /// Reads documents by id. Missing documents (and a missing index) are `None`.
    pub fn mget(&self, index: &str, ids: &[String]) -> Result<Vec<Option<StoredDoc>>, EsError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(MAX_DOCS_PER_REQUEST) {
            let what = format!("reading from {index}");
            let bytes = serde_json::to_vec(&json!({ "ids": chunk })).expect("JSON");
            let path = format!("/{}/_mget", encode_path_segment(index));
            let reply = self.request(Method::POST, &path, Some((&bytes, "application/json")), &what)?;
            if reply.status == 404 {
                out.extend(chunk.iter().map(|_| None));
                continue;
            }
            let reply = self.expect_success(reply, &what)?;
            let answer = reply.json().map_err(|d| self.protocol(&what, d))?;
            let docs = answer
                .get("docs")
                .and_then(Value::as_array)
                .ok_or_else(|| self.protocol(&what, "mget answer has no `docs`"))?;
            if docs.len() != chunk.len() {
                return Err(self.protocol(&what, format!("mget answer has {} docs for {} ids", docs.len(), chunk.len())));
            }
            for doc in docs {
                if doc.get("error").is_some() {
                    let (ty, reason) = crate::client::error_of(&serde_json::to_vec(doc).unwrap_or_default());
                    return Err(EsError::Status {
                        url: self.url().to_owned(),
                        what: what.clone(),
                        status: 500,
                        error_type: ty,
                        reason: self.redact(&reason),
                    });
                }
                if doc.get("found").and_then(Value::as_bool) != Some(true) {
                    out.push(None);
                    continue;
                }
                out.push(Some(StoredDoc {
                    seq_no: doc.get("_seq_no").and_then(Value::as_i64).unwrap_or(0),
                    primary_term: doc.get("_primary_term").and_then(Value::as_i64).unwrap_or(0),
                    source: doc.get("_source").cloned().unwrap_or(Value::Null),
                }));
            }
        }
        Ok(out)
    }

    pub(crate) fn backoff_for(&self, attempt: u32) -> Duration {
        self.backoff_base().saturating_mul(1 << attempt.saturating_sub(1).min(16)).min(Duration::from_secs(30))
    }
}
