#!/usr/bin/env bats
# Federation (RFC 6120 server-to-server): two simpp-relayd domains, a.test
# and b.test, on loopback with static routes, each with a certificate for
# its domain from a test CA that both trust.  Users of each domain
# subscribe across, see presence, exchange messages, and run simpp-session
# end to end across the domains; then what must be refused.
load helper
load tls

# start_domain NAME DOMAIN [options]: a relay for DOMAIN, data in NAME/,
# certificate NAME.pem; the peer's s2s port comes from PEER_S2S_<NAME>
start_domain() {
    local n=$1 d=$2 s2s; shift 2
    mkdir -p "$n"
    [ -f "$n/relay.key" ] || simpp-keygen -q -t server -w "$n/relay.pub" "$n/relay.key" > /dev/null
    [ -f "$n.pem" ] || make_cert "$n" 30 ec "$d"
    eval "s2s=\$S2S_$n"
    rm -f "$n/ready"
    simpp-relayd -d "$n" -k "$n/relay.key" -D "$d" -l 127.0.0.1:0 -r 3 -o tls_cert="$n.pem" -o tls_key="$n.key" \
        -o s2s_port="$s2s" -o s2s_ca=ca.pem -o s2s_route=a.test=127.0.0.1:"$S2S_a" \
        -o s2s_route=b.test=127.0.0.1:"$S2S_b" "$@" 3>"$n/ready" 2>>"$n.log" &
    eval "PID_$n=$!"
    RELAY_PIDS="${RELAY_PIDS:-} $!"
    local i
    # a loaded machine's sanitizer build may take seconds to start
    for i in $(seq 1 300); do [ -s "$n/ready" ] && break; sleep 0.1; done
    [ -s "$n/ready" ] || { echo "# $d did not start:"; sed 's/^/# /' "$n.log"; return 1; }
    read -r port _ _ < "$n/ready"
    eval "PORT_$n=$port"
}

# user NAME DOMAIN-NAME: a key and a registration
user() {
    local port
    eval "port=\$PORT_$2"
    simpp-keygen -q "$1.key" > /dev/null
    simpp-register -c 127.0.0.1:"$port" -s "$2/pin.pub" -T ca.pem -k "$1.key" "$1@$2.test" > /dev/null 2>&1
}

# dsession LABEL JID DOMAIN-NAME: a stanza pipe (LABEL.in, LABEL.out) for JID, resource t
dsession() {
    local name=$1 jid=$2 port
    eval "port=\$PORT_$3"
    mkfifo "$name.in"
    simpp-login -c 127.0.0.1:"$port" -s "$3/pin.pub" -T ca.pem -k "$name.key" -r t "$jid" \
        < "$name.in" > "$name.out" 2> "$name.err" &
    SESSION_PIDS="${SESSION_PIDS:-} $!"
    eval "exec {fd_$name}>$name.in"
    wait_for "$name" "bound addr=.* jid=$jid/t" "$3.log"
}

# de2e NAME PEER-JID DOMAIN-NAME [simpp-session options]
de2e() {
    local name=$1 peer=$2 dom=$3 port
    eval "port=\$PORT_$3"
    shift 3
    mkfifo "$name.in"
    SIMPP_HOME="$TMP/$name.home" simpp-login -c 127.0.0.1:"$port" -s "$dom/pin.pub" -T ca.pem -k "$name.key" -r s \
        "$name@$dom.test" simpp-session -j "$@" "$peer" < "$name.in" > "$name.out" 2> "$name.err" &
    eval "pid_$name=$!"
    SESSION_PIDS="${SESSION_PIDS:-} $!"
    eval "exec {fd_$name}>$name.in"
}

setup() {
    common_setup
    make_ca
    S2S_a=$(free_port)
    S2S_b=$(free_port)
    start_domain a a.test
    start_domain b b.test
    user alice a
    user bob b
}

teardown() {
    local p
    for p in ${SESSION_PIDS:-}; do kill "$p" 2>/dev/null || true; done
    for p in ${RELAY_PIDS:-}; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    common_teardown
}

