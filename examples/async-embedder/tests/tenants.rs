//! The async embedder serves tenants concurrently through each provider:
//! `openssl s_client` (a client nobody here wrote) verifies each tenant's
//! certificate and hears its line echoed, the clients of all tenants at once.

use std::time::Duration;

use memtls_async_embedder::{Program, Tenants, serve};
use memtls_test_harness::peers::{Files, Version, echoes, free_port};

#[test]
fn tenants_serve_concurrently_on_every_provider() {
    let files = Files::new("async-embedder");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for provider in memtls_host::Provider::ALL {
        let tenants = Tenants {
            program: Program::EchoServer,
            ports: (0..3).map(|_| free_port()).collect(),
            provider,
            dir: files.dir.clone(),
            chain: "server.chain".into(),
            key: "server.key".into(),
            // A probe (below) and two clients each.
            connections: Some(3),
            args: Vec::new(),
        };
        let serving = {
            let tenants = tenants.clone();
            runtime.spawn(async move { serve(&tenants).await })
        };
        // Every tenant listens: a plain TCP probe connects (and closes, which
        // the tenant reports as a failed connection).
        for &port in &tenants.ports {
            let start = std::time::Instant::now();
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    start.elapsed() < Duration::from_secs(60),
                    "{provider}: nothing listens on {port}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        // Two clients per tenant, all tenants' clients at once.
        std::thread::scope(|scope| {
            for (tenant, &port) in tenants.ports.iter().enumerate() {
                for client in 0..2 {
                    let files = &files;
                    scope.spawn(move || {
                        let line = format!("{provider} tenant {tenant} client {client}");
                        assert!(
                            echoes(
                                "openssl",
                                port,
                                files,
                                Version::Tls13,
                                false,
                                &line,
                                Duration::from_secs(60)
                            ),
                            "{provider}: tenant {tenant} did not echo {line:?}"
                        );
                    });
                }
            }
        });
        let finished = runtime.block_on(serving).unwrap().expect("the embedder");
        assert_eq!(finished.len(), 3, "{provider}");
        for f in &finished {
            assert!(f.ok, "{provider}: tenant {} failed: {}", f.tenant, f.output);
            assert_eq!(
                f.output.matches("memtls-accepted").count(),
                2,
                "{provider}: tenant {} reports: {}",
                f.tenant,
                f.output
            );
        }
    }
}
