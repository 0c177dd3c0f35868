//! Seed inputs the fixtures cannot give: EVTX files and MaxMind databases built here (the
//! repository holds none, and neither may be copied in from elsewhere), `.gz`/`.zip`
//! containers, records for `normalize` taken from the fixtures, and small hand-written Sigma
//! rules, config files, feed lists and cluster answers.
//!
//! `scripts/fuzz.sh` writes them into each target's corpus (with the fixtures that fit the
//! target) through the `dnshunt-fuzz-seeds` binary; `tests/regressions.rs` replays them too.

use std::io::Write;

use dnshunt_core::{Field, RawValue};

/// One seed: the target it is for, a file name, the bytes.
pub struct Seed {
    pub target: &'static str,
    pub name: String,
    pub bytes: Vec<u8>,
}

fn seed(target: &'static str, name: &str, bytes: impl Into<Vec<u8>>) -> Seed {
    Seed {
        target,
        name: name.to_owned(),
        bytes: bytes.into(),
    }
}

/// The fixture every generated seed is derived from: one incident (process creations, DNS
/// queries, connections) in Sysmon's own JSON rendering, one event per line.
const FIXTURE: &str = include_str!("../../../fixtures/seed/evtx_json.ndjson");

/// Every generated seed.
pub fn all() -> Vec<Seed> {
    let evtx_file = evtx::fixture_file();
    let mut seeds = vec![
        seed("evtx", "fixture_events.evtx", evtx_file.clone()),
        seed("evtx", "header_only.evtx", evtx::header_only()),
        seed("source_auto", "fixture_events.evtx", evtx_file),
        seed("source_auto", "three_lines.ndjson.gz", gzip(first_lines(3).as_bytes())),
        seed(
            "source_auto",
            "json_and_xml.zip",
            zip_of(&[("a.ndjson", first_lines(2).as_bytes()), ("b.xml", XML_EVENT.as_bytes())]),
        ),
        seed("json", "two_lines.ndjson", first_lines(2)),
        seed("json_document", "one_line.json", first_lines(1)),
        seed("xml", "one_event.xml", XML_EVENT),
        seed("normalize", "fixture_records.txt", normalize_records()),
    ];
    seeds.push(seed("pcap", "dns_udp_tcp.pcap", wire::capture()));
    seeds.push(seed("source_auto", "dns_udp_tcp.pcap", wire::capture()));
    for (i, m) in wire::messages().into_iter().enumerate() {
        seeds.push(seed("dns_message", &format!("message{i}.bin"), m));
    }
    seeds.push(seed("zeek", "dns.log", wire::ZEEK_TSV));
    seeds.push(seed("zeek", "conn.json", wire::ZEEK_JSON));
    seeds.push(seed("source_auto", "dns.log", wire::ZEEK_TSV));
    seeds.push(seed("eve", "eve.json", wire::EVE));
    seeds.push(seed("source_auto", "eve.json", wire::EVE));
    for (i, db) in mmdb::databases().into_iter().enumerate() {
        seeds.push(seed("geoip", &format!("db{i}.mmdb"), db));
    }
    let texts: &[(&'static str, &[&str])] = &[
        ("query_results", QUERY_RESULTS),
        ("dns_name", DNS_NAMES),
        ("timestamp", TIMESTAMPS),
        ("config_toml", CONFIGS),
        ("sigma", SIGMA_RULES),
        ("blocklist", BLOCKLISTS),
        ("nrd", NRD_FEEDS),
        ("rank", RANK_LISTS),
        ("rdap", RDAP_ANSWERS),
        ("es_answer", ES_ANSWERS),
        ("sysmon_config", SYSMON_CONFIGS),
    ];
    for (target, items) in texts {
        for (i, text) in items.iter().enumerate() {
            seeds.push(seed(target, &format!("seed{i}.txt"), *text));
        }
    }
    let exclusions = [dnshunt_sink::sysmon_config::Exclusion {
        domain: "windowsupdate.com".to_owned(),
        queries: 100,
        hosts: 10,
        share: 0.2,
    }];
    seeds.push(seed("sysmon_config", "generated.xml", dnshunt_sink::sysmon_config::config(&exclusions)));
    seeds
}

/// The first `n` lines of the fixture.
fn first_lines(n: usize) -> String {
    FIXTURE.lines().take(n).map(|l| format!("{l}\n")).collect()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}

fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in members {
        writer.start_file(*name, zip::write::SimpleFileOptions::default()).expect("writing to memory");
        writer.write_all(bytes).expect("writing to memory");
    }
    writer.finish().expect("writing to memory").into_inner()
}

