#!/usr/bin/env bats
# Bad days for the relay: killed mid-traffic, a full disk, a locked or
# read-only store, clients that vanish.
load helper

setup() {
    common_setup
}

@test "kill -9 mid-traffic: nothing the relay acknowledged is lost, nothing arrives twice" {
    start_relay
    new_user alice
    new_user bob
    # alice sends 300 numbered messages to offline bob, asking for XEP-0198
    # acknowledgements as she goes; the relay is killed part-way
    python3 - > script.txt <<'PY'
print("<presence/>")
print("<enable xmlns='urn:xmpp:sm:3'/>")
for i in range(1, 301):
    print("<message to='bob@localhost' type='chat'><body>m%d</body></message>" % i)
    if i % 10 == 0:
        print("<r xmlns='urn:xmpp:sm:3'/>")
PY
    mkfifo a.in
    simpp-login -c 127.0.0.1:$PORT -s relay.pub -k alice.key -R 0 alice@localhost < a.in > a.out 2> a.err &
    SESSION_PIDS="$!"
    exec {fa}>a.in
    wait_for a "bound .*alice" "$RELAY_LOG"
    { head -c 6000 script.txt; } >&$fa
    # part-way: once the relay has acknowledged at least 10 messages (h counts
    # the presence too)
    wait_for a "h='(1[1-9]|[2-9][0-9]|[0-9]{3,})'" a.out
    kill -9 "$RELAY_PID"
    wait "$RELAY_PID" 2>/dev/null || true
    tail -c +6001 script.txt >&$fa 2>/dev/null || true
    exec {fa}>&-
    wait
    acked=$(grep -o "h='[0-9]*'" a.out | tr -dc '0-9\n' | sort -n | tail -1)
    # h counts presence + every message handled; presence is the first
    acked_msgs=$(( ${acked:-1} - 1 ))
    echo "acknowledged: $acked_msgs messages" >&3
    [ "$acked_msgs" -ge 10 ]
    restart_relay
    echo "<presence/>" | simpp-login -c 127.0.0.1:$PORT -s relay.pub -k bob.key bob@localhost > b.out
    got=$(grep -o '<body>m[0-9]*</body>' b.out | tr -dc '0-9\n')
    # every acknowledged message is there, and no message twice
    for i in $(seq 1 $acked_msgs); do grep -qx "$i" <<< "$got"; done
    [ "$(sort <<< "$got" | uniq -d | wc -l)" -eq 0 ]
    # a second login delivers nothing again
    echo "<presence/>" | simpp-login -c 127.0.0.1:$PORT -s relay.pub -k bob.key bob@localhost > b2.out
    ! grep -q '<body>m' b2.out || false
}

@test "a full disk: offline messages are refused with resource-constraint, routing goes on" {
    # the relay's data directory on a 1 MB tmpfs in a private mount namespace
    cat > inner.sh <<'SH'
set -e
mount -t tmpfs -o size=1m tmpfs data
. "$SIMPP_TOP/t/helper.bash"
cd "$TMP"
start_relay
new_user alice
new_user bob
new_user carol
session carol
say carol "<presence/>"
body=$(head -c 3000 /dev/zero | tr '\0' 'x')
mkfifo fill.in
simpp-login -c 127.0.0.1:$PORT -s relay.pub -k alice.key -r f alice@localhost < fill.in > fill.out 2>&1 &
exec 9>fill.in
for i in $(seq 1 600); do
    echo "<message to='bob@localhost' type='chat' id='o$i'><body>$body</body></message>" >&9
done
wait_for fill "resource-constraint" fill.out 30
# the relay is still up and routes between online users
echo "<message to='carol@localhost' type='chat'><body>still routing</body></message>" >&9
wait_for carol "still routing" carol.out
grep -q "offline-refused to=bob@localhost" "$RELAY_LOG"
kill -0 "$RELAY_PID"
exec 9>&-
stop_relay
SH
    mkdir -p data
    unshare -m env TMP="$TMP" SIMPP_TOP="$SIMPP_TOP" SIMPP_BIN="$SIMPP_BIN" RELAY_LOG="$TMP/relay.log" \
        PATH="$PATH" bash inner.sh
}

@test "a read-only or locked store: a clear error, not a crash" {
    simpp-keygen -q -t server -w relay.pub relay.key > /dev/null
    mkdir data
    # make the store, then take the directory's write permission away from
    # an unprivileged user (root ignores permissions)
    simpp-relayd -d data passwd x@localhost -P 0 <<< 'pw' > /dev/null
    chmod -R a+rX .
    chmod a-w data data/simpp.db
    run setpriv --reuid=65534 --regid=65534 --clear-groups simpp-relayd -d data -k relay.key -l 127.0.0.1:0
    [ "$status" -eq 69 ]
    [[ "$output" == "simpp-relayd: store: "*"not writable"* ]] || [[ "$output" == "simpp-relayd: store: "*"read-only"* ]]
    chmod u+w data data/simpp.db
    # another process holds the write lock (a backup, an admin tool)
    python3 -c '
import sqlite3, time, sys
c = sqlite3.connect("data/simpp.db", isolation_level=None)
c.execute("PRAGMA locking_mode=EXCLUSIVE"); c.execute("BEGIN EXCLUSIVE")
open("locked", "w").close(); time.sleep(6)' &
    SESSION_PIDS="$!"
    for i in $(seq 50); do [ -e locked ] && break; sleep 0.1; done
    run timeout 20 simpp-relayd -d data -k relay.key -l 127.0.0.1:0
    [ "$status" -eq 69 ]
    [[ "$output" == "simpp-relayd: store: "*"locked"* ]]
}

