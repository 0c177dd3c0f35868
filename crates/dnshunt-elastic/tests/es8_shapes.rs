//! The Elasticsearch 8 answers the OpenSearch test node cannot give (`X-Elastic-Product`, the
//! ES 8 `GET /` body, `/_pit` open and close, ES error bodies, 429 bulk items), and the
//! faults (refused connections, silence, overload), against a loopback server replaying
//! canned answers.

use std::time::{Duration, Instant};

use dnshunt_elastic::bulk::{BulkDoc, WriteOp};
use dnshunt_elastic::search::PitOpen;
use dnshunt_elastic::testkit::{CannedServer, Rule};
use dnshunt_elastic::{Client, ClientConfig, Distribution, EsError, Secret};
use serde_json::{json, Value};

const ES8_ROOT: &str = r#"{
  "name" : "es01",
  "cluster_name" : "docker-cluster",
  "cluster_uuid" : "4x7bZb0XQ3WcV6k2m1lY8A",
  "version" : {
    "number" : "8.15.1",
    "build_flavor" : "default",
    "build_type" : "docker",
    "build_hash" : "253e8544a65ad44581194068936f2a5d57c2c051",
    "build_date" : "2024-09-02T22:04:47.310170297Z",
    "build_snapshot" : false,
    "lucene_version" : "9.11.1",
    "minimum_wire_compatibility_version" : "7.17.0",
    "minimum_index_compatibility_version" : "7.0.0"
  },
  "tagline" : "You Know, for Search"
}"#;

fn es8_root() -> Rule {
    Rule::new("GET", "/", 200, ES8_ROOT).header("X-elastic-product", "Elasticsearch")
}

fn config(url: &str) -> ClientConfig {
    let mut c = ClientConfig::new(url);
    c.backoff = Duration::from_millis(10);
    c.timeout = Duration::from_secs(5);
    c
}

#[test]
fn elasticsearch_8_is_detected_from_its_root_answer_and_header() {
    let server = CannedServer::start(vec![es8_root()]);
    let client = Client::connect(&config(&server.url)).unwrap();
    let info = client.info().unwrap();
    assert_eq!(info.distribution, Distribution::Elasticsearch);
    assert_eq!(info.version, (8, 15, 1));
    assert_eq!(info.to_string(), "Elasticsearch 8.15.1");
    assert!(info.has_point_in_time() && info.has_shard_doc());
    assert_eq!(client.pit_sort(), json!([{ "_shard_doc": "asc" }]));
}

