/// The parity scenarios, named once: calls `$m!` with every `function: "name",`
/// pair. The suite builds its table from it ([`crate::SCENARIOS`]), the parity
/// suite (tests/suite/parity.rs) a test per scenario and provider, and the
/// engine's tests one native test per scenario. Adding a scenario is its
/// function and one line here.
#[macro_export]
macro_rules! foreach_scenario {
    ($m:ident) => {
        $m! {
            introspection: "introspection",
            tls13_handshake: "tls13-handshake",
            tls12_handshake: "tls12-handshake",
            every_cipher_suite: "every-cipher-suite",
            key_exchange_groups: "key-exchange-groups",
            alpn_match: "alpn-match",
            alpn_no_overlap: "alpn-no-overlap",
            sni_chooses_chain: "sni-chooses-chain",
            acceptor_chooses_context: "acceptor-chooses-context",
            mtls_required: "mtls-required",
            mtls_required_missing: "mtls-required-missing",
            mtls_optional: "mtls-optional",
            mtls_optional_missing: "mtls-optional-missing",
            pinned_self_signed: "pinned-self-signed",
            pinned_wrong_name: "pinned-wrong-name",
            expired: "expired",
            not_yet_valid: "not-yet-valid",
            wrong_name: "wrong-name",
            unknown_issuer: "unknown-issuer",
            version_mismatch: "version-mismatch",
            transfer_16mib: "transfer-16mib",
            byte_at_a_time: "byte-at-a-time",
            read_across_records: "read-across-records",
            close_notify: "close-notify",
            ragged_eof: "ragged-eof",
            resumption_tls13: "resumption-tls13",
            resumption_tls12: "resumption-tls12",
            session_handles: "session-handles",
            exporter: "exporter",
            key_update: "key-update",
            misuse: "misuse",
            garbage_from_peer: "garbage-from-peer",
            config_errors: "config-errors",
            host_identities_refused: "host-identities-refused",
            key_formats: "key-formats",
            insecure_contexts: "insecure",
            bounded_buffers: "bounded-buffers",
            hostile_garbage_flood: "hostile-garbage-flood",
            hostile_endless_handshake_message: "hostile-endless-handshake-message",
            hostile_stalled_handshake: "hostile-stalled-handshake",
            hostile_hybrid_shares: "hostile-hybrid-shares",
            argument_extremes: "argument-extremes",
            context_dropped_first: "context-dropped-first",
        }
    };
}
