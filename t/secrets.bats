#!/usr/bin/env bats
# Secrets: compared in constant time, never logged, never left behind.
load helper

@test "every memcmp in the code is on the list of non-secret comparisons" {
    cd "$SIMPP_TOP"
    bad=0
    while IFS= read -r hit; do
        file=${hit%%:*}
        code=$(printf '%s' "${hit#*:*:}" | sed 's/^[[:space:]]*//')
        if ! grep -qxF "$file	$code" t/data/memcmp-allowed.txt; then
            echo "not on the list: $hit" >&2
            bad=1
        fi
    done < <(grep -n -E '\b(memcmp|bcmp|timingsafe_memcmp)\(' lib/*.c lib/*/*.c src/*.c | grep -v '^lib/xmlstream.c')
    [ "$bad" -eq 0 ]
}

@test "tags, MACs and hashes are checked with sc_ct_eq (mem_neq), never ==" {
    cd "$SIMPP_TOP"
    # the libtomcrypt comparison sits in one place only
    [ "$(grep -l 'mem_neq' lib/*.c src/*.c)" = "lib/crypto.c" ]
    # every AEAD open goes through sc_open: the one-call decrypt APIs that do
    # not check tags (crypto.md trap 9) are not called anywhere
    ! grep -nE 'gcm_memory|chacha20poly1305_memory' lib/*.c src/*.c || false
}

@test "a full session's logs hold no password, private key or session secret" {
    start_relay
    printf 'a password nobody should see\n' > pw
    simpp-keygen -q -K 1000 -p -i alice@localhost -P 3 alice.key 3<pw > /dev/null
    simpp-keygen -q bob.key > /dev/null
    simpp-register -v -c 127.0.0.1:$PORT -s relay.pub -p -K 1000 -P 3 alice@localhost 3<pw 2> reg.err
    simpp-register -v -c 127.0.0.1:$PORT -s relay.pub -k bob.key bob@localhost 2>> reg.err
    mkfifo bob.in
    SIMPP_HOME=$TMP/bh simpp-login -v -c 127.0.0.1:$PORT -s relay.pub -k bob.key bob@localhost \
        simpp-session -j -a alice@localhost < bob.in > bob.out 2> bob.err &
    SESSION_PIDS="$!"
    exec {fd_bob}>bob.in
    wait_for bob "^offline alice" bob.out
    printf 'secret chat line\n/video\n' | SIMPP_HOME=$TMP/ah simpp-login -v -c 127.0.0.1:$PORT -s relay.pub \
        -p -K 1000 -P 3 alice@localhost simpp-session -j -w 5 bob@localhost 3<pw > alice.out 2> alice.err
    wait_for bob "secret chat line" bob.out
    exec {fd_bob}>&-
    stop_relay
    logs="$RELAY_LOG reg.err alice.err bob.err"
    # the password, and the private scalars in hex as openssl prints them
    ! grep -q 'a password nobody should see' $logs || false
    for k in alice.key bob.key relay.key; do
        d=$(openssl pkey -in $k -noout -text | sed -n '/priv:/,/pub:/p' | grep -E '^ ' | tr -d ' :\n')
        [ ${#d} -ge 60 ]
        ! grep -qi "$d" $logs || false
        ! grep -qi "${d:0:32}" $logs || false
    done
    # the video keys, which exist only in the 0600 key files
    for f in "$TMP"/ah/video/*.key; do
        s=$(awk '/^send/{print $2}' "$f")
        [ -n "$s" ]
        ! grep -qi "$s" $logs || false
    done
    # and the chat line never reached the relay's log, nor the stanzas the
    # relay handled (the -v traces on stderr; the sessions' events are on stdout)
    grep -q 'urn:simpp:e2e:1' alice.err
    ! grep -q 'secret chat line' "$RELAY_LOG" alice.err bob.err || false
}
