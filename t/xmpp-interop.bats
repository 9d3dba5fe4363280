#!/usr/bin/env bats
# An ordinary XMPP client library from Debian (python3-slixmpp) talks to
# simpp-relayd with standard SASL, at the lowest trust level (here in clear,
# tls_required=no; t/clients.bats runs the clients over TLS).
load helper

setup() {
    common_setup
    start_relay -o tls_required=no
    new_user alice
    printf 'carol pass 1\n' | simpp-relayd -d data passwd carol@localhost -P 0
}

@test "passwd makes an ordinary account; empty or bad JIDs refused" {
    [ "$(sqlite3 data/simpp.db "select count(*) from users where jid='carol@localhost'")" -eq 1 ]
    run simpp-relayd -d data passwd carol@elsewhere -P 0 < /dev/null
    [ "$status" -eq 64 ]
    run simpp-relayd -d data passwd dan@localhost -P 0 < /dev/null
    [ "$status" -eq 65 ]
    [[ "$output" == *"password: empty"* ]]
}

@test "slixmpp logs in with SCRAM-SHA-256 and chats with a SIMPP user" {
    session alice
    say alice "<presence/>"
    echo 'carol pass 1' | /usr/bin/python3 "$SIMPP_TOP/t/tools/xmppclient.py" $PORT carol@localhost alice@localhost 'hello from slixmpp' > carol.out &
    CPID=$!
    wait_for alice "hello from slixmpp" alice.out
    from=$(grep -o "from='carol@localhost/[^']*'" alice.out | head -1 | sed "s/from='//; s/'//")
    say alice "<message to='$from' type='chat'><body>hello carol</body></message>"
    wait "$CPID"
    grep -q 'alice@localhost: hello carol' carol.out
    grep -q 'login addr=127.0.0.1 jid=carol@localhost mechanism=SCRAM-SHA-256 level=xmpp' "$RELAY_LOG"
}

@test "slixmpp with a wrong password is refused" {
    run /usr/bin/python3 "$SIMPP_TOP/t/tools/xmppclient.py" $PORT carol@localhost alice@localhost x <<< 'wrong'
    [ "$status" -eq 2 ]
    grep -q 'auth-fail .*user=carol' "$RELAY_LOG"
}

@test "a policy of no write-down keeps a card/password user from writing to a plain XMPP user" {
    stop_relay
    start_relay -o tls_required=no -o policy=no-write-down
    session alice
    say alice "<presence/>"
    echo 'carol pass 1' | /usr/bin/python3 "$SIMPP_TOP/t/tools/xmppclient.py" $PORT carol@localhost alice@localhost 'up is fine' > carol.out &
    CPID=$!
    # writing up (xmpp -> password) is allowed
    wait_for alice "up is fine" alice.out
    from=$(grep -o "from='carol@localhost/[^']*'" alice.out | head -1 | sed "s/from='//; s/'//")
    # writing down (password -> xmpp) is refused
    say alice "<message to='$from' type='chat' id='down'><body>down is not</body></message>"
    wait_for alice "id='down'.*forbidden|forbidden.*id='down'" alice.out
    grep -q 'policy-refused from=alice@localhost/t level=password to=carol@localhost level=xmpp' "$RELAY_LOG"
    kill "$CPID" 2>/dev/null || true
    ! grep -q 'down is not' carol.out || false
}

