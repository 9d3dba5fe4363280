#!/usr/bin/env bats
# simpp-session: end-to-end sessions between two users through a real relay.
load helper
load cardca

setup() {
    common_setup
    start_relay
    new_user alice
    new_user bob
}

@test "--help, --version, and a clear refusal without simpp-login" {
    run simpp-session --help
    [ "$status" -eq 0 ]
    [[ "$output" == *"usage: simpp-session"* ]]
    # every option and the files under -d, as in simpp-session(1)
    for o in -j -A -a -m -d -o -C -w -h --help -V --version card-ca.pem; do
        [[ "$output" == *" $o"* ]] || { echo "--help lacks $o" >&2; false; }
    done
    run simpp-session --version
    [[ "$output" =~ ^simpp-session\ [0-9] ]]
    run simpp-session bob@localhost
    [ "$status" -eq 64 ]
    [[ "$output" == *"run me after simpp-login"* ]]
}

@test "chat both ways, every line acknowledged, same transcript on both sides" {
    e2e bob alice
    wait_for bob "offline alice@localhost" bob.out
    e2e alice bob
    wait_for alice "^session chacha20-poly1305 bob@localhost/s" alice.out
    wait_for bob "^session chacha20-poly1305 alice@localhost/s" bob.out
    say alice "hello bob"
    say alice "second line, with <xml> & ampersands"
    wait_for bob "^msg 2 alice@localhost second line, with <xml> & ampersands" bob.out
    wait_for alice "^ack 1" alice.out
    wait_for alice "^ack 2" alice.out
    say bob "hi alice"
    wait_for alice "^msg 1 bob@localhost hi alice" alice.out
    wait_for bob "^ack 1" bob.out
    # what could steer a terminal arrives as '?': ESC, C1 CSI, a right-to-left override
    say bob "$(printf 'a\033[2J b\302\2332J c\342\200\256fdp.exe caf\303\251')"
    wait_for alice "^msg 2 bob@localhost " alice.out
    grep -qx 'msg 2 bob@localhost a?\[2J b??2J c???fdp.exe caf.*' alice.out
    grep -q "caf$(printf '\303\251')\$" alice.out
    # the safety numbers match
    say alice "/safety"
    say bob "/safety"
    wait_for alice "^safety" alice.out
    wait_for bob "^safety" bob.out
    [ "$(grep '^safety' alice.out)" = "$(grep '^safety' bob.out)" ]
    # end: both sides print the transcript hash, and they agree
    end_session alice
    wait "$pid_alice"
    wait_for bob "^bye alice@localhost" bob.out
    [ "$(grep '^transcript' alice.out | tail -1)" = "$(grep '^transcript' bob.out | tail -1)" ]
    ! grep -q '^error' alice.out bob.out || false
}

@test "the relay never holds the plaintext; ordinary clients see a notice" {
    e2e bob alice
    wait_for bob "offline alice@localhost" bob.out
    # alice's connection is recorded by socat: the bytes on the wire
    WPORT=$(free_port)
    socat -r wire.c2s -R wire.s2c TCP-LISTEN:$WPORT,bind=127.0.0.1,reuseaddr TCP:127.0.0.1:$PORT &
    SESSION_PIDS="$SESSION_PIDS $!"
    wait_listen $WPORT
    mkfifo alice.in
    SIMPP_HOME=$TMP/alice.home simpp-login -v -c 127.0.0.1:$WPORT -s relay.pub -k alice.key -r s alice@localhost \
        simpp-session -j bob@localhost < alice.in > alice.out 2> alice.err &
    SESSION_PIDS="$SESSION_PIDS $!"
    exec {fd_alice}>alice.in
    wait_for alice "^session" alice.out
    say alice "E2E-CANARY-1"
    wait_for bob "E2E-CANARY-1" bob.out
    # what simpp-login sent to the relay (its -v trace: the stanzas inside
    # the channel, i.e. what the relay reads) holds only ciphertext
    ! grep -q "E2E-CANARY" alice.err || false
    grep -q "SIMPP end-to-end encrypted message" alice.err
    ! grep -q "E2E-CANARY" wire.c2s wire.s2c || false
    ! grep -q "E2E-CANARY" "$RELAY_LOG" || false
}

