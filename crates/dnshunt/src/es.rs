//! Elasticsearch and OpenSearch in the binary: the `--es*` options, reading an index pattern
//! instead of files (with the incremental checkpoint), and writing findings back
//! (`--output-es`).
//!
//! Order of a `hunt --es` run: connect (`GET /` tells the product and version), load the
//! checkpoint, read every slice, run the detectors, write the findings (output file or stdout,
//! then `--output-es`), and only then advance the checkpoint. Any failure before that point
//! (the cluster gone mid-read, a rejected bulk write, an unwritable output) ends the run with
//! an error and leaves the checkpoint where it was, so the next run reads the same documents
//! again and rewrites the same finding ids: nothing is lost and nothing is duplicated.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use crossbeam_channel::Receiver;
use dnshunt_core::{Finding, StableHasher, Timestamp};
use dnshunt_elastic::{Client, ClientConfig, EsError, Secret};
use dnshunt_sink::elastic::EsFindingsSink;
use dnshunt_source::elastic::{EsReadConfig, EsReadOutcome, Resume};
use dnshunt_source::{Message, ReadOptions};
use dnshunt_state::checkpoint::{Checkpoint, CheckpointKey};
use dnshunt_state::StateStore;
use serde_json::Value;

use crate::cli::InputArgs;

/// Environment variable for `--es-password`.
pub const PASSWORD_ENV: &str = "DNSHUNT_ES_PASSWORD";
/// Environment variable for `--es-api-key`.
pub const API_KEY_ENV: &str = "DNSHUNT_ES_API_KEY";

/// Reading from a cluster, and how to talk to clusters (also used by `--output-es`).
#[derive(Clone, Debug, Args)]
pub struct EsArgs {
    /// Read events from this Elasticsearch or OpenSearch cluster instead of files
    /// (`https://host:9200`; `user:password@` in the URL works but is better in
    /// `--es-user` and the environment).
    #[arg(long = "es", value_name = "URL", help_heading = "Elasticsearch / OpenSearch")]
    pub es: Option<String>,

    /// Index pattern, data stream or alias to read (comma-separated lists too).
    #[arg(long, value_name = "PATTERN", default_value = "winlogbeat-*", help_heading = "Elasticsearch / OpenSearch")]
    pub index: String,

    /// A query DSL clause (JSON) added to the filter, e.g. '{"term":{"host.name":"pc1"}}'.
    #[arg(long, value_name = "JSON", help_heading = "Elasticsearch / OpenSearch")]
    pub es_query: Option<String>,

    /// Go on (and find nothing, exit status 0) when the index pattern matches no index; without
    /// it that is an error (exit status 1), as a missing input file is.
    #[arg(long, help_heading = "Elasticsearch / OpenSearch")]
    pub allow_empty: bool,

    /// Read in this many parallel slices (one thread each).
    #[arg(long, value_name = "N", default_value_t = 1, help_heading = "Elasticsearch / OpenSearch")]
    pub slices: usize,

    /// Hits per search page.
    #[arg(long, value_name = "N", default_value_t = 1000, help_heading = "Elasticsearch / OpenSearch")]
    pub page_size: usize,

    /// Read with sliced scroll even where the cluster has point in time.
    #[arg(long, help_heading = "Elasticsearch / OpenSearch")]
    pub es_scroll: bool,

    /// Fetch each document's whole `_source` instead of only the fields dnshunt reads: more
    /// bytes on the wire, much less CPU on the cluster (it need not re-serialise documents).
    #[arg(long, help_heading = "Elasticsearch / OpenSearch")]
    pub es_full_source: bool,

    /// User for basic authentication.
    #[arg(long, value_name = "USER", help_heading = "Elasticsearch / OpenSearch")]
    pub es_user: Option<String>,

    /// Password for basic authentication (better: the DNSHUNT_ES_PASSWORD environment variable).
    #[arg(long, value_name = "PASSWORD", hide_default_value = true, help_heading = "Elasticsearch / OpenSearch")]
    pub es_password: Option<String>,

