#!/usr/bin/env bats
# simpp-relayd federating with Prosody 0.12: r.test served by simpp-relayd,
# a.test by Prosody (on its own loopback address), each finding the
# other by DNS SRV (a stub: t/xmpp-servers.bash dns_up, srv_run), TLS both
# ways and each proving its domain with a certificate of the test CA (SASL
# EXTERNAL; Prosody with s2s_secure_auth).  alice is a user of the relay,
# bob of Prosody (an ordinary account).
load helper
load tls
load xmpp-servers

R=r.test
A=a.test

# relay_up [options]: simpp-relayd for r.test (port PORT), its s2s port
# RS2S, its certificate rcert.pem; no static route: Prosody's address from
# DNS
relay_up() {
    rm -f ready
    srv_run
    "${SRV_RUN[@]}" simpp-relayd -d data -k relay.key -D $R -l 127.0.0.1:0 -r 3 -o tls_cert=rcert.pem -o tls_key=rcert.key \
        -o s2s_port="$RS2S" -o s2s_ca=ca.pem "$@" 3>ready 2>>relay.log &
    RELAY_PID=$!
    local i
    for i in $(seq 1 100); do
        [ -s ready ] && break
        kill -0 "$RELAY_PID" 2>/dev/null || { cat relay.log >&2; return 1; }
        sleep 0.1
    done
    read -r PORT _ < ready
}

setup() {
    common_setup
    make_ca
    dns_up || return 1
    RS2S=$(free_port)
    PS2S=$(free_port)
    dns_server $R 127.0.0.1 "$RS2S"
    dns_server $A "$DNS_NET.1" "$PS2S"
    P_S2S="$DNS_NET.1 $PS2S" prosody_up $A || return 1
    mkdir data
    simpp-keygen -q -t server -w relay.pub relay.key > /dev/null
    make_cert rcert 30 ec $R
    relay_up || return 1
    RELAY_USERS=alice
    xuser alice
    xuser bob
    prosody_account $A bob "$(cat bob.pw)"
}
teardown() {
    local p
    for p in ${SESSION_PIDS:-}; do kill "$p" 2>/dev/null || true; done
    stop_relay
    prosody_down
    dns_down
    common_teardown
}

@test "simpp-relayd and Prosody federate: SRV both ways, certificates both ways, a subscription each way, presence, plain messages" {
    xreg alice $R "$PORT" > /dev/null
    xsession alice $R "$PORT"
    xsession bob $A "$P_PORT"
    say alice "<presence/>"
    say bob "<presence/>"
    say alice "<presence to='bob@$A' type='subscribe'/>"
    wait_for bob "<presence[^>]*type='subscribe'" bob.out 30
    grep "type='subscribe'" bob.out | grep -q "from='alice@$R'"
    say bob "<presence to='alice@$R' type='subscribed'/>"
    wait_for alice "<presence[^>]*from='bob@$A/t'" alice.out 20
    say bob "<presence to='alice@$R' type='subscribe'/>"
    wait_for alice "<presence[^>]*type='subscribe'[^>]*from='bob@$A'|<presence[^>]*from='bob@$A'[^>]*type='subscribe'" alice.out 20
    say alice "<presence to='bob@$A' type='subscribed'/>"
    wait_for bob "<presence[^>]*from='alice@$R/t'" bob.out 20
    # each roster has the other, both ways
    say alice "<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>"
    wait_for alice "id='r1'.*jid='bob@$A'[^>]*subscription='both'|id='r1'.*subscription='both'[^>]*jid='bob@$A'" alice.out
    say alice "<message to='bob@$A' type='chat' id='m1'><body>hello from the relay</body></message>"
    wait_for bob "hello from the relay" bob.out 20
    grep "hello from the relay" bob.out | grep -q "from='alice@$R/t'"
    say bob "<message to='alice@$R/t' type='chat'><body>and back from Prosody</body></message>"
    wait_for alice "and back from Prosody" alice.out 20
    grep "and back from Prosody" alice.out | grep -q "from='bob@$A/t'"
    # how they met
    grep -q "dnsstub: _xmpp-server._tcp.$A SRV -> 1 records" dns.log
    grep -q "dnsstub: _xmpp-server._tcp.$R SRV -> 1 records" dns.log
    grep -q "s2s-in addr=[0-9.]* domain=$A tls=TLSv1.3" relay.log
    grep -q "s2s-out domain=$A" relay.log
    grep -q "SASL EXTERNAL with $R succeeded" prosody.log
    grep -q "Accepting SASL EXTERNAL identity from $R" prosody.log
    # bob leaves: alice sees it
    end_session bob
    wait_for alice "type='unavailable'[^>]*from='bob@$A/t'|from='bob@$A/t'[^>]*type='unavailable'" alice.out 20
}

