/*
 * sflow_send: replay a fabricscope benchmark corpus (bench/fabric_corpus.py) over UDP with
 * sendmmsg, paced to an offered rate for a fixed time.
 *
 * Before each datagram goes out it gets the next datagram sequence number of its agent, an
 * uptime that follows the wall clock, and every sample the next sequence number of its
 * (agent, kind, data source) stream (flow samples also a pool of sequence x sampling rate), so
 * a collector sees switches whose counters keep advancing however often the corpus repeats.
 * Each agent sends from a source address of its own (127.0.X.Y, set per message with
 * IP_PKTINFO), so SO_REUSEPORT hashing spreads agents over a collector's sockets.
 *
 *   sflow_send --corpus FILE --dest 127.0.0.1:PORT --rate N --seconds S
 *              [--max-datagrams N] [--batch N] [--state FILE]
 *
 * --state FILE keeps the counters between runs (read if present, written at the end), so the
 * steps of a ramp carry on the same sequences. Prints one line of key=value counts.
 * Every loop is bounded: by --seconds and --max-datagrams, and retries by the same deadline.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_BATCH 256
#define STATE_MAGIC 0x46534253u /* "FSBS" */

struct sample {
    uint16_t offset;
    uint8_t format;
    uint8_t pool_offset;
    uint32_t stream;
    uint32_t rate;
};

struct datagram {
    uint32_t agent;
    uint16_t length, nsamples, seq_offset, uptime_offset;
    uint32_t first_sample;
    uint8_t *data;
    uint32_t kinds[4]; /* flow compact, flow expanded, counter, drop */
};

static uint32_t n_datagrams, n_agents, n_streams;
static uint32_t *agent_seq, *uptime_base, *stream_seq;
static struct datagram *datagrams;
static struct sample *samples;

static void die(const char *what) {
    fprintf(stderr, "sflow_send: %s\n", what);
    exit(2);
}

static uint32_t rd32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static void wr_be32(uint8_t *p, uint32_t v) {
    v = htonl(v);
    memcpy(p, &v, 4);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int kind_index(uint8_t format) {
    switch (format) {
    case 1: return 0;
    case 3: return 1;
    case 2: case 4: return 2;
    case 5: return 3;
    default: return -1;
    }
}

static void load_corpus(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) die("cannot open the corpus");
    if (fseek(f, 0, SEEK_END) != 0) die("cannot size the corpus");
    long size = ftell(f);
    if (size < 24 || size > (1L << 31)) die("corpus size out of range");
    rewind(f);
    uint8_t *buf = malloc((size_t)size);
    if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) die("cannot read the corpus");
    fclose(f);
    if (memcmp(buf, "FSBCORP1", 8) != 0) die("not a corpus file (magic)");
    n_datagrams = rd32(buf + 8);
    n_agents = rd32(buf + 12);
    n_streams = rd32(buf + 16);
    if (!n_datagrams || !n_agents || n_agents > (1u << 16) || n_streams > (1u << 26)) die("bad header");
    size_t pos = 24;
    size_t need = 4ul * (2ul * n_agents + n_streams);
    if (pos + need > (size_t)size) die("truncated tables");
    agent_seq = malloc(4ul * n_agents);
    uptime_base = malloc(4ul * n_agents);
    stream_seq = malloc(4ul * (n_streams ? n_streams : 1));
    datagrams = calloc(n_datagrams, sizeof *datagrams);
    /* A datagram holds at most 1,400 / 8 samples; a count per datagram bounds the table. */
    samples = malloc(sizeof *samples * (size_t)n_datagrams * 64);
    if (!agent_seq || !uptime_base || !stream_seq || !datagrams || !samples) die("out of memory");
    for (uint32_t i = 0; i < n_agents; i++) agent_seq[i] = rd32(buf + pos + 4 * i);
    pos += 4ul * n_agents;
    for (uint32_t i = 0; i < n_agents; i++) uptime_base[i] = rd32(buf + pos + 4 * i);
    pos += 4ul * n_agents;
    for (uint32_t i = 0; i < n_streams; i++) stream_seq[i] = rd32(buf + pos + 4 * i);
    pos += 4ul * n_streams;
    uint32_t next_sample = 0;
    for (uint32_t d = 0; d < n_datagrams; d++) {
        struct datagram *g = &datagrams[d];
        if (pos + 12 > (size_t)size) die("truncated entry");
        g->agent = rd32(buf + pos);
        g->length = rd16(buf + pos + 4);
        g->nsamples = rd16(buf + pos + 6);
        g->seq_offset = rd16(buf + pos + 8);
        g->uptime_offset = rd16(buf + pos + 10);
        pos += 12;
        if (g->agent >= n_agents || g->nsamples > 64) die("bad entry");
        if (g->seq_offset + 4u > g->length || g->uptime_offset + 4u > g->length) die("bad offsets");
        if (pos + 12ul * g->nsamples + g->length > (size_t)size) die("truncated entry");
        g->first_sample = next_sample;
        for (uint32_t s = 0; s < g->nsamples; s++) {
            struct sample *p = &samples[next_sample++];
            const uint8_t *q = buf + pos + 12ul * s;
            p->offset = rd16(q);
            p->format = q[2];
            p->pool_offset = q[3];
            p->stream = rd32(q + 4);
            p->rate = rd32(q + 8);
            int k = kind_index(p->format);
            if (k < 0 || p->stream >= n_streams) die("bad sample entry");
            if (p->offset + 4u > g->length || p->offset + p->pool_offset + 4u > g->length) die("bad sample offset");
            g->kinds[k]++;
        }
        pos += 12ul * g->nsamples;
        g->data = buf + pos; /* patched in place: the buffer is ours */
        pos += g->length;
    }
    if (pos != (size_t)size) die("trailing bytes in the corpus");
}

