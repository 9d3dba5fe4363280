#!/usr/bin/env bats
# simpp-relayd with simpp-register and simpp-login: registration, login,
# presence, routing, offline storage, on a real TCP port and SQLite file.
load helper

setup() {
    common_setup
    start_relay
    new_user alice
    new_user bob
}

@test "--help and --version for the relay and the clients" {
    for p in simpp-relayd simpp-register simpp-login; do
        run $p --help
        [ "$status" -eq 0 ]
        [[ "$output" == *"usage: $p"* ]]
        run $p --version
        [[ "$output" =~ ^$p\ [0-9] ]]
    done
}

@test "register: relay logs it, SQLite holds the key and a wrapped K_A" {
    grep -q 'register addr=127.0.0.1 jid=alice@localhost level=password' "$RELAY_LOG"
    [ "$(sqlite3 data/simpp.db 'select count(*) from users')" -eq 2 ]
    [ "$(sqlite3 data/simpp.db 'pragma journal_mode')" = wal ]
    # the stored public key is alice's
    want=$(openssl pkey -pubin -in alice.key.pub -outform DER | tail -c 65 | od -An -tx1 | tr -d ' \n')
    got=$(sqlite3 data/simpp.db "select hex(pub) from users where jid='alice@localhost'" | tr A-F a-f)
    [ "$got" = "$want" ]
}

@test "the same registration ID twice is refused with conflict" {
    simpp-keygen -q other.key > /dev/null
    run simpp-register -c 127.0.0.1:$PORT -s relay.pub -k other.key alice@localhost
    [ "$status" -eq 73 ]
    [[ "$output" == *"conflict (the account exists)"* ]]
    grep -q 'register-refused .*jid=alice@localhost reason=exists' "$RELAY_LOG"
}

@test "a relay whose key differs from the pinned one is refused loudly" {
    simpp-keygen -q -w other.pub other.key > /dev/null
    run simpp-login -c 127.0.0.1:$PORT -s other.pub -k alice.key alice@localhost < /dev/null
    [ "$status" -eq 77 ]
    [[ "$output" == *"THE RELAY'S KEY HAS CHANGED"* ]]
}

@test "two users subscribe, see presence and chat" {
    session alice
    session bob
    say alice "<presence/>"
    say bob "<presence/>"
    say alice "<presence to='bob@localhost' type='subscribe'/>"
    wait_for bob "type='subscribe'.*from='alice@localhost'|from='alice@localhost'.*type='subscribe'" bob.out
    say bob "<presence to='alice@localhost' type='subscribed'/>"
    wait_for alice "type='subscribed'" alice.out
    # alice now receives bob's presence
    wait_for alice "<presence[^>]*from='bob@localhost/t'" alice.out
    say bob "<presence><status>here</status></presence>"
    wait_for alice "<status>here</status>" alice.out
    say alice "<message to='bob@localhost' type='chat' id='m1'><body>hi bob &amp; co</body></message>"
    wait_for bob "<body>hi bob &amp; co</body>" bob.out
    grep -q "from='alice@localhost/t'" bob.out
    say bob "<message to='alice@localhost/t' type='chat'><body>hi alice</body></message>"
    wait_for alice "<body>hi alice</body>" alice.out
    # the roster says both
    say alice "<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>"
    wait_for alice "jid='bob@localhost' subscription='both'|subscription='to'" alice.out
    # bob leaves: alice sees unavailable
    end_session bob
    wait_for alice "type='unavailable'" alice.out
}

