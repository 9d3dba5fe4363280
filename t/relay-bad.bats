#!/usr/bin/env bats
# simpp-relayd against bad input: each case gets the right stream or stanza
# error and a log line, and a logged-in user keeps being served meanwhile.
load helper

setup() {
    common_setup
    start_relay -o auth_timeout=3 -o max_per_addr=40
    new_user alice
    new_user bob
    session bob
    say bob "<presence/>"
}

# bob's session still answers
still_serving() {
    local id="alive$RANDOM"
    say bob "<iq type='get' id='$id'><ping xmlns='urn:xmpp:ping'/></iq>"
    wait_for bob "id='$id'" bob.out
}

@test "malformed XML: not-well-formed" {
    raw_stream "<message><body>x</bogus></message>"
    [[ "$output" == *"<not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"* ]]
    grep -q 'stream-error addr=127.0.0.1 jid=- condition=not-well-formed' "$RELAY_LOG"
    still_serving
}

@test "a DTD or an entity declaration: restricted-xml" {
    output=$(printf "<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'aaaa'>]><stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>" |
             timeout 10 nc -q 2 127.0.0.1 $PORT)
    [[ "$output" == *"<restricted-xml xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"* ]]
    raw_stream "<message><body>&lol;</body></message>"
    [[ "$output" == *"restricted-xml"* ]]
    raw_stream "<!-- comment --><presence/>"
    [[ "$output" == *"restricted-xml"* ]]
    still_serving
}

@test "a 10 MB stanza is cut off at the limit; the relay does not grow" {
    rss0=$(awk '/VmRSS/{print $2}' /proc/$RELAY_PID/status)
    python3 - "$PORT" > out <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'><message><body>")
chunk = b"A" * 65536
sent = 0
try:
    while sent < 10 * 1024 * 1024:
        s.sendall(chunk); sent += len(chunk)
except OSError:
    pass
s.settimeout(5)
data = b""
try:
    while True:
        d = s.recv(65536)
        if not d: break
        data += d
except OSError:
    pass
print(data.decode(errors="replace"))
print("sent", sent)
PY
    grep -q "<policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>" out
    rss1=$(awk '/VmRSS/{print $2}' /proc/$RELAY_PID/status)
    echo "rss before $rss0 kB after $rss1 kB" >&3
    [ $((rss1 - rss0)) -lt 8192 ]
    grep -q 'condition=policy-violation' "$RELAY_LOG"
    still_serving
}

@test "a stanza before login: not-authorized" {
    raw_stream "<message to='bob@localhost'><body>let me in</body></message>"
    [[ "$output" == *"<not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"* ]]
    ! grep -q 'let me in' bob.out || false
    still_serving
}

@test "an unknown user cannot log in" {
    simpp-keygen -q mallory.key > /dev/null
    run simpp-login -c 127.0.0.1:$PORT -s relay.pub -k mallory.key mallory@localhost < /dev/null
    [ "$status" -eq 77 ]
    [[ "$output" == *"login refused: not-authorized"* ]]
    grep -q 'auth-fail .*user=mallory@localhost mechanism=SIMPP reason=unknown user' "$RELAY_LOG"
    still_serving
}

@test "a wrong key (wrong password) cannot log in" {
    run simpp-login -c 127.0.0.1:$PORT -s relay.pub -k bob.key alice@localhost < /dev/null
    [ "$status" -eq 77 ]
    [[ "$output" == *"login refused: not-authorized"* ]]
    grep -q 'auth-fail .*user=alice@localhost mechanism=SIMPP reason=authentication failed' "$RELAY_LOG"
    still_serving
}

@test "a replayed S1 and S3 are refused" {
    echo "<presence/>" | simpp-login -v -c 127.0.0.1:$PORT -s relay.pub -k alice.key alice@localhost 2> trace > /dev/null
    auth=$(grep -o "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SIMPP'>[^<]*</auth>" trace)
    resp=$(grep -o "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>[^<]*</response>" trace)
    [ -n "$auth" ] && [ -n "$resp" ]
    raw_stream "$auth$resp"
    [[ "$output" == *"<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>"* ]]
    [[ "$output" != *"<success"* ]]
    grep -q 'auth-fail .*user=alice@localhost mechanism=SIMPP reason=authentication failed' "$RELAY_LOG"
    still_serving
}

@test "a forged R3 signature is refused and nothing is stored" {
    simpp-keygen -q a.key > /dev/null
    simpp-keygen -q b.key > /dev/null
    run "$SIMPP_TOOLS/simpptool" forge-r3 127.0.0.1:$PORT relay.pub a.key b.key dave@localhost
    [ "$status" -eq 0 ]
    [ "$output" = "not-authorized" ]
    grep -q 'register-refused .*jid=dave@localhost reason=authentication failed' "$RELAY_LOG"
    [ "$(sqlite3 data/simpp.db "select count(*) from users where jid='dave@localhost'")" -eq 0 ]
    still_serving
}

