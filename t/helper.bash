# t/helper.bash - loaded by every BATS file.
# The programs under test come from $SIMPP_BIN (t/run sets it: the
# sanitizer build in make check); each test gets a fresh directory.
: "${SIMPP_TOP:=$(cd "$BATS_TEST_DIRNAME/.." && pwd)}"
: "${SIMPP_BIN:=$SIMPP_TOP/bin}"
: "${SIMPP_DATA:=$SIMPP_TOP/t/data}"
: "${SIMPP_TOOLS:=$SIMPP_TOP/build/rel/tools}"
export PATH="$SIMPP_BIN:$PATH"

common_setup() {
    TMP=$(mktemp -d "${BATS_TMPDIR:-/tmp}/simpp.XXXXXX")
    cd "$TMP" || return 1
}
common_teardown() {
    cd / && rm -rf "$TMP"
}
setup() { common_setup; }
teardown() { common_teardown; }

# file mode in octal
mode_of() { stat -c %a "$1"; }
# fingerprint of a public or private key as openssl computes it
openssl_fpr() {
    local in=$1
    if grep -q 'BEGIN PUBLIC KEY' "$in"; then
        openssl pkey -pubin -in "$in" -outform DER
    else
        openssl pkey -in "$in" -pubout -outform DER
    fi | openssl dgst -sha256 -binary | base64 | tr -d '=' | sed 's/^/SHA256:/'
}