@test "across domains: a subscription both ways, presence, messages, and a ping to the other server" {
    dsession alice alice@a.test a
    dsession bob bob@b.test b
    say alice "<presence/>"
    say bob "<presence/>"
    say alice "<presence to='bob@b.test' type='subscribe'/>"
    wait_for bob "<presence type='subscribe' from='alice@a.test' to='bob@b.test'/>" bob.out
    say bob "<presence to='alice@a.test' type='subscribed'/>"
    wait_for alice "type='subscribed' from='bob@b.test'" alice.out
    # alice's roster has bob, subscription to; bob's presence reaches her
    say alice "<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>"
    wait_for alice "id='r1'.*jid='bob@b.test'[^>]*subscription='to'" alice.out
    wait_for alice "<presence to='alice@a.test' from='bob@b.test/t'/>" alice.out
    say alice "<message to='bob@b.test' type='chat' id='m1'><body>hello from a.test</body></message>"
    wait_for bob "from='alice@a.test/t'.*hello from a.test" bob.out
    say bob "<message to='alice@a.test/t' type='chat'><body>and back from b.test</body></message>"
    wait_for alice "from='bob@b.test/t'.*and back from b.test" alice.out
    say alice "<iq type='get' id='p1' to='b.test'><ping xmlns='urn:xmpp:ping'/></iq>"
    wait_for alice "<iq type='result' id='p1' from='b.test' to='alice@a.test/t'/>" alice.out
    grep -q 's2s-in addr=127.0.0.1 domain=a.test tls=TLSv1.3' b.log
    grep -q 's2s-out domain=b.test' a.log
    # bob leaves: alice sees it
    end_session bob
    wait_for alice "type='unavailable' from='bob@b.test/t'" alice.out
}

@test "simpp-session end to end across domains: acknowledged lines, equal transcripts, a pager message for an offline peer" {
    de2e bob alice@a.test b
    wait_for bob "offline alice@a.test" bob.out 20
    de2e alice bob@b.test a
    wait_for alice "^session chacha20-poly1305 bob@b.test/s" alice.out 20
    wait_for bob "^session chacha20-poly1305 alice@a.test/s" bob.out
    say alice "across the federation"
    wait_for bob "^msg 1 alice@a.test across the federation" bob.out
    wait_for alice "^ack 1" alice.out
    end_session alice
    wait "$pid_alice"
    wait_for bob "^bye alice@a.test" bob.out
    [ "$(grep '^transcript' alice.out | tail -1)" = "$(grep '^transcript' bob.out | tail -1)" ]
    # neither relay could read it: the text is nowhere in their stores
    ! grep -rq "across the federation" a b || false
    end_session bob
    wait "$pid_bob"
    # bob is away: alice's pager message waits in b.test's store, sealed
    rm -f alice.in bob.in
    de2e alice bob@b.test a
    wait_for alice "offline bob@b.test" alice.out 20
    say alice "while you were away"
    sleep 1
    end_session alice
    wait "$pid_alice"
    ! grep -rq "while you were away" b || false
    de2e bob alice@a.test b
    wait_for bob "while you were away" bob.out 20
}

@test "the information-flow policy across domains: the other domain's users are at the lowest level unless configured" {
    for n in a b; do eval "kill -TERM \$PID_$n; wait \$PID_$n" || true; done
    RELAY_PIDS=
    start_domain a a.test -o policy=no-write-down
    start_domain b b.test
    dsession alice alice@a.test a
    dsession bob bob@b.test b
    say bob "<presence/>"
    say alice "<message to='bob@b.test/t' type='chat' id='down'><body>not down</body></message>"
    wait_for alice "id='down'.*forbidden" alice.out
    grep -q 'policy-refused from=alice@a.test/t level=password to=bob@b.test level=xmpp' a.log
    kill -TERM "$PID_a"; wait "$PID_a" || true
    start_domain a a.test -o policy=no-write-down -o s2s_level=b.test=password
    rm -f alice.in
    dsession alice alice@a.test a
    say alice "<message to='bob@b.test/t' type='chat'><body>same level now</body></message>"
    wait_for bob "same level now" bob.out
}

