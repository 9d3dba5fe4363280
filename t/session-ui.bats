#!/usr/bin/env bats
# simpp-session for the person in front of it: /help, and how far a file
# has gone (a bar on a terminal, events with -j).
load helper

setup() { relay_with alice bob; }

# progress events of one side: "progress DIR ID BYTES TOTAL NAME"
check_progress() {  # FILE DIR TOTAL NAME
    local ev
    ev=$(grep "^progress $2 " "$1")
    echo "$ev"
    [ "$(echo "$ev" | wc -l)" -ge 2 ]
    # from 0 to the whole file, never backwards, one file, the right name
    [ "$(echo "$ev" | head -n 1 | cut -d' ' -f4)" -eq 0 ]
    [ "$(echo "$ev" | tail -n 1 | cut -d' ' -f4)" -eq "$3" ]
    echo "$ev" | awk -v t="$3" -v n="$4" '$5 != t || $6 != n || $4 < last { bad = 1 } { last = $4 } END { exit bad }'
    [ "$(echo "$ev" | cut -d' ' -f3 | sort -u | wc -l)" -eq 1 ]
}

@test "-j: a file shows its progress on both sides, from 0 to its size" {
    head -c 3000000 /dev/urandom > big.bin
    file_pair
    say alice "/file $TMP/big.bin"
    wait_for bob "^file-received big.bin 3000000" bob.out 60
    wait_for alice "^file-delivered" alice.out
    check_progress alice.out send 3000000 big.bin
    check_progress bob.out recv 3000000 big.bin
    # the sender's id is the one file-sent names
    id=$(awk '/^file-sent /{print $2}' alice.out)
    [ -n "$id" ] && grep -q "^progress send $id " alice.out
    # without a terminal on stderr, no bar: nothing drawn in the logs
    ! grep -q $'\r' alice.err bob.err || false
    ! grep -q '\[#' alice.err bob.err || false
    end_session alice
    end_session bob
}

@test "on a terminal: a progress bar on stderr with bytes, rate and time left" {
    # a file that takes a while; the relay may hold all of it for a slow
    # receiver (past max_outbuf it would cut the receiver off)
    stop_relay
    start_relay -o max_outbuf=67108864
    head -c 8000000 /dev/zero > big.bin
    mkdir inbox
    e2e bob alice -o "$TMP/inbox"
    wait_for bob "offline alice@localhost" bob.out
    run env SIMPP_HOME="$TMP/alice.home" python3 "$SIMPP_TOP/t/tools/ptyrun.py" -t 180 -o tty.log \
        'expect:end-to-end session' "send:/file $TMP/big.bin" 'expect:delivered and checked: big.bin' 'send:/quit' -- \
        simpp-login -c 127.0.0.1:"$PORT" -s relay.pub -k alice.key alice@localhost simpp-session bob@localhost
    cat -v tty.log | tail -n 5
    tail -n 5 bob.err
    [ "$status" -eq 0 ]
    # drawn in place (\r), with the bar, the share, bytes of the total, the rate
    grep -qa $'\rsimpp-session: sending big.bin \[#' tty.log
    grep -qaE 'sending big.bin \[#{20}\] 100% 8\.0 MB of 8\.0 MB, [0-9.]+ [kMG]?B/s, [0-9.]+ s' tty.log
    # while it goes, the time left
    grep -qaE 'sending big.bin \[[#-]{20}\] +[0-9]+% [0-9.]+ [kMG]?B of 8\.0 MB, [0-9.]+ [kMG]?B/s, [0-9]+:[0-5][0-9] left' tty.log
    cmp big.bin inbox/big.bin
    end_session bob
}

@test "/help lists every command, as the man page does" {
    printf '/help\n' > in
    SIMPP_HOME=$TMP/alice.home simpp-login -c 127.0.0.1:$PORT -s relay.pub -k alice.key alice@localhost \
        simpp-session -j -w 1 bob@localhost < in > alice.out 2> alice.err
    grep -q '^note a line is a message to bob@localhost' alice.out
    man=$(grep -oE '^\.B[IR]? /[a-z]+' "$SIMPP_TOP/doc/simpp-session.1" | awk '{print $2}' | sort -u)
    [ "$(echo "$man" | wc -l)" -ge 8 ]
    for c in $man; do
        grep -qE "^note   $c( |$)" alice.out || { echo "/help lacks $c"; false; }
    done
    listed=$(grep -oE '^note   /[a-z]+' alice.out | awk '{print $2}' | sort -u)
    [ "$listed" = "$man" ]
    # and --help says /help is there
    simpp-session --help | grep -q '/help'
}

@test "a passphrase is asked for only once the terminal has stopped echoing: what is typed at the prompt is kept" {
    # the order on the terminal: echo off (TCSETSF, which drops earlier
    # input), then the prompt; the other way round, what a person (or
    # ptyrun) types the moment the prompt shows can be thrown away.  (No
    # leak checking under strace: LeakSanitizer cannot run under ptrace.)
    run python3 "$SIMPP_TOP/t/tools/ptyrun.py" -t 20 -o tty.log 'expect:passphrase: ' noecho 'send:pass phrase' \
        'expect:again: ' noecho 'send:pass phrase' -- \
        env ASAN_OPTIONS=detect_leaks=0 strace -o st.log -e trace=ioctl,write simpp-keygen -e k.key
    echo "$output"; cat tty.log
    [ "$status" -eq 0 ]
    grep -q 'ENCRYPTED PRIVATE KEY' k.key
    ! grep -q 'pass phrase' tty.log || false
    off=$(grep -n 'TCSETSF' st.log | head -n 1 | cut -d: -f1)
    prompt=$(grep -n 'write(.*"passphrase: "' st.log | head -n 1 | cut -d: -f1)
    [ -n "$off" ] && [ -n "$prompt" ]
    [ "$off" -lt "$prompt" ]
}
