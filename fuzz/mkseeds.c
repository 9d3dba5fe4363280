/*
 * fuzz/mkseeds.c - writes the seed corpora: fuzz/mkseeds DIR makes
 * DIR/<target>/<name> for every target in fuzz/ (make fuzz-seeds).
 *
 * Each seed is a real message made by the library with the fixed keys and
 * contexts of fuzz.h, laid out as its target reads it (op byte, options,
 * message), so the fuzzer starts past the signatures, tags and nonces that
 * random bytes never get through.  Messages that depend on a target's own
 * random state (an R2 for its R1) cannot be made valid here; they go in for
 * their shape.
 */
#include <errno.h>
#include <sys/stat.h>

#include "der.h"
#include "e2e.h"
#include "fuzz.h"
#include "keyfile.h"
#include "payload.h"
#include "sasl.h"
#include "simpp.h"

static const char *top;
static size_t total;

static void mkdir_p(const char *d)
{
    if (mkdir(d, 0755) < 0 && errno != EEXIST) {
        perror(d);
        exit(1);
    }
}

/* DIR/target/name = head (hl bytes) || body (bl bytes) */
static void seed(const char *target, const char *name, const void *head, size_t hl,
                 const void *body, size_t bl)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", top, target);
    mkdir_p(path);
    snprintf(path, sizeof path, "%s/%s/%s", top, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || (hl && fwrite(head, 1, hl, f) != hl) || (bl && fwrite(body, 1, bl, f) != bl) ||
        fclose(f) != 0) {
        perror(path);
        exit(1);
    }
    total += hl + bl;
}
/* op, option byte, message */
static void seed_op(const char *target, const char *name, unsigned op, unsigned opt,
                    const void *m, size_t n)
{
    uint8_t h[2] = { (uint8_t)op, (uint8_t)opt };
    seed(target, name, h, 2, m, n);
}
/* op, option byte, split (u16), first message, second message */
static void seed_two(const char *target, const char *name, unsigned op, unsigned opt,
                     const char *a, const char *b)
{
    size_t al = strlen(a), bl = strlen(b);
    uint8_t *buf = malloc(4 + al + bl);
    FZ_SETUP(buf != NULL && al < 65536);
    buf[0] = (uint8_t)op;
    buf[1] = (uint8_t)opt;
    buf[2] = (uint8_t)(al >> 8);
    buf[3] = (uint8_t)al;
    memcpy(buf + 4, a, al);
    memcpy(buf + 4 + al, b, bl);
    seed(target, name, buf, 4 + al + bl, NULL, 0);
    free(buf);
}

/* ---- xmlstream ----------------------------------------------------------- */

