//! The HTTP client: one `ureq` agent per cluster, credentials kept out of every message, TLS
//! with a custom CA or (explicitly) none, timeouts, and retries with exponential backoff for
//! what is worth retrying (connection failures, timeouts, 429, 502, 503, 504).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use ureq::http::{self, Method};

use crate::error::EsError;

/// A password or API key: never printed (`Debug` shows `***`).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The secret itself, for building an `Authorization` header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// How to reach a cluster.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// `http(s)://[user:password@]host:port[/prefix]`. Credentials in the URL are taken out
    /// of it and used for basic authentication.
    pub url: String,
    pub user: Option<String>,
    pub password: Option<Secret>,
    /// An Elasticsearch/OpenSearch API key: the encoded form (`base64(id:key)`) or `id:key`.
    pub api_key: Option<Secret>,
    /// PEM file with the CA certificate(s) that signed the cluster's certificate.
    pub ca_file: Option<PathBuf>,
    /// Do not verify the cluster's TLS certificate at all.
    pub insecure: bool,
    /// Per request, end to end (connect, send, wait, read the body).
    pub timeout: Duration,
    /// Attempts per request for transient failures (at least 1).
    pub max_tries: u32,
    /// Delay before the first retry; doubled each time (at most 30 s).
    pub backoff: Duration,
}

impl ClientConfig {
    pub fn new(url: impl Into<String>) -> ClientConfig {
        ClientConfig {
            url: url.into(),
            user: None,
            password: None,
            api_key: None,
            ca_file: None,
            insecure: false,
            timeout: Duration::from_secs(60),
            max_tries: 5,
            backoff: Duration::from_millis(250),
        }
    }
}

/// Which product answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Distribution {
    Elasticsearch,
    OpenSearch,
}

impl fmt::Display for Distribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Distribution::Elasticsearch => "Elasticsearch",
            Distribution::OpenSearch => "OpenSearch",
        })
    }
}

/// What `GET /` said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterInfo {
    pub distribution: Distribution,
    /// `version.number` as (major, minor, patch).
    pub version: (u32, u32, u32),
    pub version_text: String,
    pub cluster_name: Option<String>,
}

impl ClusterInfo {
    /// Reads the product from `GET /`: OpenSearch says `version.distribution: "opensearch"`;
    /// Elasticsearch (7.14 and later) sends `X-Elastic-Product: Elasticsearch`, and every
    /// version has no `distribution` and the tagline "You Know, for Search".
    pub fn from_root(body: &Value, product_header: Option<&str>) -> Result<ClusterInfo, String> {
        let version = body.get("version").ok_or("`GET /` has no `version`: not Elasticsearch or OpenSearch")?;
        let number = version.get("number").and_then(Value::as_str).ok_or("`GET /` has no `version.number`")?;
        let distribution = match version.get("distribution").and_then(Value::as_str) {
            Some(d) if d.eq_ignore_ascii_case("opensearch") => Distribution::OpenSearch,
            Some(other) => return Err(format!("unknown distribution {other:?} in `GET /`")),
            None => {
                let is_es = product_header.is_some_and(|p| p.eq_ignore_ascii_case("Elasticsearch")) || body.get("tagline").and_then(Value::as_str) == Some("You Know, for Search");
                if !is_es {
                    return Err("`GET /` answered, but neither as Elasticsearch nor as OpenSearch".to_owned());
                }
                Distribution::Elasticsearch
            }
        };
        let mut parts = number.split(['.', '-']).map(|p| p.parse::<u32>().unwrap_or(0));
        let parsed = (parts.next().unwrap_or(0), parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        Ok(ClusterInfo {
            distribution,
            version: parsed,
            version_text: number.to_owned(),
            cluster_name: body.get("cluster_name").and_then(Value::as_str).map(str::to_owned),
        })
    }

    /// Point in time: Elasticsearch 7.10+ (`/_pit`), OpenSearch 2.4+ (`/_search/point_in_time`).
    pub fn has_point_in_time(&self) -> bool {
        match self.distribution {
            Distribution::Elasticsearch => self.version >= (7, 10, 0),
            Distribution::OpenSearch => self.version >= (2, 4, 0),
        }
    }

    /// The `_shard_doc` sort tie-breaker: Elasticsearch 7.12+, OpenSearch 3.3+.
    pub fn has_shard_doc(&self) -> bool {
        match self.distribution {
            Distribution::Elasticsearch => self.version >= (7, 12, 0),
            Distribution::OpenSearch => self.version >= (3, 3, 0),
        }
    }
}

impl fmt::Display for ClusterInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.distribution, self.version_text)
    }
}

