#!/usr/bin/env bats
# The README's first command: the demo runs end to end.
load helper

@test "the demo (make demo) runs: relay, two users, end-to-end chat, pager message" {
    run "$SIMPP_TOP/scripts/demo"
    [ "$status" -eq 0 ]
    [[ "$output" == *"bob sees:   alice@localhost: Hi Bob, only you can read this."* ]]
    [[ "$output" == *"alice sees: bob@localhost: Hi Alice, got it."* ]]
    [[ "$output" == *"delivered: Hi Bob"* ]]
    [[ "$output" == *"reached the relay only as ciphertext"* ]]
    [[ "$output" == *"while you were away): See you tomorrow."* ]]
    # the two transcript lines agree
    [ "$(grep -c 'simpp-session: transcript' <<< "$output")" -eq 2 ]
    [ "$(grep 'simpp-session: transcript' <<< "$output" | sort -u | wc -l)" -eq 1 ]
}