    /// API key (`base64(id:key)` as Kibana shows it, or `id:key`; better: DNSHUNT_ES_API_KEY).
    #[arg(long, value_name = "KEY", help_heading = "Elasticsearch / OpenSearch")]
    pub es_api_key: Option<String>,

    /// PEM file with the CA certificate(s) of the cluster's TLS certificate.
    #[arg(long, value_name = "FILE", help_heading = "Elasticsearch / OpenSearch")]
    pub es_ca: Option<PathBuf>,

    /// Do not verify the cluster's TLS certificate (test clusters only).
    #[arg(long, help_heading = "Elasticsearch / OpenSearch")]
    pub insecure: bool,

    /// Seconds a single request may take (connect, send, wait, read).
    #[arg(long, value_name = "SECS", default_value_t = 60, help_heading = "Elasticsearch / OpenSearch")]
    pub es_timeout: u64,

    /// Attempts per request when the cluster is unreachable, times out or answers 429/502/503/504
    /// (exponential backoff from 250 ms, at most 30 s apart).
    #[arg(long, value_name = "N", default_value_t = 5, help_heading = "Elasticsearch / OpenSearch")]
    pub es_retries: u32,
}

/// Checkpoint and findings-index options of `hunt`.
#[derive(Clone, Debug, Args)]
pub struct EsHuntArgs {
    /// Also write the findings to this cluster (ECS documents, `_id` = finding id).
    #[arg(long, value_name = "URL", help_heading = "Elasticsearch / OpenSearch")]
    pub output_es: Option<String>,

    /// The findings index (and index template) for `--output-es`.
    #[arg(long, value_name = "NAME", default_value = "dnshunt-findings", help_heading = "Elasticsearch / OpenSearch")]
    pub findings_index: String,

    /// Where the incremental checkpoint of `--es` lives (SQLite). Default: the state store
    /// (`--state` or `[state] path`), else `$XDG_DATA_HOME/dnshunt/state.sqlite`.
    #[arg(long, value_name = "FILE", help_heading = "Elasticsearch / OpenSearch")]
    pub checkpoint: Option<PathBuf>,

    /// Read everything and do not touch the checkpoint.
    #[arg(long, conflicts_with_all = ["from_start", "checkpoint"], help_heading = "Elasticsearch / OpenSearch")]
    pub no_checkpoint: bool,

    /// Ignore the checkpoint for reading (read everything), then save a new one.
    #[arg(long, help_heading = "Elasticsearch / OpenSearch")]
    pub from_start: bool,
}

/// Builds the client options for a cluster URL from the shared `--es-*` options.
pub fn client_config(url: &str, es: &EsArgs) -> ClientConfig {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut config = ClientConfig::new(url);
    config.user = es.es_user.clone();
    config.password = es.es_password.clone().or_else(|| env(PASSWORD_ENV)).map(Secret::new);
    config.api_key = es.es_api_key.clone().or_else(|| env(API_KEY_ENV)).map(Secret::new);
    config.ca_file = es.es_ca.clone();
    config.insecure = es.insecure;
    config.timeout = Duration::from_secs(es.es_timeout.max(1));
    config.max_tries = es.es_retries.max(1);
    config
}

/// Connects and identifies the cluster.
pub fn connect(url: &str, es: &EsArgs) -> Result<Client> {
    Ok(Client::connect(&client_config(url, es))?)
}

/// An index pattern that matches no index is an error (a script must never take "0 findings"
/// from a typo for a clean fleet) unless `--allow-empty` is given.
pub fn check_pattern(client: &Client, es: &EsArgs) -> Result<()> {
    let pattern = &es.index;
    match client.matching_indices(pattern).with_context(|| format!("--index {pattern}"))? {
        Some(indices) if indices.is_empty() && !es.allow_empty => {
            bail!("--index {pattern} matches no open index on {} (--allow-empty goes on and finds nothing)", client.url())
        }
        _ => Ok(()),
    }
}

/// Where the checkpoint is kept, if anywhere.
#[derive(Clone, Debug)]
pub enum CheckpointChoice {
    Off,
    /// `path: None` is the default location, resolved only when a cluster is read.
    At {
        path: Option<PathBuf>,
        from_start: bool,
    },
}

