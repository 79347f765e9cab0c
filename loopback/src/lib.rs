//! A loopback HTTPS server on rustls, with a CA and a `localhost`
//! certificate made for each run: what `memtls demo` fetches from, and the
//! plain HTTPS peer of the tests and benchmarks (no program to install).

#![warn(missing_docs)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A CA and a server certificate for `localhost`, generated now.
pub struct Certs {
    /// The CA certificate (PEM).
    pub ca_pem: String,
    /// The server chain (PEM).
    pub chain_pem: String,
    /// The server key (PKCS#8 PEM).
    pub key_pem: String,
}

impl Certs {
    /// Generates the certificates.
    pub fn generate() -> std::io::Result<Self> {
        Self::make().map_err(std::io::Error::other)
    }

    fn make() -> Result<Self, rcgen::Error> {
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "memtls demo CA");
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate()?)?;
        let key = KeyPair::generate()?;
        let mut leaf =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])?;
        leaf.distinguished_name
            .push(rcgen::DnType::CommonName, "localhost");
        let leaf = leaf.signed_by(&key, &ca)?;
        Ok(Self {
            ca_pem: ca.pem(),
            chain_pem: leaf.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// Starts a loopback HTTPS server (native rustls) that answers every request with
/// `body_len` bytes, on a background thread, after reading and discarding the
/// request's body (its `Content-Length`). Returns its port.
pub fn start_https_server(certs: &Certs, body_len: usize) -> std::io::Result<u16> {
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(certs.chain_pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(std::io::Error::other)?;
    let key =
        PrivateKeyDer::from_pem_slice(certs.key_pem.as_bytes()).map_err(std::io::Error::other)?;
    // X25519MLKEM768 first, as browsers and CDNs serve it (memtls's hybrid:
    // the server's side of the demo).
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        memtls_engine::post_quantum_first(rustls::crypto::ring::default_provider()),
    ))
    .with_safe_default_protocol_versions()
    .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key))
    .map_err(std::io::Error::other)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let body: Arc<Vec<u8>> = Arc::new((0..body_len).map(|i| b'a' + (i % 26) as u8).collect());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (config, body) = (config.clone(), body.clone());
            std::thread::spawn(move || {
                if let Err(e) = serve(stream, config, &body) {
                    eprintln!("loopback server: {e}");
                }
            });
        }
    });
    Ok(port)
}

fn serve(stream: TcpStream, config: Arc<rustls::ServerConfig>, body: &[u8]) -> std::io::Result<()> {
    // Headers and body go out as separate records: without this, Nagle's algorithm
    // and the client's delayed ACK add ~40 ms to every request.
    stream.set_nodelay(true)?;
    let conn = rustls::ServerConnection::new(config).map_err(std::io::Error::other)?;
    let mut tls = rustls::StreamOwned::new(conn, stream);
    let mut reader = BufReader::new(&mut tls);
    let mut content_length = 0u64;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            content_length = value.trim().parse().map_err(std::io::Error::other)?;
        }
    }
    std::io::copy(
        &mut (&mut reader).take(content_length),
        &mut std::io::sink(),
    )?;
    drop(reader);
    write!(
        tls,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    tls.write_all(body)?;
    tls.conn.send_close_notify();
    tls.flush()?;
    let mut rest = Vec::new();
    let _ = tls.read_to_end(&mut rest);
    Ok(())
}
