#!/usr/bin/env bats
# The client drivers against a reference server (Prosody on loopback, TLS
# required): what t/clients.bats asks of simpp-relayd, each driver must
# first do here, so that a failure there is the relay's.
load helper
load clients
load prosody

setup() {
    clients_setup || return 1
    start_prosody || return 1
    prosody_user carol 'carol pass 1'
    prosody_user dave 'dave pass'
}
teardown() {
    kill_bg
    stop_prosody
    common_teardown
}

# exchange CLIENT [driver options]: carol on CLIENT writes to dave (on
# slixmpp), who answers; carol's driver must print the answer
exchange() {
    local c=$1 port=$PPORT
    shift
    [[ " $* " == *" --direct "* ]] && port=$PTLSPORT
    local bare=
    [ "$(answer_to "$c")" = bare ] && bare=--bare
    peer dave 'dave pass' "$PPORT" carol@localhost "re: $c" $bare
    run drive "$c" --ca ca.pem --wait "$(wait_of "$c")" "$@" "$port" carol@localhost dave@localhost "hello from $c" <<< 'carol pass 1'
    echo "$c: $output" >&2
    [ "$status" -eq 0 ]
    wait_for dave "carol@localhost: hello from $c" dave.out
    if receives "$c"; then
        [[ "$output" == *"dave@localhost: re: $c"* ]]
    fi
    wait "$PEER_PID"
}

# logs_in CLIENT [driver options]: carol on CLIENT logs in and sends
logs_in() {
    local c=$1 port=$PPORT
    shift
    [[ " $* " == *" --direct "* ]] && port=$PTLSPORT
    run drive "$c" --ca ca.pem --wait 0 "$@" "$port" carol@localhost dave@localhost "hello from $c" <<< 'carol pass 1'
    echo "$c: $output" >&2
    [ "$status" -eq 0 ]
    [[ "$output" == *sent* ]]
}

@test "every client logs in with STARTTLS, sends, receives and logs out" {
    local c
    for c in $CLIENTS; do exchange "$c"; done
    # each closed its stream, but go-sendxmpp, which drops the connection
    run prosody_logouts carol@localhost
    echo "$output" >&2
    [ "$(grep -c ' closed$' <<< "$output")" -eq 4 ]
    [ "$(grep -c ' dropped$' <<< "$output")" -eq 2 ]
    [ "$(grep -c '^go-sendxmpp.* dropped$' <<< "$output")" -eq 2 ]
}

@test "every client logs in with direct TLS" {
    local c
    for c in $CLIENTS; do
        logs_in "$c" --direct
        grep -q "RECV: <message [^>]*>.*hello from $c" prosody.log
    done
}

@test "slixmpp: SCRAM-SHA-1, SCRAM-SHA-256, PLAIN and -PLUS with tls-unique on TLS 1.2" {
    local m
    for m in SCRAM-SHA-1 SCRAM-SHA-256 PLAIN; do
        logs_in slixmpp --mech "$m"
        grep -q "RECV: <auth [^>]*mechanism='$m'" prosody.log
    done
    exchange slixmpp --mech SCRAM-SHA-256-PLUS --tls12
    grep -q "RECV: <auth [^>]*mechanism='SCRAM-SHA-256-PLUS'" prosody.log
    # Prosody knows tls-unique only, undefined with TLS 1.3: no -PLUS there
    run drive slixmpp --ca ca.pem --wait 0 --mech SCRAM-SHA-1-PLUS "$PPORT" carol@localhost dave@localhost x <<< 'carol pass 1'
    [ "$status" -eq 2 ]
    # a client claiming channel binding support ("y") while -PLUS was offered: a downgrade, refused
    run drive slixmpp --ca ca.pem --wait 0 --tls12 --mech SCRAM-SHA-1 --cb-flag y "$PPORT" carol@localhost dave@localhost x <<< 'carol pass 1'
    [ "$status" -eq 2 ]
}

@test "profanity takes SCRAM-SHA-256, the drivers of the others PLAIN" {
    run drive profanity --ca ca.pem --wait 0 --mech SCRAM-SHA-256 "$PPORT" carol@localhost dave@localhost x <<< 'carol pass 1'
    [ "$status" -eq 0 ]
    run drive profanity --ca ca.pem --wait 0 --mech SCRAM-SHA-1 "$PPORT" carol@localhost dave@localhost x <<< 'carol pass 1'
    [ "$status" -eq 4 ]
    local c
    for c in mcabber gosendxmpp sendxmpp; do
        run drive "$c" --ca ca.pem --wait 0 --mech SCRAM-SHA-1 "$PPORT" carol@localhost dave@localhost x <<< 'carol pass 1'
        [ "$status" -eq 64 ]
    done
    [ "$(grep -c "RECV: <auth [^>]*mechanism='PLAIN'" prosody.log)" -eq 0 ]
    for c in mcabber gosendxmpp sendxmpp; do
        run drive "$c" --ca ca.pem --wait 0 "$PPORT" carol@localhost dave@localhost "plain from $c" <<< 'carol pass 1'
        [ "$status" -eq 0 ]
    done
    [ "$(grep -c "RECV: <auth [^>]*mechanism='PLAIN'" prosody.log)" -eq 3 ]
}

@test "every client refuses a wrong password" {
    local c
    for c in $CLIENTS; do
        run drive "$c" --ca ca.pem --wait 0 "$PPORT" carol@localhost dave@localhost x <<< 'not it'
        echo "$c: $output" >&2
        [ "$status" -eq 2 ]
    done
}

# refuses CERT [driver options]: every client refuses Prosody with CERT.pem
refuses() {
    local cert=$1 c
    shift
    stop_prosody
    PROSODY_CERT=$cert start_prosody
    for c in $CLIENTS; do
        run drive "$c" "$@" --wait 0 "$PPORT" carol@localhost dave@localhost x <<< 'carol pass 1'
        echo "$c: $output" >&2
        [ "$status" -eq 3 ]
        run drive "$c" "$@" --wait 0 --direct "$PTLSPORT" carol@localhost dave@localhost x <<< 'carol pass 1'
        echo "$c direct: $output" >&2
        [ "$status" -eq 3 ]
    done
    ! grep -q 'RECV: <auth' prosody.log || false
}

@test "every client refuses an expired certificate" {
    make_cert old -1
    refuses old --ca ca.pem
}

@test "every client refuses a certificate for another name" {
    make_cert other 30 ec example.org
    refuses other --ca ca.pem
}

@test "every client refuses a certificate of a CA it was not told to trust" {
    # the server's certificate is fine, but the client trusts another CA only
    mkdir other && (cd other && make_ca)
    refuses server --ca other/ca.pem
}

@test "an RSA-2048 certificate serves every client as well" {
    make_cert rsa 30 rsa
    stop_prosody
    PROSODY_CERT=rsa start_prosody
    local c
    openssl s_client -connect 127.0.0.1:"$PTLSPORT" -servername localhost < /dev/null 2>/dev/null |
        openssl x509 -noout -text | grep -q 'Public Key Algorithm: rsaEncryption'
    for c in $CLIENTS; do logs_in "$c"; done
}