/// The fixture's records in the `normalize` target's `key=value` format.
fn normalize_records() -> String {
    let mut out = String::new();
    for line in FIXTURE.lines() {
        let mut records = Vec::new();
        dnshunt_source::json_visit::parse_document(line.as_bytes(), &mut records).expect("the fixture is JSON");
        for raw in records {
            if !out.is_empty() {
                out.push_str("--\n");
            }
            let pairs = [
                ("EventID", raw.event_id.map(|i| i.to_string())),
                ("Channel", raw.channel.as_deref().map(str::to_owned)),
                ("Provider", raw.provider.as_deref().map(str::to_owned)),
                ("Computer", raw.computer.as_deref().map(str::to_owned)),
                ("RecordID", raw.record_id.map(|i| i.to_string())),
                ("SystemTime", raw.system_time.as_deref().map(str::to_owned)),
            ];
            for (key, value) in pairs {
                if let Some(value) = value {
                    out.push_str(&format!("{key}={value}\n"));
                }
            }
            for field in Field::ALL {
                let line = match raw.get(field) {
                    Some(RawValue::Str(s)) => format!("{}={s}\n", field.name()),
                    Some(RawValue::Int(i)) => format!("{}#={i}\n", field.name()),
                    Some(RawValue::Bool(b)) => format!("{}?={b}\n", field.name()),
                    Some(RawValue::List(items)) => format!("{}[]={}\n", field.name(), items.join("|")),
                    None => continue,
                };
                out.push_str(&line);
            }
        }
    }
    out.push_str("--\nEventID=22\necs.module=sysmon\necs.timestamp=2019-06-25T14:09:41.467Z\necs.answer=A 10.1.2.3\necs.answer=TXT \necs.status=DNS_ERROR_RCODE_NAME_ERROR\necs.user.name=analyst\necs.user.domain=LAB\necs.hash=sha256 741AD992403C78A8A7DBD97C74FDA06594A247E9E2FA05A40BB6945403A90056\nQueryName=xn--80ak6aa92e.com\nImage=C:\\Windows\\System32\\nslookup.exe\nProcessGuid=22052E76-2B25-5D12-0000-001064A64200\n");
    out
}

const XML_EVENT: &str = r#"<Events><Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System><Provider Name="Microsoft-Windows-Sysmon" Guid="{5770385f-c22a-43e0-bf4c-06f5698ffbd9}"/><EventID>22</EventID><Version>5</Version><TimeCreated SystemTime="2019-06-25T14:09:41.467000Z"/><EventRecordID>41210</EventRecordID><Channel>Microsoft-Windows-Sysmon/Operational</Channel><Computer>WIN10-LAB.example.local</Computer></System><EventData><Data Name="RuleName"></Data><Data Name="UtcTime">2019-06-25 14:09:41.467</Data><Data Name="ProcessGuid">{22052E76-2B25-5D12-0000-001064A64200}</Data><Data Name="ProcessId">4876</Data><Data Name="QueryName">www.youtube.com</Data><Data Name="QueryStatus">0</Data><Data Name="QueryResults">type:  5 youtube-ui.l.google.com;::ffff:172.217.16.238;</Data><Data Name="Image">C:\Windows\System32\PING.EXE</Data></EventData></Event></Events>
"#;

const QUERY_RESULTS: &[&str] = &[
    "type:  5 youtube-ui.l.google.com;::ffff:172.217.16.238;::ffff:172.217.16.206;",
    "type:  16 ;type:  33 _ldap._tcp.dc.example.local;",
    "::ffff:10.0.0.1;2001:db8::1;fe80::1%12;",
    "-",
    "type:  12 host.example.;type:  15 10 mail.example.com;type: 6 ns1.example.com",
];

const DNS_NAMES: &[&str] = &[
    "www.youtube.com\nWWW.Example.CO.UK.\nxn--80ak6aa92e.com\nпример.испытание\na.b.c.d.e.f.g.blogspot.com\nlocalhost\n_ldap._tcp.dc._msdcs.example.local\n",
    "qxkvbtrnwzlp.info\n4a6f7e2c9d1b3e5f.cloudfront.net\nabc.ddns.net\nexample.onion\n1.2.3.4\n..\n*.example.com\n",
    "xn--\nxn--a\nexample.xn--p1ai\nfoo..bar\n-leading.example\nverylonglabelverylonglabelverylonglabelverylonglabelverylonglabelxx.com\n",
];

const TIMESTAMPS: &[&str] = &[
    "2019-06-25 14:09:41.467\n2019-06-25T14:09:41.4672130Z\n2024-02-29T23:59:60+05:30\n2024-03-11\n20240311\n2024/03/11\n1970-01-01T00:00:00-00:00\n9999-12-31 23:59:59.999\n0000-01-01\n",
    "{22052E76-2B25-5D12-0000-001064A64200}\n22052e76-2b25-5d12-0000-001064a64200\n00000000-0000-0000-0000-000000000000\nDNS_ERROR_RCODE_NAME_ERROR\n9003\n1460\nERROR_TIMEOUT\nAAAA\nTXT\nTYPE65\n::ffff:1.2.3.4\nQueryName\n",
];

