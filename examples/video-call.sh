#!/usr/bin/env bash
# video-call.sh - a secure video call (paper 002) between two users, on
# loopback, from nothing: a relay, alice and bob registered and in an
# end-to-end session, alice invites bob to video (/video), bob accepts
# (simpp-session -a), both ends find the stream keys in a 0600 key file, and
# alice's "camera" (ffmpeg's testsrc2: there is no webcam here) goes to bob
# as sealed UDP datagrams.  Bob's picture goes to ffplay when there is a
# display, else to a YUV4MPEG2 file (kept if named on the command line).
#
#   examples/video-call.sh [mjpeg|h264] [seconds] [bob.y4m]
#
# The keys never cross the relay: each side derives them from its session
# (simpp-session's exporter); the invitation only carries a stream id and
# the parameters.  Run from the source tree after `make`, or with the
# programs on PATH.
set -eu
codec=${1:-mjpeg}
secs=${2:-3}
keep=${3:+$(cd "$(dirname "$3")" && pwd)/$(basename "$3")}
top=$(cd "$(dirname "$0")/.." && pwd)
PATH="${SIMPP_BIN:-$top/bin}:$PATH"
dir=$(mktemp -d "${TMPDIR:-/tmp}/simpp-video.XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
cd "$dir"
waitfor() { for _ in $(seq 1 100); do grep -qE "$1" "$2" 2>/dev/null && return 0; sleep 0.1; done; echo "video-call: timed out waiting for $1 in $2" >&2; exit 1; }

echo "== a relay on 127.0.0.1, alice and bob registered"
simpp-keygen -q -t server -w relay.pub relay.key > /dev/null
mkdir data
simpp-relayd -d data -k relay.key -l 127.0.0.1:0 -r 3 3>ready 2>relay.log &
pids+=($!)
waitfor . ready
port=$(cat ready)
for u in alice bob; do
    simpp-keygen -q "$u.key" > /dev/null
    simpp-register -c 127.0.0.1:"$port" -s relay.pub -k "$u.key" "$u@localhost" > /dev/null
done

echo "== end-to-end sessions; bob accepts video invitations (-a)"
mkfifo alice.in bob.in
SIMPP_HOME=$dir/bob.home simpp-login -c 127.0.0.1:"$port" -s relay.pub -k bob.key bob@localhost \
    simpp-session -j -a alice@localhost < bob.in > bob.out 2> bob.err &
pids+=($!)
exec 5>bob.in
waitfor 'offline alice@localhost' bob.out
SIMPP_HOME=$dir/alice.home simpp-login -c 127.0.0.1:"$port" -s relay.pub -k alice.key alice@localhost \
    simpp-session -j bob@localhost < alice.in > alice.out 2> alice.err &
pids+=($!)
exec 4>alice.in
waitfor '^session' alice.out

echo "== alice: /video codec=$codec (the invitation travels inside the session)"
echo "/video codec=$codec w=640 h=480" >&4
waitfor '^video [0-9a-f]+ ' alice.out
waitfor '^video [0-9a-f]+ ' bob.out
ka=$(awk '/^video /{print $3}' alice.out)
kb=$(awk '/^video /{print $3}' bob.out)
echo "  alice's key file: $ka ($(stat -c %a "$ka"))"
echo "  bob's key file:   $kb ($(stat -c %a "$kb"))"
echo "  stream $(awk '/^stream/{print $2}' "$ka"): alice sends under the key bob receives with"

echo "== bob listens for the stream on a UDP port; alice sends $secs s of 640x480 at 30 fps"
if [ -n "${DISPLAY:-}" ] && command -v ffplay > /dev/null 2>&1; then
    simpp-videnc -d -k "$kb" -i udp:127.0.0.1:0 -R 3 3>vready 2> bob.video.err | ffplay -loglevel error -autoexit - &
else
    simpp-videnc -d -k "$kb" -i udp:127.0.0.1:0 -R 3 3>vready > bob.y4m 2> bob.video.err &
fi
dec=$!
pids+=("$dec")
waitfor . vready
ffmpeg -nostdin -hide_banner -loglevel error -f lavfi -i "testsrc2=size=640x480:rate=30" -t "$secs" \
    -f yuv4mpegpipe - | simpp-videnc -e -k "$ka" -c "$codec" -o udp:127.0.0.1:"$(cat vready)" -v 2> alice.video.err
wait "$dec" || true
tail -n 1 alice.video.err | sed 's/^/  alice: /'
sed 's/^/  bob:   /' bob.video.err
if [ -s bob.y4m ]; then
    ffprobe -v error -count_frames -show_entries stream=width,height,nb_read_frames -of csv=p=0 bob.y4m |
        sed 's/^/  bob.y4m (width,height,frames): /'
    [ -z "$keep" ] || { cp bob.y4m "$keep"; echo "  saved as $keep (ffplay $keep)"; }
fi

echo "== what a sniffer gets: the same stream in a file, in which ffprobe finds no picture"
ffmpeg -nostdin -hide_banner -loglevel error -f lavfi -i "testsrc2=size=640x480:rate=30" -frames:v 5 \
    -f yuv4mpegpipe - | simpp-videnc -e -k "$ka" -c "$codec" > wire.sv
# sealed bytes look random; now and then ffprobe takes random bytes for some
# audio format, but a video stream in them would be a leak
v=$(ffprobe -v error -select_streams v -show_entries stream=codec_name,width,height -of csv=p=0 wire.sv 2>/dev/null || true)
if [ -n "$v" ]; then echo "video-call: ffprobe found video in the stream: $v" >&2; exit 1; fi
why=$(ffprobe -v error wire.sv 2>&1 | head -n 1)
echo "  ffprobe wire.sv: no video stream (${why:-it took the noise for some audio format})"
exec 4>&- 5>&-