/// A URL split into the part that may be shown and the credentials it carried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitUrl {
    /// `scheme://host[:port][/prefix]` without credentials and without a trailing `/`.
    pub base: String,
    pub user: Option<String>,
    pub password: Option<Secret>,
}

/// Takes `user:password@` out of a URL. Fails (without echoing the URL, which may hold a
/// password) when it is not `http://` or `https://`.
pub fn split_url(url: &str) -> Result<SplitUrl, EsError> {
    let url = url.trim();
    let (scheme, rest) = url
        .split_once("://")
        .filter(|(s, _)| s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https"))
        .ok_or_else(|| EsError::Config(format!("cluster URL must start with http:// or https:// (got {})", redact_url(url))))?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let (userinfo, host) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    if host.is_empty() {
        return Err(EsError::Config(format!("cluster URL has no host: {}", redact_url(url))));
    }
    let (user, password) = match userinfo {
        Some(info) => match info.split_once(':') {
            Some((u, p)) => (Some(percent_decode(u)), Some(Secret::new(percent_decode(p)))),
            None => (Some(percent_decode(info)), None),
        },
        None => (None, None),
    };
    let path = path.split(['?', '#']).next().unwrap_or("").trim_end_matches('/');
    Ok(SplitUrl {
        base: format!("{}://{host}{path}", scheme.to_ascii_lowercase()),
        user,
        password,
    })
}

/// The URL with any `user:password@` replaced by `***@`: safe for logs and keys.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(i) => format!("{scheme}://***@{}", &rest[i + 1..]),
        None => url.to_owned(),
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes an index name or pattern for a URL path (`*`, `,`, `-`, `.`, `_`, `:` stay).
pub fn encode_path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.*,:+".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Standard base64 (RFC 4648) for the `Authorization` header.
fn base64(input: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(input)
}

/// One HTTP answer.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    /// The `X-Elastic-Product` header.
    pub product: Option<String>,
    /// `Retry-After` in seconds, on 429/503.
    retry_after: Option<u64>,
}

impl Reply {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as JSON.
    pub fn json(&self) -> Result<Value, String> {
        serde_json::from_slice(&self.body).map_err(|e| format!("answer is not JSON ({e}): {}", snippet(&self.body)))
    }
}

/// The first bytes of a body, for messages.
pub(crate) fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
    if body.len() > 300 {
        format!("{text}…")
    } else {
        text
    }
}

/// `(type, reason)` of an Elasticsearch error body (`{"error": {...}}` or `{"error": "text"}`).
pub fn error_of(body: &[u8]) -> (Option<String>, String) {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return (None, snippet(body).trim().to_owned());
    };
    match v.get("error") {
        Some(Value::String(s)) => (None, s.clone()),
        Some(err @ Value::Object(_)) => {
            let ty = err.get("type").and_then(Value::as_str).map(str::to_owned);
            let mut reason = err.get("reason").and_then(Value::as_str).unwrap_or("").to_owned();
            // The interesting part is often in the first root cause or in `caused_by`.
            let deeper = err
                .pointer("/root_cause/0/reason")
                .or_else(|| err.pointer("/failed_shards/0/reason/reason"))
                .or_else(|| err.pointer("/caused_by/reason"))
                .and_then(Value::as_str);
            if let Some(d) = deeper.filter(|d| !reason.contains(*d)) {
                reason = if reason.is_empty() { d.to_owned() } else { format!("{reason}: {d}") };
            }
            (ty, reason)
        }
        _ => (None, snippet(body).trim().to_owned()),
    }
}

