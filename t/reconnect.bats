#!/usr/bin/env bats
# simpp-login rides through a broken connection: XEP-0198 resumption on the
# way back, a new stream when the relay lost the session, give-up after -R.
load helper
load tls
load xmpp-servers

setup() { relay_with alice bob; }
teardown() {
    local p
    for p in ${SESSION_PIDS:-}; do kill "$p" 2>/dev/null || true; done
    prosody_down
    [ -z "${EJ:-}" ] || ejabberd_down "$EJ"
    stop_relay
    common_teardown
}

# login NAME PORT [simpp-login options]: NAME logged in through PORT,
# stanzas in through NAME.in (held open), out in NAME.out; pid in pid_NAME
login() {
    local name=$1 port=$2; shift 2
    mkfifo "$name.in"
    simpp-login -c 127.0.0.1:"$port" -s relay.pub -k "$name.key" -r t -D 2 "$@" "$name@localhost" \
        < "$name.in" > "$name.out" 2> "$name.err" &
    eval "pid_$name=$!"
    SESSION_PIDS="${SESSION_PIDS:-} $!"
    eval "exec {fd_$name}>$name.in"
    say "$name" "<presence/>"
    wait_for "$name" "bound addr=.* jid=$name@localhost/t" "$RELAY_LOG"
    say "$name" "<iq type='get' id='up'><ping xmlns='urn:xmpp:ping'/></iq>"
    wait_for "$name" "id='up'" "$name.out"
}
# a proxy whose network the test breaks (t/tools/cutproxy.py); PPORT
proxy() {
    PPORT=$(free_port)
    python3 "$SIMPP_TOP/t/tools/cutproxy.py" "$PPORT" "$PORT" ctl > proxy.out &
    SESSION_PIDS="${SESSION_PIDS:-} $!"
    wait_for proxy listening proxy.out
}
# msgs FROM TO PREFIX FIRST LAST: numbered chat messages, ids PREFIX<n>
msgs() {
    local i
    for i in $(seq "$4" "$5"); do
        say "$1" "<message to='$2@localhost' id='$3$i' type='chat'><body>$3$i</body></message>"
    done
}
# once FILE PREFIX FIRST LAST: each message there exactly once, in order
once() {
    local got want
    got=$(grep -o "<body>$2[0-9]*</body>" "$1" | tr -dc '0-9\n')
    want=$(seq "$3" "$4")
    [ "$got" = "$want" ] || { echo "got: $(echo $got)" >&2; return 1; }
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

@test "kill -9 and a restart: both logins come back on a new stream; what was typed meanwhile arrives once, in order" {
    login alice "$PORT"
    login bob "$PORT"
    msgs alice bob a 1 3
    wait_for bob "<body>a3</body>" bob.out
    # acknowledged after a second idle (<r/>): then nothing is sent twice
    sleep 2
    kill -9 "$RELAY_PID"
    wait "$RELAY_PID" 2>/dev/null || true
    wait_for alice "state='down'" alice.out
    wait_for bob "state='down'" bob.out
    # the link lines, exactly as documented, one a line
    grep -qx "<link xmlns='urn:simpp:1:link' state='down' pending='[0-9]*'/>" alice.out
    grep -q "simpp-login: connection lost: the relay closed the connection; reconnecting" alice.err
    msgs alice bob a 4 8
    restart_relay
    wait_for alice "state='new'" alice.out 20
    wait_for bob "state='new'" bob.out 20
    grep -qx "<link xmlns='urn:simpp:1:link' state='new' resent='[0-9]*'/>" alice.out
    grep -q "simpp-login: new stream (the server lost the session; [0-9]* resent)" alice.err
    wait_for bob "<body>a8</body>" bob.out 20
    sleep 1
    once bob.out a 1 8
    # both still work, both ways
    msgs bob alice b 1 2
    wait_for alice "<body>b2</body>" alice.out
    once alice.out b 1 2
    alive "$pid_alice"
    alive "$pid_bob"
}

@test "the network goes silent for 5 s: <r/> unanswered, the stream resumes (no new binding); held stanzas arrive once" {
    proxy
    login alice "$PPORT" -A 2
    login bob "$PORT"
    echo "blackhole 5" >> ctl
    sleep 0.3
    msgs alice bob a 1 3
    msgs bob alice b 1 3
    wait_for alice "state='down'" alice.out
    grep -q "connection lost: no answer to <r/> in 2000 ms; reconnecting" alice.err
    wait_for alice "state='resumed'" alice.out 20
    grep -qx "<link xmlns='urn:simpp:1:link' state='resumed' resent='[0-9]*'/>" alice.out
    grep -q "simpp-login: resumed ([0-9]* resent)" alice.err
    wait_for bob "<body>a3</body>" bob.out
    wait_for alice "<body>b3</body>" alice.out
    sleep 1
    once bob.out a 1 3
    once alice.out b 1 3
    grep -q "resumed addr=.* jid=alice@localhost/t" "$RELAY_LOG"
    [ "$(grep -c "bound addr=.* jid=alice@" "$RELAY_LOG")" -eq 1 ]
}

@test "a proxy cuts the connection three times in a 2,000-message burst: every message arrives exactly once" {
    proxy
    login alice "$PPORT"
    login bob "$PORT"
    python3 -c '
for i in range(1, 2001):
    print("<message to=\x27bob@localhost\x27 id=\x27m%d\x27 type=\x27chat\x27><body>m%d</body></message>" % (i, i))' > burst
    echo "cutafter 500 3" >> ctl
    cat burst >&$fd_alice
    wait_for bob "<body>m2000</body>" bob.out 60
    sleep 1
    [ "$(grep -c '^cut$' proxy.out)" -eq 3 ]
    [ "$(grep -c "state='resumed'" alice.out)" -eq 3 ]
    once bob.out m 1 2000
}

@test "the resumption window is over: resume refused, a new stream with presence, held messages from offline storage once" {
    stop_relay
    restart_relay -o resume_timeout=1
    proxy
    login alice "$PPORT"
    login bob "$PORT"
    # the network resets alice's connection and stays away 4 s
    printf 'cut\nblackhole 4\n' >> ctl
    wait_for alice "state='down'" alice.out
    wait_for "$RELAY_LOG" "detached jid=alice@localhost/t" "$RELAY_LOG"
    msgs bob alice b 1 3
    wait_for "$RELAY_LOG" "resume-expired jid=alice@localhost/t" "$RELAY_LOG"
    wait_for alice "state='new'" alice.out 20
    grep -q "resume-failed addr=.* jid=alice@localhost" "$RELAY_LOG"
    wait_for alice "<body>b3</body>" alice.out
    sleep 1
    once alice.out b 1 3
    # a new binding of the same resource; the offline messages came because
    # alice's presence was sent again on it
    [ "$(grep -c "bound addr=.* jid=alice@localhost/t" "$RELAY_LOG")" -eq 2 ]
    grep -q "offline-held jid=alice@localhost count=3" "$RELAY_LOG"
}

@test "a relay that never comes back: gives up after -R with exit 69, the pending stanzas listed without bodies" {
    login alice "$PORT" -R 3
    stop_relay
    msgs alice bob secret 1 2
    status=0
    wait "$pid_alice" || status=$?
    [ "$status" -eq 69 ]
    grep -q "^simpp-login: gave up after [0-9]* attempts in [0-9]* s: unable to connect to 127.0.0.1:$PORT" alice.err
    grep -qx "simpp-login: pending: message to=bob@localhost id=secret1" alice.err
    grep -qx "simpp-login: pending: message to=bob@localhost id=secret2" alice.err
    ! grep -q "<body>" alice.err || false
}

@test "while the relay is down the attempts cost almost no CPU" {
    login alice "$PORT" -R 60
    stop_relay
    wait_for alice "state='down'" alice.out
    local t0 t1
    t0=$(cpu_ticks "$pid_alice")
    sleep 4
    t1=$(cpu_ticks "$pid_alice")
    echo "CPU: $((t1 - t0)) ticks in 4 s" >&3
    [ $((t1 - t0)) -lt 40 ]
    alive "$pid_alice"
}

@test "the account is gone when it comes back: refused at once with exit 77, no retry" {
    login alice "$PORT" -R 20
    stop_relay
    mv data data.old
    mkdir data
    restart_relay
    status=0
    wait "$pid_alice" || status=$?
    [ "$status" -eq 77 ]
    grep -q "login refused" alice.err
    [ "$(grep -c 'auth-fail\|login refused' alice.err)" -eq 1 ]
}

@test "the relay comes back with another key: refused at once with exit 77, nothing is sent to it" {
    login alice "$PORT"
    stop_relay
    simpp-keygen -q -t server -w other.pub other.key > /dev/null
    simpp-relayd -d data -k other.key -l 127.0.0.1:"$PORT" -r 3 3>ready2 2>>"$RELAY_LOG" &
    RELAY_PID=$!
    msgs alice bob a 1 1
    status=0
    wait "$pid_alice" || status=$?
    [ "$status" -eq 77 ]
    grep -q "THE RELAY'S KEY HAS CHANGED" alice.err
    # the first login only: no S1 went to the other relay
    [ "$(grep -c "login addr=.* jid=alice" "$RELAY_LOG")" -eq 1 ]
    ! grep -q "auth-fail.*alice" "$RELAY_LOG" || false
}

@test "-x: the server comes back without TLS: the password is not sent, exit 76" {
    stop_relay
    start_tls_relay
    printf 'pass 1\n' | simpp-relayd -d data passwd carol@localhost -P 0 > /dev/null
    simpp-keygen -q carol.key > /dev/null
    echo 'pass 1' > carol.pw
    mkfifo carol.in
    simpp-login -c 127.0.0.1:"$PORT" -x -T ca.pem -k carol.key -W 3 -r t -D 1 -R 20 carol@localhost \
        < carol.in > carol.out 2> carol.err 3< carol.pw &
    pid_carol=$!
    SESSION_PIDS="$pid_carol"
    exec {fd_carol}>carol.in
    say carol "<presence/>"
    wait_for carol "bound addr=.* jid=carol@localhost/t" "$RELAY_LOG"
    stop_relay
    restart_relay
    status=0
    wait "$pid_carol" || status=$?
    [ "$status" -eq 76 ]
    grep -q "the server no longer offers TLS: refusing to send it the password" carol.err
    [ "$(grep -c "login addr=.* jid=carol@localhost" "$RELAY_LOG")" -eq 1 ]
}

@test "a stanza injected in clear: the session ends at once, no reconnection (what came is not the relay's)" {
    TP=$(free_port)
    python3 "$SIMPP_TOP/t/tools/tamper.py" $TP $PORT inject > tp.inject &
    SESSION_PIDS="$!"
    wait_for tamper listening tp.inject
    run timeout 30 simpp-login -c 127.0.0.1:$TP -s relay.pub -k alice.key -r inj alice@localhost <<'IN'
<iq type='get' id='one'><ping xmlns='urn:xmpp:ping'/></iq>
IN
    [ "$status" -eq 69 ]
    [[ "$output" == *"in clear after login; refusing it"* ]]
    [[ "$output" != *"reconnecting"* ]]
}

@test "-R 0: no reconnection, the old behaviour; the program may drive XEP-0198 itself" {
    login alice "$PORT" -R 0
    say alice "<enable xmlns='urn:xmpp:sm:3'/>"
    say alice "<r xmlns='urn:xmpp:sm:3'/>"
    wait_for alice "<a xmlns='urn:xmpp:sm:3' h='0'/>" alice.out
    kill -9 "$RELAY_PID"
    status=0
    wait "$pid_alice" || status=$?
    [ "$status" -eq 69 ]
    ! grep -q "state='down'" alice.out || false
}

@test "stream management is simpp-login's: the program's <r/> is dropped with a warning" {
    login alice "$PORT"
    say alice "<r xmlns='urn:xmpp:sm:3'/>"
    say alice "<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>"
    wait_for alice "id='p1'" alice.out
    grep -q "stream management is simpp-login's; dropped" alice.err
    ! grep -q "<a xmlns='urn:xmpp:sm:3'" alice.out || false
}

@test "with a program: it keeps fds 6/7 across a relay restart and reads the link lines there" {
    mkfifo alice.in
    # the program: what comes on 6 to its stdout, its stdin to 7
    simpp-login -c 127.0.0.1:"$PORT" -s relay.pub -k alice.key -r t -D 2 alice@localhost \
        sh -c 'exec 8<&- 3<&0; cat <&3 >&7 & exec cat <&6' < alice.in > alice.out 2> alice.err &
    pid_alice=$!
    SESSION_PIDS="$pid_alice"
    exec {fd_alice}>alice.in
    say alice "<presence/>"
    say alice "<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>"
    wait_for alice "id='p1'" alice.out
    kill -9 "$RELAY_PID"
    wait "$RELAY_PID" 2>/dev/null || true
    wait_for alice "state='down'" alice.out
    restart_relay
    wait_for alice "state='new'" alice.out 20
    say alice "<iq type='get' id='p2'><ping xmlns='urn:xmpp:ping'/></iq>"
    wait_for alice "id='p2'" alice.out
    grep -qx "<link xmlns='urn:simpp:1:link' state='down' pending='[0-9]*'/>" alice.out
    grep -qx "<link xmlns='urn:simpp:1:link' state='new' resent='[0-9]*'/>" alice.out
    # nothing of XEP-0198 reaches the program
    ! grep -q "urn:xmpp:sm:3" alice.out || false
    alive "$pid_alice"
}

# xmpp_cut DOMAIN PORT: alice@DOMAIN through a proxy to an ordinary server
# on PORT, bob directly; alice's connection is cut, both send three
# messages; she logs in again (SCRAM) and resumes: each arrives once
xmpp_cut() {
    local D=$1 n
    PORT=$2 proxy
    mkfifo alice.in bob.in
    xlogin alice "$D" "$PPORT" -r t -D 2 < alice.in > alice.out 2> alice.err &
    SESSION_PIDS="${SESSION_PIDS:-} $!"
    exec {fd_alice}>alice.in
    xlogin bob "$D" "$2" -r t < bob.in > bob.out 2> bob.err &
    SESSION_PIDS="$SESSION_PIDS $!"
    exec {fd_bob}>bob.in
    for n in alice bob; do
        say $n "<presence/>"
        say $n "<iq type='get' id='up'><ping xmlns='urn:xmpp:ping'/></iq>"
        wait_for $n "id='up'" $n.out 20
    done
    echo cut >> ctl
    wait_for alice "state='down'" alice.out
    for n in 1 2 3; do
        say alice "<message to='bob@$D' id='a$n' type='chat'><body>a$n</body></message>"
        say bob "<message to='alice@$D/t' id='b$n' type='chat'><body>b$n</body></message>"
    done
    wait_for alice "state='resumed'" alice.out 30
    wait_for bob "<body>a3</body>" bob.out
    wait_for alice "<body>b3</body>" alice.out
    sleep 1
    once bob.out a 1 3
    once alice.out b 1 3
}

@test "Prosody (an ordinary server, SCRAM): a cut connection logs in again and resumes (XEP-0198), messages once each both ways" {
    local D=example.org
    stop_relay
    prosody_up $D 'modules_enabled = { "roster", "saslauth", "tls", "disco", "ping", "offline", "pep", "posix", "stanza_debug", "smacks" }' || return 1
    rm -f alice.key* bob.key*
    xuser alice
    xuser bob
    prosody_account $D alice "$(cat alice.pw)"
    prosody_account $D bob "$(cat bob.pw)"
    xmpp_cut $D "$P_PORT"
    # alice logged in twice (SCRAM), and resumed
    [ "$(grep -c "RECV: <auth [^>]*mechanism='SCRAM" prosody.log)" -ge 3 ]
    grep -q "RECV: <resume [^>]*previd=" prosody.log
}

@test "ejabberd (an ordinary server, SCRAM): a cut connection logs in again and resumes (XEP-0198), messages once each both ways" {
    local D=example.net
    EJ=rc$RANDOM
    stop_relay
    ejabberd_up $EJ $D '  mod_stream_mgmt: {}' || return 1
    rm -f alice.key* bob.key*
    xuser alice
    xuser bob
    ejabberd_account $EJ alice $D "$(cat alice.pw)"
    ejabberd_account $EJ bob $D "$(cat bob.pw)"
    xmpp_cut $D "$E_PORT"
    grep -q "simpp-login: resumed" alice.err
}
