//! A loopback HTTP server that replays canned answers, for tests of this crate and of its
//! users: the Elasticsearch 8 shapes (`/_pit`, `X-Elastic-Product`, ES error bodies, 429 bulk
//! items) that the OpenSearch test node cannot produce, and faults (overload, silence).
//!
//! Each answer is chosen by the first rule whose method and path prefix match the request;
//! a rule with `times` set is used that many times and then skipped. Every request is
//! recorded for assertions. Binds `127.0.0.1:0` only.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// One canned answer.
#[derive(Clone, Debug)]
pub struct Rule {
    pub method: String,
    pub path_prefix: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// Use this rule at most this many times.
    pub times: Option<usize>,
    /// Wait this long before answering (timeouts).
    pub delay: Duration,
}

impl Rule {
    pub fn new(method: &str, path_prefix: &str, status: u16, body: &str) -> Rule {
        Rule {
            method: method.to_owned(),
            path_prefix: path_prefix.to_owned(),
            status,
            headers: Vec::new(),
            body: body.to_owned(),
            times: None,
            delay: Duration::ZERO,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Rule {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn times(mut self, n: usize) -> Rule {
        self.times = Some(n);
        self
    }

    pub fn delay(mut self, d: Duration) -> Rule {
        self.delay = d;
        self
    }
}

/// A request the server saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// The server; it stops when dropped (after its current connections end).
#[derive(Debug)]
pub struct CannedServer {
    pub url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl CannedServer {
    /// Starts serving `rules` on `127.0.0.1` at a free port.
    pub fn start(rules: Vec<Rule>) -> CannedServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let rules = Arc::new(Mutex::new(rules.into_iter().map(|r| (r, 0usize)).collect::<Vec<_>>()));
        let seen = requests.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (rules, seen) = (rules.clone(), seen.clone());
                thread::spawn(move || serve(stream, &rules, &seen));
            }
        });
        CannedServer { url, requests }
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().expect("lock").clone()
    }
}

type Rules = Mutex<Vec<(Rule, usize)>>;

/// Reads one HTTP/1.1 request (request line, headers, a `Content-Length` or chunked body) from
/// `reader`; `None` at the end of the connection or when it breaks off. Also for servers of
/// other transports (the TLS test's).
pub fn read_request(reader: &mut impl BufRead) -> Option<Recorded> {
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return None;
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let path = parts.next().unwrap_or("").to_owned();
    let mut headers = Vec::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked"));
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).ok()?;
    if chunked {
        loop {
            let mut size_line = String::new();
            if reader.read_line(&mut size_line).unwrap_or(0) == 0 {
                return None;
            }
            let size = usize::from_str_radix(size_line.trim(), 16).unwrap_or(0);
            let mut chunk = vec![0u8; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }
    Some(Recorded {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn serve(stream: TcpStream, rules: &Rules, seen: &Mutex<Vec<Recorded>>) {
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_request(&mut reader) {
        let (method, path) = (request.method.clone(), request.path.clone());
        seen.lock().expect("lock").push(request);
        let rule = {
            let mut rules = rules.lock().expect("lock");
            let found = rules
                .iter_mut()
                .find(|(r, used)| r.method == method && path.starts_with(&r.path_prefix) && r.times.is_none_or(|t| *used < t));
            found.map(|(r, used)| {
                *used += 1;
                r.clone()
            })
        };
        let rule = rule.unwrap_or_else(|| Rule::new(&method, &path, 404, r#"{"error":"no canned answer"}"#));
        if !rule.delay.is_zero() {
            thread::sleep(rule.delay);
        }
        let reason = match rule.status {
            200 => "OK",
            201 => "Created",
            400 => "Bad Request",
            401 => "Unauthorized",
            404 => "Not Found",
            429 => "Too Many Requests",
            503 => "Service Unavailable",
            _ => "Status",
        };
        let mut head = format!(
            "HTTP/1.1 {} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
            rule.status,
            rule.body.len()
        );
        for (n, v) in &rule.headers {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        head.push_str("\r\n");
        if writer.write_all(head.as_bytes()).is_err() || writer.write_all(rule.body.as_bytes()).is_err() {
            return;
        }
        let _ = writer.flush();
    }
}
