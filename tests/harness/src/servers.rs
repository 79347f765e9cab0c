//! Real servers from Debian's packages on loopback, serving TLS with the
//! fixtures' `server` chain, for the Python library suite: OpenLDAP's slapd
//! (StartTLS and ldaps), redis (a TLS-only port), PostgreSQL (SSL required,
//! SCRAM) and Dovecot (IMAP STARTTLS and IMAPS). Each runs from a directory of
//! its own inside the fixtures' and is killed when its [`Peer`] drops.

use std::process::Command;

use crate::peers::{Files, Peer, free_port, require, spawn_command, wait_listening};

/// The password of every account these servers hold.
pub const PASSWORD: &str = "memtls-secret";

/// The LDAP tree's base, and the administrator slapd binds.
pub const LDAP_BASE: &str = "dc=memtls,dc=test";

fn write(files: &Files, name: &str, text: &str) -> String {
    let path = files.dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// Runs `cmd` to completion; panics with its output when it fails.
fn must(mut cmd: Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether this process runs as root (servers that refuse root then run as
/// their own system user).
fn root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// slapd with an MDB database under [`LDAP_BASE`] holding `cn=alice`, plain
/// LDAP (for StartTLS) and ldaps; returns it and the two ports.
pub fn slapd(files: &Files) -> (Peer, u16, u16) {
    require("slapd", "slapd");
    let (ldap, ldaps) = (free_port(), free_port());
    let dir = files.dir.join("slapd");
    std::fs::create_dir_all(dir.join("db")).unwrap();
    let conf = write(
        files,
        "slapd/slapd.conf",
        &format!(
            "include /etc/ldap/schema/core.schema\n\
             include /etc/ldap/schema/cosine.schema\n\
             include /etc/ldap/schema/inetorgperson.schema\n\
             modulepath /usr/lib/ldap\nmoduleload back_mdb\n\
             pidfile {dir}/slapd.pid\n\
             TLSCertificateFile {chain}\nTLSCertificateKeyFile {key}\n\
             database mdb\nmaxsize 16777216\nsuffix \"{LDAP_BASE}\"\n\
             rootdn \"cn=admin,{LDAP_BASE}\"\nrootpw {PASSWORD}\n\
             directory {dir}/db\n",
            dir = dir.display(),
            chain = files.path("server.chain"),
            key = files.path("server.key"),
        ),
    );
    let ldif = write(
        files,
        "slapd/base.ldif",
        &format!(
            "dn: {LDAP_BASE}\nobjectClass: dcObject\nobjectClass: organization\n\
             dc: memtls\no: memtls\n\n\
             dn: cn=alice,{LDAP_BASE}\nobjectClass: inetOrgPerson\ncn: alice\n\
             sn: Liddell\nmail: alice@memtls.test\n"
        ),
    );
    let mut add = Command::new("slapadd");
    add.args(["-f", &conf, "-l", &ldif]);
    must(add, "slapadd");
    let mut cmd = Command::new("slapd");
    cmd.args(["-d", "0", "-f", &conf, "-h"]).arg(format!(
        "ldap://127.0.0.1:{ldap}/ ldaps://127.0.0.1:{ldaps}/"
    ));
    let peer = spawn_command(cmd, "slapd (apt install slapd)");
    wait_listening(ldap, &peer);
    wait_listening(ldaps, &peer);
    (peer, ldap, ldaps)
}

/// redis-server with only a TLS port (no plain port), clients not asked for
/// certificates; returns it and the port.
pub fn redis(files: &Files) -> (Peer, u16) {
    require("redis-server", "redis-server");
    let port = free_port();
    let mut cmd = Command::new("redis-server");
    cmd.args(["--port", "0", "--tls-port", &port.to_string()])
        .args(["--tls-cert-file", &files.path("server.chain")])
        .args(["--tls-key-file", &files.path("server.key")])
        .args(["--tls-ca-cert-file", &files.path("ca")])
        .args(["--tls-auth-clients", "no", "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(&files.dir);
    let peer = spawn_command(cmd, "redis-server (apt install redis-server)");
    wait_listening(port, &peer);
    (peer, port)
}

/// PostgreSQL 15 with a cluster of its own: only `hostssl` connections from
/// loopback, SCRAM-SHA-256, the user `memtls`; returns it and the port. As
/// root it runs as the `postgres` user (it refuses root).
pub fn postgres(files: &Files) -> (Peer, u16) {
    let bin = std::path::Path::new("/usr/lib/postgresql/15/bin");
    assert!(
        bin.join("postgres").is_file(),
        "PostgreSQL 15 is missing: apt install postgresql (`cargo xtask setup` installs it)"
    );
    let port = free_port();
    let dir = files.dir.join("postgres");
    std::fs::create_dir_all(&dir).unwrap();
    let password = write(files, "postgres/password", PASSWORD);
    // Its own copy of the key: PostgreSQL wants it private to its user.
    for name in ["server.chain", "server.key"] {
        std::fs::copy(files.dir.join(name), dir.join(name)).unwrap();
    }
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(
        dir.join("server.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let as_postgres = |program: &str| {
        let mut cmd = if root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]);
            c.arg(bin.join(program));
            c
        } else {
            Command::new(bin.join(program))
        };
        cmd.current_dir(&dir);
        cmd
    };
    if root() {
        must(
            {
                let mut c = Command::new("chown");
                c.args(["-R", "postgres:postgres"]).arg(&dir);
                c
            },
            "chown the PostgreSQL directory",
        );
    }
    let data = dir.join("data");
    let mut init = as_postgres("initdb");
    init.arg("-D")
        .arg(&data)
        .args(["-U", "memtls", "--auth=scram-sha-256", "--pwfile"])
        .arg(&password);
    must(init, "initdb");
    std::fs::write(
        data.join("pg_hba.conf"),
        "hostssl all all 127.0.0.1/32 scram-sha-256\n",
    )
    .unwrap();
    let mut cmd = as_postgres("postgres");
    cmd.arg("-D")
        .arg(&data)
        .args(["-p", &port.to_string(), "-k"])
        .arg(&dir)
        .args(["-c", "listen_addresses=127.0.0.1", "-c", "ssl=on"])
        .arg("-c")
        .arg(format!(
            "ssl_cert_file={}",
            dir.join("server.chain").display()
        ))
        .arg("-c")
        .arg(format!("ssl_key_file={}", dir.join("server.key").display()));
    let peer = spawn_command(cmd, "PostgreSQL 15 (apt install postgresql)");
    wait_listening(port, &peer);
    (peer, port)
}

/// Dovecot serving IMAP (STARTTLS required before login) and IMAPS, any user
/// with [`PASSWORD`], mail in the fixtures' directory; returns it and the two
/// ports.
pub fn dovecot(files: &Files) -> (Peer, u16, u16) {
    require("dovecot", "dovecot-imapd");
    let (imap, imaps) = (free_port(), free_port());
    let dir = files.dir.join("dovecot");
    std::fs::create_dir_all(dir.join("run")).unwrap();
    std::fs::create_dir_all(dir.join("mail")).unwrap();
    if root() {
        // Mail is delivered as the user the passdb names.
        let mut c = Command::new("chown");
        c.args(["-R", "nobody:nogroup"]).arg(dir.join("mail"));
        must(c, "chown the mail directory");
    }
    let conf = write(
        files,
        "dovecot/dovecot.conf",
        &format!(
            "protocols = imap\nlisten = 127.0.0.1\nbase_dir = {dir}/run\n\
             log_path = {dir}/dovecot.log\nssl = required\n\
             ssl_cert = <{chain}\nssl_key = <{key}\n\
             auth_mechanisms = plain login\n\
             passdb {{\n  driver = static\n  args = password={PASSWORD}\n}}\n\
             userdb {{\n  driver = static\n  args = uid=nobody gid=nogroup home={dir}/mail/%u\n}}\n\
             mail_location = maildir:~/Maildir\n\
             service imap-login {{\n  inet_listener imap {{\n    port = {imap}\n  }}\n\
               inet_listener imaps {{\n    port = {imaps}\n    ssl = yes\n  }}\n}}\n\
             service anvil {{\n  chroot =\n}}\nservice imap-login {{\n  chroot =\n}}\n",
            dir = dir.display(),
            chain = files.path("server.chain"),
            key = files.path("server.key"),
        ),
    );
    let mut cmd = Command::new("dovecot");
    cmd.args(["-F", "-c", &conf]);
    let peer = spawn_command(cmd, "dovecot (apt install dovecot-imapd)");
    wait_listening(imap, &peer);
    wait_listening(imaps, &peer);
    (peer, imap, imaps)
}
