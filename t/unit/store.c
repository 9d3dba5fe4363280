/*
 * store.c - TAP tests of lib/store.h against a real SQLite database in a
 * fresh directory under /tmp (removed at the end).
 *
 * Covered: users, rosters and offline messages; durability across close and
 * reopen; a lock held by another connection (STORE_BUSY after the timeout,
 * at open and at write time); the size limit (STORE_FULL, the path a full
 * disk takes); a read-only store; files that are not ours or are damaged;
 * and permission failures.
 *
 * Permissions do not stop root, and these tests often run as root.  The
 * read-only path is therefore exercised two ways that hold for root too:
 *   - store_open_ro() (SQLITE_OPEN_READONLY): every write must come back
 *     STORE_READONLY from SQLite itself, not from a shortcut in the store;
 *   - a child process that drops to uid/gid 65534 (when started as root) and
 *     opens a store whose file or directory mode forbids writing.  The child
 *     first checks that the kernel really refuses it a write; if not (no
 *     way to drop privileges), those checks are reported as skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store.h"
#include "tap.h"

#define NOBODY 65534

static char top[64];

static void pj(char *out, size_t n, const char *a, const char *b)
{
    if ((size_t)snprintf(out, n, "%s/%s", a, b) >= n) {
        fprintf(stderr, "store test: path too long\n");
        exit(2);
    }
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st; (void)flag; (void)f;
    return remove(p);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int has(const char *hay, const char *needle)
{
    return hay && strstr(hay, needle) != NULL;
}

static sqlite3 *raw_open(const char *dbpath)
{
    sqlite3 *h = NULL;
    if (sqlite3_open_v2(dbpath, &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL)
        != SQLITE_OK) {
        fprintf(stderr, "store test: %s: %s\n", dbpath, h ? sqlite3_errmsg(h) : "nomem");
        exit(2);
    }
    return h;
}

static int64_t raw_int(sqlite3 *h, const char *sql)
{
    sqlite3_stmt *q;
    int64_t v = -1;
    if (sqlite3_prepare_v2(h, sql, -1, &q, NULL) != SQLITE_OK) return -1;
    if (sqlite3_step(q) == SQLITE_ROW) v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return v;
}

static void mkuser(struct store_user *u, const char *jid, int simpp)
{
    memset(u, 0, sizeof *u);
    snprintf(u->jid, sizeof u->jid, "%s", jid);
    u->level = 2;
    u->created = 1700000000;
    if (simpp) {
        u->curve = 256;
        u->publen = 65;
        u->pub[0] = 0x04;
        for (size_t i = 1; i < u->publen; i++) u->pub[i] = (uint8_t)i;
        u->wkalen = 12 + 32 + 16;
        for (size_t i = 0; i < u->wkalen; i++) u->wka[i] = (uint8_t)(0xa0 ^ i);
    }
}

/* ---- callbacks ---------------------------------------------------------- */

struct rlist { int n; struct store_roster_item it[8]; int stop_after; };

static int roster_cb(const struct store_roster_item *it, void *ctx)
{
    struct rlist *l = ctx;
    if (l->n < 8) l->it[l->n] = *it;
    l->n++;
    return l->stop_after && l->n >= l->stop_after;
}

struct olist {
    int n;
    int64_t id[16], stamp[16];
    char from[16][64], text[16][128];
    size_t len[16];
    int terminated;             /* every stanza had a NUL at [len] */
    store *del;                 /* deliver-then-delete from the callback */
    int64_t reenter;            /* result of a nested fetch */
};

static int off_cb(int64_t id, const char *from, const char *st, size_t len,
                  int64_t stamp, void *ctx)
{
    struct olist *l = ctx;
    if (l->n < 16) {
        l->id[l->n] = id;
        l->stamp[l->n] = stamp;
        snprintf(l->from[l->n], sizeof l->from[0], "%s", from);
        snprintf(l->text[l->n], sizeof l->text[0], "%.*s", (int)len, st);
        l->len[l->n] = len;
        if (st[len] != '\0') l->terminated = 0;
    }
    l->n++;
    if (l->del && store_offline_delete(l->del, id) != STORE_OK) return 1;
    return 0;
}

static int reenter_cb(int64_t id, const char *from, const char *st, size_t len,
                      int64_t stamp, void *ctx)
{
    struct olist *l = ctx;
    struct olist inner = { .terminated = 1 };
    (void)id; (void)from; (void)st; (void)len; (void)stamp;
    l->reenter = store_offline_fetch(l->del, "alice@example.org", off_cb, &inner);
    return 1;
}

/* ---- sections ----------------------------------------------------------- */

