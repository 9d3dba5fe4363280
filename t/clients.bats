#!/usr/bin/env bats
# simpp-relayd serves the XMPP clients people use: slixmpp, profanity,
# mcabber, go-sendxmpp and sendxmpp, from Debian, over TLS that they verify
# against the test CA (t/tools/drive-*; t/clients-prosody.bats shows the
# same drivers working against Prosody).  Each logs in with a password,
# chats with a SIMPP user (simpp-login, no simpp-session) and with another
# password user, and logs out.
load helper
load clients

setup() {
    clients_setup || return 1
    # many PLAIN logins from one address in a few seconds: no budget
    start_tls_relay -o auth_per_min=0 || return 1
    new_user alice -T ca.pem
    printf 'carol pass 1\n' | simpp-relayd -d data passwd carol@localhost -P 0 > /dev/null
    printf 'dave pass\n' | simpp-relayd -d data passwd dave@localhost -P 0 > /dev/null
}

# carol_to_alice CLIENT TEXT [driver options]: carol on CLIENT, in the
# background (pid CPID), writes TEXT to alice and waits for her answer;
# the driver's output in carol.out
carol_to_alice() {
    local c=$1 text=$2
    shift 2
    drive "$c" --ca ca.pem --wait "$(wait_of "$c" 25)" "$@" "$PORT" carol@localhost alice@localhost "$text" \
        <<< 'carol pass 1' > carol.out 2>carol.err &
    CPID=$!
    SESSION_PIDS="${SESSION_PIDS:-} $CPID"
}

# chats CLIENT: the whole exchange, with alice (SIMPP) then with dave (slixmpp)
chats() {
    local c=$1 from to
    session alice -T ca.pem
    say alice "<presence/>"
    carol_to_alice "$c" "hello alice from $c"
    wait_for alice "hello alice from $c" alice.out 20
    from=$(grep -o "from='carol@localhost/[^']*'" alice.out | tail -1 | sed "s/from='//; s/'//")
    [ -n "$from" ]
    grep -q "bound addr=127.0.0.1 jid=$from level=xmpp" "$RELAY_LOG"
    to=$from
    [ "$(answer_to "$c")" = bare ] && to=carol@localhost
    say alice "<message to='$to' type='chat'><body>hi $c, alice here</body></message>"
    local st=0
    wait "$CPID" || st=$?
    echo "$c with alice: status $st: $(cat carol.out carol.err)" >&2
    [ "$st" -eq 0 ]
    if receives "$c"; then
        grep -q "alice@localhost: hi $c, alice here" carol.out
    fi
    with_dave "$c" "$PORT"
    # over TLS, with the relay's record of the mechanism
    [ "$(grep -c "login addr=127.0.0.1 jid=carol@localhost mechanism=$(mech_of "$c") level=xmpp tls=TLSv1.3" "$RELAY_LOG")" -ge 2 ]
}
# the mechanism each client takes when the relay offers them all
mech_of() {
    case $1 in
    slixmpp) echo SCRAM-SHA-256-PLUS ;;
    profanity) echo SCRAM-SHA-256 ;;
    *) echo PLAIN ;;
    esac
}
# logs_out CLIENT: every session of carol closed its stream (go-sendxmpp's
# were just dropped)
logs_out() {
    local n
    n=$(grep -c "bound addr=127.0.0.1 jid=carol@localhost/" "$RELAY_LOG")
    [ "$n" -ge 2 ]
    if [ "$1" = gosendxmpp ]; then
        [ "$(grep -c "disconnect addr=127.0.0.1 jid=carol@localhost/" "$RELAY_LOG")" -eq "$n" ]
    else
        ! grep -q "disconnect addr=127.0.0.1 jid=carol@localhost/" "$RELAY_LOG" || false
        [ "$(grep -c "close addr=127.0.0.1 jid=carol@localhost/" "$RELAY_LOG")" -eq "$n" ]
    fi
}

@test "slixmpp chats with a SIMPP user and a password user over STARTTLS, and logs out" {
    chats slixmpp
    logs_out slixmpp
}

@test "profanity chats with a SIMPP user and a password user over STARTTLS, and logs out" {
    chats profanity
    logs_out profanity
}

@test "mcabber chats with a SIMPP user and a password user over STARTTLS, and logs out" {
    chats mcabber
    logs_out mcabber
}

@test "go-sendxmpp chats with a SIMPP user and a password user over STARTTLS (and drops its connections)" {
    chats gosendxmpp
    logs_out gosendxmpp
}

@test "sendxmpp writes to a SIMPP user and to a password user over STARTTLS, and logs out" {
    chats sendxmpp
    logs_out sendxmpp
}