@test "a domain whose server cannot be reached, or shows a certificate for another name: the sender gets an error, others are served" {
    kill -TERM "$PID_b"; wait "$PID_b" || true
    dsession alice alice@a.test a
    say alice "<message to='bob@b.test' type='chat' id='gone'><body>x</body></message>"
    wait_for alice "id='gone'.*remote-server-not-found" alice.out 15
    grep -q 's2s-failed domain=b.test' a.log
    # b.test answers with a certificate for c.test
    make_cert c 30 ec c.test
    cp c.pem b.pem
    cp c.key b.key
    start_domain b b.test
    say alice "<message to='bob@b.test' type='chat' id='wrong'><body>y</body></message>"
    wait_for alice "id='wrong'.*remote-server" alice.out 15
    ! grep -q 's2s-out domain=b.test' a.log || false
    # a domain with no route and no DNS: refused, and the relay goes on
    say alice "<message to='carol@nowhere.invalid' type='chat' id='dns'><body>z</body></message>"
    wait_for alice "id='dns'.*remote-server-not-found" alice.out 30
    say alice "<iq type='get' id='still' to='a.test'><ping xmlns='urn:xmpp:ping'/></iq>"
    wait_for alice "id='still'" alice.out
}

@test "a peer server that lies: a 'from' of another domain ends its stream; without a certificate it gets no login" {
    # a.test's certificate, but a stanza claiming to come from c.test
    run /usr/bin/python3 "$SIMPP_TOP/t/tools/s2speer.py" "$S2S_b" a.test b.test a.pem a.key \
        "<message from='mallory@c.test' to='bob@b.test' type='chat'><body>spoofed</body></message>"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *"invalid-from"* ]]
    grep -q 's2s-spoof addr=127.0.0.1 domain=a.test from=mallory@c.test' b.log
    # no certificate at all: EXTERNAL is not offered, the login is refused
    run /usr/bin/python3 "$SIMPP_TOP/t/tools/s2speer.py" "$S2S_b" a.test b.test - - \
        "<message from='alice@a.test' to='bob@b.test' type='chat'><body>x</body></message>"
    echo "$output"
    [ "$status" -eq 2 ]
    [[ "$output" == *"not-authorized"* ]]
    # a certificate for a.test used to claim d.test: refused too
    run /usr/bin/python3 "$SIMPP_TOP/t/tools/s2speer.py" "$S2S_b" d.test b.test a.pem a.key \
        "<message from='x@d.test' to='bob@b.test' type='chat'><body>x</body></message>"
    [ "$status" -eq 2 ]
    grep -q 's2s-refused addr=127.0.0.1 domain=d.test reason=no certificate for the domain' b.log
}

@test "a flooding server is slowed down (logged), not let through at once, and loses nothing" {
    kill -TERM "$PID_b"; wait "$PID_b" || true
    start_domain b b.test -o s2s_rate=500
    dsession bob bob@b.test b
    say bob "<presence/>"
    run /usr/bin/python3 "$SIMPP_TOP/t/tools/s2speer.py" "$S2S_b" a.test b.test a.pem a.key \
        "<message from='alice@a.test/x' to='bob@b.test' type='chat'><body>flood</body></message>" 2000
    [ "$status" -eq 0 ]
    grep -q 's2s-throttled addr=127.0.0.1 domain=a.test rate=500/s' b.log
    for i in $(seq 1 100); do [ "$(grep -c '<body>flood</body>' bob.out)" -ge 2000 ] && break; sleep 0.1; done
    [ "$(grep -c '<body>flood</body>' bob.out)" -eq 2000 ]
}

# restart_both [options]: both domains again, with options
restart_both() {
    local n
    for n in a b; do eval "kill -TERM \$PID_$n; wait \$PID_$n" || true; done
    RELAY_PIDS=
    start_domain a a.test "$@"
    start_domain b b.test "$@"
}

# a CA that signed neither domain's certificate: with it, neither trusts the other
other_ca() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other.key -out other.pem \
        -days 30 -subj "/CN=another CA" 2>/dev/null
}

# alice_to_bob ID TEXT: alice and bob (again) on their domains, a message from her to him
alice_to_bob() {
    if [ -n "${fd_alice:-}" ]; then end_session alice; end_session bob; fi
    rm -f alice.in bob.in
    dsession alice alice@a.test a
    dsession bob bob@b.test b
    say bob "<presence/>"
    say alice "<presence/>"
    say alice "<message to='bob@b.test/t' type='chat' id='$1'><body>$2</body></message>"
}