@test "a client cannot speak as someone else: the relay stamps every stanza's from" {
    new_user carol
    session alice
    session bob
    session carol
    say bob "<presence/>"
    say alice "<message from='carol@localhost/t' to='bob@localhost/t' type='chat'><body>forged 1</body></message>"
    say alice "<message from='relay.localhost' to='bob@localhost/t' type='chat'><body>forged 2</body></message>"
    say alice "<presence from='carol@localhost/t' to='bob@localhost' type='subscribe'/>"
    wait_for bob "<body>forged 2</body>" bob.out
    wait_for bob "type='subscribe'" bob.out
    # every one arrived from alice's full JID, none from carol or the server
    [ "$(grep -c "from='alice@localhost/t'" bob.out)" -ge 2 ]
    grep "forged\|subscribe" bob.out | grep -v "from='alice@localhost" && return 1
    ! grep -q "from='carol@localhost" bob.out || false
    ! grep -q "from='relay.localhost'" bob.out || false
}

@test "deny a subscription: no presence flows" {
    session alice
    session bob
    say alice "<presence/>"
    say bob "<presence/>"
    say alice "<presence to='bob@localhost' type='subscribe'/>"
    wait_for bob "type='subscribe'" bob.out
    say bob "<presence to='alice@localhost' type='unsubscribed'/>"
    wait_for alice "type='unsubscribed'" alice.out
    say bob "<presence><status>secret</status></presence>"
    say alice "<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>"
    wait_for alice "id='p'" alice.out
    ! grep -q secret alice.out || false
}

@test "the relay hands out public keys (C1/C2) over the channel" {
    session alice
    say alice "<iq type='get' id='k'><pubkey xmlns='urn:simpp:1' jid='bob@localhost'/></iq>"
    wait_for alice "id='k'" alice.out
    b64=$(sed -n "s/.*<pubkey[^>]*>\([^<]*\)<.*/\1/p" alice.out)
    want=$(openssl pkey -pubin -in bob.key.pub -outform DER | tail -c 65 | base64 -w0)
    [ "$b64" = "$want" ]
    say alice "<iq type='get' id='k2'><pubkey xmlns='urn:simpp:1' jid='nobody@localhost'/></iq>"
    wait_for alice "id='k2'.*item-not-found|item-not-found.*id='k2'" alice.out
}

# pep_item NAME: the signed key item NAME handed the relay (simpp-register -F -v)
pep_item() { grep -o "<key xmlns='urn:simpp:1' jid='$1@localhost'[^>]*>.*</key>" "$1.reg.err" | head -1; }
# pep_key NAME: the relay's answer for NAME's key, asked by bob
pep_key() {
    echo "<iq type='get' id='pk' to='$1@localhost'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:simpp:1:key'/></pubsub></iq>" |
        simpp-login -c 127.0.0.1:"$PORT" -s relay.pub -k bob.key bob@localhost
}
# publish_as NAME ITEM: NAME hands the relay ITEM as its signed key
publish_as() {
    echo "<iq type='set' id='pub'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:simpp:1:key'><item id='current'>$2</item></publish></pubsub></iq>" |
        simpp-login -c 127.0.0.1:"$PORT" -s relay.pub -k "$1.key" "$1@localhost"
}
# fregister NAME: NAME registered with -F, what it sent in NAME.reg.err
fregister() {
    simpp-register -v -F -c 127.0.0.1:"$PORT" -s relay.pub -k "$1.key" "$1@localhost" > "$1.reg.out" 2> "$1.reg.err"
}

