#!/usr/bin/env bats
# simpp-session against the relay's end of its stanza pipe played by a
# hostile or broken relay (t/tools/relayend.py): floods, lies and garbage
# before any end-to-end session exists; and by a peer that breaks the key
# confirmation (t/tools/e2epeer.c).  No relay process runs here.
load helper

setup() {
    common_setup
    simpp-keygen -q alice.key > /dev/null
    simpp-keygen -q bob.key > /dev/null
    # bob's public point as the relay's key directory gives it (in the
    # form of a PEP item, unsigned: simpp-session is told it logged in to
    # a SIMPP relay)
    BOBPUB=$(openssl pkey -in bob.key -pubout -outform DER | tail -c 65 | base64 -w0)
    KEYIQ=$(keyiq "curve='P-256' level='password'><pub>$BOBPUB</pub>")
    FRAME="<message from='bob@localhost/x' type='chat'><e2e xmlns='urn:simpp:e2e:1' t='f' n='1' sid='00'>AAAA</e2e></message>"
    mkfifo to from
}

# keyiq ATTRS-AND-CONTENT: the directory's answer for bob
keyiq() {
    printf "%s" "<iq type='result' id='simpp-c1' from='bob@localhost'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:simpp:1:key'><item id='current'><key xmlns='urn:simpp:1' jid='bob@localhost' $1</key></item></items></pubsub></iq>"
}

# alice SCRIPT [options]: simpp-session as alice, its relay end playing SCRIPT,
# its input the file "in" (if there is one); sets status (the session's
# exit) and relay_status, and leaves out, err, relay.seen
alice() {
    local script=$1; shift
    python3 "$SIMPP_TOP/t/tools/relayend.py" to from "$script" > relay.seen 2> relay.err &
    local rp=$! input=/dev/null
    [ -e in ] && input=in
    status=0 relay_status=0
    SIMPP_JID=alice@localhost/t SIMPP_KEYFD=5 SIMPP_HOME="$TMP/home" SIMPP_LOGIN=simpp \
        timeout 60 simpp-session -j -w 5 "$@" bob@localhost 5< alice.key 6< to 7> from < "$input" > out 2> err \
        || status=$?
    wait "$rp" || relay_status=$?
    cat err >&2
}

@test "a flood of messages before the peer's key: at most 256 held, said once, then the key is used" {
    cat > script <<EOF2
expect simpp-c1
repeat 5000 $FRAME
send $KEYIQ
expect urn:simpp:e2e:1' t='c3'
close
EOF2
    alice script
    [ "$relay_status" -eq 0 ]
    [ "$(grep -c 'more than 256 messages before the key of bob@localhost arrived' out)" -eq 1 ]
    grep -q '^note first contact: pinned the key of bob@localhost' out
    # the held ones were each looked at once the key came: no session, so no more noise
    [ "$status" -ne 134 ] && [ "$status" -ne 124 ]
}

@test "a key directory answer that is not a key: refused, nothing pinned, non-zero exit" {
    cat > script <<EOF2
expect simpp-c1
send $(keyiq "curve='P-256'><pub>AAAA</pub>")
close
EOF2
    alice script
    [ "$status" -eq 76 ]
    grep -q 'the key published for bob@localhost is not a valid key' err
    [ ! -e home/pins/bob@localhost.pub ]
    ! grep -q "t='c3'" relay.seen || false
}

@test "a key on an unknown curve, or base64 that is not: refused" {
    for bad in "curve='P-999'><pub>$BOBPUB" "curve='P-256'><pub>!!!$BOBPUB" "curve='P-256'><pub>${BOBPUB:0:40}"; do
        cat > script <<EOF2
expect simpp-c1
send $(keyiq "$bad</pub>")
close
EOF2
        alice script
        [ "$status" -eq 76 ]
        grep -q 'the key published for bob@localhost is not a valid key' err
    done
}

@test "malformed XML from the relay end: a clear error, EX_PROTOCOL" {
    cat > script <<'EOF2'
expect simpp-c1
send <message from='bob@localhost/x'><body>unclosed</message>
close
EOF2
    alice script
    [ "$status" -eq 76 ]
    grep -q 'simpp-session: bad XML from simpp-login' err
}

