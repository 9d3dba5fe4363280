#!/usr/bin/env bats
# The README's two commands on a fresh machine: a copy of this tree (what
# git tracks and the new files it does not ignore, as they are now: no
# build/, no programs) built where pkg-config does not work until the deps
# step has run, as on a Debian machine before `make deps` installs
# pkg-config and the -dev packages.  `make demo` and `make check` must each
# work in one go.  The build is the release variant, two jobs; check runs
# one unit test and one BATS file (the rest of make check is this run).
load helper
bats_require_minimum_version 1.5.0

setup() {
    common_setup
    local real
    real=$(command -v pkg-config) || skip "no pkg-config here"
    git -C "$SIMPP_TOP" rev-parse --is-inside-work-tree > /dev/null 2>&1 || skip "not a git checkout"
    mkdir src fake
    (cd "$SIMPP_TOP" && git ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
        tar --null -T - -cf -) | tar -xf - -C src
    # pkg-config is missing until the package step has run...
    cat > fake/pkg-config <<EOF
#!/bin/sh
[ -e "$TMP/installed" ] || { echo "pkg-config: command not found" >&2; exit 127; }
exec "$real" "\$@"
EOF
    # ... which installs it (the packages themselves are here already)
    cat > deps <<EOF
#!/bin/sh
echo "deps: installing pkg-config and the -dev packages" >&2
touch "$TMP/installed"
EOF
    chmod +x fake/pkg-config deps
}

# fresh_make TARGET [VAR=value...]: make in the copy, as a user types it
# (nothing inherited from the make running these tests)
fresh_make() {
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u V -u CHECKV -u TESTS -u DEPS -u FUZZNAMES \
        PATH="$TMP/fake:$PATH" make -C "$TMP/src" -j2 DEPS="$TMP/deps" "$@" 2>&1
}
quick_check() {
    fresh_make check CHECKV=rel FUZZNAMES= UNITSRC=t/unit/apdu.c TESTS=t/keygen.bats
}

@test "the fake machine: pkg-config fails before the deps step" {
    run -127 env PATH="$TMP/fake:$PATH" pkg-config --cflags libxml-2.0
    ./deps 2> /dev/null
    run env PATH="$TMP/fake:$PATH" pkg-config --cflags libxml-2.0
    [ "$status" -eq 0 ]
    [[ "$output" == *libxml2* ]]
}

@test "a fresh machine: make check works in one go" {
    run quick_check
    echo "$output" | tail -n 30
    [ "$status" -eq 0 ]
    [ -e installed ]
    [[ "$output" == *"deps: installing"* ]]
    # the card programs need PC/SC's flags (winscard.h), libxml2 its own
    [[ "$output" == *"-I/usr/include/PCSC"* ]]
    [ -x src/bin/simpp-cardread ] && [ -x src/bin/simpp-login ]
    [[ "$output" == *"# bats: t/keygen.bats"* ]]
    echo "$output" | grep -qE '^[1-9][0-9]* passed, 0 failed'
}

@test "a fresh machine: make demo, then make check, with no other step; make install and uninstall" {
    run fresh_make demo
    echo "$output" | tail -n 30
    [ "$status" -eq 0 ]
    [[ "$output" == *"deps: installing"* ]]
    [[ "$output" == *"the text 'Hi Bob' reached the relay only as ciphertext"* ]]
    run quick_check
    echo "$output" | tail -n 30
    [ "$status" -eq 0 ]
    echo "$output" | grep -qE '^[1-9][0-9]* passed, 0 failed'
    # install: the programs, the man pages, and every document and example
    # a man page names, where it says
    run fresh_make install DESTDIR="$TMP/root" PREFIX=/opt/simpp
    [ "$status" -eq 0 ]
    [ -x root/opt/simpp/bin/simpp-relayd ] && [ -f root/opt/simpp/share/man/man8/simpp-relayd.8 ]
    named=$(cat root/opt/simpp/share/man/man[18]/* | grep -oE '/opt/simpp/share/doc/simpp/[A-Za-z0-9_./-]*[A-Za-z0-9]' | sort -u)
    [ "$(echo "$named" | wc -l)" -ge 5 ]
    for f in $named; do [ -f "root$f" ] || { echo "named but not installed: $f"; false; }; done
    ! grep -l '/usr/local/share/doc' root/opt/simpp/share/man/man[18]/* || false
    [ -x root/opt/simpp/share/doc/simpp/examples/chat.sh ]
    # uninstall: nothing of it is left
    run fresh_make uninstall DESTDIR="$TMP/root" PREFIX=/opt/simpp
    [ "$status" -eq 0 ]
    [ -z "$(find root -type f)" ]
    [ ! -e root/opt/simpp/share/doc/simpp ]
}
