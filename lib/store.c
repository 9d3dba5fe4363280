/* store.c - the relay's SQLite store.  See store.h for the contract. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store.h"

#define DB_NAME "simpp.db"
/* PRAGMA application_id "SIMP": tells our file from any other SQLite file,
 * so we never run migrations over somebody else's tables. */
#define APP_ID  0x53494d50
/* RFC 7622 3.1: a full JID is at most 3071 bytes (the sender of an offline
 * message is a full JID; the owner of stored data is a bare one). */
#define FULLJID_MAX 3071

/*
 * Schema migrations: migrations[v] takes user_version v to v + 1.  They run
 * in one IMMEDIATE transaction together with the user_version update, so a
 * crash leaves either the old schema or the new one.  Never edit a shipped
 * entry; append a new one and bump STORE_SCHEMA_VERSION.
 *
 * STRICT tables make SQLite refuse a value of the wrong type instead of
 * storing it silently; the foreign keys make deleting a user take their
 * roster and offline messages with them, and make an offline message for an
 * unknown recipient fail instead of sitting there forever.
 */
static const char *const migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE users ("
    "  jid          TEXT PRIMARY KEY NOT NULL,"
    "  level        INTEGER NOT NULL,"
    "  curve        INTEGER NOT NULL,"
    "  pub          BLOB,"
    "  wka          BLOB,"
    "  scram_salt   BLOB,"
    "  scram_iter   INTEGER,"
    "  scram_stored BLOB,"
    "  scram_server BLOB,"
    "  created      INTEGER NOT NULL,"
    "  CHECK ((scram_salt IS NULL) = (scram_iter IS NULL)"
    "     AND (scram_salt IS NULL) = (scram_stored IS NULL)"
    "     AND (scram_salt IS NULL) = (scram_server IS NULL))"
    ") STRICT, WITHOUT ROWID;"
    "CREATE TABLE roster ("
    "  owner      TEXT NOT NULL REFERENCES users(jid) ON DELETE CASCADE,"
    "  contact    TEXT NOT NULL,"
    "  name       TEXT,"
    "  sub        INTEGER NOT NULL CHECK (sub BETWEEN 0 AND 3),"
    "  ask_out    INTEGER NOT NULL CHECK (ask_out IN (0, 1)),"
    "  pending_in INTEGER NOT NULL CHECK (pending_in IN (0, 1)),"
    "  PRIMARY KEY (owner, contact)"
    ") STRICT, WITHOUT ROWID;"
    /* AUTOINCREMENT: an id is never handed out twice, so a caller holding
     * an id across a restart can never delete somebody else's message. */
    "CREATE TABLE offline ("
    "  id      INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  to_jid  TEXT NOT NULL REFERENCES users(jid) ON DELETE CASCADE,"
    "  from_jid TEXT NOT NULL,"
    "  stanza  BLOB NOT NULL,"
    "  stamp   INTEGER NOT NULL"
    ") STRICT;"
    "CREATE INDEX offline_to ON offline (to_jid, id);",
    /* 1 -> 2: facts about the store itself (the domain it serves) */
    "CREATE TABLE meta ("
    "  key   TEXT PRIMARY KEY NOT NULL,"
    "  value TEXT NOT NULL"
    ") STRICT, WITHOUT ROWID;",
    /* 2 -> 3: SCRAM-SHA-1 (RFC 6120 13.8), same salt and count as SHA-256 */
    "ALTER TABLE users ADD COLUMN scram1_stored BLOB;"
    "ALTER TABLE users ADD COLUMN scram1_server BLOB;",
    /* 3 -> 4: card levels the relay granted: the certificate an account was
     * registered with (checked again at every login), and the operator's
     * one-time provisioning tokens (kept once used: never good twice) */
    "CREATE TABLE card_certs ("
    "  jid     TEXT PRIMARY KEY NOT NULL REFERENCES users(jid) ON DELETE CASCADE,"
    "  chain   BLOB NOT NULL,"
    "  issuer  TEXT NOT NULL,"
    "  serial  TEXT NOT NULL,"
    "  subject TEXT NOT NULL"
    ") STRICT, WITHOUT ROWID;"
    "CREATE TABLE provision ("
    "  jid     TEXT PRIMARY KEY NOT NULL,"
    "  level   INTEGER NOT NULL,"
    "  secret  BLOB NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  used    INTEGER NOT NULL CHECK (used IN (0, 1))"
    ") STRICT, WITHOUT ROWID;",
};
_Static_assert(sizeof migrations / sizeof migrations[0] == STORE_SCHEMA_VERSION,
               "one migration per schema version");

enum {
    Q_USER_ADD, Q_USER_GET, Q_USER_SCRAM, Q_USER_SCRAM1, Q_USER_DEL, Q_USER_COUNT, Q_USER_LIST,
    Q_META_GET, Q_META_SET,
    Q_ROSTER_GET, Q_ROSTER_PUT, Q_ROSTER_DEL, Q_ROSTER_LIST,
    Q_OFF_ADD, Q_OFF_COUNT, Q_OFF_FETCH, Q_OFF_DEL,
    Q_CERT_PUT, Q_CERT_GET, Q_PROV_PUT, Q_PROV_GET, Q_PROV_USE,
    Q_COUNT
};

