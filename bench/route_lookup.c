/*
 * bench-route-lookup: how the route table scales with the number of hostnames.
 *
 *   bench-route-lookup [--sizes 10,1000,10000,100000,1000000] [--lookups N] [--quick]
 *
 * For each size it generates hostnames shaped like real ones ("proj123-web-a8k2m9x1.
 * hostess.run") with a fixed-seed PRNG, makes one route group per 4 hosts (a service: its
 * hosts on ports 0 and 1 of one shared route set), builds a table with route_table_new()
 * and route_table_insert() (timed), counts its memory (route_table_memory() plus the
 * groups and sets), then times lookups with clock_gettime over a query list of
 * random hits, random misses (same shape, absent), and hits preceded by
 * hostname_normalise() of a "Host: Name.Example:8080"-style value (what a request pays).
 * The query list is walked sequentially so that, as in a real request whose Host header
 * is hot in cache, the cost measured is the table's, not the list's. Each figure is the
 * best of several rounds (the least disturbed by other processes).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "router/base/hostname.h"
#include "router/route_table.h"

#define NAME_STRIDE 48           /* "proj1234567-worker-xxxxxxxx.hostess.run" fits */
#define NQUERY      (1u << 16)   /* query list entries, walked round-robin */
#define ROUNDS      5
#define NTARGETS    4
#define PER_GROUP   4            /* hosts per route group (a service) */
#define NPORTS      2            /* ports per route set; host i uses port i % NPORTS */
#define PER_PORT    2            /* targets per port */
/* Heap bytes of one group and one set, as route_table.c lays them out (the types are
 * opaque here): a group is one atomic pointer; a set is a 24-byte header (nports, room,
 * used, targets pointer), then its routes, then its targets. */
#define GROUP_BYTES sizeof(void *)
#define SET_BYTES \
    (24 + NPORTS * sizeof(struct route) + NPORTS * PER_PORT * sizeof(struct target))

struct names {
    char    *buf;                /* n * NAME_STRIDE bytes */
    uint8_t *len;
    size_t   n;
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng_next(void) /* splitmix64: deterministic, fast, good enough */
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (p == NULL) {
        fprintf(stderr, "bench-route-lookup: out of memory\n");
        exit(1);
    }
    return p;
}

