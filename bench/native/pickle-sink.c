/*
 * Counting sink for carbon pickle frames, in C: what bench/lib/sink-child.js
 * does for frames in src/codec/pickle-encoder.ts's layout, at a fraction of
 * the CPU. On a 2-core machine the sink shares the cores with the relay, and
 * every cycle it spends is one the "2 workers" rows cannot use (the issue's
 * own figures were taken with a C sink). Built by bench/native/build.js;
 * driven by bench/lib/native-sink-child.js. Bench tooling, not shipped.
 *
 *   pickle-sink <name prefix> <port>
 *
 * Frame layout (every byte checked; anything else is a frame error):
 *   u32be len | PROTO 2 | EMPTY_LIST | MARK | { X u32le(n) name | G f64 | G f64 | TUPLE2 TUPLE2 }* | APPENDS | STOP
 *
 * stdout, one line each: "listening <port>", "connected <n>", "stats <json>", "reached <json>"
 * stdin, one line each:  "expect <total>", "stats"
 * Times are CLOCK_MONOTONIC ns (what Node's process.hrtime.bigint() reads).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_FRAME (64u * 1024 * 1024)
#define READ_BYTES (256 * 1024)
#define MAX_CONNS 4096

struct conn {
  int fd;
  unsigned char header[4];
  unsigned header_fill;
  unsigned char *partial;
  uint32_t partial_len, partial_fill;
  int desynced;
};

static const unsigned char *prefix;
static size_t prefix_len;
static unsigned long long datapoints, other_datapoints, frames, frame_errors, bytes_in, connections, truncated;
static unsigned long long expected = ~0ull, reached_at, first_byte_at, last_byte_at;
static struct conn *conns[MAX_CONNS];

static unsigned long long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (unsigned long long)t.tv_sec * 1000000000ull + (unsigned long long)t.tv_nsec;
}

static void emit_stats(const char *kind) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  unsigned long long cpu = (unsigned long long)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000000ull + (unsigned long long)(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
  char reached[32] = "";
  if (reached_at) snprintf(reached, sizeof reached, "%llu", reached_at);
  printf("%s {\"datapoints\":%llu,\"otherDatapoints\":%llu,\"frames\":%llu,\"frameErrors\":%llu,\"bytes\":%llu,\"otherPicklerFrames\":0,"
         "\"connections\":%llu,\"truncatedFrames\":%llu,\"reachedAt\":\"%s\",\"firstByteAt\":\"%llu\",\"lastByteAt\":\"%llu\",\"cpuMicros\":%llu}\n",
         kind, datapoints, other_datapoints, frames, frame_errors, bytes_in, connections, truncated, reached, first_byte_at, last_byte_at, cpu);
  fflush(stdout);
}

static void check_reached(void) {
  if (reached_at == 0 && datapoints >= expected) {
    reached_at = now_ns();
    emit_stats("reached");
  }
}

/* One frame's payload: counts its datapoints, or a frame error when it is not in the encoder's layout. */
static void count_frame(const unsigned char *b, size_t len) {
  frames++;
  if (len < 6 || b[0] != 0x80 || b[1] != 2 || b[2] != 0x5d || b[3] != 0x28) goto bad;
  size_t tail = len - 2, p = 4;
  unsigned long long n = 0, matching = 0;
  while (p < tail) {
    if (b[p] != 0x58 || p + 5 > tail) goto bad;
    uint32_t name_len = (uint32_t)b[p + 1] | (uint32_t)b[p + 2] << 8 | (uint32_t)b[p + 3] << 16 | (uint32_t)b[p + 4] << 24;
    if (name_len == 0) goto bad;
    p += 5;
    if (name_len >= prefix_len && p + prefix_len <= tail && memcmp(b + p, prefix, prefix_len) == 0) matching++;
    if (name_len > tail - p) goto bad;
    p += name_len;
    if (p + 20 > tail) goto bad;
    if (b[p] != 0x47 || b[p + 9] != 0x47 || b[p + 18] != 0x86 || b[p + 19] != 0x86) goto bad;
    p += 20;
    n++;
  }
  if (p != tail || b[p] != 0x65 || b[p + 1] != 0x2e) goto bad;
  datapoints += matching;
  other_datapoints += n - matching;
  return;
bad:
  frame_errors++;
}

