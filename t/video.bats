#!/usr/bin/env bats
# simpp-videnc: secure video (paper 002) - frames through libavcodec, every
# packet sealed under the key of an accepted invitation; quality, plaintext
# equivalence, nothing readable on the wire, refusals, loss over UDP.
load helper

setup_file() {
    # one 720p clip (60 frames) and one small clip for every test to share
    ffmpeg -nostdin -hide_banner -loglevel error -f lavfi -i testsrc2=size=1280x720:rate=30 \
        -frames:v 60 -f yuv4mpegpipe "$BATS_FILE_TMPDIR/720.y4m"
    ffmpeg -nostdin -hide_banner -loglevel error -f lavfi -i testsrc2=size=320x240:rate=30 \
        -frames:v 20 -f yuv4mpegpipe "$BATS_FILE_TMPDIR/240.y4m"
    # a call's camera and microphone, as files to compare with: test
    # pictures, and a chirp through the speech band (300 Hz up, 300 Hz more
    # every second: no two stretches alike, so the correlation has one peak)
    ffmpeg -nostdin -hide_banner -loglevel error -f lavfi -i "$CAM" -t 10 -f yuv4mpegpipe "$BATS_FILE_TMPDIR/cam.y4m"
    ffmpeg -nostdin -hide_banner -loglevel error -f lavfi -i "$MIC" -t 10 "$BATS_FILE_TMPDIR/mic.wav"
}
CAM="testsrc2=size=320x240:rate=30"
MIC="aevalsrc=0.5*sin(2*PI*(300*t+150*t*t)):s=48000"

setup() {
    common_setup
    SRC=$BATS_FILE_TMPDIR/720.y4m
    SMALL=$BATS_FILE_TMPDIR/240.y4m
    keypair
}

# keypair: alice.vk and bob.vk as simpp-session's video_keys() writes them
# for one stream: the same stream id, send and recv swapped, mode 0600
keypair() {
    local sid ka kb
    sid=$(openssl rand -hex 16) ka=$(openssl rand -hex 32) kb=$(openssl rand -hex 32)
    (umask 077
     printf 'simpp-video-key 1\nstream %s\nme alice@localhost\npeer bob@localhost\nsend %s\nrecv %s\n' \
         "$sid" "$ka" "$kb" > alice.vk
     printf 'simpp-video-key 1\nstream %s\nme bob@localhost\npeer alice@localhost\nsend %s\nrecv %s\n' \
         "$sid" "$kb" "$ka" > bob.vk)
}

# y4m_frames FILE: the number of frames, after checking that the file is a
# YUV4MPEG2 stream whose every frame has exactly the size its header says
y4m_frames() {
    python3 - "$1" <<'EOF'
import sys
d = open(sys.argv[1], 'rb').read()
i = d.index(b'\n') + 1
h = dict((t[0], t[1:]) for t in d[:i - 1].decode().split()[1:])
size = int(h['W']) * int(h['H']) * 3 // 2
n = 0
while i < len(d):
    j = d.index(b'\n', i)
    assert d[i:j].split(b' ')[0] == b'FRAME', 'not a FRAME line'
    i = j + 1 + size
    assert i <= len(d), 'frame cut short'
    n += 1
print(n)
EOF
}
# y4m_raw Y4M RAW: the frames' bytes, headers taken off
y4m_raw() {
    python3 - "$1" "$2" <<'EOF'
import sys
d = open(sys.argv[1], 'rb').read()
i = d.index(b'\n') + 1
h = dict((t[0], t[1:]) for t in d[:i - 1].decode().split()[1:])
size = int(h['W']) * int(h['H']) * 3 // 2
with open(sys.argv[2], 'wb') as o:
    while i < len(d):
        j = d.index(b'\n', i)
        o.write(d[j + 1:j + 1 + size])
        i = j + 1 + size
EOF
}
# quality A B: "PSNR SSIM" of A against B, frame by frame in order
quality() {
    local log
    log=$(ffmpeg -nostdin -hide_banner -nostats -i "$1" -i "$2" -lavfi \
        '[0]settb=1/30,setpts=N,split[a1][a2];[1]settb=1/30,setpts=N,split[b1][b2];[a1][b1]psnr;[a2][b2]ssim' \
        -f null - 2>&1)
    echo "$(sed -n 's/.*PSNR.*average:\([0-9.inf]*\).*/\1/p' <<<"$log") $(sed -n 's/.*SSIM.*All:\([0-9.]*\).*/\1/p' <<<"$log")"
}
# records FILE: the payloads (ciphertext || tag) of a framed stream, one file each in rec/
payloads() {
    python3 - "$1" <<'EOF'
import struct, sys
d = open(sys.argv[1], 'rb').read()
i, n = 0, 0
out = open('payloads', 'wb')
starts = []
while i < len(d):
    l = struct.unpack('>I', d[i:i + 4])[0]
    rec = d[i + 4:i + 4 + l]
    starts.append(rec[60:62].hex() + ' ' + rec[-18:-16].hex())
    out.write(rec[60:])
    i += 4 + l
open('starts', 'w').write('\n'.join(starts) + '\n')
EOF
}
# count BYTES-HEX FILE: occurrences of a byte string
count() {
    python3 -c 'import sys; print(open(sys.argv[2], "rb").read().count(bytes.fromhex(sys.argv[1])))' "$1" "$2"
}

