#!/usr/bin/env bats
# simpp-session across link changes and a restarted peer (doc/PROTOCOL.md
# 19.19): lines the peer has not acknowledged go again after a link change
# and count once; a duplicated frame is shown once and acknowledged again;
# a restarted peer's session is re-established and the pending lines go
# under its new keys; a file continues across a link change.  The link is
# played by t/tools/stanzafilter.py --ctl between simpp-login and the
# session: it tells the session what simpp-login tells it (<link/>), queues
# what the session writes while the link is down, and loses or repeats
# stanzas from the relay as a relay that lost its state would.
load helper

setup() { relay_with alice bob; }

# filtered NAME PEER [options]: NAME's simpp-session (-j, options) behind
# the filter, whose commands go to NAME.ctl (ctl NAME COMMAND)
filtered() {
    local name=$1 peer=$2; shift 2
    mkfifo "$name.in" "$name.ctl"
    SIMPP_HOME="$TMP/$name.home" simpp-login -c 127.0.0.1:"$PORT" -s relay.pub -k "$name.key" -r s \
        "$name@localhost" python3 "$SIMPP_TOP/t/tools/stanzafilter.py" --ctl "$TMP/$name.ctl" -- \
        simpp-session -j "$@" "$peer@localhost" < "$name.in" > "$name.out" 2> "$name.err" &
    eval "pid_$name=$!"
    SESSION_PIDS="${SESSION_PIDS:-} $!"
    eval "exec {fd_$name}>$name.in"
    eval "exec {ctl_$name}<>$name.ctl"
}

# ctl NAME COMMAND: a command to NAME's filter, and wait until it is done
ctl() {
    local v="ctl_$1" n i
    n=$(grep -c '^ctl: ' "$1.err" || true)
    printf '%s\n' "$2" >&"${!v}"
    for i in $(seq 1 100); do
        [ "$(grep -c '^ctl: ' "$1.err" || true)" -gt "$n" ] && return 0
        sleep 0.1
    done
    echo "the filter of $1 did not take: $2" >&2
    return 1
}

# count REGEX FILE: lines of FILE matching REGEX
count() { grep -cE -- "$1" "$2" || true; }
# wait_count N REGEX FILE: until FILE has N lines matching REGEX (10 s)
wait_count() {
    local i
    for i in $(seq 1 100); do
        [ "$(count "$2" "$3")" -ge "$1" ] && return 0
        sleep 0.1
    done
    echo "timed out waiting for $1 of /$2/ in $3" >&2
    return 1
}

# pair: bob, then alice, both behind the filter, with a session up
pair() {
    filtered bob alice "$@"
    wait_for bob "offline alice@localhost" bob.out
    filtered alice bob
    wait_for alice "^session" alice.out
    wait_for bob "^session" bob.out
}

# bob_again [options]: bob's session started again (as e2e does, without
# alice's descriptors: her end of input must not wait for bob's)
bob_again() {
    mv bob.out bob.out.1
    rm -f bob.in
    mkfifo bob.in
    SIMPP_HOME="$TMP/bob.home" simpp-login -c 127.0.0.1:"$PORT" -s relay.pub -k bob.key -r s bob@localhost \
        simpp-session -j "$@" alice@localhost < bob.in > bob.out 2> bob.err {fd_alice}>&- &
    pid_bob=$!
    SESSION_PIDS="${SESSION_PIDS:-} $!"
    exec {fd_bob}>bob.in
}

# ends: alice ends; both print the same transcript, and bob counts her BYE
ends() {
    end_session alice
    wait "$pid_alice"
    wait_for bob "^bye alice@localhost" bob.out
    [ "$(grep '^transcript' alice.out | tail -1)" = "$(grep '^transcript' bob.out | tail -1)" ]
}

@test "the link goes down and comes back on a new stream: lost lines go again, once each, in order" {
    pair
    say alice "zero"
    wait_for alice "^ack 1$" alice.out
    # the relay loses alice's next two frames for bob; then her link goes down
    ctl bob "drop 2 t='f'"
    say alice "one"
    say alice "two"
    wait_count 2 "stanzafilter: lost" bob.err
    wait_for alice "^sent 3$" alice.out
    ctl alice down
    wait_for alice "^link down 2$" alice.out
    # typed while down: queued on the link
    say alice "three"
    wait_for alice "^sent 4$" alice.out
    ctl alice new
    # all three pending lines went again; "three" came twice (queued and resent)
    wait_for alice "^link new 3$" alice.out
    wait_for bob "^msg 4 alice@localhost three" bob.out
    wait_for alice "^link back 3$" alice.out
    [ "$(grep '^msg' bob.out)" = "$(printf 'msg 1 alice@localhost zero\nmsg 2 alice@localhost one\nmsg 3 alice@localhost two\nmsg 4 alice@localhost three')" ]
    grep -q "^note duplicate frame 4 dropped (a resend or a replay)" bob.out
    [ "$(count '^link' alice.out)" -eq 3 ]
    [ "$(count '^link' bob.out)" -eq 0 ]
    ! grep -q '^error' alice.out bob.out || false
    ! grep -q '^pending' alice.out || false
    # the BYE's count matches: a dropped duplicate is not counted twice
    ends
    ! grep -q '^error' alice.out bob.out || false
}

