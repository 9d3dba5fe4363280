#!/usr/bin/env bats
# Short fuzz runs: each libFuzzer target of fuzz/ (built in build/fuzz by
# make fuzz-build, which make check runs) for 3 s from its seed corpus, and
# every input that once broke a target (t/data/fuzz-regress/<target>/).  A
# crash, a sanitizer report, a leak, a violated property or a timeout fails.
# The long runs are make fuzz.
load helper

FUZZ=$SIMPP_TOP/build/fuzz
FUZZFLAGS=(-timeout=5 -rss_limit_mb=1024)

need() {
    [ -x "$FUZZ/$1" ] || skip "$FUZZ/$1 not built (make fuzz-build)"
}

# fuzz TARGET: 3 s or 500,000 inputs, whichever comes first; new inputs go
# to a scratch corpus (the first directory), the seeds are only read
fuzz() {
    need "$1"
    mkdir -p corpus crashes
    run "$FUZZ/$1" "${FUZZFLAGS[@]}" -max_total_time=3 -runs=500000 \
        -artifact_prefix="$TMP/crashes/" corpus "$SIMPP_TOP/fuzz/corpus/$1"
    if [ "$status" -ne 0 ]; then
        echo "$output" | tail -n 60
        ls crashes
        return 1
    fi
    # it ran: the last status line counts executions and coverage
    [[ "$output" == *"Done "*" runs in "* ]]
}

@test "every target in fuzz/ is built and has seeds" {
    local src t n=0
    for src in "$SIMPP_TOP"/fuzz/*.c; do
        t=$(basename "$src" .c)
        [ "$t" = mkseeds ] && continue
        need "$t"
        [ -n "$(ls "$SIMPP_TOP/fuzz/corpus/$t")" ]
        n=$((n + 1))
    done
    [ "$n" -ge 12 ]
}

@test "fuzz xmlstream: stream parser, serialise and parse again" { fuzz xmlstream; }
@test "fuzz simpp_server: S1, R1, R3 and channel frames at the relay" { fuzz simpp_server; }
@test "fuzz simpp_client: R2 and S2 at the client" { fuzz simpp_client; }
@test "fuzz e2e: C3 and pager headers, frames, scripts on a session against a model" { fuzz e2e; }
@test "fuzz e2e_sig: C3, C4 and pager messages behind their signatures" { fuzz e2e_sig; }
@test "fuzz keyfile: PEM key files with and without a passphrase" { fuzz keyfile; }
@test "fuzz der: DER reader, SPKI, PKCS#8" { fuzz der; }
@test "fuzz sasl: SCRAM server and client, PLAIN" { fuzz sasl; }
@test "fuzz cardrec: Java Card and MIFARE records read from a card" { fuzz cardrec; }
@test "fuzz video: sealed records, parameters, fragment reassembly, y4m headers" { fuzz video; }
@test "fuzz payload: file offers and chunks, video messages, BYE, ACK inside frames" { fuzz payload; }
@test "fuzz apdu: a card's answers over several rounds (61 xx, 6C xx), the FCI" { fuzz apdu; }

@test "inputs that once broke a target do not any more" {
    local d t files
    for d in "$SIMPP_TOP"/t/data/fuzz-regress/*/; do
        [ -d "$d" ] || continue
        t=$(basename "$d")
        need "$t"
        files=("$d"*)
        [ -e "${files[0]}" ] || continue
        run "$FUZZ/$t" "${FUZZFLAGS[@]}" "${files[@]}"
        if [ "$status" -ne 0 ]; then
            echo "$output" | tail -n 60
            return 1
        fi
    done
}