/// A cluster: where it is, how to authenticate, what it is.
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    base: Arc<str>,
    auth: Option<Arc<str>>,
    /// Strings that must never appear in a message (password, API key, encoded header).
    secrets: Arc<Vec<String>>,
    timeout: Duration,
    max_tries: u32,
    backoff: Duration,
    info: Option<ClusterInfo>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").field("url", &self.base).field("info", &self.info).finish_non_exhaustive()
    }
}

const MAX_BODY: u64 = 1 << 30;
const MAX_BACKOFF: Duration = Duration::from_secs(30);

impl Client {
    /// Builds the client without talking to the cluster.
    pub fn new(config: &ClientConfig) -> Result<Client, EsError> {
        let split = split_url(&config.url)?;
        let user = config.user.clone().or(split.user);
        let password = config.password.clone().or(split.password);
        let mut secrets = Vec::new();
        let auth = if let Some(key) = &config.api_key {
            let key = key.expose().trim();
            let encoded = if key.contains(':') { base64(key.as_bytes()) } else { key.to_owned() };
            secrets.push(key.to_owned());
            secrets.push(encoded.clone());
            Some(format!("ApiKey {encoded}"))
        } else if let Some(user) = &user {
            let pass = password.as_ref().map_or("", |p| p.expose());
            let encoded = base64(format!("{user}:{pass}").as_bytes());
            if !pass.is_empty() {
                secrets.push(pass.to_owned());
            }
            secrets.push(encoded.clone());
            Some(format!("Basic {encoded}"))
        } else {
            None
        };
        let https = split.base.starts_with("https://");
        let mut tls = ureq::tls::TlsConfig::builder();
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path).map_err(|e| EsError::Config(format!("reading CA file {}: {e}", path.display())))?;
            let mut certs = Vec::new();
            for item in ureq::tls::parse_pem(&pem) {
                match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c),
                    Ok(_) => {}
                    Err(e) => return Err(EsError::Config(format!("CA file {}: {e}", path.display()))),
                }
            }
            if certs.is_empty() {
                return Err(EsError::Config(format!("CA file {} holds no PEM certificate", path.display())));
            }
            tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
        }
        if config.insecure {
            tls = tls.disable_verification(true);
        }
        if !https && (config.ca_file.is_some() || config.insecure) {
            return Err(EsError::Config(format!("--es-ca / --insecure need an https:// URL (got {})", split.base)));
        }
        let host = split.base.split_once("://").map_or("", |(_, r)| r).split(['/', ':']).next().unwrap_or("");
        let loopback = matches!(host, "127.0.0.1" | "localhost" | "[::1]");
        let mut builder = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(config.timeout))
            .tls_config(tls.build())
            .user_agent(concat!("dnshunt/", env!("CARGO_PKG_VERSION")))
            .max_idle_connections_per_host(64);
        if loopback {
            // A test node on loopback is never reached through a proxy from the environment.
            builder = builder.proxy(None);
        }
        Ok(Client {
            agent: builder.build().new_agent(),
            base: Arc::from(split.base),
            auth: auth.map(Arc::from),
            secrets: Arc::new(secrets),
            timeout: config.timeout,
            max_tries: config.max_tries.max(1),
            backoff: config.backoff,
            info: None,
        })
    }

    /// Builds the client and asks the cluster what it is (`GET /`).
    pub fn connect(config: &ClientConfig) -> Result<Client, EsError> {
        let mut client = Client::new(config)?;
        client.detect()?;
        Ok(client)
    }

    /// `GET /`: Elasticsearch or OpenSearch, and which version.
    pub fn detect(&mut self) -> Result<&ClusterInfo, EsError> {
        let reply = self.request(Method::GET, "/", None, "GET /")?;
        let reply = self.expect_success(reply, "GET /")?;
        let body = reply.json().map_err(|detail| self.protocol("GET /", detail))?;
        let info = ClusterInfo::from_root(&body, reply.product.as_deref()).map_err(|detail| self.protocol("GET /", detail))?;
        self.info = Some(info);
        Ok(self.info.as_ref().expect("just set"))
    }

    /// What `GET /` said (after [`Client::connect`] or [`Client::detect`]).
    pub fn info(&self) -> Option<&ClusterInfo> {
        self.info.as_ref()
    }

    /// The cluster URL without credentials.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// Attempts per request for transient failures.
    pub fn max_tries(&self) -> u32 {
        self.max_tries
    }

    pub(crate) fn backoff_base(&self) -> Duration {
        self.backoff
    }

    /// Sends a request, retrying transient failures with exponential backoff. Any HTTP status
    /// that is not transient is returned as a [`Reply`]; the caller decides what it means.
    pub fn request(&self, method: Method, path: &str, body: Option<(&[u8], &str)>, what: &str) -> Result<Reply, EsError> {
        let url = format!("{}{path}", self.base);
        let mut last_transient: Option<(u16, String)> = None;
        let mut last_error: Option<ureq::Error> = None;
        let mut retry_after: Option<u64> = None;
        for attempt in 0..self.max_tries {
            if attempt > 0 {
                let mut delay = self.backoff.saturating_mul(1 << (attempt - 1).min(16)).min(MAX_BACKOFF);
                if let Some(secs) = retry_after.take() {
                    delay = delay.max(Duration::from_secs(secs)).min(MAX_BACKOFF);
                }
                std::thread::sleep(jitter(delay, attempt));
            }
            match self.send_once(method.clone(), &url, body) {
                Ok(reply) if matches!(reply.status, 429 | 502 | 503 | 504) => {
                    let (_, reason) = error_of(&reply.body);
                    last_transient = Some((reply.status, self.redact(&reason)));
                    last_error = None;
                    retry_after = reply.retry_after;
                }
                Ok(reply) => return Ok(reply),
                Err(e) if is_retryable(&e) => {
                    last_error = Some(e);
                    last_transient = None;
                }
                Err(e) => return Err(self.transport_error(what, e, attempt + 1)),
            }
        }
        if let Some(e) = last_error {
            return Err(self.transport_error(what, e, self.max_tries));
        }
        let (status, reason) = last_transient.unwrap_or((503, String::new()));
        Err(EsError::Busy {
            url: self.base.to_string(),
            what: what.to_owned(),
            status,
            tries: self.max_tries,
            reason,
        })
    }

    fn send_once(&self, method: Method, url: &str, body: Option<(&[u8], &str)>) -> Result<Reply, ureq::Error> {
        let mut builder = http::Request::builder().method(method).uri(url).header("Accept", "application/json");
        if let Some(auth) = &self.auth {
            builder = builder.header("Authorization", auth.as_ref());
        }
        let response = match body {
            Some((bytes, content_type)) => {
                let request = builder.header("Content-Type", content_type).body(bytes).map_err(ureq::Error::Http)?;
                self.agent.run(request)?
            }
            // POST/PUT without a body: an explicit empty one (`Content-Length: 0`), not chunked.
            None if method_has_body(&method_of(&builder)) => {
                let request = builder.body(&[][..]).map_err(ureq::Error::Http)?;
                self.agent.run(request)?
            }
            None => {
                let request = builder.body(()).map_err(ureq::Error::Http)?;
                self.agent.run(request)?
            }
        };
        let status = response.status().as_u16();
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let product = header("x-elastic-product");
        let retry_after = header("retry-after").and_then(|v| v.trim().parse().ok());
        let body = response.into_body().with_config().limit(MAX_BODY).read_to_vec()?;
        Ok(Reply {
            status,
            body,
            product,
            retry_after,
        })
    }

    /// Turns a non-2xx reply into an error that names the request.
    pub fn expect_success(&self, reply: Reply, what: &str) -> Result<Reply, EsError> {
        if reply.is_success() {
            return Ok(reply);
        }
        Err(self.status_error(&reply, what))
    }

    /// The error for a non-2xx reply.
    pub fn status_error(&self, reply: &Reply, what: &str) -> EsError {
        let (error_type, reason) = error_of(&reply.body);
        let reason = match reply.status {
            401 => format!("authentication failed (check --es-user/--es-password or --es-api-key): {reason}"),
            403 => format!("not allowed for these credentials: {reason}"),
            _ => reason,
        };
        EsError::Status {
            url: self.base.to_string(),
            what: what.to_owned(),
            status: reply.status,
            error_type,
            reason: self.redact(&reason),
        }
    }

    /// A protocol error (an answer of the wrong shape).
    pub fn protocol(&self, what: &str, detail: impl Into<String>) -> EsError {
        EsError::Protocol {
            url: self.base.to_string(),
            what: what.to_owned(),
            detail: self.redact(&detail.into()),
        }
    }

    /// POSTs (or PUTs, DELETEs) JSON and returns the JSON answer of a 2xx reply.
    pub fn json(&self, method: Method, path: &str, body: Option<&Value>, what: &str) -> Result<Value, EsError> {
        let bytes = body.map(|b| serde_json::to_vec(b).expect("JSON values serialise"));
        let reply = self.request(method, path, bytes.as_deref().map(|b| (b, "application/json")), what)?;
        let reply = self.expect_success(reply, what)?;
        reply.json().map_err(|d| self.protocol(what, d))
    }

    /// Removes every secret from a text (defence in depth: secrets are never put in on purpose).
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in self.secrets.iter().filter(|s| !s.is_empty()) {
            out = out.replace(s.as_str(), "***");
        }
        out
    }

    fn transport_error(&self, what: &str, e: ureq::Error, tries: u32) -> EsError {
        let url = self.base.to_string();
        match e {
            ureq::Error::Timeout(_) => EsError::Timeout {
                url,
                what: what.to_owned(),
                timeout: self.timeout,
                tries,
            },
            other => EsError::Unreachable {
                url,
                what: what.to_owned(),
                tries,
                detail: self.redact(&describe_transport(&other)),
            },
        }
    }
}

