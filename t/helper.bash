# t/helper.bash - loaded by every BATS file.
# The programs under test come from $SIMPP_BIN (t/run sets it: the
# sanitizer build in make check); each test gets a fresh directory.
: "${SIMPP_TOP:=$(cd "$BATS_TEST_DIRNAME/.." && pwd)}"
: "${SIMPP_BIN:=$SIMPP_TOP/bin}"
: "${SIMPP_DATA:=$SIMPP_TOP/t/data}"
: "${SIMPP_TOOLS:=$SIMPP_TOP/build/rel/tools}"
export PATH="$SIMPP_BIN:$PATH"

common_setup() {
    TMP=$(mktemp -d "${BATS_TMPDIR:-/tmp}/simpp.XXXXXX")
    cd "$TMP" || return 1
}
common_teardown() {
    cd / && rm -rf "$TMP"
}
setup() { common_setup; }
teardown() { common_teardown; }

# file mode in octal
mode_of() { stat -c %a "$1"; }
# fingerprint of a public or private key as openssl computes it
openssl_fpr() {
    local in=$1
    if grep -q 'BEGIN PUBLIC KEY' "$in"; then
        openssl pkey -pubin -in "$in" -outform DER
    else
        openssl pkey -in "$in" -pubout -outform DER
    fi | openssl dgst -sha256 -binary | base64 | tr -d '=' | sed 's/^/SHA256:/'
}

# ---- a relay on loopback, for the tests that need one -------------------------
# start_relay [simpp-relayd options...]: fresh data dir, any free port; sets
# RELAY_PID, PORT, RELAY_LOG, and relay.pub (the pinned key).
start_relay() {
    [ -f relay.key ] || simpp-keygen -q -t server -w relay.pub relay.key > /dev/null
    mkdir -p data
    rm -f ready
    RELAY_LOG=${RELAY_LOG:-$TMP/relay.log}
    # RELAY_WRAP: a command that execs the relay (chrt -f 10), so that $! is still its pid
    ${RELAY_WRAP:-} simpp-relayd -d data -k relay.key -l 127.0.0.1:0 -r 3 "$@" 3>ready 2>>"$RELAY_LOG" &
    RELAY_PID=$!
    local i
    for i in $(seq 1 100); do
        [ -s ready ] && break
        kill -0 "$RELAY_PID" 2>/dev/null || { cat "$RELAY_LOG" >&2; return 1; }
        sleep 0.1
    done
    PORT=$(cat ready)
    [ -n "$PORT" ]
}
# restart on the same port after a stop or a kill
restart_relay() {
    simpp-relayd -d data -k relay.key -l 127.0.0.1:"$PORT" -r 3 "$@" 3>ready2 2>>"$RELAY_LOG" &
    RELAY_PID=$!
    local i
    for i in $(seq 1 100); do [ -s ready2 ] && return 0; sleep 0.1; done
    return 1
}
# stop_var NAME: TERM the background process whose pid NAME holds, wait
# for it, and empty NAME
stop_var() {
    local pid=${!1:-}
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    printf -v "$1" '%s' ''
}
# running, and not a zombie waiting to be reaped
alive() {
    local st
    st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) && [ -n "$st" ] && [ "$st" != Z ]
}
# SIGTERM, and SIGKILL if the relay has not gone 10 s later: a relay stuck
# in a loop must not hang the test run
stop_relay() {
    [ -n "${RELAY_PID:-}" ] || return 0
    kill -TERM "$RELAY_PID" 2>/dev/null || true
    local i
    for i in $(seq 1 100); do
        alive "$RELAY_PID" || break
        sleep 0.1
    done
    if alive "$RELAY_PID"; then
        echo "simpp-relayd (pid $RELAY_PID) still running 10 s after SIGTERM: killed" >&2
        kill -KILL "$RELAY_PID" 2>/dev/null || true
    fi
    wait "$RELAY_PID" 2>/dev/null || true
    RELAY_PID=
}
teardown() {
    local p
    for p in ${SESSION_PIDS:-}; do kill "$p" 2>/dev/null || true; done
    stop_relay
    common_teardown
}