static const char *const queries[Q_COUNT] = {
    [Q_USER_ADD] =
        "INSERT INTO users (jid, level, curve, pub, wka, scram_salt, scram_iter,"
        " scram_stored, scram_server, created)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [Q_USER_GET] =
        "SELECT level, curve, pub, wka, scram_salt, scram_iter, scram_stored,"
        " scram_server, created, scram1_stored, scram1_server FROM users WHERE jid = ?1",
    [Q_USER_SCRAM] =
        "UPDATE users SET scram_salt = ?2, scram_iter = ?3, scram_stored = ?4,"
        " scram_server = ?5 WHERE jid = ?1",
    [Q_USER_SCRAM1] =
        "UPDATE users SET scram1_stored = ?2, scram1_server = ?3 WHERE jid = ?1",
    [Q_USER_DEL] = "DELETE FROM users WHERE jid = ?1",
    [Q_USER_COUNT] = "SELECT count(*) FROM users",
    /* the columns of Q_USER_GET after the jid */
    [Q_USER_LIST] =
        "SELECT jid, level, curve, pub, wka, scram_salt, scram_iter, scram_stored,"
        " scram_server, created, scram1_stored, scram1_server FROM users ORDER BY jid",
    [Q_META_GET] = "SELECT value FROM meta WHERE key = ?1",
    [Q_META_SET] =
        "INSERT INTO meta (key, value) VALUES (?1, ?2)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    [Q_ROSTER_GET] =
        "SELECT name, sub, ask_out, pending_in FROM roster"
        " WHERE owner = ?1 AND contact = ?2",
    [Q_ROSTER_PUT] =
        "INSERT INTO roster (owner, contact, name, sub, ask_out, pending_in)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
        " ON CONFLICT (owner, contact) DO UPDATE SET name = excluded.name,"
        " sub = excluded.sub, ask_out = excluded.ask_out,"
        " pending_in = excluded.pending_in",
    [Q_ROSTER_DEL] = "DELETE FROM roster WHERE owner = ?1 AND contact = ?2",
    [Q_ROSTER_LIST] =
        "SELECT contact, name, sub, ask_out, pending_in FROM roster"
        " WHERE owner = ?1 ORDER BY contact",
    [Q_OFF_ADD] =
        "INSERT INTO offline (to_jid, from_jid, stanza, stamp) VALUES (?1, ?2, ?3, ?4)",
    [Q_OFF_COUNT] = "SELECT count(*) FROM offline WHERE to_jid = ?1",
    [Q_OFF_FETCH] =
        "SELECT id, from_jid, stanza, stamp FROM offline WHERE to_jid = ?1 ORDER BY id",
    [Q_OFF_DEL] = "DELETE FROM offline WHERE id = ?1",
    [Q_CERT_PUT] =
        "INSERT OR REPLACE INTO card_certs (jid, chain, issuer, serial, subject) VALUES (?1, ?2, ?3, ?4, ?5)",
    [Q_CERT_GET] = "SELECT chain, issuer, serial, subject FROM card_certs WHERE jid = ?1",
    [Q_PROV_PUT] =
        "INSERT OR REPLACE INTO provision (jid, level, secret, created, used) VALUES (?1, ?2, ?3, ?4, 0)",
    [Q_PROV_GET] = "SELECT level, secret, created, used FROM provision WHERE jid = ?1",
    [Q_PROV_USE] = "UPDATE provision SET used = 1 WHERE jid = ?1 AND used = 0",
};

struct store {
    sqlite3      *db;
    sqlite3_stmt *q[Q_COUNT];
    int           ro;
    int           busy_ms;
    int64_t       max_pages;        /* SQLite's own cap, restored by a size limit of 0 */
    int           wipe_due;         /* deleted rows may still be in the WAL (wipe_wal) */
    char          path[PATH_MAX];
    char          err[512];
};

/* ------------------------------------------------------------------------ */
/* errors                                                                    */

static void __attribute__((format(printf, 2, 3)))
seterr(store *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, sizeof s->err, fmt, ap);
    va_end(ap);
    /* one line, whatever SQLite or a file name put in it: it goes to logs */
    for (char *c = s->err; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = ' ';
}

/*
 * Turn an SQLite result into a STORE_* code and a sentence.  The relay acts
 * on the code (resource-constraint for FULL, retry later for BUSY), a person
 * reads the sentence, so it names the cause rather than SQLite's internals.
 */
static int sqlfail(store *s, int rc, const char *what)
{
    int e = sqlite3_system_errno(s->db);
    int code = STORE_ERROR;
    char why[256];

    switch (rc & 0xff) {
    case SQLITE_FULL:
        code = STORE_FULL;
        snprintf(why, sizeof why, "disk full, or the database size limit reached");
        break;
    case SQLITE_IOERR:
        /* a full disk can also surface at fsync or fallocate time */
        if (e == ENOSPC
#ifdef EDQUOT
            || e == EDQUOT
#endif
            ) {
            code = STORE_FULL;
            snprintf(why, sizeof why, "disk full (%s)", strerror(e));
        } else
            snprintf(why, sizeof why, "I/O error (%s)", e ? strerror(e) : sqlite3_errstr(rc));
        break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        code = STORE_BUSY;
        snprintf(why, sizeof why, "database is locked by another connection"
                 " (gave up after %d ms)", s->busy_ms);
        break;
    case SQLITE_READONLY:
        code = STORE_READONLY;
        if (rc == SQLITE_READONLY_DIRECTORY)
            snprintf(why, sizeof why, "the database directory is not writable");
        else if (s->ro)
            snprintf(why, sizeof why, "store is open read-only");
        else
            snprintf(why, sizeof why, "database is read-only");
        break;
    case SQLITE_CORRUPT:
        snprintf(why, sizeof why, "database file is corrupt");
        break;
    case SQLITE_NOTADB:
        snprintf(why, sizeof why, "file is not an SQLite database, or is corrupt");
        break;
    case SQLITE_CANTOPEN:
        snprintf(why, sizeof why, "cannot open a database file (%s)",
                 e ? strerror(e) : sqlite3_errstr(rc));
        break;
    case SQLITE_NOMEM:
        snprintf(why, sizeof why, "out of memory");
        break;
    default:
        snprintf(why, sizeof why, "%s", sqlite3_errmsg(s->db));
        break;
    }
    seterr(s, "%s: %s", what, why);
    return code;
}

const char *store_errmsg(const store *s)
{
    return s ? s->err : "no store";
}

/* ------------------------------------------------------------------------ */
/* small helpers                                                             */

/* Statements are bound with SQLITE_STATIC (no copies of the caller's keys
 * inside SQLite) and the bindings cleared right after, so no statement keeps
 * a pointer into memory the caller may free or wipe. */
static void done(sqlite3_stmt *q)
{
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
}

static int bind_blob(sqlite3_stmt *q, int i, const void *p, size_t n)
{
    /* a zero length means "absent": SQL NULL, not an empty blob */
    return n ? sqlite3_bind_blob64(q, i, p, n, SQLITE_STATIC) : sqlite3_bind_null(q, i);
}

static int bind_text(sqlite3_stmt *q, int i, const char *t)
{
    return sqlite3_bind_text(q, i, t, -1, SQLITE_STATIC);
}

#define BIND(call) do { if (rc == SQLITE_OK) rc = (call); } while (0)

/* A JID the store keys on: present, non-empty, fits STORE_JID_MAX. */
static int chk_jid(store *s, const char *what, const char *field, const char *jid)
{
    if (jid && *jid && strnlen(jid, STORE_JID_MAX) < STORE_JID_MAX)
        return 0;
    seterr(s, "%s: %s is missing, empty or longer than %d bytes", what, field,
           STORE_JID_MAX - 1);
    return -1;
}

static int copy_text(char *dst, size_t cap, sqlite3_stmt *q, int col)
{
    const unsigned char *p = sqlite3_column_text(q, col);
    size_t n = (size_t)sqlite3_column_bytes(q, col);
    if (!p) n = 0;
    if (n >= cap) return -1;
    if (n) memcpy(dst, p, n);
    dst[n] = '\0';
    return 0;
}