fn method_of(builder: &http::request::Builder) -> Method {
    builder.method_ref().cloned().unwrap_or(Method::GET)
}

fn method_has_body(method: &Method) -> bool {
    *method == Method::POST || *method == Method::PUT
}

/// Connection-level failures worth another try: the node may be restarting or overloaded.
/// A refused certificate is not: it will be refused again.
fn is_retryable(e: &ureq::Error) -> bool {
    matches!(
        e,
        ureq::Error::Io(_) | ureq::Error::Timeout(_) | ureq::Error::ConnectionFailed | ureq::Error::HostNotFound | ureq::Error::Protocol(_)
    ) && tls_failure(e).is_none()
}

/// The reason of a TLS failure. ureq hands rustls' error of the handshake (an untrusted
/// certificate, a name mismatch, an alert) inside `Error::Io`, not as `Error::Tls`.
fn tls_failure(e: &ureq::Error) -> Option<String> {
    match e {
        ureq::Error::Tls(t) => Some((*t).to_owned()),
        ureq::Error::Rustls(r) => Some(r.to_string()),
        ureq::Error::Io(io) => io.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()).map(ToString::to_string),
        _ => None,
    }
}

fn describe_transport(e: &ureq::Error) -> String {
    if let Some(t) = tls_failure(e) {
        return format!("TLS: {t} (use --es-ca FILE for a private CA, or --insecure)");
    }
    match e {
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => "connection refused (is the cluster running, and is the port right?)".to_owned(),
        ureq::Error::Io(io) => format!("{io}"),
        ureq::Error::HostNotFound => "host not found".to_owned(),
        other => other.to_string(),
    }
}

