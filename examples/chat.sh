#!/bin/sh
# chat.sh - what a person types to chat end to end through a SIMPP relay.
#
#   examples/chat.sh RELAY[:PORT] ME PEER
#   examples/chat.sh relay.example.org alice@example.org bob@example.org
#
# RELAY is where the relay listens (port 5222 unless given); ME and PEER are
# accounts of the relay's domain, which need not be RELAY's name.  Keys live
# in $SIMPP_HOME (default ~/.simpp): yours in ME.key, the relay's pinned key
# in relay.pub, your peers' pinned keys in pins/.
#
# Once per account (the first registration pins the relay's key):
#   mkdir -p ~/.simpp
#   simpp-keygen -e ~/.simpp/alice@example.org.key
#   simpp-register -c relay.example.org -s ~/.simpp/relay.pub -k ~/.simpp/alice@example.org.key alice@example.org
# Then every session is one pipeline: simpp-login does S1-S3 and hands the
# encrypted channel (fds 6/7) and the key (fd 8) to simpp-session, which runs
# C1-C7 with the peer.  Type lines; /safety shows the number to compare with
# the peer; /file PATH sends a file; /help lists the rest; /quit (or Ctrl-D)
# ends.  Run from the source tree after `make`, or with the programs on PATH.
set -eu
usage="usage: chat.sh RELAY[:PORT] ME PEER"
relay=${1:?$usage}
me=${2:?$usage}
peer=${3:?$usage}
home=${SIMPP_HOME:-$HOME/.simpp}
top=$(cd "$(dirname "$0")/.." && pwd)
PATH="${SIMPP_BIN:-$top/bin}:$PATH"
SIMPP_HOME=$home
export SIMPP_HOME
exec simpp-login -c "$relay" -s "$home/relay.pub" -k "$home/$me.key" "$me" simpp-session "$peer"