const CONFIGS: &[&str] = &[
    "",
    "[resolvers]\naddresses = [\"10.0.0.53\", \"fd00:53::/64\"]\n[detectors.resolver_bypass]\nresolvers = [\"10.9.0.0/16\"]\n",
    "[detectors]\ndisabled = [\"outlier\", \"related_lookup\"]\n[detectors.record_type]\nallowed_processes = [\"outlook.exe\"]\n[detectors.record_type.types]\nTXT = \"medium\"\nNULL = \"high\"\n",
    "[allowlist]\ndomains = [\"corp.example\"]\nprocesses = [\"teams.exe\"]\npairs = [{process = \"teams.exe\", domain = \"teams.microsoft.com\"}]\n[detectors.lookalike]\nprotected = [\"corp.example\"]\nswap_tlds = [\"com\", \"net\"]\n",
    "[detectors.beacon]\nmin_events = 3\nmin_span_minutes = 1\nmin_score = 0.5\n[detectors.nxdomain_storm]\nwindow_minutes = 1\nmin_nxdomain = 1\nbaseline_factor = 0.5\n[detectors.dga]\nthreshold = 0.1\nmedium_at = 0.2\nhigh_at = 0.3\n",
    "[aggregate]\nmax_examples = 1\nmany_domains = 2\ndga_name_weight = 0.5\ndga_max_score = 90\n[incidents]\nwindow_hours = 0.5\nroots = [\"explorer.exe\"]\njoin_on_indicators = false\n",
    "[prevalence]\nmax_exact_keys = 4\nexact_hosts_per_key = 2\nexact_processes_per_key = 2\nsketch_width = 64\nsketch_bloom_bits = 1024\nmin_fleet_hosts = 1\ncommon_share = 0.5\nrare_max_hosts = 1\n",
    "[memory]\nbudget_mb = 1\nmax_findings = 3\n[aggregate]\nmax_findings_per_process = 1\nmax_findings = 2\n[detectors.beacon]\nmax_series = 2\n",
    "[enrich]\ngeoip = \"/nonexistent\"\nrank = [\"top.csv\"]\nrdap = false\n[state]\npath = \"state.sqlite\"\n[detectors.connection_without_lookup]\nmin_lookups = 1\nwarmup_minutes = 0\nmax_keys = 2\n[detectors.lookup_without_connection]\nwindow_minutes = 1\nmin_unconnected_domains = 1\n[detectors.outlier]\nname_length_z = 1.0\nmin_history = 1\nmax_keys = 1\nmax_hours = 1\n",
];

const SIGMA_RULES: &[&str] = &[
    "title: Suspicious DNS\nid: 3f2d7d1e-1a2b-4c3d-9e8f-0a1b2c3d4e5f\nstatus: test\nlogsource:\n  product: windows\n  category: dns_query\ndetection:\n  selection:\n    QueryName|endswith:\n      - '.youtube.com'\n      - '.onion'\n    Image|contains: 'ping'\n  condition: selection\nlevel: high\ntags:\n  - attack.command_and_control\n  - attack.t1071.004\n",
    "title: Process\nid: 11111111-2222-3333-4444-555555555555\nlogsource:\n  product: windows\n  category: process_creation\ndetection:\n  sel:\n    CommandLine|re: '(?i)ping\\s+'\n    ParentImage|endswith: '\\cmd.exe'\n  filter:\n    User|startswith: 'NT AUTHORITY'\n  condition: sel and not filter\nlevel: medium\n---\ntitle: Connection\nlogsource:\n  product: windows\n  category: network_connection\ndetection:\n  sel:\n    DestinationPort:\n      - 443\n      - 53\n    Initiated: 'true'\n  condition: 1 of sel*\nlevel: low\n",
    "title: Many lookups\nid: aaaaaaaa-0000-0000-0000-000000000001\nname: many_lookups\nlogsource:\n  product: windows\n  category: dns_query\ndetection:\n  sel:\n    QueryName|contains: '.'\n  condition: sel\n---\ntitle: Burst\ncorrelation:\n  type: event_count\n  rules:\n    - many_lookups\n  group-by:\n    - Computer\n  timespan: 5m\n  condition:\n    gte: 2\nlevel: high\n",
    "title: Base64 and cidr\nlogsource:\n  product: windows\n  category: network_connection\ndetection:\n  sel:\n    DestinationIp|cidr: '172.217.0.0/16'\n    CommandLine|base64offset|contains: 'http'\n  condition: sel\n",
];

const BLOCKLISTS: &[&str] = &[
    include_str!("../../../examples/incident/blocklist.txt"),
    "# comment\nevil.example\n*.bad.example # tag:c2\n||adblock.example^\n0.0.0.0 hosts.example\n10.1.2.3\n192.0.2.0/24\n2001:db8::/32\nhttps://url.example/path?q=1\n",
    include_str!("../../dnshunt-detect/data/doh_endpoints.txt"),
];

const NRD_FEEDS: &[&str] = &[
    "nrd-2024-03-11.txt\nexample.com\nnew-domain.net\n# comment\n",
    "feed.csv\ndomain,create_date\nnew.example,2024-03-11\n\"quoted.example\",2024-03-11T10:00:00Z\nbad line\nother.example\t20240311\n",
    "nrd_2019_06_20.txt\n\u{feff}a.b.example.co.uk;2019/06/19\n",
];

const RANK_LISTS: &[&str] = &[
    "1,google.com\n2,youtube.com\n3,facebook.com\n",
    "rank,domain\n10,example.com\n0,zero.example\n99999999999,huge.example\nx,bad\n",
];

const RDAP_ANSWERS: &[&str] = &[
    r#"{"objectClassName":"domain","ldhName":"EXAMPLE.COM","events":[{"eventAction":"registration","eventDate":"1995-08-14T04:00:00Z"},{"eventAction":"expiration","eventDate":"2025-08-13T04:00:00Z"}]}"#,
    r#"{"errorCode":404,"title":"Not Found"}"#,
    r#"{"events":[{"eventAction":"registration","eventDate":"not a date"}]}"#,
];