static void xml_seeds(void)
{
    static const struct { const char *name; uint8_t opt[8]; const char *text; } s[] = {
        { "client-chat", { 0x00, 0x60, 7, 0x4f, 31, 0, 0, 0 },
          "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
          "xmlns:stream='http://etherx.jabber.org/streams' to='fuzz.example' version='1.0' "
          "xml:lang='en'>\n<message to='bob@fuzz.example' type='chat' id='m1'>"
          "<body>hi &amp; &lt;there&gt; &#x10FFFF;</body><thread>t1</thread></message>"
          "<presence><show>away</show><status xml:lang='de'>weg</status></presence>"
          "<iq type='get' id='k1'><pubkey xmlns='urn:simpp:1' jid='bob@fuzz.example'/></iq>"
          "</stream:stream>" },
        { "server-features", { 0x01, 0x00, 7, 0x8f, 31, 0, 0, 0 },
          "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
          "xmlns:stream='http://etherx.jabber.org/streams' id='s-0001' from='fuzz.example' "
          "version='1.0'><stream:features><mechanisms "
          "xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SIMPP</mechanism>"
          "<mechanism>SCRAM-SHA-256</mechanism></mechanisms><simpp xmlns='urn:simpp:1' "
          "curve='P-256' key='BAAA' register='true'><suite>chacha20-poly1305</suite>"
          "<suite>aes128-gcm</suite></simpp></stream:features>"
          "<stream:error><not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
          "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>x</text></stream:error>" },
        { "sasl-restart", { 0x00, 0x90, 3, 0x04, 8, 0x12, 0x34, 0x56 },
          "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
          "to='fuzz.example' version='1.0'><auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
          "mechanism='SCRAM-SHA-256'>biwsbj11c2VyLHI9ZnlrbytkMmxiYkZnT05Sdjlxa3hkYXdM</auth>"
          " \r\n <response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/><abort "
          "xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/><starttls "
          "xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:stream><stream:stream "
          "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'><iq "
          "type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>r"
          "</resource></bind></iq>" },
        { "prefixes", { 0x00, 0x30, 6, 0x05, 6, 0, 0, 0 },
          "<s:stream xmlns:s='http://etherx.jabber.org/streams' xmlns='jabber:server' "
          "xmlns:x='urn:x' xmlns:y='urn:y'>\r\n<x:a x:b='1' c='&#9;&apos;&quot;' y:d='\t\n'>"
          "<x:c xmlns:x='urn:z'>\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e</x:c><d xmlns=''/>"
          "<s:features/>text<![CDATA[no]]></x:a> <y:e/><c r='2'><s:error/></c></s:stream>" },
        { "encrypted-channel", { 0x00, 0x00, 5, 0x03, 4, 0, 0, 0 },
          "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
          "id='abc' version='1.0'><c xmlns='urn:simpp:1' n='0'>AAAAAAAAAAAAAAAAAAAAAA==</c>"
          "<c xmlns='urn:simpp:1' n='1'>BBBB</c><r xmlns='urn:xmpp:sm:3'/>"
          "<a xmlns='urn:xmpp:sm:3' h='2'/>" },
        { "restricted", { 0x00, 0x20, 4, 0x02, 2, 0, 0, 1 },
          "<?xml version='1.0' encoding='UTF-8'?><!DOCTYPE x [<!ENTITY e 'x'>]>"
          "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'><m>&e;<!-- c -->"
          "<?pi x?></m>" },
    };
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
        seed("xmlstream", s[i].name, s[i].opt, 8, s[i].text, strlen(s[i].text));
    /* a stanza of many small elements, near max_stanza = 1 KB: its tree
     * (72 bytes a node) outgrows the 8 KB tree limit first */
    static const uint8_t opt[8] = { 0x00, 0x10, 4, 0x03, 4, 0, 0, 0 };
    static const char hdr[] = "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'><m>";
    char many[1024];
    size_t o = strlen(hdr);
    memcpy(many, hdr, o);
    while (o + 4 < sizeof many - 4) {
        memcpy(many + o, "<a/>", 4);
        o += 4;
    }
    memcpy(many + o, "</m>", 4);
    seed("xmlstream", "many-elements", opt, 8, many, o + 4);
}

/* ---- simpp_server, simpp_client ------------------------------------------ */

