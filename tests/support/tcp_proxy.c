#include "tcp_proxy.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PROXY_MAX_FDS 128

struct tally_test_proxy_t {
    int listener, port, target_port;
    atomic_int frozen, stopping;
    int fds[PROXY_MAX_FDS];        /* pairs: client, upstream (-1 when none) */
    int nfds;
    pthread_t thread;
};

static int connect_target(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static void *proxy_main(void *arg)
{
    tally_test_proxy_t *p = arg;
    char buf[16384];
    while (!atomic_load(&p->stopping)) {
        struct pollfd pfd[PROXY_MAX_FDS + 1];
        int frozen = atomic_load(&p->frozen);
        pfd[0] = (struct pollfd){.fd = p->listener, .events = POLLIN};
        for (int i = 0; i < p->nfds; i++)
            /* A held connection (no upstream) is never read: a black hole. */
            pfd[i + 1] = (struct pollfd){.fd = frozen || p->fds[i ^ 1] < 0 ? -1 : p->fds[i], .events = POLLIN};
        if (poll(pfd, (nfds_t)p->nfds + 1, 50) <= 0)
            continue;
        if (pfd[0].revents & POLLIN) {
            int c = accept(p->listener, NULL, NULL);
            if (c >= 0 && p->nfds + 2 <= PROXY_MAX_FDS) {
                int up = frozen || p->target_port == 0 ? -1 : connect_target(p->target_port);
                p->fds[p->nfds++] = c;
                p->fds[p->nfds++] = up;
            } else if (c >= 0) {
                close(c);
            }
        }
        for (int i = 0; i < p->nfds; i++) {
            if (!(pfd[i + 1].revents & (POLLIN | POLLHUP | POLLERR)) || p->fds[i] < 0)
                continue;
            int peer = p->fds[i ^ 1];
            ssize_t n = read(p->fds[i], buf, sizeof buf);
            if (n <= 0 || peer < 0 || write(peer, buf, (size_t)n) != n) {
                /* One side is gone: close the pair. */
                close(p->fds[i]);
                p->fds[i] = -1;
                if (peer >= 0)
                    close(peer);
                p->fds[i ^ 1] = -1;
            }
        }
    }
    return NULL;
}

tally_test_proxy_t *tally_test_proxy_start(int target_port)
{
    tally_test_proxy_t *p = calloc(1, sizeof *p);
    cr_assert_not_null(p);
    p->target_port = target_port;
    p->listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert(p->listener >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    cr_assert_eq(bind(p->listener, (struct sockaddr *)&sa, sizeof sa), 0);
    cr_assert_eq(listen(p->listener, 64), 0);
    cr_assert_eq(getsockname(p->listener, (struct sockaddr *)&sa, &len), 0);
    p->port = ntohs(sa.sin_port);
    cr_assert_eq(pthread_create(&p->thread, NULL, proxy_main, p), 0);
    return p;
}

int tally_test_proxy_port(const tally_test_proxy_t *p)
{
    return p->port;
}

void tally_test_proxy_freeze(tally_test_proxy_t *p)
{
    atomic_store(&p->frozen, 1);
}

void tally_test_proxy_stop(tally_test_proxy_t *p)
{
    if (p == NULL)
        return;
    atomic_store(&p->stopping, 1);
    pthread_join(p->thread, NULL);
    for (int i = 0; i < p->nfds; i++)
        if (p->fds[i] >= 0)
            close(p->fds[i]);
    close(p->listener);
    free(p);
}
