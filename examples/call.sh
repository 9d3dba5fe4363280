#!/usr/bin/env bash
# examples/call.sh - a video call between two people: camera and microphone
# both ways, from one /video invitation inside their end-to-end session.
# Each person runs one command; the invitation carries the address each
# side receives on, the keys come from the session, and simpp-videnc -x
# sends and receives on one UDP port.  Hang up with Ctrl-C (or -t): the
# other side ends too.
#
# The caller:      examples/call.sh -i -c RELAY:5222 -s relay.pub -k alice.key alice@example.org bob@example.org
# The one called:  examples/call.sh    -c RELAY:5222 -s relay.pub -k bob.key   bob@example.org alice@example.org
#
#   -i            place the call (without it: wait for the peer's and answer it)
#   -c host:port  the relay (default 127.0.0.1:5222);  -s file  its pinned key
#   -k file       your key (default: YOU's local part .key)
#   -H address    the address this side receives media on, and offers (default 127.0.0.1)
#   -I camera     an FFmpeg input (default v4l2:/dev/video0);  -A microphone (default alsa:default)
#   -o file       the peer's picture, YUV4MPEG2 (- for stdout: ... -o - | ffplay -)
#   -a file       the peer's sound, WAV;  -t seconds: hang up after this long
#   -d dir        keep the session's files here (default: a temporary directory)
#
# examples/call.sh --demo [seconds] [dir]: everything on this machine: a
# relay, alice and bob registered, each side one run of this script with
# lavfi sources for camera and microphone; what each received is left in
# dir (default: removed), and a summary printed.  Run from the source tree
# after `make`, or with the programs on PATH.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
PATH="${SIMPP_BIN:-$top/bin}:$PATH"
self="$top/examples/call.sh"
say() { echo "call.sh: $*" >&2; }
waitfor() { # REGEX FILE SECONDS
    local i
    for i in $(seq 1 $(($3 * 10))); do grep -qE "$1" "$2" 2>/dev/null && return 0; sleep 0.1; done
    say "timed out waiting for /$1/ in $2"; sed 's/^/  /' "${2%.out}.err" >&2 2>/dev/null || true
    return 1
}
free_udp() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

