/*
 * hash: a fast 64-bit hash for short keys (hostnames). Seeded per process so table
 * layouts are not predictable from outside.
 */
#ifndef HOSTESS_ROUTER_BASE_HASH_H
#define HOSTESS_ROUTER_BASE_HASH_H

#include <stddef.h>
#include <stdint.h>

/* Sets the process seed (from a CSPRNG at startup; tests may fix it). */
void hash_seed_set(uint64_t seed);
uint64_t hash_bytes(const void *p, size_t len);

#endif