@test "pager mode: a message to an offline peer is stored encrypted and read at login" {
    printf 'while you were away\n' > in
    SIMPP_HOME=$TMP/alice.home simpp-login -c 127.0.0.1:$PORT -s relay.pub -k alice.key alice@localhost \
        simpp-session -j -w 3 bob@localhost < in > alice.out 2> alice.err
    grep -q '^pager-sent' alice.out
    [ "$(sqlite3 data/simpp.db 'select count(*) from offline')" -eq 1 ]
    # the relay's database holds ciphertext only
    ! sqlite3 data/simpp.db 'select stanza from offline' | grep -q 'while you were away' || false
    sqlite3 data/simpp.db 'select stanza from offline' | grep -q "t='p'"
    e2e bob alice -w 1
    wait_for bob "^pager alice@localhost [0-9T:-]*Z while you were away" bob.out
    end_session bob
}

@test "pager mode: a replayed pager message is refused" {
    printf 'once only\n' > in
    SIMPP_HOME=$TMP/alice.home simpp-login -c 127.0.0.1:$PORT -s relay.pub -k alice.key alice@localhost \
        simpp-session -j -w 3 bob@localhost < in > alice.out 2> alice.err
    row=$(sqlite3 data/simpp.db "select quote(to_jid), quote(from_jid), quote(stanza), stamp from offline" 2>/dev/null || true)
    sqlite3 data/simpp.db ".dump offline" | grep '^INSERT' > offline.sql
    e2e bob alice -w 1
    wait_for bob "^pager alice@localhost .* once only" bob.out
    end_session bob
    wait "$pid_bob" || true
    # the same stored stanza again (a relay that replays it)
    sqlite3 data/simpp.db < offline.sql
    rm -f bob.in
    e2e bob alice -w 1
    wait_for bob "^error a pager message from alice@localhost.* was replayed: refused" bob.out
    [ "$(grep -c 'once only' bob.out)" -eq 0 ]
}

@test "a key changed at the relay (a lying key directory) is refused loudly" {
    # bob pins alice's key in a first session
    e2e bob alice -w 1
    wait_for bob "offline alice@localhost" bob.out
    end_session bob
    wait "$pid_bob" || true
    grep -q 'first contact: pinned the key of alice@localhost' bob.out
    # the relay now hands out mallory's key for alice
    simpp-keygen -q -w mallory.pub mallory.key > /dev/null
    hex=$(openssl pkey -pubin -in mallory.pub -outform DER | tail -c 65 | od -An -tx1 | tr -d ' \n')
    sqlite3 data/simpp.db "update users set pub=x'$hex' where jid='alice@localhost'"
    rm -f bob.in
    e2e bob alice -w 1
    wait_for bob "THE KEY OF alice@localhost HAS CHANGED" bob.out
    wait "$pid_bob" || status=$?
    [ "${status:-0}" -ne 0 ]
}

@test "a key exchange not signed by the pinned key is refused (ephemeral share swapped)" {
    # bob's pin for alice is mallory's key: alice's genuine C3 cannot verify
    simpp-keygen -q -w mallory.pub mallory.key > /dev/null
    mkdir -p bob.home/pins
    cp mallory.pub bob.home/pins/alice@localhost.pub
    hex=$(openssl pkey -pubin -in mallory.pub -outform DER | tail -c 65 | od -An -tx1 | tr -d ' \n')
    e2e bob alice -A
    wait_for bob "offline alice@localhost" bob.out
    # with -A bob accepts the relay's (real) key; without it the pin holds
    end_session bob
    wait "$pid_bob" || true
    cp mallory.pub bob.home/pins/alice@localhost.pub
    rm -f bob.in
    e2e bob alice
    wait_for bob "THE KEY OF alice@localhost HAS CHANGED" bob.out
    ! grep -q '^session' bob.out || false
}

@test "files: sent in chunks, checked, never left under the final name when broken" {
    head -c 100000 /dev/urandom > blob.bin
    mkdir inbox
    e2e bob alice -o "$TMP/inbox"
    wait_for bob "offline alice@localhost" bob.out
    e2e alice bob
    wait_for alice "^session" alice.out
    say alice "/file $TMP/blob.bin"
    wait_for bob "^file-received blob.bin 100000" bob.out
    wait_for alice "^file-delivered" alice.out
    cmp blob.bin inbox/blob.bin
    [ -z "$(ls -A inbox | grep part || true)" ]
    # the same name again: refused, the first file untouched
    say alice "/file $TMP/blob.bin"
    wait_for alice "^error the peer refused file blob.bin" alice.out
    cmp blob.bin inbox/blob.bin
}

