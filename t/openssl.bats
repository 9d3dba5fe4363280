#!/usr/bin/env bats
# Cross-checks against an independent implementation: the openssl command.
load helper

sctool() { "$SIMPP_TOOLS/sctool" "$@"; }

@test "a signature made by simpp verifies with openssl (P-256, P-384)" {
    for c in P-256 P-384; do
        simpp-keygen -C $c -f k.key > /dev/null
        head -c 10000 /dev/urandom > msg
        sctool sign k.key < msg > sig.der
        openssl dgst -sha256 -verify k.key.pub -signature sig.der msg
    done
}

@test "a signature made by openssl verifies with simpp; a changed message does not" {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out o.pem 2>/dev/null
    openssl pkey -in o.pem -pubout -out o.pub
    echo 'the message' > msg
    openssl dgst -sha256 -sign o.pem -out sig.der msg
    sctool verify o.pub sig.der < msg
    echo 'the messagf' > msg2
    run sctool verify o.pub sig.der < msg2
    [ "$status" -eq 1 ]
}

@test "a simpp signature fails openssl verification under another key" {
    simpp-keygen a.key > /dev/null
    simpp-keygen b.key > /dev/null
    echo hi > msg
    sctool sign a.key < msg > sig.der
    run openssl dgst -sha256 -verify b.key.pub -signature sig.der msg
    [ "$status" -ne 0 ]
}

@test "ECDH secret agrees with openssl both ways" {
    simpp-keygen a.key > /dev/null
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out b.pem 2>/dev/null
    openssl pkey -in b.pem -pubout -out b.pub
    ours=$(sctool ecdh a.key b.pub | od -An -tx1 | tr -d ' \n')
    theirs=$(openssl pkeyutl -derive -inkey b.pem -peerkey a.key.pub | od -An -tx1 | tr -d ' \n')
    [ ${#ours} -eq 64 ]
    [ "$ours" = "$theirs" ]
    mine2=$(openssl pkeyutl -derive -inkey a.key -peerkey b.pub | od -An -tx1 | tr -d ' \n')
    [ "$ours" = "$mine2" ]
}

@test "ECDH+HKDF agrees with openssl's HKDF" {
    simpp-keygen a.key > /dev/null
    simpp-keygen b.key > /dev/null
    z=$(openssl pkeyutl -derive -inkey a.key -peerkey b.key.pub | od -An -tx1 | tr -d ' \n')
    want=$(openssl kdf -keylen 32 -kdfopt digest:SHA256 -kdfopt hexkey:$z \
           -kdfopt hexsalt:0000000000000000000000000000000000000000000000000000000000000000 \
           -kdfopt info:simpp-test HKDF | tr -d ':' | tr 'A-F' 'a-f')
    [ "$(sctool ecdh-hkdf a.key b.key.pub simpp-test)" = "$want" ]
    [ "$(sctool ecdh-hkdf b.key a.key.pub simpp-test)" = "$want" ]
}

@test "openssl reads our keys; we read openssl's; fingerprints agree" {
    simpp-keygen -C P-384 ours.key > /dev/null
    openssl pkey -in ours.key -check -noout
    openssl pkey -pubin -in ours.key.pub -noout -text | grep -q 'NIST CURVE: P-384'
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out theirs.pem 2>/dev/null
    [ "$(simpp-keygen -y -q theirs.pem)" = "$(openssl_fpr theirs.pem)" ]
    [ "$(simpp-keygen -y -q ours.key)" = "$(openssl_fpr ours.key)" ]
}

@test "PBKDF2-HMAC-SHA256 and -SHA1 agree with openssl kdf: passwords short and longer than a block, keys of several blocks" {
    for h in SHA256 SHA1; do
        for plen in 1 8 63 64 65 200; do
            head -c $plen /dev/urandom > pw
            salt=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
            for len in 20 32 77; do
                iter=$((RANDOM % 300 + 1))
                want=$(openssl kdf -keylen $len -kdfopt digest:$h -kdfopt hexpass:"$(od -An -tx1 pw | tr -d ' \n')" \
                       -kdfopt hexsalt:$salt -kdfopt iter:$iter PBKDF2 | tr -d ':' | tr 'A-F' 'a-f')
                got=$(sctool pbkdf2 "$(echo $h | tr 'A-Z' 'a-z')" $iter $len $salt < pw)
                [ ${#got} -eq $((2 * len)) ]
                [ "$got" = "$want" ] || { echo "$h plen=$plen len=$len iter=$iter: $got != $want"; false; }
            done
        done
    done
}