static int copy_blob(uint8_t *dst, size_t cap, size_t *len, sqlite3_stmt *q, int col)
{
    const void *p = sqlite3_column_blob(q, col);
    size_t n = (size_t)sqlite3_column_bytes(q, col);
    *len = 0;
    if (sqlite3_column_type(q, col) == SQLITE_NULL) return 0;
    if (n > cap || (n && !p)) return -1;
    if (n) memcpy(dst, p, n);
    *len = n;
    return 0;
}

/* Run SQL without parameters (pragmas, schema, transaction control). */
static int exec(store *s, const char *sql, const char *what)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? STORE_OK : sqlfail(s, rc, what);
}

/* One integer out of a pragma or count query without parameters. */
static int query_int(store *s, const char *sql, int64_t *out, const char *what)
{
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &q, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(q);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int64(q, 0);
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            *out = 0;
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(q);
    return rc == SQLITE_OK ? STORE_OK : sqlfail(s, rc, what);
}

/* Make a new directory entry durable: without this a crash right after
 * creating the store could lose the file the first messages went into.
 * Best effort: some file systems refuse fsync on a directory. */
static void sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

static void sync_parent(const char *dir)
{
    char p[PATH_MAX];
    size_t n = strnlen(dir, sizeof p);
    char *slash;
    if (n >= sizeof p) return;
    memcpy(p, dir, n + 1);
    while (n > 1 && p[n - 1] == '/') p[--n] = '\0';
    slash = strrchr(p, '/');
    if (!slash) sync_dir(".");
    else if (slash == p) sync_dir("/");
    else {
        *slash = '\0';
        sync_dir(p);
    }
}

/* ------------------------------------------------------------------------ */
/* open, schema, close                                                       */

static int prepare_dir(store *s, const char *dir)
{
    struct stat st;
    int fd;

    if (!s->ro) {
        if (mkdir(dir, 0700) == 0)
            sync_parent(dir);
        else if (errno != EEXIST) {
            seterr(s, "%s: cannot create directory: %s", dir, strerror(errno));
            return -1;
        }
    }
    if (stat(dir, &st) != 0) {
        seterr(s, "%s: %s", dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        seterr(s, "%s: not a directory", dir);
        return -1;
    }
    if (s->ro) {
        if (stat(s->path, &st) != 0) {
            seterr(s, "%s: %s", s->path, strerror(errno));
            return -1;
        }
        return 0;
    }
    /* WAL mode creates simpp.db-wal and -shm beside the database at run
     * time; find out now rather than at the first offline message. */
    if (faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) != 0) {
        seterr(s, "%s: directory not writable (the database needs to create"
               " files there): %s", dir, strerror(errno));
        return -1;
    }
    /* Create the file ourselves: SQLite would make it 0644, and it holds
     * wrapped keys and SCRAM verifiers.  An empty file is an empty database. */
    fd = open(s->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0) {
        close(fd);
        sync_dir(dir);
    } else if (errno != EEXIST) {
        seterr(s, "%s: cannot create: %s", s->path, strerror(errno));
        return -1;
    }
    return 0;
}

static int migrate(store *s)
{
    char sql[64];
    int64_t v;
    int rc = exec(s, "BEGIN IMMEDIATE", s->path);
    if (rc) return rc;
    /* read again under the write lock: another process may have migrated
     * between our first look and now */
    if ((rc = query_int(s, "PRAGMA user_version", &v, s->path))) goto rollback;
    if (v > STORE_SCHEMA_VERSION || v < 0) {
        seterr(s, "%s: schema version %lld is newer than this simpp supports (%d)",
               s->path, (long long)v, STORE_SCHEMA_VERSION);
        rc = STORE_ERROR;
        goto rollback;
    }
    for (; v < STORE_SCHEMA_VERSION; v++)
        if ((rc = exec(s, migrations[v], s->path))) goto rollback;
    /* pragma arguments cannot be bound; these are our own constants */
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", STORE_SCHEMA_VERSION);
    if ((rc = exec(s, sql, s->path))) goto rollback;
    snprintf(sql, sizeof sql, "PRAGMA application_id = %d", APP_ID);
    if ((rc = exec(s, sql, s->path))) goto rollback;
    if ((rc = exec(s, "COMMIT", s->path))) goto rollback;
    return STORE_OK;
rollback:
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* Look at what the file is before touching it: ours (any version up to
 * ours), empty, or something else we must leave alone. */
static int check_schema(store *s)
{
    int64_t app, ver, tables;
    int rc;

    if ((rc = query_int(s, "PRAGMA application_id", &app, s->path))) return rc;
    if ((rc = query_int(s, "PRAGMA user_version", &ver, s->path))) return rc;
    if ((rc = query_int(s, "SELECT count(*) FROM sqlite_master", &tables, s->path)))
        return rc;
    if (app != APP_ID && (app != 0 || ver != 0 || tables != 0)) {
        seterr(s, "%s: an SQLite database of another application, not a simpp store",
               s->path);
        return STORE_ERROR;
    }
    if (ver > STORE_SCHEMA_VERSION || ver < 0) {
        seterr(s, "%s: schema version %lld is newer than this simpp supports (%d)",
               s->path, (long long)ver, STORE_SCHEMA_VERSION);
        return STORE_ERROR;
    }
    if (ver < STORE_SCHEMA_VERSION && s->ro) {
        if (ver == 0)
            seterr(s, "%s: empty, not yet a simpp store", s->path);
        else
            seterr(s, "%s: schema version %lld needs migrating; open it read-write once",
                   s->path, (long long)ver);
        return STORE_ERROR;
    }
    return STORE_OK;
}

static int set_wal(store *s)
{
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &q, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *mode = (const char *)sqlite3_column_text(q, 0);
        if (!mode || strcasecmp(mode, "wal") != 0) {
            /* SQLite answers with the old mode when it cannot switch,
             * e.g. where shared memory files are not possible */
            seterr(s, "%s: cannot switch to WAL journal mode (still %s)", s->path,
                   mode ? mode : "unknown");
            sqlite3_finalize(q);
            return STORE_ERROR;
        }
        rc = SQLITE_OK;
    }
    sqlite3_finalize(q);
    return rc == SQLITE_OK ? STORE_OK : sqlfail(s, rc, s->path);
}

