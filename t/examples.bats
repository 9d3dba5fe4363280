#!/usr/bin/env bats
# Every file in examples/ does what its comment says: run from another
# directory, against a relay on a port the kernel picked, for a domain that
# is not the relay's host name; typed at as a person would (a terminal).
load helper
load cards/emu
bats_require_minimum_version 1.5.0

EX="$SIMPP_TOP/examples"
PTY="$SIMPP_TOP/t/tools/ptyrun.py"

teardown() {
    cards_down
    common_teardown
}

# the set-up lines of examples/chat.sh's comment, as alice or bob types them
# here: this relay, the domain chat.test, HOME in the test's directory
chat_setup() {  # USER
    sed -n 's/^#   \(mkdir .*\|simpp-.*\)$/\1/p' "$EX/chat.sh" |
        sed -e "s|relay.example.org|127.0.0.1:$PORT|g" -e "s|alice@example.org|$1@chat.test|g" -e "s|~|$HOME|g"
}

# types USER LINE: USER types LINE at a terminal, a passphrase where asked
types() {
    echo "$1 types: $2"
    case $2 in
    *keygen*) python3 "$PTY" -o "$TMP/$1.keygen" "expect:passphrase: " "send:$1 secret" \
                  "expect:again: " "send:$1 secret" -- sh -c "$2" ;;
    *register*) python3 "$PTY" -o "$TMP/$1.register" "expect:passphrase: " "send:$1 secret" -- sh -c "$2" ;;
    *) sh -c "$2" ;;
    esac
}

# two_chat ALICE-CMD BOB-CMD DOMAIN: bob waits, alice comes; a line each
# way, each delivered; both quit.  The commands run examples/chat.sh.
two_chat() {
    python3 "$PTY" -t 30 -o "$TMP/bob.tty" "expect:passphrase: " "send:bob secret" \
        "expect:alice@$3: hello bob" "send:hi alice" "expect:delivered: hi alice" "send:/quit" -- sh -c "$2" &
    local bob=$!
    wait_for bob "not online" "$TMP/bob.tty" 20
    run python3 "$PTY" -t 30 -o "$TMP/alice.tty" "expect:passphrase: " "send:alice secret" \
        "expect:end-to-end session with bob@$3" "send:hello bob" "expect:bob@$3: hi alice" "send:/quit" -- sh -c "$1"
    cat "$TMP/alice.tty"
    [ "$status" -eq 0 ]
    wait "$bob"
}

@test "examples/chat.sh: the set-up its comment shows, then two people chat (any port, any domain, any directory)" {
    start_relay -D chat.test
    export HOME=$TMP/home
    mkdir -p "$HOME" elsewhere
    for u in alice bob; do
        [ "$(chat_setup $u | wc -l)" -eq 3 ]
        while IFS= read -r line; do types $u "$line"; done <<< "$(chat_setup $u)"
    done
    [ -f "$HOME/.simpp/relay.pub" ] && [ -f "$HOME/.simpp/alice@chat.test.key" ]
    grep -q 'ENCRYPTED PRIVATE KEY' "$HOME/.simpp/bob@chat.test.key"
    cd elsewhere
    two_chat "$EX/chat.sh 127.0.0.1:$PORT alice@chat.test bob@chat.test" \
             "$EX/chat.sh 127.0.0.1:$PORT bob@chat.test alice@chat.test" chat.test
    # the state went where the comment says: the peer's key pinned in ~/.simpp/pins
    [ -f "$HOME/.simpp/pins/bob@chat.test.pub" ]
    # wrong use: a line saying how
    run "$EX/chat.sh" 127.0.0.1:"$PORT"
    [ "$status" -ne 0 ]
    [[ "$output" == *"usage: chat.sh RELAY[:PORT] ME PEER"* ]]
}

# the indented lines after README's paragraph starting with WORDS
readme_block() {
    awk -v p="$1" 'index($0, p) == 1 { on = 1; next } on && /^    / { print substr($0, 5); got = 1; next }
                   got && !/^    / { exit }' "$SIMPP_TOP/README"
}

