#!/usr/bin/env bats
# SIMPP across the federated XMPP network: alice on Prosody 0.12 serving
# a.test, bob on ejabberd 23.01 serving b.test, the two servers talking
# server-to-server on their own loopback addresses, TLS required both ways
# and each proving its domain with a certificate of the test CA (SASL
# EXTERNAL, no dialback).  They find each other through DNS SRV records
# served by a stub (t/xmpp-servers.bash: dns_up, srv_run).
load helper
load tls
load xmpp-servers

A=a.test
B=b.test

setup() {
    common_setup
    make_ca
    dns_up || return 1
    # one ejabberd node per run: other runs may have theirs
    EJ=fed$RANDOM
    PS2S=$(free_port)
    ES2S=$(free_port)
    dns_server $A "$DNS_NET.1" "$PS2S"
    dns_server $B "$DNS_NET.2" "$ES2S"
    P_S2S="$DNS_NET.1 $PS2S" prosody_up $A || return 1
    E_S2S="$DNS_NET.2 $ES2S" ejabberd_up "$EJ" $B || return 1
    EPORT=$E_PORT
    xuser alice
    xuser bob
    prosody_account $A alice "$(cat alice.pw)"
    ejabberd_account "$EJ" bob $B "$(cat bob.pw)"
}
teardown() {
    local p
    for p in ${SESSION_PIDS:-}; do kill "$p" 2>/dev/null || true; done
    prosody_down
    ejabberd_down "$EJ"
    dns_down
    common_teardown
}

@test "Prosody and ejabberd federate: found by SRV, TLS with certificates both ways (SASL EXTERNAL), a subscription, presence and messages across" {
    xsession alice $A "$P_PORT"
    xsession bob $B "$EPORT"
    say alice "<presence/>"
    say bob "<presence/>"
    say alice "<presence to='bob@$B' type='subscribe'/>"
    wait_for bob "<presence[^>]*type='subscribe'" bob.out 30
    grep "type='subscribe'" bob.out | grep -q "from='alice@$A'"
    say bob "<presence to='alice@$A' type='subscribed'/>"
    wait_for alice "<presence[^>]*from='bob@$B/t'" alice.out 20
    say alice "<message to='bob@$B' type='chat' id='m1'><body>hello from a.test</body></message>"
    wait_for bob "hello from a.test" bob.out 20
    grep "hello from a.test" bob.out | grep -q "from='alice@$A/t'"
    say bob "<message to='alice@$A/t' type='chat'><body>and back from b.test</body></message>"
    wait_for alice "and back from b.test" alice.out 20
    # the way they met: SRV and address records from the stub, a
    # certificate each way
    grep -q "dnsstub: _xmpp-server._tcp.$B SRV -> 1 records" dns.log
    grep -q "dnsstub: _xmpp-server._tcp.$A SRV -> 1 records" dns.log
    grep -q "SASL EXTERNAL with $B succeeded" prosody.log
    grep -q "Accepting SASL EXTERNAL identity from $B" prosody.log
    # bob leaves: alice sees it
    end_session bob
    wait_for alice "type='unavailable'" alice.out 20
}

@test "the whole SIMPP session across the federation: chat with ACKs, equal transcripts, a file, a rekey, video, pager, replay refused" {
    whole_session $A "$P_PORT" $B "$EPORT" prosody.log
    # bob's keys came from ejabberd's PEP, through Prosody
    grep -q "<key [^>]*jid='bob@$B'" prosody.log
    # neither server's view of the wire nor its data held the text
    ! grep -q 'MARKER-' prosody.log* || false
    ! grep -rq 'MARKER-' prosody-data "$TMP/ej-$EJ" || false
}

@test "a server whose certificate names another domain gets no federation: the sender is told, nothing is delivered" {
    # Prosody shows its servers a certificate for c.test (its clients
    # still the one for a.test)
    prosody_down
    make_cert other 30 ec c.test
    P_S2S="$DNS_NET.1 $PS2S" prosody_up $A "s2s_ssl = { certificate = \"$TMP/other.pem\", key = \"$TMP/other.key\" }"
    xsession alice $A "$P_PORT"
    xsession bob $B "$EPORT"
    say bob "<presence/>"
    say alice "<message to='bob@$B' type='chat' id='no'><body>not across</body></message>"
    wait_for alice "id='no'.*type='error'|type='error'.*id='no'" alice.out 30
    grep -q "Could not authenticate to remote server" alice.out
    ! grep -q 'not across' bob.out || false
    # ejabberd checked the name and refused it
    wait_for ejabberd "Failed inbound s2s EXTERNAL authentication $A -> $B.*Certificate host name mismatch" "$TMP/ej-$EJ/logs/ejabberd.log"
}