impl CheckpointChoice {
    /// `--no-checkpoint` wins; then `--checkpoint FILE`; then the state store's path
    /// (`state_path`, already resolved from `--state`/`[state]`); then the default location.
    pub fn for_hunt(args: &EsHuntArgs, no_state: bool, state_path: Option<&Path>) -> Result<CheckpointChoice> {
        if args.no_checkpoint || (no_state && args.checkpoint.is_none()) {
            return Ok(CheckpointChoice::Off);
        }
        let path = args.checkpoint.clone().or_else(|| state_path.map(Path::to_owned));
        Ok(CheckpointChoice::At {
            path,
            from_start: args.from_start,
        })
    }
}

/// The checkpoint of this run: where it is, its key, and what it was when the run started.
#[derive(Debug)]
struct CheckpointRun {
    path: PathBuf,
    key: CheckpointKey,
    previous: Option<Checkpoint>,
}

/// An index pattern being read instead of files.
#[derive(Debug)]
pub struct EsInput {
    client: Arc<Client>,
    config: EsReadConfig,
    checkpoint: Option<CheckpointRun>,
    outcome: Arc<Mutex<Option<Result<EsReadOutcome, EsError>>>>,
    quiet: bool,
}

/// JSON with object keys sorted, so equal queries make equal checkpoint keys.
fn canonical_json(v: &Value) -> String {
    // serde_json may keep insertion order (`preserve_order`): write the text with sorted keys.
    fn write(v: &Value, out: &mut String) {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    write(&m[k], out);
                }
                out.push('}');
            }
            Value::Array(a) => {
                out.push('[');
                for (i, item) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(v, &mut out);
    out
}

/// Parses `--es-query`: one JSON object, a query DSL clause.
pub fn parse_query(text: Option<&str>) -> Result<Option<Value>> {
    let Some(text) = text else { return Ok(None) };
    let v: Value = serde_json::from_str(text).context("--es-query is not JSON")?;
    if !v.is_object() {
        bail!("--es-query must be a JSON object (a query DSL clause such as {{\"term\": {{\"host.name\": \"pc1\"}}}})");
    }
    Ok(Some(v))
}

impl EsInput {
    /// `None` when the input is files; otherwise connects and loads the checkpoint.
    pub fn open(input: &InputArgs, checkpoint: CheckpointChoice) -> Result<Option<EsInput>> {
        let Some(url) = input.es.es.as_deref() else {
            return Ok(None);
        };
        if !input.paths.is_empty() {
            bail!("give either files or --es, not both");
        }
        if input.es.slices == 0 || input.es.slices > 1024 {
            bail!("--slices must be between 1 and 1024");
        }
        let query = parse_query(input.es.es_query.as_deref())?;
        let client = connect(url, &input.es)?;
        check_pattern(&client, &input.es)?;
        let mut config = EsReadConfig::new(input.es.index.clone());
        config.slices = input.es.slices;
        config.page_size = input.es.page_size.clamp(1, 10_000);
        config.query = query.clone();
        config.force_scroll = input.es.es_scroll;
        config.full_source = input.es.es_full_source;
        let key = CheckpointKey {
            cluster: client.url().to_owned(),
            index_pattern: input.es.index.clone(),
            query: query.as_ref().map(canonical_json).unwrap_or_default(),
        };
        let checkpoint = match checkpoint {
            CheckpointChoice::Off => None,
            CheckpointChoice::At { path, from_start } => {
                let path = match path {
                    Some(p) => p,
                    None => dnshunt_state::default_path().context("no place for the checkpoint (no HOME or XDG_DATA_HOME): give --checkpoint FILE or --no-checkpoint")?,
                };
                let store = StateStore::open(&path).with_context(|| format!("opening the checkpoint store {}", path.display()))?;
                let previous = if from_start {
                    None
                } else {
                    store.checkpoint(&key).with_context(|| format!("reading the checkpoint in {}", path.display()))?
                };
                Some(CheckpointRun { path, key, previous })
            }
        };
        config.resume = checkpoint.as_ref().and_then(|c| c.previous.as_ref()).map(|p| Resume {
            newest_ms: p.newest_ms,
            ids: p.ids.clone(),
        });
        Ok(Some(EsInput {
            client: Arc::new(client),
            config,
            checkpoint,
            outcome: Arc::new(Mutex::new(None)),
            quiet: input.quiet,
        }))
    }

