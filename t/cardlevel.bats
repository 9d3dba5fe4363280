#!/usr/bin/env bats
# Levels the relay grants: level card only with a proof the operator trusts
# (a certificate from a card issuer it names, or its one-time provisioning
# token), checked again at every login.
load helper
load token
load cardca

setup() {
    common_setup
    card_ca
}

# reg NAME [simpp-register options]: register NAME@localhost with NAME.key
reg() {
    local name=$1; shift
    simpp-register -c 127.0.0.1:$PORT -s relay.pub -k "$name.key" "$@" "$name@localhost"
}
ping_login() {
    echo "<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>" |
        simpp-login -c 127.0.0.1:$PORT -s relay.pub -k "$1.key" "${@:2}" "$1@localhost" > /dev/null
}

@test "a key on a token with the issuer's certificate registers at level card, with its issuer and serial on record" {
    make_token
    start_relay -o card_ca=cardca.pem -o card_crl=cardca.crl
    token_key alice
    card_cert alice alice.pub alice@localhost
    run simpp-register -c 127.0.0.1:$PORT -s relay.pub -k "$(token_uri alice)" -E 3 -X alice.pem alice@localhost 3< pin
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *"mode pkcs11 level card"* ]]
    serial=$(openssl x509 -in alice.pem -noout -serial | cut -d= -f2)
    grep -q "register addr=127.0.0.1 jid=alice@localhost level=card note=certificate $serial from CN=simpp card issuer,O=simpp test" "$RELAY_LOG"
    [ "$(sqlite3 data/simpp.db "select serial || ' ' || issuer from card_certs where jid='alice@localhost'")" = \
      "$serial CN=simpp card issuer,O=simpp test" ]
    echo "<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>" |
        simpp-login -c 127.0.0.1:$PORT -s relay.pub -k "$(token_uri alice)" -E 3 alice@localhost 3< pin > /dev/null
    grep -q 'login addr=127.0.0.1 jid=alice@localhost mechanism=SIMPP mode=pkcs11 level=card' "$RELAY_LOG"
}

@test "a card mode claimed without proof is recorded as password, and said so" {
    start_relay -o card_ca=cardca.pem
    simpp-keygen -q mallory.key > /dev/null
    run reg mallory -m javacard
    [ "$status" -eq 0 ]
    [[ "$output" == *"mode javacard level password"* ]]
    [[ "$output" == *"a javacard card without proof (certificate or provisioning token) counts as a password"* ]]
    grep -q 'register addr=127.0.0.1 jid=mallory@localhost level=password' "$RELAY_LOG"
    ping_login mallory -m javacard
    grep -q 'login addr=127.0.0.1 jid=mallory@localhost mechanism=SIMPP mode=javacard level=password' "$RELAY_LOG"
}

@test "certificates that prove nothing are refused, each with its reason" {
    start_relay -o card_ca=cardca.pem -o card_crl=cardca.crl
    simpp-keygen -q alice.key > /dev/null
    simpp-keygen -q other.key > /dev/null
    # self-signed (a CA of its own), expired, revoked, another JID, another key
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout self.key -out self.pem \
        -days 30 -subj "/CN=alice@localhost" \
        -addext "subjectAltName=otherName:1.3.6.1.5.5.7.8.5;UTF8:alice@localhost" 2>/dev/null
    card_cert expired alice.key.pub alice@localhost -3
    card_cert revoked alice.key.pub alice@localhost
    card_revoke revoked
    card_cert bobs alice.key.pub bob@localhost
    card_cert otherkey other.key.pub alice@localhost
    while IFS='|' read -r cert says; do
        run reg alice -m javacard -X "$cert.pem"
        echo "$cert: $status $output"
        [ "$status" -eq 77 ]
        [[ "$output" == *"registration refused: not-authorized: $says"* ]]
    done <<EOF2
self|certificate: self-signed certificate
expired|certificate: certificate has expired
revoked|certificate: certificate revoked
bobs|the certificate is for bob@localhost, not alice@localhost (subjectAltName id-on-xmppAddr)
otherkey|the certificate is for another key than the one registered
EOF2
    [ "$(sqlite3 data/simpp.db "select count(*) from users")" -eq 0 ]
    # a relay that names no card issuer takes no certificate as proof
    stop_relay
    start_relay
    card_cert good alice.key.pub alice@localhost
    run reg alice -m javacard -X good.pem
    [ "$status" -eq 77 ]
    [[ "$output" == *"this relay trusts no card issuer (no card_ca)"* ]]
}