static store *open_common(const char *dir, int ro, char *err, size_t errlen)
{
    store *s = calloc(1, sizeof *s);
    int rc, n;

    if (!s) {
        if (errlen) snprintf(err, errlen, "store: out of memory");
        return NULL;
    }
    s->ro = ro;
    s->busy_ms = STORE_DEFAULT_BUSY_MS;
    snprintf(s->err, sizeof s->err, "no error");
    if (!dir || !*dir) {
        seterr(s, "store: no directory given");
        goto fail;
    }
    n = snprintf(s->path, sizeof s->path, "%s/%s", dir, DB_NAME);
    if (n < 0 || (size_t)n >= sizeof s->path) {
        seterr(s, "%s: directory name too long", dir);
        goto fail;
    }
    if (prepare_dir(s, dir)) goto fail;

    /* no SQLITE_OPEN_CREATE: prepare_dir made the file with mode 0600 */
    rc = sqlite3_open_v2(s->path, &s->db,
                         (ro ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) |
                         SQLITE_OPEN_NOMUTEX, NULL);
    if (!s->db) {
        seterr(s, "%s: out of memory", s->path);
        goto fail;
    }
    if (rc != SQLITE_OK) {
        sqlfail(s, rc, s->path);
        goto fail;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, s->busy_ms);
    /* A hostile or damaged file must not get to run SQL functions from its
     * schema (views, triggers) or let writes corrupt it further. */
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)NULL);

    /* SQLite quietly falls back to read-only when the file mode forbids
     * writing; a relay that cannot store messages must not start. */
    if (!ro && sqlite3_db_readonly(s->db, "main") == 1) {
        seterr(s, "%s: database file is read-only (check its owner and mode)", s->path);
        goto fail;
    }
    if (check_schema(s)) goto fail;
    if (!ro && set_wal(s)) goto fail;
    /* FULL: the WAL is synced at every commit, so a stored offline message
     * survives power loss before its sender hears it was accepted. */
    if (exec(s, "PRAGMA synchronous = FULL;"
                "PRAGMA foreign_keys = ON;"
                "PRAGMA secure_delete = ON;", s->path))
        goto fail;
    if (!ro && migrate(s)) goto fail;
    if (query_int(s, "PRAGMA max_page_count", &s->max_pages, s->path)) goto fail;

    for (int i = 0; i < Q_COUNT; i++) {
        rc = sqlite3_prepare_v3(s->db, queries[i], -1, SQLITE_PREPARE_PERSISTENT,
                                &s->q[i], NULL);
        if (rc != SQLITE_OK) {
            sqlfail(s, rc, s->path);
            goto fail;
        }
    }
    return s;

fail:
    if (errlen) snprintf(err, errlen, "%s", s->err);
    store_close(s);
    return NULL;
}

store *store_open(const char *dir, char *err, size_t errlen)
{
    return open_common(dir, 0, err, errlen);
}

store *store_open_ro(const char *dir, char *err, size_t errlen)
{
    return open_common(dir, 1, err, errlen);
}

int store_close(store *s)
{
    int rc = SQLITE_OK;
    if (!s) return STORE_OK;
    for (int i = 0; i < Q_COUNT; i++)
        sqlite3_finalize(s->q[i]);
    if (s->db) rc = sqlite3_close(s->db);
    free(s);
    return rc == SQLITE_OK ? STORE_OK : STORE_ERROR;
}

void store_set_timeout(store *s, int ms)
{
    if (!s) return;
    s->busy_ms = ms < 0 ? 0 : ms;
    sqlite3_busy_timeout(s->db, s->busy_ms);
}

int store_set_size_limit(store *s, int64_t bytes)
{
    const char *what = "setting the size limit";
    int64_t page, pages, got;
    char sql[64];
    int rc;

    if (!s) return STORE_ERROR;
    if (bytes < 0) {
        seterr(s, "%s: negative size", what);
        return STORE_ERROR;
    }
    if ((rc = query_int(s, "PRAGMA page_size", &page, what))) return rc;
    if (page <= 0) page = 4096;
    pages = bytes ? bytes / page : s->max_pages;
    if (pages < 1) pages = 1;               /* SQLite raises it to the current size */
    if (pages > s->max_pages) pages = s->max_pages;
    /* pragma arguments cannot be bound; this is a number we computed */
    snprintf(sql, sizeof sql, "PRAGMA max_page_count = %lld", (long long)pages);
    return query_int(s, sql, &got, what);
}

int store_check(store *s)
{
    const char *what = "checking the database";
    sqlite3_stmt *q = NULL;
    int rc;

    if (!s) return STORE_ERROR;
    rc = sqlite3_prepare_v2(s->db, "PRAGMA quick_check(1)", -1, &q, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *r = (const char *)sqlite3_column_text(q, 0);
        if (r && strcmp(r, "ok") == 0)
            rc = SQLITE_OK;
        else {
            seterr(s, "%s: database file is corrupt (%.200s)", what, r ? r : "?");
            sqlite3_finalize(q);
            return STORE_ERROR;
        }
    }
    sqlite3_finalize(q);
    return rc == SQLITE_OK ? STORE_OK : sqlfail(s, rc, what);
}

/* ------------------------------------------------------------------------ */
/* users                                                                     */

int store_user_add(store *s, const struct store_user *u)
{
    const char *what = "adding a user";
    sqlite3_stmt *q;
    int rc = SQLITE_OK;

    if (!s) return STORE_ERROR;
    if (!u) {
        seterr(s, "%s: no user given", what);
        return STORE_ERROR;
    }
    if (chk_jid(s, what, "JID", u->jid)) return STORE_ERROR;
    if (u->publen > STORE_PUB_MAX || u->wkalen > STORE_WKA_MAX) {
        seterr(s, "%s: public key or wrapped key too long", what);
        return STORE_ERROR;
    }
    if (u->has_scram && (u->saltlen == 0 || u->saltlen > STORE_SALT_MAX ||
                         u->scram_iter == 0 || (uint64_t)u->scram_iter > INT64_MAX)) {
        seterr(s, "%s: SCRAM salt or iteration count out of range", what);
        return STORE_ERROR;
    }
    q = s->q[Q_USER_ADD];
    BIND(bind_text(q, 1, u->jid));
    BIND(sqlite3_bind_int(q, 2, u->level));
    BIND(sqlite3_bind_int(q, 3, u->curve));
    BIND(bind_blob(q, 4, u->pub, u->publen));
    BIND(bind_blob(q, 5, u->wka, u->wkalen));
    if (u->has_scram) {
        BIND(bind_blob(q, 6, u->scram_salt, u->saltlen));
        BIND(sqlite3_bind_int64(q, 7, (sqlite3_int64)u->scram_iter));
        BIND(bind_blob(q, 8, u->scram_stored, STORE_SCRAM_KEY));
        BIND(bind_blob(q, 9, u->scram_server, STORE_SCRAM_KEY));
    }   /* else 6..9 stay NULL: bindings were cleared after the last use */
    BIND(sqlite3_bind_int64(q, 10, u->created));
    if (rc == SQLITE_OK) rc = sqlite3_step(q);
    done(q);
    if (rc == SQLITE_DONE) return STORE_OK;
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        seterr(s, "%s: the JID is already registered", what);
        return STORE_EXISTS;
    }
    return sqlfail(s, rc, what);
}

