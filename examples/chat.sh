#!/bin/sh
# chat.sh - what a person types to chat end to end through a SIMPP relay.
#
#   examples/chat.sh relay.example.org alice@relay.example.org bob@relay.example.org
#
# Once per account (first use pins the relay's key in relay.pub):
#   simpp-keygen -e alice.key
#   simpp-register -c relay.example.org:5222 -s relay.pub -k alice.key alice@relay.example.org
# Then every session is one pipeline: simpp-login does S1-S3 and hands the
# encrypted channel (fds 6/7) and the key (fd 8) to simpp-session, which runs
# C1-C7 with the peer.  Type lines; /safety shows the number to compare with
# the peer; /file PATH sends a file; /quit (or Ctrl-D) ends.
set -eu
relay=${1:?relay host}
me=${2:?your JID}
peer=${3:?peer JID}
key=${KEY:-$HOME/.simpp/$(echo "$me" | cut -d@ -f1).key}
exec simpp-login -c "$relay:5222" -s "${RELAY_PUB:-$HOME/.simpp/relay.pub}" -k "$key" "$me" \
    simpp-session "$peer"
