#!/usr/bin/env bats
# Keys on PKCS#11 tokens: a SoftHSM2 token made by each test (softhsm2-util,
# its own SOFTHSM2_CONF), the key made on it by simpp-keygen, register,
# login and a whole simpp-session chat with the private key never leaving it.
load helper
load token

setup() {
    common_setup
    make_token
}


@test "simpp-keygen makes the key pair on the token: sensitive, never extractable, both halves there" {
    token_key alice
    grep -q '^SHA256:' alice.fpr
    # OpenSC's pkcs11-tool, another PKCS#11 client, sees what the token holds
    pkcs11-tool --module "$SOFTHSM_MODULE" --token-label simpp -l --pin 1234 --list-objects > objs 2>&1
    grep -A4 'Private Key Object; EC' objs | grep -q 'label: *alice'
    grep -A4 'Private Key Object; EC' objs | grep 'Access:' | grep -q 'never extractable'
    grep -A4 'Private Key Object; EC' objs | grep 'Access:' | grep -q 'always sensitive'
    grep -A4 'Private Key Object; EC' objs | grep 'Usage:' | grep -q 'sign.*derive'
    # the public key written is the token's, and -y reads it back without the PIN
    [ "$(openssl_fpr alice.pub)" = "$(cat alice.fpr)" ]
    run simpp-keygen -y -q "$(token_uri alice)" < /dev/null
    [ "$status" -eq 0 ]
    [ "$output" = "$(cat alice.fpr)" ]
    # the module from p11-kit's configuration (Debian's softhsm2.module) works too
    run simpp-keygen -y -q "pkcs11:token=simpp;object=alice" < /dev/null
    [ "$status" -eq 0 ]
    [ "$output" = "$(cat alice.fpr)" ]
    # no second key of the same name
    run simpp-keygen -q -E 3 "$(token_uri alice)" 3< pin
    [ "$status" -eq 73 ]
    [[ "$output" == *"already holds an object of that name"* ]]
    # file options make no sense for a token
    run simpp-keygen -e -E 3 "$(token_uri carol)" 3< pin
    [ "$status" -eq 64 ]
}

@test "the PIN never on the command line: a URI with pin-value is refused before anything is done" {
    run simpp-keygen -q "pkcs11:token=simpp;object=alice?pin-value=1234&module-path=$SOFTHSM_MODULE"
    [ "$status" -eq 64 ]
    [[ "$output" == *"no PIN in the URI"* ]]
    run simpp-keygen -q "pkcs11:token=simpp;object=alice?pin-source=file:$TMP/pin&module-path=$SOFTHSM_MODULE"
    [ "$status" -eq 64 ]
    # and none was made
    ! pkcs11-tool --module "$SOFTHSM_MODULE" --token-label simpp -l --pin 1234 --list-objects 2>&1 | grep -q alice || false
}

@test "register, log in and chat with the key on the token" {
    start_relay
    token_key alice
    simpp-keygen -q bob.key > /dev/null
    run simpp-register -c 127.0.0.1:$PORT -s relay.pub -k "$(token_uri alice)" -E 3 alice@localhost 3< pin
    [ "$status" -eq 0 ]
    [[ "$output" == *"registered alice@localhost key $(cat alice.fpr) "* ]]
    simpp-register -c 127.0.0.1:$PORT -s relay.pub -k bob.key bob@localhost > /dev/null
    # bob writes first: alice is offline, so it is a pager message she opens
    # with ECDH on the token
    printf 'while you were away\n' | SIMPP_HOME=$TMP/bob.home simpp-login -c 127.0.0.1:$PORT -s relay.pub \
        -k bob.key bob@localhost simpp-session -j -w 1 alice@localhost > bob0.out 2> bob0.err
    grep -q '^pager-sent' bob0.out
    e2e bob alice
    wait_for bob "offline alice@localhost" bob.out
    e2e_token alice bob
    wait_for alice "^pager bob@localhost [0-9T:-]*Z while you were away" alice.out
    wait_for alice "^session chacha20-poly1305 bob@localhost/s" alice.out
    wait_for bob "^session chacha20-poly1305 alice@localhost/s" bob.out
    say alice "hello from the token"
    wait_for bob "^msg 1 alice@localhost hello from the token" bob.out
    say bob "hi token"
    wait_for alice "^msg 1 bob@localhost hi token" alice.out
    wait_for alice "^ack 1" alice.out
    say alice "/safety"
    say bob "/safety"
    wait_for alice "^safety" alice.out
    wait_for bob "^safety" bob.out
    [ "$(grep '^safety' alice.out)" = "$(grep '^safety' bob.out)" ]
    # bob pinned the token's key
    [ "$(openssl_fpr bob.home/pins/alice@localhost.pub)" = "$(cat alice.fpr)" ]
    end_session alice
    wait "$pid_alice"
    wait_for bob "^bye alice@localhost" bob.out
    ! grep -q '^error' alice.out bob.out || false
}

@test "wrong PIN: a clear error, EX_NOPERM, and the token says how many tries are left" {
    start_relay
    token_key alice
    echo 9999 > bad
    run simpp-register -c 127.0.0.1:$PORT -s relay.pub -k "$(token_uri alice)" -E 3 alice@localhost 3< bad
    [ "$status" -eq 77 ]
    [[ "$output" == *"token 'simpp': wrong PIN"* ]]
    run simpp-keygen -q -E 3 "$(token_uri carol)" 3< bad
    [ "$status" -eq 77 ]
    # no terminal and no fd: said, not guessed
    run setsid simpp-login -c 127.0.0.1:$PORT -s relay.pub -k "$(token_uri alice)" alice@localhost < /dev/null
    [ "$status" -eq 64 ]
    [[ "$output" == *"PIN: no terminal to ask on"* ]]
}

