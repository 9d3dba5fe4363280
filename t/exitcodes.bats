#!/usr/bin/env bats
# One exit code for each kind of failure, whichever program meets it
# (sysexits.h): a file that is not there 66, a file that is not what it
# should be 65, a wrong passphrase 77; and each man page says so.
load helper

setup() {
    common_setup
    printf 'not a key\n' > junk.key
    simpp-keygen -q good.key > /dev/null
    printf 'right\n' > pp
    printf 'wrong\n' > bad
    simpp-keygen -q -E 3 enc.key 3<pp > /dev/null
}

# expect CODE cmd...: the command fails with CODE and one line on stderr
# that names the program
expect() {
    local code=$1; shift
    run "$@"
    echo "$* -> $status: $output"
    [ "$status" -eq "$code" ]
    [ "${#lines[@]}" -eq 1 ]
    [[ "$output" == "simpp-"*": "* ]]
}

@test "a key file that does not exist: 66 in every program" {
    expect 66 simpp-keygen -y nosuch.key
    expect 66 simpp-register -c 127.0.0.1:9 -s relay.pub -k nosuch.key a@localhost
    expect 66 simpp-login -c 127.0.0.1:9 -s relay.pub -k nosuch.key a@localhost
    expect 66 simpp-relayd -d data -k nosuch.key
    expect 66 simpp-videnc -d -k nosuch.key
}

@test "a key file that is not a key: 65 in every program" {
    expect 65 simpp-keygen -y junk.key
    expect 65 simpp-register -c 127.0.0.1:9 -s relay.pub -k junk.key a@localhost
    expect 65 simpp-login -c 127.0.0.1:9 -s relay.pub -k junk.key a@localhost
    expect 65 simpp-relayd -d data -k junk.key
    chmod 600 junk.key
    expect 65 simpp-videnc -d -k junk.key
}

@test "a wrong passphrase: 77 in every program" {
    expect 77 simpp-keygen -y -E 3 enc.key 3<bad
    expect 77 simpp-register -c 127.0.0.1:9 -s relay.pub -k enc.key -E 3 a@localhost 3<bad
    expect 77 simpp-login -c 127.0.0.1:9 -s relay.pub -k enc.key -E 3 a@localhost 3<bad
    expect 77 simpp-relayd -d data -k enc.key -E 3 3<bad
}

@test "the relay's pin file: missing 66, not a key 65, another key 77" {
    start_relay
    simpp-register -c 127.0.0.1:"$PORT" -s relay.pub -k good.key a@localhost > /dev/null
    expect 66 simpp-login -c 127.0.0.1:"$PORT" -s nosuch.pub -k good.key a@localhost
    expect 65 simpp-login -c 127.0.0.1:"$PORT" -s junk.key -k good.key a@localhost
    simpp-keygen -q -t server -w other.pub other.key > /dev/null
    expect 77 simpp-login -c 127.0.0.1:"$PORT" -s other.pub -k good.key a@localhost
    expect 77 simpp-register -c 127.0.0.1:"$PORT" -s other.pub -k good.key b@localhost
    # first use writes it; where it cannot be written: 73
    mkdir ro && chmod 500 ro
    if [ "$(id -u)" -ne 0 ]; then
        expect 73 simpp-register -c 127.0.0.1:"$PORT" -s ro/relay.pub -k good.key b@localhost
    fi
    expect 73 simpp-register -c 127.0.0.1:"$PORT" -s nodir/relay.pub -k good.key b@localhost
}

@test "each man page lists the codes of these failures" {
    for p in keygen register login videnc; do
        grep -q '^66 (EX_NOINPUT)' "$SIMPP_TOP/doc/simpp-$p.1" || { echo "simpp-$p.1 lacks 66"; false; }
    done
    grep -q '^66 (EX_NOINPUT)' "$SIMPP_TOP/doc/simpp-relayd.8"
    for m in "$SIMPP_TOP"/doc/simpp-*.[18]; do
        grep -q '^\.SH EXIT STATUS' "$m" || { echo "$m has no EXIT STATUS"; false; }
        grep -q '^65 (EX_DATAERR)' "$m" || { echo "$m lacks 65"; false; }
    done
}