# over_udp CODEC RELAY-OPTIONS [ENCODER-OPTIONS]: alice's stream to bob's
# decoder through udploss.py; bob's video in udp.y4m, his report in udp.err
over_udp() {
    local codec=$1 relay=$2; shift 2
    rm -f ready rport
    # -w 10 here and for the relay: time for the relay and the encoder to
    # start on a loaded machine (a stream ends at its end record anyway)
    simpp-videnc -d -k bob.vk -i udp:127.0.0.1:0 -w 10 -R 3 3>ready > udp.y4m 2> udp.err &
    local dec=$!
    SESSION_PIDS="${SESSION_PIDS:-} $dec"
    for _ in $(seq 1 100); do [ -s ready ] && break; sleep 0.05; done
    # shellcheck disable=SC2086
    python3 "$SIMPP_TOP/t/tools/udploss.py" "$(cat ready)" -w 10 $relay > rport 2> relay.err &
    udp_relay=$!
    SESSION_PIDS="$SESSION_PIDS $udp_relay"
    for _ in $(seq 1 100); do [ -s rport ] && break; sleep 0.05; done
    simpp-videnc -e -k alice.vk -c "$codec" -o udp:127.0.0.1:"$(cat rport)" "$@" < "$SRC"
    udp_status=0
    wait "$dec" || udp_status=$?
    sed "s/^/# /" udp.err >&3 || true
}

@test "--help, --version, usage errors" {
    run simpp-videnc --help
    [ "$status" -eq 0 ]
    [[ "$output" == *"usage: simpp-videnc -e -k keyfile"* ]]
    run simpp-videnc --version
    [[ "$output" =~ ^simpp-videnc\ [0-9] ]]
    run simpp-videnc -e
    [ "$status" -eq 64 ]
    [[ "$output" == *"-k keyfile"* ]]
    run simpp-videnc -e -d -k alice.vk
    [ "$status" -eq 64 ]
    run simpp-videnc -e -k alice.vk -c vp9
    [ "$status" -eq 64 ]
    [[ "$output" == *"mjpeg or h264"* ]]
    run simpp-videnc -d -k bob.vk -c h264
    [ "$status" -eq 64 ]
    run simpp-videnc -e -k alice.vk -q 1
    [ "$status" -eq 64 ]
}

@test "key files: wrong mode, symbolic link, missing, malformed are refused" {
    chmod 0644 alice.vk
    run simpp-videnc -e -k alice.vk < "$SMALL"
    [ "$status" -eq 77 ]
    [[ "$output" == "simpp-videnc: key file alice.vk: mode 0644: a video key file must be 0600"* ]]
    chmod 0600 alice.vk
    ln -s alice.vk link.key
    run simpp-videnc -e -k link.key < "$SMALL"
    [ "$status" -eq 66 ]
    run simpp-videnc -e -k none.key < "$SMALL"
    [ "$status" -eq 66 ]
    [[ "$output" == *"unable to read key file none.key"* ]]
    (umask 077; sed 's/^send \(.*\)./send \1/' alice.vk > short.key
     sed '3d' alice.vk > noline.key; cat alice.vk alice.vk > twice.key
     sed 's/^recv .*/recv '"$(awk '/^send/{print $2}' alice.vk)"'/' alice.vk > same.key)
    for k in short noline twice same; do
        run simpp-videnc -e -k $k.key < "$SMALL"
        [ "$status" -eq 65 ]
        [[ "$output" == "simpp-videnc: key file $k.key: "* ]]
    done
    # the video must not have started
    [ -z "$(simpp-videnc -e -k short.key < "$SMALL" 2>/dev/null | head -c 1)" ]
}

@test "bad input: not YUV4MPEG2, an unsupported format, a cut frame, not a video stream" {
    run bash -c 'echo hello | simpp-videnc -e -k alice.vk'
    [ "$status" -eq 65 ]
    [[ "$output" == "simpp-videnc: stdin: not a YUV4MPEG2 stream"* ]]
    run simpp-videnc -e -k alice.vk < /dev/null
    [ "$status" -eq 65 ]
    [[ "$output" == *"empty"* ]]
    ffmpeg -nostdin -loglevel error -f lavfi -i testsrc2=size=64x64 -frames:v 2 -pix_fmt yuv444p -f yuv4mpegpipe c444.y4m
    run simpp-videnc -e -k alice.vk < c444.y4m
    [ "$status" -eq 65 ]
    [[ "$output" == *"C444"*"only 8-bit 4:2:0"* ]]
    head -c 200000 "$SMALL" > cut.y4m
    run simpp-videnc -e -k alice.vk -o cut.sv < cut.y4m
    [ "$status" -eq 65 ]
    [[ "$output" == *"frame 1 cut short"* ]]
    # what was whole still makes a complete stream
    run simpp-videnc -d -k bob.vk -o cut-out.y4m < cut.sv
    [ "$status" -eq 0 ]
    [ "$(y4m_frames cut-out.y4m)" -eq 1 ]
    run bash -c 'head -c 5000 /dev/urandom | simpp-videnc -d -k bob.vk'
    [ "$status" -eq 65 ]
    run simpp-videnc -d -k bob.vk < "$SMALL"
    [ "$status" -eq 65 ]
    [[ "$output" == *"not a simpp-videnc stream"* ]]
}