@test "simpp-register -F: the relay keeps the key signed by its owner and shows it to everyone; another account's, a forged or another key's item is refused" {
    for u in dave carol; do
        simpp-keygen -q $u.key > /dev/null
        fregister $u
        grep -q "^published $u@localhost key $(openssl_fpr $u.key) signed, for other servers" $u.reg.out
    done
    item=$(pep_item dave)
    [ -n "$item" ]
    grep -q "pepkey addr=127.0.0.1 jid=dave@localhost time=" "$RELAY_LOG"
    # the answer now carries dave's signature (and still the level)
    run pep_key dave
    [[ "$output" == *"<key xmlns='urn:simpp:1' jid='dave@localhost' curve='P-256' level='password' time='"*"<sig>"* ]]
    sig=$(sed -n 's|.*<sig>\([^<]*\)</sig>.*|\1|p' <<< "$item")
    [ -n "$sig" ]
    [[ "$output" == *"<sig>$sig</sig>"* ]]
    # without -F: unsigned, as before
    run pep_key alice
    [[ "$output" == *"jid='alice@localhost'"* ]]
    [[ "$output" != *"<sig>"* ]]
    # carol's item, handed over by dave: names another account
    run publish_as dave "$(pep_item carol)"
    [[ "$output" == *"id='pub'"*"not-acceptable"* ]]
    grep -q "pepkey-refused addr=127.0.0.1 jid=dave@localhost reason=the key published for dave@localhost names another account (carol@localhost)" "$RELAY_LOG"
    # dave's item with its time changed: the signature does not hold
    t=$(grep -o "time='[0-9]*'" <<< "$item" | tr -dc 0-9)
    run publish_as dave "${item/time=\'$t\'/time=\'$((t + 1))\'}"
    [[ "$output" == *"not-acceptable"* ]]
    grep -q "pepkey-refused addr=127.0.0.1 jid=dave@localhost reason=the key published for dave@localhost has a signature that does not verify" "$RELAY_LOG"
    # an item for dave, well signed, by a key that is not his here (made
    # on another relay)
    local port=$PORT pid=$RELAY_PID
    mkdir other
    cd other
    simpp-keygen -q dave.key > /dev/null
    RELAY_PID=
    RELAY_LOG=$TMP/other/relay.log
    start_relay
    fregister dave
    other=$(pep_item dave)
    stop_relay
    cd ..
    PORT=$port RELAY_PID=$pid RELAY_LOG=$TMP/relay.log
    [ -n "$other" ]
    run publish_as dave "$other"
    [[ "$output" == *"not-acceptable"* ]]
    grep -q "pepkey-refused addr=127.0.0.1 jid=dave@localhost reason=not the key of the directory" "$RELAY_LOG"
    # what is shown is still dave's own
    run pep_key dave
    [[ "$output" == *"<sig>$sig</sig>"* ]]
    # dave's account made again with another key: the signature kept for
    # the old one is not shown with it
    simpp-relayd -d data delete dave@localhost > /dev/null
    simpp-keygen -q -f dave.key > /dev/null
    simpp-register -c 127.0.0.1:"$PORT" -s relay.pub -k dave.key dave@localhost > /dev/null
    run pep_key dave
    [[ "$output" == *"jid='dave@localhost'"* ]]
    [[ "$output" != *"<sig>"* ]]
}

@test "offline message: stored durably, survives kill -9, delivered once" {
    # -R 0: the test drives XEP-0198 itself
    session alice -R 0
    say alice "<presence/>"
    # XEP-0198: the relay acknowledges only what it has handled (stored)
    say alice "<enable xmlns='urn:xmpp:sm:3'/>"
    say alice "<message to='bob@localhost' type='chat'><body>while you were out</body></message>"
    say alice "<iq type='get' id='p0'><ping xmlns='urn:xmpp:ping'/></iq>"
    say alice "<r xmlns='urn:xmpp:sm:3'/>"
    wait_for alice "<a xmlns='urn:xmpp:sm:3' h='2'/>" alice.out
    [ "$(sqlite3 data/simpp.db 'select count(*) from offline')" -eq 1 ]
    kill -9 "$RELAY_PID"
    wait "$RELAY_PID" 2>/dev/null || true
    restart_relay
    session bob
    say bob "<presence/>"
    wait_for bob "while you were out" bob.out
    grep -q "urn:xmpp:delay" bob.out
    [ "$(sqlite3 data/simpp.db 'select count(*) from offline')" -eq 0 ]
    end_session bob
    sleep 0.5
    # a second login gets nothing again
    rm -f bob.in
    session bob
    say bob "<presence/>"
    say bob "<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>"
    wait_for bob "id='p'" bob.out
    [ "$(grep -c 'while you were out' bob.out)" -eq 0 ]
}

