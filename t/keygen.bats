#!/usr/bin/env bats
# simpp-keygen: key files, fingerprints, password-derived keys, bad input.
load helper

@test "--help and --version" {
    run simpp-keygen --help
    [ "$status" -eq 0 ]
    [[ "$output" == *"usage: simpp-keygen"* ]]
    run simpp-keygen --version
    [ "$status" -eq 0 ]
    [[ "$output" =~ ^simpp-keygen\ [0-9]+\.[0-9]+ ]]
}

@test "random key: private 0600 PKCS#8, public SPKI, fingerprint printed" {
    run simpp-keygen alice.key
    [ "$status" -eq 0 ]
    [ "$(mode_of alice.key)" = 600 ]
    grep -q -- '-----BEGIN PRIVATE KEY-----' alice.key
    grep -q -- '-----BEGIN PUBLIC KEY-----' alice.key.pub
    # stdout: the public key, then its fingerprint
    [ "${lines[0]}" = "-----BEGIN PUBLIC KEY-----" ]
    [ "${lines[-1]}" = "$(openssl_fpr alice.key.pub)" ]
    # no temporary files left behind
    [ "$(ls | wc -l)" -eq 2 ]
}

@test "stdout pipes into openssl" {
    simpp-keygen k.key | openssl pkey -pubin -noout -text > out.txt
    grep -q 'NIST CURVE: P-256' out.txt
}

@test "P-384 and P-224 keys; unknown curve refused" {
    simpp-keygen -C P-384 k384 >/dev/null
    openssl pkey -in k384 -noout -text | grep -q 'NIST CURVE: P-384'
    simpp-keygen -C P-224 k224 >/dev/null
    openssl pkey -in k224 -noout -text | grep -q 'NIST CURVE: P-224'
    run simpp-keygen -C secp256k1 bad.key
    [ "$status" -eq 64 ]
    [[ "$output" == "simpp-keygen: unknown curve: secp256k1"* ]]
    [ ! -e bad.key ]
}

@test "two random keys differ" {
    a=$(simpp-keygen -q a.key); b=$(simpp-keygen -q b.key)
    [ "$a" != "$b" ]
}

@test "existing file is not replaced without -f" {
    simpp-keygen k.key >/dev/null
    before=$(sha256sum k.key)
    run simpp-keygen k.key
    [ "$status" -eq 73 ]
    [[ "$output" == *"k.key: file exists (use -f to replace it)"* ]]
    [ "$(sha256sum k.key)" = "$before" ]
    run simpp-keygen -f k.key
    [ "$status" -eq 0 ]
    [ "$(sha256sum k.key)" != "$before" ]
}

@test "unwritable path is a clear error" {
    run simpp-keygen /nonexistent/dir/k.key
    [ "$status" -eq 73 ]
    [[ "$output" == "simpp-keygen: unable to write /nonexistent/dir/k.key: No such file or directory" ]]
}

@test "password-derived key is deterministic per account and password" {
    a=$(echo 'correct horse' | simpp-keygen -q -K 1000 -p -i alice@example.org -P 0 a.key)
    b=$(echo 'correct horse' | simpp-keygen -q -K 1000 -p -i alice@example.org -P 0 b.key)
    c=$(echo 'correct horse' | simpp-keygen -q -K 1000 -p -i bob@example.org -P 0 c.key)
    d=$(echo 'correct horsf' | simpp-keygen -q -K 1000 -p -i alice@example.org -P 0 d.key)
    [ "$a" = "$b" ]
    [ "$a" != "$c" ]
    [ "$a" != "$d" ]
    cmp a.key b.key
}

@test "password from another fd" {
    echo 'pw on fd 3' > pw
    run simpp-keygen -q -K 1000 -p -i a@b -P 3 k.key 3<pw
    [ "$status" -eq 0 ]
    [[ "$output" == SHA256:* ]]
}

@test "empty password refused" {
    run simpp-keygen -K 1000 -p -i a@b -P 0 k.key < /dev/null
    [ "$status" -eq 65 ]
    [[ "$output" == "simpp-keygen: password: empty" ]]
    [ ! -e k.key ]
}

@test "-p without account, server key from password: refused" {
    run simpp-keygen -p -P 0 k.key < /dev/null
    [ "$status" -eq 64 ]
    run simpp-keygen -t server -p -i x -P 0 k.key < /dev/null
    [ "$status" -eq 64 ]
    [[ "$output" == *"server key is made from randomness"* ]]
}

@test "password on the command line is refused" {
    run simpp-keygen --password=hunter2 k.key
    [ "$status" -eq 64 ]
    [[ "$output" == *"never taken on the command line"* ]]
    [ ! -e k.key ]
    run simpp-keygen --pass hunter2 k.key
    [ "$status" -eq 64 ]
}