static void simpp_seeds(void)
{
    struct simpp_ctx ctx = { FZ_STREAM_ID, fz_suites, 3 };
    uint8_t ka[SIMPP_KEY], m1[SIMPP_MSG_MAX], m2[SIMPP_MSG_MAX], m3[SIMPP_MSG_MAX];
    char name[64];
    fz_bytes("K_A", ka, sizeof ka);

    /* login: S1 per suite under the fixed K_A; S2, S3, a channel frame */
    for (int si = 0; si < 3; si++) {
        struct simpp_login cli, srv;
        size_t l1 = sizeof m1, l2 = sizeof m2, l3 = sizeof m3;
        FZ_SETUP(simpp_s1_make(&cli, &ctx, FZ_ID_A, ka, fz_suites[si], si, m1, &l1) == SIMPP_OK);
        snprintf(name, sizeof name, "s1-suite%d", fz_suites[si]);
        seed_op("simpp_server", name, FZ_SRV_S1_ACCEPT, 0, m1, l1);
        if (si == 0) seed_op("simpp_server", "s1-id", FZ_SRV_S1_ID, 1, m1, l1);
        FZ_SETUP(simpp_s1_accept(&srv, &ctx, ka, ~0u, m1, l1, m2, &l2) == SIMPP_OK);
        snprintf(name, sizeof name, "s2-suite%d", fz_suites[si]);
        seed_op("simpp_client", name, FZ_CLI_S2, (unsigned)si, m2, l2);
        FZ_SETUP(simpp_s2_answer(&cli, m2, l2, m3, &l3) == SIMPP_OK);
        FZ_SETUP(simpp_s3_verify(&srv, m3, l3) == SIMPP_OK);
        struct simpp_chan ch;
        uint64_t seq;
        size_t cl = sizeof m3;
        simpp_chan_init(&ch, &cli, 0);
        FZ_SETUP(simpp_chan_seal(&ch, "<message/>", 10, m3, &cl, &seq) == SIMPP_OK);
        snprintf(name, sizeof name, "frame-suite%d", fz_suites[si]);
        seed_op("simpp_server", name, FZ_SRV_CHAN_OPEN, (unsigned)si, m3, cl);
        snprintf(name, sizeof name, "sealed-suite%d", fz_suites[si]);
        seed_op("simpp_server", name, FZ_SRV_CHAN_SEALED, (unsigned)si, "<presence/>", 11);
        /* sealed-mode plaintexts: R_S || h(ID, key), the hash put in by the
         * target (option bit 7); a short one */
        memset(m1, 0x5a, SIMPP_NONCE + SC_SHA256_LEN);
        snprintf(name, sizeof name, "s2-sealed-suite%d", fz_suites[si]);
        seed_op("simpp_client", name, FZ_CLI_S2_SEALED, 0x80u | (unsigned)si, m1,
                SIMPP_NONCE + SC_SHA256_LEN);
        snprintf(name, sizeof name, "r2-sealed-short-suite%d", fz_suites[si]);
        seed_op("simpp_client", name, FZ_CLI_R2_SEALED, (unsigned)si, m1, 7);
        snprintf(name, sizeof name, "r2-sealed-suite%d", fz_suites[si]);
        seed_op("simpp_client", name, FZ_CLI_R2_SEALED, 0x80u | (unsigned)si, m1,
                SIMPP_NONCE + SC_SHA256_LEN);
        simpp_login_wipe(&cli);
        simpp_login_wipe(&srv);
    }

    /* registration: R1 per curve to the fixed server key; R2, R3 */
    for (int ci = 0; ci < 3; ci++) {
        struct simpp_reg cli, srv;
        sc_key *a = fz_alice_key(ci), *s = fz_server_key(ci);
        size_t l1 = sizeof m1, l2 = sizeof m2, l3 = sizeof m3;
        FZ_SETUP(simpp_r1_make(&cli, &ctx, FZ_ID_A, a, s, fz_suites[ci], SIMPP_MODE_KEYFILE, m1,
                               &l1) == SIMPP_OK);
        snprintf(name, sizeof name, "r1-p%d", fz_curves[ci]);
        seed_op("simpp_server", name, FZ_SRV_R1_ACCEPT, (unsigned)ci, m1, l1);
        FZ_SETUP(simpp_r1_accept(&srv, &ctx, s, m1, l1, m2, &l2) == SIMPP_OK);
        snprintf(name, sizeof name, "r2-p%d", fz_curves[ci]);
        seed_op("simpp_client", name, FZ_CLI_R2, (unsigned)ci, m2, l2);
        FZ_SETUP(simpp_r2_answer(&cli, a, m2, l2, m3, &l3) == SIMPP_OK);
        snprintf(name, sizeof name, "r3-p%d", fz_curves[ci]);
        seed_op("simpp_server", name, FZ_SRV_R3_VERIFY, (unsigned)ci, m3, l3);
        simpp_reg_wipe(&cli);
        simpp_reg_wipe(&srv);
        sc_key_free(a);
        sc_key_free(s);
    }
}

/* ---- e2e ----------------------------------------------------------------- */

