//! Errors of the cluster client. Every message names the cluster by its URL *without*
//! credentials and never contains a password, an API key or an `Authorization` header.

use std::time::Duration;

/// What went wrong talking to a cluster.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EsError {
    /// The options do not make a usable client (a bad URL, an unreadable CA file, ...).
    #[error("{0}")]
    Config(String),
    /// The cluster could not be reached (refused, reset, DNS, TLS handshake) after every try.
    #[error("cannot reach {url} ({what}) after {tries} tries: {detail}")]
    Unreachable { url: String, what: String, tries: u32, detail: String },
    /// A request took longer than `--es-timeout` on every try.
    #[error("{what} at {url} timed out after {timeout:?} ({tries} tries; raise --es-timeout)")]
    Timeout { url: String, what: String, timeout: Duration, tries: u32 },
    /// The cluster kept answering 429/502/503/504.
    #[error("{what} at {url}: the cluster is overloaded or unavailable (HTTP {status}) after {tries} tries: {reason}")]
    Busy {
        url: String,
        what: String,
        status: u16,
        tries: u32,
        reason: String,
    },
    /// The cluster refused the request (an HTTP error other than overload).
    #[error("{what} at {url}: HTTP {status}{}: {reason}", error_type.as_deref().map(|t| format!(" {t}")).unwrap_or_default())]
    Status {
        url: String,
        what: String,
        status: u16,
        error_type: Option<String>,
        reason: String,
    },
    /// The answer was not what the API promises (not JSON, missing fields, failed shards).
    #[error("{what} at {url}: {detail}")]
    Protocol { url: String, what: String, detail: String },
    /// Some documents of a bulk request failed for good (after retrying the retryable ones).
    #[error("{what} at {url}: {failed} of {total} documents failed; first: {examples}")]
    Bulk {
        url: String,
        what: String,
        failed: usize,
        total: usize,
        examples: String,
    },
    /// Another reader of the same run failed, so this one stopped.
    #[error("stopped because another slice failed")]
    Cancelled,
}

impl EsError {
    /// The HTTP status, for errors that carry one.
    pub fn status(&self) -> Option<u16> {
        match self {
            EsError::Status { status, .. } | EsError::Busy { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The Elasticsearch error `type` (`index_not_found_exception`, ...), when known.
    pub fn error_type(&self) -> Option<&str> {
        match self {
            EsError::Status { error_type, .. } => error_type.as_deref(),
            _ => None,
        }
    }
}