static void t_users(store *s)
{
    struct store_user u, g;
    uint8_t salt[16], sk[32], svk[32];
    int rc;

    mkuser(&u, "alice@example.org", 1);
    ok(store_user_add(s, &u) == STORE_OK, "user add: alice");
    rc = store_user_get(s, "alice@example.org", &g);
    ok(rc == STORE_OK && strcmp(g.jid, u.jid) == 0 && g.level == 2 && g.curve == 256 &&
       g.publen == 65 && memcmp(g.pub, u.pub, 65) == 0 && g.wkalen == u.wkalen &&
       memcmp(g.wka, u.wka, u.wkalen) == 0 && !g.has_scram && g.created == 1700000000,
       "user get returns what was stored");
    u.level = 9;
    ok(store_user_add(s, &u) == STORE_EXISTS, "duplicate jid: STORE_EXISTS (%s)",
       store_errmsg(s));
    ok(store_user_get(s, "alice@example.org", &g) == STORE_OK && g.level == 2,
       "the duplicate did not overwrite the first registration");
    ok(store_user_get(s, "Alice@example.org", &g) == STORE_NOTFOUND,
       "jids are compared byte for byte (the caller normalises)");
    ok(store_user_get(s, "nobody@example.org", &g) == STORE_NOTFOUND &&
       has(store_errmsg(s), "no such user"), "missing user: STORE_NOTFOUND");

    /* a plain XMPP account: SCRAM only, no SIMPP keys */
    mkuser(&u, "bob@example.org", 0);
    ok(store_user_add(s, &u) == STORE_OK, "user add: bob without SIMPP keys");
    for (size_t i = 0; i < sizeof salt; i++) salt[i] = (uint8_t)(3 * i);
    memset(sk, 0x5a, sizeof sk);
    memset(svk, 0xa5, sizeof svk);
    ok(store_user_set_scram(s, "bob@example.org", salt, sizeof salt, 4096, sk, svk)
       == STORE_OK, "set SCRAM verifier");
    rc = store_user_get(s, "bob@example.org", &g);
    ok(rc == STORE_OK && g.has_scram && g.saltlen == sizeof salt &&
       memcmp(g.scram_salt, salt, sizeof salt) == 0 && g.scram_iter == 4096 &&
       memcmp(g.scram_stored, sk, 32) == 0 && memcmp(g.scram_server, svk, 32) == 0 &&
       g.publen == 0 && g.wkalen == 0 && g.curve == 0,
       "SCRAM verifier read back; absent keys read back as length 0");
    ok(store_user_set_scram(s, "carol@example.org", salt, sizeof salt, 4096, sk, svk)
       == STORE_NOTFOUND, "SCRAM for a missing user: STORE_NOTFOUND");
    ok(store_user_set_scram(s, "bob@example.org", salt, 0, 4096, sk, svk) == STORE_ERROR,
       "SCRAM with an empty salt is refused");
    ok(store_user_count(s) == 2, "user count 2");

    mkuser(&u, "", 1);
    ok(store_user_add(s, &u) == STORE_ERROR && has(store_errmsg(s), "JID"),
       "empty jid refused (%s)", store_errmsg(s));
    mkuser(&u, "dave@example.org", 1);
    u.publen = STORE_PUB_MAX + 1;
    ok(store_user_add(s, &u) == STORE_ERROR, "oversized public key refused");
    ok(store_user_count(s) == 2, "refused adds stored nothing");
    ok(store_user_add(NULL, &u) == STORE_ERROR && store_user_count(NULL) == STORE_ERROR &&
       store_errmsg(NULL) != NULL, "a NULL store is an error, not a crash");
}

static void t_roster(store *s)
{
    struct store_roster_item it, g;
    struct rlist l;

    memset(&it, 0, sizeof it);
    snprintf(it.owner, sizeof it.owner, "alice@example.org");
    snprintf(it.contact, sizeof it.contact, "bob@example.org");
    it.sub = STORE_SUB_NONE;
    it.ask_out = 1;
    ok(store_roster_put(s, &it) == STORE_OK, "roster put: alice asks bob");
    ok(store_roster_get(s, "alice@example.org", "bob@example.org", &g) == STORE_OK &&
       g.sub == STORE_SUB_NONE && g.ask_out == 1 && g.pending_in == 0 && g.name[0] == 0 &&
       strcmp(g.owner, "alice@example.org") == 0, "roster get: none + pending out");

    /* bob approves, the name is set: upsert */
    it.sub = STORE_SUB_TO;
    it.ask_out = 0;
    snprintf(it.name, sizeof it.name, "Bob B\xc3\xb6hm");
    ok(store_roster_put(s, &it) == STORE_OK, "roster upsert");
    ok(store_roster_get(s, "alice@example.org", "bob@example.org", &g) == STORE_OK &&
       g.sub == STORE_SUB_TO && g.ask_out == 0 && strcmp(g.name, "Bob B\xc3\xb6hm") == 0,
       "upsert replaced subscription, ask and name");

    snprintf(it.contact, sizeof it.contact, "carol@remote.example");
    it.name[0] = 0;
    it.sub = STORE_SUB_BOTH;
    it.pending_in = 7;                /* any non-zero is "yes" */
    ok(store_roster_put(s, &it) == STORE_OK, "roster put: a remote contact");
    snprintf(it.contact, sizeof it.contact, "aaron@example.org");
    it.sub = STORE_SUB_FROM;
    it.pending_in = 0;
    ok(store_roster_put(s, &it) == STORE_OK, "roster put: third item");

    memset(&l, 0, sizeof l);
    ok(store_roster_list(s, "alice@example.org", roster_cb, &l) == 3 && l.n == 3 &&
       strcmp(l.it[0].contact, "aaron@example.org") == 0 &&
       strcmp(l.it[1].contact, "bob@example.org") == 0 &&
       strcmp(l.it[2].contact, "carol@remote.example") == 0,
       "roster list: 3 items ordered by contact");
    ok(l.it[2].sub == STORE_SUB_BOTH && l.it[2].pending_in == 1 &&
       l.it[0].sub == STORE_SUB_FROM && strcmp(l.it[1].name, "Bob B\xc3\xb6hm") == 0 &&
       strcmp(l.it[1].owner, "alice@example.org") == 0, "roster list: item fields");
    memset(&l, 0, sizeof l);
    l.stop_after = 1;
    ok(store_roster_list(s, "alice@example.org", roster_cb, &l) == 1 && l.n == 1,
       "roster list stops when the callback asks");
    memset(&l, 0, sizeof l);
    ok(store_roster_list(s, "bob@example.org", roster_cb, &l) == 0 && l.n == 0,
       "an empty roster lists nothing");

    ok(store_roster_del(s, "alice@example.org", "aaron@example.org") == STORE_OK,
       "roster delete");
    ok(store_roster_del(s, "alice@example.org", "aaron@example.org") == STORE_NOTFOUND,
       "roster delete again: STORE_NOTFOUND");
    ok(store_roster_get(s, "alice@example.org", "aaron@example.org", &g) == STORE_NOTFOUND,
       "deleted item is gone");

    snprintf(it.owner, sizeof it.owner, "stranger@example.org");
    ok(store_roster_put(s, &it) == STORE_NOTFOUND, "roster of an unknown owner: STORE_NOTFOUND (%s)",
       store_errmsg(s));
    snprintf(it.owner, sizeof it.owner, "alice@example.org");
    it.sub = 4;
    ok(store_roster_put(s, &it) == STORE_ERROR, "subscription state out of range refused");
    it.sub = 0;
    memset(it.name, 'n', sizeof it.name);
    ok(store_roster_put(s, &it) == STORE_ERROR, "unterminated name refused");
}

