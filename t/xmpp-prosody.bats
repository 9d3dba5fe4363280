#!/usr/bin/env bats
# SIMPP end to end over an ordinary XMPP server: Prosody 0.12 from Debian
# on loopback, TLS required with a certificate of a test CA, ordinary
# accounts.  The users publish their SIMPP keys in PEP (simpp-register -x),
# log in with SCRAM (simpp-login) and run simpp-session.  prosody.log holds
# every stanza the server saw, after TLS: what a server operator can read.
load helper
load tls
load xmpp-servers

D=example.org

setup() {
    common_setup
    prosody_up $D || return 1
    xuser alice
    xuser bob
    prosody_account $D alice "$(cat alice.pw)"
    prosody_account $D bob "$(cat bob.pw)"
}
teardown() {
    local p
    for p in ${SESSION_PIDS:-}; do kill "$p" 2>/dev/null || true; done
    prosody_down
    common_teardown
}

# ping NAME [simpp-login options]: log in, one round trip, log out
ping_as() {
    local n=$1
    shift
    echo "<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>" | xlogin "$n" $D "$P_PORT" "$@"
}

@test "simpp-register publishes the signed key in PEP with publish-options, and reads it back" {
    run xreg alice $D "$P_PORT"
    [ "$status" -eq 0 ]
    [[ "$output" == "published alice@$D key $(openssl_fpr alice.key) access presence" ]]
    grep -q "RECV: <auth [^>]*mechanism='SCRAM-SHA-256'" prosody.log
    grep -q "pubsub#access_model.*<value>presence</value>" prosody.log
    # asked for open: the node is made again with that model
    run xreg alice $D "$P_PORT" -a open
    [ "$status" -eq 0 ]
    [[ "$output" == *"access open" ]]
    # the item signs the account's JID and names it
    wait_for log "<key [^>]*jid='alice@$D'" prosody.log
    grep "<key [^>]*jid='alice@$D'" prosody.log | grep -q "<key[^>]* time='[0-9]*'[^>]*><pub>[^<]*</pub><sig>"
    run xreg alice $D "$P_PORT" -a everyone
    [ "$status" -eq 64 ]
}

@test "simpp-login as an ordinary client: STARTTLS or direct TLS, SCRAM-SHA-256, SCRAM-SHA-1, PLAIN in TLS, a bound resource" {
    run ping_as alice -r desk
    [ "$status" -eq 0 ]
    [[ "$output" == *"id='p1'"*"type='result'"* || "$output" == *"type='result'"*"id='p1'"* ]]
    grep -q "Resource bound: alice@$D/desk\|alice@$D/desk" prosody.log
    run ping_as alice -t direct -c 127.0.0.1:"$P_TLSPORT"
    [ "$status" -eq 0 ]
    [[ "$output" == *"id='p1'"* ]]
    for m in SCRAM-SHA-1 PLAIN; do
        run ping_as alice -M $m
        [ "$status" -eq 0 ]
        grep -q "RECV: <auth [^>]*mechanism='$m'" prosody.log
    done
    # Prosody offers no -PLUS under TLS 1.3 (tls-unique only): asked for, it is refused here
    run ping_as alice -M SCRAM-SHA-256-PLUS
    [ "$status" -eq 76 ]
    [[ "$output" == *"does not offer SCRAM-SHA-256-PLUS"* ]]
}

@test "a wrong password, an unknown CA, a certificate for another name or expired: refused, exit 77" {
    echo 'not it' > bad.pw
    run simpp-login -c 127.0.0.1:"$P_PORT" -T ca.pem -k alice.key -W 3 alice@$D 3< bad.pw < /dev/null
    [ "$status" -eq 77 ]
    [[ "$output" == *"login refused (SCRAM-SHA-256): not-authorized"* ]]
    # the system's store does not know the test CA
    run simpp-login -c 127.0.0.1:"$P_PORT" -k alice.key -W 3 alice@$D 3< alice.pw < /dev/null
    [ "$status" -eq 77 ]
    [[ "$output" == *"certificate not trusted"* ]]
    # nor is TLS skipped when the server would allow it
    prosody_down
    make_cert other 30 ec other.org
    make_cert old -5 ec $D
    P_CERT=other prosody_up $D
    run ping_as alice
    [ "$status" -eq 77 ]
    [[ "$output" == *"not for $D"* || "$output" == *"does not match"* ]]
    prosody_down
    P_CERT=old prosody_up $D
    run ping_as alice
    [ "$status" -eq 77 ]
    [[ "$output" == *"expired"* ]]
    ! grep -q "RECV: <auth" prosody.log || false
}