@test "a certificate revoked or expired after registration drops the level at the next login" {
    start_relay -o card_ca=cardca.pem -o card_crl=cardca.crl
    simpp-keygen -q alice.key > /dev/null
    simpp-keygen -q bob.key > /dev/null
    card_cert alice alice.key.pub alice@localhost
    card_cert bob bob.key.pub bob@localhost 2
    reg alice -m javacard -X alice.pem | grep -q 'level card'
    reg bob -m javacard -X bob.pem | grep -q 'level card'
    ping_login alice -m javacard
    grep -q 'login addr=127.0.0.1 jid=alice@localhost mechanism=SIMPP mode=javacard level=card' "$RELAY_LOG"
    # the issuer revokes alice's card: the relay reads the new CRL at her next login
    card_revoke alice
    ping_login alice -m javacard
    grep -q 'level-drop jid=alice@localhost level=password reason=certificate: certificate revoked' "$RELAY_LOG"
    grep -q 'login addr=127.0.0.1 jid=alice@localhost mechanism=SIMPP mode=javacard level=password' "$RELAY_LOG"
    # bob's certificate runs out (the relay three days later)
    stop_relay
    # (the sanitizer build runs under libfaketime's preload only if told to)
    ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0 \
    faketime -f +3d simpp-relayd -d data -k relay.key -l 127.0.0.1:"$PORT" -r 3 -o card_ca=cardca.pem \
        3>ready2 2>>"$RELAY_LOG" &
    RELAY_PID=$!
    wait_for relay "." ready2
    # faketime runs the relay as its child and does not pass SIGTERM on:
    # the teardown stops the relay itself, and faketime then ends
    RELAY_PID=$(pgrep -P "$RELAY_PID" simpp-relayd || echo "$RELAY_PID")
    ping_login bob -m javacard
    grep -q 'level-drop jid=bob@localhost level=password reason=certificate: certificate has expired' "$RELAY_LOG"
    grep -q 'login addr=127.0.0.1 jid=bob@localhost mechanism=SIMPP mode=javacard level=password' "$RELAY_LOG"
}

@test "provisioning tokens: one JID, one use" {
    start_relay
    simpp-keygen -q dan.key > /dev/null
    simpp-keygen -q eve.key > /dev/null
    simpp-relayd -d data provision dan@localhost > dan.tok
    [ "$(wc -c < dan.tok)" -eq 44 ]
    # for another JID: refused
    run reg eve -m mifare -G 4 4< dan.tok
    [ "$status" -eq 77 ]
    [[ "$output" == *"no provisioning token was issued for eve@localhost"* ]]
    simpp-relayd -d data provision eve@localhost > eve.tok
    run reg eve -m mifare -G 4 4< dan.tok
    [ "$status" -eq 77 ]
    [[ "$output" == *"the provisioning token does not match"* ]]
    # its own: level card; the token itself never crossed the wire
    run reg dan -v -m mifare -G 4 4< dan.tok
    [ "$status" -eq 0 ]
    [[ "$output" == *"mode mifare level card"* ]]
    ! grep -q "$(cat dan.tok)" "$RELAY_LOG" || false
    [[ "$output" != *"$(cat dan.tok)"* ]]
    grep -q 'register addr=127.0.0.1 jid=dan@localhost level=card note=provisioned by the operator' "$RELAY_LOG"
    # used twice: refused, even once the account is gone
    simpp-relayd -d data delete dan@localhost
    run reg dan -m mifare -G 4 4< dan.tok
    [ "$status" -eq 77 ]
    [[ "$output" == *"the provisioning token for dan@localhost was already used"* ]]
    # a token for level password grants no more than that
    simpp-relayd -d data provision dan@localhost password > dan2.tok
    run reg dan -m mifare -G 4 4< dan2.tok
    [ "$status" -eq 0 ]
    [[ "$output" == *"level password"* ]]
}

