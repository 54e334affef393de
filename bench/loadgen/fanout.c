/* The fan-out load generator in C: the `fanout` and `overload` scenarios of loadgen.cjs,
 * for when the Node generator, not the server, would be what limits deliveries/s and the
 * latency of the last recipients (10,000 clients reading on one core).
 *
 * It speaks just what those scenarios need of Engine.IO v4 / Socket.IO v5 over WebSocket:
 * the upgrade, the open packet, CONNECT to "/", `join` with its ack, `publish`, `pub`
 * events, and pongs. One thread, epoll, non-blocking sockets, masked client frames.
 * Output: the same JSON lines as loadgen.cjs (progress, then one result).
 *
 * Usage: fanout <scenario> <host> <port> <server pid> <n> <publishes> <warmup>
 *               <concurrency> <rate> <timeout ms> <clk_tck> <pad>
 *               [<publisher port> <publisher pid> <redis pid>]
 *   scenario: fanout (one publish in flight) or overload (<rate> publishes/s, then drain
 *   for at most <timeout ms>); for fanout <timeout ms> bounds each publish. cluster is
 *   fanout across two servers: the receivers on <port> (node B), the publisher on
 *   <publisher port> (node A); the CPU time of both is read, and of Redis when
 *   <redis pid> is not 0 (best effort: null when its /proc cannot be read).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { S_CONNECTING, S_WAIT_101, S_WAIT_OPEN, S_WAIT_CONNECT, S_WAIT_JOIN, S_READY, S_DEAD };

typedef struct {
    int fd;
    int state;
    int publisher;
    long last;        /* last sequence number seen, for out-of-order counting */
    char *buf;        /* bytes of an incomplete frame (or HTTP head) */
    size_t len, cap;
} Conn;

static Conn *conns;
static int nconns;
static int epfd;
static int ready_count, dead_count;
static uint32_t *counts;
static double *lat;
static long lat_count;
static long disorder;
static int warmup_n;
static int n_clients;
static long total_publishes;
static char pad[4096];
static int overload_mode;
static long complete_count;
static int cluster_mode; /* publisher on a second server (node A), receivers on node B */

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void out(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static double last_progress;
static void progress(const char *text) {
    double t = now_ms();
    if (t - last_progress > 250) {
        last_progress = t;
        out("{\"type\":\"progress\",\"text\":\"%s\"}", text);
    }
}

static void fail(const char *why) {
    out("{\"type\":\"error\",\"error\":\"%s (errno %d)\"}", why, errno);
    exit(1);
}

/* ---- sending: one masked frame per message ------------------------------------------ */
static void send_all(Conn *c, const char *data, size_t n) {
    while (n > 0) {
        ssize_t w = write(c->fd, data, n);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR) continue; /* tiny messages: spin */
            c->state = S_DEAD;
            return;
        }
        data += w;
        n -= (size_t)w;
    }
}

static void send_frame(Conn *c, int opcode, const char *text, size_t n) {
    char frame[8192];
    size_t head = n < 126 ? 2 : 4;
    if (n + head + 4 > sizeof frame) fail("message too long");
    frame[0] = (char)(0x80 | opcode);
    if (n < 126) {
        frame[1] = (char)(0x80 | n);
    } else {
        frame[1] = (char)(0x80 | 126);
        frame[2] = (char)(n >> 8);
        frame[3] = (char)(n & 0xff);
    }
    uint32_t r = (uint32_t)rand();
    unsigned char *mask = (unsigned char *)frame + head;
    memcpy(mask, &r, 4);
    for (size_t i = 0; i < n; i++) frame[head + 4 + i] = (char)(text[i] ^ mask[i & 3]);
    send_all(c, frame, head + 4 + n);
}

static void send_text(Conn *c, const char *text, size_t n) { send_frame(c, 1, text, n); }

static void send_str(Conn *c, const char *s) { send_text(c, s, strlen(s)); }

