#!/usr/bin/env bats
# simpp-login and simpp-register as ordinary XMPP clients against
# simpp-relayd (an ordinary account there, or asked with -x), and the
# relay's key directory as PEP shows it.
load helper
load tls
load xmpp-servers

setup() {
    common_setup
    printf 'carol pass 1\n' > carol.pw
    simpp-keygen -q carol.key > /dev/null
}

carol_ping() {
    echo "<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>" |
        simpp-login -c 127.0.0.1:"$PORT" -k carol.key -W 3 -x "$@" carol@localhost 3< carol.pw
}

@test "an ordinary login to simpp-relayd inside TLS: SCRAM-SHA-256-PLUS bound to the channel, or another mechanism on request" {
    start_tls_relay
    simpp-relayd -d data passwd carol@localhost -P 3 3< carol.pw
    run carol_ping -T ca.pem
    [ "$status" -eq 0 ]
    [[ "$output" == *"id='p1'"* ]]
    grep -q 'login addr=127.0.0.1 jid=carol@localhost mechanism=SCRAM-SHA-256-PLUS' "$RELAY_LOG"
    for m in SCRAM-SHA-1-PLUS SCRAM-SHA-256 PLAIN; do
        run carol_ping -T ca.pem -M $m
        [ "$status" -eq 0 ]
        grep -q "jid=carol@localhost mechanism=$m " "$RELAY_LOG"
    done
    # the -W descriptor and the password never reach a chained program
    run simpp-login -c 127.0.0.1:"$PORT" -T ca.pem -k carol.key -W 3 -x carol@localhost \
        sh -c 'ls /proc/$$/fd; env' 3< carol.pw
    [[ "$output" != *"carol pass"* ]]
    [[ "$output" == *"SIMPP_LOGIN=xmpp"* ]]
    [ "$(echo "$output" | grep -cx 3)" -eq 0 ]
}

@test "no password leaves in clear: no TLS is refused unless -t off, and PLAIN never goes outside TLS" {
    start_relay -o tls_required=no
    simpp-relayd -d data passwd carol@localhost -P 3 3< carol.pw
    run carol_ping
    [ "$status" -eq 76 ]
    [[ "$output" == *"the server offers no TLS: refusing to send it the password (-t off to go on)"* ]]
    # SCRAM shows no password, and -t off says the user knows
    run carol_ping -t off
    [ "$status" -eq 0 ]
    grep -q 'jid=carol@localhost mechanism=SCRAM-SHA-256 ' "$RELAY_LOG"
    echo 'carol pass 2' > carol.pw
    run carol_ping -t off
    [ "$status" -eq 77 ]
    [[ "$output" == *"not-authorized"* ]]
    stop_relay
    # a server that offers only PLAIN, in clear: what the client sends is kept
    PORT=$(free_port)
    python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(2); s.settimeout(20)
open("fake.ready", "w").close()
for i in range(2):
  c, _ = s.accept(); c.settimeout(3); got = b""
  c.sendall(b"<?xml version=\"1.0\"?><stream:stream xmlns=\"jabber:client\" xmlns:stream=\"http://etherx.jabber.org/streams\" id=\"x\" from=\"localhost\" version=\"1.0\"><stream:features><mechanisms xmlns=\"urn:ietf:params:xml:ns:xmpp-sasl\"><mechanism>PLAIN</mechanism></mechanisms></stream:features>")
  try:
    while True:
      d = c.recv(4096)
      if not d: break
      got += d
  except socket.timeout: pass
  c.close()
  open("seen", "ab").write(got)' "$PORT" &
    local pp=$! i
    for i in $(seq 1 100); do [ -e fake.ready ] && break; sleep 0.1; done
    run carol_ping -t off
    [ "$status" -eq 76 ]
    [[ "$output" == *"the server offers no mechanism we accept outside TLS"* ]]
    run carol_ping -t off -M PLAIN
    [ "$status" -eq 77 ]
    [[ "$output" == *"PLAIN shows the password: refused outside TLS"* ]]
    wait "$pp"
    grep -q "<stream:stream" seen
    ! grep -q "auth" seen || false
}

@test "a relay key given (-s) but no SIMPP offered: refused rather than a silent ordinary login" {
    start_relay -o tls_required=no
    new_user alice
    stop_relay
    # a server that is not a SIMPP relay: here plain TCP answered by Prosody
    prosody_up localhost
    run simpp-login -c 127.0.0.1:"$P_PORT" -T ca.pem -s relay.pub -k alice.key alice@localhost < /dev/null
    [ "$status" -eq 76 ]
    [[ "$output" == *"does not speak SIMPP (no <simpp/> feature); -x logs in as an ordinary XMPP client"* ]]
    prosody_down
}

@test "simpp-relayd answers PEP requests for a user's key from its directory, unsigned; an unknown user has none" {
    start_relay -o tls_required=no
    new_user alice
    new_user bob
    session alice
    say alice "<iq type='get' id='k1' to='bob@localhost'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:simpp:1:key'/></pubsub></iq>"
    wait_for alice "id='k1'" alice.out
    grep "id='k1'" alice.out | grep -q "<key xmlns='urn:simpp:1' jid='bob@localhost' curve='P-256' level='[a-z]*'><pub>$(openssl pkey -in bob.key -pubout -outform DER | tail -c 65 | base64 -w0)</pub></key>"
    say alice "<iq type='get' id='k2' to='nobody@localhost'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:simpp:1:key'/></pubsub></iq>"
    wait_for alice "id='k2'.*item-not-found|item-not-found.*id='k2'" alice.out
    say alice "<iq type='get' id='k3' to='bob@localhost'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:other'/></pubsub></iq>"
    wait_for alice "id='k3'.*item-not-found|item-not-found.*id='k3'" alice.out
}
