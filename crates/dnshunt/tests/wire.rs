//! `hunt` on what the network saw: captures and Zeek logs from the shared data are recognised by
//! content, counted in the summary, and the name detectors find the tunnels and the DGA in them
//! (with the client's address as the host, as no process is known).

mod common;

use common::{hunt, shared_data_or_skip};
use serde_json::Value;

fn findings(run: &common::Run) -> Vec<Value> {
    run.json_lines().into_iter().filter(|v| v.get("detector").is_some()).collect()
}

#[test]
fn tunnels_in_captures_are_found_with_their_domain() {
    let Some(data) = shared_data_or_skip("tunnels_in_captures_are_found_with_their_domain") else {
        return;
    };
    let net = data.join("network");
    let run = hunt(
        &[
            net.join("tunnels/bsidessf2017-dnscap/dnscap.pcap"),
            net.join("tunnels/elastic-examples-iodine/dns-tunnel-iodine.pcap"),
        ],
        &["--findings", "--format", "jsonl"],
    );
    run.assert_exit(0);
    let totals = &run.summary()["read"]["totals"];
    // The counts SOURCE.md gives: 382 + 438 packets, 220 + 222 questions, 162 + 212 responses.
    assert_eq!(totals["wire_records"], 820);
    assert_eq!(totals["wire_queries"], 442);
    assert_eq!(totals["wire_responses"], 374);
    assert_eq!(totals["wire_dns"], 442);
    assert_eq!(totals["bad_records"], 0);
    let found = findings(&run);
    // dnscat2 from 192.168.43.91 under skullseclabs.org; iodine from 10.0.2.30 under pirate.sea:
    // each named as its tool, and as a tunnel by what its names and answers carry.
    for (host, tool, domain) in [("192.168.43.91", "dnscat2", "skullseclabs.org"), ("10.0.2.30", "iodine", "pirate.sea")] {
        let of = |detector: &str| {
            found
                .iter()
                .find(|f| f["detector"] == detector && f["host"] == host)
                .unwrap_or_else(|| panic!("{detector} {host}: {found:#?}"))
        };
        let t = of("tunnel_tool");
        assert_eq!(
            (t["details"]["tool"].as_str(), t["details"]["tunnel_domain"].as_str(), t["severity"].as_str()),
            (Some(tool), Some(domain), Some("high"))
        );
        let w = of("wire_tunnel");
        assert_eq!(w["details"]["tunnel_domain"], domain);
        assert_eq!(w["severity"], "high");
        assert!(w["details"]["distinct_names"].as_u64().unwrap() >= 200, "{w:#}");
    }
    // Every finding is about one of the two tunnels.
    for f in &found {
        let e = f["explanation"].as_str().unwrap();
        assert!(e.contains("skullseclabs.org") || e.contains("pirate.sea"), "{f:#}");
    }
    // Each finding's evidence is the exchange seen on the wire, with its packet number.
    let evidence = &found[0]["evidence"][0];
    assert_eq!(evidence["event_type"], "wire_dns");
    assert_eq!(evidence["sensor"], "pcap");
    assert!(evidence["origin"]["record"].as_u64().is_some(), "{evidence:#}");
}

/// The DoH tunnel dataset: the DoH server's own DNS to the tunnel server (captured and in
/// Suricata's EVE) carries DNS2TCP, DNSTT and iodine under example.attack.
#[test]
fn doh_tunnels_are_found_with_their_domain() {
    let Some(data) = shared_data_or_skip("doh_tunnels_are_found_with_their_domain") else {
        return;
    };
    let root = data.join("network/doh/korving-doh-tunnel");
    for (run_dir, tool) in [
        ("doh_tunnel_c2/177c88133b0fa9350ce7158fe21d07ec", Some("dns2tcp")),
        ("doh_tunnel_c2/68c58a06f47716371dd3a039dabe84f9", None),
        ("doh_tunnel_file_transfer/23a0a5a8e47264591dde38c5eeacda0f", Some("iodine")),
    ] {
        for input in ["dnsoverhttps/dns.pcap", "dnsoverhttps/suricata/eve.json"] {
            let run = hunt(&[root.join(run_dir).join(input)], &["--findings", "--format", "jsonl"]);
            run.assert_exit(0);
            let found = findings(&run);
            let tunnel = found
                .iter()
                .find(|f| f["detector"] == "wire_tunnel")
                .unwrap_or_else(|| panic!("{run_dir} {input}: {found:#?}"));
            assert_eq!(tunnel["details"]["tunnel_domain"], "example.attack");
            assert_eq!(tunnel["host"], "192.168.0.10");
            if let Some(tool) = tool {
                let t = found
                    .iter()
                    .find(|f| f["detector"] == "tunnel_tool")
                    .unwrap_or_else(|| panic!("{run_dir} {input}: {found:#?}"));
                assert_eq!(t["details"]["tool"], tool, "{run_dir} {input}");
            }
        }
    }
}

