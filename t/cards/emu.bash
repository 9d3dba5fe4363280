# t/cards/emu.bash - the emulated card readers, for t/cards.bats,
# t/examples.bats and scripts/try-cards (after t/helper.bash): a Java Card
# behind pcscd and vpcd in a namespace of its own, and a MIFARE Classic
# card on an emulated PN532 reader.  Files go to $TMP.

PIN0=123456             # a fresh contact card's PIN (the emulator's default)
PUK=12345678

# ---- PC/SC in a namespace --------------------------------------------------
# pcsc_up [none|empty]: a namespace with lo up and a private /run; pcscd in it
# with one vpcd reader (none: no pcscd; empty: pcscd without readers).
pcsc_up() {
    [ "$(id -u)" -eq 0 ] || { echo "PC/SC tests need root: each runs pcscd in its own mount and network namespace" >&2; return 1; }
    command -v unshare nsenter pcscd > /dev/null || { echo "missing unshare, nsenter or pcscd (make deps)" >&2; return 1; }
    unshare --mount --net --propagation private sh -c \
        'ip link set lo up && mount -t tmpfs -o mode=0755 tmpfs /run && mkdir /run/pcscd && : > "$1" && exec sleep 3600' \
        sh "$TMP/ns.up" 3>&- 2> "$TMP/ns.err" &
    NS_PID=$!
    local i
    for i in $(seq 1 100); do
        [ -e "$TMP/ns.up" ] && break
        kill -0 "$NS_PID" 2>/dev/null || break
        sleep 0.02
    done
    [ -e "$TMP/ns.up" ] || { echo "unable to make a mount + network namespace for pcscd: $(cat "$TMP/ns.err")" >&2; return 1; }
    NSX=(nsenter -t "$NS_PID" -m -n --wd="$TMP" --)
    [ "${1:-}" = none ] && return 0
    mkdir -p "$TMP/readers"
    # vpcd listens on 35963 for its card: the namespace's own loopback
    [ "${1:-}" = empty ] || cat > "$TMP/readers/vpcd" <<EOF
FRIENDLYNAME "Virtual PCD"
DEVICENAME   /dev/null:35963
LIBPATH      /usr/lib/pcsc/drivers/serial/libifdvpcd.so
CHANNELID    35963
EOF
    "${NSX[@]}" pcscd -f -c "$TMP/readers" > "$TMP/pcscd.log" 2>&1 3>&- &
    PCSCD_PID=$!
    for i in $(seq 1 100); do
        ns test -S /run/pcscd/pcscd.comm && return 0
        sleep 0.02
    done
    echo "pcscd did not start:" >&2
    cat "$TMP/pcscd.log" >&2
    return 1
}
ns() { "${NSX[@]}" "$@"; }
# card_in [vpcd_card.py options]: insert the card (state in card.json);
# returns once pcscd has powered it up
card_in() {
    local i try
    # pcscd may not have let go of the card just taken out: the emulator
    # then ends at once, and is started again (a loaded machine is slow)
    for try in 1 2 3; do
        rm -f "$TMP/card.ready"
        "${NSX[@]}" python3 "$SIMPP_TOP/t/cards/vpcd_card.py" --state "$TMP/card.json" \
            --log "$TMP/apdu.log" --ready "$TMP/card.ready" "$@" 3>&- &
        CARD_PID=$!
        for i in $(seq 1 500); do
            [ -e "$TMP/card.ready" ] && return 0
            kill -0 "$CARD_PID" 2>/dev/null || break
            sleep 0.02
        done
        card_out
        sleep 0.5
    done
    echo "the card emulator did not come up" >&2
    return 1
}
card_out() {
    [ -n "${CARD_PID:-}" ] || return 0
    kill "$CARD_PID" 2>/dev/null || true
    wait "$CARD_PID" 2>/dev/null || true
    CARD_PID=
}
# a relay inside the namespace, through helper.bash's start_relay
ns_relay() {
    mkdir -p "$TMP/nsbin"
    printf '#!/bin/sh\nexec nsenter -t %s -m -n --wd="$PWD" -- "%s/simpp-relayd" "$@"\n' "$NS_PID" "$SIMPP_BIN" \
        > "$TMP/nsbin/simpp-relayd"
    chmod +x "$TMP/nsbin/simpp-relayd"
    PATH="$TMP/nsbin:$PATH" start_relay
}
state() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$TMP/card.json" "$1"; }

# ---- libnfc: a PN532 on a pty ----------------------------------------------
# nfc_up [pn532_mfc.py options]: the reader (and by default a card, whose
# image is card.mfd); LIBNFC_DEVICE points libnfc at it
nfc_up() {
    nfc_down
    python3 "$SIMPP_TOP/t/cards/pn532_mfc.py" --link "$TMP/pn532" --log "$TMP/nfc.log" "$@" 3>&- &
    NFC_PID=$!
    local i
    for i in $(seq 1 150); do
        [ -e "$TMP/pn532" ] && break
        sleep 0.02
    done
    [ -e "$TMP/pn532" ] || { echo "the PN532 emulator did not come up" >&2; return 1; }
    export LIBNFC_DEVICE="pn532_uart:$TMP/pn532" LIBNFC_AUTO_SCAN=false
}
nfc_down() {
    [ -n "${NFC_PID:-}" ] || return 0
    kill "$NFC_PID" 2>/dev/null || true
    wait "$NFC_PID" 2>/dev/null || true
    NFC_PID=
}
block() { dd if="$TMP/card.mfd" bs=16 skip="$1" count=1 2>/dev/null | od -An -v -tx1 | tr -d ' \n'; }

# everything the functions above started, stopped (the relay too)
cards_down() {
    local p
    for p in ${SESSION_PIDS:-}; do kill "$p" 2>/dev/null || true; done
    card_out
    nfc_down
    # SIGKILL: pcscd takes ~2 s to stop cleanly, and its namespace's /run
    # goes away with it anyway
    [ -z "${PCSCD_PID:-}" ] || { kill -9 "$PCSCD_PID" 2>/dev/null; wait "$PCSCD_PID" 2>/dev/null || true; }
    PCSCD_PID=
    stop_relay
    [ -z "${NS_PID:-}" ] || { kill "$NS_PID" 2>/dev/null; wait "$NS_PID" 2>/dev/null || true; }
    NS_PID=
    return 0
}
