# t/tls.bash - a throw-away certificate authority for the TLS tests.
# tls_ca makes tls/ca.pem (the only thing clients are told to trust) and
# tls/ca.key in the test's directory; tls_cert NAME [-k rsa] [-n DNSNAME]
# [-x] signs tls/NAME.pem (certificate, then the CA: a chain as a server
# sends it) and tls/NAME.key for DNSNAME (default localhost), expired with
# -x.  Keys are ECDSA P-256 unless -k rsa (RSA-2048).

# tls_newkey TYPE FILE: a fresh private key in PEM (PKCS#8), mode 0600
tls_newkey() {
    case $1 in
    ec) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$2" ;;
    rsa) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$2" ;;
    *) echo "tls_newkey: $1: ec or rsa" >&2; return 1 ;;
    esac 2>/dev/null && chmod 600 "$2"
}

tls_ca() {
    mkdir -p "$TMP/tls"
    [ -s "$TMP/tls/ca.pem" ] && return 0
    tls_newkey ec "$TMP/tls/ca.key" || return 1
    # valid from a week ago, so that an expired certificate can be signed
    # with a date inside the CA's own validity
    faketime '7 days ago' openssl req -x509 -new -key "$TMP/tls/ca.key" -days 30 -sha256 \
        -subj '/CN=simpp test CA' \
        -addext 'basicConstraints=critical,CA:TRUE' \
        -addext 'keyUsage=critical,keyCertSign,cRLSign' \
        -addext 'subjectKeyIdentifier=hash' \
        -out "$TMP/tls/ca.pem" 2>/dev/null
}

tls_cert() {
    local name=$1 type=ec dns=localhost when=now days=7 OPTIND opt
    shift
    while getopts k:n:x opt; do
        case $opt in
        k) type=$OPTARG ;;
        n) dns=$OPTARG ;;
        x) when='5 days ago' days=2 ;;
        *) return 1 ;;
        esac
    done
    tls_ca || return 1
    local d=$TMP/tls
    tls_newkey "$type" "$d/$name.key" || return 1
    printf '%s\n' "subjectAltName=DNS:$dns" 'basicConstraints=critical,CA:FALSE' \
        'keyUsage=critical,digitalSignature,keyEncipherment' 'extendedKeyUsage=serverAuth,clientAuth' \
        'authorityKeyIdentifier=keyid' > "$d/$name.ext"
    openssl req -new -key "$d/$name.key" -subj "/CN=$dns" -out "$d/$name.csr" 2>/dev/null || return 1
    faketime "$when" openssl x509 -req -in "$d/$name.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
        -set_serial "0x$(openssl rand -hex 8)" -days "$days" -sha256 -extfile "$d/$name.ext" \
        -out "$d/$name.crt" 2>/dev/null || return 1
    cat "$d/$name.crt" "$d/ca.pem" > "$d/$name.pem"
    rm -f "$d/$name.csr" "$d/$name.ext"
}
