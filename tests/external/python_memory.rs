//! Memory stays flat while a Python program moves data through `ssl` in Wasm,
//! and while a Python asyncio TLS server in Wasm serves many connections at once.
//!
//! componentize-py 0.25.1 leaks every `bytes` argument of an imported function
//! (python/README.md); `memtls python build` fixes the components it builds. A
//! Python client (`python/tests/ssl_sender.py`) sends 64 MiB, then 576 MiB, to a
//! CPython TLS sink on each provider while this process samples its resident
//! memory: the larger run may not peak more than 128 MiB above the smaller one
//! (the leak made it 512 MiB more). A test binary of its own, so that no other
//! test shares the process being measured; its two tests take turns
//! ([`measuring`]).

use std::io::BufRead;
use std::sync::{Mutex, MutexGuard};

use memtls_external_tests::python_component;
use memtls_host::Policy;
use memtls_test_harness::peers::{Files, peak_while_sending, python_tls_sink, wasm_server};
use memtls_test_harness::resident_memory;

/// Holds the process for one measurement: the tests of this binary run one at a
/// time, or each would see the other's memory.
fn measuring() -> MutexGuard<'static, ()> {
    static PROCESS: Mutex<()> = Mutex::new(());
    PROCESS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[test]
fn sending_through_ssl_keeps_memory_flat() {
    let _turn = measuring();
    let files = Files::new("python-memory");
    let (_sink, port) = python_tls_sink(&files);
    let bytes = python_component("ssl_sender.py", Vec::new());
    for provider in memtls_test_harness::RUSTLS_PROVIDERS {
        let small = peak_while_sending(&bytes, provider, &files, port, 64);
        let large = peak_while_sending(&bytes, provider, &files, port, 576);
        let growth = large.saturating_sub(small) >> 20;
        println!("{provider}: 512 MiB more sent, peak {growth} MiB higher");
        assert!(
            growth < 128,
            "{provider}: sending 512 MiB more raised the peak by {growth} MiB: a leak"
        );
    }
}

/// CPython clients against the server in Wasm: `rounds` rounds of `concurrency`
/// connections at once, each sending a line and checking the answer; a line
/// `round N` after each round.
const CLIENT_POOL: &str = r#"
import asyncio, ssl, sys
port, rounds, concurrency, cafile = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
context = ssl.create_default_context(cafile=cafile)
async def one(n):
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context,
                                                   server_hostname="localhost")
    writer.write(f"hello {n}\n".encode())
    await writer.drain()
    answer = await reader.readline()
    writer.close()
    assert answer == f"HELLO {n}\n".encode(), answer
async def main():
    for r in range(1, rounds + 1):
        await asyncio.gather(*(one(n) for n in range(concurrency)))
        print(f"round {r}", flush=True)
        await asyncio.sleep(0.3)
asyncio.run(main())
"#;

#[test]
fn an_asyncio_server_serves_many_connections_with_flat_memory() {
    let _turn = measuring();
    const ROUNDS: usize = 5;
    const CONCURRENCY: usize = 200;
    let files = Files::new("python-asyncio-server");
    let bytes = python_component("asyncio_echo_server.py", Vec::new());
    for provider in memtls_test_harness::RUSTLS_PROVIDERS {
        let env = vec![(
            "MEMTLS_CONNECTIONS".into(),
            (ROUNDS * CONCURRENCY).to_string(),
        )];
        let (server, port) = wasm_server(
            &bytes,
            (provider, &Policy::default()),
            "asyncio_echo_server",
            env,
            &files,
        );
        let mut clients = std::process::Command::new("python3")
            .args(["-c", CLIENT_POOL, &port.to_string(), &ROUNDS.to_string()])
            .args([&CONCURRENCY.to_string(), &files.path("ca")])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3");
        let mut after_round = Vec::new();
        for line in std::io::BufReader::new(clients.stdout.take().unwrap()).lines() {
            let line = line.unwrap();
            if line.starts_with("round ") {
                after_round.push(resident_memory());
            }
        }
        assert!(
            clients.wait().unwrap().success(),
            "{provider}: a client failed"
        );
        let (code, said) = server.finish();
        assert_eq!(code, 0, "{provider}: {said}");
        assert!(
            said.contains(&format!("served {} connections", ROUNDS * CONCURRENCY)),
            "{provider}: {said}"
        );
        let growth = after_round[ROUNDS - 1].saturating_sub(after_round[0]) >> 20;
        println!(
            "{provider}: {} connections, {CONCURRENCY} at a time; resident memory after each round (MiB): {:?}",
            ROUNDS * CONCURRENCY,
            after_round.iter().map(|m| m >> 20).collect::<Vec<_>>()
        );
        assert!(
            growth < 64,
            "{provider}: memory grew {growth} MiB from the first round to the last"
        );
    }
}