const ES_ANSWERS: &[&str] = &[
    r#"{"name":"node","cluster_name":"c","version":{"number":"8.13.0","build_flavor":"default"},"tagline":"You Know, for Search"}"#,
    r#"{"version":{"distribution":"opensearch","number":"2.11.1"}}"#,
    r#"{"error":{"type":"index_not_found_exception","reason":"no such index [x]","root_cause":[{"type":"index_not_found_exception","reason":"no such index"}]},"status":404}"#,
    r#"{"pit_id":"abc","took":1,"timed_out":false,"_shards":{"total":1,"successful":1,"failed":1,"failures":[{"reason":{"type":"x","reason":"y"}}]},"hits":{"hits":[{"_index":"winlogbeat-1","_id":"1","sort":[1561471781401,5],"fields":{"@timestamp":["1561471781401.123456"]},"_source":{"winlog":{"event_id":22,"channel":"Microsoft-Windows-Sysmon/Operational","computer_name":"h","event_data":{"QueryName":"a.example","UtcTime":"2019-06-25 14:09:41.467"}}}}]}}"#,
    "https://user:secret@es.example:9200/prefix?x=1",
];

const SYSMON_CONFIGS: &[&str] = &[
    "<Sysmon schemaversion=\"4.90\">\n  <EventFiltering>\n    <RuleGroup name=\"\" groupRelation=\"or\">\n      <DnsQuery onmatch=\"exclude\">\n        <QueryName condition=\"end with\">.microsoft.com</QueryName>\n        <QueryName condition=\"is\">example.com</QueryName>\n        <Image condition=\"image\">teams.exe</Image>\n      </DnsQuery>\n    </RuleGroup>\n  </EventFiltering>\n</Sysmon>\n",
    "<Sysmon schemaversion=\"4.90\"><EventFiltering><RuleGroup groupRelation=\"or\"><DnsQuery onmatch=\"exclude\"/></RuleGroup></EventFiltering></Sysmon>",
    "<!-- comment --><Sysmon><HashAlgorithms>sha256</HashAlgorithms></Sysmon>",
];

/// EVTX files in the layout the `evtx` crate reads (MS-EVEN6): a 4 KiB file header, then
/// 64 KiB chunks of records whose BinXML is written here. Modelled on the synthetic files of
/// the `evtx` crate's own tests (`tests/fixtures.rs`).
mod evtx {
    use serde_json::Value;

    const FILE_HEADER: usize = 4096;
    const CHUNK: usize = 65536;
    const CHUNK_HEADER: usize = 512;
    const RECORD_HEADER: usize = 24;

    /// The file header alone: a log with no chunks.
    pub fn header_only() -> Vec<u8> {
        let mut file = vec![0; FILE_HEADER];
        write_file_header(&mut file, 0, 1);
        file
    }

    /// One chunk holding the fixture's events: every other one written with direct elements,
    /// the others as instances of one template (the form Windows writes).
    pub fn fixture_file() -> Vec<u8> {
        let events: Vec<Value> = super::FIXTURE.lines().map(|l| serde_json::from_str(l).expect("the fixture is JSON")).collect();
        let mut file = vec![0; FILE_HEADER + CHUNK];
        write_file_header(&mut file, 1, events.len() as u64 + 1);
        let chunk = &mut file[FILE_HEADER..];
        let mut start = CHUNK_HEADER;
        let mut last = start;
        for (i, event) in events.iter().enumerate() {
            let mut binxml = BinXml::at((start + RECORD_HEADER) as u32);
            binxml.fragment_header();
            if i % 2 == 0 {
                binxml.event_elements(event);
            } else {
                binxml.event_template(event);
            }
            binxml.u8(0x00);
            let size = RECORD_HEADER + binxml.bytes.len() + 4;
            assert!(start + size <= CHUNK, "the fixture fits one chunk");
            let record = &mut chunk[start..start + size];
            record[0..4].copy_from_slice(b"\x2a\x2a\x00\x00");
            record[4..8].copy_from_slice(&(size as u32).to_le_bytes());
            record[8..16].copy_from_slice(&(i as u64 + 1).to_le_bytes());
            record[16..24].copy_from_slice(&132_059_000_000_000_000u64.to_le_bytes());
            record[RECORD_HEADER..size - 4].copy_from_slice(&binxml.bytes);
            record[size - 4..].copy_from_slice(&(size as u32).to_le_bytes());
            last = start;
            start += size;
        }
        let count = events.len() as u64;
        chunk[0..8].copy_from_slice(b"ElfChnk\0");
        for (at, value) in [(8, 1), (16, count), (24, 1), (32, count)] {
            chunk[at..at + 8].copy_from_slice(&value.to_le_bytes());
        }
        chunk[40..44].copy_from_slice(&128u32.to_le_bytes());
        chunk[44..48].copy_from_slice(&(last as u32).to_le_bytes());
        chunk[48..52].copy_from_slice(&(start as u32).to_le_bytes());
        let events_crc = ::evtx::checksum_ieee(&chunk[CHUNK_HEADER..start]);
        chunk[52..56].copy_from_slice(&events_crc.to_le_bytes());
        let header_crc = ::evtx::checksum_ieee(&[&chunk[..120], &chunk[128..CHUNK_HEADER]].concat());
        chunk[124..128].copy_from_slice(&header_crc.to_le_bytes());
        file
    }

    fn write_file_header(file: &mut [u8], chunks: u16, next_record: u64) {
        file[0..8].copy_from_slice(b"ElfFile\0");
        file[16..24].copy_from_slice(&u64::from(chunks.saturating_sub(1)).to_le_bytes());
        file[24..32].copy_from_slice(&next_record.to_le_bytes());
        file[32..36].copy_from_slice(&128u32.to_le_bytes());
        file[36..38].copy_from_slice(&1u16.to_le_bytes());
        file[38..40].copy_from_slice(&3u16.to_le_bytes());
        file[40..42].copy_from_slice(&(FILE_HEADER as u16).to_le_bytes());
        file[42..44].copy_from_slice(&chunks.to_le_bytes());
        let crc = ::evtx::checksum_ieee(&file[..120]);
        file[124..128].copy_from_slice(&crc.to_le_bytes());
    }