@test "files are refused without -o; unsafe names never written" {
    printf 'x\n' > f.txt
    e2e bob alice
    wait_for bob "offline alice@localhost" bob.out
    e2e alice bob
    wait_for alice "^session" alice.out
    say alice "/file $TMP/f.txt"
    wait_for alice "^error the peer refused file f.txt" alice.out
    wait_for bob "not accepting files" bob.out
}

@test "an offline peer that never answers: lines become pager messages at the end" {
    printf 'one\ntwo\n' > in
    SIMPP_HOME=$TMP/alice.home simpp-login -c 127.0.0.1:$PORT -s relay.pub -k alice.key alice@localhost \
        simpp-session -j -w 2 bob@localhost < in > alice.out 2> alice.err
    [ "$(grep -c '^pager-sent' alice.out)" -eq 2 ]
}

@test "an unknown peer: a clear error" {
    run env SIMPP_HOME=$TMP/h simpp-login -c 127.0.0.1:$PORT -s relay.pub -k alice.key alice@localhost \
        simpp-session -w 1 nobody@localhost < /dev/null
    [ "$status" -ne 0 ]
    [[ "$output" == *"no key for nobody@localhost: nothing published"* ]]
}

@test "rekey: new keys mid-conversation, nothing lost, old keys gone" {
    e2e bob alice
    wait_for bob "offline alice@localhost" bob.out
    e2e alice bob
    wait_for alice "^session" alice.out
    say alice "before the rekey"
    wait_for alice "^ack 1" alice.out
    say alice "/rekey"
    say alice "during the rekey"
    wait_for alice "^rekeyed" alice.out
    wait_for bob "^rekeyed" bob.out
    say alice "after the rekey"
    say bob "bob after the rekey"
    wait_for bob "^msg 3 alice@localhost after the rekey" bob.out
    wait_for alice "^msg 1 bob@localhost bob after the rekey" alice.out
    wait_for alice "^ack 3" alice.out
    grep -q "^msg 2 alice@localhost during the rekey" bob.out
    ! grep -q '^error' alice.out bob.out || false
}

@test "a file transfer cut off midway leaves no file under its name" {
    # large enough that the transfer is still going when alice dies (3 MB
    # could finish between bob's notice and the kill on a loaded machine)
    head -c 40000000 /dev/urandom > big.bin
    mkdir inbox
    e2e bob alice -o "$TMP/inbox"
    wait_for bob "offline alice@localhost" bob.out
    e2e alice bob
    wait_for alice "^session" alice.out
    say alice "/file $TMP/big.bin"
    wait_for bob "^note receiving file big.bin" bob.out
    kill -9 $pid_alice
    pkill -9 -f "simpp-session -j bob@localhost" || true
    end_session bob
    wait "$pid_bob" || true
    [ ! -e inbox/big.bin ]
    [ -z "$(ls -A inbox)" ]
}

# bob_withheld NTH COUNT: bob's simpp-session behind a relay that drops
# alice's NTH frame and the COUNT - 1 after it (t/tools/stanzafilter.py);
# then alice's session (-w 2), as e2e starts it
bob_withheld() {
    mkfifo bob.in
    SIMPP_HOME="$TMP/bob.home" simpp-login -c 127.0.0.1:"$PORT" -s relay.pub -k bob.key -r s bob@localhost \
        python3 "$SIMPP_TOP/t/tools/stanzafilter.py" --drop "from='alice@localhost/s'.* t='f'" \
        --nth "$1" --count "$2" -- simpp-session -j -w 2 alice@localhost < bob.in > bob.out 2> bob.err &
    pid_bob=$!
    SESSION_PIDS="${SESSION_PIDS:-} $!"
    exec {fd_bob}>bob.in
    wait_for bob "offline alice@localhost" bob.out
    e2e alice bob -w 2
}

@test "a relay that withholds one message: both sides say the conversation was altered" {
    # bob's relay drops alice's third frame (FIN, text 1, text 2: text 2)
    bob_withheld 3 1
    wait_for alice "^session" alice.out
    say alice "one"
    say alice "two"
    say alice "three"
    wait_for bob "^msg 3 alice@localhost three" bob.out
    grep -q 'stanzafilter: dropped' bob.err
    ! grep -q "^msg 2 " bob.out || false
    wait_for bob "^error 1 message\\(s\\) from alice@localhost/s are missing" bob.out
    # alice: "two" is never acknowledged; the ACK of "three" shows bob's transcript differs
    wait_for alice "^error message 3: the peer's transcript differs from ours: the conversation was altered" alice.out
    end_session alice
    local st=0
    wait "$pid_alice" || st=$?
    [ "$st" -ne 0 ]
    grep -q '^pending 2$' alice.out
    # at alice's BYE, bob compares what alice says it sent with what arrived
    wait_for bob "^error alice@localhost's transcript of what it sent differs from what arrived: the conversation was altered" bob.out
    wait_for bob "^bye alice@localhost" bob.out
    [ "$(grep '^transcript' alice.out | tail -1)" != "$(grep '^transcript' bob.out | tail -1)" ]
}