static const char *const msgs[3] = {
    "<message to='alice@example.org' type='chat'><body>one</body></message>",
    "<message to='alice@example.org'><x xmlns='urn:simpp:pager'>two</x></message>",
    "<message to='alice@example.org'><body>three</body></message>",
};

static void t_offline(store *s)
{
    struct olist l;
    int64_t id[3];

    for (int i = 0; i < 3; i++)
        id[i] = store_offline_add(s, "alice@example.org", i == 1 ? "carol@remote.example/r"
                                  : "bob@example.org/home", msgs[i], strlen(msgs[i]),
                                  1700000100 + i);
    ok(id[0] > 0 && id[1] > id[0] && id[2] > id[1], "offline add: 3 ids, increasing");
    ok(store_offline_count(s, "alice@example.org") == 3, "offline count 3");
    ok(store_offline_count(s, "bob@example.org") == 0, "offline count of another user 0");

    memset(&l, 0, sizeof l);
    l.terminated = 1;
    ok(store_offline_fetch(s, "alice@example.org", off_cb, &l) == 3 && l.n == 3,
       "offline fetch: 3 messages");
    ok(l.id[0] == id[0] && l.id[1] == id[1] && l.id[2] == id[2] &&
       strcmp(l.text[0], msgs[0]) == 0 && strcmp(l.text[1], msgs[1]) == 0 &&
       strcmp(l.text[2], msgs[2]) == 0 && l.len[1] == strlen(msgs[1]),
       "offline fetch in arrival order, stanzas intact");
    ok(strcmp(l.from[1], "carol@remote.example/r") == 0 && l.stamp[2] == 1700000102 &&
       l.terminated, "sender, stamp, NUL-terminated stanza");

    ok(store_offline_delete(s, id[1]) == STORE_OK, "offline delete the middle one");
    ok(store_offline_delete(s, id[1]) == STORE_NOTFOUND, "delete again: STORE_NOTFOUND");
    memset(&l, 0, sizeof l);
    l.terminated = 1;
    ok(store_offline_fetch(s, "alice@example.org", off_cb, &l) == 2 && l.id[0] == id[0] &&
       l.id[1] == id[2], "fetch after delete: the other two, in order");

    memset(&l, 0, sizeof l);
    l.del = s;
    ok(store_offline_fetch(s, "alice@example.org", reenter_cb, &l) == 1 &&
       l.reenter == STORE_ERROR, "fetch from inside its own callback is refused");

    ok(store_offline_add(s, "nobody@example.org", "bob@example.org", "<m/>", 4, 1)
       == STORE_NOTFOUND, "offline for an unknown user: STORE_NOTFOUND (%s)",
       store_errmsg(s));
    ok(store_offline_add(s, "alice@example.org", "bob@example.org", "", 0, 1)
       == STORE_ERROR, "empty stanza refused");
    ok(store_offline_add(s, "alice@example.org", "", "<m/>", 4, 1) == STORE_ERROR,
       "empty sender refused");
    ok(store_offline_count(s, "alice@example.org") == 2, "refused adds stored nothing");
}

/* bob's data goes with bob */
static void t_cascade(store *s)
{
    struct store_roster_item it;
    struct store_user u;

    mkuser(&u, "eve@example.org", 1);
    memset(&it, 0, sizeof it);
    snprintf(it.owner, sizeof it.owner, "eve@example.org");
    snprintf(it.contact, sizeof it.contact, "alice@example.org");
    ok(store_user_add(s, &u) == STORE_OK && store_roster_put(s, &it) == STORE_OK &&
       store_offline_add(s, "eve@example.org", "alice@example.org/x", "<m/>", 4, 5) > 0,
       "eve with a roster item and an offline message");
    ok(store_user_del(s, "eve@example.org") == STORE_OK, "user delete");
    ok(store_user_del(s, "eve@example.org") == STORE_NOTFOUND, "user delete again: STORE_NOTFOUND");
    ok(store_offline_count(s, "eve@example.org") == 0 &&
       store_roster_get(s, "eve@example.org", "alice@example.org", &it) == STORE_NOTFOUND,
       "deleting a user removed their roster and offline messages");
}

/* is text in any of the store's files (database, WAL, shared memory)? */
static int on_disk(const char *dir, const char *text)
{
    static const char *const names[] = { "simpp.db", "simpp.db-wal", "simpp.db-shm" };
    int found = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !found; i++) {
        char p[PATH_MAX], *buf;
        struct stat st;
        FILE *f;
        pj(p, sizeof p, dir, names[i]);
        if (stat(p, &st) != 0 || st.st_size == 0 || !(f = fopen(p, "rb"))) continue;
        buf = malloc((size_t)st.st_size);
        if (buf && fread(buf, 1, (size_t)st.st_size, f) == (size_t)st.st_size)
            found = memmem(buf, (size_t)st.st_size, text, strlen(text)) != NULL;
        free(buf);
        fclose(f);
    }
    return found;
}

static int64_t add_marked(store *s, const char *to, const char *marker)
{
    char m[256];
    snprintf(m, sizeof m, "<message to='%s'><body>%s</body></message>", to, marker);
    return store_offline_add(s, to, "bob@example.org/home", m, strlen(m), 1700000200);
}

