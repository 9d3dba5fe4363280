/* net.c - TCP socket helpers.  See net.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net.h"

/* the last failure: a resolver code (gai != 0) or an errno */
static _Thread_local int last_gai, last_errno;

static int fail_sys(void)
{
    last_gai = 0;
    last_errno = errno;
    return -1;
}

static int fail_errno(int e)
{
    errno = e;
    return fail_sys();
}

static int fail_gai(int r)
{
    if (r == EAI_SYSTEM) return fail_sys();
    last_gai = r;
    switch (r) {
    case EAI_AGAIN:   errno = EAGAIN; break;
    case EAI_MEMORY:  errno = ENOMEM; break;
    case EAI_SERVICE: case EAI_FAMILY: case EAI_SOCKTYPE: case EAI_BADFLAGS:
                      errno = EINVAL; break;
    default:          errno = ENOENT; break;   /* no such name, no address */
    }
    last_errno = errno;
    return -1;
}

const char *net_strerror(void)
{
    return last_gai ? gai_strerror(last_gai) : strerror(last_errno);
}

/* --- parsing --- */

/* 1 to 5 digits, at most 65535: what a TCP port is, nothing getaddrinfo
 * would look up in /etc/services */
static int port_ok(const char *p, size_t n)
{
    unsigned long v = 0;
    size_t i;
    if (n == 0 || n > 5) return 0;
    for (i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return 0;
        v = v * 10 + (unsigned long)(p[i] - '0');
    }
    return v <= 65535;
}

/* a DNS name or dotted IPv4: ASCII letters, digits, '-', '_', '.' only (not
 * isalnum, which follows the locale), so nothing odd (spaces, '/', '@',
 * control bytes) reaches the resolver or a log */
static int name_ok(const char *h, size_t n)
{
    size_t i;
    if (n == 0) return 0;
    for (i = 0; i < n; i++)
        if (!(h[i] >= 'a' && h[i] <= 'z') && !(h[i] >= 'A' && h[i] <= 'Z')
            && !(h[i] >= '0' && h[i] <= '9') && h[i] != '-' && h[i] != '_' && h[i] != '.')
            return 0;
    return 1;
}

/* an IPv6 literal, optionally with a "%zone" (RFC 4007 11) */
static int v6_ok(const char *h, size_t n)
{
    char tmp[INET6_ADDRSTRLEN];
    struct in6_addr a;
    const char *pct = memchr(h, '%', n);
    size_t an = pct ? (size_t)(pct - h) : n;
    if (an == 0 || an >= sizeof tmp) return 0;
    if (pct && !name_ok(pct + 1, n - an - 1)) return 0;
    memcpy(tmp, h, an);
    tmp[an] = '\0';
    return inet_pton(AF_INET6, tmp, &a) == 1;
}

static int copy(char *dst, size_t cap, const char *src, size_t n)
{
    if (n >= cap) return -1;
    memcpy(dst, src, n);
    dst[n] = '\0';
    return 0;
}

int net_parse_hostport(const char *s, char *host, size_t hcap,
                       char *port, size_t pcap, const char *defport)
{
    const char *h, *p = NULL, *c;
    size_t hn, pn = 0;
    if (!s || !*s) return fail_errno(EINVAL);
    if (s[0] == '[') {
        /* RFC 3986 3.2.2: brackets are how a port follows an IPv6 address */
        if (!(c = strchr(s, ']'))) return fail_errno(EINVAL);
        h = s + 1;
        hn = (size_t)(c - h);
        if (!v6_ok(h, hn)) return fail_errno(EINVAL);
        if (c[1] == ':') p = c + 2;
        else if (c[1] != '\0') return fail_errno(EINVAL);
    } else if ((c = strchr(s, ':')) && strchr(c + 1, ':')) {
        /* two colons and no brackets: all address, there is no port */
        h = s;
        hn = strlen(s);
        if (!v6_ok(h, hn)) return fail_errno(EINVAL);
    } else {
        h = s;
        hn = c ? (size_t)(c - s) : strlen(s);
        if (!name_ok(h, hn)) return fail_errno(EINVAL);
        if (c) p = c + 1;
    }
    if (p) {
        pn = strlen(p);
        if (!port_ok(p, pn)) return fail_errno(EINVAL);
    } else {
        if (!defport) return fail_errno(EINVAL);
        p = defport;
        pn = strlen(p);
    }
    if (copy(host, hcap, h, hn) < 0 || copy(port, pcap, p, pn) < 0)
        return fail_errno(ENAMETOOLONG);
    return 0;
}

/* --- sockets --- */

int net_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return fail_sys();
    return 0;
}

static void close_keep_errno(int fd)
{
    int e = errno;
    close(fd);
    errno = e;
}

static int try_listen(const struct addrinfo *ai, int backlog)
{
    int one = 1;
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0
        || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0
        || listen(fd, backlog) < 0) {
        close_keep_errno(fd);
        return -1;
    }
    return fd;
}

