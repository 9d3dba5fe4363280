#!/usr/bin/env bats
# The client drivers against a reference server (Prosody on loopback, TLS
# required): what t/clients.bats asks of simpp-relayd, each driver must
# first do here, so that a failure there is the relay's.
load helper
load clients
load xmpp-servers

setup() {
    clients_setup || return 1
    # what the clients ask of a server (carbons, blocking, vCards...)
    P_CERT=server P_MODULES='"carbons", "blocklist", "vcard_legacy", "private", "time", "version", "smacks", "csi_simple"' \
        prosody_up localhost || return 1
    prosody_account localhost carol 'carol pass 1'
    prosody_account localhost dave 'dave pass'
}
teardown() {
    kill_bg
    prosody_down
    common_teardown
}

@test "every client logs in with STARTTLS, sends, receives and logs out" {
    local c
    for c in $CLIENTS; do with_dave "$c" "$P_PORT"; done
    # each closed its stream, but go-sendxmpp, which drops the connection
    run prosody_logouts carol@localhost
    echo "$output" >&2
    [ "$(grep -c ' closed$' <<< "$output")" -eq 4 ]
    [ "$(grep -c ' dropped$' <<< "$output")" -eq 2 ]
    [ "$(grep -c '^go-sendxmpp.* dropped$' <<< "$output")" -eq 2 ]
    # the mechanisms: libstrophe and slixmpp take SCRAM, the others PLAIN
    [ "$(grep -c "RECV: <auth [^>]*mechanism='SCRAM-SHA-256'" prosody.log)" -ge 6 ]
    [ "$(grep -c "RECV: <auth [^>]*mechanism='PLAIN'" prosody.log)" -eq 4 ]
}

@test "slixmpp's channel binding agrees with Prosody's (tls-unique, TLS 1.2); the y downgrade is refused" {
    with_dave slixmpp "$P_PORT" --mech SCRAM-SHA-256-PLUS --tls12
    grep -q "RECV: <auth [^>]*mechanism='SCRAM-SHA-256-PLUS'" prosody.log
    # Prosody knows tls-unique only, undefined with TLS 1.3: no -PLUS there
    run drive slixmpp --ca ca.pem --wait 0 --mech SCRAM-SHA-1-PLUS "$P_PORT" carol@localhost dave@localhost x <<< 'carol pass 1'
    [ "$status" -eq 2 ]
    run drive slixmpp --ca ca.pem --wait 0 --tls12 --mech SCRAM-SHA-1 --cb-flag y "$P_PORT" carol@localhost dave@localhost x <<< 'carol pass 1'
    [ "$status" -eq 2 ]
}