#[test]
fn simda_dga_names_in_a_zeek_log_are_found_and_ordinary_dns_stays_quiet() {
    let Some(data) = shared_data_or_skip("simda_dga_names_in_a_zeek_log_are_found_and_ordinary_dns_stays_quiet") else {
        return;
    };
    let net = data.join("network");
    let run = hunt(&[net.join("dga/stratosphere-005-simda-zeek")], &["--findings", "--format", "jsonl"]);
    run.assert_exit(0);
    let files = run.summary()["read"]["files"].as_array().unwrap().clone();
    let formats: Vec<&str> = files.iter().map(|f| f["format"].as_str().unwrap()).collect();
    assert_eq!(formats.iter().filter(|f| **f == "zeek").count(), 3, "{formats:?}");
    let totals = &run.summary()["read"]["totals"];
    assert_eq!(totals["wire_records"], 992 * 3);
    assert_eq!(totals["wire_dns"], 980);
    assert_eq!(totals["wire_flow"], 992);
    let found = findings(&run);
    // The burst of failed lookups from each of the infected host's two addresses.
    let storms: Vec<&Value> = found.iter().filter(|f| f["detector"] == "nxdomain_storm").collect();
    assert_eq!(storms.len(), 2, "{found:#?}");
    // Every finding is a DGA burst or the DGA detector on a pronounceable .com name, from one
    // of the two addresses of the infected host.
    for f in &found {
        assert!(f["detector"] == "dga" || f["detector"] == "nxdomain_storm", "{f:#}");
        let host = f["host"].as_str().unwrap();
        assert!(host == "192.168.1.116" || host.starts_with("fd77:48a1:c0bb:0:"), "{host}");
        assert_eq!(f["evidence"][0]["sensor"], "zeek", "{f:#}");
    }
}

#[test]
fn ordinary_dns_in_zeek_and_suricata_logs_stays_quiet() {
    let Some(data) = shared_data_or_skip("ordinary_dns_in_zeek_and_suricata_logs_stays_quiet") else {
        return;
    };
    let net = data.join("network");
    // A day of a web server's DNS (Suricata EVE) and a Windows host browsing (Zeek JSON).
    let run = hunt(
        &[net.join("zeek-eve/slips/test6-malicious.suricata.json"), net.join("zeek-eve/slips/test9-mixed-zeek-dir")],
        &["--findings", "--format", "jsonl", "--min-severity", "medium"],
    );
    run.assert_exit(0);
    assert_eq!(run.summary()["read"]["totals"]["wire_dns"], 340 + 239);
    assert_eq!(findings(&run), Vec::<Value>::new());
}