@test "without -j: one line for the loss, one for the return" {
    filtered bob alice
    wait_for bob "offline alice@localhost" bob.out
    mkfifo alice.in alice.ctl
    SIMPP_HOME="$TMP/alice.home" simpp-login -c 127.0.0.1:"$PORT" -s relay.pub -k alice.key -r s alice@localhost \
        python3 "$SIMPP_TOP/t/tools/stanzafilter.py" --ctl "$TMP/alice.ctl" -- simpp-session bob@localhost \
        < alice.in > alice.out 2> alice.err &
    pid_alice=$!
    SESSION_PIDS="${SESSION_PIDS:-} $!"
    exec {fd_alice}>alice.in
    exec {ctl_alice}<>alice.ctl
    wait_for alice "end-to-end session with bob" alice.err
    ctl bob "drop 1 t='f'"
    say alice "lost once"
    wait_for bob "stanzafilter: lost" bob.err
    ctl alice down
    wait_for alice "connection lost, 1 line pending" alice.err
    # a resumed stream lost nothing on the way: nothing goes again
    ctl alice resumed
    sleep 1
    [ "$(count 'lost once' bob.out)" -eq 0 ]
    # a new stream may have: the pending line goes again
    ctl alice down
    ctl alice new
    wait_for alice "connection back, 1 delivered" alice.err
    # two losses, one return (the resumed one waited for the line's ACK)
    [ "$(count 'connection lost' alice.err)" -eq 2 ]
    [ "$(count 'connection back' alice.err)" -eq 1 ]
    [ "$(count 'lost once' bob.out)" -eq 1 ]
    # nothing pending: "back" at once
    ctl alice down
    ctl alice new
    wait_for alice "connection back, 0 delivered" alice.err
    wait_for alice "connection lost, 0 lines pending" alice.err
}

@test "a frame twice is shown once and acknowledged again; an old number with other bytes is an alarm" {
    pair
    ctl bob "dup t='f'"
    say alice "once"
    wait_for bob "^msg 1 alice@localhost once" bob.out
    wait_for bob "^note duplicate frame 1 dropped \(a resend or a replay\)" bob.out
    wait_for alice "^ack 1$" alice.out
    [ "$(count 'once' bob.out)" -eq 1 ]
    # the ACK was what got lost: alice sends the line again, bob answers again
    ctl alice "drop 1 t='f'"
    say alice "ack lost"
    wait_for bob "^msg 2 alice@localhost ack lost" bob.out
    wait_for alice "stanzafilter: lost" alice.err
    ctl alice down
    ctl alice new
    wait_for alice "^ack 2$" alice.out
    wait_for alice "^link back 1$" alice.out
    wait_for bob "^note duplicate frame 2 dropped" bob.out
    [ "$(count 'ack lost' bob.out)" -eq 1 ]
    ! grep -q '^error' alice.out bob.out || false
    # frame 3's bytes under number 2: refused, not shown twice
    ctl bob "oldseq t='f'"
    say alice "other"
    wait_for bob "^msg 3 alice@localhost other" bob.out
    wait_for bob "^error frame 2 from alice@localhost/s has the number of one already opened but other content: refused \(a replay or a forgery\)" bob.out
    [ "$(count 'other$' bob.out)" -eq 1 ]
    [ "$(count 'ack lost' bob.out)" -eq 1 ]
}

@test "a frame never opened with an old number is still refused as a replay" {
    pair
    # bob loses frame 1; frame 2 waits behind the gap, then the gap is given up
    ctl bob "drop 1 t='f'"
    say alice "gone"
    say alice "kept"
    wait_for bob "^msg 2 alice@localhost kept" bob.out
    grep -q "^error 1 message(s) from alice@localhost/s are missing" bob.out
    # now frame 1 comes after all (alice's link changed): its key is gone
    ctl alice down
    ctl alice new
    wait_for bob "^error a message from alice@localhost/s was refused: replayed message" bob.out
    [ "$(count 'gone' bob.out)" -eq 0 ]
}

