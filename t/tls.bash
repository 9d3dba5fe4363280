# t/tls.bash - a throw-away certificate authority for the TLS tests, made
# with the openssl command.  Loaded after helper.bash.
#
# make_ca                       ca.key, ca.pem (ECDSA P-256)
# make_cert NAME [DAYS] [ALG] [CN]   NAME.key, NAME.pem signed by the CA for
#                               DNS name CN (default localhost); DAYS may be
#                               negative (an expired certificate); ALG ec or rsa;
#                               for both ends of TLS (servers federating
#                               show it as clients too)
make_ca() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
        -out ca.pem -days 30 -subj "/CN=simpp test CA" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
        2>/dev/null
}
make_cert() {
    local name=$1 days=${2:-30} alg=${3:-ec} cn=${4:-localhost}
    if [ "$alg" = rsa ]; then
        openssl req -newkey rsa:2048 -nodes -keyout "$name.key" -out "$name.csr" -subj "/CN=$cn" 2>/dev/null
    else
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$name.key" \
            -out "$name.csr" -subj "/CN=$cn" 2>/dev/null
    fi
    printf 'subjectAltName=DNS:%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n' "$cn" > "$name.ext"
    if [ "$days" -lt 0 ]; then
        # an expired one: valid from 60 days ago until -days days ago
        openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$name.pem" \
            -extfile "$name.ext" -not_before "$(date -u -d '60 days ago' +%Y%m%d%H%M%SZ)" \
            -not_after "$(date -u -d "${days#-} days ago" +%Y%m%d%H%M%SZ)" 2>/dev/null ||
        faketime -f "-60d" openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
            -out "$name.pem" -extfile "$name.ext" -days $((60 + days)) 2>/dev/null
    else
        openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$name.pem" \
            -extfile "$name.ext" -days "$days" 2>/dev/null
    fi
    rm -f "$name.csr" "$name.ext"
    chmod 600 "$name.key"
}
# start_tls_relay [options]: a relay with the test certificate, STARTTLS on
# PORT and direct TLS on TLSPORT
start_tls_relay() {
    [ -f ca.pem ] || make_ca
    [ -f server.pem ] || make_cert server
    start_relay -o tls_cert=server.pem -o tls_key=server.key -o tls_port=0 "$@"
    read -r PORT TLSPORT < ready
}
