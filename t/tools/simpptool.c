/*
 * simpptool - drive a relay through SIMPP steps no honest client takes, so
 * the tests can check the relay refuses them.
 *
 *   simpptool forge-r3 HOST:PORT RELAY.PUB KEY-A KEY-B JID
 *       R1 with KEY-A's public key, then R3 signed with KEY-B: prints the
 *       relay's answer to R3 (the error condition, or "accepted")
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "keyfile.h"
#include "sbuf.h"
#include "util.h"

static xs_node *wait_id(struct client *c, const char *id)
{
    xs_node *n;
    while ((n = client_next(c, -1))) {
        const char *i = xs_getattr(n, "id", NULL);
        if (i && !strcmp(i, id)) return n;
        xs_node_free(n);
    }
    die(EX_PROTOCOL, "%s", c->err);
}

static void send_elem(struct client *c, const char *id, const char *el, const uint8_t *d, size_t n)
{
    char b[4096];
    size_t bl = sizeof b;
    sbuf s = { 0 };
    sc_b64_encode(d, n, b, &bl);
    sb_printf(&s, "<iq type='set' id='%s'><register xmlns='" SIMPP_NS "'><%s>%s</%s></register></iq>", id, el, b, el);
    client_send(c, s.p, s.n);
    sb_free(&s);
}

int main(int argc, char **argv)
{
    char err[256];
    int rfd, wfd, wrote;
    util_setprog(argv[0]);
    sc_init();
    if (argc != 7 || strcmp(argv[1], "forge-r3")) die(EX_USAGE, "usage: see the source");
    sc_key *a = kf_read(argv[4], NULL, 0, 1), *b = kf_read(argv[5], NULL, 0, 1);
    if (!a || !b) die(EX_DATAERR, "keys: %s", kf_strerror(kf_errno));
    if (client_connect(argv[2], 0, &rfd, &wfd, err, sizeof err) < 0) die(EX_UNAVAILABLE, "%s", err);
    struct client c;
    client_init(&c, rfd, wfd, "localhost");
    if (client_open(&c) < 0 || client_pin(&c, argv[3], 0, &wrote) != 0) die(EX_PROTOCOL, "%s", c.err);
    struct simpp_ctx ctx = { c.stream_id, c.suites, c.nsuites };
    struct simpp_reg reg;
    uint8_t m[SIMPP_MSG_MAX], in[SIMPP_MSG_MAX];
    size_t ml = sizeof m, il = sizeof in;
    if (simpp_r1_make(&reg, &ctx, argv[6], a, c.server_key, client_pick_suite(&c, 0), 0, m, &ml))
        die(EX_SOFTWARE, "R1");
    send_elem(&c, "f1", "r1", m, ml);
    xs_node *n = wait_id(&c, "f1");
    const xs_node *r2 = xs_child(xs_child(n, "register", SIMPP_NS), "r2", SIMPP_NS);
    if (!r2 || sc_b64_decode(xs_text(r2), strlen(xs_text(r2)), in, &il) < 0) die(EX_PROTOCOL, "no R2");
    ml = sizeof m;
    /* the forgery: KEY-B answers for KEY-A's registration */
    if (simpp_r2_answer(&reg, b, in, il, m, &ml)) die(EX_SOFTWARE, "R2 did not check");
    xs_node_free(n);
    send_elem(&c, "f3", "r3", m, ml);
    n = wait_id(&c, "f3");
    const xs_node *e = xs_child(n, "error", NULL);
    const xs_node *k = e ? e->children : NULL;
    while (k && !k->name) k = k->next;
    printf("%s\n", k ? k->name : "accepted");
    xs_node_free(n);
    client_close(&c);
    client_free(&c);
    sc_key_free(a);
    sc_key_free(b);
    return 0;
}
