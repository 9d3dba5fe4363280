#!/usr/bin/env bats
# Smart cards with the real stacks (paper 000): simpp-cardwrite and
# simpp-cardread against a contact card through libpcsclite -> pcscd -> vpcd
# (the card: t/cards/vpcd_card.py) and a MIFARE Classic 1K through libnfc's
# pn532_uart driver on a pty (the reader and card: t/cards/pn532_mfc.py), and
# the three login modes through simpp-relayd.
#
# pcscd's socket path is fixed (/run/pcscd), so every PC/SC test runs its
# pcscd, card and programs in a mount + network namespace of its own: tests
# never meet a system pcscd or each other, and may run in parallel.
#
# "! cmd || false": a bare negated command does not fail a BATS test (bash
# leaves "!" out of set -e); the "|| false" makes it count.
load helper
load cards/emu

teardown() {
    cards_down
    common_teardown
}

@test "--help, --version, and no secret on the command line" {
    for p in simpp-cardwrite simpp-cardread; do
        run $p --help
        [ "$status" -eq 0 ]
        [[ "$output" == *"usage: $p"* ]]
        run $p --version
        [[ "$output" =~ ^$p\ [0-9] ]]
        run $p --pin=1234 cat
        [ "$status" -eq 64 ]
        [[ "$output" == *"never taken on the command line"* ]]
        run $p -t smartcard cat
        [ "$status" -eq 64 ]
    done
    run simpp-cardwrite -t javacard not-a-jid
    [ "$status" -eq 64 ]
    run simpp-cardwrite -t mifare -u alice@localhost
    [ "$status" -eq 64 ]
    [[ "$output" == *"no PIN of its own"* ]]
    # only the two card programs link the card libraries
    for p in "$SIMPP_BIN"/simpp-*; do
        case ${p##*/} in
        simpp-cardwrite|simpp-cardread)
            ldd "$p" | grep -q libpcsclite
            ldd "$p" | grep -q libnfc ;;
        *) ! ldd "$p" | grep -qE 'libpcsclite|libnfc' || false ;;
        esac
    done
    # no program and stdout a terminal: the password is never printed there
    run script -qec "$SIMPP_BIN/simpp-cardread -P 0" /dev/null
    [[ "$output" == *"refusing to print a password on a terminal"* ]]
}