/* ---- receiving ------------------------------------------------------------------------ */
static void on_pub(Conn *c, const char *p, size_t n) {
    /* 42["pub",{"t":1.5,"s":3,"p":"xx"}] as any server spaces it */
    const char *t = memmem(p, n, "\"t\":", 4);
    const char *s = memmem(p, n, "\"s\":", 4);
    if (!t || !s) return;
    double ts = strtod(t + 4, NULL);
    long seq = strtol(s + 4, NULL, 10);
    if (overload_mode) {
        if (seq < 0 || seq >= total_publishes) return;
        lat[lat_count++] = now_ms() - ts;
        if (++counts[seq] == (uint32_t)n_clients) complete_count++;
        return;
    }
    if (seq < 0 || seq >= total_publishes) return;
    if (seq != c->last + 1) disorder++;
    c->last = seq;
    if (seq >= warmup_n) lat[lat_count++] = now_ms() - ts;
    counts[seq]++;
}

static void on_message(Conn *c, const char *p, size_t n) {
    if (n == 0) return;
    if (p[0] == '2' && n == 1) { /* Engine.IO ping */
        send_str(c, "3");
        return;
    }
    switch (c->state) {
    case S_WAIT_OPEN:
        if (p[0] == '0') {
            send_str(c, "40");
            c->state = S_WAIT_CONNECT;
        }
        return;
    case S_WAIT_CONNECT:
        if (n >= 2 && p[0] == '4' && p[1] == '0') {
            if (c->publisher) {
                c->state = S_READY;
                ready_count++;
            } else {
                send_str(c, "420[\"join\",\"bench\"]");
                c->state = S_WAIT_JOIN;
            }
        } else if (n >= 2 && p[0] == '4' && p[1] == '4') {
            fail("connect refused");
        }
        return;
    case S_WAIT_JOIN:
        if (n >= 3 && memcmp(p, "430", 3) == 0) {
            c->state = S_READY;
            ready_count++;
        }
        return;
    case S_READY:
        if (n > 9 && memcmp(p, "42[\"pub\",", 9) == 0) on_pub(c, p, n);
        return;
    default:
        return;
    }
}

/* Parse whole frames from data; return how many bytes were used. */
static size_t parse_frames(Conn *c, const char *data, size_t n) {
    size_t pos = 0;
    while (n - pos >= 2) {
        unsigned char b0 = (unsigned char)data[pos], b1 = (unsigned char)data[pos + 1];
        size_t len = b1 & 0x7f, head = 2;
        if (len == 126) {
            if (n - pos < 4) break;
            len = ((size_t)(unsigned char)data[pos + 2] << 8) | (unsigned char)data[pos + 3];
            head = 4;
        } else if (len == 127) {
            if (n - pos < 10) break;
            len = 0;
            for (int i = 0; i < 8; i++) len = (len << 8) | (unsigned char)data[pos + 2 + i];
            head = 10;
        }
        if (n - pos < head + len) break;
        int opcode = b0 & 0x0f;
        const char *payload = data + pos + head;
        if (opcode == 1) on_message(c, payload, len);
        else if (opcode == 9) send_frame(c, 10, payload, len); /* a server's WebSocket ping */
        else if (opcode == 8) c->state = S_DEAD;
        pos += head + len;
    }
    return pos;
}

static void keep(Conn *c, const char *data, size_t n) {
    if (c->cap < n) {
        c->cap = n < 4096 ? 4096 : n * 2;
        c->buf = realloc(c->buf, c->cap);
        if (!c->buf) fail("out of memory");
    }
    memmove(c->buf, data, n);
    c->len = n;
}

static char rbuf[1 << 18];
static char joined[1 << 19];

