/*
 * store.h - the relay's embedded store: registered users, rosters and offline
 * messages, in one SQLite database (DIR/simpp.db, WAL mode).
 *
 * The relay is a single-threaded event loop and calls this synchronously, so
 * every call is short: one prepared statement, parameterised, committed
 * before it returns.  synchronous=FULL makes "committed" mean "on disk": an
 * offline message is never acknowledged to its sender and then lost in a
 * crash.  busy_timeout bounds how long a call can stall the loop when another
 * process (an admin tool, a backup) holds the write lock.
 *
 * The store keeps secrets only in the form the caller hands it: K_A arrives
 * wrapped (AEAD-sealed under the server's key), SCRAM arrives as the salted
 * StoredKey/ServerKey of RFC 5802, offline stanzas arrive as the relay
 * received them: end-to-end encrypted when the sender used pager mode,
 * readable otherwise.  Deleted rows are overwritten (secure_delete).
 *
 * JIDs are stored and compared byte for byte: the caller normalises them
 * (bare JID, RFC 7622 profile) before calling.
 *
 * Return convention: STORE_OK (0) or one of the negative STORE_* codes, unless
 * stated otherwise; store_errmsg() then says what happened in one line.
 * Counts and ids come back as non-negative int64_t, errors as negative codes.
 */
#ifndef SIMPP_STORE_H
#define SIMPP_STORE_H

#include <stddef.h>
#include <stdint.h>

enum {
    STORE_OK       =  0,
    STORE_NOTFOUND = -1,    /* no such user / roster item / message */
    STORE_EXISTS   = -2,    /* the user is already registered */
    STORE_FULL     = -3,    /* disk full or size limit: refuse with resource-constraint */
    STORE_BUSY     = -4,    /* locked by another connection past the timeout: try later */
    STORE_READONLY = -5,    /* write to a store opened read-only, or a read-only file */
    STORE_ERROR    = -6,    /* anything else (I/O, corruption, bad argument) */
};

#define STORE_SCHEMA_VERSION 4
#define STORE_JID_MAX        256    /* bytes including the NUL: 255-byte bare JIDs */
#define STORE_NAME_MAX       256    /* roster item name, including the NUL */
#define STORE_PUB_MAX        97     /* X9.63 uncompressed P-384 point */
#define STORE_WKA_MAX        128    /* wrapped K_A: nonce || ciphertext || tag */
#define STORE_SALT_MAX       32
#define STORE_SCRAM_KEY      32     /* SHA-256 StoredKey / ServerKey */
#define STORE_SCRAM1_KEY     20     /* SHA-1 StoredKey / ServerKey */
#define STORE_DEFAULT_BUSY_MS 2000
#define STORE_META_MAX       1024   /* a setting's key or value, including the NUL */
#define STORE_CHAIN_MAX      16384  /* a card's certificate chain, DER, each a u16 length first */
#define STORE_PROV_SECRET    32     /* a provisioning token's secret */

typedef struct store store;

/*
 * Open (creating if needed) DIR/simpp.db.  DIR is made 0700 if missing (its
 * parent must exist); a new database file is made 0600 and SQLite gives its
 * -wal and -shm files the same mode.  Refuses, with a one-line reason in err:
 * a directory that is missing or not writable, a read-only database file, a
 * database locked by another process for longer than the busy timeout, a full
 * disk, a file that is not an SQLite database or is corrupt, an SQLite
 * database of another application, or one written by a newer simpp.  Older
 * schemas are migrated in one transaction.  Returns NULL on failure.
 */
store *store_open(const char *dir, char *err, size_t errlen);
/*
 * Open an existing store read-only (SQLITE_OPEN_READONLY), for tools that
 * inspect a running relay's data.  Reads work while the relay writes (WAL);
 * every write returns STORE_READONLY.  The schema must already be current.
 * WAL readers need simpp.db-shm: when no other connection has the store
 * open, the reader must be able to create it (write access to DIR), or the
 * open is refused with "the database directory is not writable".
 */
store *store_open_ro(const char *dir, char *err, size_t errlen);
/* Finalise every statement and close; NULL is fine.  0 or STORE_ERROR. */
int store_close(store *s);

