/*
 * bench-route-swap: the blue/green promote at scale, while reader threads look hosts up.
 *
 *   bench-route-swap [-n hosts] [-r readers] [-k iterations] [-b batch]
 *
 * Loads n hostnames (default 1,000,000) as services of 4 hosts each: two stable hosts
 * (ports 1 and 2 of the service's group) and two hosts of its current deployment (ports 1
 * and 2 of the deployment's group). The table has a real epoch domain with r reader
 * threads (default 2), started once the load is done; each loops: epoch_quiescent(), a batch of lookups of random loaded
 * hosts, then a lookup of one watched stable host, whose route tag it publishes in an
 * atomic of its own.
 *
 * The writer (main thread) then:
 *   - promotes k times (default 1000): route_group_publish() of a new set with a new tag
 *     to the watched service's group. "publish -> visible" runs from just before the
 *     publish until the last reader sees the new tag (each reader reads the clock when
 *     the tag it sees changes, then wakes the writer); "publish cost" is the publish
 *     call alone, as the writer pays it;
 *   - adds and removes a fresh service k times with n hosts loaded: "add service" is two
 *     groups with their sets and 4 inserts, "remove service" is 4 removes and freeing the
 *     two groups.
 * It calls epoch_reclaim() after every step. Times are clock_gettime(CLOCK_MONOTONIC).
 * Memory: VmRSS before and after the load, and route_table_memory().
 *
 * With more reader threads than free cores, "publish -> visible" measures the scheduler:
 * a reader that is not running sees nothing.
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "router/base/epoch.h"
#include "router/route_table.h"

#define NAME_STRIDE 48 /* "s1234567-xxxxxxxx-dddddd-p2.hostess.run" fits */
#define REPLICAS    2  /* targets per port */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t splitmix(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void die(const char *what)
{
    fprintf(stderr, "bench-route-swap: %s\n", what);
    exit(1);
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (p == NULL)
        die("out of memory");
    return p;
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kib = strtol(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    return kib;
}

/* --- services -------------------------------------------------------------------------- */

/* The 4 names of service s, in NAME_STRIDE-byte slots of out; lengths in len. Host 0 and
 * 1 are stable (ports 0 and 1 of its group), 2 and 3 its deployment's (ports 0 and 1). */
static void service_names(size_t s, uint64_t *rng, char *out, uint8_t *len)
{
    static const char alnum[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    char name[9], dep[7];
    uint64_t r = splitmix(rng);
    for (int k = 0; k < 8; k++, r /= 36)
        name[k] = alnum[r % 36];
    name[8] = '\0';
    r = splitmix(rng);
    for (int k = 0; k < 6; k++, r /= 36)
        dep[k] = alnum[r % 36];
    dep[6] = '\0';
    static const char *const fmt[4] = {"s%zu-%s.hostess.run", "s%zu-%s-p2.hostess.run",
                                       "s%zu-%s-%s.hostess.run", "s%zu-%s-%s-p2.hostess.run"};
    for (int h = 0; h < 4; h++) {
        int n = snprintf(out + (size_t)h * NAME_STRIDE, NAME_STRIDE, fmt[h], s, name, dep);
        if (n < 0 || n >= NAME_STRIDE)
            die("name too long");
        len[h] = (uint8_t)n;
    }
}

/* A set for service s: 2 ports of REPLICAS targets each. */
static struct route_set *service_set(size_t s, uint64_t tag)
{
    struct route_set *set = route_set_new(2, 2 * REPLICAS, tag);
    if (set == NULL)
        die("out of memory");
    for (uint32_t p = 0; p < 2; p++) {
        struct target tg[REPLICAS];
        memset(tg, 0, sizeof(tg));
        for (uint32_t k = 0; k < REPLICAS; k++) {
            uint32_t ip = 0x0a000000u | (uint32_t)((s * REPLICAS + k + tag) & 0xffffff);
            tg[k].addr.in.sin_family = AF_INET;
            tg[k].addr.in.sin_addr.s_addr = htonl(ip);
            tg[k].addr.in.sin_port = htons((uint16_t)(3000 + p));
            tg[k].salen = sizeof(struct sockaddr_in);
            tg[k].slot = (uint32_t)((s * REPLICAS + k) * 2 + p);
        }
        if (route_set_fill(set, p, tg, REPLICAS) != 0)
            die("route_set_fill");
    }
    return set;
}

struct service {
    struct route_group *stable, *dep;
};

/* Creates service s's groups with their sets and inserts its 4 hosts. */
static void service_add(struct route_table *t, struct service *sv, size_t s, uint64_t tag,
                        const char *names, const uint8_t *len)
{
    sv->stable = route_group_new();
    sv->dep = route_group_new();
    if (sv->stable == NULL || sv->dep == NULL)
        die("out of memory");
    route_group_publish(t, sv->stable, service_set(s, tag));
    route_group_publish(t, sv->dep, service_set(s, tag));
    for (uint32_t h = 0; h < 4; h++) {
        struct route_group *g = h < 2 ? sv->stable : sv->dep;
        int r = route_table_insert(t, names + (size_t)h * NAME_STRIDE, len[h], g, h & 1);
        if (r != 0) {
            fprintf(stderr, "bench-route-swap: insert %.*s: %d\n", (int)len[h],
                    names + (size_t)h * NAME_STRIDE, r);
            exit(1);
        }
    }
}

static void service_remove(struct route_table *t, struct service *sv, const char *names,
                           const uint8_t *len)
{
    for (uint32_t h = 0; h < 4; h++)
        if (route_table_remove(t, names + (size_t)h * NAME_STRIDE, len[h]) != 0)
            die("remove failed");
    route_group_free(t, sv->stable);
    route_group_free(t, sv->dep);
}

/* --- readers --------------------------------------------------------------------------- */

struct shared {
    struct epoch_domain *ep;
    struct route_table  *t;
    const char          *names; /* nhosts * NAME_STRIDE */
    const uint8_t       *len;
    size_t               nhosts;
    size_t               watched; /* host index */
    size_t               batch;
    atomic_bool          stop;
    sem_t                seen; /* posted by a reader whose watched tag changed */
};

struct reader {
    _Alignas(64) _Atomic uint64_t seen_tag; /* the watched host's tag at the last turn */
    _Atomic uint64_t seen_at;               /* now_ns() when seen_tag last changed */
    struct shared *sh;
    unsigned       id;
    pthread_t      th;
    uint64_t       lookups, misses, sink;
};

static void *reader_main(void *p)
{
    struct reader *rd = p;
    struct shared *sh = rd->sh;
    const char *wname = sh->names + sh->watched * NAME_STRIDE;
    size_t wlen = sh->len[sh->watched];
    uint64_t rng = 0x5eed0000u + rd->id, lookups = 0, misses = 0, sink = 0, last = 0;

    while (!atomic_load_explicit(&sh->stop, memory_order_relaxed)) {
        (void)epoch_quiescent(sh->ep, rd->id);
        for (size_t b = 0; b < sh->batch; b++) {
            size_t i = (size_t)(splitmix(&rng) % sh->nhosts);
            const struct route *r =
                route_table_lookup(sh->t, sh->names + i * NAME_STRIDE, sh->len[i]);
            if (r == NULL)
                misses++;
            else
                sink += r->ntargets;
        }
        const struct route *w = route_table_lookup(sh->t, wname, wlen);
        if (w == NULL) {
            misses++;
        } else if (w->tag != last) {
            /* The reader takes the time: the writer may not be running when it happens. */
            last = w->tag;
            atomic_store_explicit(&rd->seen_at, now_ns(), memory_order_relaxed);
            atomic_store_explicit(&rd->seen_tag, last, memory_order_release);
            sem_post(&sh->seen);
        }
        lookups += sh->batch + 1;
    }
    rd->lookups = lookups, rd->misses = misses, rd->sink = sink;
    return NULL;
}

/* Waits until every reader has published tag; returns the latest time a reader took on
 * seeing it. The writer sleeps on sh->seen (readers post it when their tag changes)
 * rather than spin: with as many readers as cores, a spinning or polling writer takes a
 * core from a reader, and what it would measure is the scheduler's time slice. */
static uint64_t wait_seen(struct shared *sh, struct reader *rd, size_t nreaders, uint64_t tag)
{
    for (;;) {
        size_t i = 0;
        while (i < nreaders && atomic_load_explicit(&rd[i].seen_tag, memory_order_acquire) == tag)
            i++;
        if (i == nreaders)
            break;
        while (sem_wait(&sh->seen) != 0) /* posts for older tags only cause a recheck */
            if (errno != EINTR)
                die("sem_wait");
    }
    uint64_t last = 0;
    for (size_t i = 0; i < nreaders; i++) {
        uint64_t at = atomic_load_explicit(&rd[i].seen_at, memory_order_relaxed);
        last = at > last ? at : last;
    }
    return last;
}

/* --- figures --------------------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Prints p50/p99/max of v[0..n) (sorted here), divided by div. */
static void row(const char *label, uint64_t *v, size_t n, double div, const char *fmt)
{
    qsort(v, n, sizeof(*v), cmp_u64);
    size_t i99 = n * 99 / 100;
    if (i99 >= n)
        i99 = n - 1;
    printf("  %-26s", label);
    printf(fmt, (double)v[n / 2] / div);
    printf(fmt, (double)v[i99] / div);
    printf(fmt, (double)v[n - 1] / div);
    printf("\n");
}

static void usage(void)
{
    fprintf(stderr, "usage: bench-route-swap [-n hosts] [-r readers] [-k iterations] "
                    "[-b batch]\n");
    exit(2);
}

static size_t arg_num(const char *s, size_t min, size_t max)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || end == s || v < min || v > max)
        usage();
    return (size_t)v;
}

