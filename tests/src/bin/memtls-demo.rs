//! `memtls demo`: one client and one server connection talking in memory,
//! through each provider, printed side by side. Offline; certificates are
//! generated on the spot.

use std::process::ExitCode;
use std::time::Instant;

use memtls_host::{Policy, Provider};
use memtls_tests::{Fixtures, Scenarios};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("memtls demo failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> wasmtime::Result<()> {
    println!("memtls demo: a TLS client and server inside one Wasm component, talking through");
    println!("memory, with memtls:tls served by each provider in turn.\n");
    let fixtures = Fixtures::generate()?;
    let mut columns = Vec::new();
    for provider in Provider::ALL {
        let start = Instant::now();
        let scenarios = Scenarios::load(provider, Policy::default())?;
        let load = start.elapsed();
        let mut rows = scenarios
            .demo(&fixtures)?
            .map_err(|e| wasmtime::format_err!("{provider} provider: {e}"))?;
        rows.push((
            "load + compile".into(),
            format!("{:.0} ms", load.as_secs_f64() * 1e3),
        ));
        columns.push((provider, rows));
    }
    let width = 2 + columns
        .iter()
        .flat_map(|(_, rows)| rows.iter().map(|(_, v)| v.len()))
        .max()
        .unwrap_or(10);
    print!("{:<20}", "");
    for (provider, _) in &columns {
        print!("{:<width$}", provider.name());
    }
    println!();
    for i in 0..columns[0].1.len() {
        print!("{:<20}", columns[0].1[i].0);
        for (_, rows) in &columns {
            print!("{:<width$}", rows[i].1);
        }
        println!();
    }
    println!("\nThe guest prefers ChaCha20-Poly1305 (Wasm has no AES instructions); the native");
    println!("provider prefers AES-GCM. Everything else is the same engine.");
    Ok(())
}
