#!/usr/bin/env bats
# A handshake message replayed on its own stream (doc/PROTOCOL.md 5, 8.5,
# 9.6): anyone on the path can send the relay <abort/> and the same S1
# again, or the same R1 again.  The relay answers at most one S1 with S2
# and one R1 with R2 a stream, and counts a second one as a failure; and
# each S2 or R2 is sealed under a key bound to its own fresh N_S, so no
# (key, nonce) pair is ever used twice.  t/tools/hsreplay.py is the man
# on the path and records every answer the relay gives.
load helper

setup() {
    common_setup
    start_relay
}

# replay_proxy MODE [COUNT]: hsreplay.py between a client and the relay on
# TP; the relay's answers go to replay.log
replay_proxy() {
    TP=$(free_port)
    rm -f replay.log
    python3 "$SIMPP_TOP/t/tools/hsreplay.py" "$TP" "$PORT" "$1" replay.log "${2:-1}" &
    PROXY_PID=$!
    SESSION_PIDS="${SESSION_PIDS:-} $!"
    local i
    for i in $(seq 1 100); do [ -e replay.log ] && return 0; sleep 0.1; done
    return 1
}

# no_shared_keystream TYPE: the S2s (R2s) in replay.log were sealed under
# distinct (key, nonce) pairs.  Their plaintexts end in the same 32 bytes,
# h(ID_A, K_AS) (h(ID_A, KU_A)), so with suites 1 and 2 (stream ciphers)
# two sealed under one key and nonce have those 32 bytes of ciphertext in
# common.  Prints how many there were.
no_shared_keystream() {
    python3 - "$1" replay.log <<'PY'
import base64, sys
msgs = [base64.b64decode(l.split()[1]) for l in open(sys.argv[2]) if l.startswith(sys.argv[1] + " ")]
tails = [m[34 + 32:34 + 64] for m in msgs]
assert all(len(t) == 32 for t in tails), "short message"
assert len(set(tails)) == len(tails), "two %s share a key and nonce" % sys.argv[1]
print(len(msgs))
PY
}

# replay_run MODE STATUS ANSWER COMMAND...: COMMAND (a client) through the
# proxy replay_proxy MODE started must exit STATUS; the relay's answers must be its S2 (R2),
# then the answer(s) to the replay, ANSWER, and one S2 (R2) in all, sealed
# under a key and nonce of its own
replay_run() {
    local mode=$1 want=$2 answer=$3 msg
    msg=$( [ "$mode" = s1 ] && echo S2 || echo R2 )
    shift 3
    run "$@"
    wait "$PROXY_PID" || true
    cat replay.log
    no_shared_keystream $msg > n
    [ "$status" -eq "$want" ]
    [ "$(sed -n 1p replay.log | cut -d' ' -f1)" = $msg ]
    [ "$(sed -n '2,$p' replay.log | head -n $(wc -l <<< "$answer") )" = "$answer" ]
    [ "$(grep -c "^$msg " replay.log)" -eq 1 ] && [ "$(cat n)" -eq 1 ]
}

@test "an S1 replayed after <abort/> on its stream: refused, no second S2, no repeated key and nonce" {
    new_user alice
    for suite in chacha20-poly1305 aes128-gcm; do
        # the abort, then the replay refused
        replay_proxy s1
        replay_run s1 77 $'failure aborted\nfailure not-authorized' \
            simpp-login -C $suite -c 127.0.0.1:$TP -s relay.pub -k alice.key alice@localhost < /dev/null
        grep -q 'auth-fail .*user=alice@localhost mechanism=SIMPP reason=S1 repeated on this stream' "$RELAY_LOG"
        ! grep -q 'login .*jid=alice@localhost' "$RELAY_LOG" || false
    done
    # the account is unharmed: a login without the man in the middle
    echo "<presence/>" | simpp-login -c 127.0.0.1:$PORT -s relay.pub -k alice.key alice@localhost > /dev/null
    grep -q 'login .*jid=alice@localhost mechanism=SIMPP' "$RELAY_LOG"
}

@test "an R1 replayed on its stream: refused, no second R2, the registration under way completes" {
    simpp-keygen -q carol.key > /dev/null
    for suite in chacha20-poly1305 aes128-gcm; do
        # the replay refused, then the genuine R3 taken
        replay_proxy r1
        replay_run r1 0 $'error unexpected-request\nresult' \
            simpp-register -C $suite -c 127.0.0.1:$TP -s relay.pub -k carol.key carol$suite@localhost
        grep -q 'register-refused addr=127.0.0.1 reason=repeated-r1' "$RELAY_LOG"
        grep -q "register addr=127.0.0.1 jid=carol$suite@localhost" "$RELAY_LOG"
    done
    echo "<presence/>" | simpp-login -c 127.0.0.1:$PORT -s relay.pub -k carol.key carolaes128-gcm@localhost > /dev/null
}

@test "a replayed S1 or R1 counts as a failed attempt: the third ends the stream" {
    new_user alice
    replay_proxy s1 3
    run simpp-login -c 127.0.0.1:$TP -s relay.pub -k alice.key alice@localhost < /dev/null
    wait "$PROXY_PID" || true
    cat replay.log
    [ "$status" -ne 0 ]
    [ "$(grep -c '^failure not-authorized' replay.log)" -eq 3 ]
    grep -q '^stream-error policy-violation' replay.log
    [ "$(grep -c '^S2 ' replay.log)" -eq 1 ]

    simpp-keygen -q dave.key > /dev/null
    replay_proxy r1 3
    run simpp-register -c 127.0.0.1:$TP -s relay.pub -k dave.key dave@localhost
    wait "$PROXY_PID" || true
    cat replay.log
    [ "$status" -ne 0 ]
    [ "$(grep -c '^error unexpected-request' replay.log)" -eq 3 ]
    grep -q '^stream-error policy-violation' replay.log
    [ "$(grep -c '^R2 ' replay.log)" -eq 1 ]
    [ "$(sqlite3 data/simpp.db "select count(*) from users where jid='dave@localhost'")" -eq 0 ]
}