struct state_head {
    uint32_t magic, agents, streams, datagrams;
    uint64_t elapsed_ms, position;
};

static uint64_t load_state(const char *path, uint64_t *position) {
    struct state_head h;
    FILE *f = fopen(path, "rb");
    if (!f) return 0; /* first run */
    if (fread(&h, sizeof h, 1, f) != 1 || h.magic != STATE_MAGIC || h.agents != n_agents ||
        h.streams != n_streams || h.datagrams != n_datagrams) {
        fclose(f);
        fprintf(stderr, "sflow_send: state file does not match the corpus, starting afresh\n");
        return 0;
    }
    if (fread(agent_seq, 4, n_agents, f) != n_agents || fread(stream_seq, 4, n_streams, f) != n_streams)
        die("truncated state file");
    fclose(f);
    *position = h.position % n_datagrams;
    return h.elapsed_ms;
}

static void save_state(const char *path, uint64_t elapsed_ms, uint64_t position) {
    struct state_head h = {STATE_MAGIC, n_agents, n_streams, n_datagrams, elapsed_ms, position};
    FILE *f = fopen(path, "wb");
    if (!f) die("cannot write the state file");
    if (fwrite(&h, sizeof h, 1, f) != 1 || fwrite(agent_seq, 4, n_agents, f) != n_agents ||
        fwrite(stream_seq, 4, n_streams, f) != n_streams)
        die("cannot write the state file");
    fclose(f);
}

/* Write the next sequence numbers and the uptime into datagram d. */
static void patch(struct datagram *g, uint32_t uptime_ms) {
    uint8_t *p = g->data;
    wr_be32(p + g->seq_offset, ++agent_seq[g->agent]);
    wr_be32(p + g->uptime_offset, uptime_base[g->agent] + uptime_ms);
    for (uint32_t i = 0; i < g->nsamples; i++) {
        struct sample *s = &samples[g->first_sample + i];
        uint32_t seq = ++stream_seq[s->stream];
        wr_be32(p + s->offset, seq);
        if (s->pool_offset) wr_be32(p + s->offset + s->pool_offset, seq * s->rate);
    }
}