static void on_readable(Conn *c) {
    for (;;) {
        ssize_t r = read(c->fd, rbuf, sizeof rbuf);
        if (r == 0) {
            c->state = S_DEAD;
            return;
        }
        if (r < 0) {
            if (errno == EAGAIN || errno == EINTR) return;
            c->state = S_DEAD;
            return;
        }
        const char *data = rbuf;
        size_t n = (size_t)r;
        if (c->len) {
            if (c->len + n > sizeof joined) fail("frame too large");
            memcpy(joined, c->buf, c->len);
            memcpy(joined + c->len, rbuf, n);
            data = joined;
            n += c->len;
            c->len = 0;
        }
        if (c->state == S_WAIT_101) {
            const char *end = memmem(data, n, "\r\n\r\n", 4);
            if (!end) {
                keep(c, data, n);
                continue;
            }
            if (n < 12 || memcmp(data, "HTTP/1.1 101", 12) != 0) fail("upgrade refused");
            c->state = S_WAIT_OPEN;
            size_t used = (size_t)(end + 4 - data);
            data += used;
            n -= used;
        }
        size_t used = parse_frames(c, data, n);
        if (used < n) keep(c, data + used, n - used);
        if ((size_t)r < sizeof rbuf) return;
    }
}

static void start_conn(Conn *c, const struct sockaddr_in *addr, int publisher) {
    memset(c, 0, sizeof *c);
    c->publisher = publisher;
    c->last = -1;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0) fail("socket");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (const struct sockaddr *)addr, sizeof *addr) < 0 && errno != EINPROGRESS)
        fail("connect");
    c->state = S_CONNECTING;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) fail("epoll_ctl");
}

static const char *host_header, *pub_host_header;

static void on_event(Conn *c, uint32_t events) {
    if (c->state == S_CONNECTING && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            errno = err;
            fail("connect failed");
        }
        char req[512];
        int k = snprintf(req, sizeof req,
                         "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: %s\r\n"
                         "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                         "Sec-WebSocket-Version: 13\r\n\r\n",
                         c->publisher ? pub_host_header : host_header);
        c->state = S_WAIT_101;
        send_all(c, req, (size_t)k);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
        return;
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(c);
    if (c->state == S_DEAD && c->fd >= 0) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
        dead_count++;
    }
}

static struct epoll_event evs[4096];

static void pump(int timeout_ms) {
    int k = epoll_wait(epfd, evs, 4096, timeout_ms);
    for (int i = 0; i < k; i++) on_event((Conn *)evs[i].data.ptr, evs[i].events);
}

/* ---- /proc readings -------------------------------------------------------------------- */
typedef struct {
    long utime, stime;
    double sched_ns;
    int ok; /* its /proc could be read */
} ProcSnap;

enum { P_SERVER, P_PUBLISHER, P_REDIS, NPIDS }; /* server: node B in cluster mode */

typedef struct {
    double t, own;
    long busy;
    ProcSnap p[NPIDS];
} Snap;

static long pids[NPIDS]; /* 0: not measured */

static ProcSnap read_proc(long pid) {
    ProcSnap s = {0};
    if (pid <= 0) return s;
    char path[128], line[4096];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (f && fgets(line, sizeof line, f)) {
        char *p = strrchr(line, ')');
        long vals[20] = {0};
        int i = 0;
        for (char *tok = strtok(p + 2, " "); tok && i < 20; tok = strtok(NULL, " ")) vals[i++] = atol(tok);
        s.utime = vals[11];
        s.stime = vals[12];
        s.ok = 1;
    }
    if (f) fclose(f);
    snprintf(path, sizeof path, "/proc/%ld/task", pid);
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            char p2[320];
            snprintf(p2, sizeof p2, "/proc/%ld/task/%s/schedstat", pid, e->d_name);
            FILE *g = fopen(p2, "r");
            if (g) {
                double ns = 0;
                if (fscanf(g, "%lf", &ns) == 1) s.sched_ns += ns;
                fclose(g);
            }
        }
        closedir(d);
    }
    return s;
}

