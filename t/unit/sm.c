/* t/unit/sm.c - the client's XEP-0198 queue (lib/sm.c) */
#include "sm.h"
#include "tap.h"

static void send_all(struct sm_queue *q, int keep)
{
    while (sm_next_unsent(q)) sm_mark_sent(q, keep);
}

int main(void)
{
    struct sm_queue q = { 0 };
    char d[200];
    ok(sm_add(&q, "<message to='b@x' id='1'><body>secret</body></message>", 52) == 0, "add");
    ok(sm_add(&q, "<iq type='get' id=\"p\"/>", 22) == 0, "add another");
    ok(sm_add(&q, "<presence/>", 11) == 0, "add a third");
    ok(q.n == 3 && q.inflight == 0 && sm_next_unsent(&q) == q.head, "three held, none sent");
    sm_mark_sent(&q, 1);
    sm_mark_sent(&q, 1);
    ok(q.inflight == 2 && q.head->seq == 1 && q.head->next->seq == 2, "sent ones numbered from 1");
    ok(sm_acked(&q, 1) == 1 && q.n == 2 && q.inflight == 1, "h=1 drops the first only");
    ok(sm_acked(&q, 1) == 0 && q.n == 2, "the same h again drops nothing");
    ok(sm_acked(&q, 5) == 1 && q.n == 1, "an h past the sent ones drops the sent ones only, not the unsent");
    ok(sm_next_unsent(&q) && !strcmp(sm_next_unsent(&q)->xml, "<presence/>"), "the unsent one is next");
    /* a broken connection: all held go again, in order, numbered after the server's h */
    sm_add(&q, "<message id='4'/>", 17);
    send_all(&q, 1);
    ok(q.inflight == 2 && q.seq == 4, "both sent: 3 and 4");
    sm_unsend_all(&q, 3);
    ok(q.inflight == 0 && sm_next_unsent(&q) == q.head && q.seq == 3, "unsend: all unsent, count from the server's h");
    ok(sm_acked(&q, 3) == 0, "unsent ones are never acknowledged");
    send_all(&q, 1);
    ok(q.head->seq == 4 && q.tail->seq == 5, "renumbered on the new stream");
    /* a presence sent again first, on a new stream */
    sm_unsend_all(&q, 0);
    ok(sm_add_first(&q, "<presence/>", 11) == 0 && q.n == 3, "add first");
    sm_mark_sent(&q, 1);
    ok(!strcmp(q.head->xml, "<presence/>") && q.head->seq == 1, "the presence goes first");
    ok(sm_add_first(&q, "<presence><show>away</show></presence>", 38) == 0 && q.tail->len == 38,
       "after something was sent, add_first goes last (order is kept)");
    sm_free(&q);
    ok(q.n == 0 && !q.head && !q.tail && !q.unsent, "free");
    /* the counter wraps (XEP-0198 5) */
    sm_unsend_all(&q, 0xfffffffeu);
    sm_add(&q, "<a1/>", 5);
    sm_add(&q, "<a2/>", 5);
    sm_add(&q, "<a3/>", 5);
    send_all(&q, 1);
    ok(q.head->seq == 0xffffffffu && q.tail->seq == 1, "numbers wrap");
    ok(sm_acked(&q, 0) == 2 && q.n == 1, "h=0 after the wrap acknowledges 2^32-1 and 0");
    sm_free(&q);
    /* without stream management nothing is kept once sent */
    sm_add(&q, "<presence/>", 11);
    sm_add(&q, "<presence/>", 11);
    send_all(&q, 0);
    ok(q.n == 0 && q.bytes == 0 && q.inflight == 0 && !q.head, "keep 0: dropped once sent");
    /* what a person sees: kind, to, id, never the body */
    sm_add(&q, "<message to='bob@localhost' type='chat' id='m7'><body>private</body></message>", 77);
    sm_add(&q, "<iq type='get' id=\"p\"/>", 22);
    sm_add(&q, "<presence/>", 11);
    sm_describe(q.head, d, sizeof d);
    ok(!strcmp(d, "message to=bob@localhost id=m7"), "describe a message: %s", d);
    sm_describe(q.head->next, d, sizeof d);
    ok(!strcmp(d, "iq to=- id=p"), "describe an iq: %s", d);
    sm_describe(q.tail, d, sizeof d);
    ok(!strcmp(d, "presence to=- id=-"), "describe a bare presence: %s", d);
    sm_free(&q);
    return tap_done();
}