int main(int argc, char **argv)
{
    size_t nhosts = 1000000, nreaders = 2, iters = 1000, batch = 64;

    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc)
            usage();
        if (strcmp(argv[i], "-n") == 0)
            nhosts = arg_num(argv[++i], 8, (size_t)1 << 28);
        else if (strcmp(argv[i], "-r") == 0)
            nreaders = arg_num(argv[++i], 1, EPOCH_MAX_READERS);
        else if (strcmp(argv[i], "-k") == 0)
            iters = arg_num(argv[++i], 1, 10000000);
        else if (strcmp(argv[i], "-b") == 0)
            batch = arg_num(argv[++i], 1, 1000000);
        else
            usage();
    }
    size_t nsvc = nhosts / 4;
    nhosts = nsvc * 4;

    /* Names first: they are the bench's, not the table's, memory. */
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    char *names = xcalloc(nhosts, NAME_STRIDE);
    uint8_t *len = xcalloc(nhosts, 1);
    for (size_t s = 0; s < nsvc; s++)
        service_names(s, &rng, names + s * 4 * NAME_STRIDE, len + s * 4);
    struct service *svc = xcalloc(nsvc, sizeof(*svc));
    uint64_t *visible = xcalloc(iters, sizeof(uint64_t));
    uint64_t *publish = xcalloc(iters, sizeof(uint64_t));
    uint64_t *add = xcalloc(iters, sizeof(uint64_t));
    uint64_t *del = xcalloc(iters, sizeof(uint64_t));
    long rss0 = rss_kib();

    /* Load. */
    static struct epoch_domain ep;
    if (epoch_domain_init(&ep, (unsigned)nreaders, NULL) != 0)
        die("epoch_domain_init");
    uint64_t t0 = now_ns();
    struct route_table *t = route_table_new(&ep, nhosts);
    if (t == NULL)
        die("out of memory");
    for (size_t s = 0; s < nsvc; s++)
        service_add(t, &svc[s], s, 1, names + s * 4 * NAME_STRIDE, len + s * 4);
    uint64_t load_ns = now_ns() - t0;
    (void)epoch_reclaim(&ep);
    long rss1 = rss_kib();
    size_t table_mem = route_table_memory(t);
    if (route_table_count(t) != nhosts)
        die("host count after load");

    /* Readers. */
    static struct shared sh;
    sh.ep = &ep, sh.t = t, sh.names = names, sh.len = len, sh.nhosts = nhosts;
    sh.batch = batch;
    size_t wsvc = nsvc / 2;
    sh.watched = wsvc * 4; /* its stable host on port 1 */
    atomic_init(&sh.stop, false);
    if (sem_init(&sh.seen, 0, 0) != 0)
        die("sem_init");
    struct reader *rd = aligned_alloc(64, nreaders * sizeof(*rd));
    if (rd == NULL)
        die("out of memory");
    memset(rd, 0, nreaders * sizeof(*rd));
    for (size_t i = 0; i < nreaders; i++) {
        atomic_init(&rd[i].seen_tag, 0);
        atomic_init(&rd[i].seen_at, 0);
        rd[i].sh = &sh, rd[i].id = (unsigned)i;
        if (pthread_create(&rd[i].th, NULL, reader_main, &rd[i]) != 0)
            die("pthread_create");
    }
    uint64_t run0 = now_ns();

    /* Promotes: each reader must see the new tag. */
    struct route_group *wg = svc[wsvc].stable;
    for (size_t k = 0; k <= iters; k++) { /* k == 0: wait for the readers to start */
        uint64_t tag = 1 + k;
        struct route_set *set = k > 0 ? service_set(wsvc, tag) : NULL;
        uint64_t a = now_ns(), b = a;
        if (k > 0) {
            route_group_publish(t, wg, set);
            b = now_ns();
        }
        uint64_t c = wait_seen(&sh, rd, nreaders, tag);
        if (k > 0) {
            publish[k - 1] = b - a;
            visible[k - 1] = c - a;
        }
        (void)epoch_reclaim(&ep);
    }

    /* Add and remove one more service, with everything loaded and readers running. */
    char xnames[4 * NAME_STRIDE];
    uint8_t xlen[4];
    for (size_t k = 0; k < iters; k++) {
        struct service x;
        service_names(nsvc + k, &rng, xnames, xlen);
        uint64_t a = now_ns();
        service_add(t, &x, nsvc + k, 1, xnames, xlen);
        uint64_t b = now_ns();
        service_remove(t, &x, xnames, xlen);
        uint64_t c = now_ns();
        add[k] = b - a;
        del[k] = c - b;
        (void)epoch_reclaim(&ep);
    }
    if (route_table_count(t) != nhosts)
        die("host count after add/remove");

    atomic_store(&sh.stop, true);
    uint64_t lookups = 0, misses = 0, sink = 0;
    for (size_t i = 0; i < nreaders; i++) {
        if (pthread_join(rd[i].th, NULL) != 0)
            die("pthread_join");
        lookups += rd[i].lookups, misses += rd[i].misses, sink += rd[i].sink;
    }
    double run_s = (double)(now_ns() - run0) / 1e9;

    printf("route swap: %zu hosts as %zu services x 4, %zu reader thread%s (batch %zu), "
           "%zu iterations\n\n",
           nhosts, nsvc, nreaders, nreaders == 1 ? "" : "s", batch, iters);
    printf("  %-26s%12zu\n", "hosts loaded", nhosts);
    printf("  %-26s%12.1f   (%.0f ns/host: groups, sets, inserts)\n", "load time ms",
           (double)load_ns / 1e6, (double)load_ns / (double)nhosts);
    printf("  %-26s%12.1f   (+%.1f for the load)\n", "RSS MiB", (double)rss1 / 1024.0,
           (double)(rss1 - rss0) / 1024.0);
    printf("  %-26s%12.1f\n", "bytes/host, RSS delta",
           (double)(rss1 - rss0) * 1024.0 / (double)nhosts);
    printf("  %-26s%12.1f\n", "bytes/host, table memory", (double)table_mem / (double)nhosts);
    printf("  %-26s%12.1f   (%.1f M/s per reader; %llu misses)%s\n", "reader lookups M",
           (double)lookups / 1e6, (double)lookups / 1e6 / run_s / (double)nreaders,
           (unsigned long long)misses, misses != 0 ? "  (!)" : "");
    printf("\n  %-26s%12s%12s%12s\n", "", "p50", "p99", "max");
    row("publish -> visible us", visible, iters, 1e3, "%12.1f");
    row("publish cost ns", publish, iters, 1.0, "%12.0f");
    row("add service us", add, iters, 1e3, "%12.2f");
    row("remove service us", del, iters, 1e3, "%12.2f");
    if (sink == 42)
        printf("\n"); /* keeps the readers' work observable */

    /* Teardown: no reader runs any more, so the writer passes their quiescent points. */
    for (size_t s = 0; s < nsvc; s++) {
        route_group_free(t, svc[s].stable);
        route_group_free(t, svc[s].dep);
        if (s % 65536 == 65535) {
            for (size_t i = 0; i < nreaders; i++)
                (void)epoch_quiescent(&ep, (unsigned)i);
            (void)epoch_reclaim(&ep);
        }
    }
    route_table_free(t);
    epoch_domain_destroy(&ep, NULL);
    sem_destroy(&sh.seen);
    free(rd);
    free(svc), free(names), free(len);
    free(visible), free(publish), free(add), free(del);
    return misses != 0;
}