@test "no terminal and no fd: asks nowhere, fails clearly" {
    run setsid simpp-keygen -K 1000 -p -i a@b k.key < /dev/null
    [ "$status" -eq 64 ]
    [[ "$output" == *"no terminal"* ]]
}

@test "encrypted private key: openssl reads it, wrong passphrase refused" {
    echo 's3cret phrase' > pp
    simpp-keygen -K 2000 -E 3 k.key 3<pp >/dev/null
    grep -q 'BEGIN ENCRYPTED PRIVATE KEY' k.key
    ! grep -q 'BEGIN PRIVATE KEY' k.key || false
    openssl pkey -in k.key -passin 'pass:s3cret phrase' -noout
    run simpp-keygen -y -q -E 3 k.key 3<pp
    [ "$status" -eq 0 ]
    [ "$output" = "$(openssl_fpr k.key.pub)" ]
    echo 'wrong' > bad
    run simpp-keygen -y -E 3 k.key 3<bad
    [ "$status" -eq 77 ]
    [[ "$output" == *"wrong passphrase"* ]]
}

@test "-y reads private, public, SEC1 and openssl-made keys" {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out o.pem 2>/dev/null
    run simpp-keygen -y -q o.pem
    [ "$status" -eq 0 ]
    [ "$output" = "$(openssl_fpr o.pem)" ]
    openssl ec -in o.pem -out sec1.pem 2>/dev/null
    grep -q 'BEGIN EC PRIVATE KEY' sec1.pem
    [ "$(simpp-keygen -y -q sec1.pem)" = "$(openssl_fpr o.pem)" ]
    openssl pkey -in o.pem -pubout -out o.pub
    [ "$(simpp-keygen -y -q o.pub)" = "$(openssl_fpr o.pem)" ]
    openssl pkcs8 -topk8 -in o.pem -v2 aes-256-cbc -v2prf hmacWithSHA256 -passout pass:xyz -out enc.pem
    [ "$(echo xyz | simpp-keygen -y -q -E 0 enc.pem)" = "$(openssl_fpr o.pem)" ]
}

@test "bad key files are refused with a reason" {
    echo garbage > g.pem
    run simpp-keygen -y g.pem
    [ "$status" -eq 65 ]
    [[ "$output" == *"g.pem: not a key file"* ]]
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:secp256k1 -out k1.pem 2>/dev/null
    run simpp-keygen -y k1.pem
    [ "$status" -eq 65 ]
    [[ "$output" == *"unsupported curve"* ]]
    run simpp-keygen -y missing.pem
    [ "$status" -eq 66 ]
    # a corrupted public point (last byte of the SPKI flipped) is refused
    simpp-keygen k.key > /dev/null
    openssl pkey -pubin -in k.key.pub -outform DER > pub.der
    python3 -c 'import sys; b=bytearray(open("pub.der","rb").read()); b[-1]^=1; sys.stdout.buffer.write(b)' > bad.der
    openssl base64 -in bad.der | sed '1i-----BEGIN PUBLIC KEY-----' | sed '$a-----END PUBLIC KEY-----' > bad.pub
    run simpp-keygen -y bad.pub
    [ "$status" -eq 65 ]
    [[ "$output" == *"not on the curve"* ]]
}

@test "a private key whose stored public part does not match is refused" {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out a.pem 2>/dev/null
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out b.pem 2>/dev/null
    # splice b's public key into a's SEC1 structure with openssl's asn1 tools
    a_d=$(openssl ec -in a.pem -text -noout 2>/dev/null | sed -n '/priv:/,/pub:/p' | grep -v : | tr -d ' \n:' ; openssl ec -in a.pem -text -noout 2>/dev/null | sed -n '/priv:/,/pub:/p' | grep -E '^ +[0-9a-f:]+$' | tr -d ' \n:')
    b_pub=$(openssl ec -in b.pem -text -noout 2>/dev/null | sed -n '/pub:/,/ASN1/p' | grep -E '^ +[0-9a-f:]+$' | tr -d ' \n:')
    cat > spliced.cnf <<CNF
asn1=SEQUENCE:k
[k]
v=INTEGER:1
d=FORMAT:HEX,OCTETSTRING:$(echo "$a_d" | tail -c 65)
p=EXPLICIT:0,OID:prime256v1
q=EXPLICIT:1,FORMAT:HEX,BITSTRING:$b_pub
CNF
    openssl asn1parse -genconf spliced.cnf -out spliced.der -noout
    { echo '-----BEGIN EC PRIVATE KEY-----'; openssl base64 -in spliced.der; echo '-----END EC PRIVATE KEY-----'; } > spliced.pem
    run simpp-keygen -y spliced.pem
    [ "$status" -eq 65 ]
    [[ "$output" == *"does not match"* ]]
}