/// The OTRF LSASS campaigns: Zeek and Sysmon recorded the same hosts with clocks that disagree
/// by minutes to days. Each campaign's offset is found from the connections both logged, and
/// every DNS exchange Zeek logged is joined to the process that sent it (the DNS client
/// service's EID 3 to the resolver). SOURCE.md puts Sysmon's `UtcTime` at −176 s to
/// +500,107 s from Zeek; those are the offsets found for campaigns 02 and 04.
#[test]
fn otrf_zeek_joins_sysmon_across_the_clock_offset() {
    let Some(data) = shared_data_or_skip("otrf_zeek_joins_sysmon_across_the_clock_offset") else {
        return;
    };
    let dir = data.join("network/otrf-lsass");
    // (campaign, host, offset in seconds when SOURCE.md states it)
    let campaigns = [
        ("logonpasswords", "MKT01.pandalab.com", None),
        ("procdump", "ACCT01.pandalab.com", Some(-176.0)),
        ("comsvcs", "PRD01.pandalab.com", None),
        ("out-minidump", "IT01.pandalab.com", Some(500_107.0)),
        ("sharpdump", "MKT01.pandalab.com", None),
        ("outflank-dumpert", "MKT01.pandalab.com", None),
        ("nanodump", "MKT01.pandalab.com", None),
    ];
    for (name, host, stated) in campaigns {
        let sysmon = dir.join(format!("metasploit_{name}_lsass_memory_dump.zip"));
        let zeek = dir.join(format!("metasploit_{name}_lsass_memory_dump_zeek_logs.zip"));
        let run = hunt(&[sysmon, zeek], &["--format", "jsonl"]);
        run.assert_exit(0);
        let a = &run.summary()["attribution"];
        let offsets = a["offsets"].as_array().unwrap();
        assert_eq!(offsets.len(), 1, "{name}: {a:#}");
        assert_eq!(offsets[0]["host"], host, "{name}");
        assert!(offsets[0]["matches"].as_u64().unwrap() >= 100, "{name}: {a:#}");
        let offset = offsets[0]["offset_seconds"].as_f64().unwrap();
        if let Some(stated) = stated {
            assert!((offset - stated).abs() < 1.0, "{name}: offset {offset} s, SOURCE.md states {stated} s");
        }
        // Every exchange with a question is joined; nearly every connection too (the rest are
        // other hosts' or ones Sysmon's config did not log).
        assert_eq!(a["dns_unjoined"], 0, "{name}: {a:#}");
        assert!(a["dns_joined"].as_u64().unwrap() >= 14, "{name}: {a:#}");
        let (joined, unjoined) = (a["flows_joined"].as_u64().unwrap(), a["flows_unjoined"].as_u64().unwrap());
        assert!(joined >= 9 * (joined + unjoined) / 10, "{name}: {a:#}");
        assert_eq!(a["outside_tolerance"], 0, "{name}");
        // The summary says so.
        assert!(run.stderr.contains("attribution wire ↔ Sysmon"), "{name}: {}", run.stderr);
    }
}

/// Campaign 01 also has a packet capture: its DNS exchanges and connection starts join the
/// same processes, and the random single-label probes Chromium sends (which the DNS client
/// expands with the home network's `home.arpa` suffix) are not taken for DGA names.
#[test]
fn otrf_capture_joins_and_its_ordinary_dns_stays_quiet() {
    let Some(data) = shared_data_or_skip("otrf_capture_joins_and_its_ordinary_dns_stays_quiet") else {
        return;
    };
    let dir = data.join("network/otrf-lsass");
    let run = hunt(
        &[
            dir.join("metasploit_logonpasswords_lsass_memory_dump.zip"),
            dir.join("metasploit_logonpasswords_lsass_memory_dump_pcapng.zip"),
        ],
        &["--findings", "--format", "jsonl"],
    );
    run.assert_exit(0);
    let a = &run.summary()["attribution"];
    // 303 DNS questions on ports 53, 5353 and 5355 (every response pairs with one of them) and
    // 35 connection starts: an independent count with scripts/count-pcap.py.
    assert_eq!(a["dns_joined"].as_u64().unwrap() + a["dns_unjoined"].as_u64().unwrap(), 303, "{a:#}");
    assert_eq!(a["flows_joined"].as_u64().unwrap() + a["flows_unjoined"].as_u64().unwrap(), 35, "{a:#}");
    assert!(a["dns_joined"].as_u64().unwrap() >= 290, "{a:#}");
    assert!(a["flows_joined"].as_u64().unwrap() >= 30, "{a:#}");
    let wire_findings: Vec<Value> = findings(&run)
        .into_iter()
        .filter(|f| f["evidence"].as_array().unwrap().iter().any(|e| e["event_type"] == "wire_dns"))
        .collect();
    assert_eq!(wire_findings, Vec::<Value>::new());
}