@test "a relay that withholds the last messages before the BYE: both sides report them" {
    # bob's relay drops alice's third and fourth frames (FIN, one, two,
    # three, BYE: two and three), the last ones before her BYE
    bob_withheld 3 2
    wait_for alice "^session" alice.out
    say alice "one"
    wait_for bob "^msg 1 alice@localhost one" bob.out
    say alice "two"
    say alice "three"
    # alice ends at once: what she sent last is still on its way
    end_session alice
    local st=0
    wait "$pid_alice" || st=$?
    [ "$st" -ne 0 ]
    grep -q '^pending 2$' alice.out
    grep -q '^pending 3$' alice.out
    ! grep -q '^pending 1$' alice.out || false
    [ "$(grep -c 'stanzafilter: dropped' bob.err)" -eq 2 ]
    # bob: the BYE says two frames are missing, and what alice sent is not what arrived
    wait_for bob "^bye alice@localhost" bob.out
    grep -q "^error 2 message(s) from alice@localhost/s are missing" bob.out
    grep -q "^error alice@localhost's transcript of what it sent differs from what arrived: the conversation was altered" bob.out
    ! grep -q "^msg [23] " bob.out || false
    [ "$(grep '^transcript' alice.out | tail -1)" != "$(grep '^transcript' bob.out | tail -1)" ]
}

@test "ending while a file arrives: the file is refused before the BYE, so the sender hears of it" {
    head -c 40000000 /dev/urandom > big.bin
    mkdir inbox
    e2e bob alice -o "$TMP/inbox" -w 0
    wait_for bob "offline alice@localhost" bob.out
    e2e alice bob
    wait_for alice "^session" alice.out
    say alice "/file $TMP/big.bin"
    wait_for bob "^note receiving file big.bin" bob.out
    say bob "/quit"
    wait "$pid_bob" || true
    grep -q '^error file big.bin refused: the session ended before the file was complete' bob.out
    # FILE_DONE came first, under the session, then the BYE
    wait_for alice "^error the peer refused file big.bin" alice.out
    wait_for alice "^bye bob@localhost" alice.out
    [ "$(grep -n 'refused file big.bin' alice.out | cut -d: -f1)" -lt "$(grep -n '^bye' alice.out | cut -d: -f1)" ]
    [ -z "$(ls -A inbox)" ]
}

@test "video invitation: keys derived on both sides, never sent; refused offline or unwanted" {
    e2e bob alice -a
    wait_for bob "offline alice@localhost" bob.out
    e2e alice bob
    wait_for alice "^session" alice.out
    say alice "/video codec=mjpeg w=640 h=480"
    wait_for bob "^video-invite [0-9a-f]* codec=mjpeg w=640 h=480" bob.out
    wait_for alice "^video [0-9a-f]* " alice.out
    wait_for bob "^video [0-9a-f]* " bob.out
    ka=$(awk '/^video /{print $3}' alice.out)
    kb=$(awk '/^video /{print $3}' bob.out)
    [ "$(stat -c %a "$ka")" = 600 ]
    # alice's send key is bob's receive key and the other way round
    [ "$(awk '/^send/{print $2}' "$ka")" = "$(awk '/^recv/{print $2}' "$kb")" ]
    [ "$(awk '/^recv/{print $2}' "$ka")" = "$(awk '/^send/{print $2}' "$kb")" ]
    [ "$(awk '/^send/{print $2}' "$ka")" != "$(awk '/^recv/{print $2}' "$ka")" ]
    # the key is nowhere in what crossed the relay
    ! grep -q "$(awk '/^send/{print $2}' "$ka")" "$RELAY_LOG" || false
}