@test "the relay goes away before it answers: said, and the session ends" {
    cat > script <<'EOF2'
expect simpp-c1
close
EOF2
    alice script
    [ "$status" -ne 124 ]
    grep -q '^note the relay connection ended' out
}

@test "frames for no session and garbage e2e payloads after the key: ignored, said" {
    echo "a line that keeps the session waiting for bob" > in
    cat > script <<EOF2
expect simpp-c1
send $KEYIQ
expect t='c3'
send <message from='bob@localhost/x' type='chat'><e2e xmlns='urn:simpp:e2e:1' t='c4'>AAAA</e2e></message>
send <message from='bob@localhost/x' type='chat'><e2e xmlns='urn:simpp:e2e:1' t='f'>%%%not base64</e2e></message>
send <message from='bob@localhost/x' type='chat'><e2e xmlns='urn:simpp:e2e:1' t='p'>AAAA</e2e></message>
send <message from='bob@localhost/x' type='chat'><e2e xmlns='urn:simpp:e2e:1' t='zz'>AAAA</e2e></message>
sleep 0.5
close
EOF2
    alice script -w 1
    [ "$relay_status" -eq 0 ]
    grep -q 'a malformed SIMPP message from bob@localhost/x: ignored' out
    [ "$status" -ne 124 ] && [ "$status" -ne 134 ]
}

@test "what only the relay could forge is shown for what it is: clear text, refusals, offline" {
    echo "a line for bob" > in
    cat > script <<EOF2
expect simpp-c1
send $KEYIQ
expect t='c3'
send <message from='bob@localhost/x' type='chat'><body>pay me at \$(evil) &lt;b&gt;</body></message>
send <message from='bob@localhost' type='error'><error type='cancel'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>
send <message from='bob@localhost' type='error'><error type='cancel'><recipient-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>
expect t='p'
sleep 0.3
close
EOF2
    alice script -w 1
    [ "$relay_status" -eq 0 ]
    # clear text is labelled as such (no control byte can arrive: XML 1.0 has none)
    grep -q '^plain bob@localhost pay me at \$(evil) <b>$' out
    grep -q '^error the relay refused a message to bob@localhost: forbidden' out
    # "recipient-unavailable": bob is treated as offline, the line goes as a pager message
    grep -q '^offline bob@localhost' out
    grep -q '^pager-sent' out
}

# bob MODE: simpp-session as bob; its other end is alice played by
# t/tools/e2epeer, which starts the key exchange and then confirms it as MODE
# says (good, bad-fin, short-fin) and sends the line "after fin"; sets
# peer_status and status, and leaves out (bob's events) and peer.out
bob_with_peer() {
    mkfifo bob.in
    "$SIMPP_TOOLS/e2epeer" to from alice.key bob.key alice@localhost/x bob@localhost "$1" \
        > peer.out 2> peer.err &
    local pp=$! sp fd
    SIMPP_JID=bob@localhost/t SIMPP_KEYFD=5 SIMPP_HOME="$TMP/bobhome" \
        timeout 60 simpp-session -j -w 1 alice@localhost 5< bob.key 6< to 7> from < bob.in > out 2> err &
    sp=$!
    exec {fd}>bob.in
    peer_status=0 status=0
    wait "$pp" || peer_status=$?
    exec {fd}>&-
    wait "$sp" || status=$?
    cat err peer.err >&2
}

@test "a FIN with the right transcript hash confirms the session (twin of the next)" {
    bob_with_peer good
    [ "$peer_status" -eq 0 ]
    grep -q '^session chacha20-poly1305 alice@localhost/x' out
    grep -q '^msg 1 alice@localhost after fin' out
    ! grep -q '^error' out || false
}

@test "a FIN with a wrong or cut transcript hash does not confirm the session: nothing is shown after it" {
    local mode
    for mode in bad-fin short-fin; do
        rm -f bob.in out
        bob_with_peer "$mode"
        [ "$peer_status" -eq 0 ]
        grep -q '^error key confirmation from alice@localhost/x does not match' out
        ! grep -q '^session' out || false
        ! grep -q 'after fin' out || false
    done
}
