/*
 * simpp-login - log in to a SIMPP relay (S1-S3 of paper 001 Fig. 6), bind a
 * resource, then hand the authenticated, encrypted channel on: to a program
 * it runs (chain-loading: the program reads and writes plain stanzas on fds
 * 6 and 7, while simpp-login seals and opens the SIMPP frames), or with no
 * program to stdin/stdout, one stanza a line, for people and scripts.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clientopt.h"
#include "ev.h"
#include "keyagent.h"
#include "sbuf.h"
#include "keyfile.h"
#include "util.h"

#define USAGE \
"usage: simpp-login [-v] [-c host[:port]] [-s relay.pub | -x [-W fd] [-M mech]] [-t tls] [-T cafile]\n" \
"                   [-C suite] [-m mode] [-r resource]\n" \
"                   (-k keyfile|pkcs11:URI [-E fd] | -p [-P fd] [-K rounds]) jid [prog [arg...]]\n" \
"\n" \
"  jid          the account, user@domain\n" \
"  prog         run prog with the session on fds 6 (read) and 7 (write): plain XMPP\n" \
"               stanzas, one a line; without prog: stanzas on stdin and stdout\n" \
"  -c addr      connect to the server (else fds 6/7, as under tcpclient, else the\n" \
"               domain's DNS SRV records, else domain:5222)\n" \
"  -s file      the relay's pinned public key (from simpp-register): a SIMPP login\n" \
"  -x           an ordinary XMPP login with the server's password (automatic on a\n" \
"               server without SIMPP, when -s is not given)\n" \
"  -W fd        the server's password from fd (else the terminal)\n" \
"  -M mech      only this SASL mechanism: SCRAM-SHA-256(-PLUS), SCRAM-SHA-1(-PLUS), PLAIN\n" \
"  -k keyfile   the account's private key; -E fd: its passphrase from fd\n" \
"  -k pkcs11:.. the key on a PKCS#11 token (RFC 7512 URI); -E fd: the PIN from fd\n" \
"  -p           derive the key from the password; -P fd: the password from fd\n" \
"  -K rounds    PBKDF2 rounds for -p (default 600000)\n" \
"  -t tls       auto (STARTTLS when offered, the default; required for -x), require,\n" \
"               direct (TLS from the first byte, XEP-0368), or off\n" \
"  -T cafile    trust the CA certificates in cafile (PEM) for the server's TLS\n" \
"               certificate (default: the system's CA store)\n" \
"  -C suite     chacha20-poly1305, aes128-gcm or aes128-cbc-hmac-sha256\n" \
"  -m mode      keyfile, password, javacard or mifare (the relay records the level)\n" \
"  -r resource  the resource to bind (default: the relay picks one)\n" \
"  -v           show the stanzas on stderr\n"

static void usage(int code)
{
    fputs(USAGE, code ? stderr : stdout);
    exit(code);
}


static const char SYNTH_HEADER[] =
    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";

struct proxy { struct client *c; int failed; };

/* a stanza from the local side goes to the relay, sealed */
static int local_cb(void *arg, xs_node *n)
{
    struct proxy *p = arg;
    size_t len;
    char *xml = xs_serialize(n, XS_NS_CLIENT, &len);
    xs_node_free(n);
    if (!xml || client_send(p->c, xml, len) < 0) p->failed = 1;
    free(xml);
    return p->failed ? XS_STOP : XS_CONTINUE;
}

/* At most this much waits for the program: beyond it, the relay is not
 * read until the program catches up (the relay then holds the rest, or
 * cuts off a reader this slow, as it does any slow reader) */
#define PEND_MAX (1u << 20)

static int write_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Move stanzas both ways until one side ends.  When the local side ends
 * first, the stream is closed and whatever the relay still sends (answers
 * to the last stanzas) is passed on until it closes too.  Returns 0 when
 * the local side ended first, 1 when the relay did. */
