# t/token.bash - a SoftHSM2 token made for one test, in its own directory
# (SOFTHSM2_CONF), the way a user's card would hold the key.  Loaded after
# helper.bash.
#
# make_token [LABEL] [CONF-LINES]   a token (user PIN 1234, SO PIN 87654321) in
#                                 $TMP/tokens; pin holds the PIN for -E fds;
#                                 extra softhsm2.conf lines may follow
# token_uri NAME [LABEL]          the URI of key NAME, with the module given
#                                 explicitly (module-path=)
# token_key NAME [LABEL]          simpp-keygen makes key NAME on the token
SOFTHSM_MODULE=
for m in /usr/lib/softhsm/libsofthsm2.so /usr/lib/*/softhsm/libsofthsm2.so; do
    [ -e "$m" ] && { SOFTHSM_MODULE=$m; break; }
done
make_token() {
    local label=${1:-simpp}
    mkdir -p "$TMP/tokens"
    printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n%s\n' \
        "$TMP" "${2:-}" > "$TMP/softhsm2.conf"
    export SOFTHSM2_CONF="$TMP/softhsm2.conf"
    softhsm2-util --init-token --free --label "$label" --so-pin 87654321 --pin 1234 > /dev/null
    echo 1234 > "$TMP/pin"
}
token_uri() {
    echo "pkcs11:token=${2:-simpp};object=$1?module-path=$SOFTHSM_MODULE"
}
token_key() {
    simpp-keygen -q -E 3 -w "$1.pub" "$(token_uri "$1" "${2:-}")" 3< "$TMP/pin" > "$1.fpr"
}

# e2e_token NAME PEER: as helper.bash's e2e, with NAME's key on the token
# (needs $PORT: start_relay)
e2e_token() {
    mkfifo "$1.in"
    (no_session_fds
     SIMPP_HOME="$TMP/$1.home" exec simpp-login -c 127.0.0.1:$PORT -s relay.pub -k "$(token_uri "$1")" -E 3 -r s \
        "$1@localhost" simpp-session -j "$2@localhost") < "$1.in" > "$1.out" 2> "$1.err" 3< pin &
    eval "pid_$1=$!"
    SESSION_PIDS="${SESSION_PIDS:-} $!"
    eval "exec {fd_$1}>$1.in"
}
