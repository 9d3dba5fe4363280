#!/usr/bin/env bats
# Checks of simpp-relayd that only a client which breaks the rules meets:
# what a well-behaved simpp client never sends must still be refused
# (each test here kills a mutant of t/mutants.txt, see doc/SECURITY.md).
load helper

# wait_listen PORT: until something listens on the loopback PORT (without
# connecting to it: the proxies take one connection only)
wait_listen() {
    local i
    for i in $(seq 1 100); do
        ss -Hltn "sport = :$1" | grep -q . && return 0
        sleep 0.1
    done
    return 1
}

@test "registration closed (register = no): not offered, and an R1 sent anyway is refused" {
    # a genuine R1, made against an open relay with the same key
    start_relay
    simpp-keygen -q eve.key > /dev/null
    simpp-register -v -c 127.0.0.1:$PORT -s relay.pub -k eve.key eve@localhost 2> trace > /dev/null
    r1=$(grep -o "<r1>[^<]*</r1>" trace)
    [ -n "$r1" ]
    stop_relay
    rm -rf data
    start_relay -o register=no
    run simpp-register -c 127.0.0.1:$PORT -s relay.pub -k eve.key eve@localhost
    [ "$status" -ne 0 ]
    [[ "$output" == *"the relay does not take registrations"* ]]
    raw_stream "<iq type='set' id='r'><register xmlns='urn:simpp:1'>$r1</register></iq>"
    [[ "$output" != *"register='true'"* ]]
    [[ "$output" == *"<iq type='error' id='r'><error type='cancel'><not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"* ]]
    [[ "$output" != *"<r2>"* ]]
    grep -q 'register-refused addr=127.0.0.1 reason=closed' "$RELAY_LOG"
    [ "$(sqlite3 data/simpp.db "select count(*) from users")" -eq 0 ]
}

@test "a stanza in clear after a SIMPP login is refused by the relay (injected on the path)" {
    start_relay
    new_user alice
    new_user bob
    session bob
    say bob "<presence/>"
    TP=$(free_port)
    python3 "$SIMPP_TOP/t/tools/tamper.py" $TP $PORT smuggle &
    SESSION_PIDS="$SESSION_PIDS $!"
    wait_listen $TP
    run simpp-login -c 127.0.0.1:$TP -s relay.pub -k alice.key -r sm alice@localhost <<'IN'
<iq type='get' id='one'><ping xmlns='urn:xmpp:ping'/></iq>
<iq type='get' id='two'><ping xmlns='urn:xmpp:ping'/></iq>
IN
    [[ "$output" == *"policy-violation"* ]]
    grep -q "jid=alice@localhost/sm condition=policy-violation text=only SIMPP frames after a SIMPP login" "$RELAY_LOG"
    # bob is still served, and never got the smuggled message
    say bob "<iq type='get' id='alive'><ping xmlns='urn:xmpp:ping'/></iq>"
    wait_for bob "id='alive'" bob.out
    ! grep -q SMUGGLED bob.out || false
}

@test "a wrapped K_A copied to another account's row does not unwrap there" {
    # with write access to the database alone, moving one account's wrapped
    # K_A (one whose K_A is known: the writer's own) into another's row would
    # let the writer log in as the other; the JID is the wrap's associated data
    start_relay
    new_user alice
    new_user mallory
    sqlite3 data/simpp.db "update users set wka = (select wka from users where jid = 'mallory@localhost') where jid = 'alice@localhost'"
    run simpp-login -c 127.0.0.1:$PORT -s relay.pub -k alice.key alice@localhost < /dev/null
    [ "$status" -ne 0 ]
    [[ "$output" == *"temporary-auth-failure"* ]]
    grep -q 'auth-fail .*user=alice@localhost mechanism=SIMPP reason=stored master key does not unwrap' "$RELAY_LOG"
    echo "<presence/>" | simpp-login -c 127.0.0.1:$PORT -s relay.pub -k mallory.key mallory@localhost > /dev/null
}