/// `stats` on captures: the bytes of questions and responses per domain, as
/// `scripts/count-pcap.py` (a reader written apart from ours) sums the DNS payloads.
#[test]
fn stats_counts_wire_bytes_per_domain() {
    let Some(data) = shared_data_or_skip("stats_counts_wire_bytes_per_domain") else {
        return;
    };
    let net = data.join("network/tunnels");
    let dnscap = net.join("bsidessf2017-dnscap/dnscap.pcap");
    let iodine = net.join("elastic-examples-iodine/dns-tunnel-iodine.pcap");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dnshunt"))
        .args(["stats", "--format", "json", "-q"])
        .arg(&dnscap)
        .arg(&iodine)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = doc["wire_domains"]["rows"].as_array().unwrap();
    let row = |d: &str| rows.iter().find(|r| r["domain"] == d).unwrap_or_else(|| panic!("{d}: {rows:#?}"));
    let dns = row("skullseclabs.org");
    assert_eq!(
        (dns["exchanges"].as_u64(), dns["question_bytes"].as_u64(), dns["response_bytes"].as_u64()),
        (Some(220), Some(44_399), Some(38_931))
    );
    let io = row("pirate.sea");
    assert_eq!(
        (io["exchanges"].as_u64(), io["question_bytes"].as_u64(), io["response_bytes"].as_u64()),
        (Some(222), Some(16_812), Some(35_212))
    );
    assert_eq!(io["payload_bytes"], 20_743);
    assert_eq!(doc["source"]["wire_dns_exchanges"], 442);
}

/// Zeek and Suricata documents as Filebeat ships them (ECS `dns.*`), from a file: the tunnel in
/// Zeek's DNS documents is found, Suricata's question and answer are one exchange, and the TLS
/// connection to a DoH endpoint is seen.
#[test]
fn filebeat_zeek_and_suricata_documents_are_read() {
    let dir = common::TempDir::new("filebeat-wire");
    let lines = common::filebeat_wire_lines();
    let file = dir.write("filebeat.ndjson", (lines.join("\n") + "\n").as_bytes());
    let run = hunt(&[file], &["--findings", "--format", "jsonl"]);
    run.assert_exit(0);
    let totals = run.read().totals;
    assert_eq!((totals.wire_dns, totals.wire_flow, totals.wire_other, totals.wire_records), (41, 41, 2, 84));
    assert_eq!((totals.not_sysmon, totals.bad_records), (0, 0));
    let found = findings(&run);
    let tunnel = found.iter().find(|f| f["detector"] == "wire_tunnel").unwrap_or_else(|| panic!("{found:#?}"));
    assert_eq!(tunnel["details"]["tunnel_domain"], "tunnel.example");
    assert_eq!(tunnel["host"], "10.1.0.5");
    assert_eq!(tunnel["evidence"][0]["sensor"], "zeek");
    let doh = found.iter().find(|f| f["detector"] == "wire_doh").unwrap_or_else(|| panic!("{found:#?}"));
    assert!(doh["explanation"].as_str().unwrap().contains("dns.google"), "{doh:#}");
}

/// Every capture and log of the shared network folder (and the zips of the OTRF recordings)
/// is read in one run without a panic and without a bad record; its text logs that are not event
/// data (web server and syslog logs of the DoH lab, dnsmasq's log) are listed as ignored.
#[test]
fn the_whole_network_folder_reads_without_a_panic() {
    let Some(data) = shared_data_or_skip("the_whole_network_folder_reads_without_a_panic") else {
        return;
    };
    let run = hunt(&[data.join("network")], &["--format", "jsonl"]);
    run.assert_exit(0);
    let read = run.read();
    assert_eq!((read.file_errors, read.totals.bad_records), (0, 0), "{:#?}", read.examples);
    assert!(read.ignored_files.iter().any(|f| f.ends_with("dnsmasq.log")), "{:?}", read.ignored_files);
    assert!(
        read.ignored_files.iter().all(|f| f.ends_with(".log")
            || f.ends_with(".capture")
            || f.ends_with(".md")
            || f.ends_with(".yaml")
            || f.ends_with(".config")
            || f.ends_with(".metadata")),
        "{:?}",
        read.ignored_files
    );
    assert!(read.totals.wire_dns > 25_000 && read.totals.wire_flow > 8_000, "{:?}", read.totals);
}
