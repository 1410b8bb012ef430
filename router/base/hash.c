/*
 * hash: 8 bytes at a time with a 128-bit multiply fold (the wyhash/mum idea), which is
 * quick for 20-60 byte hostnames and mixes well enough for open addressing.
 */
#include "router/base/hash.h"

#include <string.h>

static uint64_t hash_seed = 0x9e3779b97f4a7c15ull;

void hash_seed_set(uint64_t seed)
{
    hash_seed = seed | 1;
}

static inline uint64_t mix(uint64_t a, uint64_t b)
{
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

uint64_t hash_bytes(const void *p, size_t len)
{
    const unsigned char *s = p;
    uint64_t h = hash_seed ^ (len * 0xa0761d6478bd642full);
    uint64_t v;

    while (len >= 8) {
        memcpy(&v, s, 8);
        h = mix(h ^ v, 0xe7037ed1a0b428dbull);
        s += 8;
        len -= 8;
    }
    v = 0;
    memcpy(&v, s, len);
    h = mix(h ^ v, 0x8ebc6af09c88c6e3ull);
    return mix(h, 0x589965cc75374cc3ull);
}