@test "raw yuv420p frames with -s and -r" {
    ffmpeg -nostdin -loglevel error -i "$SMALL" -f rawvideo -pix_fmt yuv420p raw.yuv
    simpp-videnc -e -k alice.vk -s 320x240 -r 30 < raw.yuv | simpp-videnc -d -k bob.vk > out.y4m
    [ "$(y4m_frames out.y4m)" -eq 20 ]
    head -1 out.y4m | grep -q '^YUV4MPEG2 W320 H240 F30:1 '
    run simpp-videnc -e -k alice.vk -s 320x240 < raw.yuv
    [ "$status" -eq 64 ]
}

@test "MJPEG 720p: frame count, PSNR >= 37 dB, SSIM >= 0.97, same pictures as a plain decode" {
    simpp-videnc -e -k alice.vk -c mjpeg --plain plain.mjpeg < "$SRC" > enc.sv
    simpp-videnc -d -k bob.vk < enc.sv > out.y4m 2> dec.err
    grep -q '^simpp-videnc: 60 of 60 frames shown' dec.err
    [ "$(y4m_frames out.y4m)" -eq 60 ]
    read -r psnr ssim <<<"$(quality out.y4m "$SRC")"
    echo "# mjpeg: psnr=$psnr ssim=$ssim" >&3
    python3 -c "import sys; sys.exit(not (float('$psnr') >= 37 and float('$ssim') >= 0.97))"
    # without loss, the receiver shows exactly what ffmpeg decodes from the
    # unencrypted packets
    ffmpeg -nostdin -loglevel error -f mjpeg -i plain.mjpeg -fps_mode passthrough -f rawvideo plain.raw
    y4m_raw out.y4m ours.raw
    cmp ours.raw plain.raw
    [ "$(quality out.y4m plain.mjpeg | cut -d' ' -f1)" = inf ]
}

@test "MJPEG: ffmpeg cannot read the encrypted stream; no JPEG markers in the payload" {
    simpp-videnc -e -k alice.vk --plain plain.mjpeg < "$SRC" > enc.sv
    run ! ffprobe -v error enc.sv
    [ "$(ffmpeg -nostdin -v quiet -f mjpeg -i enc.sv -f framecrc - | grep -vc '^#')" -eq 0 ]
    # the detector finds every frame in the plaintext ...
    [ "$(count ffd8ff plain.mjpeg)" -ge 60 ]
    [ "$(count ffd9ffd8 plain.mjpeg)" -ge 59 ]
    payloads enc.sv
    # ... and in the ciphertext only what chance gives (3.3 MB: ~0.2 of
    # SOI+marker, ~0.001 of EOI+SOI); no payload starts with SOI or ends with EOI
    [ "$(count ffd8ff payloads)" -le 3 ]
    [ "$(count ffd9ffd8 payloads)" -le 1 ]
    run ! grep -q '^ffd8 ' starts
    run ! grep -q ' ffd9$' starts
}

@test "H.264 720p: frame count, PSNR >= 37 dB, SSIM >= 0.97, same pictures as a plain decode, no start codes" {
    simpp-videnc -e -k alice.vk -c h264 --plain plain.h264 < "$SRC" > enc.sv
    simpp-videnc -d -k bob.vk < enc.sv > out.y4m 2> dec.err
    grep -q '^simpp-videnc: 60 of 60 frames shown' dec.err
    [ "$(y4m_frames out.y4m)" -eq 60 ]
    read -r psnr ssim <<<"$(quality out.y4m "$SRC")"
    echo "# h264: psnr=$psnr ssim=$ssim" >&3
    python3 -c "import sys; sys.exit(not (float('$psnr') >= 37 and float('$ssim') >= 0.97))"
    ffmpeg -nostdin -loglevel error -f h264 -i plain.h264 -fps_mode passthrough -f rawvideo plain.raw
    y4m_raw out.y4m ours.raw
    cmp ours.raw plain.raw
    run ! ffprobe -v error enc.sv
    [ "$(ffmpeg -nostdin -v quiet -f h264 -i enc.sv -f framecrc - | grep -vc '^#')" -eq 0 ]
    [ "$(count 00000001 plain.h264)" -ge 60 ]
    payloads enc.sv
    # 1.9 MB of ciphertext: a 4-byte start code ~0.0004 times by chance,
    # a 3-byte one followed by an IDR slice header byte (0x65) ~0.0006
    [ "$(count 00000001 payloads)" -le 1 ]
    [ "$(count 00000165 payloads)" -le 1 ]
    [ "$(count 00000167 payloads)" -le 1 ]
}