static void e2e_seeds(void)
{
    uint8_t c3[E2E_MSG_MAX], c4[E2E_MSG_MAX], buf[4096];
    char name[64];
    for (int ci = 0; ci < 3; ci++) {
        sc_key *a = fz_alice_key(ci), *b = fz_bob_key(ci);
        struct e2e_hs hs;
        struct e2e_sess sa, sb;
        size_t l3 = sizeof c3, l4 = sizeof c4, bl = sizeof buf;
        FZ_SETUP(e2e_c3_make(&hs, FZ_ID_A, FZ_ID_B, a, fz_suites, 3, c3, &l3) == E2E_OK);
        snprintf(name, sizeof name, "c3-p%d", fz_curves[ci]);
        seed_op("e2e_sig", name, FZ_E2ES_C3_ACCEPT, (unsigned)ci, c3, l3);
        if (ci == 1) seed_op("e2e", "c3-parties", FZ_E2E_C3_PARTIES, 0xff, c3, l3);
        FZ_SETUP(e2e_c3_accept(FZ_ID_B, FZ_ID_A, b, a, ~0u, c3, l3, c4, &l4, &sb) == E2E_OK);
        if (ci == 1) {
            seed_op("e2e_sig", "c4", FZ_E2ES_C4_ACCEPT, 0, c4, l4);
            /* the C4 body without bob's signature (u8 length, r || s), for
             * the target to sign */
            seed_op("e2e_sig", "c4-body", FZ_E2ES_C4_SIGNED, 0x80, c4,
                    l4 - 1 - 2 * sc_curve_bytes(SC_P256));
        }
        FZ_SETUP(e2e_c4_accept(&hs, b, c4, l4, &sa) == E2E_OK);
        uint64_t seq;
        FZ_SETUP(e2e_seal(&sa, E2E_TEXT, 7, "hello", 5, buf, &bl, &seq) == E2E_OK);
        snprintf(name, sizeof name, "frame-p%d", fz_curves[ci]);
        seed_op("e2e", name, FZ_E2E_OPEN, 0, buf, bl);
        e2e_sess_wipe(&sa);
        e2e_sess_wipe(&sb);

        /* pager: a valid message from alice to bob */
        static const uint8_t id[16] = { 1, 2, 3 };
        bl = sizeof buf;
        FZ_SETUP(e2e_pager_seal(a, FZ_ID_A, b, FZ_ID_B, id, 1700000000, "offline hello", 13, buf,
                                &bl) == E2E_OK);
        snprintf(name, sizeof name, "pager-p%d", fz_curves[ci]);
        seed_op("e2e_sig", name, FZ_E2ES_PAGER_OPEN, 0x80u | (unsigned)ci, buf, bl);
        if (ci == 1) seed_op("e2e", "pager-from", FZ_E2E_PAGER_FROM, 0xff, buf, bl);
        sc_key_free(a);
        sc_key_free(b);
    }
    /* frame payloads for the sealed mode: type, id, data */
    static const uint8_t text[] = { E2E_TEXT, 0, 0, 0, 0, 0, 0, 0, 1, 'h', 'i' };
    seed_op("e2e", "sealed-text", FZ_E2E_OPEN_SEALED, 0, text, sizeof text);
    static const uint8_t ack[] = { E2E_ACK, 0, 0, 0, 0, 0, 0, 0, 2 };
    seed_op("e2e", "sealed-ack-gap", FZ_E2E_OPEN_SEALED, 0x0d, ack, sizeof ack);
    /* scripts on one session (fuzz/e2e.c): alice seals two lines and bob
     * one, each delivered in order, then a replay; and alice's second frame
     * held back while her third is delivered (a gap), the second late (a
     * replay), a fourth changed, under the wrong number, cut, reflected,
     * far ahead, and then delivered; bob's BYE */
    static const uint8_t chat[] = {
        0x10, E2E_TEXT, 2, 'h', 'i', 0x04, 0,  0x20, E2E_TEXT, 2, 'o', 'k', 0x04, 1,
        0x31, E2E_TEXT, 3, 'y', 'e', 's', 0x05, 0,  0x04, 1 };
    seed_op("e2e", "script-in-order", FZ_E2E_SCRIPT, 0, chat, sizeof chat);
    static const uint8_t gap[] = {
        0x10, E2E_TEXT, 1, 'a', 0x04, 0,  0x20, E2E_TEXT, 1, 'b',  0x30, E2E_ACK, 0,
        0x04, 2,  0x04, 1,  0x40, E2E_TEXT, 1, 'c',  0x06, 3, 5, 0x80,  0x18, 3,
        0x0a, 3, 4,  0x0c, 3,  0x0e, 3,  0x04, 3,  0x11, E2E_BYE, 0,  0x05, 0 };
    seed_op("e2e", "script-gap", FZ_E2E_SCRIPT, 0, gap, sizeof gap);
    seed_op("e2e", "script-cbc", FZ_E2E_SCRIPT, 1, chat, sizeof chat);

    /* pager inner plaintexts: u32 len || text || u8 siglen || sig, signed
     * over the target's fixed header */
    sc_key *a = fz_alice_key(1), *eph = fz_key(SC_P256, FZ_PAGER_EPH);
    uint8_t e[SC_MAX_PUB], h[512], d[SC_SHA256_LEN], sig[SC_MAX_SIG];
    size_t el = sizeof e, sl = sizeof sig;
    FZ_SETUP(sc_key_public(eph, e, &el) == 0);
    for (int si = 0; si < 3; si++) {
        size_t hl = fz_pager_header(fz_suites[si], e, el, h), o = 0;
        sl = sizeof sig;
        sc_sha256_parts(d, "simpp/1 pager sig", (size_t)17, h, hl, "inner", (size_t)5,
                        (void *)NULL);
        FZ_SETUP(sc_sign(a, d, sizeof d, sig, &sl) == 0);
        buf[o++] = 0;
        buf[o++] = 0;
        buf[o++] = 0;
        buf[o++] = 5;
        memcpy(buf + o, "inner", 5);
        o += 5;
        buf[o++] = (uint8_t)sl;
        memcpy(buf + o, sig, sl);
        o += sl;
        snprintf(name, sizeof name, "pager-inner-suite%d", fz_suites[si]);
        seed_op("e2e_sig", name, FZ_E2ES_PAGER_INNER, 0x80u | (unsigned)si, buf, o);
    }
    sc_key_free(a);
    sc_key_free(eph);
}