/* "proj<i/3>-<svc>-<8 base36>.hostess.run": a few services per project, random suffix. */
static size_t make_name(char *out, size_t i)
{
    static const char *const svc[] = {"web", "api", "worker", "admin"};
    static const char alnum[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    char suffix[9];
    uint64_t r = rng_next();
    for (int k = 0; k < 8; k++, r /= 36)
        suffix[k] = alnum[r % 36];
    suffix[8] = '\0';
    int n = snprintf(out, NAME_STRIDE, "proj%zu-%s-%s.hostess.run", i / 3, svc[i % 4], suffix);
    return (size_t)n;
}

static void names_make(struct names *nm, size_t n)
{
    nm->n = n;
    nm->buf = xcalloc(n, NAME_STRIDE);
    nm->len = xcalloc(n, 1);
    for (size_t i = 0; i < n; i++)
        nm->len[i] = (uint8_t)make_name(nm->buf + i * NAME_STRIDE, i);
}

static void names_free(struct names *nm)
{
    free(nm->buf);
    free(nm->len);
}

/* Best-of-ROUNDS ns per lookup over lookups queries from q (NQUERY names). */
static double time_lookups(const struct route_table *t, const struct names *q, size_t lookups,
                           int normalise, size_t *found)
{
    double best = 1e300;
    char norm[HOSTNAME_MAX + 1];

    for (int round = 0; round < ROUNDS; round++) {
        size_t hits = 0;
        double t0 = now_ns();
        for (size_t i = 0, j = 0; i < lookups; i++, j = (j + 1) & (NQUERY - 1)) {
            const char *h = q->buf + j * NAME_STRIDE;
            size_t hl = q->len[j];
            if (normalise) {
                int r = hostname_normalise(h, hl, norm);
                if (r < 0)
                    continue;
                h = norm, hl = (size_t)r;
            }
            hits += route_table_lookup(t, h, hl) != NULL;
        }
        double dt = (now_ns() - t0) / (double)lookups;
        if (dt < best)
            best = dt;
        *found = hits;
    }
    return best;
}

static void bench_size(size_t n, size_t lookups, const struct target *targets)
{
    struct names nm, hit, hitn, miss, hot;
    size_t found;

    rng_state = 0x9e3779b97f4a7c15ull ^ n;
    names_make(&nm, n);

    /* The groups and their sets are made before the build (the control has them from its
     * model); the build creates the table, publishes each set and inserts the hosts. */
    size_t ngroups = (n + PER_GROUP - 1) / PER_GROUP;
    struct route_group **groups = xcalloc(ngroups, sizeof(*groups));
    struct route_set **sets = xcalloc(ngroups, sizeof(*sets));
    for (size_t g = 0; g < ngroups; g++) {
        sets[g] = route_set_new(NPORTS, NPORTS * PER_PORT, g);
        groups[g] = route_group_new();
        if (sets[g] == NULL || groups[g] == NULL) {
            fprintf(stderr, "bench-route-lookup: out of memory\n");
            exit(1);
        }
        for (uint32_t p = 0; p < NPORTS; p++) /* port p: targets[(g + p) % 4] and the next */
            if (route_set_fill(sets[g], p, &targets[(g + p) % NTARGETS], PER_PORT) != 0)
                exit(1);
    }

    double t0 = now_ns();
    struct route_table *t = route_table_new(NULL, n);
    if (t == NULL) {
        fprintf(stderr, "bench-route-lookup: out of memory\n");
        exit(1);
    }
    for (size_t g = 0; g < ngroups; g++)
        route_group_publish(t, groups[g], sets[g]);
    for (size_t i = 0; i < n; i++) {
        int r = route_table_insert(t, nm.buf + i * NAME_STRIDE, nm.len[i],
                                   groups[i / PER_GROUP], (uint32_t)(i % NPORTS));
        if (r == -EEXIST)
            continue; /* a duplicate random suffix: harmless */
        if (r != 0) {
            fprintf(stderr, "bench-route-lookup: insert %s: %d\n", nm.buf + i * NAME_STRIDE, r);
            exit(1);
        }
    }
    double build_ns = now_ns() - t0;
    size_t count = route_table_count(t);
    size_t mem = route_table_memory(t) + ngroups * (GROUP_BYTES + SET_BYTES);

    hit.n = hitn.n = miss.n = NQUERY;
    hit.buf = xcalloc(NQUERY, NAME_STRIDE), hit.len = xcalloc(NQUERY, 1);
    hitn.buf = xcalloc(NQUERY, NAME_STRIDE), hitn.len = xcalloc(NQUERY, 1);
    for (size_t j = 0; j < NQUERY; j++) {
        size_t i = (size_t)(rng_next() % n);
        memcpy(hit.buf + j * NAME_STRIDE, nm.buf + i * NAME_STRIDE, NAME_STRIDE);
        hit.len[j] = nm.len[i];
        /* the same host in mixed case with a port: "Proj1-Web-….Hostess.Run:8080" */
        char *o = hitn.buf + j * NAME_STRIDE;
        memcpy(o, nm.buf + i * NAME_STRIDE, nm.len[i]);
        o[0] = 'P';
        memcpy(o + nm.len[i] - 11, "Hostess.Run:8080", 16);
        hitn.len[j] = (uint8_t)(nm.len[i] + 5);
    }
    names_make(&miss, NQUERY); /* same shape, fresh suffixes: absent (checked below) */
    /* A busy edge's working set: 1,000 active hosts out of all n. The same working set at
     * every table size shows whether the table itself slows down; the uniform column
     * above measures the memory system once the table outgrows the caches. */
    hot.n = NQUERY;
    hot.buf = xcalloc(NQUERY, NAME_STRIDE), hot.len = xcalloc(NQUERY, 1);
    size_t hotset[1000];
    for (size_t k = 0; k < 1000; k++)
        hotset[k] = (size_t)(rng_next() % n);
    for (size_t j = 0; j < NQUERY; j++) {
        size_t i = hotset[rng_next() % 1000];
        memcpy(hot.buf + j * NAME_STRIDE, nm.buf + i * NAME_STRIDE, NAME_STRIDE);
        hot.len[j] = nm.len[i];
    }

    double hit_ns = time_lookups(t, &hit, lookups, 0, &found);
    size_t hits_found = found;
    double norm_ns = time_lookups(t, &hitn, lookups, 1, &found);
    size_t norm_found = found;
    double hot_ns = time_lookups(t, &hot, lookups, 0, &found);
    size_t hot_found = found;
    double miss_ns = time_lookups(t, &miss, lookups, 0, &found);

    printf("%9zu %10.1f %9.0f %11.2f %10.1f %8.1f %8.1f %8.1f %11.1f%s\n", count,
           build_ns / 1e6, build_ns / (double)n, (double)mem / (1024.0 * 1024.0),
           (double)mem / (double)count, hot_ns, hit_ns, miss_ns, norm_ns,
           (hits_found != lookups || norm_found != lookups || hot_found != lookups || found != 0)
               ? "  (!)" : "");
    if (hits_found != lookups || norm_found != lookups || found != 0)
        fprintf(stderr, "bench-route-lookup: %zu hosts: expected %zu hits, got %zu (%zu after "
                        "normalise) and %zu false hits on misses\n",
                n, lookups, hits_found, norm_found, found);
    for (size_t g = 0; g < ngroups; g++)
        route_group_free(t, groups[g]);
    route_table_free(t);
    free(groups);
    free(sets);
    names_free(&nm), names_free(&hit), names_free(&hitn), names_free(&miss), names_free(&hot);
}

static void usage(void)
{
    fprintf(stderr, "usage: bench-route-lookup [--sizes N,N,...] [--lookups N] [--quick]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    size_t sizes[16] = {10, 1000, 10000, 100000, 1000000}, nsizes = 5;
    size_t lookups = 2000000;
    struct target targets[NTARGETS + 1];
    char *end;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            nsizes = 3, lookups = 200000;
        } else if (strcmp(argv[i], "--lookups") == 0 && i + 1 < argc) {
            lookups = strtoul(argv[++i], &end, 10);
            if (*end != '\0' || lookups == 0)
                usage();
        } else if (strcmp(argv[i], "--sizes") == 0 && i + 1 < argc) {
            nsizes = 0;
            for (char *p = argv[++i]; *p != '\0' && nsizes < 16; p = *end ? end + 1 : end) {
                sizes[nsizes] = strtoul(p, &end, 10);
                if ((*end != ',' && *end != '\0') || sizes[nsizes] == 0)
                    usage();
                nsizes++;
            }
        } else {
            usage();
        }
    }

    memset(targets, 0, sizeof(targets));
    for (int k = 0; k <= NTARGETS; k++) { /* route i gets targets[i % 4] and the next one */
        struct sockaddr_in *sin = &targets[k].addr.in;
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)(9001 + k % NTARGETS));
        sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        targets[k].salen = sizeof(*sin);
        targets[k].slot = (uint32_t)(k % NTARGETS);
    }

    printf("route table: %zu lookups per figure, best of %d rounds, %u-name query lists\n\n",
           lookups, ROUNDS, NQUERY);
    printf("%9s %10s %9s %11s %10s %8s %8s %8s %11s\n", "hosts", "build ms", "ns/host",
           "memory MiB", "bytes/host", "hot1k ns", "hit ns", "miss ns", "norm+hit ns");
    for (size_t s = 0; s < nsizes; s++)
        bench_size(sizes[s], lookups, targets);
    return 0;
}
