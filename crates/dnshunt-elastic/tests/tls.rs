//! TLS against a real handshake: a loopback HTTPS server (rustls) whose certificate for
//! `127.0.0.1` and `localhost` is signed by a CA made at test time (rcgen; no key material is
//! checked in). The client must trust that CA when given it (`--es-ca`), refuse the certificate
//! without it or with another CA (with a hint, without credentials, without retrying), accept
//! anything with `--insecure`, and send basic-auth credentials from the URL only inside TLS.

use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use dnshunt_elastic::testkit::{read_request, Recorded};
use dnshunt_elastic::{Client, ClientConfig, Distribution, EsError, Method};
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

const OPENSEARCH_ROOT: &str = r#"{"version":{"distribution":"opensearch","number":"2.19.6"},"tagline":"The OpenSearch Project: https://opensearch.org/"}"#;

/// A CA made for one test: its certificate as PEM and what signs with its key.
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    /// `common_name` is the subject; two CAs with the same name differ only by key.
    fn new(common_name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("no names");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate().expect("CA key");
        let cert = params.self_signed(&key).expect("self-signed CA");
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for `127.0.0.1` and `localhost`, signed by this CA, with its key.
    fn server_cert(&self) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).expect("valid names");
        params.distinguished_name.push(DnType::CommonName, "localhost");
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().expect("server key");
        let cert = params.signed_by(&key, &self.issuer).expect("signed by the CA");
        (cert.der().clone(), PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())))
    }

    /// The CA certificate in a PEM file, removed when the guard is dropped.
    fn pem_file(&self, label: &str) -> TempFile {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!("dnshunt-elastic-tls-{}-{}-{label}.pem", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        let path = std::env::temp_dir().join(name);
        std::fs::write(&path, &self.pem).expect("write CA PEM");
        TempFile(path)
    }
}

struct TempFile(PathBuf);

impl TempFile {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// What the server saw, in order per connection.
#[derive(Debug)]
enum Seen {
    /// A TLS handshake: completed, or failed with rustls' reason.
    Handshake(Result<(), String>),
    Request(Recorded),
}

/// A loopback HTTPS server answering `GET /` as OpenSearch 2.19.6 (keep-alive, Content-Length).
struct TlsServer {
    port: u16,
    seen: Receiver<Seen>,
}

impl TlsServer {
    fn start(ca: &Ca) -> TlsServer {
        let (chain, key) = ca.server_cert();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(vec![chain], key)
            .expect("server certificate and key");
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        let (tx, seen) = mpsc::channel();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (config, tx) = (config.clone(), tx.clone());
                thread::spawn(move || serve(stream, config, &tx));
            }
        });
        TlsServer { port, seen }
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// The next thing the server saw (a failed handshake may be noticed by the server only
    /// after the client has already given up, so this waits for it).
    fn next(&self) -> Seen {
        self.seen.recv_timeout(Duration::from_secs(10)).expect("the server saw something")
    }

    /// Everything seen so far that has already been reported.
    fn drain(&self) -> Vec<Seen> {
        self.seen.try_iter().collect()
    }
}

fn serve(tcp: TcpStream, config: Arc<ServerConfig>, seen: &Sender<Seen>) {
    let conn = ServerConnection::new(config).expect("server connection");
    let mut tls = StreamOwned::new(conn, tcp);
    // Finish the handshake first, so that a refused certificate is recorded as such.
    while tls.conn.is_handshaking() {
        if let Err(e) = tls.conn.complete_io(&mut tls.sock) {
            let _ = seen.send(Seen::Handshake(Err(e.to_string())));
            return;
        }
    }
    let _ = seen.send(Seen::Handshake(Ok(())));
    let mut reader = BufReader::new(tls);
    // `None`: the end of the connection (the client's pool closing it, with or without close_notify).
    while let Some(request) = read_request(&mut reader) {
        let (method, path) = (request.method.as_str(), request.path.as_str());
        let (status, answer) = match (method, path) {
            ("GET", "/") => ("200 OK", OPENSEARCH_ROOT.to_owned()),
            _ => (
                "404 Not Found",
                format!(r#"{{"error":"no handler found for uri [{path}] and method [{method}]","status":404}}"#),
            ),
        };
        let _ = seen.send(Seen::Request(request));
        let head = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json; charset=UTF-8\r\ncontent-length: {}\r\n\r\n",
            answer.len()
        );
        let tls = reader.get_mut();
        if tls.write_all(head.as_bytes()).is_err() || tls.write_all(answer.as_bytes()).is_err() || tls.flush().is_err() {
            return;
        }
    }
}

fn config(url: &str) -> ClientConfig {
    let mut c = ClientConfig::new(url);
    c.timeout = Duration::from_secs(5);
    c.backoff = Duration::from_millis(10);
    c.max_tries = 3;
    c
}

fn assert_opensearch(client: &Client) {
    let info = client.info().expect("detected");
    assert_eq!(info.distribution, Distribution::OpenSearch);
    assert_eq!(info.version, (2, 19, 6));
    assert_eq!(info.to_string(), "OpenSearch 2.19.6");
}

/// The server's side of a connection the client accepted: a completed handshake, then `GET /`.
fn expect_served_root(server: &TlsServer) -> Recorded {
    assert!(matches!(server.next(), Seen::Handshake(Ok(()))));
    match server.next() {
        Seen::Request(r) => {
            assert_eq!((r.method.as_str(), r.path.as_str()), ("GET", "/"));
            r
        }
        other => panic!("expected GET /, got {other:?}"),
    }
}