    /// A BinXML stream at chunk offset `base`; names are written inline where first used.
    struct BinXml {
        base: u32,
        bytes: Vec<u8>,
    }

    impl BinXml {
        fn at(base: u32) -> BinXml {
            BinXml { base, bytes: Vec::new() }
        }

        fn pos(&self) -> u32 {
            self.base + self.bytes.len() as u32
        }

        fn u8(&mut self, v: u8) -> &mut Self {
            self.bytes.push(v);
            self
        }

        fn u16(&mut self, v: u16) -> &mut Self {
            self.bytes.extend(v.to_le_bytes());
            self
        }

        fn u32(&mut self, v: u32) -> &mut Self {
            self.bytes.extend(v.to_le_bytes());
            self
        }

        fn utf16(&mut self, text: &str) -> &mut Self {
            for unit in text.encode_utf16() {
                self.u16(unit);
            }
            self
        }

        fn fragment_header(&mut self) -> &mut Self {
            self.bytes.extend([0x0f, 1, 1, 0]);
            self
        }

        /// A name reference whose string follows: next string, hash, length, UTF-16, NUL.
        fn name(&mut self, name: &str) -> &mut Self {
            let at = self.pos() + 4;
            self.u32(at).u32(0).u16(0).u16(name.encode_utf16().count() as u16).utf16(name).u16(0)
        }

        /// An element start; in a template definition with a dependency id (none).
        fn open(&mut self, name: &str, attributes: bool, in_template: bool) -> &mut Self {
            self.u8(if attributes { 0x41 } else { 0x01 });
            if in_template {
                self.u16(0xffff);
            }
            self.u32(0).name(name);
            if attributes {
                self.u32(0);
            }
            self
        }

        fn attribute(&mut self, name: &str, value: &str) -> &mut Self {
            self.u8(0x06).name(name).text(value)
        }

        fn text(&mut self, text: &str) -> &mut Self {
            self.u8(0x05).u8(0x01).u16(text.encode_utf16().count() as u16).utf16(text)
        }

        fn close_start(&mut self) -> &mut Self {
            self.u8(0x02)
        }

        fn close_empty(&mut self) -> &mut Self {
            self.u8(0x03)
        }

        fn end(&mut self) -> &mut Self {
            self.u8(0x04)
        }

        /// `<System>` with the fields the readers use; `value` writes each field's content.
        fn system(&mut self, event: &Value, in_template: bool, value: &mut dyn FnMut(&mut BinXml, &str, &Value)) {
            let system = &event["Event"]["System"];
            self.open("System", false, in_template).close_start();
            self.open("Provider", true, in_template).attribute("Name", "Microsoft-Windows-Sysmon").close_empty();
            for key in ["EventID", "Channel", "Computer", "EventRecordID"] {
                self.open(key, false, in_template).close_start();
                value(self, key, &system[key]);
                self.end();
            }
            let created = system["TimeCreated"]["#attributes"]["SystemTime"].as_str().unwrap_or_default();
            self.open("TimeCreated", true, in_template).attribute("SystemTime", created).close_empty();
            self.end();
        }

        /// `<Event>` written out with direct elements and values.
        fn event_elements(&mut self, event: &Value) {
            self.open("Event", false, false).close_start();
            self.system(event, false, &mut |b, _, v| {
                b.text(&plain(v));
            });
            self.open("EventData", false, false).close_start();
            for (key, value) in event["Event"]["EventData"].as_object().into_iter().flatten() {
                self.open("Data", true, false).attribute("Name", key).close_start().text(&plain(value)).end();
            }
            self.end().end();
        }

        /// `<Event>` as an instance of a template defined inline, its values substituted.
        fn event_template(&mut self, event: &Value) {
            let mut values: Vec<String> = Vec::new();
            self.u8(0x0c).u8(0x01).u32(1);
            let definition = self.pos() + 4;
            self.u32(definition).u32(0).bytes.extend([0xab; 16]);
            let mut body = BinXml::at(definition + 24);
            body.fragment_header();
            body.open("Event", false, true).close_start();
            body.system(event, true, &mut |b, _, v| {
                b.u8(0x0d).u16(values.len() as u16).u8(0x01);
                values.push(plain(v));
            });
            body.open("EventData", false, true).close_start();
            for (key, value) in event["Event"]["EventData"].as_object().into_iter().flatten() {
                body.open("Data", true, true).attribute("Name", key).close_start();
                body.u8(0x0d).u16(values.len() as u16).u8(0x01).end();
                values.push(plain(value));
            }
            body.end().end().u8(0x00);
            self.u32(body.bytes.len() as u32);
            self.bytes.extend(&body.bytes);
            let encoded: Vec<Vec<u8>> = values.iter().map(|v| v.encode_utf16().flat_map(u16::to_le_bytes).collect()).collect();
            self.u32(encoded.len() as u32);
            for v in &encoded {
                self.u16(v.len() as u16).u8(0x01).u8(0);
            }
            for v in &encoded {
                self.bytes.extend(v);
            }
        }
    }

    /// A JSON value as the text of an XML element.
    fn plain(value: &Value) -> String {
        match value {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        }
    }
}

