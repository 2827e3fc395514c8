// The latency scenario's native reader (test/bench/native-readers.ts builds and drives it): holds many SSE streams
// on one thread with epoll and records, for every read, how many bytes had arrived and two times — when the kernel
// received the last of them (SO_TIMESTAMPNS: on loopback, inside the server's write) and when this process read them
// — both on CLOCK_MONOTONIC, the clock every bench process uses. It parses nothing: the bytes are written out on
// request and parsed by Node after the run. A Node reader costs ~10 µs per read and 1,000 viewers × 100 lines/s is
// 100,000 reads a second; on a 2-core machine shared with the server that made the readers the measurement.
//
// stdin, one line each: `<host> <port> <count>`, `<cookie or ->`, then <count> lines `<path> <accept-encoding or ->`.
// Then commands, one per line: `reads` (prints the reads so far), `ended` (the connections ended so far), `dump <dir>` (writes <dir>/<i>.bin, the bytes,
// and <dir>/<i>.idx, per read three little-endian u64: end offset, kernel ns, read ns; prints `dumped`), `quit`.
// Prints `open <connected>` once every request is sent. A connection that fails or ends is recorded as such
// (<dir>/<i>.end holds its errno, 0 for an orderly end).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
  int fd;
  int ended; /* 0: open; 1: ended (errno in end_errno) */
  int end_errno;
  char *bytes;
  size_t len, cap;
  uint64_t *idx; /* triples */
  size_t reads, idx_cap;
} viewer_t;

static uint64_t ns_of(struct timespec t) { return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec; }

static uint64_t now_ns(clockid_t clock) {
  struct timespec t;
  clock_gettime(clock, &t);
  return ns_of(t);
}

/* CLOCK_REALTIME minus CLOCK_MONOTONIC, for the kernel's receive stamps (which are on CLOCK_REALTIME). */
static int64_t realtime_offset(void) {
  uint64_t m1 = now_ns(CLOCK_MONOTONIC), r = now_ns(CLOCK_REALTIME), m2 = now_ns(CLOCK_MONOTONIC);
  return (int64_t)r - (int64_t)(m1 + (m2 - m1) / 2);
}

static void *grow(void *p, size_t *cap, size_t need, size_t unit) {
  if (need <= *cap) return p;
  size_t c = *cap ? *cap : 4096;
  while (c < need) c *= 2;
  p = realloc(p, c * unit);
  if (!p) {
    perror("realloc");
    exit(1);
  }
  *cap = c;
  return p;
}

static int read_line(char *buf, size_t size) {
  if (!fgets(buf, (int)size, stdin)) return 0;
  buf[strcspn(buf, "\n")] = 0;
  return 1;
}

static void dump(viewer_t *v, int count, const char *dir) {
  char path[4096];
  for (int i = 0; i < count; i++) {
    snprintf(path, sizeof path, "%s/%d.bin", dir, i);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(v[i].bytes, 1, v[i].len, f) != v[i].len) perror(path);
    if (f) fclose(f);
    snprintf(path, sizeof path, "%s/%d.idx", dir, i);
    f = fopen(path, "wb");
    if (!f || fwrite(v[i].idx, sizeof(uint64_t), v[i].reads * 3, f) != v[i].reads * 3) perror(path);
    if (f) fclose(f);
    if (v[i].ended) {
      snprintf(path, sizeof path, "%s/%d.end", dir, i);
      f = fopen(path, "w");
      if (f) {
        fprintf(f, "%d\n", v[i].end_errno);
        fclose(f);
      }
    }
  }
}