@test "a delivered offline message leaves no trace in the data directory (database, WAL) while the relay runs" {
    local marker="lingers-$RANDOM$RANDOM-marker" i
    session alice -R 0
    say alice "<presence/>"
    say alice "<enable xmlns='urn:xmpp:sm:3'/>"
    say alice "<message to='bob@localhost' type='chat'><body>$marker</body></message>"
    say alice "<r xmlns='urn:xmpp:sm:3'/>"
    wait_for alice "<a xmlns='urn:xmpp:sm:3' h='1'/>" alice.out
    # twin: while it waits for bob, the body is on disk, and grep finds it
    grep -rqa -- "$marker" data
    session bob
    say bob "<presence/>"
    wait_for bob "$marker" bob.out
    # deleted once written to bob; nothing reads the database meanwhile
    for i in $(seq 1 50); do
        grep -rqa -- "$marker" data || break
        sleep 0.1
    done
    run grep -rla -- "$marker" data
    echo "still on disk in: $output" >&2
    ls -la data >&2
    [ "$status" -eq 1 ]
    kill -0 "$RELAY_PID"
}

@test "message to an unknown user: service-unavailable, the session goes on" {
    session alice
    say alice "<message to='nobody@localhost' type='chat' id='x'><body>?</body></message>"
    wait_for alice "service-unavailable" alice.out
    say alice "<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>"
    wait_for alice "id='p'" alice.out
}

@test "each suite logs in: chacha20-poly1305, aes128-gcm, the paper's aes128-cbc-hmac-sha256" {
    for s in chacha20-poly1305 aes128-gcm aes128-cbc-hmac-sha256; do
        echo "<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>" |
            simpp-login -c 127.0.0.1:$PORT -s relay.pub -k alice.key -C $s alice@localhost > out
        grep -q "id='p'" out
        grep -q "login .*jid=alice@localhost .*suite=$s" "$RELAY_LOG"
    done
}

@test "a relay that allows only the paper's suite refuses another" {
    stop_relay
    rm -f ready
    start_relay -o suites=aes128-cbc-hmac-sha256
    run simpp-login -c 127.0.0.1:$PORT -s relay.pub -k alice.key -C chacha20-poly1305 alice@localhost < /dev/null
    [ "$status" -ne 0 ]
    [[ "$output" == *"no suite we accept"* ]]
    echo "<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>" |
        simpp-login -c 127.0.0.1:$PORT -s relay.pub -k alice.key alice@localhost > out
    grep -q "id='p'" out
}

@test "chain-loading: a program gets plain stanzas on fds 6 and 7" {
    cat > prog.sh <<'SH'
#!/bin/sh
echo "<iq type='get' id='c1'><ping xmlns='urn:xmpp:ping'/></iq>" >&7
read -r line <&6
echo "$SIMPP_JID $line" > prog.out
# the passphrase's descriptor was not passed on
[ -e /proc/self/fd/5 ] && echo "fd 5 leaked" >> prog.out
exit 3
SH
    chmod +x prog.sh
    echo 'pp' > pp
    simpp-keygen -q -K 1000 -E 3 -w enc.pub enc.key 3<pp > /dev/null
    simpp-register -c 127.0.0.1:$PORT -s relay.pub -k enc.key -E 3 erin@localhost 3<pp
    run simpp-login -c 127.0.0.1:$PORT -s relay.pub -k enc.key -E 5 -r x erin@localhost ./prog.sh --key=not-ours 5<pp
    [ "$status" -eq 3 ]                     # the program's exit status
    grep -q "^erin@localhost/x <iq type='result' id='c1'" prog.out
    ! grep -q leaked prog.out || false
}