/* A user row: level and what follows from column col on (Q_USER_GET's
 * order); 0, or -1 if it is malformed (*u is wiped then). */
static int read_user(sqlite3_stmt *q, int col, struct store_user *u)
{
    size_t n1 = 0, n2 = 0;
    int bad = 0;
    u->level = sqlite3_column_int(q, col);
    u->curve = sqlite3_column_int(q, col + 1);
    bad |= copy_blob(u->pub, sizeof u->pub, &u->publen, q, col + 2);
    bad |= copy_blob(u->wka, sizeof u->wka, &u->wkalen, q, col + 3);
    if (sqlite3_column_type(q, col + 4) != SQLITE_NULL) {
        u->has_scram = 1;
        bad |= copy_blob(u->scram_salt, sizeof u->scram_salt, &u->saltlen, q, col + 4);
        u->scram_iter = (unsigned long)sqlite3_column_int64(q, col + 5);
        bad |= copy_blob(u->scram_stored, sizeof u->scram_stored, &n1, q, col + 6);
        bad |= copy_blob(u->scram_server, sizeof u->scram_server, &n2, q, col + 7);
        if (u->saltlen == 0 || u->scram_iter == 0 || n1 != STORE_SCRAM_KEY || n2 != STORE_SCRAM_KEY)
            bad = -1;
    }
    u->created = sqlite3_column_int64(q, col + 8);
    if (u->has_scram && sqlite3_column_type(q, col + 9) != SQLITE_NULL) {
        u->has_scram1 = 1;
        bad |= copy_blob(u->scram1_stored, sizeof u->scram1_stored, &n1, q, col + 9);
        bad |= copy_blob(u->scram1_server, sizeof u->scram1_server, &n2, q, col + 10);
        if (n1 != STORE_SCRAM1_KEY || n2 != STORE_SCRAM1_KEY) bad = -1;
    }
    if (bad) memset(u, 0, sizeof *u);
    return bad ? -1 : 0;
}

int store_user_get(store *s, const char *jid, struct store_user *u)
{
    const char *what = "looking up a user";
    sqlite3_stmt *q;
    int rc = SQLITE_OK, ret = STORE_OK;

    if (!s) return STORE_ERROR;
    if (!u) {
        seterr(s, "%s: nowhere to put it", what);
        return STORE_ERROR;
    }
    memset(u, 0, sizeof *u);
    if (chk_jid(s, what, "JID", jid)) return STORE_ERROR;
    q = s->q[Q_USER_GET];
    BIND(bind_text(q, 1, jid));
    if (rc == SQLITE_OK) rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        if (read_user(q, 0, u) == 0)
            memcpy(u->jid, jid, strlen(jid) + 1);
        else {
            seterr(s, "%s: the stored row is malformed", what);
            ret = STORE_ERROR;
        }
    } else if (rc == SQLITE_DONE) {
        seterr(s, "%s: no such user", what);
        ret = STORE_NOTFOUND;
    } else
        ret = sqlfail(s, rc, what);
    done(q);
    return ret;
}

/* run a one-user UPDATE whose parameters are bound: STORE_NOTFOUND when
 * there is no such user */
static int update_user(store *s, sqlite3_stmt *q, int rc, const char *what)
{
    if (rc == SQLITE_OK) rc = sqlite3_step(q);
    done(q);
    if (rc != SQLITE_DONE) return sqlfail(s, rc, what);
    if (sqlite3_changes(s->db) == 0) {
        seterr(s, "%s: no such user", what);
        return STORE_NOTFOUND;
    }
    return STORE_OK;
}

int store_user_set_scram(store *s, const char *jid, const uint8_t *salt, size_t saltlen,
                         unsigned long iter, const uint8_t stored[STORE_SCRAM_KEY],
                         const uint8_t server[STORE_SCRAM_KEY])
{
    const char *what = "setting a SCRAM verifier";
    sqlite3_stmt *q;
    int rc = SQLITE_OK;

    if (!s) return STORE_ERROR;
    if (chk_jid(s, what, "JID", jid)) return STORE_ERROR;
    if (salt && (saltlen == 0 || saltlen > STORE_SALT_MAX || iter == 0 ||
                 (uint64_t)iter > INT64_MAX || !stored || !server)) {
        seterr(s, "%s: salt, iteration count or keys missing or out of range", what);
        return STORE_ERROR;
    }
    q = s->q[Q_USER_SCRAM];
    BIND(bind_text(q, 1, jid));
    if (salt) {
        BIND(bind_blob(q, 2, salt, saltlen));
        BIND(sqlite3_bind_int64(q, 3, (sqlite3_int64)iter));
        BIND(bind_blob(q, 4, stored, STORE_SCRAM_KEY));
        BIND(bind_blob(q, 5, server, STORE_SCRAM_KEY));
    }
    return update_user(s, q, rc, what);
}

int store_user_set_scram1(store *s, const char *jid, const uint8_t stored[STORE_SCRAM1_KEY],
                          const uint8_t server[STORE_SCRAM1_KEY])
{
    const char *what = "setting a SCRAM-SHA-1 verifier";
    sqlite3_stmt *q;
    int rc = SQLITE_OK;

    if (!s) return STORE_ERROR;
    if (chk_jid(s, what, "JID", jid)) return STORE_ERROR;
    if (stored && !server) {
        seterr(s, "%s: keys missing", what);
        return STORE_ERROR;
    }
    q = s->q[Q_USER_SCRAM1];
    BIND(bind_text(q, 1, jid));
    if (stored) {
        BIND(bind_blob(q, 2, stored, STORE_SCRAM1_KEY));
        BIND(bind_blob(q, 3, server, STORE_SCRAM1_KEY));
    }
    return update_user(s, q, rc, what);
}

/*
 * What is deleted must not stay readable on disk.  secure_delete (set at
 * open) overwrites a deleted row's bytes in its page, but the WAL still holds
 * the frames that wrote the row until a checkpoint copies the pages back and
 * the log starts over.  So after a deletion the WAL is checkpointed and
 * truncated to nothing.  Not while a statement of ours still reads (the
 * offline fetch whose callback deletes: that commits when the fetch ends,
 * which then calls this), and without waiting for another connection's
 * reader or writer: the relay does not stall on it; the next deletion or
 * fetch tries again.
 */