@test "refused: a flipped bit, a replayed record, a dropped record, a cut stream, a wrong key, a foreign stream" {
    simpp-videnc -e -k alice.vk < "$SMALL" > enc.sv
    python3 - <<'EOF'
import struct
d = open('enc.sv', 'rb').read()
recs, i = [], 0
while i < len(d):
    n = struct.unpack('>I', d[i:i + 4])[0]
    recs.append(d[i:i + 4 + n]); i += 4 + n
w = lambda name, rs: open(name, 'wb').write(b''.join(rs))
flip = bytearray(recs[5]); flip[4 + 100] ^= 1                  # in the ciphertext
w('flip.sv', recs[:5] + [bytes(flip)] + recs[6:])
pts = bytearray(recs[5]); pts[4 + 59] ^= 1                     # pts, in the clear header
w('pts.sv', recs[:5] + [bytes(pts)] + recs[6:])
w('replay.sv', recs[:7] + [recs[5]] + recs[7:])
w('drop.sv', recs[:5] + recs[6:])
w('cut.sv', recs[:-1])
w('after.sv', recs + [recs[3]])
EOF
    run simpp-videnc -d -k bob.vk -o out.y4m < flip.sv
    [ "$status" -eq 65 ]
    [[ "$output" == "simpp-videnc: record 5 refused: fails authentication (changed in transit, or a wrong key)" ]]
    # what came before the bad record was shown, nothing after it
    [ "$(y4m_frames out.y4m)" -eq 4 ]
    run simpp-videnc -d -k bob.vk < pts.sv
    [ "$status" -eq 65 ]
    [[ "$output" == *"record 5 refused: fails authentication"* ]]
    run simpp-videnc -d -k bob.vk < replay.sv
    [ "$status" -eq 65 ]
    [[ "$output" == *"record 7 refused: replayed (sequence number 5 seen already"* ]]
    run simpp-videnc -d -k bob.vk < drop.sv
    [ "$status" -eq 65 ]
    [[ "$output" == *"record 5 refused: out of order"* ]]
    run simpp-videnc -d -k bob.vk < cut.sv
    [ "$status" -eq 65 ]
    [[ "$output" == *"the stream was cut: no end record"* ]]
    run simpp-videnc -d -k bob.vk < after.sv
    [ "$status" -eq 65 ]
    [[ "$output" == *"data after the end record"* ]]
    # a wrong key: the same stream and peer, other keys
    (umask 077; awk -v k="$(openssl rand -hex 32)" '/^recv/{$2=k} {print}' bob.vk > wrong.key)
    run simpp-videnc -d -k wrong.key < enc.sv
    [ "$status" -eq 65 ]
    [[ "$output" == "simpp-videnc: stream header refused: fails authentication (changed in transit, or a wrong key)" ]]
    # another stream's key file; and alice's own key (her stream is not from bob)
    (umask 077; awk -v s="$(openssl rand -hex 16)" '/^stream/{$2=s} {print}' bob.vk > other.key)
    run simpp-videnc -d -k other.key < enc.sv
    [ "$status" -eq 65 ]
    [[ "$output" == *"record 0 refused: foreign stream "*": the key file is for stream "* ]]
    run simpp-videnc -d -k alice.vk < enc.sv
    [ "$status" -eq 65 ]
    [[ "$output" == *"record 0 refused: foreign device: stream "*" is not from bob@localhost" ]]
    # and the untouched stream still plays
    simpp-videnc -d -k bob.vk < enc.sv > out.y4m
    [ "$(y4m_frames out.y4m)" -eq 20 ]
}

@test "an independent reader written from the man page opens the records: byte stream, datagrams, parity" {
    # python3-cryptography: ChaCha20-Poly1305 and HKDF of its own
    simpp-videnc -e -k alice.vk -c h264 --plain plain.h264 < "$SMALL" > enc.sv
    run python3 "$SIMPP_TOP/t/tools/svread.py" bob.vk enc.sv frames.h264
    [ "$status" -eq 0 ]
    [ "$output" = "records 22 frames 20 parity 0 codec h264 320x240 device yuv4mpeg2 stdin" ]
    cmp frames.h264 plain.h264
    # the datagrams as they crossed the network, in 600-byte datagrams so
    # that every frame has several fragments and parity
    SRC=$SMALL
    over_udp mjpeg "-c capture -w 0.5" --plain plain.mjpeg -m 600 --no-pace
    [ "$udp_status" -eq 0 ]
    wait "$udp_relay"
    run python3 "$SIMPP_TOP/t/tools/svread.py" bob.vk capture frames.mjpeg
    [ "$status" -eq 0 ]
    [[ "$output" =~ ^records\ [0-9]+\ frames\ 20\ parity\ [1-9][0-9]+\ codec\ mjpeg\ 320x240\ device\ yuv4mpeg2\ stdin$ ]]
    cmp frames.mjpeg plain.mjpeg
}

