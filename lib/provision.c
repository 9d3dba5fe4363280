/* provision.c - provisioning tokens and their proofs.  See provision.h. */
#include <string.h>

#include "crypto.h"
#include "provision.h"

static const char LABEL[] = "simpp-provision-v1";

int prov_proof(const uint8_t secret[PROV_SECRET], const char *stream_id, const char *jid,
               const uint8_t *pub, size_t publen, uint8_t proof[32])
{
    size_t sl = strlen(stream_id), jl = strlen(jid), n = 0;
    uint8_t m[sizeof LABEL - 1 + 2 + 1024 + 2 + 1024 + SC_MAX_PUB];
    if (sl > 1024 || jl > 1024 || publen > SC_MAX_PUB) return -1;
    memcpy(m, LABEL, sizeof LABEL - 1);
    n = sizeof LABEL - 1;
    m[n++] = (uint8_t)(sl >> 8);
    m[n++] = (uint8_t)sl;
    memcpy(m + n, stream_id, sl);
    n += sl;
    m[n++] = (uint8_t)(jl >> 8);
    m[n++] = (uint8_t)jl;
    memcpy(m + n, jid, jl);
    n += jl;
    memcpy(m + n, pub, publen);
    n += publen;
    return sc_hmac_sha256(secret, PROV_SECRET, m, n, proof);
}

/* base64url without padding (RFC 4648 5): what people copy and paste */
void prov_encode(const uint8_t secret[PROV_SECRET], char text[PROV_TEXT])
{
    char b[48];
    size_t bl = sizeof b;
    sc_b64_encode(secret, PROV_SECRET, b, &bl);
    for (size_t i = 0; i < 43; i++) text[i] = b[i] == '+' ? '-' : b[i] == '/' ? '_' : b[i];
    text[43] = 0;
    sc_zero(b, sizeof b);
}

int prov_decode(const char *text, size_t len, uint8_t secret[PROV_SECRET])
{
    char b[45];
    size_t sl = PROV_SECRET;
    int r;
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' ')) len--;
    if (len != 43) return -1;
    for (size_t i = 0; i < 43; i++) {
        char c = text[i];
        if (c == '+' || c == '/') return -1;
        b[i] = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    b[43] = '=';
    r = sc_b64_decode(b, 44, secret, &sl) == 0 && sl == PROV_SECRET ? 0 : -1;
    sc_zero(b, sizeof b);
    return r;
}