    /// How many documents the read will go through, when the cluster says (for progress).
    pub fn count(&self, options: &ReadOptions) -> Option<u64> {
        dnshunt_source::elastic::count(&self.client, &self.config, options)
    }

    /// Starts the slice readers; messages arrive like those of the file readers.
    pub fn spawn(&self, options: ReadOptions) -> (Receiver<Message>, JoinHandle<()>) {
        let (rx, inner) = dnshunt_source::elastic::spawn(self.client.clone(), self.config.clone(), options);
        let slot = self.outcome.clone();
        let handle = std::thread::spawn(move || {
            let result = inner.join().unwrap_or_else(|_| {
                Err(EsError::Protocol {
                    url: String::new(),
                    what: "reading".to_owned(),
                    detail: "the reader panicked".to_owned(),
                })
            });
            *slot.lock().expect("outcome lock") = Some(result);
        });
        (rx, handle)
    }

    /// After the readers are joined: the outcome, or the error that stopped the read.
    pub fn finish(&self) -> Result<()> {
        let result = self.outcome.lock().expect("outcome lock").take();
        let outcome = match result {
            Some(Ok(o)) => o,
            Some(Err(e)) => {
                // Keep the error for `commit` to see, then fail the run.
                let message = format!("reading es://{} from {}", self.config.index, self.client.url());
                return Err(anyhow::Error::new(e).context(message));
            }
            None => bail!("reading es://{}: the reader ended without a result", self.config.index),
        };
        if !self.quiet {
            let info = self.client.info().map_or_else(|| "cluster".to_owned(), |i| i.to_string());
            let slices = self.config.slices;
            let mut line = format!(
                "dnshunt: es://{} on {info} at {}: {} documents in {} pages ({}, {slices} slice{}), {:.1} MB",
                self.config.index,
                self.client.url(),
                outcome.documents,
                outcome.pages,
                outcome.method,
                if slices == 1 { "" } else { "s" },
                outcome.bytes as f64 / 1e6
            );
            if let Some(p) = self.checkpoint.as_ref().and_then(|c| c.previous.as_ref()) {
                line.push_str(&format!("; continued after checkpoint {} ({})", Timestamp(p.newest_ms), p.generation));
            }
            if outcome.without_timestamp > 0 {
                line.push_str(&format!("; {} without @timestamp (read on every run)", outcome.without_timestamp));
            }
            eprintln!("{line}");
        }
        *self.outcome.lock().expect("outcome lock") = Some(Ok(outcome));
        Ok(())
    }

    /// What the read did, for `--summary-json` (`cluster`): the cluster (URL without
    /// credentials), the index pattern, how it was read and how much, and the checkpoint.
    pub fn summary_json(&self) -> Value {
        let outcome = match &*self.outcome.lock().expect("outcome lock") {
            Some(Ok(o)) => Some(o.clone()),
            _ => None,
        };
        let previous = self.checkpoint.as_ref().and_then(|c| c.previous.as_ref());
        serde_json::json!({
            "url": self.client.url(),
            "product": self.client.info().map(|i| i.distribution.to_string()),
            "version": self.client.info().map(|i| i.version_text.clone()),
            "index": self.config.index,
            "slices": self.config.slices,
            "method": outcome.as_ref().map(|o| o.method.clone()),
            "documents": outcome.as_ref().map(|o| o.documents),
            "pages": outcome.as_ref().map(|o| o.pages),
            "bytes": outcome.as_ref().map(|o| o.bytes),
            "documents_without_timestamp": outcome.as_ref().map(|o| o.without_timestamp),
            "newest": outcome.as_ref().and_then(|o| o.newest_ms).map(|ms| Timestamp(ms).to_string()),
            "checkpoint": {
                "used": self.checkpoint.is_some(),
                "continued_after": previous.map(|p| Timestamp(p.newest_ms).to_string()),
                "generation": previous.map(|p| p.generation),
            },
        })
    }