@test "missing module, no such token, no such key: each its own message and code" {
    start_relay
    token_key alice
    # URI | exit code | what the message says
    while IFS='|' read -r uri code says; do
        run simpp-register -c 127.0.0.1:$PORT -s relay.pub -k "$uri" -E 3 alice@localhost 3< pin
        echo "$uri: $status $output"
        [ "$status" -eq "$code" ]
        [[ "$output" == *"$says"* ]]
    done <<EOF2
pkcs11:token=simpp;object=alice?module-path=$TMP/nowhere.so|69|PKCS#11 module $TMP/nowhere.so
pkcs11:token=simpp;object=alice?module-name=no-such-module|69|no module named no-such-module
$(token_uri alice other)|75|no token matches (present: 'simpp'
$(token_uri nobody)|66|no such EC private key on token 'simpp'
pkcs11:token=simpp;object=alice;bogus=1|64|an attribute this program does not know
EOF2
}

@test "a removed token: the next login says so (EX_TEMPFAIL), nothing is sent to the relay" {
    start_relay
    token_key alice
    simpp-register -c 127.0.0.1:$PORT -s relay.pub -k "$(token_uri alice)" -E 3 alice@localhost 3< pin > /dev/null
    softhsm2-util --delete-token --token simpp > /dev/null
    run simpp-login -c 127.0.0.1:$PORT -s relay.pub -k "$(token_uri alice)" -E 3 alice@localhost 3< pin < /dev/null
    [ "$status" -eq 75 ]
    [[ "$output" == *"no token present (is the card inserted"* ]]
    ! grep -q 'login addr=.* jid=alice@localhost' "$RELAY_LOG" || false
}

@test "a token without ECDH: refused with a clear error before login" {
    start_relay
    token_key alice
    # the same token, its module now told to offer no CKM_ECDH1_DERIVE
    echo 'slots.mechanisms = CKM_EC_KEY_PAIR_GEN,CKM_ECDSA' >> "$SOFTHSM2_CONF"
    run simpp-register -c 127.0.0.1:$PORT -s relay.pub -k "$(token_uri alice)" -E 3 alice@localhost 3< pin
    [ "$status" -eq 69 ]
    [[ "$output" == *"cannot do ECDH with this key (CKM_ECDH1_DERIVE)"* ]]
    run simpp-keygen -q -E 3 "$(token_uri carol)" 3< pin
    [ "$status" -eq 69 ]
}

@test "a locked token: said before any PIN is asked or sent, EX_NOUSER" {
    start_relay
    token_key alice
    # SoftHSM2 counts wrong PINs but never locks, as a card does after its
    # tries: set the token's CKF_USER_PIN_LOCKED flag where SoftHSM keeps its
    # flags (CKA_OS_TOKENFLAGS in token.object); the module then reports the
    # token locked through C_GetTokenInfo, as a card's would
    python3 - "$TMP"/tokens/*/token.object <<'PY'
import struct, sys
p = sys.argv[1]; b = bytearray(open(p, 'rb').read())
i = b.index(struct.pack('>Q', 0x8000534b))          # CKA_OS_TOKENFLAGS, then kind, value
v = struct.unpack('>Q', b[i + 16:i + 24])[0]
b[i + 16:i + 24] = struct.pack('>Q', v | (1 << 18))  # CKF_USER_PIN_LOCKED
open(p, 'wb').write(b)
PY
    pkcs11-tool --module "$SOFTHSM_MODULE" -L | grep -q 'user PIN locked'
    # no fd, no terminal: had a PIN been asked for, this would be EX_USAGE
    run setsid simpp-register -c 127.0.0.1:$PORT -s relay.pub -k "$(token_uri alice)" alice@localhost < /dev/null
    [ "$status" -eq 67 ]
    [[ "$output" == *"token 'simpp': the PIN is locked (too many wrong PINs)"* ]]
    run simpp-login -c 127.0.0.1:$PORT -s relay.pub -k "$(token_uri alice)" -E 3 alice@localhost 3< pin < /dev/null
    [ "$status" -eq 67 ]
}

@test "the private scalar is in neither process: their memory (a core dump) holds none" {
    start_relay
    token_key alice
    simpp-keygen -q bob.key > /dev/null
    simpp-register -c 127.0.0.1:$PORT -s relay.pub -k "$(token_uri alice)" -E 3 alice@localhost 3< pin > /dev/null
    simpp-register -c 127.0.0.1:$PORT -s relay.pub -k bob.key bob@localhost > /dev/null
    e2e bob alice
    wait_for bob "offline alice@localhost" bob.out
    e2e_token alice bob
    wait_for bob "^session chacha20-poly1305 alice@localhost/s" bob.out
    say alice "signed and agreed on the token"
    wait_for bob "^msg 1 alice@localhost signed and agreed on the token" bob.out
    wait_for alice "^ack 1" alice.out
    # both of alice's processes, mid-session, after every private-key use:
    # their memory as a core dump would hold it
    sp=$(pgrep -P "$pid_alice")
    run python3 "$SIMPP_TOP/t/tools/scalarscan.py" alice.pub "pid:$sp" "pid:$pid_alice"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" =~ candidates\ [1-9][0-9]{3,} ]]
    # the same scan finds bob's scalar in his session (a key file's key is in
    # memory): the scan would see alice's, were it there
    run python3 "$SIMPP_TOP/t/tools/scalarscan.py" bob.key.pub "pid:$(pgrep -P "$pid_bob")"
    echo "$output"
    [ "$status" -eq 1 ]
    [[ "$output" == *"FOUND at"* ]]
}