static void on_bytes(struct conn *c, const unsigned char *chunk, size_t len) {
  size_t pos = 0;
  while (pos < len) {
    if (c->partial != NULL) {
      size_t n = c->partial_len - c->partial_fill;
      if (n > len - pos) n = len - pos;
      memcpy(c->partial + c->partial_fill, chunk + pos, n);
      c->partial_fill += (uint32_t)n;
      pos += n;
      if (c->partial_fill == c->partial_len) {
        count_frame(c->partial, c->partial_len);
        free(c->partial);
        c->partial = NULL;
      }
      continue;
    }
    while (c->header_fill < 4 && pos < len) c->header[c->header_fill++] = chunk[pos++];
    if (c->header_fill < 4) return;
    c->header_fill = 0;
    uint32_t flen = (uint32_t)c->header[0] << 24 | (uint32_t)c->header[1] << 16 | (uint32_t)c->header[2] << 8 | c->header[3];
    if (flen == 0) {
      frames++;
      frame_errors++;
      continue;
    }
    if (flen > MAX_FRAME) {
      frame_errors++;
      c->desynced = 1;
      return;
    }
    if (len - pos >= flen) {
      count_frame(chunk + pos, flen);
      pos += flen;
      continue;
    }
    c->partial = malloc(flen);
    if (c->partial == NULL) abort();
    c->partial_len = flen;
    c->partial_fill = 0;
  }
}

static void close_conn(int ep, struct conn *c) {
  if (c->header_fill > 0 || c->partial != NULL) truncated++;
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  conns[c->fd] = NULL;
  free(c->partial);
  free(c);
}

static void on_command(char *line) {
  if (strncmp(line, "expect ", 7) == 0) {
    expected = strtoull(line + 7, NULL, 10);
    check_reached();
  } else if (strcmp(line, "stats") == 0) {
    emit_stats("stats");
  }
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: pickle-sink <name prefix> <port>\n");
    return 2;
  }
  prefix = (const unsigned char *)argv[1];
  prefix_len = strlen(argv[1]);
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2])), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 512) != 0) {
    perror("pickle-sink: bind/listen");
    return 1;
  }
  socklen_t alen = sizeof a;
  getsockname(lfd, (struct sockaddr *)&a, &alen);
  printf("listening %d\n", ntohs(a.sin_port));
  fflush(stdout);

  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  ev.data.fd = 0;
  epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev);

  static unsigned char buf[READ_BYTES];
  char cmd[256];
  size_t cmd_fill = 0;
  struct epoll_event evs[64];
  for (;;) {
    int n = epoll_wait(ep, evs, 64, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == lfd) {
        for (;;) {
          int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
          if (cfd < 0) break;
          if (cfd >= MAX_CONNS) {
            close(cfd);
            continue;
          }
          struct conn *c = calloc(1, sizeof *c);
          c->fd = cfd;
          conns[cfd] = c;
          struct epoll_event cev = {.events = EPOLLIN, .data.fd = cfd};
          epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &cev);
          connections++;
          printf("connected %llu\n", connections);
          fflush(stdout);
        }
      } else if (fd == 0) {
        ssize_t r = read(0, cmd + cmd_fill, sizeof cmd - 1 - cmd_fill);
        if (r <= 0) return 0; /* the parent went away */
        cmd_fill += (size_t)r;
        char *start = cmd, *nl;
        while ((nl = memchr(start, '\n', cmd_fill - (size_t)(start - cmd))) != NULL) {
          *nl = 0;
          on_command(start);
          start = nl + 1;
        }
        cmd_fill -= (size_t)(start - cmd);
        memmove(cmd, start, cmd_fill);
        if (cmd_fill == sizeof cmd - 1) cmd_fill = 0;
      } else {
        struct conn *c = conns[fd];
        if (c == NULL) continue;
        ssize_t r = read(fd, buf, sizeof buf);
        if (r > 0) {
          last_byte_at = now_ns();
          if (first_byte_at == 0) first_byte_at = last_byte_at;
          bytes_in += (unsigned long long)r;
          if (!c->desynced) on_bytes(c, buf, (size_t)r);
          check_reached();
        } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
          close_conn(ep, c);
        }
      }
    }
  }
}
