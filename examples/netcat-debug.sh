#!/bin/sh
# netcat-debug.sh - look at a SIMPP relay at stanza level with netcat.
#
#   examples/netcat-debug.sh HOST [PORT [DOMAIN [PINNED]]]
#   examples/netcat-debug.sh relay.example.org 5222 example.org ~/.simpp/relay.pub
#
# Opens a stream to DOMAIN (default localhost, the relay's own default) at
# HOST:PORT (default 5222) and prints what the relay offers before login, one
# element a line: the SASL mechanisms, the relay's public key and its cipher
# suites, in order.  Then the key's fingerprint, in the form
# `simpp-keygen -y -q relay.pub` prints the one you pinned; given PINNED
# (that file, or a fingerprint SHA256:...), the two are compared, and a
# difference is an error (exit 1).  After a SIMPP login everything is sealed
# in <c/> frames; to see the stanzas inside, use simpp-login -v, which prints
# them one a line on stderr.  Needs nc (netcat-openbsd), openssl, base64.
set -eu
usage="usage: netcat-debug.sh HOST [PORT [DOMAIN [PINNED]]]"
host=${1:?$usage}
port=${2:-5222}
domain=${3:-localhost}
pinned=${4:-}
top=$(cd "$(dirname "$0")/.." && pwd)
PATH="${SIMPP_BIN:-$top/bin}:$PATH"
out=$(printf "<?xml version='1.0'?><stream:stream to='%s' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>" "$domain" |
    nc -q 2 "$host" "$port" | sed 's/></>\n</g')
[ -n "$out" ] || { echo "netcat-debug: no answer from $host:$port" >&2; exit 1; }
printf '%s\n' "$out"
if printf '%s' "$out" | grep -q '<stream:error'; then
    echo "netcat-debug: the relay refused the stream to $domain: $(printf '%s' "$out" | sed -n 's/^<\([a-z-]*\) xmlns=.urn:ietf:params:xml:ns:xmpp-streams.*/\1/p' | head -n 1)" >&2
    exit 1
fi
key=$(printf '%s\n' "$out" | sed -n "s/^<simpp .* key='\([^']*\)'.*/\1/p")
curve=$(printf '%s\n' "$out" | sed -n "s/^<simpp .* curve='\([^']*\)'.*/\1/p")
# SubjectPublicKeyInfo (RFC 5480) = these bytes || the point; the fingerprint
# is SHA-256 of it, as simpp-keygen and openssl compute it
case $curve in
P-256) spki=3059301306072a8648ce3d020106082a8648ce3d030107034200 ;;
P-384) spki=3076301006072a8648ce3d020106052b81040022036200 ;;
P-224) spki=304e301006072a8648ce3d020106052b81040021033a00 ;;
*) echo "netcat-debug: no <simpp/> key in the features (curve '$curve')" >&2; exit 1 ;;
esac
fpr=SHA256:$( { printf '%s\n' "$spki" |
        LC_ALL=C awk '{ for (i = 1; i < length($0); i += 2)
            printf "%c", (index("0123456789abcdef", substr($0, i, 1)) - 1) * 16 + index("0123456789abcdef", substr($0, i + 1, 1)) - 1 }'
        printf '%s' "$key" | base64 -d; } | openssl dgst -sha256 -binary | base64 | tr -d '=')
echo "relay key ($curve): $fpr"
[ -n "$pinned" ] || exit 0
case $pinned in
SHA256:*) want=$pinned ;;
*) want=$(simpp-keygen -y -q "$pinned") ;;
esac
if [ "$fpr" = "$want" ]; then
    echo "the same key as $pinned"
else
    echo "netcat-debug: THE RELAY'S KEY IS NOT THE ONE PINNED in $pinned ($want)" >&2
    exit 1
fi