    /// The increment this run writes, when it continues a checkpoint (see the findings sink).
    pub fn window(&self) -> Option<String> {
        let run = self.checkpoint.as_ref()?;
        let previous = run.previous.as_ref()?;
        let mut h = StableHasher::new();
        h.write(&run.key.cluster);
        h.write(&run.key.index_pattern);
        h.write(&run.key.query);
        Some(format!("{}:{}", h.finish_hex(), previous.generation))
    }

    /// Advances the checkpoint: call only after the findings were written.
    pub fn commit(&self) -> Result<()> {
        let Some(run) = &self.checkpoint else { return Ok(()) };
        let outcome = match &*self.outcome.lock().expect("outcome lock") {
            Some(Ok(o)) if o.complete => o.clone(),
            _ => return Ok(()),
        };
        let next = Checkpoint::advance(run.previous.as_ref(), outcome.newest_ms, &outcome.ids_at_newest);
        let mut store = StateStore::open(&run.path).with_context(|| format!("opening the checkpoint store {}", run.path.display()))?;
        store
            .save_checkpoint(&run.key, &next)
            .with_context(|| format!("saving the checkpoint in {}", run.path.display()))?;
        if !self.quiet {
            let at = if next.newest_ms == i64::MIN {
                "the start".to_owned()
            } else {
                Timestamp(next.newest_ms).to_string()
            };
            eprintln!(
                "dnshunt: checkpoint {} advanced to {at} ({} document(s) at that time), generation {}",
                run.path.display(),
                next.ids.len(),
                next.generation
            );
        }
        Ok(())
    }
}

/// After the findings went to the output: `--output-es`, then the checkpoint.
pub fn after_findings(args: &EsHuntArgs, es: &EsArgs, input: Option<&EsInput>, findings: &[Finding], incidents: &[dnshunt_core::Incident], quiet: bool) -> Result<()> {
    if let Some(url) = &args.output_es {
        let client = connect(url, es)?;
        let sink = EsFindingsSink::new(&client, args.findings_index.clone());
        sink.install_template()
            .with_context(|| format!("preparing the findings index {} at {}", args.findings_index, client.url()))?;
        let window = input.and_then(EsInput::window);
        let report = sink
            .write(findings, window.as_deref())
            .with_context(|| format!("writing findings to {} at {}", args.findings_index, client.url()))?;
        if !quiet {
            let info = client.info().map_or_else(String::new, |i| format!(" ({i})"));
            eprintln!(
                "dnshunt: findings index {} at {}{info}: {} written ({} new, {} merged with earlier runs{}{})",
                args.findings_index,
                client.url(),
                report.written,
                report.created,
                report.merged,
                if report.retried > 0 {
                    format!(", {} retried after 429", report.retried)
                } else {
                    String::new()
                },
                if report.conflicts_resolved > 0 {
                    format!(", {} version conflicts resolved", report.conflicts_resolved)
                } else {
                    String::new()
                },
            );
        }
        let written = sink
            .write_incidents(incidents)
            .with_context(|| format!("writing incidents to {} at {}", args.findings_index, client.url()))?;
        if !quiet && written.written > 0 {
            eprintln!("dnshunt: findings index {}: {} incidents written", args.findings_index, written.written);
        }
    }
    if let Some(input) = input {
        input.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_query_text_ignores_key_order() {
        let a: Value = serde_json::from_str(r#"{"bool":{"filter":[{"term":{"a":1}}],"must":{"x":2}}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"bool":{"must":{"x":2},"filter":[{"term":{"a":1}}]}}"#).unwrap();
        assert_eq!(canonical_json(&a), canonical_json(&b));
        assert_eq!(canonical_json(&a), r#"{"bool":{"filter":[{"term":{"a":1}}],"must":{"x":2}}}"#);
    }

    #[test]
    fn query_must_be_an_object() {
        assert!(parse_query(Some("[1]")).is_err());
        assert!(parse_query(Some("{")).is_err());
        assert!(parse_query(Some(r#"{"match_all":{}}"#)).unwrap().is_some());
    }
}
