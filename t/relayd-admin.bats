#!/usr/bin/env bats
# simpp-relayd's commands on its store (passwd, list, delete), the domain a
# store keeps, and its --help.
load helper

@test "--help names every option and command, and so does the man page's synopsis" {
    run simpp-relayd --help
    [ "$status" -eq 0 ]
    help=$output
    for o in -v -c -d -k -E -l -D -r -o -h -V -P passwd list delete; do
        grep -qE -- "(^|[ [])$o([] ,]|$)" <<< "$help" || { echo "--help lacks $o"; false; }
    done
    # every option letter getopt takes is in the help
    letters=$(grep -o 'getopt(argc, argv, "[^"]*")' "$SIMPP_TOP/src/simpp-relayd.c" | sed 's/.*"+\{0,1\}\([^"]*\)".*/\1/' | tr -d ':+')
    [ -n "$letters" ]
    for l in $(echo "$letters" | fold -w1); do
        [[ "$help" == *"-$l"* ]] || { echo "--help lacks -$l"; false; }
    done
    synopsis=$(sed -n '/^\.SH SYNOPSIS/,/^\.SH DESCRIPTION/p' "$SIMPP_TOP/doc/simpp-relayd.8")
    for w in passwd list delete '\-D'; do
        [ "$(grep -c -- "$w" <<< "$synopsis")" -ge 1 ] || { echo "synopsis lacks $w"; false; }
    done
    # -D appears in the synopsis of the serving form and of each command
    [ "$(grep -c -- '\\-D' <<< "$synopsis")" -ge 4 ]
    run simpp-relayd frobnicate
    [ "$status" -eq 64 ]
    [[ "$output" == usage:* ]]
}

@test "passwd, list, delete: an account from making to removal, with the relay running" {
    start_relay
    new_user alice
    printf 'carol pass\n' | simpp-relayd -d data passwd carol@localhost -P 0
    run simpp-relayd -d data list
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 2 ]
    [[ "${lines[0]}" =~ ^alice@localhost\ simpp\ level=password\ created=20[0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-9:]{8}Z$ ]]
    [[ "${lines[1]}" =~ ^carol@localhost\ password\ level=xmpp\ created= ]]
    # a SIMPP account that also gets a password
    printf 'alice xmpp\n' | simpp-relayd -d data passwd Alice@LocalHost -P 0
    run simpp-relayd -d data list
    [[ "${lines[0]}" == "alice@localhost simpp+password level=password "* ]]
    # delete: gone from the list, and its login fails
    run simpp-relayd -d data delete alice@localhost
    [ "$status" -eq 0 ]
    [ "$output" = "alice@localhost: deleted" ]
    run simpp-relayd -d data list
    [ "${#lines[@]}" -eq 1 ]
    [[ "${lines[0]}" == carol@localhost* ]]
    run simpp-login -c 127.0.0.1:"$PORT" -s relay.pub -k alice.key alice@localhost < /dev/null
    [ "$status" -ne 0 ]
    run simpp-relayd -d data delete alice@localhost
    [ "$status" -eq 67 ]
    [ "$output" = "simpp-relayd: alice@localhost: no such account" ]
    # the relay still serves the others
    new_user bob
}

@test "another domain's JID is refused, before the password is asked and before a store is made" {
    run simpp-relayd -d data passwd bob@example.org -P 0 <<< 'pw'
    [ "$status" -eq 64 ]
    [ "$output" = "simpp-relayd: bob@example.org: not an account of localhost, the domain of data" ]
    [ ! -e data ]
    # no terminal and no -P: still the domain first
    run simpp-relayd -d data -D example.org passwd bob@example.net < /dev/null
    [ "$status" -eq 64 ]
    [[ "$output" == *"not an account of example.org"* ]]
    [ ! -e data ]
    printf 'pw\n' | simpp-relayd -d data -D example.org passwd bob@example.org -P 0
    run simpp-relayd -d data delete bob@example.net
    [ "$status" -eq 64 ]
    run simpp-relayd -d data delete bob@example.org/res
    [ "$status" -eq 64 ]
    [[ "$output" == *"not a bare JID"* ]]
}

@test "a store keeps its domain: -D that disagrees is refused, no -D serves the store's" {
    printf 'pw\n' | simpp-relayd -d data -D example.org passwd bob@example.org -P 0
    # without -D the commands work on example.org...
    run simpp-relayd -d data passwd carol@localhost -P 0 <<< 'pw'
    [ "$status" -eq 64 ]
    [[ "$output" == *"carol@localhost: not an account of example.org"* ]]
    printf 'pw\n' | simpp-relayd -d data passwd carol@example.org -P 0
    # ... a -D that disagrees is a configuration error, for a command and the relay
    run simpp-relayd -d data -D localhost list
    [ "$status" -eq 78 ]
    [ "$output" = "simpp-relayd: data: the store holds the accounts of example.org, not localhost (give -D example.org, or another -d)" ]
    simpp-keygen -q -t server -w relay.pub relay.key > /dev/null
    run simpp-relayd -d data -k relay.key -D localhost -l 127.0.0.1:0
    [ "$status" -eq 78 ]
    printf 'domain = localhost\n' > relayd.conf
    run simpp-relayd -c relayd.conf -d data -k relay.key -l 127.0.0.1:0
    [ "$status" -eq 78 ]
    # the relay without -D serves example.org
    start_relay
    simpp-keygen -q alice.key > /dev/null
    simpp-register -c 127.0.0.1:"$PORT" -s relay.pub -k alice.key alice@example.org
    run simpp-relayd -d data list
    [ "${#lines[@]}" -eq 3 ]
    [[ "$output" == *"alice@example.org simpp "* ]]
}

@test "a store made before it recorded its domain takes it from its accounts" {
    printf 'pw\n' | simpp-relayd -d data -D example.org passwd bob@example.org -P 0
    sqlite3 data/simpp.db "delete from meta"
    run simpp-relayd -d data passwd dan@localhost -P 0 <<< 'pw'
    [ "$status" -eq 64 ]
    [[ "$output" == *"not an account of example.org"* ]]
    [ "$(sqlite3 data/simpp.db "select value from meta where key='domain'")" = example.org ]
}

@test "list and delete without a store: 66, and nothing is made" {
    run simpp-relayd -d nowhere list
    [ "$status" -eq 66 ]
    [[ "$output" == "simpp-relayd: no store in nowhere"* ]]
    run simpp-relayd -d nowhere delete a@localhost
    [ "$status" -eq 66 ]
    [ ! -e nowhere ]
    run simpp-relayd -d data list extra
    [ "$status" -eq 64 ]
    # a configuration file that is not there is missing input too
    run simpp-relayd -c nosuch.conf -d data list
    [ "$status" -eq 66 ]
    [[ "$output" == "simpp-relayd: unable to read nosuch.conf: "* ]]
}