static int relay_loop(struct client *c, int lin, int lout)
{
    struct proxy p = { c, 0 };
    xs_callbacks cb = { NULL, local_cb, NULL };
    xs_limits lim = { 1u << 20, 0, 0, 0 };
    xs_stream *local = xs_new(&lim, &cb, &p);
    char buf[16384];
    int rc = -1, local_done = 0, lout_ok = 1;
    int64_t deadline = 0;
    /* What goes to the local side waits here rather than in a blocking
     * write: a program busy writing to us (a burst of lines) would otherwise
     * never read, and both ends would stop for good. */
    sbuf pend = { 0 };
    int nonblock = fcntl(lout, F_GETFL) >= 0 && (fcntl(lout, F_GETFL) & O_NONBLOCK);
    if (!local || xs_feed(local, SYNTH_HEADER, sizeof SYNTH_HEADER - 1) < 0) die(EX_OSERR, "out of memory");
    for (;;) {
        xs_node *n;
        while (pend.n < PEND_MAX && client_pending(c) && (n = client_next(c, 0))) {
            size_t len;
            char *xml = xs_serialize(n, XS_NS_CLIENT, &len);
            xs_node_free(n);
            if (lout_ok && xml) {
                sb_put(&pend, xml, len);
                sb_put(&pend, "\n", 1);
            }
            free(xml);
        }
        if (pend.oom) die(EX_OSERR, "out of memory");
        /* a blocking descriptor (a terminal, a file) is written at once */
        if (lout_ok && pend.n && !nonblock) {
            if (write_all(lout, pend.p, pend.n) < 0) lout_ok = 0;
            sb_reset(&pend);
        }
        if (!lout_ok) {
            sb_reset(&pend);
            if (!local_done) { local_done = 1; rc = 0; }   /* nobody reads us any more */
        }
        if (c->closed && !pend.n) { if (rc < 0) rc = 1; break; }
        if (c->closed && !deadline) deadline = ev_now_ms() + 5000;   /* the rest, if read in time */
        if (local_done && !deadline) {
            client_send_close(c);
            deadline = ev_now_ms() + 5000;
        }
        int64_t wait = deadline ? deadline - ev_now_ms() : -1;
        if (deadline && wait <= 0) break;
        int full = pend.n >= PEND_MAX;
        struct pollfd pf[3] = { { c->closed || full ? -1 : c->rfd, POLLIN, 0 }, { local_done ? -1 : lin, POLLIN, 0 },
                                { pend.n ? lout : -1, POLLOUT, 0 } };
        if (poll(pf, 3, (int)wait) < 0) {
            if (errno == EINTR) continue;
            die_sys(EX_OSERR, "poll");
        }
        if (pf[2].revents) {
            ssize_t w = write(lout, pend.p, pend.n);
            if (w > 0) sb_consume(&pend, (size_t)w);
            else if (w < 0 && errno != EAGAIN && errno != EINTR) lout_ok = 0;
        }
        if (pf[0].revents && client_pump(c) < 0 && !client_pending(c) && !pend.n) {
            if (rc < 0) rc = 1;
            break;
        }
        if (pf[1].revents) {
            ssize_t r = read(lin, buf, sizeof buf);
            if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
            if (r <= 0) { local_done = 1; rc = 0; continue; }
            if (xs_feed(local, buf, (size_t)r) < 0) {
                warnx("local input: %s %s; closing", xs_error(local), xs_error_text(local));
                local_done = 1;
                rc = 2;
            }
            if (p.failed) { rc = 1; break; }
        }
    }
    if (rc < 0) rc = c->closed ? 1 : 0;
    sb_free(&pend);
    xs_free(local);
    /* a stream that ended on an error (a stream error, a bad frame, text in
     * clear) is a failure even after the local side was done */
    if (rc == 0 && c->err[0]) rc = 1;
    return rc;
}