/* a delivered and deleted message leaves nothing readable in the files */
static void t_wipe(const char *dir)
{
    char err[512], dbp[PATH_MAX], walp[PATH_MAX + 8];
    struct store_user u;
    struct olist l;
    struct stat st;
    sqlite3 *h;
    store *s = store_open(dir, err, sizeof err);

    ok(s != NULL, "open for the wipe test (%s)", s ? "ok" : err);
    if (!s) return;
    pj(dbp, sizeof dbp, dir, "simpp.db");
    snprintf(walp, sizeof walp, "%s-wal", dbp);
    mkuser(&u, "wipe@example.org", 1);
    ok(store_user_add(s, &u) == STORE_OK && add_marked(s, "wipe@example.org", "wipe-one") > 0,
       "a stored message ...");
    ok(on_disk(dir, "wipe-one"), "... is on disk in clear (twin: the search finds it)");
    memset(&l, 0, sizeof l);
    l.del = s;
    ok(store_offline_fetch(s, "wipe@example.org", off_cb, &l) == 1 &&
       store_offline_count(s, "wipe@example.org") == 0, "delivered and deleted from the fetch callback");
    ok(!on_disk(dir, "wipe-one"), "after the fetch: in none of the files");
    ok(stat(walp, &st) == 0 && st.st_size == 0, "the WAL is empty (%lld bytes)",
       (long long)st.st_size);

    /* another connection reads: the WAL cannot start over; the deletion
     * neither waits for it nor fails, and the next fetch finishes the job */
    int64_t id = add_marked(s, "wipe@example.org", "wipe-two");
    h = raw_open(dbp);
    ok(id > 0 && sqlite3_exec(h, "BEGIN; SELECT count(*) FROM offline;", NULL, NULL, NULL) == SQLITE_OK,
       "a second connection holds a read transaction");
    double t0 = now_s();
    int rc = store_offline_delete(s, id);
    double dt = now_s() - t0;
    ok(rc == STORE_OK && dt < 1.0, "deleting meanwhile works at once (%.3f s; the busy timeout is 2 s)",
       dt);
    ok(on_disk(dir, "wipe-two"), "the reader keeps the WAL: still on disk (twin)");
    sqlite3_exec(h, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(h);
    memset(&l, 0, sizeof l);
    ok(store_offline_fetch(s, "wipe@example.org", off_cb, &l) == 0 && !on_disk(dir, "wipe-two"),
       "the reader gone, the next fetch wipes it");

    /* with its user */
    ok(add_marked(s, "wipe@example.org", "wipe-three") > 0 && on_disk(dir, "wipe-three") &&
       store_user_del(s, "wipe@example.org") == STORE_OK && !on_disk(dir, "wipe-three"),
       "a message deleted with its user: gone from the files too");
    store_close(s);
}

static void t_reopen(const char *dir)
{
    char err[512], dbp[PATH_MAX];
    struct store_user g;
    struct store_roster_item it;
    struct olist l;
    sqlite3 *h;
    store *s = store_open(dir, err, sizeof err);

    ok(s != NULL, "reopen (%s)", s ? "ok" : err);
    if (!s) return;
    ok(store_user_count(s) == 2 && store_user_get(s, "bob@example.org", &g) == STORE_OK &&
       g.has_scram && g.scram_iter == 4096, "users survive close and reopen");
    ok(store_roster_get(s, "alice@example.org", "bob@example.org", &it) == STORE_OK &&
       it.sub == STORE_SUB_TO && strcmp(it.name, "Bob B\xc3\xb6hm") == 0,
       "roster survives close and reopen");
    memset(&l, 0, sizeof l);
    l.terminated = 1;
    ok(store_offline_fetch(s, "alice@example.org", off_cb, &l) == 2 &&
       strcmp(l.text[0], msgs[0]) == 0 && strcmp(l.text[1], msgs[2]) == 0,
       "offline messages survive close and reopen");
    memset(&l, 0, sizeof l);
    l.del = s;
    ok(store_offline_fetch(s, "alice@example.org", off_cb, &l) == 2 &&
       store_offline_count(s, "alice@example.org") == 0,
       "deliver then delete from the fetch callback");
    store_close(s);

    pj(dbp, sizeof dbp, dir, "simpp.db");
    h = raw_open(dbp);
    ok(raw_int(h, "PRAGMA user_version") == STORE_SCHEMA_VERSION &&
       raw_int(h, "PRAGMA application_id") == 0x53494d50 &&
       raw_int(h, "SELECT count(*) FROM offline") == 0,
       "schema version and application id recorded, deletes durable");
    sqlite3_close(h);
}

static void t_busy(const char *dir)
{
    char err[512], dbp[PATH_MAX];
    struct store_user u, g;
    sqlite3 *h;
    double t0, dt;
    int rc;
    int64_t id;
    store *s = store_open(dir, err, sizeof err);

    ok(s != NULL, "open for the lock test (%s)", s ? "ok" : err);
    if (!s) return;
    pj(dbp, sizeof dbp, dir, "simpp.db");
    h = raw_open(dbp);
    sqlite3_busy_timeout(h, 5000);
    ok(sqlite3_exec(h, "BEGIN EXCLUSIVE", NULL, NULL, NULL) == SQLITE_OK,
       "a second connection holds BEGIN EXCLUSIVE");

    store_set_timeout(s, 300);
    mkuser(&u, "frank@example.org", 1);
    t0 = now_s();
    rc = store_user_add(s, &u);
    dt = now_s() - t0;
    ok(rc == STORE_BUSY && has(store_errmsg(s), "locked"), "write while locked: STORE_BUSY (%s)",
       store_errmsg(s));
    ok(dt >= 0.25, "it waited for the busy timeout first (%.3f s)", dt);
    id = store_offline_add(s, "alice@example.org", "bob@example.org", "<m/>", 4, 1);
    ok(id == STORE_BUSY, "offline add while locked: STORE_BUSY, not an id");
    ok(store_user_get(s, "alice@example.org", &g) == STORE_OK,
       "reads still work while another connection writes (WAL)");

    sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(h);
    ok(store_user_add(s, &u) == STORE_OK && store_user_del(s, "frank@example.org") == STORE_OK,
       "writes work again once the lock is gone");
    store_close(s);
}

static void t_full(const char *dir)
{
    char err[512], big[4200], dbp[PATH_MAX];
    int64_t before, r = 0, kept, pages, psize;
    int i, added = 0;
    sqlite3 *h;
    store *s = store_open(dir, err, sizeof err);

    ok(s != NULL, "open for the size-limit test (%s)", s ? "ok" : err);
    if (!s) return;
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    before = store_offline_count(s, "alice@example.org");
    /* room for a few more pages: each of these messages needs two */
    pj(dbp, sizeof dbp, dir, "simpp.db");
    h = raw_open(dbp);
    pages = raw_int(h, "PRAGMA page_count");
    psize = raw_int(h, "PRAGMA page_size");
    sqlite3_close(h);
    ok(store_set_size_limit(s, (pages + 6) * psize) == STORE_OK, "size limit set");
    for (i = 0; i < 1000; i++) {
        r = store_offline_add(s, "alice@example.org", "bob@example.org", big,
                              sizeof big - 1, 10 + i);
        if (r < 0) break;
        added++;
    }
    ok(r == STORE_FULL && added > 0 && added < 10 && has(store_errmsg(s), "full"),
       "past the limit: STORE_FULL after %d adds (%s)", added, store_errmsg(s));
    kept = store_offline_count(s, "alice@example.org");
    ok(kept == before + added, "the refused message was not stored, the others are intact");
    ok(store_user_count(s) == 2, "the store still reads normally after STORE_FULL");
    /* 1 byte: SQLite raises the cap to the current size; no page is free now */
    ok(store_set_size_limit(s, 1) == STORE_OK &&
       store_offline_add(s, "alice@example.org", "bob@example.org", big, sizeof big - 1, 1)
       == STORE_FULL, "a limit below the current size holds the database at that size");
    ok(store_set_size_limit(s, 0) == STORE_OK &&
       store_offline_add(s, "alice@example.org", "bob@example.org", big, sizeof big - 1, 99) > 0,
       "limit removed: the add succeeds");
    {
        struct olist l;
        memset(&l, 0, sizeof l);
        l.del = s;
        store_offline_fetch(s, "alice@example.org", off_cb, &l);
    }
    ok(store_offline_count(s, "alice@example.org") == 0, "cleaned up");
    ok(store_set_size_limit(s, -1) == STORE_ERROR, "negative limit refused");
    store_close(s);
}

static void t_readonly_api(const char *dir)
{
    char err[512];
    struct store_user u, g;
    struct store_roster_item it;
    store *rw = store_open(dir, err, sizeof err);
    store *ro = store_open_ro(dir, err, sizeof err);
    int64_t id;

    ok(rw && ro, "read-only open beside a read-write one (%s)", ro ? "ok" : err);
    if (ro) {
        ok(store_user_get(ro, "alice@example.org", &g) == STORE_OK && g.publen == 65,
           "read-only store reads");
        mkuser(&u, "grace@example.org", 1);
        ok(store_user_add(ro, &u) == STORE_READONLY && has(store_errmsg(ro), "read-only"),
           "user add on a read-only store: STORE_READONLY (%s)", store_errmsg(ro));
        id = store_offline_add(ro, "alice@example.org", "bob@example.org", "<m/>", 4, 1);
        ok(id == STORE_READONLY, "offline add on a read-only store: STORE_READONLY");
        memset(&it, 0, sizeof it);
        snprintf(it.owner, sizeof it.owner, "alice@example.org");
        snprintf(it.contact, sizeof it.contact, "zed@example.org");
        ok(store_roster_put(ro, &it) == STORE_READONLY &&
           store_user_del(ro, "alice@example.org") == STORE_READONLY,
           "roster put and user delete on a read-only store: STORE_READONLY");
        if (rw) {
            ok(store_user_add(rw, &u) == STORE_OK &&
               store_user_get(ro, "grace@example.org", &g) == STORE_OK,
               "the read-only store sees the other connection's commits");
            store_user_del(rw, "grace@example.org");
        }
    }
    store_close(ro);
    store_close(rw);

    {
        char missing[PATH_MAX];
        pj(missing, sizeof missing, top, "no-such-dir");
        ro = store_open_ro(missing, err, sizeof err);
        ok(!ro && has(err, "No such file"), "read-only open of a missing store: %s", err);
        store_close(ro);
        ok(access(missing, F_OK) != 0, "read-only open created nothing");
    }
}

/* ---- permissions, in a child without privileges ------------------------- */

/* Returns 0: open failed with err; 1: open succeeded; 77: cannot drop
 * privileges (or they do not bite), so the check cannot be made. */
static int open_unprivileged(const char *dir, char *err, size_t errlen)
{
    int pfd[2], st;
    pid_t pid;
    ssize_t n;

    if (pipe(pfd) != 0) return 77;
    fflush(stdout);
    pid = fork();
    if (pid < 0) return 77;
    if (pid == 0) {
        char e[512] = "";
        char dbp[PATH_MAX];
        store *s;
        int code, fd;
        close(pfd[0]);
        if (geteuid() == 0 &&
            (setgroups(0, NULL) != 0 || setgid(NOBODY) != 0 || setuid(NOBODY) != 0))
            _exit(77);
        /* make sure the kernel now refuses something the modes forbid */
        pj(dbp, sizeof dbp, dir, "probe");
        fd = open(dbp, O_WRONLY | O_CREAT | O_EXCL, 0600);
        if (fd >= 0) {
            close(fd);
            unlink(dbp);
            pj(dbp, sizeof dbp, dir, "simpp.db");
            fd = open(dbp, O_WRONLY);
            if (fd >= 0) {          /* neither dir nor file is protected: odd setup */
                close(fd);
                _exit(77);
            }
        }
        s = store_open(dir, e, sizeof e);
        code = s ? 1 : 0;
        store_close(s);
        if (write(pfd[1], e, strlen(e)) < 0) code = 77;
        close(pfd[1]);
        _exit(code);
    }
    close(pfd[1]);
    n = read(pfd[0], err, errlen - 1);
    err[n > 0 ? n : 0] = '\0';
    close(pfd[0]);
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st)) return 77;
    return WEXITSTATUS(st);
}