/* ---- keyfile, der ---------------------------------------------------------- */

/* SEC1 ECPrivateKey (RFC 5915): version 1, d, [0] curve, [1] public.  The
 * library reads it but never writes it. */
static size_t sec1(const sc_key *k, uint8_t *out, size_t cap)
{
    static const uint8_t oid_p256[] = { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
    uint8_t in[400], d[SC_MAX_SCALAR], pub[SC_MAX_PUB], t[160];
    size_t p = 0, dl = sizeof d, pl = sizeof pub, tl = 0, o = 0;
    FZ_SETUP(sc_key_scalar(k, d, &dl) == 0 && sc_key_public(k, pub, &pl) == 0);
    FZ_SETUP(der_put_ulong(in, sizeof in, &p, 1) == 0 &&
             der_put(in, sizeof in, &p, DER_OCTETSTRING, d, dl) == 0 &&
             der_put(t, sizeof t, &tl, DER_OID, oid_p256, sizeof oid_p256) == 0 &&
             der_put(in, sizeof in, &p, DER_CTX0, t, tl) == 0);
    tl = 0;
    FZ_SETUP(der_put_bits(t, sizeof t, &tl, pub, pl) == 0 &&
             der_put(in, sizeof in, &p, DER_CTX1, t, tl) == 0 &&
             der_put(out, cap, &o, DER_SEQUENCE, in, p) == 0);
    return o;
}

static void key_seeds(void)
{
    uint8_t der[2048];
    char name[64];
    for (int ci = 0; ci < 3; ci++) {
        sc_key *a = fz_alice_key(ci);
        size_t dl = sizeof der;
        uint8_t opt = 0;
        char *t = kf_public_pem(a);
        FZ_SETUP(t != NULL);
        snprintf(name, sizeof name, "public-p%d", fz_curves[ci]);
        seed("keyfile", name, &opt, 1, t, strlen(t));
        free(t);
        opt = 1;
        t = kf_private_pem(a, NULL, 0, 0);
        FZ_SETUP(t != NULL);
        snprintf(name, sizeof name, "private-p%d", fz_curves[ci]);
        seed("keyfile", name, &opt, 1, t, strlen(t));
        free(t);

        FZ_SETUP(kf_spki_der(a, der, &dl) == 0);
        snprintf(name, sizeof name, "spki-p%d", fz_curves[ci]);
        seed_op("der", name, FZ_DER_SPKI, 0, der, dl);
        snprintf(name, sizeof name, "walk-spki-p%d", fz_curves[ci]);
        seed_op("der", name, FZ_DER_WALK, 32, der, dl);
        dl = sizeof der;
        FZ_SETUP(kf_pkcs8_der(a, der, &dl) == 0);
        snprintf(name, sizeof name, "pkcs8-p%d", fz_curves[ci]);
        seed_op("der", name, FZ_DER_PKCS8, 0, der, dl);
        snprintf(name, sizeof name, "walk-pkcs8-p%d", fz_curves[ci]);
        seed_op("der", name, FZ_DER_WALK, 8, der, dl);
        sc_key_free(a);
    }
    /* encrypted with the target's passphrase and a small count; one with a
     * count over the target's cap; SEC1; several blocks in one file */
    sc_key *b = fz_bob_key(1);
    uint8_t opt = 1;
    char *t = kf_private_pem(b, FZ_KF_PASS, strlen(FZ_KF_PASS), 3);
    FZ_SETUP(t != NULL);
    seed("keyfile", "encrypted-iter3", &opt, 1, t, strlen(t));
    size_t dl = sizeof der;
    FZ_SETUP(kf_pem_decode(t, strlen(t), der, &dl) != NULL);
    seed_op("der", "walk-pbes2", FZ_DER_WALK, 8, der, dl);
    free(t);
    t = kf_private_pem(b, "other", 5, FZ_KF_ITER_CAP + 1);
    FZ_SETUP(t != NULL);
    seed("keyfile", "encrypted-overcap", &opt, 1, t, strlen(t));
    free(t);
    dl = sec1(b, der, sizeof der);
    t = kf_pem_encode("EC PRIVATE KEY", der, dl);
    seed("keyfile", "sec1-p256", &opt, 1, t, strlen(t));
    seed_op("der", "walk-sec1", FZ_DER_WALK, 32, der, dl);
    free(t);
    char *pub = kf_public_pem(b), *priv = kf_private_pem(b, NULL, 0, 0);
    FZ_SETUP(pub && priv);
    char multi[4096];
    snprintf(multi, sizeof multi,
             "comment\r\n-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n"
             "-----END EC PARAMETERS-----\n%s%s", pub, priv);
    opt = 0;
    seed("keyfile", "multi", &opt, 1, multi, strlen(multi));
    free(pub);
    free(priv);
    sc_key_free(b);
}

/* ---- sasl ------------------------------------------------------------------ */

static void sasl_seeds(void)
{
    uint8_t salt[SCRAM_SALT_LEN];
    struct scram_cred cred;
    char cf[512], sf[512], cfin[512], sfin[512], user[SASL_MAX_NAME + 1];
    size_t l = sizeof cf;
    fz_bytes("scram salt", salt, sizeof salt);
    FZ_SETUP(scram_make_cred_salt(FZ_SCRAM_PW, strlen(FZ_SCRAM_PW), salt, FZ_SCRAM_ITER, &cred) ==
             SASL_OK);
    scram_client *c = scram_client_new(FZ_SCRAM_USER, FZ_SCRAM_PW, strlen(FZ_SCRAM_PW));
    scram_server *s = scram_server_new();
    FZ_SETUP(c && s);
    FZ_SETUP(scram_client_test_nonce(c, FZ_SCRAM_CNONCE) == SASL_OK &&
             scram_server_test_nonce(s, FZ_SCRAM_SNONCE) == SASL_OK);
    FZ_SETUP(scram_client_first(c, cf, &l) == SASL_OK);
    FZ_SETUP(scram_server_first(s, cf, l, NULL, 0, user, sizeof user) == SASL_OK);
    l = sizeof sf;
    FZ_SETUP(scram_server_challenge(s, &cred, sf, &l) == SASL_OK);
    l = sizeof cfin;
    FZ_SETUP(scram_client_final(c, sf, strlen(sf), cfin, &l) == SASL_OK);
    l = sizeof sfin;
    FZ_SETUP(scram_server_final(s, cfin, strlen(cfin), sfin, &l) == SASL_OK);
    FZ_SETUP(scram_client_verify(c, sfin, strlen(sfin)) == SASL_OK);
    scram_client_free(c);
    scram_server_free(s);

    seed_two("sasl", "server-known", FZ_SASL_SERVER, 1, cf, cfin);
    seed_two("sasl", "server-unknown", FZ_SASL_SERVER, 0, cf, cfin);
    seed_two("sasl", "server-authzid", FZ_SASL_SERVER, 3,
             "n,a=user@fuzz.example,n=user,r=" FZ_SCRAM_CNONCE ",x=ext",
             "c=bixhPXVzZXJAZnV6ei5leGFtcGxlLA==,r=" FZ_SCRAM_CNONCE FZ_SCRAM_SNONCE
             ",p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    seed_two("sasl", "client", FZ_SASL_CLIENT, 0, sf, sfin);
    seed_two("sasl", "client-error", FZ_SASL_CLIENT, 0, sf, "e=invalid-proof");
    /* PLAIN: the two split bytes (ignored), then [authzid] NUL user NUL password */
    static const char plain[] = "\0\0\0user\0pencil";
    static const char plain_az[] = "\0\0user@fuzz.example\0user\0pencil";
    seed_op("sasl", "plain", FZ_SASL_PLAIN, 0x07, plain, sizeof plain - 1);
    seed_op("sasl", "plain-authzid", FZ_SASL_PLAIN, 0x07, plain_az, sizeof plain_az - 1);
}

/* ---- payload ---------------------------------------------------------------- */

static void payload_seeds(void)
{
    static const char content[] = "the quarterly figures, as promised\n";
    size_t cn = sizeof content - 1;
    struct pl_offer o = { .size = cn };
    uint8_t b[8 + 32 + PL_NAME_MAX + 64];
    size_t bl;
    sc_sha256(content, cn, o.sha);
    strcpy(o.name, "figures.txt");
    FZ_SETUP(pl_offer_make(&o, b, &bl) == PL_OK);
    seed_op("payload", "offer", FZ_PL_OFFER, 0, b, bl);
    seed_op("payload", "offer-hidden", FZ_PL_OFFER, 0, "\0\0\0\0\0\0\0\1" "0123456789abcdef0123456789abcdef.x", 42);
    /* two chunks, then the content */
    uint8_t r[2 + 6 + sizeof content];
    r[0] = FZ_PL_RECV;
    r[1] = 2;                               /* two steps, exact size, right hash */
    memcpy(r + 2, "\0\0\x10\0\0\xff", 6);
    memcpy(r + 8, content, cn);
    seed("payload", "recv", r, 8 + cn, NULL, 0);
    r[1] = 0x40 | 3;                        /* three steps, wrong hash */
    memcpy(r + 2, "\0\0\x08\x02\0\x04", 6);
    seed("payload", "recv-badhash", r, 8 + cn, NULL, 0);
    uint8_t sid[PL_VSID];
    fz_bytes("video sid", sid, sizeof sid);
    FZ_SETUP(pl_video_make(PL_VINVITE, sid, "720p mjpeg udp", b, &bl) == PL_OK);
    seed_op("payload", "video-invite", FZ_PL_VIDEO, 0, b, bl);
    FZ_SETUP(pl_video_make(PL_VACCEPT, sid, NULL, b, &bl) == PL_OK);
    seed_op("payload", "video-accept", FZ_PL_VIDEO, 0, b, bl);
    bl = pl_bye_make(12, o.sha, b);
    seed_op("payload", "bye", FZ_PL_SMALL, 0, b, bl);
    seed_op("payload", "name", FZ_PL_NAME, 0, "report.pdf", 10);
    seed_op("payload", "clean", FZ_PL_CLEAN, 0, "a\x1b[2Jb\tc\x7f", 10);
}

/* ---- apdu ------------------------------------------------------------------- */

static void apdu_seeds(void)
{
    /* GET DATA into 252 bytes: 61 30, a piece and 61 2C, the rest and 90 00 */
    static const uint8_t chain[] = { FZ_APDU_ROUNDS, 63 << 2 | 1, 2, 0x61, 0x30, 6, 'A', 'B', 'C', 'D', 0x61, 0x2C,
                                     5, 'E', 'F', 'G', 0x90, 0x00 };
    static const uint8_t sixc[] = { FZ_APDU_ROUNDS, 16 << 2 | 3, 2, 0x6C, 0x0E, 16, 0x6F, 0x0C, 0x84, 0x07, 0xF0,
                                    'S', 'I', 'M', 'P', 'P', 0x01, 0x8A, 0x01, 0x05, 0x90, 0x00 };
    static const uint8_t verify[] = { FZ_APDU_ROUNDS, 0, 2, 0x63, 0xC2 };
    static const uint8_t fci[] = { FZ_APDU_FCI, 0, 0x6F, 0x0C, 0x84, 0x07, 0xF0, 'S', 'I', 'M', 'P', 'P', 0x01,
                                   0x8A, 0x01, 0x05 };
    seed("apdu", "getresponse", chain, sizeof chain, NULL, 0);
    seed("apdu", "wrong-le", sixc, sizeof sixc, NULL, 0);
    seed("apdu", "verify", verify, sizeof verify, NULL, 0);
    seed("apdu", "fci", fci, sizeof fci, NULL, 0);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: mkseeds DIR\n");
        return 64;
    }
    top = argv[1];
    mkdir_p(top);
    FZ_SETUP(sc_init() == 0);
    xml_seeds();
    simpp_seeds();
    e2e_seeds();
    key_seeds();
    sasl_seeds();
    payload_seeds();
    apdu_seeds();
    printf("mkseeds: %zu bytes of seeds in %s\n", total, top);
    return 0;
}
