//! dnshunt's Elasticsearch and OpenSearch client, shared by the reader (`dnshunt-source`), the
//! findings sink (`dnshunt-sink`) and the pushed-down statistics of the binary.
//!
//! - [`Client`]: one cluster. `GET /` tells Elasticsearch from OpenSearch (`version.distribution`,
//!   the `X-Elastic-Product` header) and the version, which decides the point-in-time API
//!   (`/_pit` or `/_search/point_in_time`) and the paging tie-breaker (`_shard_doc` or
//!   `_doc` + `_id`). Basic auth, API keys, TLS with a custom CA or explicitly without
//!   verification; per-request timeouts; retries with exponential backoff for connection
//!   failures, timeouts, 429, 502, 503 and 504 (bounded tries).
//! - [`search`]: point in time, search pages, sliced scroll, and the paging facts of an answer.
//! - [`bulk`]: `_bulk` with per-document outcomes (429 retried, conflicts returned, the rest
//!   reported per document) and `_mget`.
//! - [`aggs`]: `_field_caps` and composite aggregations paged by `after_key`.
//!
//! Credentials never appear in an error message or a log line: they are taken out of the URL
//! when the client is built, and every message names the cluster by its bare URL. Blocking I/O
//! (`ureq`), no async runtime: readers run one thread per slice.

#![forbid(unsafe_code)]

pub mod aggs;
pub mod bulk;
mod client;
mod error;
pub mod search;
#[doc(hidden)]
pub mod testkit;

pub use client::{encode_path_segment, error_of, redact_url, split_url, Client, ClientConfig, ClusterInfo, Distribution, Reply, Secret, SplitUrl};
pub use error::EsError;
pub use ureq::http::Method;