@test "a registration for another domain is refused" {
    simpp-keygen -q e.key > /dev/null
    run simpp-register -c 127.0.0.1:$PORT -s relay.pub -k e.key eve@elsewhere.org
    [ "$status" -ne 0 ]
    [[ "$output" == *"host-unknown"* ]]
    still_serving
}

@test "too many failed logins close the stream" {
    raw_stream "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SIMPP'>AAAA</auth><auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SIMPP'>AAAA</auth><auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SIMPP'>AAAA</auth><presence/>"
    [ "$(grep -o '<failure' <<< "$output" | wc -l)" -eq 3 ]
    [[ "$output" == *"<policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"* ]]
    still_serving
}

@test "wrong stream namespace, unknown host, old version" {
    output=$(printf "<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>" | timeout 10 nc -q 2 127.0.0.1 $PORT)
    [[ "$output" == *"invalid-namespace"* ]]
    output=$(printf "<?xml version='1.0'?><stream:stream to='example.org' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>" | timeout 10 nc -q 2 127.0.0.1 $PORT)
    [[ "$output" == *"host-unknown"* ]]
    output=$(printf "<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>" | timeout 10 nc -q 2 127.0.0.1 $PORT)
    [[ "$output" == *"unsupported-version"* ]]
    still_serving
}

@test "a client that never logs in is cut off (auth timeout)" {
    raw_stream "" 5
    [[ "$output" == *"<connection-timeout xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"* ]]
    still_serving
}

@test "connections per address are limited" {
    python3 - "$PORT" > out <<'PY'
import socket, sys, time
socks = []
for i in range(45):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    socks.append(s)
time.sleep(0.5)
closed = 0
for s in socks:
    s.setblocking(False)
    try:
        if s.recv(1) == b"": closed += 1
    except BlockingIOError:
        pass
print(closed)
PY
    # bob's own connection counts too: 40 allowed in all
    [ "$(cat out)" -ge 5 ]
    grep -q 'refused addr=127.0.0.1 reason=max-per-addr' "$RELAY_LOG"
    still_serving
}

@test "registrations per minute are throttled" {
    stop_relay
    start_relay -o reg_per_min=2
    simpp-keygen -q c1.key > /dev/null
    simpp-keygen -q c2.key > /dev/null
    simpp-keygen -q c3.key > /dev/null
    simpp-register -c 127.0.0.1:$PORT -s relay.pub -k c1.key c1@localhost
    simpp-register -c 127.0.0.1:$PORT -s relay.pub -k c2.key c2@localhost
    run simpp-register -c 127.0.0.1:$PORT -s relay.pub -k c3.key c3@localhost
    [ "$status" -ne 0 ]
    [[ "$output" == *"resource-constraint"* ]]
    grep -q 'register-refused addr=127.0.0.1 reason=rate' "$RELAY_LOG"
}

@test "a changed, replayed or dropped frame after login ends that stream only" {
    for mode in flip replay drop; do
        TP=$(free_port)
        python3 "$SIMPP_TOP/t/tools/tamper.py" $TP $PORT $mode > tamper.$mode &
        SESSION_PIDS="$SESSION_PIDS $!"
        wait_for tamper listening tamper.$mode
        run simpp-login -c 127.0.0.1:$TP -s relay.pub -k alice.key -r $mode alice@localhost <<'IN'
<iq type='get' id='one'><ping xmlns='urn:xmpp:ping'/></iq>
<iq type='get' id='two'><ping xmlns='urn:xmpp:ping'/></iq>
IN
        [[ "$output" == *"not-authorized"* ]]
        [[ "$output" != *"id='two'"* ]]
        grep -q "condition=not-authorized text=frame failed authentication or is out of sequence" "$RELAY_LOG"
        still_serving
    done
}

@test "a stanza injected in clear after login is refused by the client" {
    TP=$(free_port)
    python3 "$SIMPP_TOP/t/tools/tamper.py" $TP $PORT inject > tamper.out &
    SESSION_PIDS="$SESSION_PIDS $!"
    wait_for tamper listening tamper.out
    run simpp-login -c 127.0.0.1:$TP -s relay.pub -k alice.key -r inj alice@localhost <<'IN'
<iq type='get' id='one'><ping xmlns='urn:xmpp:ping'/></iq>
<iq type='get' id='two'><ping xmlns='urn:xmpp:ping'/></iq>
IN
    [ "$status" -ne 0 ]
    [[ "$output" == *"in clear after login; refusing it"* ]]
    [[ "$output" != *INJECTED* ]]
}
