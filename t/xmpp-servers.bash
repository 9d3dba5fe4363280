# t/xmpp-servers.bash - ordinary XMPP servers from Debian on loopback for the
# tests of SIMPP over them and of the client drivers: their own config, data
# and log in the test's directory, any free ports, TLS required with a
# certificate of the test CA (t/tls.bash).  Loaded after helper.bash and
# tls.bash.
#
# prosody_up DOMAIN [lua lines...]   Prosody 0.12 for DOMAIN: sets PROSODY_PID,
#                                    P_PORT (STARTTLS), P_TLSPORT (direct TLS);
#                                    every stanza it sees in prosody.log; the
#                                    certificate P_CERT.pem if set; more
#                                    modules in P_MODULES; server-to-server
#                                    on P_S2S ("ADDRESS PORT") if set
# prosody_account DOMAIN USER PASS   an account (the password kept in clear)
# prosody_logouts JID                how each session of JID ended
# prosody_down
# a user on such a server: NAME.key (SIMPP), NAME.pw (the server password);
# or of simpp-relayd, when NAME is in RELAY_USERS
# xreg NAME DOMAIN PORT [simpp-register options]   publish NAME's key in PEP
# xlogin NAME DOMAIN PORT [simpp-login options] [-- program...]
# xe2e NAME DOMAIN PORT PEER [simpp-session options]: as e2e in helper.bash
# xsession NAME DOMAIN PORT          NAME logged in, stanzas in through
#                                    NAME.in, out in NAME.out
# ejabberd_up NAME DOMAIN [yaml...]  ejabberd 23.01 node NAME (ejabberd@127.0.0.1
#                                    style names are built from it): sets
#                                    E_PORT_NAME, E_TLSPORT_NAME; server-to-
#                                    server on E_S2S ("ADDRESS PORT") if set
# ejabberd_account NAME USER DOMAIN PASS
# ejabberd_down NAME
# dns_up, dns_server DOMAIN ADDRESS PORT, dns_down: names for federation, a
#                                    DNS stub the servers started after
#                                    dns_up use (srv_run)
srv_cert() {   # srv_cert NAME DOMAIN: NAME.pem/.key for DOMAIN, made once
    [ -f ca.pem ] || make_ca
    [ -f "$1.pem" ] || make_cert "$1" 30 ec "$2"
}