/// ±20 % so that slices retrying together do not hammer the cluster in lockstep.
fn jitter(delay: Duration, attempt: u32) -> Duration {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let mix = (nanos ^ attempt.wrapping_mul(2_654_435_761)) % 41; // 0..=40
    delay.mul_f64(0.8 + mix as f64 / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_credentials_are_taken_out() {
        let s = split_url("https://elastic:s%40cret@es.example:9200/prefix/").unwrap();
        assert_eq!(s.base, "https://es.example:9200/prefix");
        assert_eq!(s.user.as_deref(), Some("elastic"));
        assert_eq!(s.password.as_ref().map(Secret::expose), Some("s@cret"));
        assert_eq!(format!("{:?}", s.password), "Some(***)");
        assert_eq!(redact_url("http://u:p@h:1/x"), "http://***@h:1/x");
        assert_eq!(redact_url("http://h:1/x@y"), "http://h:1/x@y");
        let err = split_url("ftp://u:hunter2@h").unwrap_err().to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"elastic:changeme"), "ZWxhc3RpYzpjaGFuZ2VtZQ==");
    }

    #[test]
    fn detects_products_from_root() {
        let os: Value = serde_json::json!({"version": {"distribution": "opensearch", "number": "2.19.6"}, "tagline": "The OpenSearch Project: https://opensearch.org/"});
        let info = ClusterInfo::from_root(&os, None).unwrap();
        assert_eq!(info.distribution, Distribution::OpenSearch);
        assert_eq!(info.version, (2, 19, 6));
        assert!(info.has_point_in_time() && !info.has_shard_doc());
        let es: Value = serde_json::json!({"name": "n", "cluster_name": "c", "version": {"number": "8.15.0", "build_flavor": "default"}, "tagline": "You Know, for Search"});
        let info = ClusterInfo::from_root(&es, Some("Elasticsearch")).unwrap();
        assert_eq!(info.distribution, Distribution::Elasticsearch);
        assert!(info.has_point_in_time() && info.has_shard_doc());
        let old_os: Value = serde_json::json!({"version": {"distribution": "opensearch", "number": "2.3.0"}});
        assert!(!ClusterInfo::from_root(&old_os, None).unwrap().has_point_in_time());
        assert!(ClusterInfo::from_root(&serde_json::json!({"hello": 1}), None).is_err());
        assert!(ClusterInfo::from_root(&serde_json::json!({"version": {"number": "1.0"}}), None).is_err());
    }

    #[test]
    fn error_bodies_are_summarised() {
        let (t, r) = error_of(br#"{"error":{"root_cause":[{"type":"index_not_found_exception","reason":"no such index [x]"}],"type":"index_not_found_exception","reason":"no such index [x]"},"status":404}"#);
        assert_eq!(t.as_deref(), Some("index_not_found_exception"));
        assert_eq!(r, "no such index [x]");
        let (t, r) = error_of(br#"{"error":"no handler found for uri [/t/_pit] and method [POST]"}"#);
        assert_eq!((t, r.as_str()), (None, "no handler found for uri [/t/_pit] and method [POST]"));
        let (t, r) = error_of(b"Unauthorized");
        assert_eq!((t, r.as_str()), (None, "Unauthorized"));
    }

    #[test]
    fn tls_options_are_checked_when_the_client_is_built() {
        let dir = std::env::temp_dir().join(format!("dnshunt-elastic-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let not_pem = dir.join("not.pem");
        std::fs::write(&not_pem, "just text").unwrap();
        let mut c = ClientConfig::new("https://u:pw@127.0.0.1:9200");
        c.ca_file = Some(dir.join("missing.pem"));
        let err = Client::new(&c).unwrap_err().to_string();
        assert!(err.contains("reading CA file") && !err.contains("pw@"), "{err}");
        c.ca_file = Some(not_pem);
        assert!(Client::new(&c).unwrap_err().to_string().contains("holds no PEM certificate"));
        let mut plain = ClientConfig::new("http://127.0.0.1:9200");
        plain.insecure = true;
        assert!(Client::new(&plain).unwrap_err().to_string().contains("need an https:// URL"));
        let mut ok = ClientConfig::new("https://127.0.0.1:9200");
        ok.insecure = true;
        assert!(Client::new(&ok).is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(encode_path_segment("winlogbeat-*,logs-*"), "winlogbeat-*,logs-*");
        assert_eq!(encode_path_segment("<logs-{now/d}>"), "%3Clogs-%7Bnow%2Fd%7D%3E");
    }
}