@test "PC/SC: pcsc_scan sees the emulated reader; write a card, read it back, password on fd 9 only" {
    pcsc_up
    card_in
    run ns pcsc_scan -r
    [ "$status" -eq 0 ]
    [[ "$output" == *"Virtual PCD 00 00"* ]]
    printf '%s\n2468\n' $PIN0 > pins
    cat > prog.sh <<'SH'
#!/bin/sh
cat <&9 > pw.out
env > env.out
ls /proc/$$/fd > fds.out
SH
    chmod +x prog.sh
    run ns simpp-cardwrite -v -t javacard -P 3 alice@localhost ./prog.sh 3<pins
    [ "$status" -eq 0 ]
    [[ "$output" == *"wrote alice@localhost to the Java Card in Virtual PCD 00 00"* ]]
    # the chained program: a 32-character password on fd 9, public facts in
    # the environment, the PIN's fd 3 not inherited
    pw=$(cat pw.out)
    [ ${#pw} -eq 32 ]
    grep -qx 'SIMPP_CARD_ACCOUNT=alice@localhost' env.out
    grep -qx 'SIMPP_CARD_TYPE=javacard' env.out
    grep -qx 'SIMPP_CARD_PWFD=9' env.out
    ! grep -qF "$pw" env.out || false
    ! grep -qx 3 fds.out || false
    # the -v trace shows the APDUs, never the PINs or the password
    [[ "$output" == *"> 00 A4 04 00 07 F0 53 49 4D 50 50 01 00"* ]]
    [[ "$output" == *"> 00 20 00 81 06 <6 secret bytes>"* ]]
    [[ "$output" == *"> 00 24 01 81 04 <4 secret bytes>"* ]]
    [[ "$output" != *"$pw"* && "$output" != *"$PIN0"* && "$output" != *"2468"* ]]
    # the card: the new PIN, a record, life cycle "operational"
    [ "$(state pin)" = "$(printf 2468 | od -An -v -tx1 | tr -d ' \n')" ]
    [ "$(state lcs)" -eq 5 ]
    # read back, with the new PIN, onto fd 9 of the next program
    echo 2468 > pin
    run ns simpp-cardread -t javacard -P 3 sh -c 'echo "$SIMPP_CARD_ACCOUNT $(cat <&9)"' 3<pin
    [ "$status" -eq 0 ]
    [ "$output" = "alice@localhost $pw" ]
    # or on stdout into a pipe
    [ "$(ns simpp-cardread -t javacard -P 3 3<pin | cat)" = "$pw" ]
    # the PIN was sent after SELECT
    head -1 apdu.log | grep -q '^> 00 A4 04 00 07 F0 53 49 4D 50 50 01'
    # the card itself keeps the record behind the PIN: raw APDUs through
    # another PC/SC client get 69 82 (security status not satisfied)
    run ns opensc-tool -r 0 -c default -s 00A4040C07F053494D505001 -s 00CA010100 -s 00DA010103414243
    [ "$status" -eq 0 ]
    [ "$(grep -c 'SW1=0x69, SW2=0x82' <<< "$output")" -eq 2 ]
    [ "$(state lcs)" -eq 5 ]
    [ "$(ns simpp-cardread -t javacard -P 3 3<pin | cat)" = "$pw" ]
}

@test "PC/SC: a card that answers in T=0 rounds (61 xx and GET RESPONSE, 6C xx) is written and read all the same" {
    pcsc_up
    card_in --t0 getresp --t0-piece 40
    printf '%s\n2468\n' $PIN0 > pins
    run ns simpp-cardwrite -t javacard -P 3 alice@localhost sh -c 'cat <&9 > pw.out' 3<pins
    [ "$status" -eq 0 ]
    pw=$(cat pw.out)
    [ ${#pw} -eq 32 ]
    # the FCI and the record came in pieces of 40 bytes through GET RESPONSE
    grep -q '^> 00 C0 00 00 ' apdu.log
    [ "$(grep -cE '^<( .*)? 61 [0-9A-F]{2}$' apdu.log)" -ge 3 ]
    echo 2468 > pin
    [ "$(ns simpp-cardread -t javacard -P 3 3<pin | cat)" = "$pw" ]
    card_out
    : > apdu.log
    card_in --t0 exactle
    [ "$(ns simpp-cardread -t javacard -P 3 3<pin | cat)" = "$pw" ]
    # SELECT and GET DATA were each told the length, and sent again with it
    [ "$(grep -c '^< 6C ' apdu.log)" -ge 2 ]
    grep -q '^> 00 CA 01 01 [0-9A-F][0-9A-F]$' apdu.log
    ! grep -q '^> 00 CA 01 01 00$' <(grep -A1 '^< 6C' apdu.log) || false
    # and a wrong PIN still says how many tries are left
    echo 9999 > bad
    run ns simpp-cardread -t javacard -P 3 3<bad
    [ "$status" -eq 77 ]
    [[ "$output" == *"wrong PIN: 2 tries left"* ]]
}

@test "PC/SC: wrong PIN with tries left, blocked, the right PIN still refused, PUK unblocks" {
    pcsc_up
    card_in
    printf '%s\n2468\n' $PIN0 > pins
    ns simpp-cardwrite -t javacard -P 3 bob@localhost 3<pins
    echo 1111 > bad
    run ns simpp-cardread -t javacard -P 3 cat 3<bad
    [ "$status" -eq 77 ]
    [[ "$output" == *"wrong PIN: 2 tries left before the card blocks"* ]]
    run ns simpp-cardread -t javacard -P 3 cat 3<bad
    [ "$status" -eq 77 ]
    [[ "$output" == *"wrong PIN: 1 try left"* ]]
    # the right PIN resets the counter
    echo 2468 > pin
    run ns simpp-cardread -t javacard -P 3 cat 3<pin
    [ "$status" -eq 0 ]
    [ "$(state tries)" -eq 3 ]
    for n in 2 1; do
        run ns simpp-cardread -t javacard -P 3 cat 3<bad
        [ "$status" -eq 77 ]
    done
    run ns simpp-cardread -t javacard -P 3 cat 3<bad
    [ "$status" -eq 67 ]
    [[ "$output" == *"wrong PIN, and that was the last try: the card is now blocked"* ]]
    [ "$(state tries)" -eq 0 ]
    # blocked: the right PIN is refused, and is not even sent
    : > apdu.log
    run ns simpp-cardread -t javacard -P 3 cat 3<pin
    [ "$status" -eq 67 ]
    [[ "$output" == *"card blocked: no PIN tries left"* ]]
    ! grep -q '^> 00 20 00 81 ..' apdu.log || false
    # the card itself refuses the right PIN too (69 83), whoever asks
    run ns simpp-cardwrite -t javacard -n -P 3 bob@localhost 3<pin
    [ "$status" -ne 0 ]
    # a wrong PUK counts down too; the right one sets a new PIN
    printf '87654321\n1357\n' > badpuk
    run ns simpp-cardwrite -t javacard -u -C -P 3 3<badpuk
    [ "$status" -eq 77 ]
    [[ "$output" == *"wrong PUK: 2 tries left"* ]]
    printf '%s\n1357\n' $PUK > puk
    run ns simpp-cardwrite -t javacard -u -C -P 3 3<puk
    [ "$status" -eq 0 ]
    echo 1357 > newpin
    run ns simpp-cardread -t javacard -P 3 3<newpin
    [ "$status" -eq 0 ]
    [ ${#output} -eq 32 ]
}

@test "PC/SC: no pcscd, no reader, no card, a reader named wrong" {
    pcsc_up none
    echo $PIN0 > pin
    run ns simpp-cardread -t javacard -P 3 cat 3<pin
    [ "$status" -eq 69 ]
    [[ "$output" == *"no reader: the PC/SC service (pcscd) is not running"* ]]
    run ns simpp-cardwrite -t javacard -P 3 alice@localhost 3<pin
    [ "$status" -eq 69 ]
    kill "$NS_PID"; wait "$NS_PID" 2>/dev/null || true
    rm -f ns.up
    pcsc_up empty
    run ns simpp-cardread -t javacard -P 3 cat 3<pin
    [ "$status" -eq 69 ]
    [[ "$output" == *"no reader: pcscd knows of no smart-card reader"* ]]
}

@test "PC/SC: no card in the reader is EX_TEMPFAIL; a misnamed reader is no reader" {
    pcsc_up
    echo $PIN0 > pin
    run ns simpp-cardread -t javacard -P 3 cat 3<pin
    [ "$status" -eq 75 ]
    [[ "$output" == *"no card in any reader (Virtual PCD 00 00"* ]]
    run ns simpp-cardread -t javacard -r 'Virtual PCD 00 01' -P 3 cat 3<pin
    [ "$status" -eq 75 ]
    [[ "$output" == *"no card in Virtual PCD 00 01"* ]]
    run ns simpp-cardread -t javacard -r 'Acme Reader' -P 3 cat 3<pin
    [ "$status" -eq 69 ]
    [[ "$output" == *"no reader named Acme Reader"* ]]
}

@test "PC/SC: not a SIMPP card, a card never provisioned, a corrupt record" {
    pcsc_up
    echo $PIN0 > pin
    card_in --aid A000000003000000
    run ns simpp-cardread -t javacard -P 3 cat 3<pin
    [ "$status" -eq 66 ]
    [[ "$output" == *"not a SIMPP card: the card in Virtual PCD 00 00 has no SIMPP application"* ]]
    card_out
    rm -f card.json
    card_in
    run ns simpp-cardread -t javacard -P 3 cat 3<pin
    [ "$status" -eq 66 ]
    [[ "$output" == *"holds no SIMPP record: it was never provisioned"* ]]
    card_out
    # a record whose checksum fails, then one of a future version
    python3 - card.json <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["data"] = (b"SIMPP\x01\x01\x0falice@localhost\x02\x04abcd\x1f\x08" + bytes(8)).hex()
s["lcs"] = 5
json.dump(s, open(sys.argv[1], "w"))
PY
    card_in
    run ns simpp-cardread -t javacard -P 3 cat 3<pin
    [ "$status" -eq 65 ]
    [[ "$output" == *"record corrupt: the card's SIMPP record fails its checks"* ]]
    card_out
    python3 -c 'import json,sys; s=json.load(open("card.json")); s["data"]="53494d505002"+"00"*20; json.dump(s,open("card.json","w"))'
    card_in
    run ns simpp-cardread -t javacard -P 3 cat 3<pin
    [ "$status" -eq 65 ]
    [[ "$output" == *"version 2"* ]]
}

@test "PC/SC: card removed mid-write: one reconnect, then a clear error; nothing half-written" {
    pcsc_up
    # the 6th APDU is PUT DATA: the card is pulled out as it arrives
    card_in --remove-after 6
    printf '%s\n2468\n' $PIN0 > pins
    run ns simpp-cardwrite -w 1 -t javacard -P 3 alice@localhost true 3<pins
    [ "$status" -eq 74 ]
    [[ "$output" == *"reconnecting (once)"* ]]
    [[ "$output" == *"the card was removed during PUT DATA and is not back after 1 s"* ]]
    [[ "$output" == *"its PIN may already be the new one"* ]]
    [ "$(state data)" = None ]
    # back in the reader: it holds no record, and the new PIN is in force
    card_out
    card_in
    echo 2468 > pin
    run ns simpp-cardread -t javacard -P 3 cat 3<pin
    [ "$status" -eq 66 ]
    run ns simpp-cardwrite -t javacard -n -P 3 alice@localhost 3<pin
    [ "$status" -eq 0 ]
    run ns simpp-cardread -t javacard -P 3 cat 3<pin
    [ "$status" -eq 0 ]
}

@test "PC/SC: card pulled out and pushed back mid-write: reconnected once, written" {
    pcsc_up
    card_in --blink-after 6 --blink-ms 400
    printf '%s\n2468\n' $PIN0 > pins
    run ns simpp-cardwrite -w 5 -t javacard -P 3 alice@localhost sh -c 'cat <&9 > pw.out' 3<pins
    [ "$status" -eq 0 ]
    [[ "$output" == *"the card was removed during PUT DATA; reconnecting (once)"* ]]
    [[ "$output" == *"reconnected to the card in Virtual PCD 00 00"* ]]
    # after the reconnect: SELECT and VERIFY (new PIN) again, then PUT DATA
    sed -n '/# card inserted/,$p' apdu.log | grep -q '^> 00 20 00 81 04 <4 secret bytes>'
    echo 2468 > pin
    [ "$(ns simpp-cardread -t javacard -P 3 3<pin | cat)" = "$(cat pw.out)" ]
}

@test "PC/SC: a card reset by another program (opensc-tool) while the PIN is typed: reconnected once" {
    pcsc_up
    card_in
    printf '%s\n2468\n' $PIN0 > pins
    ns simpp-cardwrite -t javacard -P 3 alice@localhost 3<pins
    # simpp-cardread has the card open and waits for the PIN on a fifo
    mkfifo pinfifo
    "${NSX[@]}" simpp-cardread -v -t javacard -P 3 3<pinfifo > pw.out 2> err &
    SESSION_PIDS=$!
    exec {w}>pinfifo
    wait_for cardread "< 63 C3" err
    # meanwhile another PC/SC client resets the card
    run ns opensc-tool -r 0 --reset
    [ "$status" -eq 0 ]
    echo 2468 >&$w
    exec {w}>&-
    wait "$SESSION_PIDS"
    grep -q 'the card was reset (by another program?) during the start of a transaction; reconnecting (once)' err
    grep -q 'reconnected to the card' err
    [ "$(wc -c < pw.out)" -eq 33 ]
}

@test "PC/SC: a provisioned card is never overwritten without -f" {
    pcsc_up
    card_in
    printf '%s\n2468\n' $PIN0 > pins
    ns simpp-cardwrite -t javacard -P 3 alice@localhost sh -c 'cat <&9 > pw1' 3<pins
    echo 2468 > pin
    run ns simpp-cardwrite -t javacard -n -P 3 mallory@localhost 3<pin
    [ "$status" -eq 73 ]
    [[ "$output" == *"already holds a SIMPP record: not overwriting it without -f"* ]]
    [ "$(ns simpp-cardread -t javacard -P 3 3<pin | cat)" = "$(cat pw1)" ]
    run ns simpp-cardwrite -f -t javacard -n -P 3 alice@localhost sh -c 'cat <&9 > pw2' 3<pin
    [ "$status" -eq 0 ]
    [ "$(cat pw1)" != "$(cat pw2)" ]
}

@test "PC/SC: another card in the reader after a reconnect is refused: the PIN is not sent to it" {
    pcsc_up
    card_in
    printf '%s\n2468\n' $PIN0 > pins
    ns simpp-cardwrite -t javacard -P 3 alice@localhost 3<pins
    card_out
    : > apdu.log
    # the 5th APDU is GET DATA (after SELECT, VERIFY for the tries left,
    # SELECT, VERIFY): the card goes, and a stranger's card (another ATR of
    # the same length) comes back
    card_in --blink-after 5 --blink-other --blink-ms 300
    echo 2468 > pin
    run ns simpp-cardread -w 5 -t javacard -P 3 cat 3<pin
    [ "$status" -eq 74 ]
    [[ "$output" == *"another card was inserted during GET DATA"* ]]
    grep -q '^# card inserted' apdu.log
    ! sed -n '/^# card inserted/,$p' apdu.log | grep -q '^> 00 20 00 81' || false
}

@test "a PIN shorter than 4 characters is refused before the card sees it: no try is used" {
    pcsc_up
    card_in
    printf '%s\n2468\n' $PIN0 > pins
    ns simpp-cardwrite -t javacard -P 3 alice@localhost 3<pins
    : > apdu.log
    echo 12 > short
    run ns simpp-cardread -t javacard -P 3 cat 3<short
    [ "$status" -eq 65 ]
    [[ "$output" == *"card PIN: 4 to 16 characters"* ]]
    ! grep -q '^> 00 20 00 81 0' apdu.log || false
    [ "$(state tries)" -eq 3 ]
    # and as a new PIN
    printf '2468\n12\n' > newshort
    run ns simpp-cardwrite -f -t javacard -P 3 alice@localhost 3<newshort
    [ "$status" -eq 65 ]
    ! grep -q '^> 00 24 01 81' apdu.log || false
}

@test "the three login modes through the relay: keyboard password, Java Card PIN, MIFARE card" {
    pcsc_up
    ns_relay
    card_in
    nfc_up --dump "$TMP/card.mfd"
    C="-c 127.0.0.1:$PORT -s relay.pub -p -K 1000"
    ping() { echo "<iq type='get' id='$1'><ping xmlns='urn:xmpp:ping'/></iq>"; }
    # 1. keyboard password (here from an fd)
    echo 'a long password' > pw
    ns simpp-register $C -P 3 carol@localhost 3<pw
    ping k1 | ns simpp-login $C -P 3 carol@localhost 3<pw > carol.out
    grep -q "id='k1'" carol.out
    grep -q 'login addr=127.0.0.1 jid=carol@localhost mechanism=SIMPP mode=password level=password' "$RELAY_LOG"
    # 2. Java Card: reset the PIN, SIMPP makes the password, registers with it
    printf '%s\n2468\n' $PIN0 > pins
    # the operator's one-time tokens make the relay record level card
    simpp-relayd -d data provision alice@localhost > alice.tok
    ns simpp-cardwrite -t javacard -P 3 alice@localhost \
        simpp-register $C -P 9 -m javacard -G 4 alice@localhost 3<pins 4<alice.tok
    grep -q 'register addr=127.0.0.1 jid=alice@localhost level=card' "$RELAY_LOG"
    echo 2468 > apin
    ping j1 | ns simpp-cardread -t javacard -P 3 simpp-login $C -P 9 -m javacard alice@localhost 3<apin > alice.out
    grep -q "id='j1'" alice.out
    grep -q 'login addr=127.0.0.1 jid=alice@localhost mechanism=SIMPP mode=javacard level=card' "$RELAY_LOG"
    # 3. MIFARE: account and password on the card, keys from the PIN
    echo 8642 > bpin
    simpp-relayd -d data provision bob@localhost > bob.tok
    ns simpp-cardwrite -t mifare -K 1000 -P 3 bob@localhost \
        simpp-register $C -P 9 -m mifare -G 4 bob@localhost 3<bpin 4<bob.tok
    ping m1 | ns simpp-cardread -t mifare -K 1000 -P 3 simpp-login $C -P 9 -m mifare bob@localhost 3<bpin > bob.out
    grep -q "id='m1'" bob.out
    grep -q 'login addr=127.0.0.1 jid=bob@localhost mechanism=SIMPP mode=mifare level=card' "$RELAY_LOG"
    # and the card users chat end to end: card -> login -> session
    mkfifo bob.in alice.in
    SIMPP_HOME=$TMP/bh "${NSX[@]}" simpp-cardread -t mifare -K 1000 -P 3 simpp-login $C -P 9 -m mifare -r s \
        bob@localhost simpp-session -j alice@localhost 3<bpin < bob.in > bob.out 2> bob.err &
    SESSION_PIDS="$!"
    exec {fd_bob}>bob.in
    wait_for bob "offline alice@localhost" bob.out
    SIMPP_HOME=$TMP/ah "${NSX[@]}" simpp-cardread -t javacard -P 3 simpp-login $C -P 9 -m javacard -r s \
        alice@localhost simpp-session -j bob@localhost 3<apin < alice.in > alice.out 2> alice.err &
    SESSION_PIDS="$SESSION_PIDS $!"
    exec {fd_alice}>alice.in
    wait_for alice "^session .* bob@localhost/s" alice.out
    say alice "hello from a smart card"
    wait_for bob "^msg 1 alice@localhost hello from a smart card" bob.out
    wait_for alice "^ack 1" alice.out
    end_session alice
    end_session bob
    # no PIN and no password in any log
    ! grep -qE '2468|8642|a long password' "$RELAY_LOG" alice.err bob.err pcscd.log || false
}

@test "NFC: nfc-list finds the tag; write and read a MIFARE card; the dump shows new keys, access bits, ciphertext" {
    nfc_up --dump "$TMP/card.mfd" --uid 04A1B2C3
    run nfc-list
    [ "$status" -eq 0 ]
    [[ "$output" == *"UID (NFCID1): 04  a1  b2  c3"* ]]
    [[ "$output" == *"SAK (SEL_RES): 08"* ]]
    before=$(od -An -v -tx1 card.mfd | tr -d ' \n')
    echo 8642 > pin
    run simpp-cardwrite -t mifare -K 1000 -P 3 bob@localhost sh -c 'cat <&9 > pw.out' 3<pin
    [ "$status" -eq 0 ]
    [[ "$output" == *"wrote bob@localhost to the MIFARE card 04a1b2c3"* ]]
    pw=$(cat pw.out)
    # the connection string by option instead of LIBNFC_DEVICE
    run env -u LIBNFC_DEVICE "$SIMPP_BIN/simpp-cardread" -t mifare -r "pn532_uart:$TMP/pn532" -K 1000 -P 3 \
        sh -c 'echo "$SIMPP_CARD_ACCOUNT $SIMPP_CARD_ID $(cat <&9)"' 3<pin
    [ "$status" -eq 0 ]
    [ "$output" = "bob@localhost 04a1b2c3 $pw" ]
    # sectors 1-3: trailers with other keys than the transport key, access
    # bits 78 77 88 (read A|B, write B), the record as ciphertext
    for t in 7 11 15; do
        b=$(block $t)
        [ "${b:12:8}" = 78778869 ]
        [ "${b:0:12}" != ffffffffffff ]
        [ "${b:20:12}" != ffffffffffff ]
    done
    [ "$(block 4 | cut -c1-12)" = 53494d500101 ]        # "SIMP" v1 suite 1
    ! grep -qa "$pw" card.mfd || false
    ! grep -qa "bob@localhost" card.mfd || false
    # the other sectors are as they were
    after=$(od -An -v -tx1 card.mfd | tr -d ' \n')
    [ "${after:0:128}" = "${before:0:128}" ]
    [ "${after:512}" = "${before:512}" ]
}

@test "NFC: wrong PIN fails authentication; no card; no reader; a blank card" {
    nfc_up --dump "$TMP/card.mfd"
    echo 8642 > pin
    simpp-cardwrite -t mifare -K 1000 -P 3 bob@localhost 3<pin
    echo 1111 > bad
    run simpp-cardread -t mifare -K 1000 -P 3 cat 3<bad
    [ "$status" -eq 77 ]
    [[ "$output" == *"wrong PIN: the card refused the sector key derived from it"* ]]
    grep -q 'auth A sector 1: wrong key' nfc.log
    # no retry counter on a MIFARE Classic: the right PIN still works
    run simpp-cardread -t mifare -K 1000 -P 3 cat 3<pin
    [ "$status" -eq 0 ]
    # the KDF rounds are part of the key: others give the wrong keys
    run simpp-cardread -t mifare -K 2000 -P 3 cat 3<pin
    [ "$status" -eq 77 ]
    nfc_up --no-card
    run simpp-cardread -t mifare -K 1000 -P 3 cat 3<pin
    [ "$status" -eq 75 ]
    [[ "$output" == *"no card on the reader pn532_uart:$TMP/pn532"* ]]
    nfc_down
    run simpp-cardread -t mifare -K 1000 -P 3 cat 3<pin
    [ "$status" -eq 69 ]
    [[ "$output" == *"no reader: libnfc cannot open pn532_uart:$TMP/pn532"* ]]
    nfc_up --dump "$TMP/blank.mfd"
    run simpp-cardread -t mifare -K 1000 -P 3 cat 3<pin
    [ "$status" -eq 66 ]
    [[ "$output" == *"not a SIMPP card: a blank card (transport keys)"* ]]
}

@test "NFC: a half-written record is refused; -f with the PIN repairs it" {
    echo 8642 > pin
    # a new card leaves the field after 2 block writes
    nfc_up --dump "$TMP/card.mfd" --fail-after-writes 2
    run simpp-cardwrite -w 0 -t mifare -K 1000 -P 3 bob@localhost 3<pin
    [ "$status" -eq 74 ]
    [[ "$output" == *"the card left the field during WRITE block 6"* ]]
    nfc_up --dump "$TMP/card.mfd"
    run simpp-cardread -t mifare -K 1000 -P 3 cat 3<pin
    [ "$status" -eq 65 ]
    [[ "$output" == *"record corrupt: sector 1 still has its transport key"* ]]
    # a full record, then a rewrite torn after sector 1's data blocks: the
    # keys all open, the blocks are half new, half old: the MAC refuses it
    simpp-cardwrite -t mifare -K 1000 -P 3 bob@localhost 3<pin
    printf '8642\n8642\n' > pins
    nfc_up --dump "$TMP/card.mfd" --fail-after-writes 3
    run simpp-cardwrite -w 0 -f -t mifare -K 1000 -P 3 bob@localhost 3<pins
    [ "$status" -eq 74 ]
    nfc_up --dump "$TMP/card.mfd"
    run simpp-cardread -t mifare -K 1000 -P 3 cat 3<pin
    [ "$status" -eq 65 ]
    [[ "$output" == *"record corrupt: its MAC does not check (half-written or altered)"* ]]
    # a PIN change torn between sectors: sector 1 on the new keys, 2 on the old
    printf '8642\n1357\n' > change
    nfc_up --dump "$TMP/card.mfd" --fail-after-writes 5
    run simpp-cardwrite -w 0 -f -t mifare -K 1000 -P 3 bob@localhost 3<change
    [ "$status" -eq 74 ]
    nfc_up --dump "$TMP/card.mfd"
    echo 1357 > newpin
    run simpp-cardread -t mifare -K 1000 -P 3 cat 3<newpin
    [ "$status" -eq 65 ]
    [[ "$output" == *"sector 2 does not open with this PIN's keys although sector 1 does"* ]]
    # repaired: -f with the old PIN (or the new one) as the current PIN
    run simpp-cardwrite -f -t mifare -K 1000 -P 3 bob@localhost 3<change
    [ "$status" -eq 0 ]
    run simpp-cardread -t mifare -K 1000 -P 3 3<newpin
    [ "$status" -eq 0 ]
    [ ${#output} -eq 32 ]
}

@test "NFC: card pulled away mid-write and held back: waited for once, written" {
    echo 8642 > pin
    nfc_up --dump "$TMP/card.mfd" --fail-after-writes 5 --back-after 0.5
    run simpp-cardwrite -w 5 -t mifare -K 1000 -P 3 bob@localhost sh -c 'cat <&9 > pw.out' 3<pin
    [ "$status" -eq 0 ]
    [[ "$output" == *"the card left the field during WRITE block 9; waiting for it (once)"* ]]
    [[ "$output" == *"the card is back"* ]]
    grep -q '# card back in the field' nfc.log
    run simpp-cardread -t mifare -K 1000 -P 3 3<pin
    [ "$status" -eq 0 ]
    [ "$output" = "$(cat pw.out)" ]
}

@test "NFC: change the PIN (-C); the old one no longer opens the card; -f needs the PIN" {
    nfc_up --dump "$TMP/card.mfd"
    echo 8642 > pin
    simpp-cardwrite -t mifare -K 1000 -P 3 bob@localhost sh -c 'cat <&9 > pw1' 3<pin
    run simpp-cardwrite -t mifare -K 1000 -P 3 bob@localhost 3<pin
    [ "$status" -eq 73 ]
    # -f reads the current PIN first; a wrong one is refused, nothing written
    printf '1111\n2222\n' > wrong
    run simpp-cardwrite -f -t mifare -K 1000 -P 3 bob@localhost 3<wrong
    [ "$status" -eq 77 ]
    [[ "$output" == *"wrong PIN: sector 1 refused the keys from the current PIN"* ]]
    # a missing second line is said plainly
    run simpp-cardwrite -C -t mifare -K 1000 -P 3 3<pin
    [ "$status" -eq 65 ]
    [[ "$output" == *"new card PIN: missing (end of input on fd 3)"* ]]
    printf '8642\n97531\n' > change
    run simpp-cardwrite -C -t mifare -K 1000 -P 3 3<change
    [ "$status" -eq 0 ]
    run simpp-cardread -t mifare -K 1000 -P 3 cat 3<pin
    [ "$status" -eq 77 ]
    echo 97531 > newpin
    run simpp-cardread -t mifare -K 1000 -P 3 3<newpin
    [ "$status" -eq 0 ]
    [ "$output" = "$(cat pw1)" ]
}

@test "NFC: MIFARE login through the relay, level card" {
    start_relay
    nfc_up --dump "$TMP/card.mfd"
    echo 8642 > pin
    simpp-relayd -d data provision bob@localhost > bob.tok
    simpp-cardwrite -t mifare -K 1000 -P 3 bob@localhost \
        simpp-register -c 127.0.0.1:$PORT -s relay.pub -p -K 1000 -P 9 -m mifare -G 4 bob@localhost 3<pin 4<bob.tok
    echo "<iq type='get' id='m2'><ping xmlns='urn:xmpp:ping'/></iq>" |
        simpp-cardread -t mifare -K 1000 -P 3 \
            simpp-login -c 127.0.0.1:$PORT -s relay.pub -p -K 1000 -P 9 -m mifare bob@localhost 3<pin > out
    grep -q "id='m2'" out
    grep -q 'login addr=127.0.0.1 jid=bob@localhost mechanism=SIMPP mode=mifare level=card' "$RELAY_LOG"
    # the wrong PIN never reaches the relay
    echo 1111 > bad
    run simpp-cardread -t mifare -K 1000 -P 3 \
        simpp-login -c 127.0.0.1:$PORT -s relay.pub -p -K 1000 -P 9 -m mifare bob@localhost 3<bad
    [ "$status" -eq 77 ]
    [ "$(grep -c 'jid=bob@localhost mechanism=SIMPP' "$RELAY_LOG")" -eq 1 ]
}

@test "batch provisioning for cron: next account, never twice, EX_TEMPFAIL without a card" {
    printf '# accounts to put on cards\nann@localhost\n\nben@localhost  # second\ncid@localhost\n' > accounts.txt
    echo 8642 > pin
    nfc_up --no-card
    run simpp-cardwrite -b accounts.txt -t mifare -K 1000 -P 3 3<pin
    [ "$status" -eq 75 ]
    [[ "$output" == *"no card on the reader"* ]]
    [ ! -s accounts.txt.done ]
    nfc_up --dump "$TMP/c1.mfd" --uid 11111111
    run simpp-cardwrite -b accounts.txt -t mifare -K 1000 -P 3 sh -c 'echo "$SIMPP_CARD_ACCOUNT $(cat <&9 | wc -c)"' 3<pin
    [ "$status" -eq 0 ]
    [[ "$output" == *"ann@localhost 33"* ]]
    grep -qE '^[0-9T:-]+Z ann@localhost mifare 11111111$' accounts.txt.done
    # the same card again: provisioned, not overwritten, no account used
    run simpp-cardwrite -b accounts.txt -t mifare -K 1000 -P 3 3<pin
    [ "$status" -eq 73 ]
    [ "$(wc -l < accounts.txt.done)" -eq 1 ]
    nfc_up --dump "$TMP/c2.mfd" --uid 22222222
    simpp-cardwrite -b accounts.txt -t mifare -K 1000 -P 3 3<pin
    nfc_up --dump "$TMP/c3.mfd" --uid 33333333
    simpp-cardwrite -b accounts.txt -t mifare -K 1000 -P 3 3<pin
    [ "$(awk '{print $2}' accounts.txt.done | tr '\n' ' ')" = "ann@localhost ben@localhost cid@localhost " ]
    nfc_up --dump "$TMP/c4.mfd" --uid 44444444
    run simpp-cardwrite -b accounts.txt -t mifare -K 1000 -P 3 3<pin
    [ "$status" -eq 78 ]
    [[ "$output" == *"every account in accounts.txt has a card"* ]]
    # each card holds its own account
    nfc_up --dump "$TMP/c2.mfd"
    run simpp-cardread -t mifare -K 1000 -P 3 sh -c 'echo $SIMPP_CARD_ACCOUNT' 3<pin
    [ "$output" = ben@localhost ]
    # a bad line is a clear error
    printf 'not an account\n' > bad.txt
    nfc_up --dump "$TMP/c5.mfd" --uid 55555555
    run simpp-cardwrite -b bad.txt -t mifare -K 1000 -P 3 3<pin
    [ "$status" -eq 65 ]
    [[ "$output" == *"bad.txt:1: not an account"* ]]
}