static void t_permissions(void)
{
    static const struct {
        mode_t dmode, fmode;
        const char *expect, *expect2, *name;
    } cases[] = {
        { 0500, 0600, "not writable", NULL, "directory read-only" },
        { 0700, 0400, "read-only", NULL, "database file 0400" },
        { 0500, 0400, "not writable", "read-only", "file 0400 in a read-only directory" },
    };
    char dir[PATH_MAX], dbp[PATH_MAX], err[512];
    store *s;

    pj(dir, sizeof dir, top, "perm");
    pj(dbp, sizeof dbp, dir, "simpp.db");
    s = store_open(dir, err, sizeof err);
    ok(s != NULL, "open for the permission tests (%s)", s ? "ok" : err);
    if (!s) return;
    store_close(s);
    if (geteuid() == 0 &&
        (chmod(top, 0711) != 0 || chown(dir, NOBODY, NOBODY) != 0 ||
         chown(dbp, NOBODY, NOBODY) != 0)) {
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            ok(1, "# SKIP %s: cannot hand the store to uid %d", cases[i].name, NOBODY);
        return;
    }
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int r;
        chmod(dir, cases[i].dmode);
        chmod(dbp, cases[i].fmode);
        r = open_unprivileged(dir, err, sizeof err);
        if (r == 77)
            ok(1, "# SKIP %s: cannot run without privileges here", cases[i].name);
        else
            ok(r == 0 && (has(err, cases[i].expect) ||
                          (cases[i].expect2 && has(err, cases[i].expect2))),
               "%s: open refused with a clear reason (%s)", cases[i].name, err);
    }
    chmod(dir, 0700);
    chmod(dbp, 0600);
    chmod(top, 0700);
}

