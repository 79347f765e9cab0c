//! The benchmark suite, side by side in one run: rustls directly (the baseline),
//! the native provider, the guest provider and wasmtime-wasi-tls.
//!
//! ```text
//! cargo run -p memtls-bench --bin bench [-- --quick] [--svg docs/performance.svg]
//!     [--only handshakes|resumed|bulk|memory|load|tcp]
//! ```
//!
//! Prints the table (medians of repeated runs, ratios to rustls directly) and writes
//! the chart. Figures are measured, never asserted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use memtls_bench::{Options, first_handshake_child, machine, run_suite, svg, table};
use memtls_host::Provider;
use wasmtime::{Result, format_err};

/// Counts live heap bytes, for memory per idle connection.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; the counter
// is only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller upholds `alloc`'s contract, which is System's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child-first-handshake") {
        let provider: Provider = args
            .get(1)
            .ok_or_else(|| format_err!("--child-first-handshake PROVIDER"))?
            .parse()
            .map_err(|e: String| format_err!(e))?;
        println!("{:.1}", first_handshake_child(provider)?);
        return Ok(());
    }
    let quick = args.iter().any(|a| a == "--quick");
    let svg_path = args
        .iter()
        .position(|a| a == "--svg")
        .map(|i| {
            args.get(i + 1)
                .cloned()
                .ok_or_else(|| format_err!("--svg PATH"))
        })
        .transpose()?;
    let opts = Options {
        quick,
        heap_bytes: Some(|| LIVE.load(Ordering::Relaxed)),
        child_exe: Some(std::env::current_exe()?),
        only: args
            .iter()
            .position(|a| a == "--only")
            .and_then(|i| args.get(i + 1).cloned()),
        wasi_tls: Some(memtls_bench::wasi_tls_runner),
        wasi_tls_p3: Some(memtls_bench::wasi_tls_p3_runner),
    };
    let machine = machine();
    eprintln!(
        "bench: running on {machine}{}",
        if quick { " (quick)" } else { "" }
    );
    let figures = run_suite(&opts)?;
    println!("memtls bench on {machine}\n");
    print!("{}", table(&figures));
    if let Some(path) = svg_path {
        std::fs::write(
            &path,
            svg(
                &figures,
                &format!("memtls: throughput relative to rustls directly ({machine})"),
            ),
        )?;
        println!("\nchart written to {path}");
    }
    Ok(())
}
