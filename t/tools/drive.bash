# t/tools/drive.bash - sourced by the client drivers t/tools/drive-*: the
# options they share, a private home, and running a terminal client under
# tmux.  Every driver is called as
#
#   drive-CLIENT [--ca FILE] [--direct] [--mech NAME] [--wait SECONDS]
#                [--home DIR] [--host NAME] PORT JID PEER [TEXT]
#
# with the password as the first line of stdin: it logs in to the server
# on 127.0.0.1:PORT as JID over TLS (STARTTLS, or direct TLS with
# --direct), trusting only the CA in FILE; sends TEXT to PEER if given;
# prints each message from PEER it receives as "PEER: BODY" until the first
# one or --wait seconds (20; 0: do not wait); and logs out.  --mech names
# the SASL mechanism to use, or, for a client that chooses by itself, the
# one it must have used.  --home keeps the client's files (configuration,
# logs) in DIR; by default they go to a temporary directory removed at the
# end.  --host is the server name the client connects to and checks the
# certificate against (localhost).
#
# Exit status: 0 done (a message from PEER came, or none was awaited),
# 1 no message from PEER in time, 2 login refused, 3 TLS or connection
# failed, 4 another mechanism than --mech was used, 64 usage (something
# the client cannot do).

CA='' DIRECT=0 MECH='' WAIT=20 HOMEDIR='' HOST=localhost
drive_usage() { echo "usage: ${0##*/} [--ca FILE] [--direct] [--mech NAME] [--wait SECONDS] [--home DIR] [--host NAME] PORT JID PEER [TEXT]" >&2; exit 64; }
while [ $# -gt 0 ]; do
    case $1 in
    --ca) CA=$2; shift 2 ;;
    --direct) DIRECT=1; shift ;;
    --mech) MECH=$2; shift 2 ;;
    --wait) WAIT=$2; shift 2 ;;
    --home) HOMEDIR=$2; shift 2 ;;
    --host) HOST=$2; shift 2 ;;
    --) shift; break ;;
    -*) drive_usage ;;
    *) break ;;
    esac
done
[ $# -eq 3 ] || [ $# -eq 4 ] || drive_usage
PORT=$1 JID=$2 PEER=$3 TEXT=${4-}
HAVE_TEXT=0; [ $# -eq 4 ] && HAVE_TEXT=1
[ -n "$CA" ] && [ -r "$CA" ] || { echo "${0##*/}: --ca: a readable CA file is needed" >&2; exit 64; }
CA=$(realpath "$CA")
IFS= read -r PASSWORD || { echo "${0##*/}: no password on stdin" >&2; exit 64; }
if [ -n "$HOMEDIR" ]; then
    mkdir -p "$HOMEDIR" && HOMEDIR=$(realpath "$HOMEDIR") || exit 73
    DRIVE_KEEP=1
else
    HOMEDIR=$(mktemp -d "${TMPDIR:-/tmp}/drive.XXXXXX") || exit 73
    DRIVE_KEEP=0
fi
chmod 700 "$HOMEDIR"
DRIVE_CLEANUP=()
drive_exit() {
    local f
    for f in "${DRIVE_CLEANUP[@]}"; do eval "$f"; done
    [ "$DRIVE_KEEP" = 1 ] || rm -rf "$HOMEDIR"
}
trap drive_exit EXIT

# secret FILE: a file only its owner reads, for the client's password
secret_file() { (umask 077; : > "$1"); }

# until COMMAND succeeds, every 0.1 s, for at most SECONDS
poll() {
    local n=$(( $1 * 10 )) i
    shift
    for ((i = 0; i < n; i++)); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}

# ---- a terminal client in tmux, on a server of its own ------------------------
TUI_SOCK=$HOMEDIR/tmux.sock
# tui_start COMMAND...: runs COMMAND in a 160x50 terminal
tui_start() {
    tmux -S "$TUI_SOCK" -f /dev/null new-session -d -s tui -x 160 -y 50 "$@" || return 1
    tmux -S "$TUI_SOCK" set-option -t tui remain-on-exit on > /dev/null
    DRIVE_CLEANUP+=("tmux -S '$TUI_SOCK' kill-server 2>/dev/null")
}
tui_keys() { tmux -S "$TUI_SOCK" send-keys -t tui -l "$1" && tmux -S "$TUI_SOCK" send-keys -t tui Enter; }
tui_screen() { tmux -S "$TUI_SOCK" capture-pane -p -J -t tui 2>/dev/null; }
tui_has() { tui_screen | grep -qE -- "$1"; }
# tui_wait REGEX SECONDS: until the screen shows REGEX
tui_wait() { poll "$2" tui_has "$1"; }
tui_dead() { [ "$(tmux -S "$TUI_SOCK" display-message -p -t tui '#{pane_dead}' 2>/dev/null)" = 1 ]; }
# tui_end SECONDS: until the client has exited
tui_end() { poll "$1" tui_dead; }