demo() {
    local secs=${1:-5} port
    keep=${2:-}
    [ -z "$keep" ] || keep=$(mkdir -p "$keep" && cd "$keep" && pwd)
    ddir=$(mktemp -d "${TMPDIR:-/tmp}/simpp-call.XXXXXX")
    pids=()
    trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$ddir"' EXIT
    local dir=$ddir
    cd "$dir"
    echo "== a relay on 127.0.0.1; alice and bob registered"
    simpp-keygen -q -t server -w relay.pub relay.key > /dev/null
    mkdir data
    simpp-relayd -d data -k relay.key -l 127.0.0.1:0 -r 3 3>ready 2>relay.log &
    pids+=($!)
    waitfor . ready 10
    port=$(cat ready)
    for u in alice bob; do
        simpp-keygen -q "$u.key" > /dev/null
        simpp-register -c 127.0.0.1:"$port" -s relay.pub -k "$u.key" "$u@localhost" > /dev/null
    done
    echo "== bob waits for a call; alice calls him for $secs s (lavfi: test pictures, a tone each)"
    "$self" -c 127.0.0.1:"$port" -s relay.pub -k bob.key -d bob -I lavfi:testsrc=size=320x240:rate=30 \
        -A lavfi:sine=frequency=660:sample_rate=48000 -o bob.y4m -a bob.wav bob@localhost alice@localhost 2> bob.log &
    local bob=$!
    waitfor 'offline alice@localhost|^session' bob/session.out 20
    "$self" -i -c 127.0.0.1:"$port" -s relay.pub -k alice.key -d alice -t "$secs" \
        -I lavfi:testsrc2=size=320x240:rate=30 -A lavfi:sine=frequency=440:sample_rate=48000 \
        -o alice.y4m -a alice.wav alice@localhost bob@localhost 2> alice.log
    wait "$bob"
    for u in alice bob; do
        echo "== $u"
        grep -E '^simpp-videnc: ' "$u.log" | sed 's/^simpp-videnc: /  /'
        echo "  $u.y4m: $(ffprobe -v error -count_frames -show_entries stream=width,height,nb_read_frames \
            -of csv=p=0 "$u.y4m" 2>/dev/null) (width,height,frames);" \
            "$u.wav: $(ffprobe -v error -show_entries format=duration -of csv=p=0 "$u.wav" 2>/dev/null) s"
    done
    [ -z "$keep" ] || { cp ./*.y4m ./*.wav ./*.log "$keep/" && echo "== kept in $keep"; }
}

if [ "${1:-}" = --demo ]; then shift; demo "$@"; exit; fi

invite=0 relay=127.0.0.1:5222 pub=relay.pub key="" host=127.0.0.1 cam=v4l2:/dev/video0 mic=alsa:default
vout="" aout="" secs="" dir=""
while getopts ic:s:k:H:I:A:o:a:t:d: opt; do
    case $opt in
    i) invite=1 ;; c) relay=$OPTARG ;; s) pub=$OPTARG ;; k) key=$OPTARG ;; H) host=$OPTARG ;;
    I) cam=$OPTARG ;; A) mic=$OPTARG ;; o) vout=$OPTARG ;; a) aout=$OPTARG ;; t) secs=$OPTARG ;;
    d) dir=$OPTARG ;;
    *) sed -n '2,/^set -eu/p' "$0" | sed '$d' >&2; exit 64 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 2 ] || { say "usage: call.sh [-i] [options] you@domain peer@domain (or --demo)"; exit 64; }
me=$1 peer=$2
key=${key:-${me%%@*}.key}
for f in "$pub" "$key"; do [ -r "$f" ] || { say "$f: not readable"; exit 66; }; done
pub=$(cd "$(dirname "$pub")" && pwd)/$(basename "$pub")
key=$(cd "$(dirname "$key")" && pwd)/$(basename "$key")
if [ -z "$dir" ]; then dir=$(mktemp -d "${TMPDIR:-/tmp}/simpp-call.XXXXXX"); trap 'rm -rf "$dir"' EXIT; fi
mkdir -p "$dir"
port=$(free_udp)
rm -f "$dir/session.in"
mkfifo "$dir/session.in"
opts=(-j)
[ "$invite" = 1 ] || opts+=(-a -m "addr=$host:$port")
SIMPP_HOME="$dir/home" simpp-login -c "$relay" -s "$pub" -k "$key" "$me" simpp-session "${opts[@]}" "$peer" \
    < "$dir/session.in" > "$dir/session.out" 2> "$dir/session.err" &
login=$!
exec 4>"$dir/session.in"
hangup() { echo /quit >&4 2>/dev/null || true; exec 4>&-; wait "$login" 2>/dev/null || true; }
trap 'hangup; [ -n "${tmpdir:-}" ] || true' INT TERM
if [ "$invite" = 1 ]; then
    waitfor '^session' "$dir/session.out" 30
    say "calling $peer (media at $host:$port)"
    echo "/video call addr=$host:$port" >&4
    waitfor '^video-(answer|refused) ' "$dir/session.out" 60
    grep -q '^video-refused' "$dir/session.out" && { say "$peer refused the call"; hangup; exit 1; }
    offer=$(sed -n 's/^video-answer [0-9a-f]* //p' "$dir/session.out" | head -n 1)
else
    say "waiting for $peer's call (media at $host:$port)"
    waitfor '^video-invite ' "$dir/session.out" 600
    offer=$(sed -n 's/^video-invite [0-9a-f]* //p' "$dir/session.out" | head -n 1)
fi
waitfor '^video [0-9a-f]+ ' "$dir/session.out" 30
keyfile=$(awk '/^video [0-9a-f]+ /{print $3; exit}' "$dir/session.out")
# the peer's candidates: host:port each, nothing else (the text is the peer's)
cands=()
for c in $(sed -n 's/.*addr=\([^ ]*\).*/\1/p' <<<"$offer" | tr , ' '); do
    [[ "$c" =~ ^(\[[0-9A-Fa-f:]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$ ]] && cands+=(-p "$c")
done
[ ${#cands[@]} -gt 0 ] || { say "the peer offered no address: $offer"; hangup; exit 1; }
say "in a call with $peer (${cands[*]})"
rc=0
simpp-videnc -x -k "$keyfile" -l "udp:$host:$port" "${cands[@]}" -I "$cam" -A "$mic" \
    ${vout:+-o "$vout"} ${aout:+-a "$aout"} ${secs:+-t "$secs"} || rc=$?
hangup
exit "$rc"
