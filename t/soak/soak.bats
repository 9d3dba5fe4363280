#!/usr/bin/env bats
# make soak: the long robustness runs (minutes, not seconds), kept out of
# make check.  Release build, loopback only, bounded in count and time.
load ../helper

LOAD() { "$SIMPP_TOP/build/rel/bench/relay-load" "$@"; }

accounts() {  # accounts N: user1..userN, same password (copied verifier)
    echo pw > pwf
    simpp-relayd -d data passwd user1@localhost -P 3 3<pwf > /dev/null
    sqlite3 data/simpp.db "WITH RECURSIVE n(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM n WHERE i < $1)
        INSERT INTO users SELECT 'user' || i || '@localhost', level, curve, pub, wka, scram_salt, scram_iter,
        scram_stored, scram_server, created FROM users, n WHERE jid = 'user1@localhost'"
}
rss() { awk '/VmRSS/{print $2}' /proc/$RELAY_PID/status; }

@test "10,000 concurrent authenticated connections are held" {
    start_relay -o max_per_addr=20000 -o max_conns=20000 -o tls_required=no
    accounts 10000
    LOAD -c 127.0.0.1:$PORT -m idle -n 10000 -s $RELAY_PID -P 3 3<pwf > idle.out 2>&1
    cat idle.out >&3
    grep -q '^idle 10000 ' idle.out
    ! grep -q 'failed' idle.out || false
    kill -0 $RELAY_PID
}

@test "the relay's RSS returns to its baseline after 10,000 login/logout cycles" {
    start_relay -o max_per_addr=20000 -o tls_required=no
    accounts 1
    LOAD -c 127.0.0.1:$PORT -m login -n 1 -k 2000 -j 20 -s $RELAY_PID -P 3 3<pwf > warm.out 2>&1
    base=$(rss)
    LOAD -c 127.0.0.1:$PORT -m login -n 1 -k 10000 -j 20 -s $RELAY_PID -P 3 3<pwf > cycles.out 2>&1
    after=$(rss)
    echo "RSS after 2,000 warm-up logins: $base kB; after 10,000 more: $after kB" >&3
    grep -q '^logins_per_s' cycles.out
    [ $((after - base)) -lt 1024 ]
}

@test "valgrind memcheck: the relay and a full session chain, no error, no leak" {
    [ -x "$SIMPP_TOP/bin/simpp-relayd" ]
    simpp-keygen -q -t server -w relay.pub relay.key > /dev/null
    mkdir data
    valgrind -q --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 --log-file=vg-relay.log \
        simpp-relayd -d data -k relay.key -l 127.0.0.1:0 -r 3 3>ready 2>relay.log &
    RELAY_PID=$!
    for i in $(seq 150); do [ -s ready ] && break; sleep 0.2; done
    PORT=$(cat ready)
    simpp-keygen -q alice.key > /dev/null
    simpp-keygen -q bob.key > /dev/null
    simpp-register -c 127.0.0.1:$PORT -s relay.pub -k alice.key alice@localhost
    simpp-register -c 127.0.0.1:$PORT -s relay.pub -k bob.key bob@localhost
    mkfifo b.in
    mkdir inbox
    SIMPP_HOME=$TMP/hb valgrind -q --trace-children=yes --leak-check=full --errors-for-leak-kinds=definite \
        --error-exitcode=99 --log-file=vg-bob.%p.log \
        simpp-login -c 127.0.0.1:$PORT -s relay.pub -k bob.key bob@localhost simpp-session -j -o $TMP/inbox alice@localhost \
        < b.in > b.out 2> b.err &
    BOB=$!
    exec {fb}>b.in
    wait_for b "^offline alice" b.out 60
    printf 'hello through valgrind\n/file /etc/hostname\n' | SIMPP_HOME=$TMP/ha valgrind -q --trace-children=yes \
        --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 --log-file=vg-alice.%p.log \
        simpp-login -c 127.0.0.1:$PORT -s relay.pub -k alice.key alice@localhost simpp-session -j -w 20 bob@localhost > a.out
    grep -q '^ack 1' a.out
    grep -q '^file-delivered' a.out
    cmp /etc/hostname inbox/hostname
    wait_for b "hello through valgrind" b.out 30
    exec {fb}>&-
    wait $BOB
    kill -TERM $RELAY_PID
    wait $RELAY_PID
    RELAY_PID=
    for f in vg-*.log; do
        if [ -s "$f" ]; then echo "== $f" >&3; cat "$f" >&3; fi
    done
    [ -z "$(cat vg-*.log)" ]
}

@test "a 100 MB stanza is cut off at the limit without the relay's memory growing" {
    start_relay
    rss0=$(rss)
    python3 - "$PORT" > out <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(10)                # a relay that stops reading fails this, not hangs it
s.sendall(b"<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'><message><body>")
chunk, sent = b"A" * (1 << 20), 0
try:
    while sent < 100 * (1 << 20):
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
    rss1=$(rss)
    echo "RSS before $rss0 kB, after $rss1 kB; $(tail -1 out) bytes sent before the cut" >&3
    grep -q "<policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>" out
    [ $((rss1 - rss0)) -lt 8192 ]
    kill -0 $RELAY_PID
}