#[test]
fn an_answer_that_is_neither_product_is_refused() {
    let server = CannedServer::start(vec![Rule::new("GET", "/", 200, r#"{"status":"ok"}"#)]);
    let err = Client::connect(&config(&server.url)).unwrap_err().to_string();
    assert!(err.contains("not Elasticsearch or OpenSearch"), "{err}");
}

#[test]
fn elasticsearch_point_in_time_opens_and_closes_with_the_pit_api() {
    let server = CannedServer::start(vec![
        es8_root(),
        Rule::new(
            "POST",
            "/winlogbeat-*/_pit",
            200,
            r#"{"id":"46ToAwMDaWR5BXV1aWQy","_shards":{"total":1,"successful":1,"skipped":0,"failed":0}}"#,
        ),
        Rule::new("DELETE", "/_pit", 200, r#"{"succeeded":true,"num_freed":1}"#),
    ]);
    let client = Client::connect(&config(&server.url)).unwrap();
    assert_eq!(client.open_pit("winlogbeat-*", "1m").unwrap(), PitOpen::Opened("46ToAwMDaWR5BXV1aWQy".into()));
    client.close_pit("46ToAwMDaWR5BXV1aWQy").unwrap();
    let reqs = server.requests();
    assert_eq!(reqs[1].path, "/winlogbeat-*/_pit?keep_alive=1m");
    assert_eq!(reqs[2].method, "DELETE");
    assert_eq!(reqs[2].path, "/_pit");
    assert_eq!(serde_json::from_str::<Value>(&reqs[2].body).unwrap(), json!({ "id": "46ToAwMDaWR5BXV1aWQy" }));
}

#[test]
fn a_cluster_without_point_in_time_falls_back_but_a_missing_index_is_an_error() {
    // Elasticsearch 7.9 has no PIT: nothing is even asked.
    let old = CannedServer::start(vec![Rule::new("GET", "/", 200, r#"{"version":{"number":"7.9.3"},"tagline":"You Know, for Search"}"#)]);
    let client = Client::connect(&config(&old.url)).unwrap();
    assert!(matches!(client.open_pit("x", "1m").unwrap(), PitOpen::Unsupported(_)));
    assert_eq!(old.requests().len(), 1);
    // A proxy or a build without the endpoint: "no handler" → scroll.
    let no_handler = CannedServer::start(vec![
        es8_root(),
        Rule::new(
            "POST",
            "/x/_pit",
            400,
            r#"{"error":"no handler found for uri [/x/_pit?keep_alive=1m] and method [POST]","status":400}"#,
        ),
        Rule::new(
            "POST",
            "/missing/_pit",
            404,
            r#"{"error":{"root_cause":[{"type":"index_not_found_exception","reason":"no such index [missing]","index":"missing"}],"type":"index_not_found_exception","reason":"no such index [missing]","index":"missing"},"status":404}"#,
        ),
    ]);
    let client = Client::connect(&config(&no_handler.url)).unwrap();
    match client.open_pit("x", "1m").unwrap() {
        PitOpen::Unsupported(why) => assert!(why.contains("no handler found"), "{why}"),
        other => panic!("{other:?}"),
    }
    let err = client.open_pit("missing", "1m").unwrap_err();
    assert_eq!(err.status(), Some(404));
    assert_eq!(err.error_type(), Some("index_not_found_exception"));
    assert!(err.to_string().contains("no such index [missing]"), "{err}");
}

#[test]
fn es_error_bodies_become_clear_errors_without_secrets() {
    let server = CannedServer::start(vec![Rule::new(
        "GET",
        "/",
        401,
        r#"{"error":{"root_cause":[{"type":"security_exception","reason":"unable to authenticate user [elastic] for REST request [/]","header":{"WWW-Authenticate":["Basic realm=\"security\" charset=\"UTF-8\"","ApiKey"]}}],"type":"security_exception","reason":"unable to authenticate user [elastic] for REST request [/]"},"status":401}"#,
    )
    .header("WWW-Authenticate", "Basic realm=\"security\"")]);
    let secret = "hunter2-never-print-me";
    let url = server.url.replace("http://", &format!("http://elastic:{secret}@"));
    let err = Client::connect(&config(&url)).unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(text.contains("HTTP 401 security_exception"), "{text}");
    assert!(text.contains("authentication failed"), "{text}");
    assert!(!text.contains(secret), "{text}");
    assert!(!text.contains("elastic:"), "{text}");
    // The credentials went into the Authorization header, not the request line.
    let req = &server.requests()[0];
    assert_eq!(req.path, "/");
    assert_eq!(req.header("authorization"), Some("Basic ZWxhc3RpYzpodW50ZXIyLW5ldmVyLXByaW50LW1l"));
}

#[test]
fn api_keys_are_sent_encoded() {
    let server = CannedServer::start(vec![es8_root()]);
    let mut c = config(&server.url);
    c.api_key = Some(Secret::new("VuaCfGcBCdbkQm-e5aOx:ui2lp2axTNmsyakw9tvNnw"));
    Client::connect(&c).unwrap();
    assert_eq!(
        server.requests()[0].header("authorization"),
        Some("ApiKey VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==")
    );
    assert_eq!(format!("{c:?}").matches("***").count(), 1, "Debug hides the key");
}

#[test]
fn overload_is_retried_with_backoff_then_reported() {
    let server = CannedServer::start(vec![
        Rule::new(
            "GET",
            "/",
            503,
            r#"{"error":{"type":"cluster_block_exception","reason":"blocked by: [SERVICE_UNAVAILABLE/1/state not recovered / initialized];"},"status":503}"#,
        )
        .times(2),
        es8_root(),
    ]);
    let started = Instant::now();
    let client = Client::connect(&config(&server.url)).unwrap();
    assert_eq!(client.info().unwrap().distribution, Distribution::Elasticsearch);
    assert_eq!(server.requests().len(), 3);
    // Two waits: about 10 ms and 20 ms (±20 %).
    assert!(started.elapsed() >= Duration::from_millis(20), "{:?}", started.elapsed());

    let busy = CannedServer::start(vec![Rule::new(
        "GET",
        "/",
        429,
        r#"{"error":{"type":"es_rejected_execution_exception","reason":"rejected execution"},"status":429}"#,
    )]);
    let mut c = config(&busy.url);
    c.max_tries = 3;
    match Client::connect(&c).unwrap_err() {
        EsError::Busy { status, tries, reason, .. } => {
            assert_eq!((status, tries), (429, 3));
            assert!(reason.contains("rejected execution"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(busy.requests().len(), 3, "bounded tries");
}

#[test]
fn refused_connections_and_silent_servers_fail_clearly() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut c = config(&format!("http://u:pw-secret@127.0.0.1:{port}"));
    c.max_tries = 2;
    let err = Client::connect(&c).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, EsError::Unreachable { tries: 2, .. }), "{err:?}");
    assert!(text.contains("connection refused"), "{text}");
    assert!(!text.contains("pw-secret"), "{text}");

    let silent = CannedServer::start(vec![es8_root().delay(Duration::from_secs(3))]);
    let mut c = config(&silent.url);
    c.timeout = Duration::from_millis(300);
    c.max_tries = 2;
    let err = Client::connect(&c).unwrap_err();
    assert!(matches!(err, EsError::Timeout { tries: 2, .. }), "{err:?}");
    assert!(err.to_string().contains("timed out"), "{err}");
}

fn doc(id: &str) -> BulkDoc {
    BulkDoc {
        id: id.to_owned(),
        op: WriteOp::Index,
        source: br#"{"message":"x"}"#.to_vec(),
    }
}

#[test]
fn bulk_items_rejected_with_429_are_retried_and_other_failures_reported_per_document() {
    let first = json!({"took": 3, "errors": true, "items": [
        {"index": {"_index": "f", "_id": "a", "_version": 1, "result": "created", "status": 201}},
        {"index": {"_index": "f", "_id": "b", "status": 429, "error": {"type": "es_rejected_execution_exception", "reason": "rejected execution of coordinating operation"}}},
        {"index": {"_index": "f", "_id": "c", "status": 400, "error": {"type": "document_parsing_exception", "reason": "[1:12] failed to parse field [event.severity] of type [long]"}}}
    ]});
    let second = json!({"took": 1, "errors": false, "items": [
        {"index": {"_index": "f", "_id": "b", "_version": 1, "result": "created", "status": 201}}
    ]});
    let server = CannedServer::start(vec![
        es8_root(),
        Rule::new("POST", "/_bulk", 200, &first.to_string()).times(1),
        Rule::new("POST", "/_bulk", 200, &second.to_string()),
    ]);
    let client = Client::connect(&config(&server.url)).unwrap();
    let err = client.bulk("f", &[doc("a"), doc("b"), doc("c")], false).unwrap_err();
    match &err {
        EsError::Bulk { failed, total, examples, .. } => {
            assert_eq!((*failed, *total), (1, 3));
            assert!(examples.contains("c: HTTP 400 document_parsing_exception"), "{examples}");
        }
        other => panic!("{other:?}"),
    }
    let reqs = server.requests();
    assert_eq!(reqs.len(), 3);
    // The retry carries only the rejected document.
    assert_eq!(reqs[2].body.lines().count(), 2);
    assert!(reqs[2].body.contains(r#""_id":"b""#), "{}", reqs[2].body);
    assert_eq!(reqs[1].header("content-type"), Some("application/x-ndjson"));

    // All rejected, then accepted: success, with the retry counted.
    let all_busy = json!({"errors": true, "items": [{"index": {"_id": "a", "status": 429, "error": {"type": "es_rejected_execution_exception", "reason": "queue full"}}}]});
    let ok = json!({"errors": false, "items": [{"index": {"_id": "a", "result": "updated", "status": 200}}]});
    let server = CannedServer::start(vec![
        es8_root(),
        Rule::new("POST", "/_bulk", 200, &all_busy.to_string()).times(2),
        Rule::new("POST", "/_bulk", 200, &ok.to_string()),
    ]);
    let client = Client::connect(&config(&server.url)).unwrap();
    let outcome = client.bulk("f", &[doc("a")], true).unwrap();
    assert_eq!((outcome.written, outcome.created, outcome.retried), (1, 0, 2));
    assert!(server.requests()[1].path.ends_with("refresh=wait_for"));
}

#[test]
fn version_conflicts_are_handed_back() {
    let answer = json!({"errors": true, "items": [
        {"create": {"_id": "a", "status": 409, "error": {"type": "version_conflict_engine_exception", "reason": "[a]: version conflict, document already exists (current version [1])"}}}
    ]});
    let server = CannedServer::start(vec![es8_root(), Rule::new("POST", "/_bulk", 200, &answer.to_string())]);
    let client = Client::connect(&config(&server.url)).unwrap();
    let d = BulkDoc { op: WriteOp::Create, ..doc("a") };
    let outcome = client.bulk("f", &[d], false).unwrap();
    assert_eq!(outcome.conflicts, vec!["a".to_owned()]);
    assert!(server.requests()[1].body.starts_with(r#"{"create":"#), "{}", server.requests()[1].body);
}