static void wipe_wal(store *s)
{
    for (sqlite3_stmt *q = sqlite3_next_stmt(s->db, NULL); q; q = sqlite3_next_stmt(s->db, q))
        if (sqlite3_stmt_busy(q)) {
            s->wipe_due = 1;
            return;
        }
    sqlite3_busy_timeout(s->db, 0);
    s->wipe_due = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL,
                                            NULL) != SQLITE_OK;
    sqlite3_busy_timeout(s->db, s->busy_ms);
}

/* One-parameter DELETE: STORE_NOTFOUND when nothing matched. */
static int delete_one(store *s, sqlite3_stmt *q, int rc, const char *what, const char *none)
{
    if (rc == SQLITE_OK) rc = sqlite3_step(q);
    done(q);
    if (rc != SQLITE_DONE) return sqlfail(s, rc, what);
    if (sqlite3_changes(s->db) == 0) {
        seterr(s, "%s: %s", what, none);
        return STORE_NOTFOUND;
    }
    wipe_wal(s);
    return STORE_OK;
}

int store_user_del(store *s, const char *jid)
{
    const char *what = "deleting a user";
    int rc = SQLITE_OK;
    if (!s) return STORE_ERROR;
    if (chk_jid(s, what, "JID", jid)) return STORE_ERROR;
    BIND(bind_text(s->q[Q_USER_DEL], 1, jid));
    return delete_one(s, s->q[Q_USER_DEL], rc, what, "no such user");
}

/* A count(*) statement with an optional text parameter. */
static int64_t count(store *s, sqlite3_stmt *q, const char *param, const char *what)
{
    int rc = SQLITE_OK;
    int64_t n = 0;
    if (param) BIND(bind_text(q, 1, param));
    if (rc == SQLITE_OK) rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) n = sqlite3_column_int64(q, 0);
    done(q);
    return rc == SQLITE_ROW ? n : sqlfail(s, rc, what);
}

int64_t store_user_count(store *s)
{
    if (!s) return STORE_ERROR;
    return count(s, s->q[Q_USER_COUNT], NULL, "counting users");
}

/* The statement of a listing that calls back, or NULL with the error set:
 * no callback, or a call from inside its own callback (stepping the
 * statement again would restart the outer loop). */
static sqlite3_stmt *list_stmt(store *s, int qi, int has_cb, const char *what)
{
    if (!has_cb) {
        seterr(s, "%s: no callback", what);
        return NULL;
    }
    if (sqlite3_stmt_busy(s->q[qi])) {
        seterr(s, "%s: called again from its own callback", what);
        return NULL;
    }
    return s->q[qi];
}

int64_t store_user_list(store *s, store_user_cb cb, void *ctx)
{
    const char *what = "listing users";
    sqlite3_stmt *q;
    struct store_user u;
    int64_t calls = 0;
    int rc = SQLITE_OK;

    if (!s) return STORE_ERROR;
    if (!(q = list_stmt(s, Q_USER_LIST, cb != NULL, what))) return STORE_ERROR;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        memset(&u, 0, sizeof u);
        if (copy_text(u.jid, sizeof u.jid, q, 0) || read_user(q, 1, &u)) {
            done(q);
            explicit_bzero(&u, sizeof u);
            seterr(s, "%s: a stored row is malformed", what);
            return STORE_ERROR;
        }
        calls++;
        int stop = cb(&u, ctx);
        explicit_bzero(&u, sizeof u);
        if (stop) {
            rc = SQLITE_DONE;
            break;
        }
    }
    done(q);
    return rc == SQLITE_DONE ? calls : sqlfail(s, rc, what);
}

/* ------------------------------------------------------------------------ */
/* facts about the store                                                     */

static int chk_meta(store *s, const char *what, const char *key, const char *val)
{
    if (key && *key && strlen(key) < STORE_META_MAX && (!val || strlen(val) < STORE_META_MAX))
        return 0;
    seterr(s, "%s: key or value missing, empty or longer than %d bytes", what, STORE_META_MAX - 1);
    return -1;
}

int store_meta_get(store *s, const char *key, char *val, size_t cap)
{
    const char *what = "reading a store setting";
    sqlite3_stmt *q;
    int rc = SQLITE_OK, ret = STORE_OK;

    if (!s) return STORE_ERROR;
    if (chk_meta(s, what, key, NULL)) return STORE_ERROR;
    q = s->q[Q_META_GET];
    BIND(bind_text(q, 1, key));
    if (rc == SQLITE_OK) rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        if (!val || copy_text(val, cap, q, 0)) {
            seterr(s, "%s: %s does not fit", what, key);
            ret = STORE_ERROR;
        }
    } else if (rc == SQLITE_DONE) {
        seterr(s, "%s: %s is not set", what, key);
        ret = STORE_NOTFOUND;
    } else
        ret = sqlfail(s, rc, what);
    done(q);
    return ret;
}

int store_meta_set(store *s, const char *key, const char *val)
{
    const char *what = "writing a store setting";
    sqlite3_stmt *q;
    int rc = SQLITE_OK;

    if (!s) return STORE_ERROR;
    if (chk_meta(s, what, key, val) || !val) {
        if (!val) seterr(s, "%s: no value", what);
        return STORE_ERROR;
    }
    q = s->q[Q_META_SET];
    BIND(bind_text(q, 1, key));
    BIND(bind_text(q, 2, val));
    if (rc == SQLITE_OK) rc = sqlite3_step(q);
    done(q);
    return rc == SQLITE_DONE ? STORE_OK : sqlfail(s, rc, what);
}

/* ------------------------------------------------------------------------ */
/* roster                                                                    */

static int read_item(sqlite3_stmt *q, int col_contact, int col_name,
                     struct store_roster_item *it)
{
    int bad = 0;
    if (col_contact >= 0)
        bad |= copy_text(it->contact, sizeof it->contact, q, col_contact);
    bad |= copy_text(it->name, sizeof it->name, q, col_name);
    it->sub = sqlite3_column_int(q, col_name + 1);
    it->ask_out = sqlite3_column_int(q, col_name + 2);
    it->pending_in = sqlite3_column_int(q, col_name + 3);
    return bad;
}

int store_roster_get(store *s, const char *owner, const char *contact,
                     struct store_roster_item *it)
{
    const char *what = "looking up a roster item";
    sqlite3_stmt *q;
    int rc = SQLITE_OK, ret = STORE_OK;