prosody_up() {
    local domain=$1; shift
    command -v prosody > /dev/null || { echo "prosody missing (make deps)" >&2; return 1; }
    local cert=${P_CERT:-prosody}
    [ -n "${P_CERT:-}" ] || srv_cert prosody "$domain"
    mkdir -p "$TMP/prosody-data"
    P_PORT=$(free_port)
    P_TLSPORT=$(free_port)
    local extra s2s='s2s_ports = { }
modules_disabled = { "s2s" }'
    extra=$(printf '%s\n' "$@")
    if [ -n "${P_S2S:-}" ]; then
        # federation: certificates both ways (SASL EXTERNAL), nothing weaker
        s2s="s2s_ports = { ${P_S2S#* } }
s2s_interfaces = { \"${P_S2S% *}\" }
s2s_require_encryption = true
s2s_secure_auth = true"
    fi
    cat > "$TMP/prosody.cfg.lua" <<CFG
run_as_root = true
daemonize = false
pidfile = "$TMP/prosody.pid"
data_path = "$TMP/prosody-data"
interfaces = { "127.0.0.1" }
c2s_ports = { $P_PORT }
c2s_direct_tls_ports = { $P_TLSPORT }
c2s_require_encryption = true
authentication = "internal_plain"
log = { debug = "$TMP/prosody.log" }
modules_enabled = { "roster", "saslauth", "tls", "disco", "ping", "offline", "pep", "posix", "stanza_debug", ${P_MODULES:-} }
ssl = { certificate = "$TMP/$cert.pem", key = "$TMP/$cert.key", cafile = "$TMP/ca.pem" }
$s2s
$extra
VirtualHost "$domain"
CFG
    # prosody.log is the running one's: an earlier one's is kept aside
    [ -f "$TMP/prosody.log" ] && cat "$TMP/prosody.log" >> "$TMP/prosody.log.old" && rm -f "$TMP/prosody.log"
    srv_run
    "${SRV_RUN[@]}" prosody -F --config "$TMP/prosody.cfg.lua" > "$TMP/prosody.out" 2>&1 &
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
# prosody_logouts JID: for each session of JID in prosody.log, its
# resource and "closed" (the client closed its stream) or "dropped"
prosody_logouts() {
    awk -F'\t' -v jid="$1" '
        { n = split($1, w, " "); id = w[n] }
        index($3, "<jid>" jid "/") { r = substr($3, index($3, "<jid>" jid "/") + length(jid) + 6); sub("<.*", "", r); res[id] = r }
        $3 == "Received </stream:stream>" { closed[id] = 1 }
        END { for (id in res) print res[id], (id in closed ? "closed" : "dropped") }' "$TMP/prosody.log"
}
prosody_down() {
    [ -n "${PROSODY_PID:-}" ] || return 0
    kill -TERM "$PROSODY_PID" 2>/dev/null || true
    wait "$PROSODY_PID" 2>/dev/null || true
    PROSODY_PID=
}

# xopts NAME: how NAME logs in (XO): a user of simpp-relayd (named in
# RELAY_USERS; the relay's key in relay.pub) with SIMPP, the others as
# ordinary clients with their server password (NAME.pw on fd 3).  xreg
# registers a user of simpp-relayd with -F: the key signed for the users of
# other servers.
xopts() {
    if [[ " ${RELAY_USERS:-} " == *" $1 "* ]]; then XO=(-s "$TMP/relay.pub"); else XO=(-W 3); fi
}
xreg() {
    local n=$1 d=$2 p=$3
    shift 3
    xopts "$n"
    [ "${XO[0]}" = -s ] && XO+=(-F)
    simpp-register -c 127.0.0.1:"$p" -T ca.pem -k "$n.key" "${XO[@]}" "$@" "$n@$d" 3< "$n.pw"
}
xlogin() {
    local n=$1 d=$2 p=$3 opts=()
    shift 3
    while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    xopts "$n"
    simpp-login -c 127.0.0.1:"$p" -T ca.pem -k "$n.key" "${XO[@]}" "${opts[@]}" "$n@$d" "$@" 3< "$n.pw"
}
xe2e() {
    local name=$1 d=$2 p=$3 peer=$4
    shift 4
    mkfifo "$name.in"
    xopts "$name"
    SIMPP_HOME="$TMP/$name.home" simpp-login -c 127.0.0.1:"$p" -T ca.pem -k "$name.key" "${XO[@]}" -r s \
        "$name@$d" simpp-session -j "$@" "$peer" < "$name.in" > "$name.out" 2> "$name.err" 3< "$name.pw" &
    eval "pid_$name=$!"
    SESSION_PIDS="${SESSION_PIDS:-} $!"
    eval "exec {fd_$name}>$name.in"
}
# xsession NAME DOMAIN PORT: NAME logged in (resource t), stanzas in
# through NAME.in (held open), out in NAME.out
xsession() {
    local n=$1 d=$2 p=$3
    mkfifo "$n.in"
    xlogin "$n" "$d" "$p" -r t < "$n.in" > "$n.out" 2> "$n.err" &
    SESSION_PIDS="${SESSION_PIDS:-} $!"
    eval "exec {fd_$n}>$n.in"
}
# xuser NAME: a SIMPP key and a server password
xuser() {
    simpp-keygen -q "$1.key" > /dev/null
    printf '%s pass %s\n' "$1" "$RANDOM" > "$1.pw"
}

# ---- ejabberd ------------------------------------------------------------
# ejabberd_up NAME DOMAIN [yaml lines for the top level]: node NAME@localhost
# with its config, spool and logs in $TMP/ej-NAME (owned by the ejabberd
# user, as ejabberdctl runs it), Erlang distribution on loopback only; sets
# E_PORT and E_TLSPORT (and E_PORT_NAME, E_TLSPORT_NAME)
ejctl() {   # ejctl NAME command...
    local n=$1
    shift
    srv_run
    "${SRV_RUN[@]}" ejabberdctl -c "$TMP/ej-$n/ctl.cfg" -f "$TMP/ej-$n/ejabberd.yml" -s "$TMP/ej-$n/spool" \
        -l "$TMP/ej-$n/logs" -n "$n@localhost" "$@"
}
ejabberd_up() {
    local n=$1 domain=$2 dir=$TMP/ej-$1
    shift 2
    command -v ejabberdctl > /dev/null || { echo "ejabberd missing (make deps)" >&2; return 1; }
    srv_cert ej "$domain"
    mkdir -p "$dir/spool" "$dir/logs"
    cat ej.pem ej.key > "$dir/cert.pem"
    E_PORT=$(free_port)
    E_TLSPORT=$(free_port)
    eval "E_PORT_$n=$E_PORT E_TLSPORT_$n=$E_TLSPORT"
    cat > "$dir/ctl.cfg" <<CFG
ERL_EPMD_ADDRESS=127.0.0.1
INET_DIST_INTERFACE=127.0.0.1
ERLANG_NODE=$n@localhost
EJABBERD_PID_PATH=$dir/ejabberd.pid
CFG
    {
        printf 'hosts: ["%s"]\nloglevel: info\ncertfiles: ["%s/cert.pem"]\nca_file: "%s/ca.pem"\n' "$domain" "$dir" "$TMP"
        printf 'auth_method: internal\nauth_password_format: plain\nlisten:\n'
        printf '  - {port: %s, ip: "127.0.0.1", module: ejabberd_c2s, starttls_required: true}\n' "$E_PORT"
        printf '  - {port: %s, ip: "127.0.0.1", module: ejabberd_c2s, tls: true}\n' "$E_TLSPORT"
        if [ -n "${E_S2S:-}" ]; then
            # federation: TLS required, the peer's certificate checked
            # against the test CA (SASL EXTERNAL); no dialback module
            printf '  - {port: %s, ip: "%s", module: ejabberd_s2s_in}\n' "${E_S2S#* }" "${E_S2S% *}"
            printf 's2s_use_starttls: required\ns2s_cafile: "%s/ca.pem"\n' "$dir"
        fi
        printf 'acl: {local: {user_regexp: ""}}\naccess_rules: {local: {allow: local}, pubsub_createnode: {allow: local}}\n'
        printf 'modules:\n  mod_roster: {}\n  mod_disco: {}\n  mod_caps: {}\n  mod_ping: {}\n  mod_offline: {}\n'
        printf '  mod_pubsub: {plugins: ["flat", "pep"], access_createnode: pubsub_createnode}\n'
        printf '%s\n' "$@"
    } > "$dir/ejabberd.yml"
    cp ca.pem "$dir/"
    chmod 711 "$TMP"
    chown -R ejabberd:ejabberd "$dir"
    ejctl "$n" start > "$dir/start.out" 2>&1 || { cat "$dir/start.out" >&2; return 1; }
    # "started" waits for the node (up to its own timeout)
    if ! timeout 60 ejabberdctl -c "$dir/ctl.cfg" -n "$n@localhost" started > /dev/null 2>&1; then
        echo "ejabberd $n did not start:" >&2
        cat "$dir/logs/"*.log "$dir/start.out" >&2 2>/dev/null
        return 1
    fi
    local i
    for i in $(seq 1 100); do
        nc -z 127.0.0.1 "$E_PORT" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "ejabberd $n does not listen on $E_PORT" >&2
    return 1
}
ejabberd_account() {   # NAME USER DOMAIN PASSWORD
    ejctl "$1" register "$2" "$3" "$4" > /dev/null
}
ejabberd_down() {
    [ -d "$TMP/ej-$1" ] || return 0
    ejctl "$1" stop > /dev/null 2>&1 || true
    # gone once the port mapper no longer knows the node
    local i
    for i in $(seq 1 300); do
        epmd -names 2>/dev/null | grep -q "^name $1 " || return 0
        sleep 0.1
    done
    echo "ejabberd $1 did not stop" >&2
}

# whole_session DOMAIN_A PORT_A DOMAIN_B PORT_B LOG: alice (on A) and bob (on
# B) publish their keys and run the whole of simpp-session: first contact
# (each asks for the other's presence, the key's access model), chat with
# ACKs and equal transcripts, a file, a rekey, a video invitation, a pager
# message while bob is away, and that message replayed (as a server could)
# refused.  LOG: the server's record, where the video keys must not be.
# The texts start with MARKER- for the caller to look for.
whole_session() {
    local da=$1 pa=$2 db=$3 pb=$4 log=$5 a b ka kb stanza
    xreg alice "$da" "$pa" > /dev/null
    xreg bob "$db" "$pb" > /dev/null
    printf 'a file through the server\n' > note.txt
    mkdir inbox
    xe2e bob "$db" "$pb" "alice@$da" -o "$TMP/inbox" -a
    xe2e alice "$da" "$pa" "bob@$db"
    # first contact: each asks to see the other's presence (the key's
    # access model) and agrees to the other's request, then C1-C7
    wait_for alice "^session chacha20-poly1305 bob@$db/s" alice.out 20
    wait_for bob "^session chacha20-poly1305 alice@$da/s" bob.out
    say alice "MARKER--1 hello bob"
    wait_for bob "^msg 1 alice@$da MARKER--1 hello bob" bob.out
    wait_for alice "^ack 1" alice.out
    say bob "hello alice"
    wait_for alice "^msg 1 bob@$db hello alice" alice.out
    say alice "/file $TMP/note.txt"
    wait_for bob "^file-received note.txt" bob.out
    cmp note.txt inbox/note.txt
    say alice "/rekey"
    wait_for alice "^rekeyed" alice.out
    say alice "after the rekey"
    wait_for bob "after the rekey" bob.out
    say alice "/video codec=mjpeg w=320 h=240"
    wait_for bob "^video-invite [0-9a-f]* codec=mjpeg w=320 h=240" bob.out
    wait_for alice "^video [0-9a-f]* " alice.out
    wait_for bob "^video [0-9a-f]* " bob.out
    [ "$(awk '/^video /{print $2}' alice.out)" = "$(awk '/^video /{print $2}' bob.out)" ]
    ka=$(awk '/^video /{print $3}' alice.out)
    kb=$(awk '/^video /{print $3}' bob.out)
    [ "$(awk '/^send/{print $2}' "$ka")" = "$(awk '/^recv/{print $2}' "$kb")" ]
    ! grep -q "$(awk '/^send/{print $2}' "$ka")" "$log" || false
    end_session alice
    wait "$pid_alice"
    end_session bob
    wait "$pid_bob" || true
    a=$(grep '^transcript' alice.out | tail -1)
    b=$(grep '^transcript' bob.out | tail -1)
    [ -n "$a" ] && [ "$a" = "$b" ]
    # bob away: a pager message, kept by the server's offline storage
    rm -f alice.in bob.in
    echo "MARKER--2 while you were away" > in
    SIMPP_HOME=$TMP/alice.home xlogin alice "$da" "$pa" -v -- simpp-session -j -w 2 bob@$db < in > alice2.out 2> alice2.err
    grep -q '^pager-sent' alice2.out
    xe2e bob "$db" "$pb" "alice@$da" -w 1
    wait_for bob "^pager alice@$da [0-9T:-]*Z MARKER--2 while you were away" bob.out
    end_session bob
    wait "$pid_bob" || true
    # the server sends it again (as a server could): refused as a replay
    stanza=$(grep -o "^simpp-login: > <message[^>]*to='bob@$db'.*t='p'.*</message>" alice2.err | head -1 | sed 's/^simpp-login: > //')
    [ -n "$stanza" ]
    echo "$stanza" | xlogin alice "$da" "$pa" > /dev/null
    rm -f bob.in
    xe2e bob "$db" "$pb" "alice@$da" -w 1
    wait_for bob "^error a pager message from alice@$da.* was replayed: refused" bob.out
    end_session bob
    wait "$pid_bob" || true
}

# ---- names for federation -----------------------------------------------
# Prosody's resolver (net.dns, pure Lua) reads /etc/resolv.conf and asks a
# name server, never /etc/hosts; ejabberd asks for SRV records through
# Erlang's inet_res (resolv.conf too) and for addresses through
# getaddrinfo; simpp-relayd through res_query.  So the servers' names come
# from a DNS stub (t/tools/dnsstub.py) on a loopback address of a random
# 127.x.y network, DNS_NET.53, and the servers run in a private mount
# namespace where /etc/resolv.conf names it (srv_run).
# dns_up: the stub, answering from $TMP/zone (read again when it changes);
# its questions in dns.log
dns_up() {
    : >> "$TMP/zone"
    local i j
    for i in 1 2 3 4 5; do
        DNS_NET=127.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1))
        rm -f "$TMP/dns.ready"
        /usr/bin/python3 "$SIMPP_TOP/t/tools/dnsstub.py" "$DNS_NET.53" "$TMP/zone" "$TMP/dns.ready" 2>> "$TMP/dns.log" &
        DNS_PID=$!
        for j in $(seq 1 50); do
            [ -s "$TMP/dns.ready" ] && break
            kill -0 "$DNS_PID" 2>/dev/null || break
            sleep 0.1
        done
        if [ -s "$TMP/dns.ready" ]; then
            printf 'nameserver %s.53\noptions attempts:2 timeout:1\n' "$DNS_NET" > "$TMP/resolv.conf"
            return 0
        fi
        stop_var DNS_PID
    done
    echo "the DNS stub did not start:" >&2
    cat "$TMP/dns.log" >&2
    return 1
}
dns_add() { printf '%s\n' "$*" >> "$TMP/zone"; }
# dns_server DOMAIN ADDRESS PORT: DOMAIN's server-to-server service
dns_server() {
    dns_add "$1 A $2"
    dns_add "_xmpp-server._tcp.$1 SRV 0 5 $3 $1"
}
dns_down() { stop_var DNS_PID; }
# srv_run: SRV_RUN, the command prefix that gives a program the stub for
# its resolver once dns_up ran (nothing before): "${SRV_RUN[@]}" prog...
# (the prefix execs the program: a background one's $! is its own pid)
srv_run() {
    SRV_RUN=()
    [ -z "${DNS_PID:-}" ] ||
        SRV_RUN=(unshare --mount --propagation private sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"'
                 "$TMP/resolv.conf")
}
