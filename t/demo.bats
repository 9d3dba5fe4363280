#!/usr/bin/env bats
# The README's first command: the demo runs end to end.
load helper

@test "the demo (make demo) runs: relay, two users, chat, offline message" {
    run "$SIMPP_TOP/scripts/demo"
    [ "$status" -eq 0 ]
    [[ "$output" == *"bob receives:   <message"*"Hi Bob"* ]]
    [[ "$output" == *"alice receives: <message"*"got it"* ]]
    [[ "$output" == *"the text 'Hi Bob' appears nowhere on the wire"* ]]
    [[ "$output" == *"See you tomorrow"* ]]
}
