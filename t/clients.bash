# t/clients.bash - the real XMPP clients the tests drive (t/tools/drive-*,
# t/tools/xmppclient.py for slixmpp); all take the options of
# t/tools/drive.bash and the password on stdin.
load tls

# the clients, and those of them that can receive (sendxmpp only sends)
CLIENTS="slixmpp profanity mcabber gosendxmpp sendxmpp"
RECEIVERS="slixmpp profanity mcabber gosendxmpp"

# drive CLIENT [options] PORT JID PEER [TEXT], the password on stdin
drive() {
    local c=$1
    shift
    if [ "$c" = slixmpp ]; then
        /usr/bin/python3 "$SIMPP_TOP/t/tools/xmppclient.py" "$@"
    else
        "$SIMPP_TOP/t/tools/drive-$c" "$@"
    fi
}
receives() { [[ " $RECEIVERS " == *" $1 "* ]]; }
# the --wait a client is given: 0 for one that only sends
wait_of() { if receives "$1"; then echo "${2:-20}"; else echo 0; fi; }
# go-sendxmpp receives on a connection of its own: an answer must go to
# the bare JID, not to the (sending) resource the message came from
answer_to() { if [ "$1" = gosendxmpp ]; then echo bare; else echo full; fi; }

clients_setup() {
    common_setup
    make_ca && make_cert server || return 1
    local c
    for c in tmux profanity mcabber go-sendxmpp sendxmpp; do
        command -v "$c" > /dev/null || { echo "$c missing (make deps)" >&2; return 1; }
    done
}

# peer NAME PASSWORD PORT FROM TEXT [xmppclient.py options]: NAME on slixmpp,
# in the background (pid PEER_PID), answering the first message from FROM
# with TEXT; its output in NAME.out
peer() {
    local name=$1 pass=$2 port=$3 from=$4 text=$5
    shift 5
    printf '%s\n' "$pass" | /usr/bin/python3 "$SIMPP_TOP/t/tools/xmppclient.py" --ca "$TMP/ca.pem" \
        --wait 30 --reply "$text" "$@" "$port" "$name@localhost" "$from" > "$name.out" 2>&1 &
    PEER_PID=$!
    SESSION_PIDS="${SESSION_PIDS:-} $PEER_PID"
    # up before the client sends to it: no offline storage on the way
    wait_for "$name" '^online' "$name.out" 15
}
# the background processes (helper.bash's teardown does the same)
kill_bg() { local p; for p in ${SESSION_PIDS:-}; do kill "$p" 2>/dev/null || true; done; SESSION_PIDS=; }

# with_dave CLIENT PORT [driver options]: carol on CLIENT writes to dave (on
# slixmpp) through the server on PORT; dave answers, and a client that
# receives must show the answer
with_dave() {
    local c=$1 port=$2 bare=
    shift 2
    [ "$(answer_to "$c")" = bare ] && bare=--bare
    peer dave 'dave pass' "$port" carol@localhost "hi $c, dave here" $bare
    run drive "$c" --ca ca.pem --wait "$(wait_of "$c")" "$@" "$port" carol@localhost dave@localhost "hello dave from $c" <<< 'carol pass 1'
    echo "$c with dave: $output" >&2
    [ "$status" -eq 0 ]
    wait_for dave "carol@localhost: hello dave from $c" dave.out
    if receives "$c"; then
        [[ "$output" == *"dave@localhost: hi $c, dave here"* ]]
    fi
    wait "$PEER_PID"
}
