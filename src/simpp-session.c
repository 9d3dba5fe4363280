/*
 * simpp-session - an end-to-end SIMPP session with one peer (paper 001
 * Fig. 7, C1-C7), chained after simpp-login: plain XMPP stanzas on fds 6/7,
 * the user's private key on fd $SIMPP_KEYFD.  Text lines on stdin go to the
 * peer sealed end to end; what the peer sends prints on stdout.  Every line
 * is acknowledged inside the session (pending / delivered, paper 004); an
 * offline peer gets pager-mode messages (paper 003); files go in chunks.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "e2e.h"
#include "ev.h"
#include "keyagent.h"
#include "keyfile.h"
#include "payload.h"
#include "pepkey.h"
#include "sbuf.h"
#include "util.h"
#include "x509.h"
#include "xmlstream.h"

#define USAGE \
"usage: simpp-session [-j] [-A] [-a] [-m params] [-d statedir] [-o dir] [-C suites] [-w seconds] peer\n" \
"       (run by simpp-login: simpp-login ... you@domain simpp-session peer@domain)\n" \
"\n" \
"  peer        the bare JID to talk to\n" \
"  -j          machine-readable events on stdout, one a line\n" \
"  -A          accept the peer's key even if it differs from the pinned one\n" \
"  -d dir      the state: pinned keys (pins/), seen pager ids, video keys, and\n" \
"              card-ca.pem, the card issuers trusted (PEM CA certificates)\n" \
"              (default $SIMPP_HOME or ~/.simpp)\n" \
"  -o dir      accept files into dir (default: files are refused)\n" \
"  -C suites   suites to offer, comma-separated, in order (default: all, ChaCha20 first)\n" \
"  -w seconds  at the end of input, wait this long for acknowledgements (default 10)\n" \
"  -a          accept video invitations (default: refuse them)\n" \
"  -m params   with -a: what the answer offers, e.g. addr=HOST:PORT for a call\n" \
"  -h, --help  this text\n" \
"  -V, --version  the version\n" \
"stdin: a line is a message; /file PATH sends a file; /video [PARAMS] invites\n" \
"the peer to a video stream; /safety, /transcript, /pending, /rekey, /quit;\n" \
"/help lists them.\n"

#define NS_HINTS "urn:xmpp:hints"
#define NS_LINK "urn:simpp:1:link"
#define NOTICE "[SIMPP end-to-end encrypted message: use simpp-session to read it]"
#define REKEY_EVERY 1000

static const char SYNTH[] =
    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";

/*
 * What the peer has not acknowledged yet.  The frames go on being kept as
 * they were written (the same bytes, the same sequence numbers) to be
 * written again after a link change (doc/PROTOCOL.md 19.19); a line keeps
 * its text, to be sealed again under new keys if the peer's session
 * restarted, and a file its path, to be offered again.
 */
struct pending {
    uint64_t id, seq;                   /* seq: its first frame's */
    uint8_t sid[E2E_SID];               /* the session it was sealed in */
    uint8_t t[SC_SHA256_LEN];
    char *what;
    char *text;                         /* a line: its text (zeroed when acknowledged) */
    size_t tlen;
    char *path;                         /* a file: where it is */
    sbuf frames;                        /* the stanzas as written, one a line */
    int kept;                           /* frames holds all of them */
    int at_link;                        /* pending when the link came back */
    struct pending *next;
};

/* what may be kept for sending again, in all (a larger file is sent once) */
#define KEEP_MAX (64u << 20)

/* how far a file has gone: a bar on a terminal, events with -j */
struct progress {
    int send;                       /* 1 sending, 0 receiving */
    uint64_t id, done, total;
    int64_t t0, shown;              /* ms: start, last shown */
    const char *name;
};

struct incoming_file {
    char *name, *tmp;               /* name: set while a file is open (or being refused) */
    int fd;
    struct pl_recv r;
    struct progress pg;
};

static struct {
    int json;
    int accept_changed;
    const char *statedir, *filedir;
    char me[1024], mybare[1024], peer[1024], peerfull[1024];
    sc_key *key, *peerkey;
    uint8_t suites[4];
    size_t nsuites;
    struct e2e_hs hs;
    struct e2e_sess s;
    struct e2e_sess old;            /* the session a rekey replaces, until FIN */
    int have_old;
    int have_sess, peer_offline, hs_sent;
    uint64_t next_id;
    struct pending *pend;
    int npend;
    sbuf queue;                     /* lines typed before the session is up */
    struct incoming_file in;
    int out6, in7;                  /* fds */
    int input_done;
    int64_t drain_deadline;
    int wait_s;
    int failed;
    int c1_done;                    /* the server answered the key request */
    int via_relay;                  /* logged in to simpp-relayd (SIMPP_LOGIN=simpp) */
    int pep_peer;                   /* the peer's key from its own server's PEP: not
                                     * via the relay, or a peer of another domain */
    int key_wait;                   /* 1-2: for the peer to accept our subscription, 3: asked again */
    int peer_seen;                  /* the peer's presence or "subscribed" came */
    int presence_done;              /* what was stored for us while offline is in */
    int accept_video;
    const char *answer;             /* -m: the parameters an answer offers */
    int video_wait;                 /* invitations not yet answered */
    uint8_t invited[8][16];         /* stream ids we invited (the last 8) */
    int ninvited;
    int sync_done;                  /* the closing round trip (see main) */
    int pagers;                     /* pager messages sent */
    /* the next handshake's ephemeral key, made while idle (e2e_c3_*_spare) */
    sc_key *spare;
    int want_spare;
    /* the link to the relay (simpp-login's <link/> elements) */
    sbuf *capture;                  /* a copy of what send_stanza writes goes here */
    int framing;                    /* send_stanza writes a frame: kept in last_frame */
    sbuf last_frame;                /* the last frame written, as it was */
    size_t kept;                    /* bytes of frames kept in pending */
    int link_down;
    int back_left, back_done, back_wait;    /* lines pending when it came back */
    struct e2e_sess cand;           /* from a C3 that did not continue ours, until its FIN */
    int have_cand;
    uint8_t hs_seen[8][SC_SHA256_LEN];  /* the last C3s and C4s from the peer */
    int nhs_seen;
} S;

/* ---- output ------------------------------------------------------------- */

