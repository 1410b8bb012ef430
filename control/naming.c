/*
 * naming: builds the generated hostnames of CONTRACT §1 (rules and examples in naming.h).
 *
 * Data flow: the control API normalises the project and service names once
 * (naming_label_normalise), picks an id (a persisted nanoid, a sha7, or a fallback7 when
 * the deployment has no SHA), builds the label (naming_host_label) and then the FQDN
 * (naming_host_fqdn) that the model checks for collisions and the route table serves.
 *
 * Invariants of every successful output:
 *   - it is NUL-terminated and fits the caller's cap;
 *   - a normalised name and a label hold only [a-z0-9-], never start or end with '-',
 *     and never contain "--" (the id is [0-9a-z], and the '-' we add join non-empty parts);
 *   - a label is at most NAMING_LABEL_MAX octets and an FQDN at most NAMING_FQDN_MAX.
 * Nothing here allocates, keeps state, or reads past the lengths it is given.
 */
#include "control/naming.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>

static const char b36[] = "0123456789abcdefghijklmnopqrstuvwxyz";

static int is_lower_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

int naming_label_normalise(const char *in, size_t len, char *out, size_t cap)
{
    size_t n = 0;
    int pending_dash = 0;

    if (len > 0 && in == NULL)
        return -EINVAL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = lower((unsigned char)in[i]);

        if (!is_lower_alnum(c)) {
            /* A run of separators becomes one '-', and only between two kept characters,
             * so none leads or trails. */
            pending_dash = n > 0;
            continue;
        }
        /* Room for this character, a pending '-', and the final NUL. */
        if (n + (size_t)pending_dash + 2 > cap)
            return -ENOSPC;
        if (pending_dash)
            out[n++] = '-';
        pending_dash = 0;
        out[n++] = (char)c;
    }
    if (n == 0)
        return -EINVAL;
    out[n] = '\0';
    return (int)n;
}

int naming_nanoid_generate(char out[NAMING_NANOID_LEN + 1])
{
    unsigned char buf[32];
    size_t n = 0;

    out[0] = '\0';
    while (n < NAMING_NANOID_LEN) {
        ssize_t got = getrandom(buf, sizeof(buf), 0);

        if (got < 0) {
            if (errno == EINTR)
                continue;
            out[0] = '\0';
            return -errno;
        }
        for (ssize_t i = 0; i < got && n < NAMING_NANOID_LEN; i++) {
            /* 252 = 7 * 36: bytes 252..255 would make 0..3 likelier, so they are redrawn
             * (probability 4/256 each). */
            if (buf[i] < 252)
                out[n++] = b36[buf[i] % 36];
        }
    }
    out[n] = '\0';
    return 0;
}

int naming_nanoid_valid(const char *s, size_t len)
{
    if (s == NULL || len != NAMING_NANOID_LEN)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!is_lower_alnum((unsigned char)s[i]))
            return 0;
    return 1;
}

int naming_sha7(const char *sha, size_t len, char out[NAMING_SHA7_LEN + 1])
{
    out[0] = '\0';
    if (sha == NULL || len < NAMING_SHA_MIN || len > NAMING_SHA_MAX)
        return -EINVAL;
    for (size_t i = 0; i < len; i++)
        if (!is_hex((unsigned char)sha[i]))
            return -EINVAL;
    for (size_t i = 0; i < NAMING_SHA7_LEN; i++)
        out[i] = (char)lower((unsigned char)sha[i]);
    out[NAMING_SHA7_LEN] = '\0';
    return 0;
}

/* Frozen: persisted in URLs. Any change here must fail the pinned vectors in the test. */
void naming_fallback7(const char *deployment_id, size_t len, char out[NAMING_SHA7_LEN + 1])
{
    const uint64_t pow6 = 36ull * 36 * 36 * 36 * 36 * 36; /* 36^6 = 2176782336 */
    uint64_t h = 0xcbf29ce484222325ull;                   /* FNV-1a-64 offset basis */
    uint64_t v;

    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)deployment_id[i];
        h *= 0x100000001b3ull;                            /* FNV-1a-64 prime */
    }
    /* MurmurHash3 fmix64: FNV's high bits mix poorly for short inputs, and mod below
     * uses all of them. */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;

    /* The bias of a 64-bit value mod 4.4e10 is below 1e-8: irrelevant here. */
    v = h % (20 * pow6);
    out[0] = (char)('g' + v / pow6);
    v %= pow6;
    for (int i = NAMING_SHA7_LEN - 1; i >= 1; i--) {
        out[i] = b36[v % 36];
        v /= 36;
    }
    out[NAMING_SHA7_LEN] = '\0';
}