/// MaxMind DB files (format 2.0): a binary search tree of 24-bit records over the address
/// bits, 16 zero bytes, the data section, then the metadata after its marker.
mod mmdb {
    /// A value of the data section.
    enum V {
        Str(&'static str),
        U32(u32),
        U16(u16),
        U64(u64),
        Bool(bool),
        Map(Vec<(&'static str, V)>),
        Array(Vec<V>),
    }

    fn control(out: &mut Vec<u8>, kind: u8, size: usize) {
        let (low, extra): (u8, Vec<u8>) = match size {
            0..=28 => (size as u8, Vec::new()),
            29..=284 => (29, vec![(size - 29) as u8]),
            _ => (30, ((size - 285) as u16).to_be_bytes().to_vec()),
        };
        if kind <= 7 {
            out.push((kind << 5) | low);
        } else {
            out.push(low);
            out.push(kind - 7);
        }
        out.extend(extra);
    }

    fn encode(out: &mut Vec<u8>, value: &V) {
        let uint = |out: &mut Vec<u8>, kind: u8, bytes: &[u8]| {
            let skip = bytes.iter().take_while(|b| **b == 0).count();
            control(out, kind, bytes.len() - skip);
            out.extend(&bytes[skip..]);
        };
        match value {
            V::Str(s) => {
                control(out, 2, s.len());
                out.extend(s.as_bytes());
            }
            V::U16(v) => uint(out, 5, &v.to_be_bytes()),
            V::U32(v) => uint(out, 6, &v.to_be_bytes()),
            V::U64(v) => uint(out, 9, &v.to_be_bytes()),
            V::Bool(b) => control(out, 14, usize::from(*b)),
            V::Map(pairs) => {
                control(out, 7, pairs.len());
                for (key, value) in pairs {
                    encode(out, &V::Str(key));
                    encode(out, value);
                }
            }
            V::Array(items) => {
                control(out, 11, items.len());
                for item in items {
                    encode(out, item);
                }
            }
        }
    }

    #[derive(Clone, Copy)]
    enum Rec {
        Empty,
        Node(u32),
        Data(u32),
    }

    /// A database of `database_type` over `bits`-bit addresses (32 or 128) holding `records`
    /// for the networks (prefix bits, prefix length).
    fn database(database_type: &'static str, bits: u32, networks: &[(u128, u32, V)]) -> Vec<u8> {
        let mut data = Vec::new();
        let mut nodes: Vec<[Rec; 2]> = vec![[Rec::Empty; 2]];
        for (prefix, len, value) in networks {
            let offset = data.len() as u32;
            encode(&mut data, value);
            let mut node = 0usize;
            for i in 0..*len {
                let bit = ((prefix >> (bits - 1 - i)) & 1) as usize;
                if i + 1 == *len {
                    nodes[node][bit] = Rec::Data(offset);
                } else {
                    node = match nodes[node][bit] {
                        Rec::Node(n) => n as usize,
                        _ => {
                            nodes.push([Rec::Empty; 2]);
                            let n = nodes.len() - 1;
                            nodes[node][bit] = Rec::Node(n as u32);
                            n
                        }
                    };
                }
            }
        }
        let count = nodes.len() as u32;
        let mut out = Vec::new();
        for node in &nodes {
            for rec in node {
                let value = match *rec {
                    Rec::Empty => count,
                    Rec::Node(n) => n,
                    Rec::Data(offset) => count + 16 + offset,
                };
                out.extend(&value.to_be_bytes()[1..]);
            }
        }
        out.extend([0; 16]);
        out.extend(data);
        out.extend(b"\xab\xcd\xefMaxMind.com");
        let metadata = V::Map(vec![
            ("binary_format_major_version", V::U16(2)),
            ("binary_format_minor_version", V::U16(0)),
            ("build_epoch", V::U64(1_700_000_000)),
            ("database_type", V::Str(database_type)),
            ("description", V::Map(vec![("en", V::Str("dnshunt fuzz seed"))])),
            ("ip_version", V::U16(if bits == 32 { 4 } else { 6 })),
            ("languages", V::Array(vec![V::Str("en")])),
            ("node_count", V::U32(count)),
            ("record_size", V::U16(24)),
        ]);
        encode(&mut out, &metadata);
        out
    }

    fn v4(a: u8, b: u8, c: u8, d: u8) -> u128 {
        u128::from(u32::from_be_bytes([a, b, c, d]))
    }

    /// City, Country, ASN and Anonymous-IP databases, IPv6 with IPv4 under `::/96` as MaxMind
    /// builds them. (An IPv4-only database is refused by `GeoDb::new`: its IPv6 probe fails.)
    pub fn databases() -> Vec<Vec<u8>> {
        let gb = || V::Map(vec![("iso_code", V::Str("GB"))]);
        let city = database(
            "GeoLite2-City",
            128,
            &[
                (
                    v4(81, 2, 69, 0),
                    120,
                    V::Map(vec![("country", gb()), ("city", V::Map(vec![("names", V::Map(vec![("en", V::Str("London"))]))]))]),
                ),
                (v4(2, 125, 160, 216), 125, V::Map(vec![("registered_country", gb())])),
            ],
        );
        let country = database(
            "GeoLite2-Country",
            128,
            &[
                (v4(81, 2, 69, 0), 120, V::Map(vec![("country", gb())])),
                (0x2001_4860u128 << 96, 32, V::Map(vec![("country", V::Map(vec![("iso_code", V::Str("US"))]))])),
            ],
        );
        let asn = database(
            "GeoLite2-ASN",
            128,
            &[(
                v4(1, 128, 0, 0),
                107,
                V::Map(vec![
                    ("autonomous_system_number", V::U32(1221)),
                    ("autonomous_system_organization", V::Str("Telstra Pty Ltd")),
                ]),
            )],
        );
        let anonymous = database(
            "GeoIP2-Anonymous-IP",
            128,
            &[(
                v4(81, 2, 69, 0),
                120,
                V::Map(vec![
                    ("is_anonymous", V::Bool(true)),
                    ("is_tor_exit_node", V::Bool(true)),
                    ("is_hosting_provider", V::Bool(true)),
                ]),
            )],
        );
        vec![city, country, asn, anonymous]
    }
}

/// Seeds of the wire readers, built here byte by byte.
mod wire {
    /// A DNS message: `id`, `flags`, one question for `name` (wire form) of `qtype`, and
    /// answers as (name bytes, type, data).
    fn message(id: u16, flags: u16, name: &[u8], qtype: u16, answers: &[(&[u8], u16, &[u8])]) -> Vec<u8> {
        let mut m = Vec::new();
        for v in [id, flags, 1, answers.len() as u16, 0, 0] {
            m.extend_from_slice(&v.to_be_bytes());
        }
        m.extend_from_slice(name);
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&1u16.to_be_bytes());
        for (owner, rtype, data) in answers {
            m.extend_from_slice(owner);
            m.extend_from_slice(&rtype.to_be_bytes());
            m.extend_from_slice(&1u16.to_be_bytes());
            m.extend_from_slice(&60u32.to_be_bytes());
            m.extend_from_slice(&(data.len() as u16).to_be_bytes());
            m.extend_from_slice(data);
        }
        m
    }

    const NAME: &[u8] = b"\x0c0123456789ab\x06tunnel\x07example\x00";

    pub fn messages() -> Vec<Vec<u8>> {
        vec![
            message(1, 0x0100, NAME, 16, &[]),
            message(1, 0x8180, NAME, 16, &[(b"\xc0\x0c", 16, b"\x05hello"), (b"\xc0\x0c", 5, b"\x03cdn\xc0\x13")]),
            message(2, 0x8400, b"\x04a\x00\xffb\x06pirate\x03sea\x00", 10, &[(b"\xc0\x0c", 10, b"VACK\x00\x01")]),
            message(3, 0x8183, NAME, 1, &[]),
        ]
    }

    /// An Ethernet/IPv4 frame carrying `l4` (UDP 17 or TCP 6) between the client 10.0.0.5 and
    /// the server 10.0.0.53 (`to_server` gives the direction); checksums left zero.
    fn frame(proto: u8, to_server: bool, l4: &[u8]) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
        let total = (20 + l4.len()) as u16;
        let (src, dst) = if to_server { ([10, 0, 0, 5], [10, 0, 0, 53]) } else { ([10, 0, 0, 53], [10, 0, 0, 5]) };
        f.extend_from_slice(&[0x45, 0, (total >> 8) as u8, total as u8, 0, 0, 0x40, 0, 64, proto, 0, 0]);
        f.extend_from_slice(&src);
        f.extend_from_slice(&dst);
        f.extend_from_slice(l4);
        f
    }

    fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut u = Vec::new();
        for v in [sport, dport, (8 + payload.len()) as u16, 0] {
            u.extend_from_slice(&v.to_be_bytes());
        }
        u.extend_from_slice(payload);
        frame(17, sport > 1024, &u)
    }

    fn tcp(sport: u16, dport: u16, seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
        let mut t = Vec::new();
        t.extend_from_slice(&sport.to_be_bytes());
        t.extend_from_slice(&dport.to_be_bytes());
        t.extend_from_slice(&seq.to_be_bytes());
        t.extend_from_slice(&0u32.to_be_bytes());
        t.extend_from_slice(&[0x50, flags, 0x04, 0x00, 0, 0, 0, 0]);
        t.extend_from_slice(payload);
        frame(6, sport > 1024, &t)
    }

    /// A microsecond pcap: a UDP question and its answer, an HTTPS connection start, and a TCP
    /// DNS question split across two segments.
    pub fn capture() -> Vec<u8> {
        let ms = messages();
        let mut framed = (ms[0].len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&ms[0]);
        let frames = [
            udp(40000, 53, &ms[0]),
            udp(53, 40000, &ms[1]),
            tcp(40002, 443, 100, 0x02, &[]),
            tcp(40001, 53, 101, 0x18, &framed[..5]),
            tcp(40001, 53, 106, 0x18, &framed[5..]),
        ];
        let mut out = Vec::new();
        out.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
        out.extend_from_slice(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0]);
        for (i, f) in frames.iter().enumerate() {
            out.extend_from_slice(&(1_700_000_000u32 + i as u32).to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&(f.len() as u32).to_le_bytes());
            out.extend_from_slice(&(f.len() as u32).to_le_bytes());
            out.extend_from_slice(f);
        }
        out
    }

    pub const ZEEK_TSV: &str = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tdns\n\
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\ttrans_id\trtt\tquery\tqclass\tqclass_name\tqtype\tqtype_name\trcode\trcode_name\tAA\tTC\tRD\tRA\tZ\tanswers\tTTLs\trejected\n\
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tcount\tinterval\tstring\tcount\tstring\tcount\tstring\tcount\tstring\tbool\tbool\tbool\tbool\tcount\tvector[string]\tvector[interval]\tbool\n\
13.18\tC1\t10.0.0.5\t50814\t10.0.0.53\t53\tudp\t51541\t0.001\tvocyzit.com\t1\tC_INTERNET\t1\tA\t3\tNXDOMAIN\tF\tF\tT\tT\t0\t-\t-\tF\n\
13.20\tC2\t10.0.0.5\t50815\t10.0.0.53\t53\tudp\t51542\t0.001\twww.example.com\t1\tC_INTERNET\t1\tA\t0\tNOERROR\tF\tF\tT\tT\t0\tcdn.example.net,93.184.216.34\t60.0,60.0\tF\n";

    pub const ZEEK_JSON: &str = "{\"ts\":22.3,\"uid\":\"C6\",\"id.orig_h\":\"10.0.2.15\",\"id.orig_p\":61099,\"id.resp_h\":\"147.32.80.9\",\"id.resp_p\":53,\"proto\":\"udp\",\"service\":\"dns\",\"duration\":0.09,\"orig_bytes\":50,\"resp_bytes\":0,\"conn_state\":\"S0\"}\n\
{\"ts\":\"2024-03-12T08:49:20.611Z\",\"uid\":\"C7\",\"id\":{\"orig_h\":\"10.0.2.15\",\"orig_p\":5,\"resp_h\":\"10.0.2.3\",\"resp_p\":53},\"proto\":\"udp\",\"query\":\"a.example.org\",\"qtype\":16,\"rcode\":0,\"answers\":[\"TXT 5 hello\"],\"TTLs\":[60.0]}\n";

    pub const EVE: &str = "{\"timestamp\":\"2022-05-08T11:22:03.482667+0300\",\"flow_id\":1,\"event_type\":\"dns\",\"src_ip\":\"192.168.0.10\",\"src_port\":51659,\"dest_ip\":\"192.168.0.20\",\"dest_port\":53,\"proto\":\"UDP\",\"dns\":{\"type\":\"query\",\"id\":13182,\"rrname\":\"m84aagadba.example.attack\",\"rrtype\":\"TXT\",\"tx_id\":0}}\n\
{\"timestamp\":\"2022-05-08T11:22:03.983950+0300\",\"flow_id\":1,\"event_type\":\"dns\",\"src_ip\":\"192.168.0.10\",\"src_port\":51659,\"dest_ip\":\"192.168.0.20\",\"dest_port\":53,\"proto\":\"UDP\",\"dns\":{\"version\":2,\"type\":\"answer\",\"id\":13182,\"flags\":\"8580\",\"qr\":true,\"aa\":true,\"rrname\":\"m84aagadba.example.attack\",\"rrtype\":\"TXT\",\"rcode\":\"NOERROR\",\"answers\":[{\"rrname\":\"m84aagadba.example.attack\",\"rrtype\":\"TXT\",\"ttl\":3,\"rdata\":\"AM84AAAADEA\"}]}}\n\
{\"timestamp\":\"2022-05-08T11:22:04.000000+0300\",\"flow_id\":2,\"event_type\":\"dns\",\"src_ip\":\"10.0.0.5\",\"src_port\":5000,\"dest_ip\":\"10.0.0.53\",\"dest_port\":53,\"proto\":\"UDP\",\"dns\":{\"type\":\"answer\",\"id\":9,\"rrname\":\"x.example.com\",\"rrtype\":\"A\",\"ttl\":60,\"rdata\":\"192.0.2.1\",\"rcode\":\"NOERROR\"}}\n\
{\"timestamp\":\"2022-05-08T11:22:05.000000+0300\",\"flow_id\":3,\"event_type\":\"dns\",\"src_ip\":\"10.0.0.5\",\"src_port\":5001,\"dest_ip\":\"10.0.0.53\",\"dest_port\":53,\"proto\":\"UDP\",\"dns\":{\"version\":3,\"type\":\"response\",\"id\":10,\"rcode\":\"NXDOMAIN\",\"queries\":[{\"rrname\":\"qegyqaq.com\",\"rrtype\":\"A\"}]}}\n\
{\"timestamp\":\"2022-05-08T11:22:14.173006+0300\",\"flow_id\":4,\"event_type\":\"tls\",\"src_ip\":\"192.168.0.30\",\"src_port\":45574,\"dest_ip\":\"1.1.1.1\",\"dest_port\":443,\"proto\":\"TCP\",\"tls\":{\"sni\":\"cloudflare-dns.com\",\"version\":\"TLS 1.3\"}}\n\
{\"timestamp\":\"2022-05-08T11:22:02.440903+0300\",\"flow_id\":5,\"event_type\":\"flow\",\"src_ip\":\"127.0.0.1\",\"src_port\":33706,\"dest_ip\":\"127.0.0.1\",\"dest_port\":8053,\"proto\":\"TCP\",\"app_proto\":\"http\",\"flow\":{\"bytes_toserver\":804,\"bytes_toclient\":1026,\"start\":\"2022-05-08T11:22:15.643528+0300\",\"end\":\"2022-05-08T11:22:15.713755+0300\"}}\n\
{\"timestamp\":\"2022-05-08T11:22:06Z\",\"event_type\":\"alert\",\"src_ip\":\"1.2.3.4\",\"dest_ip\":\"5.6.7.8\"}\n";
}