/* ---- files that are not (our) databases --------------------------------- */

static void t_badfiles(void)
{
    char dir[PATH_MAX], dbp[PATH_MAX], err[512], junk[4096], back[4096];
    FILE *f;
    sqlite3 *h;
    store *s;
    size_t n;

    /* not a database at all */
    pj(dir, sizeof dir, top, "junk");
    mkdir(dir, 0700);
    pj(dbp, sizeof dbp, dir, "simpp.db");
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = "not a database\n"[i % 15];
    f = fopen(dbp, "wb");
    fwrite(junk, 1, sizeof junk, f);
    fclose(f);
    s = store_open(dir, err, sizeof err);
    ok(!s && has(err, "not an SQLite database"), "junk file: %s", err);
    store_close(s);
    f = fopen(dbp, "rb");
    n = fread(back, 1, sizeof back, f);
    fclose(f);
    ok(n == sizeof junk && memcmp(back, junk, n) == 0, "the junk file was left untouched");

    /* another application's database */
    pj(dir, sizeof dir, top, "foreign");
    mkdir(dir, 0700);
    pj(dbp, sizeof dbp, dir, "simpp.db");
    h = raw_open(dbp);
    sqlite3_exec(h, "CREATE TABLE users (name TEXT); INSERT INTO users VALUES ('x')",
                 NULL, NULL, NULL);
    sqlite3_close(h);
    s = store_open(dir, err, sizeof err);
    ok(!s && has(err, "another application"), "foreign SQLite database: %s", err);
    store_close(s);
    h = raw_open(dbp);
    ok(raw_int(h, "SELECT count(*) FROM users") == 1 &&
       raw_int(h, "PRAGMA user_version") == 0, "the foreign database was left untouched");
    sqlite3_close(h);

    /* a store from a newer simpp */
    pj(dir, sizeof dir, top, "newer");
    s = store_open(dir, err, sizeof err);
    store_close(s);
    pj(dbp, sizeof dbp, dir, "simpp.db");
    h = raw_open(dbp);
    sqlite3_exec(h, "PRAGMA user_version = 99", NULL, NULL, NULL);
    sqlite3_close(h);
    s = store_open(dir, err, sizeof err);
    ok(!s && has(err, "newer"), "schema from a newer simpp: %s", err);
    store_close(s);

    /* not a directory */
    s = store_open(dbp, err, sizeof err);
    ok(!s && has(err, "not a directory"), "store path is a file: %s", err);
    store_close(s);
    s = store_open("", err, sizeof err);
    ok(!s && has(err, "no directory"), "empty store path: %s", err);
    store_close(s);
}