/// The server's side of a connection the client refused: one handshake that never completed
/// (the client hangs up), and no request.
fn expect_refused_handshake(server: &TlsServer) {
    match server.next() {
        Seen::Handshake(Err(_)) => {}
        other => panic!("expected a failed handshake, got {other:?}"),
    }
    let rest = server.drain();
    assert!(rest.is_empty(), "one connection, not retried, no request: {rest:?}");
}

/// A refused certificate: reported at once (not retried), naming TLS and `--es-ca`.
fn assert_tls_refusal(err: &EsError) -> String {
    let text = format!("{err} | {err:?}");
    assert!(matches!(err, EsError::Unreachable { tries: 1, .. }), "{text}");
    assert!(text.contains("TLS") && text.contains("--es-ca"), "{text}");
    text
}

#[test]
fn the_private_ca_given_with_es_ca_is_trusted() {
    let ca = Ca::new("dnshunt test CA");
    let ca_file = ca.pem_file("ca");
    let server = TlsServer::start(&ca);
    let mut c = config(&server.url());
    c.ca_file = Some(ca_file.path().to_owned());
    let client = Client::connect(&c).unwrap();
    assert_opensearch(&client);
    let root = expect_served_root(&server);
    assert_eq!(root.header("authorization"), None, "no credentials were given");
    // A second request rides the same TLS connection (keep-alive): no second handshake.
    let reply = client.request(Method::GET, "/_cluster/health", None, "GET /_cluster/health").unwrap();
    assert_eq!(reply.status, 404);
    match server.next() {
        Seen::Request(r) => assert_eq!(r.path, "/_cluster/health"),
        other => panic!("expected the second request on the pooled connection, got {other:?}"),
    }
    // The certificate names `localhost` too (a DNS name, where 127.0.0.1 is an IP address).
    let mut by_name = config(&format!("https://localhost:{}", server.port));
    by_name.ca_file = Some(ca_file.path().to_owned());
    assert_opensearch(&Client::connect(&by_name).unwrap());
    expect_served_root(&server);
}

#[test]
fn without_the_ca_the_certificate_is_refused_with_a_hint_and_no_credentials() {
    let ca = Ca::new("dnshunt test CA");
    let server = TlsServer::start(&ca);
    let secret = "hunter2-never-print-me";
    let url = format!("https://elastic:{secret}@127.0.0.1:{}", server.port);
    let err = Client::connect(&config(&url)).unwrap_err();
    let text = assert_tls_refusal(&err);
    assert!(text.contains("UnknownIssuer"), "the reason is kept: {text}");
    assert!(!text.contains(secret) && !text.contains("elastic:"), "{text}");
    assert!(text.contains(&format!("https://127.0.0.1:{}", server.port)), "names the cluster: {text}");
    expect_refused_handshake(&server);
    // The same server and credentials are fine once the CA is given: the refusal was the
    // certificate check, not the server.
    let ca_file = ca.pem_file("ca");
    let mut c = config(&url);
    c.ca_file = Some(ca_file.path().to_owned());
    assert_opensearch(&Client::connect(&c).unwrap());
    expect_served_root(&server);
}

#[test]
fn insecure_accepts_the_certificate_without_a_ca() {
    let ca = Ca::new("dnshunt test CA");
    let server = TlsServer::start(&ca);
    let mut c = config(&server.url());
    c.insecure = true;
    let client = Client::connect(&c).unwrap();
    assert_opensearch(&client);
    expect_served_root(&server);
}

#[test]
fn a_ca_that_did_not_sign_the_certificate_is_refused() {
    let ca = Ca::new("dnshunt test CA");
    let server = TlsServer::start(&ca);
    // Another CA, and an impostor with the signing CA's very name but its own key.
    for other in [Ca::new("another CA"), Ca::new("dnshunt test CA")] {
        let other_file = other.pem_file("other");
        let mut c = config(&server.url());
        c.ca_file = Some(other_file.path().to_owned());
        let err = Client::connect(&c).unwrap_err();
        assert_tls_refusal(&err);
        expect_refused_handshake(&server);
    }
    // Both CAs in one file: the right one is found.
    let other = Ca::new("another CA");
    let both = Ca {
        pem: format!("{}{}", other.pem, ca.pem),
        issuer: other.issuer,
    };
    let both_file = both.pem_file("both");
    let mut c = config(&server.url());
    c.ca_file = Some(both_file.path().to_owned());
    assert_opensearch(&Client::connect(&c).unwrap());
    expect_served_root(&server);
}

#[test]
fn basic_auth_from_the_url_reaches_the_server_inside_tls() {
    let ca = Ca::new("dnshunt test CA");
    let ca_file = ca.pem_file("ca");
    let server = TlsServer::start(&ca);
    // `%40` is `@`: the password is percent-decoded before it is encoded for the header.
    let mut c = config(&format!("https://elastic:s%40cret-pw@127.0.0.1:{}/", server.port));
    c.ca_file = Some(ca_file.path().to_owned());
    let client = Client::connect(&c).unwrap();
    assert_opensearch(&client);
    assert_eq!(client.url(), format!("https://127.0.0.1:{}", server.port));
    let root = expect_served_root(&server);
    // base64("elastic:s@cret-pw")
    assert_eq!(root.header("authorization"), Some("Basic ZWxhc3RpYzpzQGNyZXQtcHc="));
    assert_eq!(root.header("host"), Some(format!("127.0.0.1:{}", server.port).as_str()));
    assert!(root.headers.iter().all(|(_, v)| !v.contains("s@cret") && !v.contains("s%40cret")), "{:?}", root.headers);
}
