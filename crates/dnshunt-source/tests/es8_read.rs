//! Reading from an Elasticsearch 8 cluster (replayed by a loopback server): the `/_pit` point
//! in time, `_shard_doc` paging with `search_after`, the point-in-time id changing between
//! pages, the resume point of a checkpoint, and closing the point in time at the end.

use std::sync::Arc;

use dnshunt_elastic::testkit::{CannedServer, Rule};
use dnshunt_elastic::{Client, ClientConfig};
use dnshunt_source::elastic::{spawn, EsReadConfig, Resume};
use dnshunt_source::{Message, ReadOptions};
use serde_json::{json, Value};

fn seed_docs() -> Vec<Value> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/seed/ecs.ndjson")).unwrap();
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn hit(index: &str, id: &str, source: &Value, ts: i64, shard_doc: i64) -> Value {
    json!({ "_index": index, "_id": id, "_score": null, "_source": source, "fields": { "@timestamp": [ts.to_string()] }, "sort": [shard_doc] })
}

#[test]
fn elasticsearch_8_point_in_time_pages_with_shard_doc_and_rotating_ids() {
    let docs = seed_docs();
    let idx = ".ds-winlogbeat-8.15.1-2024.09.01-000001";
    let page1 = json!({ "pit_id": "PIT-2", "took": 2, "timed_out": false,
    "_shards": { "total": 1, "successful": 1, "skipped": 0, "failed": 0 },
    "hits": { "total": { "value": 3, "relation": "eq" }, "max_score": null, "hits": [
        hit(idx, "a1", &docs[2], 1_561_471_781_467, 10),
        hit(idx, "a2", &docs[5], 1_561_479_704_138, 11)
    ]}});
    let page2 = json!({ "pit_id": "PIT-3", "took": 1, "timed_out": false,
        "_shards": { "total": 1, "successful": 1, "skipped": 0, "failed": 0 },
        "hits": { "hits": [ hit(idx, "a3", &docs[7], 1_561_554_914_799, 12) ] }});
    let server = CannedServer::start(vec![
        Rule::new(
            "GET",
            "/",
            200,
            r#"{"version":{"number":"8.15.1","build_flavor":"default"},"tagline":"You Know, for Search"}"#,
        )
        .header("X-Elastic-Product", "Elasticsearch"),
        Rule::new("POST", "/winlogbeat-*/_pit", 200, r#"{"id":"PIT-1"}"#),
        Rule::new("POST", "/_search", 200, &page1.to_string()).times(1),
        Rule::new("POST", "/_search", 200, &page2.to_string()).times(1),
        Rule::new("DELETE", "/_pit", 200, r#"{"succeeded":true,"num_freed":1}"#),
    ]);
    let client = Arc::new(Client::connect(&ClientConfig::new(&server.url)).unwrap());
    let mut config = EsReadConfig::new("winlogbeat-*");
    config.page_size = 2;
    config.resume = Some(Resume {
        newest_ms: 1_561_400_000_000,
        ids: vec![(idx.to_owned(), "a0".to_owned())],
    });
    let (rx, handle) = spawn(client, config, ReadOptions::default());
    let mut events = Vec::new();
    let mut files = Vec::new();
    for msg in rx {
        match msg {
            Message::FileStart { name, format, .. } => files.push((name, format)),
            Message::Batch { events: e, .. } => events.extend(e),
            other => panic!("unexpected {other:?}"),
        }
    }
    let outcome = handle.join().unwrap().unwrap();
    assert_eq!(files, vec![("es://winlogbeat-*".to_owned(), "elasticsearch pit".to_owned())]);
    assert_eq!(outcome.method, "point in time");
    assert_eq!((outcome.documents, outcome.pages), (3, 2));
    assert_eq!(outcome.newest_ms, Some(1_561_554_914_799));
    assert_eq!(outcome.ids_at_newest, vec![(idx.to_owned(), "a3".to_owned())]);
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].origin.index(), Some(idx));
    assert_eq!(events[0].origin.id(), Some("a1"));
    assert_eq!(events[0].dns().unwrap().query.as_str(), "www.youtube.com");

    let reqs = server.requests();
    let searches: Vec<Value> = reqs.iter().filter(|r| r.path == "/_search").map(|r| serde_json::from_str(&r.body).unwrap()).collect();
    assert_eq!(searches.len(), 2);
    assert_eq!(searches[0]["pit"]["id"], "PIT-1");
    assert_eq!(searches[0]["sort"], json!([{ "_shard_doc": "asc" }]));
    assert_eq!(searches[0]["track_total_hits"], json!(false));
    assert!(searches[0]["_source"]["includes"].as_array().unwrap().contains(&json!("winlog")));
    assert!(searches[0].get("search_after").is_none());
    // The resume point: @timestamp >= newest, minus the documents read at exactly that time.
    assert_eq!(
        searches[0]["query"]["bool"]["filter"][0]["bool"]["should"][0]["range"]["@timestamp"]["gte"],
        json!(1_561_400_000_000i64)
    );
    assert_eq!(searches[0]["query"]["bool"]["must_not"][0]["bool"]["filter"][1]["ids"]["values"], json!(["a0"]));
    // Page 2 continues after page 1's last sort values, with the newest point-in-time id.
    assert_eq!(searches[1]["pit"]["id"], "PIT-2");
    assert_eq!(searches[1]["search_after"], json!([11]));
    let close = reqs.iter().find(|r| r.method == "DELETE").expect("the point in time is closed");
    assert_eq!(close.path, "/_pit");
    assert_eq!(serde_json::from_str::<Value>(&close.body).unwrap(), json!({ "id": "PIT-3" }));
}

#[test]
fn failed_shards_fail_the_read_instead_of_losing_documents() {
    let page = json!({ "pit_id": "P", "timed_out": false,
        "_shards": { "total": 2, "successful": 1, "skipped": 0, "failed": 1,
            "failures": [{ "shard": 1, "index": "w", "reason": { "type": "circuit_breaking_exception", "reason": "[parent] Data too large" } }] },
        "hits": { "hits": [] }});
    let server = CannedServer::start(vec![
        Rule::new("GET", "/", 200, r#"{"version":{"number":"8.15.1"},"tagline":"You Know, for Search"}"#).header("X-Elastic-Product", "Elasticsearch"),
        Rule::new("POST", "/w/_pit", 200, r#"{"id":"P"}"#),
        Rule::new("POST", "/_search", 200, &page.to_string()),
        Rule::new("DELETE", "/_pit", 200, r#"{"succeeded":true,"num_freed":1}"#),
    ]);
    let client = Arc::new(Client::connect(&ClientConfig::new(&server.url)).unwrap());
    let (rx, handle) = spawn(client, EsReadConfig::new("w"), ReadOptions::default());
    for _ in rx {}
    let err = handle.join().unwrap().unwrap_err().to_string();
    assert!(err.contains("1 shard(s) failed") && err.contains("Data too large"), "{err}");
    assert!(server.requests().iter().any(|r| r.method == "DELETE"), "the point in time is closed after a failure too");
}