/* The last error, one line, never NULL. */
const char *store_errmsg(const store *s);
/* How long a call waits for another connection's lock (default 2000 ms). */
void store_set_timeout(store *s, int ms);
/*
 * Cap the database at about `bytes` (rounded down to whole pages, never below
 * its current size); writes past it fail with STORE_FULL exactly as a full
 * disk does.  0 removes the cap.
 */
int store_set_size_limit(store *s, int64_t bytes);
/* PRAGMA quick_check: STORE_OK, or STORE_ERROR with the first problem. */
int store_check(store *s);

/* ---- users ----------------------------------------------------------- */
struct store_user {
    char     jid[STORE_JID_MAX];    /* bare JID */
    int      level;                 /* information-flow level, the policy's number */
    int      curve;                 /* enum sc_curve; 0 for a plain XMPP account */
    uint8_t  pub[STORE_PUB_MAX];    /* KU_A, X9.63 uncompressed; publen 0: none */
    size_t   publen;
    /* SIMPP master key K_A, wrapped (AEAD-sealed) by the caller; the store
     * never sees it in clear.  wkalen 0: none. */
    uint8_t  wka[STORE_WKA_MAX];
    size_t   wkalen;
    int      has_scram;             /* SASL SCRAM-SHA-256 verifier present */
    uint8_t  scram_salt[STORE_SALT_MAX];
    size_t   saltlen;
    unsigned long scram_iter;
    uint8_t  scram_stored[STORE_SCRAM_KEY];
    uint8_t  scram_server[STORE_SCRAM_KEY];
    /* SCRAM-SHA-1's verifier, with the same salt and count (has_scram1) */
    int      has_scram1;
    uint8_t  scram1_stored[STORE_SCRAM1_KEY];
    uint8_t  scram1_server[STORE_SCRAM1_KEY];
    int64_t  created;               /* the caller's clock, seconds since the epoch */
};

/* STORE_EXISTS if the jid is taken (a registration id used twice). */
int store_user_add(store *s, const struct store_user *u);
/* Fills *u (wiped first); STORE_NOTFOUND if there is no such user. */
int store_user_get(store *s, const char *jid, struct store_user *u);
/* Set the SCRAM verifier (salt NULL removes it); STORE_NOTFOUND if no user. */
int store_user_set_scram(store *s, const char *jid, const uint8_t *salt, size_t saltlen,
                         unsigned long iter, const uint8_t stored[STORE_SCRAM_KEY],
                         const uint8_t server[STORE_SCRAM_KEY]);
/* Set the SCRAM-SHA-1 verifier made with the SHA-256 one's salt and count
 * (stored NULL removes it); STORE_NOTFOUND if no user. */
int store_user_set_scram1(store *s, const char *jid, const uint8_t stored[STORE_SCRAM1_KEY],
                          const uint8_t server[STORE_SCRAM1_KEY]);
/* Delete the user with their roster and offline messages; STORE_NOTFOUND. */
int store_user_del(store *s, const char *jid);
/* Number of users (>= 0) or a negative STORE_* code. */
int64_t store_user_count(store *s);
/*
 * Call cb for each user, ordered by JID; cb returns non-zero to stop.  The
 * user (keys and verifiers included) is valid during the call only and is
 * wiped after it.  cb must not call store_user_list itself.  Returns the
 * number of calls made, or a negative STORE_* code.
 */
typedef int (*store_user_cb)(const struct store_user *u, void *ctx);
int64_t store_user_list(store *s, store_user_cb cb, void *ctx);

/* ---- settings of the store itself ------------------------------------ */
/*
 * Facts that belong to the data rather than to one run, such as "domain":
 * the XMPP domain whose accounts the store holds.  Keys and values are text
 * of fewer than STORE_META_MAX bytes.  get: STORE_NOTFOUND if unset,
 * STORE_ERROR if the value does not fit in cap.  set: insert or replace.
 */
int store_meta_get(store *s, const char *key, char *val, size_t cap);
int store_meta_set(store *s, const char *key, const char *val);

/* ---- roster (RFC 6121 sections 2 and 3) ------------------------------- */
/* subscription: bit "to" = owner receives contact's presence, "from" = the
 * contact receives owner's presence, so both = to | from. */