@test "chain-loading: a program that stops reading: simpp-login holds at most 1 MiB, the relay cuts the reader off" {
    # (a sanitizer build keeps freed memory in quarantine: keep it small here)
    ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=4" \
        simpp-login -c 127.0.0.1:$PORT -s relay.pub -k alice.key -r x alice@localhost sleep 60 \
        > alice.out 2> alice.err &
    local login=$!
    SESSION_PIDS="${SESSION_PIDS:-} $login"
    wait_for alice "bound addr=.* jid=alice@localhost/x" "$RELAY_LOG"
    local base rss
    base=$(awk '/^VmRSS:/ { print $2 }' /proc/$login/status)
    session bob
    # 30 MB for alice, whose program never reads
    python3 -c '
import sys
body = "x" * 10000
for i in range(3000):
    sys.stdout.write("<message to=\"alice@localhost/x\" type=\"chat\"><body>%d %s</body></message>\n" % (i, body))
' > flood.xml
    cat flood.xml >&"$fd_bob"
    wait_for relay "slow-reader addr=.* jid=alice@localhost/x" "$RELAY_LOG"
    rss=$(awk '/^VmRSS:/ { print $2 }' /proc/$login/status 2>/dev/null || echo 0)
    echo "# simpp-login RSS: $base kB logged in, $rss kB after the flood" >&3
    # the 30 MB did not pile up in simpp-login (1 MiB buffered, and parsing)
    [ "$((rss - base))" -lt 16384 ]
    # bob is still served
    say bob "<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>"
    wait_for bob "id='p1'" bob.out
}

@test "password-derived key: register and log in with only the password" {
    echo 'a long password' | simpp-register -c 127.0.0.1:$PORT -s relay.pub -p -K 1000 -P 0 carol@localhost
    grep -q 'register .*jid=carol@localhost' "$RELAY_LOG"
    { echo 'a long password'; } > pw
    echo "<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>" |
        simpp-login -c 127.0.0.1:$PORT -s relay.pub -p -K 1000 -P 3 carol@localhost 3<pw > out
    grep -q "id='p'" out
    echo 'wrong password' > bad
    run simpp-login -c 127.0.0.1:$PORT -s relay.pub -p -K 1000 -P 3 carol@localhost 3<bad < /dev/null
    [ "$status" -eq 77 ]
    [[ "$output" == *"login refused: not-authorized"* ]]
    grep -q 'auth-fail .*user=carol@localhost' "$RELAY_LOG"
}

@test "SIGTERM drains: clients get system-shutdown, the relay exits 0" {
    session alice
    kill -TERM "$RELAY_PID"
    wait "$RELAY_PID"
    rc=$?
    RELAY_PID=
    [ "$rc" -eq 0 ]
    grep -q 'draining signal=15' "$RELAY_LOG"
    grep -q 'stopped routed=' "$RELAY_LOG"
    wait_for alice "system-shutdown" alice.err
}

@test "the wire after login is SIMPP frames only: the plaintext never crosses" {
    session bob
    say bob "<presence/>"
    # alice's connection goes through socat, which records every byte both ways
    WPORT=$(free_port)
    socat -r alice.c2s -R alice.s2c TCP-LISTEN:$WPORT,bind=127.0.0.1,reuseaddr TCP:127.0.0.1:$PORT &
    SESSION_PIDS="$SESSION_PIDS $!"
    wait_listen $WPORT
    echo "<message to='bob@localhost' type='chat'><body>CLEARTEXT-CANARY</body></message>" |
        simpp-login -c 127.0.0.1:$WPORT -s relay.pub -k alice.key alice@localhost
    wait_for bob CLEARTEXT-CANARY bob.out
    grep -q "<c xmlns='urn:simpp:1' n='" alice.c2s
    grep -q "<c xmlns='urn:simpp:1' n='" alice.s2c
    ! grep -q CLEARTEXT-CANARY alice.c2s || false
    ! grep -q "<message" alice.c2s || false
    ! grep -q CLEARTEXT-CANARY "$RELAY_LOG" || false
}

