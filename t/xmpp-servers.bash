# t/xmpp-servers.bash - ordinary XMPP servers from Debian on loopback for the
# tests of SIMPP over them: their own config, data and log in the test's
# directory, any free ports, TLS required with a certificate of the test
# CA (t/tls.bash).  Loaded after helper.bash and tls.bash.
#
# prosody_up DOMAIN [lua lines...]   Prosody 0.12 for DOMAIN: sets PROSODY_PID,
#                                    P_PORT (STARTTLS), P_TLSPORT (direct TLS)
# prosody_account DOMAIN USER PASS   an account (the password kept in clear)
# prosody_down
# ejabberd_up NAME DOMAIN [yaml...]  ejabberd 23.01 node NAME (ejabberd@127.0.0.1
#                                    style names are built from it): sets
#                                    E_PORT_NAME, E_TLSPORT_NAME
# ejabberd_account NAME USER DOMAIN PASS
# ejabberd_down NAME

srv_cert() {   # srv_cert NAME DOMAIN: NAME.pem/.key for DOMAIN, made once
    [ -f ca.pem ] || make_ca
    [ -f "$1.pem" ] || make_cert "$1" 30 ec "$2"
}

prosody_up() {
    local domain=$1; shift
    command -v prosody > /dev/null || { echo "prosody missing (make deps)" >&2; return 1; }
    srv_cert prosody "$domain"
    mkdir -p "$TMP/prosody-data"
    P_PORT=$(free_port)
    P_TLSPORT=$(free_port)
    local extra
    extra=$(printf '%s\n' "$@")
    cat > "$TMP/prosody.cfg.lua" <<CFG
run_as_root = true
daemonize = false
pidfile = "$TMP/prosody.pid"
data_path = "$TMP/prosody-data"
interfaces = { "127.0.0.1" }
c2s_ports = { $P_PORT }
c2s_direct_tls_ports = { $P_TLSPORT }
s2s_ports = { }
c2s_require_encryption = true
authentication = "internal_plain"
log = { debug = "$TMP/prosody.log" }
modules_enabled = { "roster", "saslauth", "tls", "disco", "ping", "offline", "pep", "posix", "stanza_debug" }
modules_disabled = { "s2s" }
ssl = { certificate = "$TMP/prosody.pem", key = "$TMP/prosody.key" }
$extra
VirtualHost "$domain"
CFG
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
prosody_account() {
    local dir
    dir="$TMP/prosody-data/$(printf '%s' "$1" | sed 's/\./%2e/g; s/-/%2d/g')/accounts"
    mkdir -p "$dir"
    printf 'return { ["password"] = "%s" };\n' "$3" > "$dir/$2.dat"
}
prosody_down() {
    [ -n "${PROSODY_PID:-}" ] || return 0
    kill -TERM "$PROSODY_PID" 2>/dev/null || true
    wait "$PROSODY_PID" 2>/dev/null || true
    PROSODY_PID=
}
