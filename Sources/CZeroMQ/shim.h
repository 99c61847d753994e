#ifndef SLUICE_CZEROMQ_SHIM_H
#define SLUICE_CZEROMQ_SHIM_H
#include <zmq.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <malloc.h>
#include <sys/prctl.h>

/* Bytes the allocator has handed out and not had back (glibc mallinfo2): for tools that
   measure the heap a data structure keeps, apart from pages the allocator caches. */
static inline size_t sluice_heap_in_use(void) {
    struct mallinfo2 info = mallinfo2();
    return info.uordblks + info.hblkhd;
}

/* epoll over the file descriptors that ZMQ_FD reports, for programs that watch many sockets
   (zmq_poll costs O(sockets) per call). `struct epoll_event` is packed on x86-64, so Swift
   goes through these helpers instead of laying it out itself. */
static inline int sluice_epoll_add(int epfd, int fd, uint64_t token) {
    struct epoll_event event;
    event.events = EPOLLIN;
    event.data.u64 = token;
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &event);
}

/* Waits up to `timeout_ms` and writes the tokens of ready descriptors to `tokens` (at most
   `max`, and at most 256 per call). Returns how many, or -1 with errno set. */
static inline int sluice_epoll_wait(int epfd, uint64_t *tokens, int max, int timeout_ms) {
    struct epoll_event events[256];
    if (max > 256) max = 256;
    int count = epoll_wait(epfd, events, max, timeout_ms);
    for (int i = 0; i < count; i++) tokens[i] = events[i].data.u64;
    return count;
}
/* Names the calling thread as the kernel shows it (/proc/PID/task/TID/comm, top -H, perf);
   at most 15 bytes are kept. */
static inline int sluice_name_this_thread(const char *name) {
    return prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0);
}

#endif