static void event(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void event(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
    char b[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, sizeof b, fmt, ap);
    va_end(ap);
    if (S.json) event("note %s", b);
    else fprintf(stderr, "%s: %s\n", progname, b);
}

static void alarmx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void alarmx(const char *fmt, ...)
{
    char b[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, sizeof b, fmt, ap);
    va_end(ap);
    if (S.json) event("error %s", b);
    fprintf(stderr, "%s: %s\n", progname, b);
    S.failed = 1;
}

static int write_all(const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(S.out6, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int send_stanza(sbuf *b)
{
    int r = 0;
    sb_puts(b, "\n");
    if (S.capture) sb_put(S.capture, b->p, b->n);
    if (S.framing) {
        sb_reset(&S.last_frame);
        sb_put(&S.last_frame, b->p, b->n);
    }
    if (!b->oom) r = write_all(b->p, b->n);
    sb_free(b);
    return r;
}

/* <message to=peer type=chat><body>notice</body>[no-store]<e2e t=...>b64</e2e></message> */
static void send_e2e(const char *to, const char *t, const uint8_t *d, size_t n, const char *extra, int store)
{
    sbuf b = { 0 };
    size_t bl = 4 * ((n + 2) / 3) + 1;
    char *e = malloc(bl);
    if (!e || sc_b64_encode(d, n, e, &bl) < 0) die(EX_OSERR, "out of memory");
    sb_puts(&b, "<message type='chat' to='");
    sb_esc(&b, to);
    sb_puts(&b, "'><body>" NOTICE "</body>");
    if (!store) sb_puts(&b, "<no-store xmlns='" NS_HINTS "'/>");
    sb_printf(&b, "<e2e xmlns='" E2E_NS "' t='%s'%s>%s</e2e></message>", t, extra ? extra : "", e);
    free(e);
    if (send_stanza(&b) < 0) die_sys(EX_IOERR, "unable to write to the relay (fd 7)");
}

/* ---- progress of a file ----------------------------------------------- */

#define PROGRESS_EVERY_MS 250

/* 1234567 -> "1.2 MB" (powers of 1000, as rates are given) */
static void human(char *b, size_t n, double v)
{
    static const char *u[] = { "B", "kB", "MB", "GB", "TB" };
    int i = 0;
    while (v >= 1000 && i < 4) { v /= 1000; i++; }
    snprintf(b, n, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

static void progress_start(struct progress *p, int send, uint64_t id, uint64_t total, const char *name)
{
    *p = (struct progress){ .send = send, .id = id, .total = total, .name = name, .t0 = ev_now_ms(), .shown = -1 };
}

/*
 * Show where a file is: with -j an event "progress send|recv id bytes total
 * name"; on a terminal a bar on standard error, redrawn in place (bytes,
 * rate, time left), ended with a newline when the file is complete.  At
 * most every PROGRESS_EVERY_MS, and always at the start and the end.
 */
static void progress_show(struct progress *p)
{
    int64_t now = ev_now_ms();
    int end = p->done >= p->total;
    if (!end && p->shown >= 0 && now - p->shown < PROGRESS_EVERY_MS) return;
    p->shown = now;
    if (S.json) {
        event("progress %s %llu %llu %llu %s", p->send ? "send" : "recv", (unsigned long long)p->id,
              (unsigned long long)p->done, (unsigned long long)p->total, p->name);
        return;
    }
    if (!isatty(2)) return;
    char bar[21], d[16], t[16], r[16], left[48] = "";
    double secs = (double)(now - p->t0) / 1000, rate = secs > 0 ? (double)p->done / secs : 0;
    int pct = p->total ? (int)(p->done * 100 / p->total) : 100;
    memset(bar, '-', 20);
    memset(bar, '#', (size_t)pct / 5);
    bar[20] = 0;
    human(d, sizeof d, (double)p->done);
    human(t, sizeof t, (double)p->total);
    human(r, sizeof r, rate);
    if (!end && rate > 0) {
        unsigned long l = (unsigned long)((double)(p->total - p->done) / rate + 0.5);
        snprintf(left, sizeof left, ", %lu:%02lu left", l / 60, l % 60);
    } else if (end)
        snprintf(left, sizeof left, ", %.1f s", secs);
    fprintf(stderr, "\r%s: %s %s [%s] %3d%% %s of %s, %s/s%s\033[K%s", progname,
            p->send ? "sending" : "receiving", p->name, bar, pct, d, t, r, left, end ? "\n" : "");
    fflush(stderr);
}

/* ---- keys: C1/C2 and pinning ------------------------------------------- */

static char *pin_path(const char *jid)
{
    char *p;
    if (asprintf(&p, "%s/pins/%s.pub", S.statedir, jid) < 0) die(EX_OSERR, "out of memory");
    return p;
}

/* the key the peer's PEP gave (checked by pk_item_check): compare it with
 * the pin, or pin it */
static int pin_peer(sc_key *k)
{
    uint8_t pub[SC_MAX_PUB];
    size_t pl = sizeof pub;
    sc_key *pinned;
    char fa[KF_FPR_LEN], fb[KF_FPR_LEN], *path = pin_path(S.peer);
    if (sc_key_public(k, pub, &pl) < 0) {
        sc_key_free(k);
        free(path);
        return -1;
    }
    kf_fingerprint(k, fb);
    if ((pinned = kf_read(path, NULL, 0, 0))) {
        uint8_t a[SC_MAX_PUB];
        size_t al = sizeof a;
        int same = sc_key_public(pinned, a, &al) == 0 && al == pl && sc_ct_eq(a, pub, pl);
        kf_fingerprint(pinned, fa);
        sc_key_free(pinned);
        if (!same && !S.accept_changed) {
            alarmx("THE KEY OF %s HAS CHANGED: pinned %s, the server now gives %s. "
                   "Someone may be in the middle. Compare safety numbers; run with -A to accept.",
                   S.peer, fa, fb);
            sc_key_free(k);
            free(path);
            return -1;
        }
        if (!same) {
            note("accepting the new key of %s (%s) as told (-A)", S.peer, fb);
            kf_write_public(path, k, 1);
        }
    } else {
        if (kf_write_public(path, k, 0) < 0) die_sys(EX_CANTCREAT, "unable to write %s", path);
        note("first contact: pinned the key of %s %s", S.peer, fb);
    }
    free(path);
    sc_key_free(S.peerkey);
    S.peerkey = k;
    return 0;
}

/* What the peer is worth: the level the relay recorded (its word), and the
 * card certificate it keeps for the peer, checked here against the user's
 * own card CAs (STATEDIR/card-ca.pem), not the relay's.  Shown beside the
 * safety number. */
static char peer_ident[1200];

static void peer_identity(const xs_node *iq)
{
    /* the relay's answer from its directory carries the level and the
     * certificate; a key from the peer's own server (PEP) comes without */
    const xs_node *pk = S.via_relay ? pk_find(iq) : NULL;
    const char *lv = pk ? xs_getattr(pk, "level", NULL) : NULL;
    const xs_node *certs = pk ? xs_child(pk, "certs", "urn:simpp:1") : NULL;
    uint8_t *der[X509_CHAIN_MAX];
    size_t len[X509_CHAIN_MAX], n = 0;
    struct x509_ident id;
    char verdict[400] = "", *ca = NULL;
    snprintf(peer_ident, sizeof peer_ident, "level %s (as the relay recorded it)", lv ? lv : "unknown");
    for (const xs_node *k = certs ? certs->children : NULL; k && n < X509_CHAIN_MAX; k = k->next) {
        if (!k->name || strcmp(k->name, "cert")) continue;
        const char *t = xs_text(k);
        size_t cap = strlen(t) / 4 * 3 + 4;
        if (!(der[n] = malloc(cap)) || sc_b64_decode(t, strlen(t), der[n], &cap) < 0) { free(der[n]); break; }
        len[n++] = cap;
    }
    if (S.json) event("peer %s level %s", S.peer, lv ? lv : "unknown");
    if (n && x509_describe(der[0], len[0], &id) == 0) {
        uint8_t spki[256];
        size_t sl = sizeof spki;
        char why[300];
        struct x509_ident chk;
        if (asprintf(&ca, "%s/card-ca.pem", S.statedir) < 0) die(EX_OSERR, "out of memory");
        if (access(ca, R_OK) < 0)
            snprintf(verdict, sizeof verdict, "not checked (no card CAs of yours in %s)", ca);
        else if (kf_spki_der(S.peerkey, spki, &sl) < 0 ||
                 x509_check_card(ca, NULL, (const uint8_t *const *)der, len, n, spki, sl, S.peer,
                                 (int64_t)time(NULL), &chk, why, sizeof why) < 0)
            snprintf(verdict, sizeof verdict, "NOT GOOD against your card CAs: %s", why);
        else
            snprintf(verdict, sizeof verdict, "good against your card CAs");
        size_t o = strlen(peer_ident);
        snprintf(peer_ident + o, sizeof peer_ident - o, "; certificate \"%s\" issued by \"%s\": %s", id.subject,
                 id.issuer, verdict);
        if (S.json) event("peer-cert %s %s; subject %s; issuer %s", S.peer, verdict, id.subject, id.issuer);
        free(ca);
    }
    if (!S.json) note("%s: %s", S.peer, peer_ident);
    for (size_t i = 0; i < n; i++) free(der[i]);
}

/* ---- the session ----------------------------------------------------- */

static void seal_send(int type, uint64_t id, const void *d, size_t n)
{
    size_t cl = n + 9 + SC_MAX_OVERHEAD;
    uint8_t *ct = malloc(cl);
    uint64_t seq;
    char extra[96], sid[2 * E2E_SID + 1];
    if (!ct || e2e_seal(&S.s, type, id, d, n, ct, &cl, &seq) != E2E_OK) die(EX_SOFTWARE, "unable to seal");
    sc_hex_encode(S.s.sid, E2E_SID, sid);
    snprintf(extra, sizeof extra, " sid='%s' n='%llu'", sid, (unsigned long long)seq);
    S.framing = 1;
    send_e2e(S.peerfull[0] ? S.peerfull : S.peer, "f", ct, cl, extra, 0);
    S.framing = 0;
    free(ct);
}

static void start_handshake(void)
{
    uint8_t c3[E2E_MSG_MAX];
    size_t l = sizeof c3;
    if (!S.peerkey) return;
    e2e_hs_wipe(&S.hs);
    if (e2e_c3_make_spare(&S.hs, S.mybare, S.peer, S.key, S.suites, S.nsuites, c3, &l, &S.spare) != E2E_OK)
        die(EX_SOFTWARE, "unable to start the key exchange");
    S.want_spare = !S.spare;
    /* a rekey names the session it continues; a first C3 (or one after a
     * restart, with nothing to continue) does not (19.19) */
    char extra[64] = "", sid[2 * E2E_SID + 1];
    if (S.have_sess && S.s.confirmed) {
        sc_hex_encode(S.s.sid, E2E_SID, sid);
        snprintf(extra, sizeof extra, " sid='%s'", sid);
    }
    send_e2e(S.peer, "c3", c3, l, extra, 0);
    S.hs_sent = 1;
}

/* ---- pending: kept until acknowledged ---------------------------------- */

static struct pending *pending_new(uint64_t id)
{
    struct pending *p = calloc(1, sizeof *p);
    if (!p) die(EX_OSERR, "out of memory");
    p->id = id;
    p->seq = S.s.sseq;
    memcpy(p->sid, S.s.sid, E2E_SID);
    return p;
}

/* the frames captured for p are kept if they fit (KEEP_MAX in all) */
static void pending_keep(struct pending *p)
{
    p->kept = !p->frames.oom && S.kept + p->frames.n <= KEEP_MAX;
    if (p->kept) S.kept += p->frames.n;
    else sb_free(&p->frames);
}

static void pending_unkeep(struct pending *p)
{
    if (p->kept) S.kept -= p->frames.n;
    p->kept = 0;
    sb_free(&p->frames);
}

static void pending_add(struct pending *p)
{
    memcpy(p->t, S.s.t_send, sizeof p->t);
    p->next = S.pend;
    S.pend = p;
    S.npend++;
}

static void pending_free(struct pending *p)
{
    pending_unkeep(p);
    if (p->text) sc_zero(p->text, p->tlen);
    free(p->text);
    free(p->path);
    free(p->what);
    free(p);
}

static void pending_unlink(struct pending *p)
{
    for (struct pending **pp = &S.pend; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            S.npend--;
            return;
        }
}

/* the user's lines not yet acknowledged (files not counted) */
static int pending_lines(void)
{
    int n = 0;
    for (struct pending *p = S.pend; p; p = p->next) n += !p->path;
    return n;
}

/* a line sealed (again) under the current session, its frame kept */
static void seal_text(struct pending *p)
{
    pending_unkeep(p);
    p->seq = S.s.sseq;
    memcpy(p->sid, S.s.sid, E2E_SID);
    S.capture = &p->frames;
    seal_send(E2E_TEXT, p->id, p->text, p->tlen);
    S.capture = NULL;
    memcpy(p->t, S.s.t_send, sizeof p->t);
    pending_keep(p);
}

static void send_text(const char *line, size_t n)
{
    uint64_t id = ++S.next_id;
    struct pending *p = pending_new(id);
    if (!(p->text = malloc(n ? n : 1)) || !(p->what = strndup(line, n > 40 ? 40 : n))) die(EX_OSERR, "out of memory");
    memcpy(p->text, line, n);
    p->tlen = n;
    seal_text(p);
    pending_add(p);
    if (S.json) event("sent %llu", (unsigned long long)id);
    if (S.s.sseq >= REKEY_EVERY && S.s.initiator && !S.hs_sent) start_handshake();
}

static void send_file(const char *path);

static int by_seq(const void *a, const void *b)
{
    const struct pending *x = *(struct pending *const *)a, *y = *(struct pending *const *)b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * After a link change (restart = 0) or the peer's restart (1): what the
 * peer has not acknowledged goes again, oldest first.  Frames of the
 * current session are written again as they were (the receiver drops
 * those it has, 19.19); a line from another session (the peer restarted,
 * or a rekey came between) is sealed again under the current one, and a
 * file whose frames were not all kept or whose session is gone is offered
 * again from the start.  Returns the lines sent again.
 */
static int resend_pending(int restart)
{
    size_t n = 0, i;
    int lines = 0;
    struct pending **v;
    if (!S.have_sess || !S.s.confirmed || !S.pend) return 0;
    for (struct pending *p = S.pend; p; p = p->next) n++;
    if (!(v = calloc(n, sizeof *v))) die(EX_OSERR, "out of memory");
    n = 0;
    for (struct pending *p = S.pend; p; p = p->next) v[n++] = p;
    qsort(v, n, sizeof *v, by_seq);
    for (i = 0; i < n; i++)
        if (!restart && v[i]->kept && !memcmp(v[i]->sid, S.s.sid, E2E_SID)) {
            if (write_all(v[i]->frames.p, v[i]->frames.n) < 0)
                die_sys(EX_IOERR, "unable to write to the relay (fd 7)");
            lines += !v[i]->path;
            v[i] = NULL;
        }
    for (i = 0; i < n; i++) {
        struct pending *p = v[i];
        if (!p) continue;
        if (p->text) {
            seal_text(p);
            lines++;
        } else if (p->path) {
            char *path = strdup(p->path);
            pending_unlink(p);
            pending_free(p);
            if (!path) die(EX_OSERR, "out of memory");
            send_file(path);
            free(path);
        }
    }
    free(v);
    return lines;
}

/* "connection back, N delivered", once the lines pending when it came back are */
static void back_check(void)
{
    if (!S.back_wait || S.back_left > 0) return;
    S.back_wait = 0;
    if (S.json) event("link back %d", S.back_done);
    else note("connection back, %d delivered", S.back_done);
}

/*
 * simpp-login's word on the link (<link xmlns='urn:simpp:1:link'/>): down
 * (it queues what we write), resumed (nothing lost on the hop), new (a new
 * stream: stanzas may have been lost or come twice).  The session and its
 * keys stay either way; on the way back what is pending goes again.
 */
/* our presence, to the peer alone: it tells a peer that took us for
 * offline that we are back (19.19) */
static void presence_to_peer(void)
{
    sbuf b = { 0 };
    sb_puts(&b, "<presence to='");
    sb_esc(&b, S.peer);
    sb_puts(&b, "'/>");
    send_stanza(&b);
}

static void on_link(const xs_node *n)
{
    const char *st = xs_getattr(n, "state", NULL);
    if (!st) return;
    if (!strcmp(st, "down")) {
        if (S.link_down) return;
        S.link_down = 1;
        if (S.json) event("link down %d", pending_lines());
        else note("connection lost, %d line%s pending", pending_lines(), pending_lines() == 1 ? "" : "s");
    } else if (!strcmp(st, "resumed") || !strcmp(st, "new")) {
        S.link_down = 0;
        for (struct pending *p = S.pend; p; p = p->next)
            if (!p->at_link && !p->path) {
                p->at_link = 1;
                S.back_left++;
            }
        if (!S.back_wait) S.back_done = 0;
        S.back_wait = 1;
        int again = 0;
        /* resumed: the server acknowledged or still holds what we sent,
         * and holds what was sent to us; nothing goes again (13, 19.19) */
        if (!strcmp(st, "new")) {
            again = resend_pending(0);
            /* a new stream: the server may have lost what was on its way.
             * A peer that took us for offline while our link was down
             * learns that we are back from our presence, sent to it
             * directly (we may have no frame of ours to send again), and
             * from the last frame, a duplicate it drops (frame_in) */
            presence_to_peer();
            if (!S.pend && S.last_frame.n && S.have_sess && S.s.confirmed &&
                write_all(S.last_frame.p, S.last_frame.n) < 0)
                die_sys(EX_IOERR, "unable to write to the relay (fd 7)");
        }
        if (S.json) event("link %s %d", st, again);
        back_check();
    }
}

static void send_pager(const char *line, size_t n)
{
    uint8_t id[16], *out;
    size_t ol = n + 1024;
    char hex[33];
    if (!S.peerkey) { alarmx("no key for %s yet: cannot write to them offline", S.peer); return; }
    sc_random(id, sizeof id);
    if (!(out = malloc(ol)) ||
        e2e_pager_seal(S.key, S.mybare, S.peerkey, S.peer, id, (int64_t)time(NULL), line, n, out, &ol) != E2E_OK)
        die(EX_SOFTWARE, "unable to seal a pager message");
    send_e2e(S.peer, "p", out, ol, NULL, 1);
    S.pagers++;
    free(out);
    sc_hex_encode(id, 8, hex);
    if (S.json) event("pager-sent %s", hex);
    else note("%s is offline: sent as a pager message (signed, encrypted to their key, kept by the relay)", S.peer);
}

static void video_invite(const char *params);
static void answer(int type, uint64_t id, const void *d, size_t n);
static void file_done(int ok, const char *why);

/* conversation consistency (paper 004): both ends print the same hash iff
 * both saw the same frames in the same order */
static void show_transcript(const struct e2e_sess *s)
{
    uint8_t t[SC_SHA256_LEN];
    char hex[65];
    e2e_transcript(s, t);
    sc_hex_encode(t, sizeof t, hex);
    if (S.json) event("transcript %s", hex);
    else note("transcript %s", hex);
}

static void flush_queue(void)
{
    char *p = S.queue.p, *end = p + S.queue.n;
    while (p && p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (!strncmp(p, "/file ", 6)) {
            char *path = strndup(p + 6, n - 6);
            send_file(path);
            free(path);
        } else if (!strncmp(p, "/video", 6)) {
            char *params = strndup(n > 7 ? p + 7 : "", n > 7 ? n - 7 : 0);
            video_invite(params ? params : "");
            free(params);
        } else if (S.have_sess && S.s.confirmed)
            send_text(p, n);
        else
            send_pager(p, n);
        p += n + 1;
    }
    sb_reset(&S.queue);
}

static void session_up(void)
{
    char safety[80];
    /* -j shows the safety number on /safety only: it costs a millisecond */
    if (S.json) event("session %s %s", sc_suite_name(S.s.suite), S.peerfull);
    else {
        e2e_safety_number(S.key, S.peerkey, safety);
        for (char *c = safety; *c; c++) if (*c == '\n') *c = ' ';
        note("end-to-end session with %s (%s); safety number %s; %s", S.peerfull, sc_suite_name(S.s.suite), safety,
             peer_ident);
    }
    S.peer_offline = 0;
    flush_queue();
}

/* the peer's session restarted: the new one is confirmed now; what was
 * pending goes under its keys, a file from the start */
static void restarted(void)
{
    if (S.in.name) file_done(0, "the peer restarted its session");
    int n = resend_pending(1);
    if (S.json) event("restarted %s %d", S.peer, n);
    else note("%s restarted its session; re-established, %d pending lines resent", S.peer, n);
}

static void on_c3(const char *from, const xs_node *el, const uint8_t *d, size_t n)
{
    uint8_t c4[E2E_MSG_MAX];
    size_t l = sizeof c4;
    unsigned allowed = 0;
    struct e2e_sess ns;
    char f[1024], t[1024];
    if (e2e_c3_parties(d, n, f, sizeof f, t, sizeof t) || strcmp(f, S.peer) || strcmp(t, S.mybare)) {
        alarmx("a key exchange from %s names other parties: refused", from);
        return;
    }
    /* a C3 that does not continue the session we have (no sid of ours on
     * it) comes from a peer that lost its state, or is an old one sent
     * again: its session is a candidate until its FIN (19.19) */
    const char *csid = xs_getattr(el, "sid", NULL);
    char cur[2 * E2E_SID + 1], extra[64] = "";
    sc_hex_encode(S.s.sid, E2E_SID, cur);
    int confirmed = S.have_sess && S.s.confirmed, cont = csid && !strcmp(csid, cur);
    for (size_t i = 0; i < S.nsuites; i++) allowed |= 1u << S.suites[i];
    /* both sent C3 at once: the smaller JID stays initiator */
    if (S.hs.state == E2E_C3 && strcmp(S.mybare, S.peer) < 0) return;
    int e = e2e_c3_accept_spare(S.mybare, S.peer, S.key, S.peerkey, allowed, d, n, c4, &l, &ns, &S.spare);
    S.want_spare = !S.spare;
    if (e != E2E_OK) {
        alarmx("key exchange from %s refused: %s%s", from, e2e_strerror(e),
               e == E2E_EAUTH ? " (not signed by the pinned key: someone in the middle?)" : "");
        return;
    }
    e2e_hs_wipe(&S.hs);
    snprintf(S.peerfull, sizeof S.peerfull, "%s", from);
    /* C4 says whether it continues our session: the initiator learns so
     * that this side did not restart */
    if (confirmed && cont) snprintf(extra, sizeof extra, " sid='%s'", cur);
    send_e2e(from, "c4", c4, l, extra, 0);
    if (confirmed && !cont) {
        e2e_sess_wipe(&S.cand);
        S.cand = ns;
        S.have_cand = 1;
        S.hs_sent = 0;
        sc_zero(&ns, sizeof ns);
        return;
    }
    /* a rekey: frames A sent before it saw C4 still use the old keys */
    e2e_sess_wipe(&S.old);
    S.have_old = S.have_sess && S.s.confirmed;
    if (S.have_old) S.old = S.s;
    else e2e_sess_wipe(&S.s);
    S.s = ns;                       /* confirmed when A's FIN arrives */
    S.have_sess = 1;
    S.hs_sent = 0;
    sc_zero(&ns, sizeof ns);
}

static void on_c4(const char *from, const xs_node *el, const uint8_t *d, size_t n)
{
    struct e2e_sess ns;
    char cur[2 * E2E_SID + 1];
    const char *csid = xs_getattr(el, "sid", NULL);
    sc_hex_encode(S.s.sid, E2E_SID, cur);
    int cont = csid && !strcmp(csid, cur);
    if (S.hs.state != E2E_C3 && S.have_sess && S.s.confirmed) {
        /* the answer to an old C3 of ours sent again across a new stream */
        note("a key exchange answer from %s to no exchange under way: ignored", from);
        return;
    }
    int e = e2e_c4_accept(&S.hs, S.peerkey, d, n, &ns);
    if (e != E2E_OK) {
        alarmx("key exchange answer from %s refused: %s%s", from, e2e_strerror(e),
               e == E2E_EAUTH ? " (not signed by the pinned key: someone in the middle?)" : "");
        return;
    }
    snprintf(S.peerfull, sizeof S.peerfull, "%s", from);
    int rekey = S.have_sess && S.s.confirmed;
    e2e_sess_wipe(&S.s);            /* a rekey erases the old session */
    S.s = ns;
    sc_zero(&ns, sizeof ns);
    S.have_sess = 1;
    S.hs_sent = 0;
    /* C5 confirmed: FIN proves to B we hold x for this very exchange */
    seal_send(E2E_FIN, 0, S.s.th, sizeof S.s.th);
    if (!rekey) session_up();
    else {
        if (!cont) restarted();     /* the peer did not have our session */
        else if (S.json) event("rekeyed %s", sc_suite_name(S.s.suite));
        else note("new session keys with %s", S.peer);
        flush_queue();
    }
}

static void file_done(int ok, const char *why)
{
    struct incoming_file *f = &S.in;
    uint8_t v[2] = { (uint8_t)ok, 0 };
    if (f->fd >= 0) close(f->fd);
    if (!ok && f->tmp) unlink(f->tmp);
    if (f->name && S.have_sess && S.s.confirmed) answer(E2E_FILE_DONE, f->r.id, v, 1);
    if (ok) {
        if (S.json) event("file-received %s %llu", f->name, (unsigned long long)f->r.o.size);
        else note("received file %s (%llu bytes, SHA-256 checked)", f->name, (unsigned long long)f->r.o.size);
    } else if (f->name)
        alarmx("file %s refused: %s", f->name, why);
    free(f->name);
    free(f->tmp);
    memset(f, 0, sizeof *f);
    f->fd = -1;
}

static void file_stored(void);

static void on_file_offer(uint64_t id, const uint8_t *d, size_t n)
{
    struct incoming_file *f = &S.in;
    struct pl_offer o;
    if (f->name) file_done(0, "a new offer came first");
    /* a plain name only: no directories, nothing hidden, nothing odd */
    int e = pl_offer_parse(d, n, &o);
    if (e != PL_OK) {                       /* refused, under a name fit to show */
        char shown[64] = "(no name)";
        size_t nl = n > 40 ? n - 40 : 0;
        if (nl > sizeof shown - 1) nl = sizeof shown - 1;
        if (nl) {
            memcpy(shown, d + 40, nl);
            shown[nl] = 0;
            pl_clean(shown, nl);
        }
        f->r.id = id;
        if (!(f->name = strdup(shown))) die(EX_OSERR, "out of memory");
        file_done(0, pl_strerror(e));
        return;
    }
    pl_recv_start(&f->r, id, &o);
    if (!(f->name = strdup(o.name))) die(EX_OSERR, "out of memory");
    const char *nm = f->name;
    if (!S.filedir) { file_done(0, "not accepting files (no -o dir)"); return; }
    if (asprintf(&f->tmp, "%s/.%s.part", S.filedir, nm) < 0) die(EX_OSERR, "out of memory");
    f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (f->fd < 0) { file_done(0, strerror(errno)); return; }
    note("receiving file %s (%llu bytes)", nm, (unsigned long long)o.size);
    progress_start(&f->pg, 0, id, o.size, f->name);
    progress_show(&f->pg);
    int r = pl_recv_empty(&f->r);           /* nothing will follow an empty file */
    if (r < 0) file_done(0, pl_strerror(r));
    else if (r == 1) file_stored();
}

static void on_file_chunk(uint64_t id, const uint8_t *d, size_t n)
{
    struct incoming_file *f = &S.in;
    const uint8_t *b;
    size_t bl;
    if (f->fd < 0) return;
    int r = pl_recv_chunk(&f->r, id, d, n, &b, &bl);
    if (r == PL_EFILE) { alarmx("a file chunk from %s for no file being received: ignored", S.peer); return; }
    if (r < 0) { file_done(0, pl_strerror(r)); return; }
    if (bl && write(f->fd, b, bl) != (ssize_t)bl) { file_done(0, strerror(errno)); return; }
    f->pg.done = f->r.got;
    progress_show(&f->pg);
    if (r == 1) file_stored();
}

/* the last byte came and the hash matched: to disk, then the name */
static void file_stored(void)
{
    struct incoming_file *f = &S.in;
    if (fsync(f->fd) < 0) { file_done(0, strerror(errno)); return; }
    /* only a whole, checked file gets its name (never overwriting one) */
    char *final;
    if (asprintf(&final, "%s/%s", S.filedir, f->name) < 0) die(EX_OSERR, "out of memory");
    if (renameat2(AT_FDCWD, f->tmp, AT_FDCWD, final, RENAME_NOREPLACE) < 0) {
        free(final);
        file_done(0, errno == EEXIST ? "a file of that name exists" : strerror(errno));
        return;
    }
    free(final);
    file_done(1, NULL);
}

static void send_file(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    uint8_t *buf;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        alarmx("%s: %s", path, fd < 0 ? strerror(errno) : "not a regular file");
        if (fd >= 0) close(fd);
        return;
    }
    if (!S.have_sess || !S.s.confirmed) { alarmx("%s: no session with %s: files need the peer online", path, S.peer); close(fd); return; }
    /* first pass: the digest the receiver checks against */
    sc_sha256_ctx h;
    uint8_t dg[SC_SHA256_LEN];
    ssize_t r;
    buf = malloc(8 + PL_CHUNK);
    if (!buf) die(EX_OSERR, "out of memory");
    sc_sha256_init(&h);
    while ((r = read(fd, buf, PL_CHUNK)) > 0) sc_sha256_update(&h, buf, (size_t)r);
    sc_sha256_final(&h, dg);
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    struct pl_offer o = { .size = (uint64_t)st.st_size };
    uint8_t offer[8 + SC_SHA256_LEN + PL_NAME_MAX];
    size_t ol;
    memcpy(o.sha, dg, sizeof o.sha);
    snprintf(o.name, sizeof o.name, "%s", base);
    if (strlen(base) > PL_NAME_MAX || pl_offer_make(&o, offer, &ol) != PL_OK) {
        alarmx("%s: the peer would refuse this name (1 to %d bytes, no control characters, "
               "not starting with '.'): rename the file", path, PL_NAME_MAX);
        close(fd);
        free(buf);
        return;
    }
    uint64_t id = ++S.next_id;
    struct progress pg;
    /* its frames are kept, up to KEEP_MAX, to go again after a link change */
    struct pending *p = pending_new(id);
    if (!(p->what = strdup(base)) || !(p->path = strdup(path))) die(EX_OSERR, "out of memory");
    S.capture = &p->frames;
    seal_send(E2E_FILE_OFFER, id, offer, ol);
    progress_start(&pg, 1, id, o.size, base);
    progress_show(&pg);
    lseek(fd, 0, SEEK_SET);
    uint64_t off = 0;
    while ((r = read(fd, buf + 8, PL_CHUNK)) > 0) {
        size_t cl = pl_chunk_make(off, buf + 8, (size_t)r, buf);
        seal_send(E2E_FILE_CHUNK, id, buf, cl);
        if (S.capture && (p->frames.oom || S.kept + p->frames.n > KEEP_MAX)) {
            S.capture = NULL;               /* too large to keep: sent once */
            sb_free(&p->frames);
        }
        off += (uint64_t)r;
        pg.done = off < o.size ? off : o.size;
        progress_show(&pg);
    }
    close(fd);
    free(buf);
    if (S.capture) pending_keep(p);
    S.capture = NULL;
    pending_add(p);
    if (S.json) event("file-sent %llu %s", (unsigned long long)id, base);
}

/* ---- video invitations (paper 002): keys never travel, both ends derive
 * them from this session; the parameters travel inside it ------------- */

static void video_keys(const uint8_t sid[16], int inviter)
{
    uint8_t i2r[32], r2i[32], ctx[19];
    char hex[33], ks[65], kr[65], *dir, *path;
    memcpy(ctx, sid, 16);
    memcpy(ctx + 16, "i2r", 3);
    e2e_export(&S.s, "simpp/1 video", ctx, sizeof ctx, i2r, sizeof i2r);
    memcpy(ctx + 16, "r2i", 3);
    e2e_export(&S.s, "simpp/1 video", ctx, sizeof ctx, r2i, sizeof r2i);
    sc_hex_encode(sid, 16, hex);
    sc_hex_encode(inviter ? i2r : r2i, 32, ks);
    sc_hex_encode(inviter ? r2i : i2r, 32, kr);
    sc_zero(i2r, sizeof i2r);
    sc_zero(r2i, sizeof r2i);
    if (asprintf(&dir, "%s/video", S.statedir) < 0 || asprintf(&path, "%s/%s.key", dir, hex) < 0)
        die(EX_OSERR, "out of memory");
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) die_sys(EX_CANTCREAT, "unable to make %s", dir);
    sbuf b = { 0 };
    sb_printf(&b, "simpp-video-key 1\nstream %s\nme %s\npeer %s\nsend %s\nrecv %s\n",
              hex, S.mybare, S.peer, ks, kr);
    sc_zero(ks, sizeof ks);
    sc_zero(kr, sizeof kr);
    if (b.oom || write_file_atomic(path, b.p, b.n, 0600, 1) < 0) die_sys(EX_CANTCREAT, "unable to write %s", path);
    sb_free(&b);
    if (S.json) event("video %s %s", hex, path);
    else note("video stream %s with %s: keys in %s (simpp-videnc -k %s)", hex, S.peer, path, path);
    free(path);
    free(dir);
}

static void video_invite(const char *params)
{
    uint8_t p[1 + PL_VSID + PL_VPARAMS], sid[PL_VSID];
    size_t pl;
    if (!S.have_sess || !S.s.confirmed) {
        /* paper 002: refused at once when the peer is offline */
        alarmx("video refused: %s is not online", S.peer);
        if (S.json) event("video-refused offline");
        return;
    }
    sc_random(sid, sizeof sid);
    if (pl_video_make(PL_VINVITE, sid, params, p, &pl) != PL_OK) {
        alarmx("video parameters too long (at most %d bytes)", PL_VPARAMS);
        return;
    }
    seal_send(E2E_VIDEO, ++S.next_id, p, pl);
    S.video_wait++;
    memcpy(S.invited[S.ninvited++ % 8], sid, sizeof sid);
    if (S.ninvited == 16) S.ninvited = 8;   /* the last 8, without overflow */
    char hex[33];
    sc_hex_encode(sid, sizeof sid, hex);
    if (S.json) event("video-invited %s", hex);
    else note("video invitation sent to %s", S.peer);
}

static void on_video(const uint8_t *d, size_t n)
{
    struct pl_video v;
    uint8_t a[1 + PL_VSID + PL_VPARAMS];
    size_t al;
    char hex[2 * PL_VSID + 1];
    int e = pl_video_parse(d, n, &v);
    if (e != PL_OK) {
        alarmx("a video message from %s was refused: %s", S.peer, pl_strerror(e));
        return;
    }
    sc_hex_encode(v.sid, sizeof v.sid, hex);
    if (v.kind == PL_VINVITE) {
        if (S.json) event("video-invite %s %s", hex, v.params);
        else note("%s invites you to video (%s): %s", S.peer, v.params, S.accept_video ? "accepted" : "refused (run with -a to accept)");
        pl_video_make(S.accept_video ? PL_VACCEPT : PL_VREFUSE, v.sid, S.accept_video ? S.answer : NULL, a, &al);
        seal_send(E2E_VIDEO, ++S.next_id, a, al);
        if (S.accept_video) video_keys(v.sid, 0);
    } else if (v.kind == PL_VACCEPT) {
        int ours = 0;
        for (int i = 0; i < 8 && i < S.ninvited; i++) ours |= !memcmp(S.invited[i], v.sid, PL_VSID);
        if (!ours) {                        /* never invited: no key file */
            alarmx("%s accepted a video stream we did not offer: ignored", S.peer);
            return;
        }
        if (S.video_wait) S.video_wait--;
        /* a call's answer: where the peer receives */
        if (v.params[0] && S.json) event("video-answer %s %s", hex, v.params);
        else if (v.params[0]) note("%s answers the video invitation: %s", S.peer, v.params);
        video_keys(v.sid, 1);
    } else {
        if (S.video_wait) S.video_wait--;
        if (S.json) event("video-refused %s", hex);
        else note("%s refused the video invitation", S.peer);
    }
}

static void on_ack(uint64_t id, const uint8_t *d, size_t n, int file_ok)
{
    for (struct pending **pp = &S.pend; *pp; pp = &(*pp)->next) {
        struct pending *p = *pp;
        if (p->id != id) continue;
        /* conversation consistency: the peer saw exactly what we sent */
        const uint8_t *t = pl_ack_transcript(d, n);
        int good = !(t && !sc_ct_eq(p->t, t, SC_SHA256_LEN));
        if (!good)
            alarmx("message %llu: the peer's transcript differs from ours: the conversation was altered",
                   (unsigned long long)id);
        else if (file_ok < 0) {
            if (S.json) event("ack %llu", (unsigned long long)id);
            else note("delivered: %s", p->what);
        } else if (file_ok) {
            if (S.json) event("file-delivered %llu", (unsigned long long)id);
            else note("file delivered and checked: %s", p->what);
        } else
            alarmx("the peer refused file %s", p->what);
        *pp = p->next;
        S.npend--;
        if (p->at_link && S.back_left > 0) {
            S.back_left--;
            S.back_done += good;
        }
        pending_free(p);
        back_check();
        return;
    }
}

/*
 * Frames opened lately, per session and sequence number: a hash of their
 * bytes, their id and type, and the answer they got (an ACK and the t_recv
 * it carried, or a file's verdict).  A frame that comes again with the same
 * bytes (resent after a link change, or replayed) is dropped and its answer
 * sent again, since the answer may be what was lost; the same number with
 * other bytes is refused (doc/PROTOCOL.md 19.19).
 */
#define SEEN_MAX 8192
struct seen {
    uint8_t sid[E2E_SID], h[SC_SHA256_LEN];
    uint64_t seq, id;
    int type, used;
    char *reply;                            /* the answer's stanza, as written */
    size_t rlen;
};
static struct seen *seen_tab;
static size_t seen_next;
static struct seen *seen_cur;               /* the frame being handled */

static struct seen *seen_find(const uint8_t *sid, uint64_t seq)
{
    for (size_t i = 0; seen_tab && i < SEEN_MAX; i++)
        if (seen_tab[i].used && seen_tab[i].seq == seq && !memcmp(seen_tab[i].sid, sid, E2E_SID)) return &seen_tab[i];
    return NULL;
}

static struct seen *seen_add(const uint8_t *sid, uint64_t seq, const uint8_t *d, size_t n, int type, uint64_t id)
{
    if (!seen_tab && !(seen_tab = calloc(SEEN_MAX, sizeof *seen_tab))) die(EX_OSERR, "out of memory");
    struct seen *o = &seen_tab[seen_next++ % SEEN_MAX];
    free(o->reply);
    memset(o, 0, sizeof *o);
    memcpy(o->sid, sid, E2E_SID);
    sc_sha256(d, n, o->h);
    o->seq = seq;
    o->id = id;
    o->type = type;
    o->used = 1;
    return o;
}

/* an answer to the frame being handled: sealed, and its frame kept to
 * write again as it was (the same number: a lost answer fills its place in
 * the peer's transcript; one that was not lost is a duplicate there) */
static void answer(int type, uint64_t id, const void *d, size_t n)
{
    sbuf b = { 0 };
    S.capture = seen_cur ? &b : NULL;
    seal_send(type, id, d, n);
    S.capture = NULL;
    if (seen_cur && !b.oom) {
        free(seen_cur->reply);
        seen_cur->reply = malloc(b.n);
        if (seen_cur->reply) memcpy(seen_cur->reply, b.p, b.n);
        seen_cur->rlen = seen_cur->reply ? b.n : 0;
    }
    sb_free(&b);
}

/*
 * Frames that came ahead of one still missing (after a link change the
 * frames a relay lost come again behind newer ones): held, in order, up to
 * HOLD_MAX and GAP_MS, then opened; only then is the gap skipped and
 * reported (19.7).
 */
#define HOLD_MAX 1024
#define GAP_MS 2000
struct held { char *from, sid[2 * E2E_SID + 1]; uint64_t seq; uint8_t *d; size_t n; struct held *next; };
static struct held *held;
static int nheld;
static int64_t hold_until;

static void frame_in(const char *from, const char *sid, uint64_t seq, const uint8_t *d, size_t n, int force);

static void hold(const char *from, const char *sid, uint64_t seq, const uint8_t *d, size_t n)
{
    struct held *h = calloc(1, sizeof *h), **pp = &held;
    if (!h || !(h->from = strdup(from)) || !(h->d = malloc(n ? n : 1))) die(EX_OSERR, "out of memory");
    snprintf(h->sid, sizeof h->sid, "%s", sid);
    memcpy(h->d, d, n);
    h->n = n;
    h->seq = seq;
    while (*pp && (*pp)->seq <= seq) pp = &(*pp)->next;
    h->next = *pp;
    *pp = h;
    nheld++;
    if (!hold_until) hold_until = ev_now_ms() + GAP_MS;
}

/* the first held frame (with force: whatever is missing before it is given up) */
static void release_first(int force)
{
    struct held *h = held;
    held = h->next;
    nheld--;
    if (!held) hold_until = 0;
    frame_in(h->from, h->sid, h->seq, h->d, h->n, force);
    free(h->from);
    free(h->d);
    free(h);
}

/* the session a sid (hex) names: the current one or a rekey's old one */
static struct e2e_sess *sess_of(const char *sid)
{
    char hex[2 * E2E_SID + 1];
    if (!S.have_sess) return NULL;
    sc_hex_encode(S.s.sid, E2E_SID, hex);
    if (!strcmp(sid, hex)) return &S.s;
    sc_hex_encode(S.old.sid, E2E_SID, hex);
    if (S.have_old && !strcmp(sid, hex)) return &S.old;
    sc_hex_encode(S.cand.sid, E2E_SID, hex);
    if (S.have_cand && !strcmp(sid, hex)) return &S.cand;
    return NULL;
}

/* held frames that are next in their session now */
static void drain_held(void)
{
    static int draining;
    if (draining) return;
    draining = 1;
    for (;;) {
        struct e2e_sess *s;
        if (!held) break;
        if ((s = sess_of(held->sid)) && held->seq > s->rseq) break;
        release_first(0);                   /* next, duplicate, or for no session */
    }
    if (held && !hold_until) hold_until = ev_now_ms() + GAP_MS;
    draining = 0;
}

/* GAP_MS passed (or the end came): the gap is given up */
static void hold_expire(int all)
{
    do {
        if (held) release_first(1);
        drain_held();
    } while (all && held);
    if (held) hold_until = ev_now_ms() + GAP_MS;
}

static void frame_in(const char *from, const char *sid, uint64_t seq, const uint8_t *d, size_t n, int force)
{
    uint8_t *pt;
    size_t pl = n;
    int type;
    uint64_t id, skipped;
    const uint8_t *data;
    size_t dl;
    if (!S.have_sess) return;
    struct e2e_sess *sess = sess_of(sid);
    if (!sess) {
        note("a frame from %s for a session this one does not have (one that ended, or the peer's "
             "before a restart): ignored", from);
        return;
    }
    /* a frame of this session (a duplicate too) from a peer a bounce took
     * for offline: its link was down, and it is back; what it has not
     * acknowledged goes again (19.19) */
    if (S.peer_offline && S.s.confirmed && S.hs.state != E2E_C3) {
        S.peer_offline = 0;
        resend_pending(0);
    }
    if (seq < sess->rseq) {
        struct seen *o = seen_find(sess->sid, seq);
        uint8_t h[SC_SHA256_LEN];
        sc_sha256(d, n, h);
        if (o && sc_ct_eq(o->h, h, sizeof h)) {
            if (o->type != E2E_FILE_CHUNK)
                note("duplicate frame %llu dropped (a resend or a replay)", (unsigned long long)seq);
            if (o->reply && write_all(o->reply, o->rlen) < 0)
                die_sys(EX_IOERR, "unable to write to the relay (fd 7)");
            return;
        }
        if (o) {
            alarmx("frame %llu from %s has the number of one already opened but other content: refused "
                   "(a replay or a forgery)", (unsigned long long)seq, from);
            return;
        }
    } else if (seq > sess->rseq && !force && nheld < HOLD_MAX && seq - sess->rseq <= 10000) {
        /* said once per gap: the order on the way was not the order sent */
        if (!nheld)
            note("frame %llu from %s came before %llu: held to be put back in order (reordered on the way, "
                 "or a resend after a lost one)", (unsigned long long)seq, from, (unsigned long long)sess->rseq);
        hold(from, sid, seq, d, n);
        return;
    }
    if (!(pt = malloc(n ? n : 1))) die(EX_OSERR, "out of memory");
    uint8_t before[SC_SHA256_LEN];          /* what we had received before this frame */
    memcpy(before, sess->t_recv, sizeof before);
    int r = e2e_open(sess, seq, d, n, pt, &pl, &type, &id, &data, &dl, &skipped);
    if (r != E2E_OK) {
        alarmx("a message from %s was refused: %s", from, e2e_strerror(r));
        free(pt);
        return;
    }
    seen_cur = seen_add(sess->sid, seq, d, n, type, id);
    if (skipped)
        alarmx("%llu message(s) from %s are missing: dropped or withheld on the way",
               (unsigned long long)skipped, from);
    switch (type) {
    case E2E_FIN:
        if (sess == &S.cand && dl == SC_SHA256_LEN && sc_ct_eq(data, S.cand.th, dl)) {
            /* the candidate is confirmed: the peer restarted (19.19) */
            e2e_sess_wipe(&S.s);
            e2e_sess_wipe(&S.old);
            S.have_old = 0;
            S.s = S.cand;
            S.s.confirmed = 1;
            e2e_sess_wipe(&S.cand);
            S.have_cand = 0;
            restarted();
            flush_queue();
        } else if (sess == &S.s && !S.s.initiator && dl == SC_SHA256_LEN && sc_ct_eq(data, S.s.th, dl)) {
            S.s.confirmed = 1;
            if (S.have_old) {               /* rekeyed: the old keys go now */
                e2e_sess_wipe(&S.old);
                S.have_old = 0;
                if (S.json) event("rekeyed %s", sc_suite_name(S.s.suite));
                else note("new session keys with %s", S.peer);
                flush_queue();              /* lines typed meanwhile */
            } else
                session_up();
        } else
            alarmx("key confirmation from %s does not match", from);
        break;
    case E2E_TEXT:
        if (!sess->confirmed && !(sess == &S.s && S.have_old)) break;
        pl_clean((char *)data, dl);
        if (S.json) event("msg %llu %s %.*s", (unsigned long long)id, S.peer, (int)dl, (const char *)data);
        else { printf("%s: %.*s\n", S.peer, (int)dl, (const char *)data); fflush(stdout); }
        /* the ACK carries our transcript of what we received */
        answer(E2E_ACK, id, sess->t_recv, sizeof sess->t_recv);
        break;
    case E2E_ACK:
        on_ack(id, data, dl, -1);
        break;
    case E2E_FILE_OFFER: on_file_offer(id, data, dl); break;
    case E2E_FILE_CHUNK: on_file_chunk(id, data, dl); break;
    case E2E_FILE_DONE: on_ack(id, NULL, 0, pl_done_ok(data, dl)); break;
    case E2E_VIDEO: if (sess == &S.s && S.s.confirmed) on_video(data, dl); break;
    case E2E_BYE: {
        uint64_t cnt;
        const uint8_t *ts;
        /* truncation: did we see everything the peer says it sent? */
        if (pl_bye_parse(data, dl, &cnt, &ts) != PL_OK || cnt + 1 != sess->rseq)
            alarmx("%s says it sent %llu messages; %llu arrived", S.peer, (unsigned long long)cnt,
                   (unsigned long long)(sess->rseq - 1));
        else if (!sc_ct_eq(ts, before, SC_SHA256_LEN))
            alarmx("%s's transcript of what it sent differs from what arrived: the conversation was altered",
                   S.peer);
        show_transcript(sess);              /* of the session the BYE came in */
        if (S.json) event("bye %s", S.peer);
        else note("%s ended the session", S.peer);
        /* the peer is gone: a rekey it never finished ends with it */
        S.have_sess = 0;
        e2e_sess_wipe(&S.s);
        if (S.have_old) {
            e2e_sess_wipe(&S.old);
            S.have_old = 0;
        }
        e2e_hs_wipe(&S.hs);
        e2e_sess_wipe(&S.cand);
        S.have_cand = 0;
        break;
    }
    default:
        break;
    }
    seen_cur = NULL;
    sc_zero(pt, n);
    free(pt);
    drain_held();
}

static int seen_pager(const uint8_t id[16])
{
    char *path, hex[33], line[64];
    FILE *f;
    int seen = 0;
    sc_hex_encode(id, 16, hex);
    if (asprintf(&path, "%s/pager-seen", S.statedir) < 0) return 0;
    if ((f = fopen(path, "r"))) {
        while (!seen && fgets(line, sizeof line, f)) seen = !strncmp(line, hex, 32);
        fclose(f);
    }
    if (!seen && (f = fopen(path, "a"))) { fprintf(f, "%s\n", hex); fclose(f); }
    free(path);
    return seen;
}

static void on_pager(const char *from, const uint8_t *d, size_t n)
{
    uint8_t id[16], *text = malloc(n);
    size_t tl = n;
    int64_t ts;
    char who[1024];
    if (!text || e2e_pager_from(d, n, who, sizeof who) || strcmp(who, S.peer)) {
        free(text);
        return;                              /* from someone else: not this session's */
    }
    int e = e2e_pager_open(S.key, S.mybare, S.peerkey, S.peer, d, n, id, &ts, text, &tl);
    if (e != E2E_OK) alarmx("a pager message from %s was refused: %s", from, e2e_strerror(e));
    else if (seen_pager(id)) alarmx("a pager message from %s was replayed: refused", from);
    else {
        char when[32];
        time_t t = (time_t)ts;
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
        pl_clean((char *)text, tl);
        if (S.json) event("pager %s %s %.*s", S.peer, when, (int)tl, (const char *)text);
        else { printf("%s (sent %s, while you were away): %.*s\n", S.peer, when, (int)tl, (const char *)text); fflush(stdout); }
    }
    sc_zero(text, n);
    free(text);
}

/* ---- stanzas from the relay ---------------------------------------------- */

static int bare_is(const char *jid, const char *bare)
{
    size_t n = strlen(bare);
    return jid && !strncmp(jid, bare, n) && (jid[n] == 0 || jid[n] == '/');
}

static void on_message(xs_node *m)
{
    const char *from = xs_getattr(m, "from", NULL), *type = xs_getattr(m, "type", NULL);
    const xs_node *e = xs_child(m, "e2e", E2E_NS);
    if (type && !strcmp(type, "error")) {
        const xs_node *err = xs_child(m, "error", NULL), *k = err ? err->children : NULL;
        while (k && !k->name) k = k->next;
        const char *cond = k ? k->name : "undefined-condition";
        if (bare_is(from, S.peer) && strcmp(cond, "recipient-unavailable") && strcmp(cond, "service-unavailable")) {
            alarmx("the relay refused a message to %s: %s", S.peer, cond);
            return;
        }
        /* a no-store message bounced: the peer is not online */
        if (bare_is(from, S.peer) || (from && !strcmp(from, S.peer))) {
            if (!S.peer_offline) {
                S.peer_offline = 1;
                S.hs_sent = 0;
                e2e_hs_wipe(&S.hs);
                if (S.json) event("offline %s", S.peer);
                else note("%s is not online", S.peer);
                flush_queue();
            }
        }
        return;
    }
    if (!e || !bare_is(from, S.peer)) {
        if (!e && from && bare_is(from, S.peer)) {
            const xs_node *body = xs_child(m, "body", NULL);
            if (body) {                       /* a plain message from an ordinary client */
                char *t = strdup(xs_text(body));
                if (t) pl_clean(t, strlen(t));
                if (S.json) event("plain %s %s", S.peer, t ? t : "");
                else note("UNENCRYPTED from %s: %s", from, t ? t : "");
                free(t);
            }
        }
        return;
    }
    const char *t = xs_getattr(e, "t", NULL), *txt = xs_text(e);
    size_t tl = strlen(txt), dl = tl / 4 * 3 + 4;
    uint8_t *d = malloc(dl);
    if (!t || !d || sc_b64_decode(txt, tl, d, &dl) < 0) {
        alarmx("a malformed SIMPP message from %s: ignored", from);
        free(d);
        return;
    }
    if (!S.peerkey) { free(d); return; }
    if (!strcmp(t, "c3") || !strcmp(t, "c4")) {
        /* a key exchange message seen before (sent again across a new
         * stream, or replayed): nothing to do again */
        uint8_t h[SC_SHA256_LEN];
        sc_sha256_parts(h, t, (size_t)2, d, dl, (void *)NULL);
        for (int i = 0; i < 8; i++)
            if (sc_ct_eq(S.hs_seen[i], h, sizeof h)) { free(d); return; }
        memcpy(S.hs_seen[S.nhs_seen++ % 8], h, sizeof h);
        if (S.nhs_seen == 16) S.nhs_seen = 8;
    }
    if (!strcmp(t, "c3")) on_c3(from, e, d, dl);
    else if (!strcmp(t, "c4")) on_c4(from, e, d, dl);
    else if (!strcmp(t, "f")) {
        const char *seq = xs_getattr(e, "n", NULL), *sid = xs_getattr(e, "sid", NULL);
        if (seq && sid) frame_in(from, sid, strtoull(seq, NULL, 10), d, dl, 0);
    }
    else if (!strcmp(t, "p")) on_pager(from, d, dl);
    free(d);
}

/* C1: ask for the peer's key item in their PEP (lib/pepkey.h) */
static void key_request(void)
{
    sbuf b = { 0 };
    sb_puts(&b, "<iq type='get' id='simpp-c1' to='");
    sb_esc(&b, S.peer);
    sb_puts(&b, "'><pubsub xmlns='" NS_PUBSUB "'><items node='" PK_NODE "' max_items='1'/></pubsub></iq>");
    send_stanza(&b);
}

/* C2: the answer to our request for the peer's key item in their PEP
 * (lib/pepkey.h).  It must come from the peer's account, name the peer,
 * and be signed by the key it carries; only the relay's own directory,
 * reached through the SIMPP channel, answers unsigned. */
static sc_key *peer_key(const xs_node *iq)
{
    const char *type = xs_getattr(iq, "type", NULL), *from = xs_getattr(iq, "from", NULL);
    const xs_node *item = pk_find(iq);
    char err[512];
    int64_t when;
    sc_key *k;
    if (type && !strcmp(type, "error")) {
        const xs_node *e = xs_child(iq, "error", NULL), *c = e ? e->children : NULL;
        while (c && (!c->name || !strcmp(c->name, "text"))) c = c->next;
        const char *cond = c ? c->name : "undefined-condition";
        if (!strcmp(cond, "item-not-found"))
            alarmx("no key for %s: nothing published (no such SIMPP user? simpp-register publishes the key)", S.peer);
        else if ((!strcmp(cond, "not-authorized") || !strcmp(cond, "forbidden") ||
                  !strcmp(cond, "presence-subscription-required")) && S.pep_peer && !S.key_wait) {
            /* asked once more when the peer accepts our subscription */
            S.key_wait = 1;
            note("the key of %s is visible only to their contacts: waiting for %s to accept our subscription "
                 "(or to publish it with simpp-register -a open)", S.peer, S.peer);
        } else if (!strcmp(cond, "not-authorized") || !strcmp(cond, "forbidden") ||
                   !strcmp(cond, "presence-subscription-required"))
            alarmx("the key of %s is visible only to their contacts, and the server still refuses it to us", S.peer);
        else if (!strcmp(cond, "service-unavailable") || !strcmp(cond, "feature-not-implemented"))
            alarmx("no key for %s: their server offers no PEP (XEP-0163), so SIMPP cannot find their key there (%s)",
                   S.peer, cond);
        else
            alarmx("no key for %s: %s", S.peer, cond);
        return NULL;
    }
    if (from && strcasecmp(from, S.peer)) {
        alarmx("the key for %s came from %s: refused", S.peer, from);
        return NULL;
    }
    if (!item) {
        alarmx("no key for %s: nothing published (simpp-register publishes the key)", S.peer);
        return NULL;
    }
    if (!(k = pk_item_check(item, S.peer, !S.via_relay, &when, err, sizeof err))) {
        alarmx("%s: refused", err);
        return NULL;
    }
    return k;
}

/* messages that came before the peer's key, held in order up to a bound
 * (the relay answers the key request at once; only a hostile or broken
 * one sends more than this first) */
#define DEFERRED_MAX 256
static xs_node *deferred_head, *deferred_tail;
static int ndeferred;

static int stanza_cb(void *arg, xs_node *n)
{
    (void)arg;
    if (!n->name) { xs_node_free(n); return XS_CONTINUE; }
    if (!strcmp(n->name, "iq")) {
        const char *id = xs_getattr(n, "id", NULL);
        sc_key *pk = NULL;
        if (id && !strcmp(id, "simpp-sync")) S.sync_done = 1;
        if (id && !strcmp(id, "simpp-presence")) S.presence_done = 1;
        if (id && !strcmp(id, "simpp-c1") && S.c1_done && S.peerkey) {
            /* answered already: the request went twice (a new stream) */
        } else if (id && !strcmp(id, "simpp-c1")) {
            S.c1_done = 1;
            if (!(pk = peer_key(n))) {
                if (S.key_wait == 1) {
                    S.key_wait = 2;          /* until the peer says subscribed */
                    S.c1_done = 0;
                    if (S.peer_seen) {       /* it did already */
                        S.key_wait = 3;
                        key_request();
                    }
                } else {
                    S.input_done = 1;
                    S.drain_deadline = ev_now_ms();
                }
            } else if (pin_peer(pk) == 0) {
                peer_identity(n);
                start_handshake();
                /* what arrived while we waited for the key */
                while (deferred_head) {
                    xs_node *d = deferred_head;
                    deferred_head = d->next;
                    d->next = NULL;
                    on_message(d);
                    xs_node_free(d);
                }
                deferred_tail = NULL;
                ndeferred = 0;
            } else {
                S.input_done = 1;
                S.drain_deadline = ev_now_ms();
            }
        }
    } else if (!strcmp(n->name, "message")) {
        if (!S.peerkey) {                    /* hold it, in order, until C1/C2 is done */
            if (ndeferred >= DEFERRED_MAX) {
                if (ndeferred++ == DEFERRED_MAX)   /* said once */
                    alarmx("more than %d messages before the key of %s arrived: the rest are dropped",
                           DEFERRED_MAX, S.peer);
                xs_node_free(n);
                return XS_CONTINUE;
            }
            ndeferred++;
            n->next = NULL;
            if (deferred_tail) deferred_tail->next = n; else deferred_head = n;
            deferred_tail = n;
            return XS_CONTINUE;
        }
        on_message(n);
    } else if (!strcmp(n->name, "link") && n->ns && !strcmp(n->ns, NS_LINK)) {
        on_link(n);
    } else if (!strcmp(n->name, "presence")) {
        const char *from = xs_getattr(n, "from", NULL), *type = xs_getattr(n, "type", NULL);
        /* subscribed, or presence we could only see as a subscriber */
        if (bare_is(from, S.peer) && (!type || !strcmp(type, "subscribed"))) {
            S.peer_seen = 1;
            if (S.key_wait == 2) {
                S.key_wait = 3;
                key_request();
            }
        }
        /* the peer asks to see our presence (and so our key item): yes */
        if (bare_is(from, S.peer) && type && !strcmp(type, "subscribe") && S.pep_peer) {
            sbuf b = { 0 };
            sb_puts(&b, "<presence type='subscribed' to='");
            sb_esc(&b, S.peer);
            sb_puts(&b, "'/>");
            send_stanza(&b);
        }
        if (bare_is(from, S.peer) && S.json) event("presence %s %s", from, type ? type : "available");
        if (bare_is(from, S.peer) && !type && S.peer_offline && S.peerkey) {
            /* back with the session still up (its link had gone): what it
             * has not acknowledged goes again (19.19); else a key exchange */
            if (S.have_sess && S.s.confirmed && S.hs.state != E2E_C3) {
                S.peer_offline = 0;
                resend_pending(0);
                /* and it learns that we are here too: after a relay
                 * restart each side may have taken the other for offline
                 * (what each sent again bounced); said once per return,
                 * so two sides cannot answer each other for ever */
                presence_to_peer();
            } else
                start_handshake();
        }
    }
    xs_node_free(n);
    return XS_CONTINUE;
}

/* ---- input ------------------------------------------------------------------ */

#define LINE_MAX_BYTES 32768   /* sealed, base64'd and wrapped it must fit a stanza */

/* what /help shows (the man page's COMMANDS) */
static const struct { const char *cmd, *what; } commands[] = {
    { "/file PATH", "send a file (the peer keeps it if it runs with -o)" },
    { "/video [PARAMS]", "invite the peer to a video stream" },
    { "/safety", "the safety number: compare it with the peer's" },
    { "/transcript", "this session's transcript hash" },
    { "/pending", "what the peer has not acknowledged yet" },
    { "/rekey", "a new key exchange now" },
    { "/help", "this list" },
    { "/quit", "end, as at the end of input (Ctrl-D)" },
};

static void on_line(char *line, size_t n)
{
    if (n && line[n - 1] == '\r') n--;
    if (n == 0) return;
    if (n > LINE_MAX_BYTES) {
        alarmx("a line of %zu bytes is too long (at most %d): send it as a file (/file)", n, LINE_MAX_BYTES);
        return;
    }
    if (line[0] == '/') {
        if (!strncmp(line, "/quit", 5)) { S.input_done = 1; return; }
        if (!strncmp(line, "/help", 5)) {
            note("a line is a message to %s; a line starting with / is a command:", S.peer);
            for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
                note("  %-16s %s", commands[i].cmd, commands[i].what);
            return;
        }
        if (!strncmp(line, "/safety", 7)) {
            char s[80];
            if (S.peerkey && e2e_safety_number(S.key, S.peerkey, s) == 0) {
                for (char *c = s; *c; c++) if (*c == '\n') *c = ' ';
                if (S.json) event("safety %s", s); else note("safety number with %s: %s; %s", S.peer, s, peer_ident);
            }
            return;
        }
        if (!strncmp(line, "/transcript", 11)) {
            uint8_t t[SC_SHA256_LEN];
            char hex[65];
            if (!S.have_sess) { note("no session"); return; }
            (void)t; (void)hex;
            show_transcript(&S.s);
            return;
        }
        if (!strncmp(line, "/pending", 8)) {
            for (struct pending *p = S.pend; p; p = p->next)
                if (S.json) event("pending %llu", (unsigned long long)p->id);
                else note("pending: %s", p->what);
            return;
        }
        if (!strncmp(line, "/rekey", 6)) { if (S.have_sess) start_handshake(); return; }
        if (!strncmp(line, "/video", 6) && (n == 6 || line[6] == ' ')) {
            if (!(S.have_sess && S.s.confirmed) && !S.peer_offline) {   /* wait for the session (or its rekey) */
                sb_put(&S.queue, line, n);
                sb_puts(&S.queue, "\n");
                return;
            }
            line[n] = 0;
            video_invite(n > 7 ? line + 7 : "");
            return;
        }
        if (!strncmp(line, "/file ", 6)) {
            if (S.have_sess && S.s.confirmed) { line[n] = 0; send_file(line + 6); }
            else { sb_put(&S.queue, line, n); sb_puts(&S.queue, "\n"); }
            return;
        }
        alarmx("unknown command: %.*s", (int)n, line);
        return;
    }
    if (S.have_sess && S.s.confirmed) send_text(line, n);
    else if (S.peer_offline) send_pager(line, n);
    else { sb_put(&S.queue, line, n); sb_puts(&S.queue, "\n"); }
}

int main(int argc, char **argv)
{
    int opt;
    unsigned long v;
    util_setprog(argv[0]);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) { fputs(USAGE, stdout); return 0; }
        if (!strcmp(argv[i], "--version")) print_version();
    }
    S.wait_s = 10;
    S.in.fd = -1;
    while ((opt = getopt(argc, argv, "hVjAam:d:o:C:w:")) != -1) {
        switch (opt) {
        case 'h': fputs(USAGE, stdout); return 0;
        case 'V': print_version(); break;
        case 'j': S.json = 1; break;
        case 'A': S.accept_changed = 1; break;
        case 'a': S.accept_video = 1; break;
        case 'm':
            if (strlen(optarg) > PL_VPARAMS) die(EX_USAGE, "-m: at most %d bytes", PL_VPARAMS);
            S.answer = optarg;
            break;
        case 'd': S.statedir = optarg; break;
        case 'o': S.filedir = optarg; break;
        case 'C': {
            char *dup = strdup(optarg), *sv = NULL;
            for (char *t = strtok_r(dup, ",", &sv); t; t = strtok_r(NULL, ",", &sv)) {
                int s = sc_suite_from_name(t);
                if (!s || S.nsuites == sizeof S.suites) die(EX_USAGE, "-C: unknown suite %s", t);
                S.suites[S.nsuites++] = (uint8_t)s;
            }
            free(dup);
            break;
        }
        case 'w':
            if (parse_ulong(optarg, 0, 3600, &v) < 0) die(EX_USAGE, "-w %s: seconds, 0 to 3600", optarg);
            S.wait_s = (int)v;
            break;
        default: fputs(USAGE, stderr); return EX_USAGE;
        }
    }
    if (argc - optind != 1) { fputs(USAGE, stderr); return EX_USAGE; }
    snprintf(S.peer, sizeof S.peer, "%s", argv[optind]);
    if (!strchr(S.peer, '@') || strchr(S.peer, '/')) die(EX_USAGE, "%s: expected a bare JID", S.peer);
    /* one spelling per account (RFC 7622: local and domain parts compare
     * case-insensitively), or a pin would be made twice */
    for (char *c = S.peer; *c; c++)
        if (*c >= 'A' && *c <= 'Z') *c = (char)(*c + 32);
        else if ((unsigned char)*c <= 0x20 || *c == 0x7f) die(EX_USAGE, "%s: not a JID", argv[optind]);
    if (!S.nsuites) {
        S.suites[0] = SC_SUITE_CHACHA20_POLY1305;
        S.suites[1] = SC_SUITE_AES128_GCM;
        S.suites[2] = SC_SUITE_AES128_CBC_HMAC;
        S.nsuites = 3;
    }
    const char *jid = getenv("SIMPP_JID"), *kfd = getenv("SIMPP_KEYFD");
    if (!jid || !kfd || fcntl(6, F_GETFD) < 0 || fcntl(7, F_GETFD) < 0)
        die(EX_USAGE, "run me after simpp-login: it gives me the session on fds 6/7 and the key on $SIMPP_KEYFD");
    snprintf(S.me, sizeof S.me, "%s", jid);
    snprintf(S.mybare, sizeof S.mybare, "%.*s", (int)strcspn(jid, "/"), jid);
    if (!strcmp(S.mybare, S.peer)) die(EX_USAGE, "%s: that is you", S.peer);
    if (sc_init() < 0) die(EX_SOFTWARE, "crypto: unable to initialise");
    if (parse_ulong(kfd, 0, 1023, &v) < 0) die(EX_USAGE, "SIMPP_KEYFD=%s: not a descriptor", kfd);
    char *home = NULL;
    if (!S.statedir) {
        const char *h = getenv("SIMPP_HOME");
        if (h && *h) S.statedir = h;
        else {
            if (asprintf(&home, "%s/.simpp", getenv("HOME") ? getenv("HOME") : ".") < 0) die(EX_OSERR, "out of memory");
            S.statedir = home;
        }
    }
    char *pins;
    if (asprintf(&pins, "%s/pins", S.statedir) < 0) die(EX_OSERR, "out of memory");
    if ((mkdir(S.statedir, 0700) < 0 && errno != EEXIST) || (mkdir(pins, 0700) < 0 && errno != EEXIST))
        die_sys(EX_CANTCREAT, "unable to make %s", pins);
    free(pins);
    S.out6 = 7;
    S.in7 = 6;

    xs_callbacks cb = { NULL, stanza_cb, NULL };
    xs_limits lim = { 1u << 20, 0, 0, 0 };
    xs_stream *xs = xs_new(&lim, &cb, NULL);
    if (!xs || xs_feed(xs, SYNTH, sizeof SYNTH - 1) < 0) die(EX_OSERR, "out of memory");
    /* C1/C2 first: while the relay answers, the key is taken in and the
     * first handshake's key pair made */
    sbuf b = { 0 };
    /* on an ordinary server the key item is visible to the peer's contacts
     * (presence access): ask to be one; the peer's session agrees */
    S.via_relay = getenv("SIMPP_LOGIN") && !strcmp(getenv("SIMPP_LOGIN"), "simpp");
    /* a peer of another domain, even via the relay: its server's PEP
     * (presence access, on an ordinary server) */
    const char *pd = strchr(S.peer, '@'), *md = strchr(S.me, '@');
    char mydom[1024];
    snprintf(mydom, sizeof mydom, "%s", md ? md + 1 : "");
    char *slash = strchr(mydom, '/');
    if (slash) *slash = '\0';
    S.pep_peer = !S.via_relay || (pd && strcasecmp(pd + 1, mydom) != 0);
    if (S.pep_peer) {
        sb_puts(&b, "<presence type='subscribe' to='");
        sb_esc(&b, S.peer);
        sb_puts(&b, "'/>");
        send_stanza(&b);
    }
    key_request();
    /* the private key from its descriptor: read once (which closes it), or
     * kept open to simpp-login, which holds it on a token (keyagent.h) */
    char kerr[256];
    if (!(S.key = key_receive((int)v, kerr, sizeof kerr))) die(EX_DATAERR, "%s", kerr);
    S.spare = sc_key_generate(sc_key_curve(S.key));
    /* then the initial presence, which brings the offline (pager) messages:
     * only once the key is there to open them.  The server answers in order,
     * so once the ping after it comes back they are all in. */
    sb_puts(&b, "<presence/>");
    send_stanza(&b);
    sb_puts(&b, "<iq type='get' id='simpp-presence'><ping xmlns='urn:xmpp:ping'/></iq>");
    send_stanza(&b);

    sbuf line = { 0 };
    int skipping = 0;                       /* inside an over-long line */
    char buf[16384];
    for (;;) {
        if (S.input_done && !S.drain_deadline)
            S.drain_deadline = ev_now_ms() + (int64_t)S.wait_s * 1000;
        if (S.drain_deadline) {
            int settled = S.c1_done && S.presence_done && S.queue.n == 0 && S.npend == 0 && !S.in.name && !S.video_wait;
            if (settled || ev_now_ms() >= S.drain_deadline) break;
        }
        struct pollfd pf[2] = { { S.in7, POLLIN, 0 }, { 0, POLLIN, 0 } };
        /* the spare key pair was used: make the next one when nothing waits
         * and no handshake is under way (on a busy machine, work done while
         * the peer computes its answer delays that answer) */
        if (S.want_spare && !S.input_done && S.have_sess && S.s.confirmed && S.hs.state != E2E_C3 &&
            poll(pf, 2, 0) == 0) {
            S.want_spare = 0;
            S.spare = sc_key_generate(sc_key_curve(S.key));
            continue;
        }
        int wait = S.drain_deadline ? (int)(S.drain_deadline - ev_now_ms()) : -1;
        if (wait < 0 && S.drain_deadline) wait = 0;
        if (hold_until) {                   /* frames held behind a gap (frame_in) */
            int64_t h = hold_until - ev_now_ms();
            if (h < 0) h = 0;
            if (wait < 0 || h < wait) wait = (int)h;
        }
        if (poll(pf, S.input_done ? 1 : 2, wait) < 0) {
            if (errno == EINTR) continue;
            die_sys(EX_OSERR, "poll");
        }
        if (hold_until && ev_now_ms() >= hold_until) hold_expire(0);
        if (pf[0].revents) {
            ssize_t n = read(S.in7, buf, sizeof buf);
            if (n <= 0) { note("the relay connection ended"); break; }
            if (xs_feed(xs, buf, (size_t)n) < 0) die(EX_PROTOCOL, "bad XML from simpp-login: %s", xs_error(xs));
        }
        if (!S.input_done && pf[1].revents) {
            ssize_t n = read(0, buf, sizeof buf);
            if (n <= 0) {
                if (line.n) on_line(line.p, line.n);   /* a last line without a newline */
                sb_reset(&line);
                S.input_done = 1;
                continue;
            }
            sb_put(&line, buf, (size_t)n);
            if (line.n > LINE_MAX_BYTES + 2 && !memchr(line.p, '\n', line.n)) {
                /* no newline in sight: drop it here rather than hold it all */
                alarmx("a line of more than %d bytes is too long: dropped (send it as a file: /file)",
                       LINE_MAX_BYTES);
                sb_reset(&line);
                skipping = 1;
                continue;
            }
            if (skipping) {
                char *nl = memchr(line.p, '\n', line.n);
                if (!nl) { sb_reset(&line); continue; }
                sb_consume(&line, (size_t)(nl - line.p) + 1);
                skipping = 0;
            }
            char *p;
            while ((p = memchr(line.p, '\n', line.n))) {
                size_t ln = (size_t)(p - line.p);
                on_line(line.p, ln);
                sb_consume(&line, ln + 1);
            }
        }
    }
    /* lines still waiting for a session: the peer never answered */
    if (S.queue.n) {
        S.peer_offline = 1;
        S.have_sess = 0;
        flush_queue();
    }
    /* Pager messages get no acknowledgement from the peer, but the relay
     * answers in order: once a ping sent after them comes back, any refusal
     * (a policy, a full store) has arrived and been reported. */
    if (S.pagers) {
        sbuf q = { 0 };
        sb_puts(&q, "<iq type='get' id='simpp-sync'><ping xmlns='urn:xmpp:ping'/></iq>");
        send_stanza(&q);
        int64_t end = ev_now_ms() + (int64_t)(S.wait_s ? S.wait_s : 1) * 1000;
        while (!S.sync_done && ev_now_ms() < end) {
            struct pollfd pf = { S.in7, POLLIN, 0 };
            if (poll(&pf, 1, (int)(end - ev_now_ms())) <= 0) continue;
            ssize_t n = read(S.in7, buf, sizeof buf);
            if (n <= 0 || xs_feed(xs, buf, (size_t)n) < 0) break;
        }
        if (!S.sync_done) alarmx("the relay did not confirm the pager messages in time");
    }
    /* frames still held behind a gap: what is missing will not come now */
    if (held) hold_expire(1);
    /* a file still arriving is refused first, while the session still stands */
    if (S.in.name) file_done(0, "the session ended before the file was complete");
    /* BYE: how many frames we sent, and our transcript, for the peer to check */
    if (S.have_sess && S.s.confirmed && S.peerkey) {
        uint8_t bye[40];
        seal_send(E2E_BYE, 0, bye, pl_bye_make(S.s.sseq, S.s.t_send, bye));
        show_transcript(&S.s);
    }
    int pending = S.npend;
    for (struct pending *p = S.pend; p; p = p->next)
        if (S.json) event("pending %llu", (unsigned long long)p->id);
        else note("not acknowledged: %s", p->what);
    e2e_sess_wipe(&S.s);
    e2e_sess_wipe(&S.old);
    e2e_sess_wipe(&S.cand);
    e2e_hs_wipe(&S.hs);
    sc_key_free(S.spare);
    sc_key_free(S.key);
    sc_key_free(S.peerkey);
    sb_free(&line);
    sb_free(&S.queue);
    sb_free(&S.last_frame);
    xs_free(xs);
    while (S.pend) { struct pending *p = S.pend; S.pend = p->next; pending_free(p); }
    for (size_t i = 0; seen_tab && i < SEEN_MAX; i++) free(seen_tab[i].reply);
    if (seen_tab) sc_zero(seen_tab, SEEN_MAX * sizeof *seen_tab);
    free(seen_tab);
    while (deferred_head) { xs_node *d = deferred_head; deferred_head = d->next; d->next = NULL; xs_node_free(d); }
    free(home);
    if (S.failed) return EX_PROTOCOL;
    return pending ? EX_TEMPFAIL : 0;
}