@test "video invitation refused: peer offline, or peer does not accept video" {
    printf '/video\n' > in
    SIMPP_HOME=$TMP/alice.home simpp-login -c 127.0.0.1:$PORT -s relay.pub -k alice.key alice@localhost \
        simpp-session -j -w 2 bob@localhost < in > alice.out 2> alice.err || true
    grep -q '^video-refused offline' alice.out
    e2e bob alice
    wait_for bob "offline alice@localhost" bob.out
    rm -f alice.in
    e2e alice bob
    wait_for alice "^session" alice.out
    say alice "/video"
    wait_for alice "^video-refused [0-9a-f]*" alice.out
    ! ls alice.home/video/*.key 2>/dev/null || false
}

@test "a burst of 2000 lines all at once goes through, every one acknowledged" {
    e2e bob alice -w 1
    wait_for bob "offline alice@localhost" bob.out
    seq 1 2000 | sed 's/^/line /' > burst
    SIMPP_HOME=$TMP/alice.home timeout 120 simpp-login -c 127.0.0.1:$PORT -s relay.pub -k alice.key alice@localhost \
        simpp-session -j -w 60 bob@localhost < burst > alice.out 2> alice.err
    [ "$(grep -c '^ack ' alice.out)" -eq 2000 ]
    wait_for bob "^msg 2000 alice@localhost line 2000" bob.out
    [ "$(grep -c '^msg ' bob.out)" -eq 2000 ]
}

@test "the peer's JID in another case is the same peer (one pin); a zero-byte file arrives" {
    : > empty.txt
    mkdir inbox
    e2e bob alice -o "$TMP/inbox"
    wait_for bob "offline alice@localhost" bob.out
    mkfifo alice.in
    SIMPP_HOME=$TMP/alice.home simpp-login -c 127.0.0.1:$PORT -s relay.pub -k alice.key -r s alice@localhost \
        simpp-session -j Bob@LocalHost < alice.in > alice.out 2> alice.err &
    SESSION_PIDS="$SESSION_PIDS $!"
    exec {fd_alice}>alice.in
    wait_for alice "^session" alice.out
    say alice "/file $TMP/empty.txt"
    wait_for alice "^file-delivered" alice.out
    [ -e inbox/empty.txt ] && [ ! -s inbox/empty.txt ]
    [ "$(ls alice.home/pins)" = "bob@localhost.pub" ]
    say alice "$(head -c 40000 /dev/zero | tr '\0' x)"
    wait_for alice "^error a line of (40000|more than 32768) bytes is too long" alice.out
}

@test "a last line without a newline is sent; a pager message the relay refuses is reported" {
    printf 'no newline at the end' > in
    SIMPP_HOME=$TMP/alice.home simpp-login -c 127.0.0.1:$PORT -s relay.pub -k alice.key alice@localhost \
        simpp-session -j -w 2 bob@localhost < in > alice.out 2> alice.err
    grep -q '^pager-sent' alice.out
    # a relay that keeps users of different levels apart refuses it: xena
    # registered with a card its issuer certified (level card, proven), alice
    # with a key file (password)
    stop_relay
    card_ca
    start_relay -o policy=same-level -o card_ca=cardca.pem
    simpp-keygen -q xena.key > /dev/null
    card_cert xena xena.key.pub xena@localhost
    simpp-register -c 127.0.0.1:$PORT -s relay.pub -k xena.key -m javacard -X xena.pem xena@localhost | grep -q 'level card'
    run env SIMPP_HOME=$TMP/alice.home simpp-login -c 127.0.0.1:$PORT -s relay.pub -k alice.key alice@localhost \
        simpp-session -j -w 2 xena@localhost <<< 'across levels'
    [ "$status" -ne 0 ]
    [[ "$output" == *"pager-sent"* ]]
    [[ "$output" == *"the relay refused a message to xena@localhost: forbidden"* ]]
    grep -q 'policy-refused from=alice@localhost/.* level=password to=xena@localhost level=card' "$RELAY_LOG"
}

@test "a file whose name the peer would refuse is not sent; the session goes on" {
    # the receiver's own refusal of such names: t/unit/payload.c, fuzz/payload.c
    printf 'x\n' > .hidden
    printf 'y\n' > "$(printf 'tab\there')"
    mkdir inbox
    e2e bob alice -o "$TMP/inbox"
    wait_for bob "offline alice@localhost" bob.out
    e2e alice bob
    wait_for alice "^session" alice.out
    say alice "/file $TMP/.hidden"
    wait_for alice "^error .*/.hidden: the peer would refuse this name" alice.out
    say alice "/file $TMP/$(printf 'tab\there')"
    wait_for alice "^error .*/tab.here: the peer would refuse this name" alice.out
    say alice "still here"
    wait_for bob "^msg [0-9]* alice@localhost still here" bob.out
    ! grep -q 'receiving file' bob.out || false
    [ -z "$(ls -A inbox)" ]
}