# relay_with NAME...: a test's setup: a fresh directory, a relay, and a
# registered user for each NAME
relay_with() {
    common_setup
    start_relay
    local u
    for u in "$@"; do new_user "$u"; done
}

# new_user NAME [simpp-register options]: a key and a registration for NAME@localhost
new_user() {
    simpp-keygen -q "$1.key" > /dev/null
    simpp-register -c 127.0.0.1:"$PORT" -s relay.pub -k "$1.key" "${@:2}" "$1@localhost" > /dev/null
}

# session NAME [simpp-login options]: NAME logged in, stanzas in through
# NAME.in (a fifo held open on fd), out in NAME.out; sends initial presence
session() {
    local name=$1; shift
    mkfifo "$name.in"
    simpp-login -c 127.0.0.1:"$PORT" -s relay.pub -k "$name.key" -r t "$@" "$name@localhost" \
        < "$name.in" > "$name.out" 2> "$name.err" &
    SESSION_PIDS="${SESSION_PIDS:-} $!"
    eval "exec {fd_$name}>$name.in"
    wait_for "$name.log" "bound addr=.* jid=$name@localhost/t" "$RELAY_LOG" || return 1
}
say() { local v="fd_$1"; printf '%s\n' "$2" >&"${!v}"; }
end_session() { local v="fd_$1"; eval "exec ${!v}>&-"; }
# wait_for LABEL REGEX FILE [seconds]: until FILE has a line matching REGEX
wait_for() {
    local i n=$(( ${4:-10} * 10 ))
    for i in $(seq 1 "$n"); do
        grep -qE -- "$2" "$3" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "timed out waiting for /$2/ in $3:" >&2
    cat "$3" >&2
    return 1
}
# raw XMPP over netcat: raw_stream "stanzas..." -> the relay's answer in $output
raw_stream() {
    output=$( { printf "<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>%s" "$1"; sleep "${2:-1}"; } |
              timeout 10 nc -q 2 127.0.0.1 "$PORT")
}
# wait_listen PORT: until something listens on the loopback PORT (10 s),
# without connecting to it (the test proxies take one connection only)
wait_listen() {
    local i
    for i in $(seq 1 100); do
        [ -n "$(ss -Hltn "sport = :$1")" ] && return 0
        sleep 0.1
    done
    echo "nothing listens on port $1" >&2
    return 1
}
# a free loopback port (the kernel's choice)
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# e2e NAME PEER [simpp-session options]: NAME runs simpp-session with PEER
# under simpp-login; lines in through NAME.in (held open), events (-j) in
# NAME.out, diagnostics in NAME.err; state dir NAME.home
e2e() {
    local name=$1 peer=$2; shift 2
    mkfifo "$name.in"
    (no_session_fds
     SIMPP_HOME="$TMP/$name.home" exec simpp-login -c 127.0.0.1:"$PORT" -s relay.pub -k "$name.key" -r s \
        "$name@localhost" simpp-session -j "$@" "$peer@localhost") < "$name.in" > "$name.out" 2> "$name.err" &
    eval "pid_$name=$!"
    SESSION_PIDS="${SESSION_PIDS:-} $!"
    eval "exec {fd_$name}>$name.in"
}

# no_session_fds: in a session's subshell, close the write ends of the
# other sessions' input fifos (fd_NAME): bash does not close them on exec,
# and a session that held another's would keep it from ever seeing the end
# of its input
no_session_fds() {
    local v
    for v in ${!fd_@}; do eval "exec {$v}>&-"; done
}

# file_pair: bob takes files into inbox/ and waits for alice; once alice's
# session with him is up.  Options go to bob's simpp-session.
file_pair() {
    mkdir -p inbox
    e2e bob alice -o "$TMP/inbox" "$@"
    wait_for bob "offline alice@localhost" bob.out
    e2e alice bob
    wait_for alice "^session" alice.out
}