enum store_sub { STORE_SUB_NONE = 0, STORE_SUB_TO = 1, STORE_SUB_FROM = 2, STORE_SUB_BOTH = 3 };

struct store_roster_item {
    char owner[STORE_JID_MAX];      /* whose roster (a registered user) */
    char contact[STORE_JID_MAX];    /* bare JID of the item, local or remote */
    char name[STORE_NAME_MAX];      /* "" when the item has no name */
    int  sub;                       /* enum store_sub */
    int  ask_out;                   /* outbound subscribe pending ("ask='subscribe'") */
    /* inbound subscribe awaiting the owner's approval.  An entry with
     * sub none, no ask_out and pending_in only records the request: RFC 6121
     * 3.1.3 does not make it a roster item, so the caller leaves it out of
     * roster results and pushes. */
    int  pending_in;
};

/* STORE_NOTFOUND if there is no such item. */
int store_roster_get(store *s, const char *owner, const char *contact,
                     struct store_roster_item *it);
/* Insert or replace (owner, contact); STORE_NOTFOUND if owner is no user. */
int store_roster_put(store *s, const struct store_roster_item *it);
int store_roster_del(store *s, const char *owner, const char *contact);
/*
 * Call cb for each of owner's items, ordered by contact; cb returns non-zero
 * to stop.  Returns the number of calls made, or a negative STORE_* code.
 * The item is valid during the call only.  cb must not call
 * store_roster_list itself.
 */
typedef int (*store_roster_cb)(const struct store_roster_item *it, void *ctx);
int64_t store_roster_list(store *s, const char *owner, store_roster_cb cb, void *ctx);

/* ---- offline messages ----------------------------------------------- */
/*
 * Store a stanza for an offline recipient.  On return it is committed and
 * synced: a positive id (ids only grow, never reused), or STORE_NOTFOUND (no
 * such user: RFC 6121 8.5.2.2 wants service-unavailable), STORE_FULL (refuse
 * with resource-constraint), STORE_BUSY or another negative code.
 */
int64_t store_offline_add(store *s, const char *to_bare, const char *from,
                          const char *stanza, size_t len, int64_t now);
/* Messages waiting for to_bare (for the caller's per-recipient quota). */
int64_t store_offline_count(store *s, const char *to_bare);
/*
 * Call cb for each message to to_bare in arrival order; cb returns non-zero
 * to stop.  stanza is NUL-terminated at stanza[len] and valid during the call
 * only.  cb may store_offline_delete() the id it was given (deliver, then
 * delete: exactly-once is the caller's protocol); such deletes commit when
 * fetch returns.  Returns the number of calls, or a negative STORE_* code.
 */
typedef int (*store_offline_cb)(int64_t id, const char *from, const char *stanza,
                                size_t len, int64_t stamp, void *ctx);
int64_t store_offline_fetch(store *s, const char *to_bare, store_offline_cb cb, void *ctx);
/* STORE_NOTFOUND if the id is not (or no longer) stored. */
int store_offline_delete(store *s, int64_t id);

/* ---- card levels (lib/relay/card.c) ------------------------------------ */
/* the certificate chain an account was registered with at level card */
struct store_cert {
    char     jid[STORE_JID_MAX];
    uint8_t  chain[STORE_CHAIN_MAX];
    size_t   chainlen;
    char     issuer[256], serial[80], subject[256];
};
/* replaces the account's; the account must exist */
int store_cert_put(store *s, const struct store_cert *c);
int store_cert_get(store *s, const char *jid, struct store_cert *c);     /* STORE_NOTFOUND */

/* an operator's one-time token: registering jid with it grants level */
struct store_prov {
    int      level, used;
    uint8_t  secret[STORE_PROV_SECRET];
    int64_t  created;
};
/* a new token for jid (replaces the one before, used or not) */
int store_prov_put(store *s, const char *jid, int level, const uint8_t secret[STORE_PROV_SECRET], int64_t created);
int store_prov_get(store *s, const char *jid, struct store_prov *p);     /* STORE_NOTFOUND */
/* mark it used, once: STORE_NOTFOUND when there is none unused */
int store_prov_use(store *s, const char *jid);

#endif