@test "Server Dialback: two domains whose certificates neither trusts federate only when dialback is allowed" {
    other_ca
    restart_both -o s2s_ca=other.pem
    alice_to_bob off "certificates only"
    wait_for alice "id='off'.*remote-server" alice.out 15
    grep -q 'tls-failed addr=127.0.0.1 domain=b.test reason=certificate not trusted' a.log
    ! grep -q 's2s-in .*domain=a.test' b.log || false
    ! grep -q 'certificates only' bob.out || false
    # a allows dialback, b does not: b refuses a's key unheard
    kill -TERM "$PID_a"; wait "$PID_a" || true
    start_domain a a.test -o s2s_ca=other.pem -o s2s_dialback=yes
    alice_to_bob half "one side only"
    wait_for alice "id='half'.*remote-server" alice.out 15
    grep -q 's2s-refused addr=127.0.0.1 domain=a.test reason=dialback not allowed' b.log
    ! grep -q 'one side only' bob.out || false
    # both allow it: the keys are checked with the other server, both ways
    restart_both -o s2s_ca=other.pem -o s2s_dialback=yes
    alice_to_bob db "by dialback"
    wait_for bob "from='alice@a.test/t'.*by dialback" bob.out 15
    say bob "<message to='alice@a.test/t' type='chat'><body>and back by dialback</body></message>"
    wait_for alice "from='bob@b.test/t'.*and back by dialback" alice.out 15
    grep -q 's2s-in addr=127.0.0.1 domain=a.test tls=TLSv1.3 auth=dialback' b.log
    grep -q 's2s-out domain=b.test .*auth=dialback' a.log
    grep -q 's2s-dialback-verify addr=127.0.0.1 domain=b.test valid=yes' a.log
    grep -q 's2s-in addr=127.0.0.1 domain=b.test tls=TLSv1.3 auth=dialback' a.log
}

@test "Server Dialback: a wrong key gets type='invalid', a spoofed domain is refused, stanzas wait for the answer" {
    printf 'the dialback secret of the a.test nodes\n' > a.secret
    restart_both -o s2s_dialback=yes -o s2s_dialback_secret="$TMP/a.secret"
    dsession bob bob@b.test b
    say bob "<presence/>"
    msg() { echo "<message from='${2:-alice}@a.test/x' to='bob@b.test' type='chat'><body>$1</body></message>"; }
    # a key a.test never made: b.test asks a.test, which says invalid
    run /usr/bin/python3 "$SIMPP_TOP/t/tools/s2speer.py" "$S2S_b" a.test b.test dialback - "$(msg 'wrong key')"
    echo "$output"
    [ "$status" -eq 2 ]
    [[ "$output" == *"type='invalid'"* ]]
    grep -q 's2s-dialback-refused addr=127.0.0.1 domain=a.test reason=invalid key' b.log
    grep -q 's2s-dialback-verify addr=127.0.0.1 domain=b.test valid=no' a.log
    # the key a.test's nodes make (they share the secret): in
    run /usr/bin/python3 "$SIMPP_TOP/t/tools/s2speer.py" "$S2S_b" a.test b.test dialback a.secret "$(msg 'right key')"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *"type='valid'"* ]]
    wait_for bob "from='alice@a.test/x'.*right key" bob.out
    # ... but only for a.test: a stanza from c.test on it ends the stream
    run /usr/bin/python3 "$SIMPP_TOP/t/tools/s2speer.py" "$S2S_b" a.test b.test dialback a.secret \
        "$(msg 'spoofed' mallory | sed 's/@a.test/@c.test/')"
    echo "$output"
    [[ "$output" == *"invalid-from"* ]]
    grep -q 's2s-spoof addr=127.0.0.1 domain=a.test from=mallory@c.test/x' b.log
    # a key for another domain than the stream's
    DB_FROM=c.test run /usr/bin/python3 "$SIMPP_TOP/t/tools/s2speer.py" "$S2S_b" a.test b.test dialback a.secret \
        "$(msg 'other domain')"
    echo "$output"
    [ "$status" -eq 2 ]
    [[ "$output" == *"invalid-from"* ]]
    grep -q 's2s-spoof addr=127.0.0.1 domain=a.test from=c.test' b.log
    ! grep -q 'wrong key\|spoofed\|other domain' bob.out || false
    # a stanza before the answer (a.test's server here takes the connection
    # and says nothing): not routed, the stream ends
    python3 -c 'import socket, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