# logs_in CLIENT MECHANISM [driver options]: carol on CLIENT logs in, writes
# to dave (stored offline) and leaves; the relay logged MECHANISM for it
logs_in() {
    local c=$1 m=$2 port=$PORT n
    shift 2
    [[ " $* " == *" --direct "* ]] && port=$TLSPORT
    n=$(wc -l < "$RELAY_LOG")
    run drive "$c" --ca ca.pem --wait 0 "$@" "$port" carol@localhost dave@localhost "$c $m $*" <<< 'carol pass 1'
    echo "$c $m $*: $output" >&2
    [ "$status" -eq 0 ]
    [[ "$output" == *sent* ]]
    tail -n +$((n + 1)) "$RELAY_LOG" | grep -q "login addr=127.0.0.1 jid=carol@localhost mechanism=$m level=xmpp tls=TLSv1"
}

@test "slixmpp logs in with SCRAM-SHA-1, SCRAM-SHA-256, both -PLUS, each channel binding, and PLAIN" {
    local m
    for m in SCRAM-SHA-1 SCRAM-SHA-256 SCRAM-SHA-1-PLUS SCRAM-SHA-256-PLUS PLAIN; do
        logs_in slixmpp "$m" --mech "$m"
    done
    # the channel bindings: the one the relay announces first (XEP-0440),
    # tls-exporter (RFC 9266), tls-server-end-point, and tls-unique under TLS 1.2
    logs_in slixmpp SCRAM-SHA-256-PLUS --mech SCRAM-SHA-256-PLUS --cb tls-exporter
    logs_in slixmpp SCRAM-SHA-1-PLUS --mech SCRAM-SHA-1-PLUS --cb tls-server-end-point
    logs_in slixmpp SCRAM-SHA-256-PLUS --mech SCRAM-SHA-256-PLUS --cb tls-unique --tls12
    grep -q 'mechanism=SCRAM-SHA-256-PLUS level=xmpp tls=TLSv1.2' "$RELAY_LOG"
    # and direct TLS (XEP-0368)
    logs_in slixmpp SCRAM-SHA-256-PLUS --direct
    # all of it stored for dave, who reads it with slixmpp over direct TLS
    run drive slixmpp --ca ca.pem --wait 5 --direct "$TLSPORT" dave@localhost carol@localhost <<< 'dave pass'
    [[ "$output" == *"carol@localhost: slixmpp SCRAM-SHA-1 --mech SCRAM-SHA-1"* ]]
}

@test "slixmpp: a wrong password or a downgrade under TLS 1.2 is refused" {
    run drive slixmpp --ca ca.pem --wait 0 --mech SCRAM-SHA-256 "$PORT" carol@localhost dave@localhost x <<< 'wrong'
    [ "$status" -eq 2 ]
    grep -q 'auth-fail addr=127.0.0.1 user=carol@localhost mechanism=SCRAM-SHA-256' "$RELAY_LOG"
    # "y": could bind the channel, thinks the relay cannot, though it offered -PLUS
    run drive slixmpp --ca ca.pem --wait 0 --tls12 --mech SCRAM-SHA-1 --cb-flag y "$PORT" carol@localhost dave@localhost x <<< 'carol pass 1'
    [ "$status" -eq 2 ]
    # slixmpp's own habit: "y" on every SCRAM without -PLUS, accepted under TLS 1.3
    run drive slixmpp --ca ca.pem --wait 0 --mech SCRAM-SHA-1 --cb-flag y "$PORT" carol@localhost dave@localhost x <<< 'carol pass 1'
    [ "$status" -eq 0 ]
}

@test "profanity takes SCRAM-SHA-256, and PLAIN when the relay offers no SCRAM" {
    logs_in profanity SCRAM-SHA-256 --mech SCRAM-SHA-256
    stop_relay
    start_tls_relay -o auth_per_min=0 -o scram=no
    logs_in profanity PLAIN --mech PLAIN
}

@test "with an RSA-2048 certificate every client logs in over direct TLS (XEP-0368)" {
    stop_relay
    make_cert rsa 30 rsa
    start_relay -o tls_cert=rsa.pem -o tls_key=rsa.key -o tls_port=0 -o auth_per_min=0
    read -r PORT TLSPORT < ready
    openssl s_client -connect 127.0.0.1:"$TLSPORT" -servername localhost < /dev/null 2>/dev/null |
        openssl x509 -noout -text | grep -q 'Public Key Algorithm: rsaEncryption'
    local c
    for c in $CLIENTS; do logs_in "$c" "$(mech_of "$c")" --direct; done
}

# refuses CA: every client, trusting only CA, refuses the relay and sends
# no credentials
refuses() {
    local c
    for c in $CLIENTS; do
        run drive "$c" --ca "$1" --wait 0 "$PORT" carol@localhost dave@localhost x <<< 'carol pass 1'
        echo "$c: $output" >&2
        [ "$status" -eq 3 ]
    done
    ! grep -q 'auth-fail\|login addr' "$RELAY_LOG" || false
}