@test "clients that vanish mid-handshake: the relay frees their state and serves on" {
    start_relay
    new_user alice
    # 50 connections that stop after the stream header, after SASL auth, or
    # in the middle of a stanza, then vanish
    for i in $(seq 1 50); do
        case $((i % 3)) in
        0) printf "<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>" ;;
        1) printf "<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'><auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SIMPP'>AQ" ;;
        2) printf "<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'><iq type='set' id='r'><register xmlns='urn:simpp:1'><r1>AQEB" ;;
        esac | timeout 2 nc -q 0 127.0.0.1 $PORT > /dev/null || true
    done
    echo "<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>" |
        simpp-login -c 127.0.0.1:$PORT -s relay.pub -k alice.key alice@localhost > out
    grep -q "id='p'" out
    # no connection is left behind: the relay exits cleanly, and the
    # sanitizer build's leak check at exit finds nothing
    kill -TERM "$RELAY_PID"
    wait "$RELAY_PID"
    RELAY_PID=
    ! grep -q 'LeakSanitizer' "$RELAY_LOG" || false
}

@test "slowloris and half-open handshakes do not delay a logged-in user (bound: 400 ms a round trip, polled every 100 ms)" {
    start_relay -o max_per_addr=2000 -o auth_timeout=20
    new_user alice
    mkfifo a.in
    simpp-login -c 127.0.0.1:$PORT -s relay.pub -k alice.key alice@localhost < a.in > a.out 2> a.err &
    SESSION_PIDS="$!"
    exec {fa}>a.in
    wait_for a "bound .*alice" "$RELAY_LOG"
    # 300 clients that trickle a stream header a byte at a time, and 300 that
    # connect and say nothing, for 6 seconds (loopback only, bounded)
    python3 - "$PORT" <<'PY' &
import socket, sys, time
port = int(sys.argv[1])
hdr = b"<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
slow = [socket.create_connection(("127.0.0.1", port)) for _ in range(300)]
idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(300)]
end = time.time() + 6
i = 0
while time.time() < end and i < len(hdr):
    for s in slow:
        try: s.send(hdr[i:i+1])
        except OSError: pass
    i += 1
    time.sleep(0.2)
for s in slow + idle: s.close()
PY
    LOAD=$!
    sleep 1
    # 20 round trips while the load is on: each must come back within the bound
    for i in $(seq 1 20); do
        t0=$(date +%s%N)
        echo "<iq type='get' id='p$i'><ping xmlns='urn:xmpp:ping'/></iq>" >&$fa
        wait_for a "id='p$i'" a.out 2
        t1=$(date +%s%N)
        echo "$(( (t1 - t0) / 1000000 ))" >> rtt
        sleep 0.1
    done
    wait "$LOAD"
    exec {fa}>&-
    max=$(sort -n rtt | tail -1)
    echo "round trips under load: max $max ms" >&3
    [ "$max" -lt 400 ]
}

@test "the wall clock jumps (two days ahead, then back): sessions and timeouts are untouched" {
    # libfaketime moves the relay's CLOCK_REALTIME only (timeouts run on
    # CLOCK_MONOTONIC); the offset is re-read from a file at every call
    echo "+0" > offset
    LIB=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1
    [ -e "$LIB" ]
    simpp-keygen -q -t server -w relay.pub relay.key > /dev/null
    mkdir data
    RELAY_LOG=$TMP/relay.log
    env LD_PRELOAD="$LIB" FAKETIME_TIMESTAMP_FILE="$TMP/offset" FAKETIME_NO_CACHE=1 \
        FAKETIME_DONT_FAKE_MONOTONIC=1 ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0 \
        simpp-relayd -d data -k relay.key -l 127.0.0.1:0 -r 3 -o idle_timeout=30 -o auth_timeout=30 \
        3>ready 2>"$RELAY_LOG" &
    RELAY_PID=$!
    for i in $(seq 100); do [ -s ready ] && break; sleep 0.1; done
    PORT=$(cat ready)
    new_user alice
    new_user bob
    session alice
    session bob
    say bob "<presence/>"
    echo "+2d" > offset
    say alice "<message to='bob@localhost' type='chat'><body>after the jump ahead</body></message>"
    wait_for bob "after the jump ahead" bob.out
    echo "-3d" > offset
    say alice "<message to='bob@localhost' type='chat'><body>after the jump back</body></message>"
    wait_for bob "after the jump back" bob.out
    # nobody was timed out, and an offline message stamped in the jumped time
    # is still delivered
    ! grep -q 'connection-timeout' "$RELAY_LOG" || false
    end_session bob
    sleep 0.5
    say alice "<message to='bob@localhost' type='chat'><body>stored in the past</body></message>"
    sleep 0.5
    rm -f bob.in
    session bob
    say bob "<presence/>"
    wait_for bob "stored in the past" bob.out
    # the stamp shows the relay's (jumped) wall clock: three days back
    grep -q "stamp='$(date -u -d '-3 days' +%Y-%m-%d)T" bob.out
}