@test "README: a relay of your own and two users chatting, in the commands it shows" {
    relay=$(readme_block "Your own relay")
    user=$(readme_block "Each user")
    [ "$(echo "$relay" | wc -l)" -eq 3 ] && [ "$(echo "$user" | wc -l)" -eq 4 ]
    P=$(free_port)
    # the relay's lines, here: a port of our own, and its log kept
    while IFS= read -r line; do
        line=${line//0.0.0.0:5222/127.0.0.1:$P}
        case $line in
        export\ PATH=*) ;;                     # the programs are on PATH already
        simpp-relayd*) eval "${line% &} 2> relay.log &"; RELAY_PID=$! ;;
        *) eval "$line" ;;
        esac
    done <<< "$relay"
    for i in $(seq 1 50); do nc -z 127.0.0.1 "$P" && break; sleep 0.1; done
    # each user in a home of their own, the relay.pub handed over next to it
    for u in alice bob; do
        export HOME=$TMP/$u.home
        mkdir -p "$HOME"
        cd "$TMP"
        while IFS= read -r line; do
            case $line in examples/chat.sh*) continue ;; esac
            [ $u = bob ] && line=$(echo "$line" | sed 's/alice/bob/g')
            types $u "${line//relay.example.org/127.0.0.1:$P}"
        done <<< "$user"
    done
    run simpp-relayd -d "$TMP/relay" list
    [[ "${lines[0]}" == "alice@example.org simpp level=password "* ]]
    [[ "${lines[1]}" == "bob@example.org simpp level=password "* ]]
    chat=$(echo "$user" | grep '^examples/chat.sh')
    chat=${chat//relay.example.org/127.0.0.1:$P}
    chat=${chat/examples\//$EX/}
    bobchat=$(echo "$chat" | sed 's/alice@example.org bob@example.org/bob@example.org alice@example.org/')
    two_chat "HOME=$TMP/alice.home $chat" "HOME=$TMP/bob.home $bobchat" example.org
    # a later start needs only the data directory: the store knows its domain
    kill "$RELAY_PID"; wait "$RELAY_PID" || true
    simpp-relayd -d "$TMP/relay" -l 127.0.0.1:"$P" 2>> relay.log &
    RELAY_PID=$!
    for i in $(seq 1 50); do nc -z 127.0.0.1 "$P" && break; sleep 0.1; done
    run "$EX/netcat-debug.sh" 127.0.0.1 "$P" example.org "$TMP/relay.pub"
    [ "$status" -eq 0 ]
}

@test "examples/netcat-debug.sh: the features and the relay key's fingerprint, compared with the pinned one" {
    start_relay -D chat.test
    mkdir elsewhere && cd elsewhere
    run "$EX/netcat-debug.sh" 127.0.0.1 "$PORT" chat.test "$TMP/relay.pub"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *"<mechanism>SIMPP</mechanism>"* ]]
    [[ "$output" == *"<suite>chacha20-poly1305</suite>"* ]]
    fpr=$(simpp-keygen -y -q "$TMP/relay.pub")
    [[ "$output" == *"relay key (P-256): $fpr"* ]]
    # as openssl computes it from the pinned file
    [ "$fpr" = "$(openssl_fpr "$TMP/relay.pub")" ]
    [[ "$output" == *"the same key as $TMP/relay.pub"* ]]
    run "$EX/netcat-debug.sh" 127.0.0.1 "$PORT" chat.test "$fpr"
    [ "$status" -eq 0 ]
    # another key pinned: an error
    simpp-keygen -q -t server -w other.pub other.key > /dev/null
    run "$EX/netcat-debug.sh" 127.0.0.1 "$PORT" chat.test other.pub
    [ "$status" -eq 1 ]
    [[ "$output" == *"THE RELAY'S KEY IS NOT THE ONE PINNED in other.pub"* ]]
    # a domain the relay does not serve: said so
    run "$EX/netcat-debug.sh" 127.0.0.1 "$PORT" elsewhere.test
    [ "$status" -eq 1 ]
    [[ "$output" == *"the relay refused the stream to elsewhere.test: host-unknown"* ]]
}

@test "examples/video-call.sh: a call from nothing, run from another directory" {
    mkdir elsewhere && cd elsewhere
    run "$EX/video-call.sh" mjpeg 1 "$TMP/bob.y4m"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *"bob.y4m (width,height,frames): 640,480,"* ]]
    [[ "$output" == *"ffprobe wire.sv: no video stream ("* ]]
    [ -s "$TMP/bob.y4m" ]
    [ -z "$(ls -A)" ]
}

@test "examples/call.sh --demo: a two-way call with camera and microphone (lavfi), run from another directory" {
    mkdir elsewhere && cd elsewhere
    run "$EX/call.sh" --demo 3 "$TMP/call"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *"video from alice@localhost, device: lavfi testsrc2"* ]]
    [[ "$output" == *"audio from bob@localhost, device: lavfi sine"* ]]
    [[ "$output" == *"alice@localhost hung up"* ]]
    [ -s "$TMP/call/alice.y4m" ] && [ -s "$TMP/call/bob.wav" ]
    [ -z "$(ls -A)" ]
}