@test "the whole session through Prosody: chat with ACKs, equal transcripts, a file, a rekey, video, pager, replay refused" {
    whole_session $D "$P_PORT" $D "$P_PORT" prosody.log
    # neither the server's view of the wire nor its data ever held the text
    ! grep -q 'MARKER-' prosody.log* || false
    ! grep -rq 'MARKER-' prosody-data || false
}

# publish_raw NAME ITEM: NAME's node holds ITEM, as a lying server would
publish_raw() {
    echo "<iq type='set' id='raw'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:simpp:1:key'><item id='current'>$2</item></publish></pubsub></iq>" |
        xlogin "$1" $D "$P_PORT" > raw.out
    grep -q "id='raw'" raw.out
    ! grep -q "type='error'" raw.out || false
}
# alice_to_bob: one line to bob, as alice (a fresh state directory unless kept)
alice_to_bob() {
    echo "hello" > in
    run env SIMPP_HOME="$TMP/alice.home" simpp-login -c 127.0.0.1:"$P_PORT" -T ca.pem -k alice.key -W 3 \
        alice@$D simpp-session -j -w 1 bob@$D 3< alice.pw < in
}

@test "a server that gives another key for bob: refused by the pin, loudly" {
    xreg bob $D "$P_PORT" -a open > /dev/null
    alice_to_bob
    [ "$status" -eq 0 ]
    [[ "$output" == *"first contact: pinned the key of bob@$D $(openssl_fpr bob.key)"* ]]
    # the server now shows another key for bob (here: a new one published)
    mv bob.key bob.old
    simpp-keygen -q -f bob.key > /dev/null
    xreg bob $D "$P_PORT" -a open > /dev/null
    alice_to_bob
    [ "$status" -eq 76 ]
    [[ "$output" == *"THE KEY OF bob@$D HAS CHANGED: pinned $(openssl_fpr bob.old), the server now gives $(openssl_fpr bob.key)"* ]]
    [ "$(grep -c 'hello' prosody.log)" -eq 0 ]
}

@test "a PEP item naming another account, with a bad signature, or unsigned: refused, nothing pinned" {
    xreg alice $D "$P_PORT" -a open > /dev/null
    xreg bob $D "$P_PORT" -a open > /dev/null
    wait_for log "<key [^>]*jid='bob@$D'" prosody.log
    akey=$(grep -o "<key [^>]*jid='alice@$D'[^>]*>.*</key>" prosody.log | head -1)
    bkey=$(grep -o "<key [^>]*jid='bob@$D'[^>]*>.*</key>" prosody.log | head -1)
    [ -n "$akey" ] && [ -n "$bkey" ]
    # alice's own signed item, shown as bob's
    publish_raw bob "$akey"
    alice_to_bob
    [ "$status" -eq 76 ]
    [[ "$output" == *"the key published for bob@$D names another account (alice@$D): refused"* ]]
    # bob's item with its time changed: the signature no longer holds
    t=$(echo "$bkey" | grep -o "time='[0-9]*'" | tr -dc 0-9)
    publish_raw bob "${bkey/time=\'$t\'/time=\'$((t + 1))\'}"
    alice_to_bob
    [ "$status" -eq 76 ]
    [[ "$output" == *"the key published for bob@$D has a signature that does not verify: refused"* ]]
    # and without its signature
    publish_raw bob "$(echo "$bkey" | sed 's|<sig>[^<]*</sig>||')"
    alice_to_bob
    [ "$status" -eq 76 ]
    [[ "$output" == *"the key published for bob@$D is not signed: refused"* ]]
    [ ! -e alice.home/pins/bob@$D.pub ]
    # the item as published passes
    publish_raw bob "$bkey"
    alice_to_bob
    [ "$status" -eq 0 ]
    [ -e alice.home/pins/bob@$D.pub ]
}

