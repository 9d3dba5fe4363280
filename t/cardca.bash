# t/cardca.bash - a card issuer's CA made with the openssl command, as
# doc/CARDS.md tells an operator to make one.  Loaded after helper.bash.
#
# card_ca                       cardca.key, cardca.pem (the issuer), cardca.cnf
#                               and its database for revocations
# card_cert NAME PUB JID [DAYS] NAME.pem: a card certificate for the public
#                               key in PUB naming JID (id-on-xmppAddr); DAYS
#                               may be negative (expired)
# card_revoke NAME              revoke NAME.pem; card_crl writes cardca.crl
card_ca() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout cardca.key \
        -out cardca.pem -days 3650 -subj "/O=simpp test/CN=simpp card issuer" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
    mkdir -p cardca.db
    : > cardca.db/index.txt
    echo 1000 > cardca.db/crlnumber
    cat > cardca.cnf <<CNF
[ca]
default_ca = card
[card]
database = $PWD/cardca.db/index.txt
crlnumber = $PWD/cardca.db/crlnumber
certificate = $PWD/cardca.pem
private_key = $PWD/cardca.key
default_md = sha256
default_crl_days = 30
CNF
    card_crl
}
card_cert() {
    local name=$1 pub=$2 jid=$3 days=${4:-365} key=${5:-cardca}
    # the card's key is on the card: the certificate is made for its public
    # key (-force_pubkey); the request only carries the subject
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
        -subj "/O=simpp test/CN=$jid" -out "$name.csr" 2>/dev/null
    printf 'subjectAltName=otherName:1.3.6.1.5.5.7.8.5;UTF8:%s\nkeyUsage=critical,digitalSignature,keyAgreement\nbasicConstraints=CA:FALSE\n' \
        "$jid" > "$name.ext"
    if [ "$days" -lt 0 ]; then
        faketime -f "-$((1 - days))d" openssl x509 -req -in "$name.csr" -CA "$key.pem" -CAkey "$key.key" \
            -CAcreateserial -force_pubkey "$pub" -extfile "$name.ext" -days 1 -out "$name.pem" 2>/dev/null
    else
        openssl x509 -req -in "$name.csr" -CA "$key.pem" -CAkey "$key.key" -CAcreateserial \
            -force_pubkey "$pub" -extfile "$name.ext" -days "$days" -out "$name.pem" 2>/dev/null
    fi
}
card_revoke() {
    openssl ca -config cardca.cnf -revoke "$1.pem" 2>/dev/null
    card_crl
}
card_crl() {
    openssl ca -config cardca.cnf -gencrl -out cardca.crl 2>/dev/null
}
