#!/usr/bin/env bats
# SIMPP end to end over ejabberd 23.01 from Debian on loopback: TLS
# required with a certificate of a test CA, ordinary accounts, Erlang
# distribution on loopback only (t/xmpp-servers.bash).  Each test starts
# its own node (some seconds: an Erlang VM).
load helper
load tls
load xmpp-servers

D=example.net

setup() {
    common_setup
    ejabberd_up ej1 $D || return 1
    xuser alice
    xuser bob
    ejabberd_account ej1 alice $D "$(cat alice.pw)"
    ejabberd_account ej1 bob $D "$(cat bob.pw)"
}
teardown() {
    local p
    for p in ${SESSION_PIDS:-}; do kill "$p" 2>/dev/null || true; done
    ejabberd_down ej1
    ejabberd_down ej2
    common_teardown
}

@test "ejabberd: SCRAM-SHA-256 (its -PLUS needs tls-unique, not in TLS 1.3), SCRAM-SHA-1, direct TLS; the key in PEP, presence or open" {
    run xreg alice $D "$E_PORT"
    [ "$status" -eq 0 ]
    [[ "$output" == "published alice@$D key $(openssl_fpr alice.key) access presence" ]]
    run xreg alice $D "$E_PORT" -a open
    [ "$status" -eq 0 ]
    [[ "$output" == *"access open" ]]
    run xreg alice $D "$E_TLSPORT" -t direct -M SCRAM-SHA-1
    [ "$status" -eq 0 ]
    echo 'not it' > alice.pw
    run xreg alice $D "$E_PORT"
    [ "$status" -eq 77 ]
    [[ "$output" == *"not-authorized"* ]]
}

@test "the whole session through ejabberd: chat with ACKs, equal transcripts, a file, a rekey, video, pager, replay refused" {
    whole_session $D "$E_PORT" $D "$E_PORT" "$TMP/ej-ej1/logs/ejabberd.log"
    ! grep -rq 'MARKER-' "$TMP/ej-ej1" || false
}
