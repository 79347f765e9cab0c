//! `memtls-async-embedder`: see the crate documentation.

use std::path::Path;
use std::process::ExitCode;

use memtls_async_embedder::{Program, Tenants, serve};

fn usage() -> ExitCode {
    eprintln!(
        "usage: memtls-async-embedder --cert CHAIN --key KEY [--tenants N] [--port FIRST] \
         [--tls native|guest|openssl] [--connections K] [--program tls-echo-server|https-server]"
    );
    ExitCode::from(2)
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (mut cert, mut key) = (None, None);
    let (mut count, mut first_port) = (4u16, 4433u16);
    let mut tenants = Tenants {
        program: Program::EchoServer,
        ports: Vec::new(),
        provider: memtls_host::Provider::Native,
        dir: ".".into(),
        chain: String::new(),
        key: String::new(),
        connections: None,
        args: Vec::new(),
    };
    while let Some(arg) = args.next() {
        let Some(value) = args.next() else {
            return usage();
        };
        let parsed: Result<(), String> = match arg.as_str() {
            "--cert" => {
                cert = Some(value.clone());
                Ok(())
            }
            "--key" => {
                key = Some(value.clone());
                Ok(())
            }
            "--tenants" => value.parse().map(|n| count = n).map_err(|e| format!("{e}")),
            "--port" => value
                .parse()
                .map(|p| first_port = p)
                .map_err(|e| format!("{e}")),
            "--tls" => value.parse().map(|p| tenants.provider = p),
            "--program" => value.parse().map(|p| tenants.program = p),
            "--connections" => value
                .parse()
                .map(|k| tenants.connections = Some(k))
                .map_err(|e| format!("{e}")),
            _ => return usage(),
        };
        if let Err(e) = parsed {
            eprintln!("memtls-async-embedder: {arg} {value}: {e}");
            return ExitCode::from(2);
        }
    }
    let (Some(cert), Some(key)) = (cert, key) else {
        return usage();
    };
    let Some(last) = first_port.checked_add(count.saturating_sub(1)) else {
        eprintln!("memtls-async-embedder: {count} tenants from port {first_port} pass 65535");
        return ExitCode::from(2);
    };
    tenants.ports = (first_port..=last).take(usize::from(count)).collect();
    let (cert, key) = (Path::new(&cert), Path::new(&key));
    if cert.parent() != key.parent() {
        eprintln!("memtls-async-embedder: --cert and --key must be in one directory");
        return ExitCode::from(2);
    }
    tenants.dir = cert
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    tenants.chain = cert
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into();
    tenants.key = key.file_name().unwrap_or_default().to_string_lossy().into();
    match serve(&tenants).await {
        Ok(finished) => {
            for f in &finished {
                for line in f.output.lines() {
                    println!("tenant {}: {line}", f.tenant);
                }
            }
            if finished.iter().all(|f| f.ok) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("memtls-async-embedder: {e:#}");
            ExitCode::FAILURE
        }
    }
}