@test "simpp-session across simpp-relayd and Prosody: chat with ACKs, equal transcripts, a file, a rekey, video, a pager message to the offline remote user, replay refused" {
    # alice registers with -F (xreg): the relay shows her key signed by her
    whole_session $R "$PORT" $A "$P_PORT" prosody.log
    grep -q "<key [^>]*jid='alice@$R'.*<sig>" prosody.log
    grep -q "pepkey addr=127.0.0.1 jid=alice@$R" relay.log
    # neither server's record nor its data held the text
    ! grep -q 'MARKER-' prosody.log* relay.log || false
    ! grep -rq 'MARKER-' prosody-data data || false
}

@test "without -F, the relay's unsigned directory answer crosses the federation, and a Prosody user refuses it" {
    # the relay answers PEP requests for alice's key from its directory,
    # unsigned (its own users trust it through the SIMPP channel); bob, on
    # Prosody, has no such channel to the relay: he needs alice's own
    # signature, and refuses the key without one
    simpp-register -c 127.0.0.1:"$PORT" -s relay.pub -T ca.pem -k alice.key alice@$R > /dev/null
    xreg bob $A "$P_PORT" -a open > /dev/null
    xe2e bob $A "$P_PORT" alice@$R -w 1
    wait_for bob "^error the key published for alice@$R is not signed: refused" bob.out 30
    # it came across: Prosody asked r.test for it
    grep -q "<key [^>]*jid='alice@$R'" prosody.log
    end_session bob
    wait "$pid_bob" || true
    [ ! -e bob.home/pins/alice@$R.pub ]
    ! grep -q '^session' bob.out || false
}

@test "a Prosody whose certificate names another domain is refused by simpp-relayd; the relay's users are still served" {
    prosody_down
    make_cert other 30 ec c.test
    P_S2S="$DNS_NET.1 $PS2S" prosody_up $A "s2s_ssl = { certificate = \"$TMP/other.pem\", key = \"$TMP/other.key\" }"
    xreg alice $R "$PORT" > /dev/null
    xsession alice $R "$PORT"
    xsession bob $A "$P_PORT"
    say bob "<presence/>"
    say alice "<presence/>"
    # the relay connecting out: Prosody's certificate is not for a.test
    say alice "<message to='bob@$A' type='chat' id='out'><body>not across</body></message>"
    wait_for alice "id='out'.*remote-server|remote-server.*id='out'" alice.out 30
    # Prosody connecting in with it: no SASL EXTERNAL offered, no login
    say bob "<message to='alice@$R' type='chat' id='in'><body>nor this way</body></message>"
    wait_for bob "id='in'.*type='error'|type='error'.*id='in'" bob.out 30
    ! grep -q 'not across' bob.out || false
    ! grep -q 'nor this way' alice.out || false
    ! grep -q "s2s-in addr=[0-9.]* domain=$A tls" relay.log || false
    say alice "<iq type='get' id='still' to='$R'><ping xmlns='urn:xmpp:ping'/></iq>"
    wait_for alice "id='still'" alice.out
}