static void sleep_until(double t) {
    struct timespec ts;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    if (ts.tv_nsec >= 1000000000L) ts.tv_nsec = 999999999L;
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

int main(int argc, char **argv) {
    const char *corpus = NULL, *dest = NULL, *state = NULL;
    double rate = 0, seconds = 0;
    uint64_t max_datagrams = 0;
    int batch = 32;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--corpus")) corpus = argv[i + 1];
        else if (!strcmp(argv[i], "--dest")) dest = argv[i + 1];
        else if (!strcmp(argv[i], "--rate")) rate = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--max-datagrams")) max_datagrams = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--batch")) batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--state")) state = argv[i + 1];
        else die("unknown option");
    }
    if (!corpus || !dest || rate <= 0 || seconds <= 0 || seconds > 3600) die("need --corpus --dest --rate --seconds (<= 3600)");
    if (batch < 1 || batch > MAX_BATCH) die("--batch must be 1..256");
    load_corpus(corpus);
    if ((uint32_t)batch > n_datagrams) batch = (int)n_datagrams; /* a batch never holds a datagram twice */
    if (!max_datagrams) max_datagrams = (uint64_t)(rate * seconds) + 1;

    char host[64];
    const char *colon = strrchr(dest, ':');
    if (!colon || (size_t)(colon - dest) >= sizeof host) die("--dest HOST:PORT");
    memcpy(host, dest, (size_t)(colon - dest));
    host[colon - dest] = 0;
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    if (inet_pton(AF_INET, host, &to.sin_addr) != 1) die("--dest must be an IPv4 address");

    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) die("socket");
    int sndbuf = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    struct sockaddr_in me = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &me.sin_addr);
    if (bind(fd, (struct sockaddr *)&me, sizeof me) != 0) die("bind 127.0.0.1");

    /* Agent a sends from 127.0.(1 + a / 250).(1 + a % 250): loopback, one address per agent. */
    struct in_addr *src = malloc(sizeof *src * n_agents);
    if (!src) die("out of memory");
    for (uint32_t a = 0; a < n_agents; a++)
        src[a].s_addr = htonl(0x7F000000u | (1 + a / 250) << 8 | (1 + a % 250));

    static struct mmsghdr msgs[MAX_BATCH];
    static struct iovec iov[MAX_BATCH];
    static char cbuf[MAX_BATCH][CMSG_SPACE(sizeof(struct in_pktinfo))];
    uint64_t position = 0, elapsed_before = state ? load_state(state, &position) : 0;
    uint64_t sent = 0, kinds[4] = {0}, errors = 0, lost_patched = 0;
    double start = now_s(), deadline = start + seconds;
    while (sent < max_datagrams) {
        double t = now_s();
        if (t >= deadline) break;
        uint64_t due = (uint64_t)((t - start) * rate) + 1;
        if (due > max_datagrams) due = max_datagrams;
        if (due <= sent) {
            /* Ahead of the rate: wake when a batch is due, at most 1 ms later. */
            double wake = start + (double)(sent + (uint64_t)batch) / rate;
            if (wake > t + 0.001) wake = t + 0.001;
            if (wake > deadline) wake = deadline;
            sleep_until(wake);
            continue;
        }
        int k = (int)((due - sent) < (uint64_t)batch ? (due - sent) : (uint64_t)batch);
        uint32_t uptime = (uint32_t)(elapsed_before + (uint64_t)((t - start) * 1000));
        for (int i = 0; i < k; i++) {
            struct datagram *g = &datagrams[(position + (uint64_t)i) % n_datagrams];
            patch(g, uptime);
            iov[i].iov_base = g->data;
            iov[i].iov_len = g->length;
            memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
            msgs[i].msg_hdr.msg_name = &to;
            msgs[i].msg_hdr.msg_namelen = sizeof to;
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_control = cbuf[i];
            msgs[i].msg_hdr.msg_controllen = sizeof cbuf[i];
            struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[i].msg_hdr);
            c->cmsg_level = IPPROTO_IP;
            c->cmsg_type = IP_PKTINFO;
            c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
            struct in_pktinfo info = {.ipi_ifindex = 0, .ipi_spec_dst = src[g->agent]};
            memcpy(CMSG_DATA(c), &info, sizeof info);
        }
        int done = 0;
        while (done < k) {
            int r = sendmmsg(fd, msgs + done, (unsigned)(k - done), 0);
            if (r > 0) {
                done += r;
                continue;
            }
            if (r < 0 && errno != EINTR && errno != EAGAIN && errno != ENOBUFS) {
                perror("sflow_send: sendmmsg");
                exit(2);
            }
            errors++;
            if (now_s() >= deadline) break; /* retries end with the run */
            sleep_until(now_s() + 0.00005);
        }
        for (int i = 0; i < done; i++) {
            struct datagram *g = &datagrams[(position + (uint64_t)i) % n_datagrams];
            for (int j = 0; j < 4; j++) kinds[j] += g->kinds[j];
        }
        lost_patched += (uint64_t)(k - done); /* patched but never sent: a gap downstream */
        position = (position + (uint64_t)k) % n_datagrams;
        sent += (uint64_t)done;
        if (done < k) break;
    }
    double elapsed = now_s() - start;
    if (state) save_state(state, elapsed_before + (uint64_t)(elapsed * 1000) + 1, position);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("datagrams=%llu flow=%llu flow-expanded=%llu counter=%llu drop=%llu seconds=%.3f "
           "rate=%.0f send_retries=%llu unsent=%llu utime=%.3f stime=%.3f\n",
           (unsigned long long)sent, (unsigned long long)kinds[0], (unsigned long long)kinds[1],
           (unsigned long long)kinds[2], (unsigned long long)kinds[3], elapsed,
           elapsed > 0 ? sent / elapsed : 0.0, (unsigned long long)errors,
           (unsigned long long)lost_patched, ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
           ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
    close(fd);
    return 0;
}