@test "UDP, 5% loss (seeded): MJPEG 720p fragments rebuilt, every frame shown" {
    over_udp mjpeg "-l 0.05 -s 7"
    [ "$udp_status" -eq 0 ]
    # the relay did drop: fewer records arrived than were sent
    read -r got all <<<"$(sed -n 's/.*; \([0-9]*\) of \([0-9]*\) records arrived.*/\1 \2/p' udp.err)"
    [ "$got" -lt "$all" ]
    n=$(y4m_frames udp.y4m)
    [ "$n" -ge 48 ]
    grep -Eq '^simpp-videnc: [0-9]+ of 60 frames shown .* [1-9][0-9]* fragments rebuilt, 0 refused' udp.err
    read -r psnr ssim <<<"$(quality udp.y4m "$SRC")"
    echo "# mjpeg over udp: $n frames, psnr=$psnr ssim=$ssim" >&3
    [ "$n" -lt 60 ] || python3 -c "import sys; sys.exit(not float('$psnr') >= 37)"
}

@test "UDP, 5% loss (seeded): H.264 720p decodable, frame count >= 80%" {
    over_udp h264 "-l 0.05 -s 11"
    [ "$udp_status" -eq 0 ]
    n=$(y4m_frames udp.y4m)
    echo "# h264 over udp: $n frames" >&3
    [ "$n" -ge 48 ]
    grep -Eq '^simpp-videnc: [0-9]+ of 60 frames shown' udp.err
}

@test "UDP, 5% loss without parity: incomplete frames skipped, H.264 waits for a key frame, no crash" {
    over_udp mjpeg "-l 0.05 -s 3" -f 0 --no-pace
    [ "$udp_status" -eq 0 ]
    n=$(y4m_frames udp.y4m)
    [ "$n" -lt 60 ]
    grep -Eq "^simpp-videnc: $n of 60 frames shown \([1-9][0-9]* incomplete" udp.err
    over_udp h264 "-l 0.05 -s 3" -f 0 -g 10 --no-pace
    [ "$udp_status" -eq 0 ]
    n=$(y4m_frames udp.y4m)
    [ "$n" -lt 60 ]
    grep -Eq "^simpp-videnc: $n of 60 frames shown \([0-9]+ incomplete, [1-9][0-9]* skipped until a key frame, 0 undecodable" udp.err
}

@test "UDP: duplicated and changed datagrams refused (reason said once), the video intact" {
    SRC=$SMALL
    over_udp mjpeg "-d -x" --no-pace
    [ "$udp_status" -eq 0 ]
    [ "$(y4m_frames udp.y4m)" -eq 20 ]
    [ "$(grep -c 'refused datagrams: replayed' udp.err)" -eq 1 ]
    [ "$(grep -c 'refused datagrams: fails authentication' udp.err)" -eq 1 ]
    grep -Eq '^simpp-videnc: 20 of 20 frames shown .* [1-9][0-9]* refused' udp.err
}

@test "UDP: a stream under a wrong key, or not from the peer, is refused" {
    SRC=$SMALL
    (umask 077; awk -v k="$(openssl rand -hex 32)" '/^send/{$2=k} {print}' alice.vk > a2 && mv a2 alice.vk)
    over_udp mjpeg "" --no-pace
    [ "$udp_status" -eq 65 ]
    [ "$(grep -c 'refused datagrams: fails authentication' udp.err)" -eq 1 ]
    grep -q 'no authentic stream from alice@localhost' udp.err
    [ "$(y4m_frames udp.y4m 2>/dev/null || echo 0)" -eq 0 ]
    # bob's own key file: his decoder expects alice's device tag
    cp bob.vk alice.vk
    over_udp mjpeg "" --no-pace
    [ "$udp_status" -eq 65 ]
    grep -q 'refused datagrams: foreign device: stream [0-9a-f]* is not from alice@localhost' udp.err
}

@test "end to end: keys from a real /video invitation through simpp-session" {
    start_relay
    new_user alice
    new_user bob
    e2e bob alice -a
    wait_for bob "offline alice@localhost" bob.out
    e2e alice bob
    wait_for alice "^session" alice.out
    say alice "/video codec=h264 w=320 h=240"
    wait_for alice "^video [0-9a-f]* " alice.out
    wait_for bob "^video [0-9a-f]* " bob.out
    ka=$(awk '/^video /{print $3}' alice.out)
    kb=$(awk '/^video /{print $3}' bob.out)
    simpp-videnc -e -k "$ka" -c h264 < "$SMALL" | simpp-videnc -d -k "$kb" > a2b.y4m
    [ "$(y4m_frames a2b.y4m)" -eq 20 ]
    simpp-videnc -e -k "$kb" < "$SMALL" | simpp-videnc -d -k "$ka" > b2a.y4m
    [ "$(y4m_frames b2a.y4m)" -eq 20 ]
    # one direction's key does not open the other's stream
    run bash -c "simpp-videnc -e -k '$ka' < '$SMALL' | simpp-videnc -d -k '$ka'"
    [ "$status" -eq 65 ]
    [[ "$output" == *"foreign device"* ]]
}