int main(int argc, char **argv)
{
    int opt;
    const char *resource = NULL;
    struct client_opts o;
    struct client c;
    util_setprog(argv[0]);
    /* our own options end at the JID; what follows belongs to the program */
    int own = 1;
    while (own < argc && argv[own][0] == '-' && strcmp(argv[own], "--")) {
        if (!strcmp(argv[own], "--help")) usage(0);
        if (!strcmp(argv[own], "--version")) print_version();
        if (strlen(argv[own]) == 2 && strchr(CLIENT_OPTS_ARG "r", argv[own][1])) own++;
        own++;
    }
    if (argv_has_secret(own < argc ? own : argc, argv))
        die(EX_USAGE, "secrets are never taken on the command line: use the terminal or -P/-E fd");
    client_opts_init(&o);
    while ((opt = getopt(argc, argv, "+hVr:" CLIENT_OPTS)) != -1) {
        if (client_opt(&o, opt, optarg)) continue;
        if (opt == 'h') usage(0);
        else if (opt == 'V') print_version();
        else if (opt == 'r') resource = optarg;
        else usage(EX_USAGE);
    }
    if (argc - optind < 1) usage(EX_USAGE);
    const char *jid = argv[optind];
    char **prog = argc - optind > 1 ? argv + optind + 1 : NULL;
    sc_key *kr = client_start(&c, &o, jid, 0, 0);
    int s = o.suite, verbose = o.verbose;
    if (o.xmpp)
        client_start_xmpp(&c, &o, jid, resource);
    else if (client_login(&c, jid, kr, s, o.mode, resource) < 0)
        die(strstr(c.err, "refused") || strstr(c.err, "does not check") ? EX_NOPERM : EX_PROTOCOL, "%s", c.err);
    if (verbose && o.xmpp) fprintf(stderr, "%s: logged in as %s (an ordinary XMPP login)\n", progname, c.jid);
    else if (verbose) fprintf(stderr, "%s: logged in as %s (suite %s)\n", progname, c.jid, sc_suite_name(s));

    if (!prog) {
        sc_key_free(kr);
        int rc = relay_loop(&c, 0, 1);
        if (rc == 1 && c.err[0]) warnx("%s", c.err);
        client_free(&c);
        return rc == 1 ? EX_UNAVAILABLE : rc == 2 ? EX_DATAERR : 0;
    }
    /* chain-load: the program gets the plain side of the channel on 6/7 */
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) die_sys(EX_OSERR, "socketpair");
    /* the user's private key for the program (simpp-session signs its
     * handshakes with it) on fd 8: never on disk or argv; a key on a token
     * stays there, and this process serves it (keyagent.h) */
    struct key_handoff *kh = key_handoff(kr);
    if (!kh) die_sys(EX_OSERR, "unable to pass the key");
    signal(SIGPIPE, SIG_IGN);
    pid_t pid = fork();
    if (pid < 0) die_sys(EX_OSERR, "fork");
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        /* via a spare descriptor: sv[1] may itself be 6 or 7, and close-on-exec */
        int spare = fcntl(sv[1], F_DUPFD, 10), kspare = fcntl(key_handoff_fd(kh), F_DUPFD, 10);
        if (spare < 0 || kspare < 0 || dup2(spare, 6) < 0 || dup2(spare, 7) < 0 || dup2(kspare, 8) < 0)
            die_sys(EX_OSERR, "dup2");
        close(spare);
        close(kspare);
        setenv("SIMPP_KEYFD", "8", 1);
        /* public facts only: who we are logged in as (never a key) */
        setenv("SIMPP_JID", c.jid, 1);
        setenv("SIMPP_DOMAIN", c.domain, 1);
        /* how we logged in: "simpp" (the relay's directory is reached
         * through the SIMPP channel) or "xmpp" (an ordinary server) */
        setenv("SIMPP_LOGIN", o.xmpp ? "xmpp" : "simpp", 1);
        if (o.xmpp) unsetenv("SIMPP_SUITE");
        else setenv("SIMPP_SUITE", sc_suite_name(s), 1);
        execvp(prog[0], prog);
        die_sys(errno == ENOENT ? EX_UNAVAILABLE : EX_OSERR, "unable to run %s", prog[0]);
    }
    close(sv[1]);
    key_handoff_parent(kh);
    fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
    int rc = relay_loop(&c, sv[0], sv[0]);
    if (rc == 1 && c.err[0]) warnx("%s", c.err);
    shutdown(sv[0], SHUT_WR);                   /* the program sees EOF */
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    close(sv[0]);
    key_handoff_end(kh);
    client_free(&c);
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    return 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}