static Snap snapshot(void) {
    Snap s = {0};
    s.t = now_ms();
    char line[4096];
    for (int i = 0; i < NPIDS; i++) s.p[i] = read_proc(pids[i]);
    FILE *f = fopen("/proc/stat", "r");
    if (f && fgets(line, sizeof line, f)) {
        long v[10] = {0};
        sscanf(line, "cpu %ld %ld %ld %ld %ld %ld %ld %ld", &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8]);
        s.busy = v[1] + v[2] + v[3] + v[6] + v[7] + v[8];
    }
    if (f) fclose(f);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    s.own = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    return s;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void publish(Conn *pub, long seq) {
    char msg[4600];
    int k = snprintf(msg, sizeof msg, "42[\"publish\",\"bench\",{\"t\":%.4f,\"s\":%ld,\"p\":\"%s\"}]",
                     now_ms(), seq, pad);
    send_text(pub, msg, (size_t)k);
}

int main(int argc, char **argv) {
    if (argc != 13 && argc != 16) {
        fprintf(stderr, "usage: fanout <scenario> <host> <port> <pid> <n> <publishes> <warmup> "
                        "<concurrency> <rate> <timeout ms> <clk_tck> <pad> "
                        "[<publisher port> <publisher pid> <redis pid>]\n");
        return 2;
    }
    overload_mode = strcmp(argv[1], "overload") == 0;
    cluster_mode = argc == 16;
    const char *host = argv[2];
    int port = atoi(argv[3]);
    pids[P_SERVER] = atol(argv[4]);
    int pub_port = cluster_mode ? atoi(argv[13]) : port;
    if (cluster_mode) {
        pids[P_PUBLISHER] = atol(argv[14]);
        pids[P_REDIS] = atol(argv[15]);
    }
    n_clients = atoi(argv[5]);
    long publishes = atol(argv[6]);
    warmup_n = overload_mode ? 0 : atoi(argv[7]);
    int concurrency = atoi(argv[8]);
    double rate = atof(argv[9]);
    double timeout_ms = atof(argv[10]);
    double clk_tck = atof(argv[11]);
    int padn = atoi(argv[12]);
    if (padn >= (int)sizeof pad) padn = sizeof pad - 1;
    memset(pad, 'x', (size_t)padn);
    srand((unsigned)time(NULL));
    static char hh[128];
    snprintf(hh, sizeof hh, "%s:%d", host, port);
    host_header = hh;
    static char phh[128];
    snprintf(phh, sizeof phh, "%s:%d", host, pub_port);
    pub_host_header = phh;

    total_publishes = warmup_n + publishes;
    counts = calloc((size_t)total_publishes, sizeof *counts);
    lat = malloc(sizeof(double) * (size_t)n_clients * (size_t)total_publishes);
    conns = calloc((size_t)n_clients + 1, sizeof *conns);
    if (!counts || !lat || !conns) fail("out of memory");
    epfd = epoll_create1(0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &addr.sin_addr);
    struct sockaddr_in pub_addr = addr;
    pub_addr.sin_port = htons((uint16_t)pub_port);

    /* connect and join, <concurrency> at a time */
    char text[160];
    int started = 0;
    double deadline = now_ms() + 120000;
    while (ready_count < n_clients) {
        while (started < n_clients && started - ready_count < concurrency) start_conn(&conns[started++], &addr, 0);
        pump(50);
        if (dead_count) fail("a client's connection ended while connecting");
        snprintf(text, sizeof text, "%s connect %d/%d",
                 overload_mode ? "overload" : cluster_mode ? "cluster" : "fanout(websocket)", ready_count,
                 n_clients);
        progress(text);
        if (now_ms() > deadline) fail("clients did not connect in time");
    }
    nconns = n_clients + 1;
    Conn *pub = &conns[n_clients];
    start_conn(pub, &pub_addr, 1);
    while (ready_count < n_clients + 1) {
        pump(50);
        if (now_ms() > deadline) fail("publisher did not connect in time");
    }

    Snap a = {0}, b = {0};
    long timeouts = 0;
    double published_in = 0;
    if (!overload_mode) {
        for (long s = 0; s < total_publishes; s++) {
            if (s == warmup_n) a = snapshot();
            publish(pub, s);
            double until = now_ms() + timeout_ms;
            while (counts[s] < (uint32_t)n_clients && now_ms() < until) pump(10);
            if (counts[s] < (uint32_t)n_clients && s >= warmup_n && ++timeouts >= 3) break;
            snprintf(text, sizeof text, "%s n=%d publish %ld/%ld",
                     cluster_mode ? "cluster" : "fanout(websocket)", n_clients,
                     s - warmup_n + 1 > 0 ? s - warmup_n + 1 : 0, publishes);
            progress(text);
        }
        b = snapshot();
        long expected = (long)n_clients * publishes;
        for (int i = 0; i < 20 && lat_count < expected; i++) pump(100); /* late, not lost */
    } else {
        for (int w = 0; w < 3; w++) { /* warm-up publishes are not counted (s < 0) */
            char msg[4600];
            int k = snprintf(msg, sizeof msg, "42[\"publish\",\"bench\",{\"t\":%.4f,\"s\":%d,\"p\":\"%s\"}]",
                             now_ms(), -1 - w, pad);
            send_text(pub, msg, (size_t)k);
            double until = now_ms() + 50;
            while (now_ms() < until) pump(5);
        }
        double until = now_ms() + 200;
        while (now_ms() < until) pump(10);
        a = snapshot();
        double interval = 1000.0 / rate, start = now_ms();
        long k = 0;
        while (k < publishes) {
            long due = (long)floor((now_ms() - start) / interval) + 1;
            if (due > publishes) due = publishes;
            while (k < due) publish(pub, k++);
            double next = start + k * interval - now_ms();
            pump(next > 0 ? (int)ceil(next) : 0);
            snprintf(text, sizeof text, "overload n=%d %.0f/s published %ld/%ld, delivered %ld", n_clients, rate,
                     k, publishes, lat_count);
            progress(text);
        }
        published_in = (now_ms() - start) / 1000.0;
        double drain_until = now_ms() + timeout_ms;
        while (complete_count < publishes && now_ms() < drain_until) {
            pump(10);
            snprintf(text, sizeof text, "overload draining: delivered %ld/%ld", lat_count,
                     (long)n_clients * publishes);
            progress(text);
        }
        b = snapshot();
    }

    long expected = (long)n_clients * publishes;
    long delivered = lat_count < expected ? lat_count : expected;
    double wall = (b.t - a.t) / 1000.0;
    double own = b.own - a.own;
    /* per measured process: ticks (user, kernel), run time (schedstat, or ticks without it) */
    double user[NPIDS], sys[NPIDS], ticks[NPIDS], sched[NPIDS], cpu[NPIDS];
    for (int i = 0; i < NPIDS; i++) {
        user[i] = (double)(b.p[i].utime - a.p[i].utime) / clk_tck;
        sys[i] = (double)(b.p[i].stime - a.p[i].stime) / clk_tck;
        ticks[i] = user[i] + sys[i];
        sched[i] = (b.p[i].sched_ns - a.p[i].sched_ns) / 1e9;
        cpu[i] = sched[i] > 0 ? sched[i] : ticks[i];
    }
    /* the figures named server_* are of every server of the case: both nodes in a cluster */
    double server_ticks = ticks[P_SERVER] + ticks[P_PUBLISHER];
    double sched_s = sched[P_SERVER] + sched[P_PUBLISHER];
    double server_cpu = cpu[P_SERVER] + cpu[P_PUBLISHER];
    double user_s = user[P_SERVER] + user[P_PUBLISHER], sys_s = sys[P_SERVER] + sys[P_PUBLISHER];
    int redis_ok = a.p[P_REDIS].ok && b.p[P_REDIS].ok;
    double other = (double)(b.busy - a.busy) / clk_tck - server_ticks - own - (redis_ok ? ticks[P_REDIS] : 0);
    qsort(lat, (size_t)lat_count, sizeof(double), cmp_double);
    double p50 = lat_count ? lat[(long)(0.5 * lat_count)] : NAN;
    double p99 = lat_count ? lat[(long)(0.99 * lat_count) < lat_count ? (long)(0.99 * lat_count) : lat_count - 1] : NAN;
    double mx = lat_count ? lat[lat_count - 1] : NAN;
    long d = delivered > 0 ? delivered : 1;
    printf("{\"type\":\"result\",\"result\":{\"generator\":\"c\",\"wall_s\":%.6f,\"other_load\":%.4f,"
           "\"server_util\":%.4f,\"server_cpu_s\":%.4f,\"server_user_s\":%.4f,\"server_sys_s\":%.4f,"
           "\"server_cpu_sched_s\":%.6f,\"loadgen_cpu_s\":%.6f,\"loadgen_util\":%.4f,\"n\":%d,"
           "\"publishes\":%ld,\"delivered\":%ld,\"lost\":%ld,\"out_of_order\":%ld,\"publish_timeouts\":%ld,"
           "\"deliveries_per_s\":%.3f,\"cpu_us_per_delivery\":%.4f,\"user_us_per_delivery\":%.4f,"
           "\"sys_us_per_delivery\":%.4f,\"p50_ms\":%.4f,\"p99_ms\":%.4f,\"max_ms\":%.4f",
           wall, wall > 0 && other > 0 ? other / wall : 0, wall > 0 ? server_ticks / wall : 0, server_ticks,
           user_s, sys_s, sched_s, own, wall > 0 ? own / wall : 0, n_clients, publishes, delivered,
           expected - delivered, disorder, timeouts, delivered / wall, server_cpu * 1e6 / d, user_s * 1e6 / d,
           sys_s * 1e6 / d, p50, p99, mx);
    if (overload_mode)
        printf(",\"rate\":%.1f,\"publish_rate_achieved\":%.3f", rate, published_in > 0 ? publishes / published_in : 0);
    if (cluster_mode) {
        /* _a: node A (the publisher's server), _b: node B (the receivers' server) */
        const int node[2] = {P_PUBLISHER, P_SERVER};
        const char *suffix[2] = {"a", "b"};
        for (int k = 0; k < 2; k++) {
            int i = node[k];
            printf(",\"server_cpu_s_%s\":%.4f,\"server_cpu_sched_s_%s\":%.6f,\"server_util_%s\":%.4f,"
                   "\"cpu_us_per_delivery_%s\":%.4f,\"user_us_per_delivery_%s\":%.4f,"
                   "\"sys_us_per_delivery_%s\":%.4f",
                   suffix[k], ticks[i], suffix[k], sched[i], suffix[k], wall > 0 ? ticks[i] / wall : 0,
                   suffix[k], cpu[i] * 1e6 / d, suffix[k], user[i] * 1e6 / d, suffix[k], sys[i] * 1e6 / d);
        }
        if (redis_ok)
            printf(",\"redis_cpu_s\":%.6f,\"redis_util\":%.4f,\"redis_us_per_delivery\":%.4f",
                   cpu[P_REDIS], wall > 0 ? cpu[P_REDIS] / wall : 0, cpu[P_REDIS] * 1e6 / d);
        else
            printf(",\"redis_cpu_s\":null,\"redis_util\":null,\"redis_us_per_delivery\":null");
    }
    printf("}}\n");
    fflush(stdout);
    for (int i = 0; i < nconns; i++)
        if (conns[i].fd >= 0) close(conns[i].fd);
    return 0;
}