@test "the peer's session restarts: re-established with the same keys, pending lines go once under the new keys" {
    e2e bob alice
    wait_for bob "offline alice@localhost" bob.out
    e2e alice bob
    wait_for alice "^session" alice.out
    wait_for bob "^session" bob.out
    say alice "/safety"
    wait_for alice "^safety" alice.out
    say alice "before"
    wait_for alice "^ack 1$" alice.out
    # bob's session dies without a word (no BYE); his simpp-login ends with it
    kill -9 "$(pgrep -P "$pid_bob" -x simpp-session)"
    wait "$pid_bob" || true
    say alice "during one"
    say alice "during two"
    wait_for alice "^offline bob@localhost" alice.out
    bob_again
    wait_for alice "^restarted bob@localhost 2$" alice.out
    wait_for bob "^msg 3 alice@localhost during two" bob.out
    [ "$(grep '^msg' bob.out)" = "$(printf 'msg 2 alice@localhost during one\nmsg 3 alice@localhost during two')" ]
    wait_for alice "^ack 3$" alice.out
    say bob "after"
    wait_for alice "^msg 1 bob@localhost after" alice.out
    # the safety number is that of the two keys: unchanged
    say alice "/safety"
    say bob "/safety"
    wait_for bob "^safety" bob.out
    wait_count 2 "^safety" alice.out
    [ "$(grep '^safety' alice.out | sort -u | wc -l)" -eq 1 ]
    [ "$(grep '^safety' alice.out | head -1)" = "$(grep '^safety' bob.out)" ]
    ! grep -q '^error' alice.out bob.out || false
    ends
    ! grep -q '^pending' alice.out || false
}

@test "a key exchange without our session id that does not check: refused, the session goes on" {
    pair
    say alice "one"
    wait_for alice "^ack 1$" alice.out
    # a C3 "from bob" as a restarted session would send it, signed by another key
    simpp-keygen -q -w mallory.pub mallory.key > /dev/null
    c3=$(python3 - "$(openssl pkey -in mallory.key -pubout -outform DER | tail -c 65 | base64 -w0)" <<'PY'
import base64, os, sys
x = base64.b64decode(sys.argv[1])
ids = b"".join(len(j).to_bytes(2, "big") + j for j in (b"bob@localhost", b"alice@localhost"))
m = bytes([1, 0x21, 1, 1]) + os.urandom(32) + (256).to_bytes(2, "big") + bytes([len(x)]) + x + ids
sig = b"\x30\x44\x02\x20" + os.urandom(32) + b"\x02\x20" + os.urandom(32)
print(base64.b64encode(m + bytes([len(sig)]) + sig).decode())
PY
)
    ctl alice "raw <message from='bob@localhost/s' to='alice@localhost/s' type='chat'><e2e xmlns='urn:simpp:e2e:1' t='c3'>$c3</e2e></message>"
    wait_for alice "^error key exchange from bob@localhost/s refused: signature or authentication tag does not check" alice.out
    say alice "two"
    say bob "back"
    wait_for bob "^msg 2 alice@localhost two" bob.out
    wait_for alice "^msg 1 bob@localhost back" alice.out
    wait_for alice "^ack 2$" alice.out
    [ "$(grep -c '^session' alice.out)" -eq 1 ]
    ! grep -q '^restarted' alice.out || false
    end_session alice
    local st=0
    wait "$pid_alice" || st=$?
    [ "$st" -eq 76 ]
    wait_for bob "^bye alice@localhost" bob.out
    [ "$(grep '^transcript' alice.out | tail -1)" = "$(grep '^transcript' bob.out | tail -1)" ]
}

@test "a file continues across a link change from what arrived, with the right SHA-256" {
    mkdir inbox
    pair -o "$TMP/inbox"
    head -c 1000000 /dev/urandom > f.bin
    # alice's link is down while she sends; when it comes back, the relay
    # loses ten chunks in the middle; then she sends what is pending again
    ctl alice down
    say alice "/file f.bin"
    wait_for alice "^file-sent 1 f.bin" alice.out
    ctl bob "drop 10 n='(1[0-9])'"
    ctl alice new
    wait_for bob "^file-received f.bin 1000000" bob.out 30
    wait_for alice "^file-delivered 1$" alice.out 30
    [ "$(sha256sum < inbox/f.bin)" = "$(sha256sum < f.bin)" ]
    [ "$(count 'stanzafilter: lost' bob.err)" -eq 10 ]
    ! grep -q '^error' alice.out bob.out || false
    ends
}