@test "chained after a card reader: the card's account must match; the card's type is the mode" {
    echo 'card password' | simpp-register -c 127.0.0.1:$PORT -s relay.pub -p -K 1000 -P 0 carol@localhost
    run env SIMPP_CARD_ACCOUNT=bob@localhost simpp-login -c 127.0.0.1:$PORT -s relay.pub -p -K 1000 -P 0 carol@localhost <<< 'card password'
    [ "$status" -eq 64 ]
    [[ "$output" == *"the card holds bob@localhost, not carol@localhost"* ]]
    echo 'card password' > pw
    echo "<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>" |
        env SIMPP_CARD_ACCOUNT=Carol@localhost SIMPP_CARD_TYPE=mifare \
        simpp-login -c 127.0.0.1:$PORT -s relay.pub -p -K 1000 -P 3 carol@localhost 3<pw > out
    grep -q "id='p'" out
    # registered with a password, logged in with a card: the lower level counts
    grep -q 'login .*jid=carol@localhost mechanism=SIMPP mode=mifare level=password' "$RELAY_LOG"
}

@test "the relay's key can be pinned by its fingerprint" {
    fpr=$(simpp-keygen -y -q relay.pub)
    echo "<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>" |
        simpp-login -c 127.0.0.1:$PORT -s "$fpr" -k alice.key alice@localhost > out
    grep -q "id='p'" out
    run simpp-login -c 127.0.0.1:$PORT -s "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" -k alice.key alice@localhost < /dev/null
    [ "$status" -eq 77 ]
    [[ "$output" == *"THE RELAY'S KEY HAS CHANGED"* ]]
}

# a second session of an account: LABEL USER RESOURCE
session_as() {
    local name=$1 user=$2 res=$3
    mkfifo "$name.in"
    simpp-login -c 127.0.0.1:"$PORT" -s relay.pub -k "$user.key" -r "$res" "$user@localhost" \
        < "$name.in" > "$name.out" 2> "$name.err" &
    SESSION_PIDS="${SESSION_PIDS:-} $!"
    eval "exec {fd_$name}>$name.in"
    wait_for "$name" "bound addr=.* jid=$user@localhost/$res" "$RELAY_LOG"
}

@test "message carbons (XEP-0280): the sender's and the recipient's other resources get copies when they ask" {
    session_as a1 alice a1
    session_as a2 alice a2
    session_as b1 bob b1
    session_as b2 bob b2
    session_as b3 bob b3
    for s in a1 a2 b1 b2 b3; do say $s "<presence/>"; done
    say a1 "<iq type='get' id='d' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
    wait_for a1 "id='d'.*urn:xmpp:carbons:2" a1.out
    for s in a1 b2; do
        say $s "<iq type='set' id='cb'><enable xmlns='urn:xmpp:carbons:2'/></iq>"
        wait_for $s "type='result' id='cb'" $s.out
    done
    say a2 "<message to='bob@localhost/b1' type='chat' id='m1'><body>to b1 only</body></message>"
    wait_for b1 "to b1 only" b1.out
    # a1 asked: a sent-copy; b2 asked: a received-copy; b3 did not ask
    wait_for a1 "<sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client'[^>]*from='alice@localhost/a2'.*to b1 only" a1.out
    wait_for b2 "<received xmlns='urn:xmpp:carbons:2'><forwarded.*to b1 only" b2.out
    grep -q "from='bob@localhost' to='bob@localhost/b2'" b2.out
    # private and no-copy messages are not copied; after disable, nothing
    say a2 "<message to='bob@localhost/b1' type='chat'><body>private one</body><private xmlns='urn:xmpp:carbons:2'/></message>"
    say a1 "<iq type='set' id='cd'><disable xmlns='urn:xmpp:carbons:2'/></iq>"
    wait_for a1 "type='result' id='cd'" a1.out
    say a2 "<message to='bob@localhost/b1' type='chat'><body>after disable</body></message>"
    wait_for b1 "after disable" b1.out
    sleep 0.3
    ! grep -q "private one" a1.out || false
    ! grep -q "private one" b2.out || false
    ! grep -q "after disable" a1.out || false
    ! grep -q "to b1 only" b3.out || false
}