@test "a server without PEP: simpp-register and simpp-session say so" {
    prosody_down
    prosody_up $D 'modules_disabled = { "s2s", "pep" }'
    run xreg alice $D "$P_PORT"
    [ "$status" -eq 69 ]
    [[ "$output" == *"the server refused to publish the key: "*"(the server has no PEP, XEP-0163)"* ]]
    alice_to_bob
    [ "$status" -eq 76 ]
    [[ "$output" == *"their server offers no PEP (XEP-0163)"* ]]
}

# bob_filtered drop|late NTH COUNT: bob's simpp-session behind a filter
# (t/tools/stanzafilter.py) that drops, or delivers late, alice's NTH frame
# and the COUNT - 1 after it, as a server doing so would; then alice's
# session (both -w 2), up
bob_filtered() {
    xreg alice $D "$P_PORT" -a open > /dev/null
    xreg bob $D "$P_PORT" -a open > /dev/null
    mkfifo bob.in
    SIMPP_HOME="$TMP/bob.home" xlogin bob $D "$P_PORT" -r s -- \
        python3 "$SIMPP_TOP/t/tools/stanzafilter.py" --"$1" "(?=.*from='alice@$D/s').* t='f'" \
        --nth "$2" --count "$3" -- simpp-session -j -w 2 alice@$D < bob.in > bob.out 2> bob.err &
    pid_bob=$!
    SESSION_PIDS="${SESSION_PIDS:-} $!"
    exec {fd_bob}>bob.in
    wait_for bob "^presence alice@$D unavailable" bob.out 20
    xe2e alice $D "$P_PORT" bob@$D -w 2
    wait_for alice "^session" alice.out 20
}
# altered: both ends say the conversation was altered, and end with
# different transcripts
altered() {
    wait_for alice "^error message 3: the peer's transcript differs from ours: the conversation was altered" alice.out
    end_session alice
    local st=0
    wait "$pid_alice" || st=$?
    [ "$st" -ne 0 ]
    wait_for bob "^error alice@$D's transcript of what it sent differs from what arrived: the conversation was altered" bob.out
    wait_for bob "^bye alice@$D" bob.out
    [ "$(grep '^transcript' alice.out | tail -1)" != "$(grep '^transcript' bob.out | tail -1)" ]
}

@test "a server that strips a SIMPP message: both ends report the conversation altered" {
    # FIN, one, two, three: "two" never reaches bob
    bob_filtered drop 3 1
    say alice "one"
    say alice "two"
    say alice "three"
    wait_for bob "^msg 3 alice@$D three" bob.out
    grep -q 'stanzafilter: dropped' bob.err
    ! grep -q "^msg 2 " bob.out || false
    wait_for bob "^error 1 message\\(s\\) from alice@$D/s are missing" bob.out
    altered
    grep -q '^pending 2$' alice.out
}

@test "a server that reorders SIMPP messages: put back in order, each shown once, the transcripts equal" {
    # FIN, one, two, three: "two" reaches bob after "three"; bob holds
    # "three" until "two" comes (doc/PROTOCOL.md 19.7), then opens both in order
    bob_filtered late 3 1
    say alice "one"
    say alice "two"
    say alice "three"
    wait_for bob "^msg 3 alice@$D three" bob.out
    grep -q "stanzafilter: delivered 1 held late" bob.err
    # put back in order, and said: the server did not keep the order sent
    grep -Eq "^note frame [0-9]+ from alice@$D[^ ]* came before [0-9]+: held to be put back in order" bob.out
    [ "$(grep '^msg' bob.out)" = "$(printf 'msg 1 alice@%s one\nmsg 2 alice@%s two\nmsg 3 alice@%s three' $D $D $D)" ]
    wait_for alice "^ack 3$" alice.out
    end_session alice
    wait "$pid_alice"
    wait_for bob "^bye alice@$D" bob.out
    [ "$(grep '^transcript' alice.out | tail -1)" = "$(grep '^transcript' bob.out | tail -1)" ]
    ! grep -q '^error' alice.out bob.out || false
}