    if (!s) return STORE_ERROR;
    if (!it) {
        seterr(s, "%s: nowhere to put it", what);
        return STORE_ERROR;
    }
    memset(it, 0, sizeof *it);
    if (chk_jid(s, what, "owner", owner) || chk_jid(s, what, "contact", contact))
        return STORE_ERROR;
    q = s->q[Q_ROSTER_GET];
    BIND(bind_text(q, 1, owner));
    BIND(bind_text(q, 2, contact));
    if (rc == SQLITE_OK) rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        memcpy(it->owner, owner, strlen(owner) + 1);
        memcpy(it->contact, contact, strlen(contact) + 1);
        if (read_item(q, -1, 0, it)) {
            memset(it, 0, sizeof *it);
            seterr(s, "%s: the stored row is malformed", what);
            ret = STORE_ERROR;
        }
    } else if (rc == SQLITE_DONE) {
        seterr(s, "%s: no such item", what);
        ret = STORE_NOTFOUND;
    } else
        ret = sqlfail(s, rc, what);
    done(q);
    return ret;
}

int store_roster_put(store *s, const struct store_roster_item *it)
{
    const char *what = "storing a roster item";
    sqlite3_stmt *q;
    int rc = SQLITE_OK;

    if (!s) return STORE_ERROR;
    if (!it) {
        seterr(s, "%s: no item given", what);
        return STORE_ERROR;
    }
    if (chk_jid(s, what, "owner", it->owner) || chk_jid(s, what, "contact", it->contact))
        return STORE_ERROR;
    if (strnlen(it->name, sizeof it->name) >= sizeof it->name) {
        seterr(s, "%s: name is not terminated within %d bytes", what, STORE_NAME_MAX);
        return STORE_ERROR;
    }
    if (it->sub < STORE_SUB_NONE || it->sub > STORE_SUB_BOTH) {
        seterr(s, "%s: subscription state %d is none of none, to, from, both", what, it->sub);
        return STORE_ERROR;
    }
    q = s->q[Q_ROSTER_PUT];
    BIND(bind_text(q, 1, it->owner));
    BIND(bind_text(q, 2, it->contact));
    /* an empty name is no name (RFC 6121 2.1.2.4 treats them alike) */
    BIND(it->name[0] ? bind_text(q, 3, it->name) : sqlite3_bind_null(q, 3));
    BIND(sqlite3_bind_int(q, 4, it->sub));
    BIND(sqlite3_bind_int(q, 5, it->ask_out != 0));
    BIND(sqlite3_bind_int(q, 6, it->pending_in != 0));
    if (rc == SQLITE_OK) rc = sqlite3_step(q);
    done(q);
    if (rc == SQLITE_DONE) return STORE_OK;
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
        seterr(s, "%s: the owner is not a registered user", what);
        return STORE_NOTFOUND;
    }
    return sqlfail(s, rc, what);
}

int store_roster_del(store *s, const char *owner, const char *contact)
{
    const char *what = "deleting a roster item";
    sqlite3_stmt *q;
    int rc = SQLITE_OK;

    if (!s) return STORE_ERROR;
    if (chk_jid(s, what, "owner", owner) || chk_jid(s, what, "contact", contact))
        return STORE_ERROR;
    q = s->q[Q_ROSTER_DEL];
    BIND(bind_text(q, 1, owner));
    BIND(bind_text(q, 2, contact));
    return delete_one(s, q, rc, what, "no such item");
}

int64_t store_roster_list(store *s, const char *owner, store_roster_cb cb, void *ctx)
{
    const char *what = "listing a roster";
    sqlite3_stmt *q;
    struct store_roster_item it;
    int64_t calls = 0;
    int rc = SQLITE_OK;

    if (!s) return STORE_ERROR;
    if (!(q = list_stmt(s, Q_ROSTER_LIST, cb != NULL, what)) || chk_jid(s, what, "owner", owner))
        return STORE_ERROR;
    BIND(bind_text(q, 1, owner));
    while (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        memset(&it, 0, sizeof it);
        memcpy(it.owner, owner, strlen(owner) + 1);
        if (read_item(q, 0, 1, &it)) {
            done(q);
            seterr(s, "%s: a stored row is malformed", what);
            return STORE_ERROR;
        }
        calls++;
        if (cb(&it, ctx)) {
            rc = SQLITE_DONE;
            break;
        }
        rc = SQLITE_OK;
    }
    done(q);
    return rc == SQLITE_DONE ? calls : sqlfail(s, rc, what);
}

/* ------------------------------------------------------------------------ */
/* offline messages                                                          */

int64_t store_offline_add(store *s, const char *to_bare, const char *from,
                          const char *stanza, size_t len, int64_t now)
{
    const char *what = "storing an offline message";
    sqlite3_stmt *q;
    int rc = SQLITE_OK;

    if (!s) return STORE_ERROR;
    if (chk_jid(s, what, "recipient", to_bare)) return STORE_ERROR;
    if (!from || !*from || strnlen(from, FULLJID_MAX + 1) > FULLJID_MAX) {
        seterr(s, "%s: sender JID is missing, empty or longer than %d bytes", what,
               FULLJID_MAX);
        return STORE_ERROR;
    }
    if (!stanza || len == 0) {
        seterr(s, "%s: empty stanza", what);
        return STORE_ERROR;
    }
    q = s->q[Q_OFF_ADD];
    BIND(bind_text(q, 1, to_bare));
    BIND(bind_text(q, 2, from));
    BIND(sqlite3_bind_blob64(q, 3, stanza, len, SQLITE_STATIC));
    BIND(sqlite3_bind_int64(q, 4, now));
    if (rc == SQLITE_OK) rc = sqlite3_step(q);
    done(q);
    /* autocommit: SQLITE_DONE means the commit, and its WAL sync, happened */
    if (rc == SQLITE_DONE) return sqlite3_last_insert_rowid(s->db);
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
        seterr(s, "%s: no such recipient", what);
        return STORE_NOTFOUND;
    }
    if (rc == SQLITE_TOOBIG) {
        seterr(s, "%s: stanza too large", what);
        return STORE_ERROR;
    }
    return sqlfail(s, rc, what);
}

int64_t store_offline_count(store *s, const char *to_bare)
{
    const char *what = "counting offline messages";
    if (!s) return STORE_ERROR;
    if (chk_jid(s, what, "recipient", to_bare)) return STORE_ERROR;
    return count(s, s->q[Q_OFF_COUNT], to_bare, what);
}

