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
    # node names of this test's own: other runs on the machine have theirs
    N1=e$$a N2=e$$b
    ejabberd_up "$N1" $D || return 1
    P1=$E_PORT
    xuser alice
    xuser bob
    ejabberd_account "$N1" alice $D "$(cat alice.pw)"
    ejabberd_account "$N1" bob $D "$(cat bob.pw)"
}
teardown() {
    local p
    for p in ${SESSION_PIDS:-}; do kill "$p" 2>/dev/null || true; done
    ejabberd_down "$N1"
    ejabberd_down "$N2"
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
    whole_session $D "$E_PORT" $D "$E_PORT" "$TMP/ej-$N1/logs/ejabberd.log"
    ! grep -rq 'MARKER-' "$TMP/ej-$N1" || false
}

@test "an ejabberd cluster of two nodes: alice on node 1, bob on node 2, the whole session; node 2 stopped, bob on node 1 gets what waited" {
    ejabberd_up "$N2" $D
    P2=$E_PORT
    run ejctl "$N2" join_cluster "$N1@localhost"
    [ "$status" -eq 0 ]
    local i
    for i in $(seq 1 100); do
        ejctl "$N1" list_cluster 2>/dev/null | grep -q "$N2@localhost" && break
        sleep 0.2
    done
    ejctl "$N1" list_cluster | grep -q "$N2@localhost"
    # bob's account, made on node 1, logs in on node 2
    whole_session $D "$P1" $D "$P2" "$TMP/ej-$N1/logs/ejabberd.log"
    ejabberd_down "$N2"
    echo "MARKER-3 sent while node 2 was down" > in
    SIMPP_HOME=$TMP/alice.home xlogin alice $D "$P1" -- simpp-session -j -w 2 bob@$D < in > alice3.out 2> alice3.err
    grep -q '^pager-sent' alice3.out
    rm -f bob.in
    xe2e bob $D "$P1" alice@$D -w 1
    wait_for bob "^pager alice@$D [0-9T:-]*Z MARKER-3 sent while node 2 was down" bob.out
    end_session bob
    wait "$pid_bob" || true
    ! grep -rq 'MARKER-' "$TMP/ej-$N1" "$TMP/ej-$N2" || false
}
