//! Bulk-loads a JSON-lines file into an index, as fast as a small machine allows, for the
//! Elasticsearch/OpenSearch benchmark (`scripts/bench-es.sh`). Not part of the product.
//!
//!     cargo run --release -p dnshunt-elastic --example es_load -- URL INDEX FILE [SHARDS] [THREADS]
//!
//! Creates INDEX (every string, number and boolean a keyword, `@timestamp` a date, no
//! replicas, no refresh while loading) unless it exists, loads the file with `_bulk` requests
//! of about 8 MB from THREADS threads, then refreshes and prints documents/s.

use std::io::{BufRead, BufReader};
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dnshunt_elastic::{Client, ClientConfig, Method};
use serde_json::{json, Value};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        eprintln!("usage: es_load URL INDEX FILE [SHARDS] [THREADS]");
        std::process::exit(2);
    }
    let (url, index, file) = (&args[0], &args[1], &args[2]);
    let shards: u32 = args.get(3).map_or(1, |s| s.parse().expect("SHARDS"));
    let threads: usize = args.get(4).map_or(2, |s| s.parse().expect("THREADS"));
    let mut config = ClientConfig::new(url);
    config.timeout = Duration::from_secs(300);
    config.max_tries = 10;
    let client = Arc::new(Client::connect(&config).expect("connect"));
    let exists = client.request(Method::HEAD, &format!("/{index}"), None, "exists").expect("HEAD");
    if !exists.is_success() {
        let body = json!({
            "settings": { "number_of_shards": shards, "number_of_replicas": 0, "refresh_interval": "-1", "translog.durability": "async",
                          "index.mapping.total_fields.limit": 10000 },
            "mappings": {
                "date_detection": false,
                "dynamic_templates": [
                    { "strings": { "match_mapping_type": "string", "mapping": { "type": "keyword", "ignore_above": 4096 } } },
                    { "longs": { "match_mapping_type": "long", "mapping": { "type": "keyword" } } },
                    { "doubles": { "match_mapping_type": "double", "mapping": { "type": "keyword" } } },
                    { "booleans": { "match_mapping_type": "boolean", "mapping": { "type": "keyword" } } }
                ],
                "properties": { "@timestamp": { "type": "date" } }
            }
        });
        client.json(Method::PUT, &format!("/{index}"), Some(&body), "create").expect("create index");
    }
    let started = Instant::now();
    let (tx, rx) = sync_channel::<Vec<u8>>(threads * 2);
    let rx = Arc::new(Mutex::new(rx));
    let errors = Arc::new(Mutex::new(0u64));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (rx, client, errors, index) = (rx.clone(), client.clone(), errors.clone(), index.clone());
            std::thread::spawn(move || loop {
                let body = match rx.lock().expect("lock").recv() {
                    Ok(b) => b,
                    Err(_) => return,
                };
                let reply = client
                    .request(Method::POST, &format!("/{index}/_bulk"), Some((&body, "application/x-ndjson")), "bulk")
                    .expect("bulk");
                let answer: Value = serde_json::from_slice(&reply.body).expect("bulk answer");
                if answer["errors"] == json!(true) {
                    let items = answer["items"].as_array().map_or(&[][..], Vec::as_slice);
                    let failed: Vec<&Value> = items.iter().filter(|i| i["index"]["error"].is_object()).collect();
                    if let Some(first) = failed.first() {
                        eprintln!("bulk: {} failed, e.g. {}", failed.len(), first["index"]["error"]);
                    }
                    *errors.lock().expect("lock") += failed.len() as u64;
                }
            })
        })
        .collect();
    let reader = BufReader::with_capacity(1 << 20, std::fs::File::open(file).expect("open FILE"));
    let mut body = Vec::with_capacity(9 << 20);
    let mut docs = 0u64;
    for line in reader.split(b'\n') {
        let line = line.expect("read");
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        body.extend_from_slice(b"{\"index\":{}}\n");
        body.extend_from_slice(&line);
        body.push(b'\n');
        docs += 1;
        if body.len() >= 8 << 20 {
            tx.send(std::mem::replace(&mut body, Vec::with_capacity(9 << 20))).expect("send");
        }
    }
    if !body.is_empty() {
        tx.send(body).expect("send");
    }
    drop(tx);
    for w in workers {
        w.join().expect("worker");
    }
    let settings = json!({ "index": { "refresh_interval": "1s" } });
    client.json(Method::PUT, &format!("/{index}/_settings"), Some(&settings), "settings").expect("settings");
    client.json(Method::POST, &format!("/{index}/_refresh"), None, "refresh").expect("refresh");
    let secs = started.elapsed().as_secs_f64();
    let errors = *errors.lock().expect("lock");
    eprintln!("loaded {docs} documents into {index} in {secs:.1} s ({:.0} docs/s), {errors} rejected", docs as f64 / secs);
    if errors > 0 {
        std::process::exit(1);
    }
}