int64_t store_offline_fetch(store *s, const char *to_bare, store_offline_cb cb, void *ctx)
{
    const char *what = "fetching offline messages";
    sqlite3_stmt *q;
    int64_t calls = 0;
    int rc = SQLITE_OK;

    if (!s) return STORE_ERROR;
    if (!(q = list_stmt(s, Q_OFF_FETCH, cb != NULL, what)) || chk_jid(s, what, "recipient", to_bare))
        return STORE_ERROR;
    BIND(bind_text(q, 1, to_bare));
    while (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(q, 0);
        const char *from = (const char *)sqlite3_column_text(q, 1);
        /* column_text on the blob: SQLite NUL-terminates it for us */
        const char *st = (const char *)sqlite3_column_text(q, 2);
        size_t n = (size_t)sqlite3_column_bytes(q, 2);
        int64_t stamp = sqlite3_column_int64(q, 3);
        if (!from || !st) {
            done(q);
            if (sqlite3_errcode(s->db) == SQLITE_NOMEM) return sqlfail(s, SQLITE_NOMEM, what);
            seterr(s, "%s: a stored row is malformed", what);
            return STORE_ERROR;
        }
        calls++;
        if (cb(id, from, st, n, stamp, ctx)) {
            rc = SQLITE_DONE;
            break;
        }
        rc = SQLITE_OK;
    }
    done(q);
    if (s->wipe_due) wipe_wal(s);           /* what the callback deleted */
    return rc == SQLITE_DONE ? calls : sqlfail(s, rc, what);
}

int store_offline_delete(store *s, int64_t id)
{
    const char *what = "deleting an offline message";
    int rc = SQLITE_OK;
    if (!s) return STORE_ERROR;
    BIND(sqlite3_bind_int64(s->q[Q_OFF_DEL], 1, id));
    return delete_one(s, s->q[Q_OFF_DEL], rc, what, "no such message");
}

/* ------------------------------------------------------------------------ */
/* card certificates and provisioning tokens                                 */

int store_cert_put(store *s, const struct store_cert *c)
{
    const char *what = "storing a card certificate";
    sqlite3_stmt *q;
    int rc = SQLITE_OK;
    if (!s || !c || chk_jid(s, what, "JID", c->jid)) return STORE_ERROR;
    q = s->q[Q_CERT_PUT];
    BIND(bind_text(q, 1, c->jid));
    BIND(bind_blob(q, 2, c->chain, c->chainlen));
    BIND(bind_text(q, 3, c->issuer));
    BIND(bind_text(q, 4, c->serial));
    BIND(bind_text(q, 5, c->subject));
    if (rc == SQLITE_OK) rc = sqlite3_step(q);
    done(q);
    return rc == SQLITE_DONE ? STORE_OK : sqlfail(s, rc, what);
}

/* the end of a one-row lookup: bad says the row (if any) did not read */
static int one_row(store *s, sqlite3_stmt *q, int rc, int bad, void *obj, size_t n, const char *what)
{
    int ret = STORE_OK;
    if (rc == SQLITE_ROW && bad) {
        memset(obj, 0, n);
        seterr(s, "%s: the stored row is malformed", what);
        ret = STORE_ERROR;
    } else if (rc == SQLITE_DONE) {
        seterr(s, "%s: none", what);
        ret = STORE_NOTFOUND;
    } else if (rc != SQLITE_ROW)
        ret = sqlfail(s, rc, what);
    done(q);
    return ret;
}

int store_cert_get(store *s, const char *jid, struct store_cert *c)
{
    const char *what = "looking up a card certificate";
    sqlite3_stmt *q;
    int rc = SQLITE_OK, bad = 0;
    if (!s || !c) return STORE_ERROR;
    memset(c, 0, sizeof *c);
    if (chk_jid(s, what, "JID", jid)) return STORE_ERROR;
    q = s->q[Q_CERT_GET];
    BIND(bind_text(q, 1, jid));
    if (rc == SQLITE_OK) rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        memcpy(c->jid, jid, strlen(jid) + 1);
        bad = copy_blob(c->chain, sizeof c->chain, &c->chainlen, q, 0) || copy_text(c->issuer, sizeof c->issuer, q, 1) ||
              copy_text(c->serial, sizeof c->serial, q, 2) || copy_text(c->subject, sizeof c->subject, q, 3);
    }
    return one_row(s, q, rc, bad, c, sizeof *c, what);
}

int store_prov_put(store *s, const char *jid, int level, const uint8_t secret[STORE_PROV_SECRET], int64_t created)
{
    const char *what = "storing a provisioning token";
    sqlite3_stmt *q;
    int rc = SQLITE_OK;
    if (!s || chk_jid(s, what, "JID", jid)) return STORE_ERROR;
    q = s->q[Q_PROV_PUT];
    BIND(bind_text(q, 1, jid));
    BIND(sqlite3_bind_int(q, 2, level));
    BIND(bind_blob(q, 3, secret, STORE_PROV_SECRET));
    BIND(sqlite3_bind_int64(q, 4, created));
    if (rc == SQLITE_OK) rc = sqlite3_step(q);
    done(q);
    return rc == SQLITE_DONE ? STORE_OK : sqlfail(s, rc, what);
}

int store_prov_get(store *s, const char *jid, struct store_prov *p)
{
    const char *what = "looking up a provisioning token";
    sqlite3_stmt *q;
    int rc = SQLITE_OK, bad = 0;
    size_t n = 0;
    if (!s || !p) return STORE_ERROR;
    memset(p, 0, sizeof *p);
    if (chk_jid(s, what, "JID", jid)) return STORE_ERROR;
    q = s->q[Q_PROV_GET];
    BIND(bind_text(q, 1, jid));
    if (rc == SQLITE_OK) rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        p->level = sqlite3_column_int(q, 0);
        bad = copy_blob(p->secret, sizeof p->secret, &n, q, 1) || n != STORE_PROV_SECRET;
        p->created = sqlite3_column_int64(q, 2);
        p->used = sqlite3_column_int(q, 3);
    }
    return one_row(s, q, rc, bad, p, sizeof *p, what);
}

int store_prov_use(store *s, const char *jid)
{
    const char *what = "using a provisioning token";
    sqlite3_stmt *q;
    int rc = SQLITE_OK;
    if (!s || chk_jid(s, what, "JID", jid)) return STORE_ERROR;
    q = s->q[Q_PROV_USE];
    BIND(bind_text(q, 1, jid));
    if (rc == SQLITE_OK) rc = sqlite3_step(q);
    done(q);
    if (rc != SQLITE_DONE) return sqlfail(s, rc, what);
    if (sqlite3_changes(s->db) == 0) {
        seterr(s, "%s: none unused", what);
        return STORE_NOTFOUND;
    }
    return STORE_OK;
}