print(s.getsockname()[1], flush=True); c = s.accept(); time.sleep(30)' > silent.port &
    SESSION_PIDS="${SESSION_PIDS:-} $!"
    for i in $(seq 1 50); do [ -s silent.port ] && break; sleep 0.1; done
    kill -TERM "$PID_b"; wait "$PID_b" || true
    start_domain b b.test -o s2s_dialback=yes -o s2s_route=a.test=127.0.0.1:"$(cat silent.port)"
    end_session bob
    rm -f bob.in
    dsession bob bob@b.test b
    say bob "<presence/>"
    DB_NOWAIT=1 run /usr/bin/python3 "$SIMPP_TOP/t/tools/s2speer.py" "$S2S_b" a.test b.test dialback a.secret \
        "$(msg 'too early')"
    echo "$output"
    [ "$status" -eq 2 ] || { cat b.log; false; }
    [[ "$output" == *"not-authorized"* ]] || { cat b.log; false; }
    sleep 0.5
    ! grep -q 'too early' bob.out || false
    # b.test without dialback: even the right key is not heard
    kill -TERM "$PID_b"; wait "$PID_b" || true
    start_domain b b.test
    run /usr/bin/python3 "$SIMPP_TOP/t/tools/s2speer.py" "$S2S_b" a.test b.test dialback a.secret "$(msg 'not allowed')"
    echo "$output"
    [ "$status" -eq 2 ]
    [[ "$output" == *"not-authorized"* ]]
    grep -q 's2s-refused addr=127.0.0.1 domain=a.test reason=dialback not allowed' b.log
}

@test "a server stream that drops in the middle of a burst: what had not surely arrived goes again on a new stream, nothing twice" {
    # a.test reaches b.test through a relay that cuts the first stream after 30,000 bytes
    /usr/bin/python3 "$SIMPP_TOP/t/tools/dropproxy.py" "$S2S_b" 30000 > proxy.port &
    SESSION_PIDS="${SESSION_PIDS:-} $!"
    for i in $(seq 1 50); do [ -s proxy.port ] && break; sleep 0.1; done
    kill -TERM "$PID_a"; wait "$PID_a" || true
    start_domain a a.test -o s2s_route=b.test=127.0.0.1:"$(cat proxy.port)"
    dsession alice alice@a.test a
    dsession bob bob@b.test b
    say bob "<presence/>"
    for i in $(seq 1 300); do
        say alice "<message to='bob@b.test/t' type='chat' id='m$i'><body>burst $i</body></message>"
    done
    for i in $(seq 1 300); do [ "$(grep -o 'burst [0-9]*<' bob.out | sort -u | wc -l)" -ge 300 ] && break; sleep 0.1; done
    sleep 1
    [ "$(grep -o 'burst [0-9]*<' bob.out | sort -u | wc -l)" -eq 300 ]
    [ "$(grep -o 'burst [0-9]*<' bob.out | wc -l)" -eq 300 ]
    grep -q 's2s-retry domain=b.test again=[1-9][0-9]* given-up=0 acks=yes' a.log
    [ "$(grep -c 's2s-out domain=b.test' a.log)" -eq 2 ]
    ! grep -q "id='m[0-9]*'.*type='error'\|type='error'.*id='m[0-9]*'" alice.out || false
}

@test "Server Dialback to a peer whose stream ids are UUIDs (as Prosody's): our key is made over the whole id" {
    printf 'the dialback secret of the a.test nodes\n' > a.secret
    /usr/bin/python3 "$SIMPP_TOP/t/tools/s2sdb.py" b.test b.pem b.key a.secret > s2sdb.out 2>&1 &
    SESSION_PIDS="${SESSION_PIDS:-} $!"
    for i in $(seq 1 50); do [ -s s2sdb.out ] && break; sleep 0.1; done
    kill -TERM "$PID_a"; wait "$PID_a" || true
    start_domain a a.test -o s2s_dialback=yes -o s2s_dialback_secret="$TMP/a.secret" \
        -o s2s_route=b.test=127.0.0.1:"$(head -1 s2sdb.out)"
    dsession alice alice@a.test a
    say alice "<message to='bob@b.test' type='chat' id='u1'><body>over a stream with a long id</body></message>"
    wait_for s2sdb "over a stream with a long id" s2sdb.out 15
    grep -q '^key valid' s2sdb.out
    grep -q 's2s-out domain=b.test .*auth=dialback' a.log
}
