/*
 * hostname: the normal form used for every route lookup (CONTRACT §1): a Host header,
 * :authority or SNI value, lowercased, with any ":port" and one trailing dot removed.
 */
#ifndef HOSTESS_ROUTER_BASE_HOSTNAME_H
#define HOSTESS_ROUTER_BASE_HOSTNAME_H

#include <stddef.h>

#define HOSTNAME_MAX 253

/* Normalises in[0..len) into out (at least HOSTNAME_MAX + 1 bytes; NUL-terminated).
 * Accepts reg-names of letters, digits, '-', '_' and '.', and bracketed IPv6 literals,
 * optionally followed by ":port" (1-5 digits). Returns the length written, or -1 when the
 * value is not a valid host (empty, bad characters, empty label, too long, bad port). */
int hostname_normalise(const char *in, size_t len, char *out);

/* 1 when the normalised host[0..len) is a name below the normalised parent (at least one
 * more label: "a.hostess.run" is below "hostess.run", "hostess.run" is not). */
int hostname_is_below(const char *host, size_t len, const char *parent);

#endif