# ---- calls (simpp-videnc -x) --------------------------------------------------

udp_port() {
    python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# lossy LISTEN-PORT OPTIONS...: a udploss.py relay towards LISTEN-PORT; its port on stdout
lossy() {
    local to=$1 f; shift
    f=$(mktemp -p .)
    python3 "$SIMPP_TOP/t/tools/udploss.py" "$to" -w 10 "$@" > "$f" 2>> udploss.err &
    SESSION_PIDS="${SESSION_PIDS:-} $!"
    for _ in $(seq 1 100); do [ -s "$f" ] && break; sleep 0.05; done
    cat "$f"
}
# call SECONDS [A->B relay options] [B->A relay options]: alice (alice.vk)
# and bob (bob.vk) in a call, each with the lavfi camera and microphone;
# alice hangs up after SECONDS (-t).  What each received: NAME.y4m,
# NAME.wav; stderr: NAME.err; exit codes: $a_rc $b_rc.  With relay options
# the media cross udploss.py relays (one a direction).  A_OPTS, B_OPTS:
# more options for alice's, bob's simpp-videnc; A_CAM: alice's camera
# instead of $CAM.
call() {
    local secs=$1 ab=${2-} ba=${3-} pa pb ta tb
    pa=$(udp_port) pb=$(udp_port)
    ta=$pb tb=$pa
    # shellcheck disable=SC2086
    [ -z "$ab" ] || ta=$(lossy "$pb" $ab)
    # shellcheck disable=SC2086
    [ -z "$ba" ] || tb=$(lossy "$pa" $ba)
    # shellcheck disable=SC2086
    simpp-videnc -x -k bob.vk -l udp:127.0.0.1:"$pb" -p 127.0.0.1:"$tb" -I "lavfi:$CAM" -A "lavfi:$MIC" \
        -o bob.y4m -a bob.wav ${B_OPTS:-} 2> bob.err &
    local b=$!
    SESSION_PIDS="${SESSION_PIDS:-} $b"
    a_rc=0 b_rc=0
    # shellcheck disable=SC2086
    simpp-videnc -x -k alice.vk -l udp:127.0.0.1:"$pa" -p 127.0.0.1:"$ta" -I "lavfi:${A_CAM:-$CAM}" -A "lavfi:$MIC" \
        -o alice.y4m -a alice.wav -t "$secs" ${A_OPTS:-} 2> alice.err || a_rc=$?
    wait "$b" || b_rc=$?
    sed 's/^/# alice: /' alice.err >&3
    sed 's/^/# bob: /' bob.err >&3
}
# check NAME: callcheck.py on what NAME received; sets psnr vlag corr alag av
# frozen shown, and ssim (ffmpeg) of the pictures shown against their matches
check() {
    local line
    line=$(/usr/bin/python3 "$SIMPP_TOP/t/tools/callcheck.py" "$1.y4m" "$1.wav" \
        "$BATS_FILE_TMPDIR/cam.y4m" "$BATS_FILE_TMPDIR/mic.wav" shown.y4m matched.y4m)
    echo "# $1 received: $line" >&3
    eval "$(tr ' ' '\n' <<<"$line" | grep -E '^(psnr|vlag|corr|alag|av|frozen|shown)=')"
    read -r _ ssim <<<"$(quality shown.y4m matched.y4m)"
    echo "# $1: ssim=$ssim" >&3
}
ge() { python3 -c "import sys; sys.exit(not (float('$1') >= float('$2')))"; }
le() { python3 -c "import sys; sys.exit(not (abs(float('$1')) <= float('$2')))"; }

@test "call: usage errors, a camera or microphone that cannot be opened, nobody answering" {
    run simpp-videnc -x -k alice.vk
    [ "$status" -eq 64 ]
    [[ "$output" == *"-x needs -l udp:[host:]port (here) and -p host:port (the peer)"* ]]
    run simpp-videnc -e -k alice.vk -A lavfi:sine
    [ "$status" -eq 64 ]
    [[ "$output" == *"are for -x"* ]]
    run simpp-videnc -x -k alice.vk -l udp:127.0.0.1:0 -p 127.0.0.1:9 -I nosuchformat:x -A none -t 1
    [ "$status" -eq 66 ]
    [[ "$output" == "simpp-videnc: camera: nosuchformat:x: this FFmpeg has no input format nosuchformat" ]]
    run simpp-videnc -x -k alice.vk -l udp:127.0.0.1:0 -p 127.0.0.1:9 -I none -A lavfi:nosuchfilter -t 1
    [ "$status" -eq 66 ]
    [[ "$output" == *"simpp-videnc: microphone: lavfi:nosuchfilter: "* ]]
    run simpp-videnc -x -k alice.vk -l udp:127.0.0.1:0 -p 127.0.0.1:9 -I /dev/video0 -A none -t 1
    [ "$status" -eq 66 ]
    [[ "$output" == *"expected FORMAT:URL, such as v4l2:/dev/video0"* ]]
    # nobody answers: a call that never starts ends with 69
    run simpp-videnc -x -k alice.vk -l udp:127.0.0.1:0 -p 127.0.0.1:9 -I none -A none -w 1
    [ "$status" -eq 69 ]
    [[ "$output" == *"no answer from bob@localhost within 1 s"* ]]
}

@test "a camera through libavformat (-I lavfi:...): its identity bound to the stream, shown by the receiver" {
    simpp-videnc -e -k alice.vk -I "lavfi:$CAM" -t 1 > cam.sv
    simpp-videnc -d -k bob.vk -v < cam.sv > out.y4m 2> dec.err
    grep -qF "simpp-videnc: video from alice@localhost, device: lavfi $CAM" dec.err
    n=$(y4m_frames out.y4m)
    [ "$n" -ge 25 ] && [ "$n" -le 32 ]
    run python3 "$SIMPP_TOP/t/tools/svread.py" bob.vk cam.sv frames.mjpeg
    [ "$status" -eq 0 ]
    [[ "$output" == *" device lavfi $CAM" ]]
    # another device's name in the stream header, sealed under the right
    # key: the epoch of the run does not commit to it; refused
    python3 - "$(awk '/^send/{print $2}' alice.vk)" <<'EOF'
import struct, sys
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives import hashes
d = open('cam.sv', 'rb').read()
n = struct.unpack('>I', d[:4])[0]
rec, rest = d[4:4 + n], d[4 + n:]
hdr = rec[:60]
stream, tag, epoch, seq = hdr[12:28], hdr[28:36], hdr[36:44], hdr[44:52]
key = HKDF(algorithm=hashes.SHA256(), length=32, salt=epoch,
           info=b'simpp/1 video record\0' + stream + tag).derive(bytes.fromhex(sys.argv[1]))
a = ChaCha20Poly1305(key)
pt = a.decrypt(b'\0' * 4 + seq, rec[60:], hdr)
fake = b'v4l2 /dev/video0: Trusted Camera'
pt = pt[:40] + bytes([len(fake)]) + fake
hdr = hdr[:8] + struct.pack('>I', len(pt)) + hdr[12:]
rec = hdr + a.encrypt(b'\0' * 4 + seq, pt, hdr)
open('fake.sv', 'wb').write(struct.pack('>I', len(rec)) + rec + rest)
EOF
    run simpp-videnc -d -k bob.vk -o out2.y4m < fake.sv
    [ "$status" -eq 65 ]
    [[ "$output" == "simpp-videnc: record 0 refused: the stream header names another device than its run commits to" ]]
}

@test "call through a relay: one /video invitation with both addresses, both directions decoded, in sync; hang-up ends both" {
    start_relay
    new_user alice
    new_user bob
    pa=$(udp_port) pb=$(udp_port)
    e2e bob alice -a -m "addr=127.0.0.1:$pb"
    wait_for bob "offline alice@localhost" bob.out
    e2e alice bob
    wait_for alice "^session" alice.out
    say alice "/video call addr=127.0.0.1:$pa"
    wait_for alice "^video-answer [0-9a-f]+ addr=127.0.0.1:$pb$" alice.out
    wait_for alice "^video [0-9a-f]+ " alice.out
    wait_for bob "^video-invite [0-9a-f]+ call addr=127.0.0.1:$pa$" bob.out
    wait_for bob "^video [0-9a-f]+ " bob.out
    ka=$(awk '/^video /{print $3}' alice.out)
    kb=$(awk '/^video /{print $3}' bob.out)
    simpp-videnc -x -k "$kb" -l udp:127.0.0.1:"$pb" -p "$(sed -n 's/^video-invite [0-9a-f]* call addr=//p' bob.out)" \
        -I "lavfi:$CAM" -A "lavfi:$MIC" -o bob.y4m -a bob.wav 2> bob.err &
    b=$!
    a_rc=0 b_rc=0
    simpp-videnc -x -k "$ka" -l udp:127.0.0.1:"$pa" -p "$(sed -n 's/^video-answer [0-9a-f]* addr=//p' alice.out)" \
        -I "lavfi:$CAM" -A "lavfi:$MIC" -o alice.y4m -a alice.wav -t 5 2> alice.err || a_rc=$?
    wait "$b" || b_rc=$?
    sed 's/^/# alice: /' alice.err >&3
    sed 's/^/# bob: /' bob.err >&3
    [ "$a_rc" -eq 0 ] && [ "$b_rc" -eq 0 ]
    grep -q "^simpp-videnc: alice@localhost hung up$" bob.err
    grep -qF "simpp-videnc: video from alice@localhost, device: lavfi $CAM" bob.err
    grep -qF "simpp-videnc: audio from bob@localhost, device: lavfi $MIC" alice.err
    for who in alice bob; do
        check "$who"
        [ "$shown" -ge 60 ]
        ge "$psnr" 37
        ge "$ssim" 0.97
        ge "$corr" 0.9
        le "$av" 40
        grep -Eq ' 0 datagrams refused$' "$who.err"
    done
}

@test "call: bob hangs up (SIGTERM): both ends exit 0" {
    call 30 &
    c=$!
    for _ in $(seq 1 100); do grep -q "video from alice" bob.err 2>/dev/null && break; sleep 0.1; done
    sleep 1
    pkill -TERM -f -- '-x -k bob.vk'
    wait "$c"
    grep -q "^simpp-videnc: bob@localhost hung up$" alice.err
    run grep -c "hung up" bob.err
    [ "$output" -eq 0 ]
    grep -Eq '^simpp-videnc: call with alice@localhost, [0-9.]+ s:' bob.err
    # alice's call did not run its 30 s
    [ "$(sed -n 's/.*call with bob@localhost, \([0-9]*\)\..*/\1/p' alice.err)" -lt 15 ]
}

@test "call with 5% loss and 30 ms of jitter each way: the sound still correlates, no picture frozen for 0.5 s" {
    call 6 "-l 0.05 -j 30 -s 5" "-l 0.05 -j 30 -s 6"
    [ "$a_rc" -eq 0 ] && [ "$b_rc" -eq 0 ]
    sed 's/^/# /' udploss.err >&3
    for who in alice bob; do
        check "$who"
        ge "$corr" 0.8
        python3 -c "import sys; sys.exit(not float('$frozen') < 500)"
        le "$av" 40
        # losses were made good: FEC, concealment, or parity fragments
        grep -Eq 'rebuilt by FEC|concealed' "$who.err"
    done
}

@test "H.264 call from a camera below its rate (every other picture): sound and picture stay in time and in sync" {
    # the pictures keep their slots on the call's clock; before, H.264
    # numbered them one after another, so each gap put the sound a frame
    # later, up to the jitter buffer's 400 ms
    A_CAM="$CAM,select=not(mod(n\\,2))" A_OPTS="-c h264" B_OPTS="-c h264" call 5
    [ "$a_rc" -eq 0 ] && [ "$b_rc" -eq 0 ]
    check bob
    # about 75 pictures (less the first second's when bob's decoder starts
    # after alice's first key frame): a gap taken for a loss would have bob
    # wait for each key frame (one a second) and show a handful
    [ "$shown" -ge 40 ]
    ge "$psnr" 37
    ge "$corr" 0.9
    le "$av" 40
    [ "$(sed -n 's/.*; delay \([0-9]*\) ms;.*/\1/p' bob.err)" -lt 300 ]
}

@test "call: replayed, changed and foreign audio packets are refused, the call goes on" {
    # every datagram twice, every tenth changed, towards bob (5 s: a tenth
    # of the sound is concealed, the rest must match the source)
    call 5 "-d -x -s 2"
    [ "$a_rc" -eq 0 ] && [ "$b_rc" -eq 0 ]
    grep -q "^simpp-videnc: refused audio datagrams: replayed" bob.err
    grep -q "^simpp-videnc: refused audio datagrams: fails authentication" bob.err
    [ "$(grep -c 'refused audio datagrams: replayed' bob.err)" -eq 1 ]
    check bob
    ge "$corr" 0.8
    # bob's own key file (a sender claiming to be alice), and another
    # stream's: all refused, so for bob nobody answers
    cp bob.vk alice.vk
    B_OPTS="-w 2" call 2
    [ "$b_rc" -eq 69 ]
    grep -q "^simpp-videnc: refused audio datagrams: foreign device: not from the peer of this key file" bob.err
    (umask 077; awk -v s="$(openssl rand -hex 16)" '/^stream/{$2=s} {print}' bob.vk > alice.vk)
    B_OPTS="-w 2" call 2
    [ "$b_rc" -eq 69 ]
    grep -q "^simpp-videnc: refused audio datagrams: foreign stream: not the stream of this key file" bob.err
}

@test "call: nothing of the codecs on the wire (no JPEG marker, no Opus header)" {
    pa=$(udp_port) pb=$(udp_port)
    ta=$(lossy "$pb" -c wire)
    simpp-videnc -x -k bob.vk -l udp:127.0.0.1:"$pb" -p 127.0.0.1:"$pa" -I none -A none -w 5 2> bob.err &
    b=$!
    simpp-videnc -x -k alice.vk -l udp:127.0.0.1:"$pa" -p 127.0.0.1:"$ta" -I "lavfi:$CAM" -A "lavfi:$MIC" -t 2 2> alice.err
    wait "$b"
    [ -s wire ]
    [ "$(count ffd8ff wire)" -le 1 ]
    [ "$(count 4f70757348656164 wire)" -eq 0 ]
    # 2 s of a call went by: ~60 pictures and ~100 audio packets of ciphertext
    [ "$(stat -c %s wire)" -gt 100000 ]
}