@test "every client refuses a relay whose certificate is from a CA it does not trust, for another name, or expired" {
    mkdir other && (cd other && make_ca)
    refuses other/ca.pem
    stop_relay
    make_cert wrong 30 ec example.org
    start_relay -o tls_cert=wrong.pem -o tls_key=wrong.key
    refuses ca.pem
    stop_relay
    make_cert old -1
    start_relay -o tls_cert=old.pem -o tls_key=old.key
    refuses ca.pem
}

@test "every client is refused with a wrong password" {
    local c n
    for c in $CLIENTS; do
        n=$(grep -c 'auth-fail addr=127.0.0.1 user=carol@localhost ' "$RELAY_LOG" || true)
        run drive "$c" --ca ca.pem --wait 0 "$PORT" carol@localhost dave@localhost x <<< 'not it'
        echo "$c: $output" >&2
        [ "$status" -eq 2 ]
        # profanity tries SCRAM-SHA-256, then SCRAM-SHA-1
        [ "$(grep -c 'auth-fail addr=127.0.0.1 user=carol@localhost ' "$RELAY_LOG")" -gt "$n" ]
    done
    ! grep -q 'login addr=127.0.0.1 jid=carol' "$RELAY_LOG" || false
}

@test "the clients knowing only PLAIN get no login from a relay without it" {
    stop_relay
    start_tls_relay -o auth_per_min=0 -o plain=no
    local c
    for c in mcabber gosendxmpp sendxmpp; do
        run drive "$c" --ca ca.pem --wait 0 "$PORT" carol@localhost dave@localhost x <<< 'carol pass 1'
        echo "$c: $output" >&2
        [ "$status" -ne 0 ]
    done
    ! grep -q 'login addr=127.0.0.1 jid=carol' "$RELAY_LOG" || false
}

# tap NAME: a TCP relay on port TAPPORT to the relay's PORT, bytes from the
# client to NAME.up, from the relay to NAME.down
tap() {
    TAPPORT=$(free_port)
    socat -r "$1.up" -R "$1.down" TCP-LISTEN:"$TAPPORT",bind=127.0.0.1,reuseaddr TCP:127.0.0.1:"$PORT" &
    TAP_PID=$!
    SESSION_PIDS="${SESSION_PIDS:-} $TAP_PID"
    local i
    for i in $(seq 1 50); do ss -ltn | grep -q "127.0.0.1:$TAPPORT " && return 0; sleep 0.1; done
    return 1
}
# the capture is complete once socat has gone (its status may tell of a
# write after the client left)
tap_done() { wait "$TAP_PID" || true; }
# in_clear NAME WORD...: a WORD appears in either direction of the capture
in_clear() {
    local name=$1 w
    shift
    for w in "$@"; do grep -aqF -- "$w" "$name.up" "$name.down" && return 0; done
    return 1
}

@test "a capture of SCRAM and PLAIN logins and a chat holds no password, name or text in clear" {
    session alice -T ca.pem
    say alice "<presence/>"
    # SCRAM-SHA-256 (slixmpp) and PLAIN (mcabber), each writing to alice, one connection each
    tap scram
    run drive slixmpp --ca ca.pem --wait 0 --mech SCRAM-SHA-256 "$TAPPORT" carol@localhost alice@localhost 'the secret plans' <<< 'carol pass 1'
    [ "$status" -eq 0 ]
    tap_done
    tap plain
    run drive mcabber --ca ca.pem --wait 0 "$TAPPORT" carol@localhost alice@localhost 'more secret plans' <<< 'carol pass 1'
    [ "$status" -eq 0 ]
    tap_done
    wait_for alice 'more secret plans' alice.out
    grep -q 'the secret plans' alice.out
    # the captures hold the stream up to STARTTLS, then TLS records only
    grep -aq '<proceed' scram.down
    grep -aq '<proceed' plain.down
    local pw64 plain64
    pw64=$(printf 'carol pass 1' | base64)
    plain64=$(printf '\0carol\0carol pass 1' | base64)
    ! in_clear scram 'carol pass 1' 'secret plans' 'n=carol' 'bm=carol' 'alice@localhost' "$pw64" || false
    ! in_clear plain 'carol pass 1' 'secret plans' "$plain64" "${plain64%%=*}" 'alice@localhost' "$pw64" || false
}

@test "the capture would show them: the same SCRAM login and chat on a relay in clear" {
    stop_relay
    start_relay -o tls_required=no
    session alice || { cat alice.err >&2; false; }
    say alice "<presence/>"
    tap clear
    run drive slixmpp --wait 0 --mech SCRAM-SHA-256 "$TAPPORT" carol@localhost alice@localhost 'the secret plans' <<< 'carol pass 1'
    [ "$status" -eq 0 ]
    tap_done
    wait_for alice 'the secret plans' alice.out
    in_clear clear 'the secret plans'
    in_clear clear 'alice@localhost'
    # the SCRAM exchange (base64 of "n,,n=carol,r=...") names the user
    in_clear clear "$(printf 'n,,n=carol,r=' | base64 | cut -c1-16)"
}
