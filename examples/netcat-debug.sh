#!/bin/sh
# netcat-debug.sh - look at a SIMPP relay at stanza level with netcat.
#
#   examples/netcat-debug.sh 127.0.0.1 5222
#
# Opens a stream and prints the relay's features: the SASL mechanisms, the
# relay's public key KU_S (compare its fingerprint with the one you pinned:
# simpp-keygen -y -q relay.pub) and its cipher suites, in order.  After a
# SIMPP login everything is sealed in <c/> frames; to see the stanzas inside,
# use simpp-login -v, which prints them one a line on stderr.
set -eu
host=${1:-127.0.0.1}
port=${2:-5222}
printf "<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>" |
    nc -q 2 "$host" "$port" | sed 's/></>\n</g'