@test "a file the peer's restart cut off is offered again from the start" {
    mkdir inbox
    e2e bob alice -o "$TMP/inbox"
    wait_for bob "offline alice@localhost" bob.out
    filtered alice bob
    wait_for alice "^session" alice.out
    wait_for bob "^session" bob.out
    head -c 500000 /dev/urandom > g.bin
    # bob never gets the file: his session dies before
    ctl alice down
    say alice "/file g.bin"
    wait_for alice "^file-sent 1 g.bin" alice.out
    kill -9 "$(pgrep -P "$pid_bob" -x simpp-session)"
    wait "$pid_bob" || true
    ctl alice new
    bob_again -o "$TMP/inbox"
    wait_for alice "^restarted bob@localhost 0$" alice.out
    wait_for alice "^file-delivered 2$" alice.out 30
    [ "$(sha256sum < inbox/g.bin)" = "$(sha256sum < g.bin)" ]
}
# live NAME PEER [options]: NAME's simpp-session (-j, options) under a
# simpp-login that reconnects (-D 2: at most 2 s between attempts)
live() {
    local name=$1 peer=$2; shift 2
    mkfifo "$name.in"
    SIMPP_HOME="$TMP/$name.home" simpp-login -c 127.0.0.1:"$PORT" -s relay.pub -k "$name.key" -r s -D 2 \
        "$name@localhost" simpp-session -j "$@" "$peer@localhost" < "$name.in" > "$name.out" 2> "$name.err" &
    eval "pid_$name=$!"
    SESSION_PIDS="${SESSION_PIDS:-} $!"
    eval "exec {fd_$name}>$name.in"
}

# relay_dies: kill -9, and both links go down
relay_dies() {
    kill -9 "$RELAY_PID"
    wait "$RELAY_PID" 2>/dev/null || true
    wait_for alice "^link down" alice.out
    wait_for bob "^link down" bob.out
}
# relay_back: the relay again on its port (without the sessions' inputs:
# their ends must not wait for the relay's)
relay_back() { restart_relay {fd_alice}>&- {fd_bob}>&-; }

@test "the relay killed with -9 and restarted mid-conversation: both sessions go on, lines typed meanwhile arrive once, in order" {
    live bob alice
    wait_for bob "offline alice@localhost" bob.out
    live alice bob
    wait_for alice "^session" alice.out
    wait_for bob "^session" bob.out
    say alice "a1"
    say bob "b1"
    wait_for alice "^ack 1$" alice.out
    wait_for bob "^ack 1$" bob.out
    relay_dies
    say alice "a2"
    say alice "a3"
    say bob "b2"
    wait_for alice "^sent 3$" alice.out
    wait_for bob "^sent 2$" bob.out
    relay_back
    wait_for alice "^link new" alice.out 30
    wait_for bob "^link new" bob.out 30
    wait_for alice "^link back 2$" alice.out 30
    wait_for bob "^link back 1$" bob.out 30
    [ "$(grep '^msg' bob.out)" = "$(printf 'msg 1 alice@localhost a1\nmsg 2 alice@localhost a2\nmsg 3 alice@localhost a3')" ]
    [ "$(grep '^msg' alice.out)" = "$(printf 'msg 1 bob@localhost b1\nmsg 2 bob@localhost b2')" ]
    # the same session all along: no new key exchange
    [ "$(grep -c '^session' alice.out)" -eq 1 ] && [ "$(grep -c '^session' bob.out)" -eq 1 ]
    ! grep -q '^rekeyed\|^restarted' alice.out bob.out || false
    # and it goes on
    say bob "b3"
    wait_for alice "^msg 3 bob@localhost b3" alice.out
    ! grep -q '^error' alice.out bob.out || false
    ends
    ! grep -q '^error' alice.out bob.out || false
}

@test "a file across a relay restart arrives whole, with the right SHA-256" {
    mkdir inbox
    live bob alice -o "$TMP/inbox"
    wait_for bob "offline alice@localhost" bob.out
    live alice bob
    wait_for alice "^session" alice.out
    wait_for bob "^session" bob.out
    head -c 2000000 /dev/urandom > f.bin
    say alice "/file f.bin"
    # the relay dies while the file is on its way
    wait_for bob "^progress recv 1 [1-9]" bob.out 30
    relay_dies
    relay_back
    wait_for alice "^link new" alice.out 30
    wait_for bob "^file-received f.bin 2000000" bob.out 60
    wait_for alice "^file-delivered 1$" alice.out 30
    [ "$(sha256sum < inbox/f.bin)" = "$(sha256sum < f.bin)" ]
    ! grep -q '^error' alice.out bob.out || false
    ends
}

# on a failure, what each side and the relay said
teardown() {
    local f p
    if [ -z "${BATS_TEST_COMPLETED:-}" ]; then
        for f in alice.out alice.err bob.out bob.err bob.out.1 relay.log; do
            [ -e "$f" ] && { echo "== $f"; cat "$f"; } >&2
        done
    fi
    for p in ${SESSION_PIDS:-}; do kill "$p" 2>/dev/null || true; done
    stop_relay
    common_teardown
}
