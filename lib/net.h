/*
 * net.h - TCP socket helpers for the relay and for "-c host:port" in the
 * clients: parse an address, listen, connect with a timeout, accept.
 *
 * Every fd returned here is close-on-exec, so a program that chain-loads the
 * next one passes on only the descriptors it dup2()s on purpose (6 and 7).
 *
 * Errors: -1 with errno set.  Name resolution has its own error codes; for
 * those errno is an approximation (ENOENT: no such host or no address,
 * EAGAIN: temporary failure, EINVAL: bad service, ENOMEM) and net_strerror()
 * gives the resolver's own message.  Use net_strerror(), not strerror(errno),
 * for any net_* failure.
 */
#ifndef SIMPP_NET_H
#define SIMPP_NET_H

#include <stddef.h>

/* enough for any address net_peer_addr or net_accept writes (INET6_ADDRSTRLEN) */
#define NET_ADDRMAX 46

/*
 * Split "host", "host:port", "[v6]:port", "[v6]" or a bare IPv6 literal
 * ("::1", "fe80::1%eth0") into host and port; defport fills in a missing
 * port (NULL: a port is required).  The port must be decimal 0..65535; the
 * brackets are removed from the host.  0, or -1 with errno (EINVAL: syntax;
 * ENAMETOOLONG: does not fit in hcap / pcap).
 */
int net_parse_hostport(const char *s, char *host, size_t hcap,
                       char *port, size_t pcap, const char *defport);

/*
 * A non-blocking, close-on-exec TCP socket listening on host:port, with
 * SO_REUSEADDR so a restarted relay can bind while old connections sit in
 * TIME_WAIT.  host NULL or "" means every address (IPv6 preferred, which on
 * Linux also takes IPv4 unless net.ipv6.bindv6only is set); port "0" asks
 * for an ephemeral port.  backlog <= 0 means SOMAXCONN.  The fd, or -1.
 */
int net_listen(const char *host, const char *port, int backlog);

/*
 * A connected TCP socket to host:port, trying each address in turn.  The
 * whole attempt gives up after timeout_ms (<= 0: only the kernel's own
 * timeouts) with ETIMEDOUT.  The fd is blocking, close-on-exec and
 * TCP_NODELAY (net_nodelay); the error of the last address tried is
 * reported.  The fd, or -1.
 */
int net_connect(const char *host, const char *port, int timeout_ms);

/*
 * TCP_NODELAY on fd if it is a TCP socket; anything else (a pipe, a local
 * socket, a file) is left alone and is not an error.  A SIMPP login is a
 * row of small request/answer messages: with Nagle's algorithm on, each
 * small write after the first waits for the peer's delayed ACK (about 40 ms
 * on Linux) before it leaves.  0, or -1 with errno.
 */
int net_nodelay(int fd);

/* Text for the last net_* failure in this thread (resolver or errno). */
const char *net_strerror(void);

/* set O_NONBLOCK; 0 or -1 */
int net_nonblock(int fd);

/*
 * The peer's address without the port, for per-address limits and logs:
 * "192.0.2.1", "2001:db8::1", "unix" for a local socket.  An IPv4 peer of a
 * dual-stack socket (::ffff:192.0.2.1) is written as plain IPv4, so one
 * host counts once whichever socket it came in on.  0, or -1 (ENOSPC: cap
 * too small; NET_ADDRMAX is always enough).
 */
int net_peer_addr(int fd, char *buf, size_t cap);

/*
 * accept4 a connection, non-blocking and close-on-exec; its address (as
 * net_peer_addr) goes to addr if addr is not NULL.  The fd, or -1 (EAGAIN:
 * none pending).  On EMFILE/ENFILE the connection stays queued and the
 * listening fd stays readable: the caller must stop watching it for a while
 * or a level-triggered loop spins.
 */
int net_accept(int lfd, char *addr, size_t cap);

#endif