/* a page of a table overwritten: open works, reads report corruption */
static void t_corrupt(void)
{
    char dir[PATH_MAX], dbp[PATH_MAX], wal[PATH_MAX + 8], err[512];
    struct store_user u;
    sqlite3 *h;
    store *s;
    int64_t root, psize;
    int fd;
    uint8_t *garbage;

    pj(dir, sizeof dir, top, "corrupt");
    pj(dbp, sizeof dbp, dir, "simpp.db");
    s = store_open(dir, err, sizeof err);
    mkuser(&u, "alice@example.org", 1);
    ok(s && store_user_add(s, &u) == STORE_OK && store_check(s) == STORE_OK,
       "a healthy store passes store_check");
    store_close(s);
    snprintf(wal, sizeof wal, "%s-wal", dbp);
    ok(access(wal, F_OK) != 0, "closing checkpointed and removed the WAL");

    h = raw_open(dbp);
    root = raw_int(h, "SELECT rootpage FROM sqlite_master WHERE name = 'users'");
    psize = raw_int(h, "PRAGMA page_size");
    sqlite3_close(h);
    garbage = malloc((size_t)psize);
    memset(garbage, 0xff, (size_t)psize);
    fd = open(dbp, O_WRONLY);
    ok(root > 1 && fd >= 0 &&
       pwrite(fd, garbage, (size_t)psize, (off_t)((root - 1) * psize)) == psize,
       "overwrote the users table's root page");
    close(fd);
    free(garbage);

    s = store_open(dir, err, sizeof err);
    ok(s != NULL, "a store with a damaged table still opens (%s)", s ? "ok" : err);
    if (!s) return;
    ok(store_check(s) == STORE_ERROR && has(store_errmsg(s), "corrupt") &&
       !strchr(store_errmsg(s), '\n'), "store_check reports it on one line: %s",
       store_errmsg(s));
    ok(store_user_get(s, "alice@example.org", &u) == STORE_ERROR &&
       has(store_errmsg(s), "corrupt"), "a read reports it: %s", store_errmsg(s));
    store_close(s);
}

/* another process holds an exclusive lock in rollback mode: even reading
 * the header waits, so the open itself must fail cleanly */
static void t_locked_open(void)
{
    char dir[PATH_MAX], dbp[PATH_MAX], err[512];
    sqlite3 *h;
    store *s;
    double t0, dt;

    pj(dir, sizeof dir, top, "locked");
    pj(dbp, sizeof dbp, dir, "simpp.db");
    s = store_open(dir, err, sizeof err);
    store_close(s);
    h = raw_open(dbp);
    ok(sqlite3_exec(h, "PRAGMA journal_mode = DELETE; BEGIN EXCLUSIVE;",
                    NULL, NULL, NULL) == SQLITE_OK, "another connection locks the file exclusively");
    t0 = now_s();
    s = store_open(dir, err, sizeof err);
    dt = now_s() - t0;
    ok(!s && has(err, "locked"), "open of a locked database: %s", err);
    ok(dt >= STORE_DEFAULT_BUSY_MS / 1000.0 - 0.05, "after the busy timeout (%.3f s)", dt);
    store_close(s);
    sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(h);
    s = store_open(dir, err, sizeof err);
    ok(s != NULL, "opens once the lock is released (%s)", s ? "ok" : err);
    store_close(s);
}

/* ---- listing users, settings, the schema before settings ----------------- */

struct ulist { int n, stop_after; char jid[4][STORE_JID_MAX]; int simpp[4], scram[4]; };

static int user_cb(const struct store_user *u, void *ctx)
{
    struct ulist *l = ctx;
    if (l->n < 4) {
        snprintf(l->jid[l->n], sizeof l->jid[0], "%s", u->jid);
        l->simpp[l->n] = u->publen == 65 && u->wkalen > 0;
        l->scram[l->n] = u->has_scram && u->scram_iter == 4096;
    }
    l->n++;
    return l->stop_after && l->n >= l->stop_after;
}

static void t_list_meta(store *s)
{
    struct ulist l = { 0 };
    char v[STORE_META_MAX], small[4], big[STORE_META_MAX + 1];
    /* t_users left alice (SIMPP keys) and bob (SCRAM) among others */
    int64_t n = store_user_list(s, user_cb, &l);
    ok(n == store_user_count(s) && n >= 2 && l.n == n, "store_user_list calls back once per user (%lld)",
       (long long)n);
    int sorted = 1;
    for (int i = 1; i < l.n && i < 4; i++) sorted &= strcmp(l.jid[i - 1], l.jid[i]) < 0;
    ok(sorted, "... ordered by JID");
    int alice = -1, bob = -1;
    for (int i = 0; i < l.n && i < 4; i++) {
        if (!strcmp(l.jid[i], "alice@example.org")) alice = i;
        if (!strcmp(l.jid[i], "bob@example.org")) bob = i;
    }
    ok(alice >= 0 && bob >= 0 && l.simpp[alice] && !l.scram[alice] && l.scram[bob] && !l.simpp[bob],
       "... with each user's keys and verifier as stored");
    struct ulist one = { .stop_after = 1 };
    ok(store_user_list(s, user_cb, &one) == 1 && one.n == 1, "a callback returning non-zero stops the list");
    ok(store_user_list(s, NULL, NULL) == STORE_ERROR, "no callback: STORE_ERROR");

    ok(store_meta_get(s, "domain", v, sizeof v) == STORE_NOTFOUND, "an unset setting: STORE_NOTFOUND");
    ok(store_meta_set(s, "domain", "example.org") == STORE_OK &&
       store_meta_get(s, "domain", v, sizeof v) == STORE_OK && !strcmp(v, "example.org"),
       "a setting reads back");
    ok(store_meta_set(s, "domain", "example.net") == STORE_OK &&
       store_meta_get(s, "domain", v, sizeof v) == STORE_OK && !strcmp(v, "example.net"),
       "set again: replaced");
    ok(store_meta_get(s, "domain", small, sizeof small) == STORE_ERROR, "a value that does not fit: STORE_ERROR");
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    ok(store_meta_set(s, "domain", big) == STORE_ERROR && store_meta_set(s, "", "x") == STORE_ERROR &&
       store_meta_set(s, "k", NULL) == STORE_ERROR, "over-long values, empty keys, no value: refused");
    ok(store_meta_set(s, "domain", "example.org") == STORE_OK, "(back to example.org)");
}

/* card certificates (kept with their account) and provisioning tokens
 * (one use each, kept when the account goes) */
