//! What the command-line test binaries share.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One `openssl s_server -www -naccept 1` connection, run in `dir` with
/// `server_args` added, while `client` runs against its URL
/// (`https://localhost:PORT/`), retried while the server does not listen yet
/// (the client's text says it could not connect). Returns the client's
/// result and text, and everything s_server printed.
pub fn against_s_server<T>(
    dir: &Path,
    server_args: &[&str],
    client: impl Fn(&str) -> (T, String),
) -> (T, String, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let log_path = dir.join(format!("s_server-{port}.log"));
    let log = std::fs::File::create(&log_path).unwrap();
    let mut server = Command::new("openssl")
        .current_dir(dir)
        .args(["s_server", "-accept", &port.to_string(), "-www"])
        .args(["-naccept", "1"])
        .args(server_args)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("openssl s_server (apt-get install openssl)");
    let url = format!("https://localhost:{port}/");
    let start = Instant::now();
    let (result, text) = loop {
        let (result, text) = client(&url);
        if !text.contains("cannot connect") && !text.contains("Connection refused") {
            break (result, text);
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "s_server did not listen: {text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = server.kill();
    let _ = server.wait();
    (result, text, std::fs::read_to_string(&log_path).unwrap())
}