@test "simpp-session shows the peer's level and its certificate, checked against the user's own card CAs" {
    make_token
    start_relay -o card_ca=cardca.pem
    token_key alice
    card_cert alice alice.pub alice@localhost
    simpp-register -c 127.0.0.1:$PORT -s relay.pub -k "$(token_uri alice)" -E 3 -X alice.pem alice@localhost 3< pin \
        | grep -q 'level card'
    simpp-keygen -q bob.key > /dev/null
    reg bob > /dev/null
    # bob trusts the issuer himself; carol trusts another one
    mkdir -p bob.home carol.home
    cp cardca.pem bob.home/card-ca.pem
    e2e bob alice
    wait_for bob "offline alice@localhost" bob.out
    grep -qx 'peer alice@localhost level card' bob.out
    grep -q '^peer-cert alice@localhost good against your card CAs; subject CN=alice@localhost,O=simpp test; issuer CN=simpp card issuer,O=simpp test$' bob.out
    e2e_token alice bob
    wait_for bob "^session chacha20-poly1305 alice@localhost/s" bob.out
    grep -qx 'peer bob@localhost level password' alice.out
    ! grep -q '^peer-cert' alice.out || false
    # without -j, beside the safety number
    say bob "/safety"
    end_session bob
    wait "$pid_bob"
    # another user who trusts another issuer: the same certificate is not good for them
    mv cardca.pem other.pem; mv cardca.key other.key
    card_ca
    simpp-keygen -q carol.key > /dev/null
    reg carol > /dev/null
    cp cardca.pem carol.home/card-ca.pem
    printf '/safety\n' | SIMPP_HOME=$TMP/carol.home simpp-login -c 127.0.0.1:$PORT -s relay.pub -k carol.key carol@localhost \
        simpp-session -w 1 alice@localhost > carol.out 2> carol.err || true
    grep -q "certificate \"CN=alice@localhost,O=simpp test\" issued by \"CN=simpp card issuer,O=simpp test\": NOT GOOD against your card CAs: certificate: unable to get local issuer certificate" carol.err
}

@test "no write-down with proven levels: a card claimed without proof is a password, and a certified card user cannot write down to it" {
    start_relay -o policy=no-write-down -o card_ca=cardca.pem -o card_crl=cardca.crl
    for u in alice carol mallory dave; do simpp-keygen -q $u.key > /dev/null; done
    card_cert alice alice.key.pub alice@localhost
    card_cert carol carol.key.pub carol@localhost
    reg alice -m javacard -X alice.pem | grep -q 'level card'
    reg carol -m javacard -X carol.pem | grep -q 'level card'
    # mallory and dave say javacard too, with nothing to show for it
    reg mallory -m javacard | grep -q 'level password'
    reg dave -m javacard | grep -q 'level password'
    for u in alice carol mallory; do session $u -m javacard; say $u "<presence/>"; done
    grep -q 'login addr=127.0.0.1 jid=alice@localhost mechanism=SIMPP mode=javacard level=card' "$RELAY_LOG"
    grep -q 'login addr=127.0.0.1 jid=mallory@localhost mechanism=SIMPP mode=javacard level=password' "$RELAY_LOG"
    # up (password -> card) and across (card -> card) are delivered
    say mallory "<message to='alice@localhost/t' type='chat' id='up'><body>up is fine</body></message>"
    wait_for alice "up is fine" alice.out
    say alice "<message to='carol@localhost/t' type='chat' id='across'><body>card to card</body></message>"
    wait_for carol "card to card" carol.out
    # down (card -> password) is refused: to a session, and to the offline
    # store of a user not logged in (judged by the level registered)
    say alice "<message to='mallory@localhost/t' type='chat' id='down'><body>down is not</body></message>"
    wait_for alice "id='down'.*forbidden|forbidden.*id='down'" alice.out
    grep -q 'policy-refused from=alice@localhost/t level=card to=mallory@localhost level=password' "$RELAY_LOG"
    say alice "<message to='dave@localhost' type='chat' id='later'><body>not stored either</body></message>"
    wait_for alice "id='later'.*forbidden|forbidden.*id='later'" alice.out
    grep -q 'policy-refused from=alice@localhost/t level=card to=dave@localhost level=password' "$RELAY_LOG"
    [ "$(sqlite3 data/simpp.db "select count(*) from offline")" -eq 0 ]
    ! grep -q 'down is not' mallory.out || false
}