int net_listen(const char *host, const char *port, int backlog)
{
    struct addrinfo hints = { 0 }, *res, *ai;
    int r, pass, fd = -1, e = EADDRNOTAVAIL;
    if (!port) return fail_errno(EINVAL);
    if (host && !*host) host = NULL;
    if (backlog <= 0) backlog = SOMAXCONN;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    if ((r = getaddrinfo(host, port, &hints, &res)) != 0) return fail_gai(r);
    /* For the wildcard, the IPv6 one first: it usually serves both families,
     * and the IPv4 one would then be refused with EADDRINUSE. */
    for (pass = 0; pass < 2 && fd < 0; pass++)
        for (ai = res; ai && fd < 0; ai = ai->ai_next) {
            if (!host && (ai->ai_family == AF_INET6) != (pass == 0)) continue;
            if (host && pass) break;
            if ((fd = try_listen(ai, backlog)) < 0) e = errno;
        }
    freeaddrinfo(res);
    if (fd < 0) return fail_errno(e);
    return fd;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* deadline 0: none */
static int try_connect(const struct addrinfo *ai, long long deadline)
{
    struct pollfd pfd;
    int fd, err = 0, fl;
    socklen_t len = sizeof err;
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) return -1;
    /* non-blocking so the wait can have a deadline; EINTR leaves the
     * connection going on in the background, the same as EINPROGRESS */
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        if (errno != EINPROGRESS && errno != EINTR) goto bad;
        pfd.fd = fd;
        pfd.events = POLLOUT;
        for (;;) {
            int ms = -1, r;
            if (deadline) {
                long long left = deadline - now_ms();
                ms = left <= 0 ? 0 : left > 0x7fffffff ? 0x7fffffff : (int)left;
            }
            r = poll(&pfd, 1, ms);
            if (r > 0) break;
            if (r == 0) {
                errno = ETIMEDOUT;
                goto bad;
            }
            if (errno != EINTR) goto bad;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) goto bad;
        if (err) {
            errno = err;
            goto bad;
        }
    }
    /* the caller asked for a plain blocking stream (fds 6/7) */
    if ((fl = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0 ||
        net_nodelay(fd) < 0)
        goto bad;
    return fd;
bad:
    close_keep_errno(fd);
    return -1;
}

int net_nodelay(int fd)
{
    int one = 1, type;
    socklen_t len = sizeof type;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    /* only a TCP socket has the option: a pipe or a local socket is fine as it is */
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM ||
        getsockname(fd, (struct sockaddr *)&ss, &sl) < 0 ||
        (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
        return 0;
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0 ? fail_sys() : 0;
}

int net_connect(const char *host, const char *port, int timeout_ms)
{
    struct addrinfo hints = { 0 }, *res, *ai;
    long long deadline = timeout_ms > 0 ? now_ms() + timeout_ms : 0;
    int r, fd = -1, e = EADDRNOTAVAIL;
    if (!host || !*host || !port) return fail_errno(EINVAL);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if ((r = getaddrinfo(host, port, &hints, &res)) != 0) return fail_gai(r);
    for (ai = res; ai && fd < 0; ai = ai->ai_next) {
        if (deadline && now_ms() >= deadline) {
            e = ETIMEDOUT;
            break;
        }
        if ((fd = try_connect(ai, deadline)) < 0) e = errno;
    }
    freeaddrinfo(res);
    if (fd < 0) return fail_errno(e);
    return fd;
}

/* printable address of ss, port left out */
static int addr_text(const struct sockaddr_storage *ss, char *buf, size_t cap)
{
    char tmp[NET_ADDRMAX];
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;
    switch (ss->ss_family) {
    case AF_INET:
        memcpy(&sin, ss, sizeof sin);
        if (!inet_ntop(AF_INET, &sin.sin_addr, tmp, sizeof tmp)) return fail_sys();
        break;
    case AF_INET6:
        memcpy(&sin6, ss, sizeof sin6);
        /* an IPv4 client of a dual-stack socket: count it as IPv4 */
        if (IN6_IS_ADDR_V4MAPPED(&sin6.sin6_addr)) {
            if (!inet_ntop(AF_INET, &sin6.sin6_addr.s6_addr[12], tmp, sizeof tmp)) return fail_sys();
        } else if (!inet_ntop(AF_INET6, &sin6.sin6_addr, tmp, sizeof tmp)) {
            return fail_sys();
        }
        break;
    case AF_UNIX:
        strcpy(tmp, "unix");
        break;
    default:
        return fail_errno(EAFNOSUPPORT);
    }
    if (copy(buf, cap, tmp, strlen(tmp)) < 0) return fail_errno(ENOSPC);
    return 0;
}

int net_peer_addr(int fd, char *buf, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    memset(&ss, 0, sizeof ss);
    if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0) return fail_sys();
    return addr_text(&ss, buf, cap);
}

int net_accept(int lfd, char *addr, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int fd;
    memset(&ss, 0, sizeof ss);
    do fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) return fail_sys();
    if (addr && addr_text(&ss, addr, cap) < 0) {
        close_keep_errno(fd);
        return -1;
    }
    return fd;
}