static void t_card(store *s)
{
    struct store_user u;
    struct store_cert c, g;
    struct store_prov p;
    uint8_t sec[STORE_PROV_SECRET];
    memset(sec, 0x5a, sizeof sec);
    memset(&c, 0, sizeof c);
    snprintf(c.jid, sizeof c.jid, "carded@example.org");
    memset(c.chain, 7, 300);
    c.chainlen = 300;
    snprintf(c.issuer, sizeof c.issuer, "CN=issuer");
    snprintf(c.serial, sizeof c.serial, "1F");
    snprintf(c.subject, sizeof c.subject, "CN=carded");
    ok(store_cert_put(s, &c) != STORE_OK, "a certificate for no account: refused");
    mkuser(&u, "carded@example.org", 2);
    ok(store_user_add(s, &u) == STORE_OK && store_cert_put(s, &c) == STORE_OK, "a certificate for an account");
    ok(store_cert_get(s, "carded@example.org", &g) == STORE_OK && g.chainlen == 300 &&
       !memcmp(g.chain, c.chain, 300) && !strcmp(g.serial, "1F") && !strcmp(g.issuer, "CN=issuer"),
       "reads back");
    ok(store_user_del(s, "carded@example.org") == STORE_OK &&
       store_cert_get(s, "carded@example.org", &g) == STORE_NOTFOUND, "goes with its account");
    ok(store_prov_get(s, "new@example.org", &p) == STORE_NOTFOUND, "no token: STORE_NOTFOUND");
    ok(store_prov_put(s, "new@example.org", 2, sec, 1000) == STORE_OK &&
       store_prov_get(s, "new@example.org", &p) == STORE_OK && p.level == 2 && !p.used && p.created == 1000 &&
       !memcmp(p.secret, sec, sizeof sec), "a token reads back, unused");
    ok(store_prov_use(s, "new@example.org") == STORE_OK && store_prov_use(s, "new@example.org") == STORE_NOTFOUND &&
       store_prov_get(s, "new@example.org", &p) == STORE_OK && p.used, "used once, not twice");
    ok(store_prov_put(s, "new@example.org", 1, sec, 2000) == STORE_OK &&
       store_prov_get(s, "new@example.org", &p) == STORE_OK && !p.used && p.level == 1, "a new token replaces it");
}

/* a store written before the settings table and SCRAM-SHA-1 (schema 1)
 * opens, keeps its users, and gains both */
static void t_schema1(void)
{
    char dir[PATH_MAX], dbp[PATH_MAX], err[512], v[64];
    store *s;
    struct store_user u, g;
    sqlite3 *h;
    pj(dir, sizeof dir, top, "schema1");
    s = store_open(dir, err, sizeof err);
    mkuser(&u, "old@example.org", 1);
    ok(s && store_user_add(s, &u) == STORE_OK, "a store with one user");
    store_close(s);
    pj(dbp, sizeof dbp, dir, "simpp.db");
    h = raw_open(dbp);
    ok(sqlite3_exec(h, "DROP TABLE meta; DROP TABLE card_certs; DROP TABLE provision;"
                       "ALTER TABLE users DROP COLUMN scram1_stored;"
                       "ALTER TABLE users DROP COLUMN scram1_server; PRAGMA user_version = 1",
                    NULL, NULL, NULL) == SQLITE_OK,
       "... turned back into a schema 1 store");
    sqlite3_close(h);
    s = store_open_ro(dir, err, sizeof err);
    ok(!s && has(err, "needs migrating"), "read-only open of schema 1: %s", err);
    s = store_open(dir, err, sizeof err);
    ok(s && store_user_get(s, "old@example.org", &g) == STORE_OK &&
       store_meta_get(s, "domain", v, sizeof v) == STORE_NOTFOUND && store_meta_set(s, "domain", "x") == STORE_OK,
       "opened read-write: migrated, the user kept, settings work");
    store_close(s);
    h = raw_open(dbp);
    ok(raw_int(h, "PRAGMA user_version") == STORE_SCHEMA_VERSION, "schema version now %d", STORE_SCHEMA_VERSION);
    sqlite3_close(h);
}

int main(void)
{
    char dir[PATH_MAX], dbp[PATH_MAX], walp[PATH_MAX + 8], err[512];
    struct stat st;
    store *s;

    (void)tap_datadir();
    snprintf(top, sizeof top, "/tmp/simpp-store-XXXXXX");
    if (!mkdtemp(top)) {
        perror("mkdtemp");
        return 2;
    }
    pj(dir, sizeof dir, top, "data");       /* missing: store_open creates it */
    pj(dbp, sizeof dbp, dir, "simpp.db");
    snprintf(walp, sizeof walp, "%s-wal", dbp);

    s = store_open(dir, err, sizeof err);
    ok(s != NULL, "open a fresh store (%s)", s ? "ok" : err);
    if (s) {
        ok(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700, "directory created 0700");
        ok(stat(dbp, &st) == 0 && (st.st_mode & 0777) == 0600, "database file is 0600");
        t_users(s);
        t_roster(s);
        t_offline(s);
        t_cascade(s);
        t_list_meta(s);
        t_card(s);
        ok(stat(walp, &st) == 0 && (st.st_mode & 0777) == 0600,
           "WAL file exists (WAL mode) and is 0600");
        ok(store_close(s) == STORE_OK, "close");
        t_reopen(dir);
        t_wipe(dir);
        t_busy(dir);
        t_full(dir);
        t_readonly_api(dir);
    }
    ok(store_close(NULL) == STORE_OK, "closing NULL is harmless");
    t_permissions();
    t_badfiles();
    t_corrupt();
    t_locked_open();
    t_schema1();

    chmod(top, 0700);
    nftw(top, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    ok(access(top, F_OK) != 0, "temporary directory removed");
    return tap_done();
}
