/*
 * span: a (pointer, length) view of bytes that it does not own.
 *
 * Network bytes are never NUL-terminated or NUL-scanned: parsed request fields are spans
 * into the connection's input buffer and live exactly as long as that buffer region.
 */
#ifndef HOSTESS_ROUTER_BASE_SPAN_H
#define HOSTESS_ROUTER_BASE_SPAN_H

#include <stddef.h>
#include <stdint.h>

struct span {
    const char *ptr;
    size_t      len;
};

#define SPAN_LIT(s) ((struct span){(s), sizeof(s) - 1})
#define SPAN_NULL   ((struct span){NULL, 0})

static inline struct span span_make(const char *p, size_t n)
{
    return (struct span){p, n};
}

/* 1 when a and b hold the same bytes, else 0. */
int span_eq(struct span a, struct span b);
/* 1 when a and b are equal ignoring ASCII case, else 0. */
int span_ieq(struct span a, struct span b);
/* Strips leading and trailing spaces and tabs (HTTP OWS). */
struct span span_trim(struct span s);
/* Parses a plain decimal integer: only [0-9], at least one digit, no sign, no spaces.
 * Returns 0, -EINVAL (not a number) or -ERANGE (does not fit). */
int span_to_u64(struct span s, uint64_t *out);
/* Lowercase ASCII tables used by the parsers. */
static inline char ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

#endif