# the cron line of examples/provision-cards.cron for a card type, made to run
# here: this relay, files under etc/, a quick key derivation for MIFARE
cron_line() {  # TYPE
    grep -E "^(# )?\* \* \* \* \* root simpp-cardwrite .* -t $1 " "$EX/provision-cards.cron" |
        sed -e 's/^# //' -e 's/^\* \* \* \* \* root //' -e "s|/etc/simpp|$TMP/etc|g" \
            -e "s|relay.example.org:5222|127.0.0.1:$PORT|" -e 's/-t mifare/-t mifare -K 1000/' \
            -e 's/-m mifare/-K 1000 -m mifare/'
}
cron_run() {  # TYPE: as cron does: sh -c, the crontab's variables set
    SIMPP_ACCOUNTS=$TMP/etc/accounts.txt run "${@:2}" sh -c "$(cron_line "$1")"
    echo "$1: status $status: $output"
}
cron_files() {
    mkdir -p etc
    # each account with the operator's one-time token (level card)
    printf 'dan@localhost %s\neve@localhost %s\n' "$(simpp-relayd -d data provision dan@localhost)" \
        "$(simpp-relayd -d data provision eve@localhost)" > etc/accounts.txt
    cp relay.pub etc/relay.pub
}

@test "examples/provision-cards.cron, MIFARE: quiet with nothing to do, a card provisioned, one line when wrong" {
    start_relay
    cron_files
    echo 8642 > etc/card.pin
    [ -n "$(cron_line mifare)" ]
    # no card on the reader: nothing to say, success for cron
    nfc_up --no-card
    cron_run mifare
    [ "$status" -eq 0 ]
    [ -z "$output" ]
    [ ! -s etc/accounts.txt.done ]
    # a blank card: written and registered, and said so
    nfc_up --dump "$TMP/card.mfd"
    cron_run mifare
    [ "$status" -eq 0 ]
    [[ "$output" == *"wrote dan@localhost to the MIFARE card"* ]]
    [[ "$output" == *"registered dan@localhost"* ]]
    grep -q 'register addr=127.0.0.1 jid=dan@localhost level=card' "$RELAY_LOG"
    grep -q ' dan@localhost mifare deadbeef$' etc/accounts.txt.done
    # the same card again: one line, and the job fails
    cron_run mifare
    [ "$status" -ne 0 ]
    [ "${#lines[@]}" -eq 1 ]
    [[ "$output" == *"already holds a SIMPP record"* ]]
    # the list used up
    nfc_up --dump "$TMP/c2.mfd" --uid 22222222
    cron_run mifare
    [ "$status" -eq 0 ]
    nfc_up --dump "$TMP/c3.mfd" --uid 33333333
    cron_run mifare
    [ "$status" -ne 0 ]
    [ "${#lines[@]}" -eq 1 ]
    [[ "$output" == *"every account in $TMP/etc/accounts.txt has a card"* ]]
    # no reader at all: one line
    nfc_down
    cron_run mifare
    [ "$status" -ne 0 ]
    [ "${#lines[@]}" -eq 1 ]
}

@test "examples/provision-cards.cron, Java Card: quiet without a card, provisioned with one, one line for a wrong PIN" {
    pcsc_up
    ns_relay
    cron_files
    printf '%s\n2468\n' $PIN0 > etc/card.pin
    [ -n "$(cron_line javacard)" ]
    cron_run javacard "${NSX[@]}"
    [ "$status" -eq 0 ]
    [ -z "$output" ]
    card_in
    cron_run javacard "${NSX[@]}"
    [ "$status" -eq 0 ]
    [[ "$output" == *"wrote dan@localhost to the Java Card in Virtual PCD"* ]]
    grep -q 'register addr=127.0.0.1 jid=dan@localhost level=card' "$RELAY_LOG"
    # the next card has another transport PIN than the file says
    card_out
    rm -f card.json
    card_in --pin 999999
    cron_run javacard "${NSX[@]}"
    [ "$status" -ne 0 ]
    [ "${#lines[@]}" -eq 1 ]
    [[ "$output" == *"wrong PIN"* ]]
}

@test "make try-cards: a login with each card on the emulated readers, the PINs typed at a terminal" {
    mkdir elsewhere tmp && cd elsewhere
    TMPDIR=$TMP/tmp run python3 "$PTY" -t 120 -o "$TMP/try.tty" \
        'expect:new card PIN: ' 'send:8642' 'expect:again: ' 'send:8642' 'expect:card PIN: ' 'send:8642' \
        'expect:current card PIN: ' "send:$PIN0" 'expect:new card PIN: ' 'send:2468' 'expect:again: ' 'send:2468' \
        'expect:card PIN: ' 'send:2468' -- "$SIMPP_TOP/scripts/try-cards"
    cat "$TMP/try.tty"
    [ "$status" -eq 0 ]
    grep -q "relay: simpp-relayd: login addr=127.0.0.1 jid=bob@localhost mechanism=SIMPP mode=mifare level=card" "$TMP/try.tty"
    grep -q "relay: simpp-relayd: login addr=127.0.0.1 jid=alice@localhost mechanism=SIMPP mode=javacard level=card" "$TMP/try.tty"
    grep -q "id='card-login'" "$TMP/try.tty"
    # the PINs were typed, never shown
    ! grep -qE '8642|2468' "$TMP/try.tty" || false
    # it cleans up after itself
    [ -z "$(ls -A)" ] && [ -z "$(ls -A "$TMP/tmp")" ]
}