/* 1 when s is a name as naming_label_normalise() returns it; *len gets its length. */
static int is_normalised(const char *s, size_t *len)
{
    size_t n;

    if (s == NULL || s[0] == '\0' || s[0] == '-')
        return 0;
    for (n = 0; s[n] != '\0'; n++) {
        unsigned char c = (unsigned char)s[n];

        if (c == '-') {
            if (s[n + 1] == '-' || s[n + 1] == '\0')
                return 0;
        } else if (!is_lower_alnum(c)) {
            return 0;
        }
    }
    *len = n;
    return 1;
}

/* Keeps at most keep (≥ 1) characters of a normalised name of length len, then drops any
 * '-' left at the end. The first character is never '-', so at least one remains. */
static size_t cut(const char *s, size_t len, size_t keep)
{
    if (keep < len)
        len = keep;
    while (len > 1 && s[len - 1] == '-')
        len--;
    return len;
}

int naming_host_label(char *out, size_t cap, const char *project, const char *service,
                      const char *id, unsigned port_n)
{
    char suffix[16]; /* "-" and up to 10 digits of an unsigned */
    size_t plen, slen, ilen, xlen = 0, fixed, budget, n;

    if (!is_normalised(project, &plen) || !is_normalised(service, &slen) || id == NULL)
        return -EINVAL;
    ilen = strnlen(id, NAMING_LABEL_MAX + 1);
    if (ilen == 0)
        return -EINVAL;
    for (size_t i = 0; i < ilen; i++)
        if (!is_lower_alnum((unsigned char)id[i]))
            return -EINVAL;

    if (port_n >= 2) {
        char digits[12];
        size_t nd = 0;

        for (unsigned v = port_n; v > 0; v /= 10)
            digits[nd++] = (char)('0' + v % 10);
        suffix[xlen++] = '-';
        while (nd > 0)
            suffix[xlen++] = digits[--nd];
    }

    /* Two joining '-', the id and the suffix are never cut. */
    fixed = 2 + ilen + xlen;
    if (fixed + 2 > NAMING_LABEL_MAX)
        return -ENAMETOOLONG;
    budget = NAMING_LABEL_MAX - fixed; /* ≥ 2 */
    if (plen + slen > budget)
        plen = cut(project, plen, slen < budget ? budget - slen : 1);
    if (plen + slen > budget)
        slen = cut(service, slen, budget - plen); /* plen == 1 here, so this is ≥ 1 */
    if (plen + slen > budget)
        return -ENAMETOOLONG; /* unreachable: budget ≥ 2 and both are 1 at worst */

    n = plen + 1 + slen + 1 + ilen + xlen;
    if (n + 1 > cap)
        return -ENOSPC;
    memcpy(out, project, plen);
    out[plen] = '-';
    memcpy(out + plen + 1, service, slen);
    out[plen + 1 + slen] = '-';
    memcpy(out + plen + 1 + slen + 1, id, ilen);
    memcpy(out + plen + 1 + slen + 1 + ilen, suffix, xlen);
    out[n] = '\0';
    return (int)n;
}

int naming_host_fqdn(char *out, size_t cap, const char *label, const char *domain)
{
    size_t llen, dlen, n;

    if (label == NULL || domain == NULL)
        return -EINVAL;
    llen = strnlen(label, NAMING_LABEL_MAX + 1);
    if (llen == 0 || llen > NAMING_LABEL_MAX || memchr(label, '.', llen) != NULL)
        return -EINVAL;
    dlen = strnlen(domain, NAMING_FQDN_MAX + 1);
    if (dlen == 0 || domain[0] == '.' || domain[dlen - 1] == '.')
        return -EINVAL;
    n = llen + 1 + dlen;
    if (n > NAMING_FQDN_MAX)
        return -ENAMETOOLONG;
    if (n + 1 > cap)
        return -ENOSPC;
    memcpy(out, label, llen);
    out[llen] = '.';
    memcpy(out + llen + 1, domain, dlen);
    out[n] = '\0';
    return (int)n;
}
