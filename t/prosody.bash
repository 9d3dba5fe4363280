# t/prosody.bash - a Prosody server on loopback, the reference the client
# drivers are checked against: its own config and data in the test's
# directory, any free ports, TLS required with the test CA's certificate,
# every stanza logged (mod_stanza_debug) to prosody.log.
#
# start_prosody: sets PROSODY_PID, PPORT (STARTTLS)
# and PTLSPORT (direct TLS); the certificate is server.pem (make_cert).
# prosody_user NAME PASSWORD: an account NAME@localhost.

start_prosody() {
    command -v prosody > /dev/null || { echo "prosody missing (make deps)" >&2; return 1; }
    [ -s "$TMP/server.pem" ] || return 1
    mkdir -p "$TMP/prosody/localhost/accounts"
    PPORT=$(free_port)
    PTLSPORT=$(free_port)
    cat > "$TMP/prosody.cfg.lua" <<EOF
run_as_root = true
daemonize = false
pidfile = "$TMP/prosody.pid"
data_path = "$TMP/prosody"
interfaces = { "127.0.0.1" }
c2s_ports = { $PPORT }
c2s_direct_tls_ports = { $PTLSPORT }
c2s_require_encryption = true
authentication = "internal_plain"
log = { debug = "$TMP/prosody.log" }
modules_enabled = { "roster", "saslauth", "tls", "disco", "ping", "carbons", "blocklist",
    "vcard_legacy", "private", "offline", "time", "version", "pep", "smacks", "csi_simple",
    "stanza_debug", "posix" }
modules_disabled = { "s2s" }
ssl = { certificate = "$TMP/server.pem", key = "$TMP/server.key" }
VirtualHost "localhost"
EOF
    prosody -F --config "$TMP/prosody.cfg.lua" > "$TMP/prosody.out" 2>&1 &
    PROSODY_PID=$!
    local i
    for i in $(seq 1 100); do
        grep -q "Activated service 'c2s_direct_tls'" "$TMP/prosody.log" 2>/dev/null && return 0
        kill -0 "$PROSODY_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "prosody did not start:" >&2
    cat "$TMP/prosody.out" >&2
    return 1
}
stop_prosody() { stop_var PROSODY_PID; }
# the password kept in the clear (internal_plain): every SCRAM hash offered
prosody_user() {
    printf 'return { ["password"] = "%s" };\n' "$2" > "$TMP/prosody/localhost/accounts/$1.dat"
}
# prosody_logouts JID: for each session of JID in prosody.log, its
# resource and "closed" (the client closed its stream) or "dropped"
prosody_logouts() {
    awk -F'\t' -v jid="$1" '
        { n = split($1, w, " "); id = w[n] }
        index($3, "<jid>" jid "/") { r = substr($3, index($3, "<jid>" jid "/") + length(jid) + 6); sub("<.*", "", r); res[id] = r }
        $3 == "Received </stream:stream>" { closed[id] = 1 }
        END { for (id in res) print res[id], (id in closed ? "closed" : "dropped") }' "$TMP/prosody.log"
}