int main(void) {
  char line[16384], host[256], cookie[8192];
  int port, count;
  if (!read_line(line, sizeof line) || sscanf(line, "%255s %d %d", host, &port, &count) != 3 || count <= 0) {
    fprintf(stderr, "expected: <host> <port> <count>\n");
    return 2;
  }
  if (!read_line(cookie, sizeof cookie)) return 2;
  viewer_t *v = calloc((size_t)count, sizeof *v);
  int ep = epoll_create1(0);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
    fprintf(stderr, "host must be an IPv4 address: %s\n", host);
    return 2;
  }
  int connected = 0;
  for (int i = 0; i < count; i++) {
    char path[4096], encoding[256], request[16384];
    if (!read_line(line, sizeof line) || sscanf(line, "%4095s %255s", path, encoding) != 2) {
      fprintf(stderr, "expected: <path> <accept-encoding or ->\n");
      return 2;
    }
    int n = snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/event-stream\r\n%s%s%s%s%s%sConnection: keep-alive\r\n\r\n",
                     path, host, port, strcmp(cookie, "-") ? "Cookie: " : "", strcmp(cookie, "-") ? cookie : "", strcmp(cookie, "-") ? "\r\n" : "",
                     strcmp(encoding, "-") ? "Accept-Encoding: " : "", strcmp(encoding, "-") ? encoding : "", strcmp(encoding, "-") ? "\r\n" : "");
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    v[i].fd = fd;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || write(fd, request, (size_t)n) != n) {
      v[i].ended = 1;
      v[i].end_errno = errno ? errno : EIO;
      close(fd);
      continue;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    connected++;
  }
  fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
  struct epoll_event in = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
  epoll_ctl(ep, EPOLL_CTL_ADD, 0, &in);
  printf("open %d\n", connected);
  fflush(stdout);

  int64_t offset = realtime_offset();
  uint64_t offset_at = now_ns(CLOCK_MONOTONIC);
  uint64_t total_reads = 0;
  char buf[65536], control[256], commands[4096];
  size_t pending = 0;
  struct epoll_event events[256];
  for (;;) {
    int n = epoll_wait(ep, events, 256, 1000);
    if (n < 0 && errno == EINTR) continue;
    for (int k = 0; k < n; k++) {
      uint32_t i = events[k].data.u32;
      if (i == UINT32_MAX) {
        ssize_t got = read(0, commands + pending, sizeof commands - 1 - pending);
        if (got == 0) return 0; /* the parent is gone */
        if (got < 0) continue;
        pending += (size_t)got;
        commands[pending] = 0;
        char *end;
        while ((end = strchr(commands, '\n'))) {
          *end = 0;
          if (!strcmp(commands, "reads")) printf("%llu\n", (unsigned long long)total_reads);
          else if (!strcmp(commands, "ended")) {
            int ended = 0;
            for (int j = 0; j < count; j++) ended += v[j].ended;
            printf("%d\n", ended);
          }
          else if (!strncmp(commands, "dump ", 5)) {
            dump(v, count, commands + 5);
            printf("dumped\n");
          } else if (!strcmp(commands, "quit")) return 0;
          fflush(stdout);
          size_t used = (size_t)(end - commands) + 1;
          memmove(commands, end + 1, pending - used + 1);
          pending -= used;
        }
        continue;
      }
      viewer_t *me = &v[i];
      for (;;) {
        struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
        ssize_t got = recvmsg(me->fd, &msg, 0);
        uint64_t read_at = now_ns(CLOCK_MONOTONIC);
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (got <= 0) {
          me->ended = 1;
          me->end_errno = got == 0 ? 0 : errno;
          epoll_ctl(ep, EPOLL_CTL_DEL, me->fd, NULL);
          close(me->fd);
          break;
        }
        uint64_t kernel_at = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
          if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec t;
            memcpy(&t, CMSG_DATA(c), sizeof t);
            kernel_at = (uint64_t)((int64_t)ns_of(t) - offset);
          }
        }
        if (read_at - offset_at > 1000000000ull) {
          offset = realtime_offset();
          offset_at = read_at;
        }
        me->bytes = grow(me->bytes, &me->cap, me->len + (size_t)got, 1);
        memcpy(me->bytes + me->len, buf, (size_t)got);
        me->len += (size_t)got;
        me->idx = grow(me->idx, &me->idx_cap, (me->reads + 1) * 3, sizeof(uint64_t));
        me->idx[me->reads * 3] = me->len;
        me->idx[me->reads * 3 + 1] = kernel_at;
        me->idx[me->reads * 3 + 2] = read_at;
        me->reads++;
        total_reads++;
      }
    }
  }
}
