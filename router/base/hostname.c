/*
 * hostname: one normal form for every way a host name reaches us (Host header,
 * :authority, SNI, a route in the config), so route lookup is a plain exact match
 * (CONTRACT §1).
 *
 * The input is untrusted network bytes: it is read only within [in, in + len), never
 * NUL-scanned, and out is written only after the whole length is known to fit.
 * Normal form:
 *   - reg-name: ASCII lowercase, labels of [a-z0-9-_] of 1..63 octets separated by
 *     single dots, at most HOSTNAME_MAX octets, one trailing dot removed;
 *   - IPv6 literal: "[" address "]" lowercased, the address checked by inet_pton;
 *   - an optional ":port" of 1-5 digits (0..65535) is accepted and dropped.
 */
#include "router/base/hostname.h"

#include <arpa/inet.h>
#include <string.h>

#include "router/base/span.h"

#define LABEL_MAX 63

/* RFC 9110 §4.2.3 leaves a port as *DIGIT; we bound it to what TCP can carry. */
static int port_is_valid(const char *p, size_t len)
{
    unsigned v = 0;

    if (len == 0 || len > 5)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return 0;
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    return v <= 65535;
}

static int ipv6_normalise(const char *in, size_t len, char *out)
{
    const char *close = memchr(in, ']', len);
    char addr[INET6_ADDRSTRLEN];
    unsigned char bin[16];
    size_t alen, hlen;

    if (close == NULL)
        return -1;
    hlen = (size_t)(close - in) + 1;
    alen = hlen - 2;
    if (hlen < len && (in[hlen] != ':' || !port_is_valid(in + hlen + 1, len - hlen - 1)))
        return -1;
    if (alen == 0 || alen >= sizeof(addr))
        return -1;
    for (size_t i = 0; i < alen; i++)
        addr[i] = ascii_lower(in[1 + i]);
    addr[alen] = '\0';
    /* inet_pton stops at a NUL, so a NUL inside the brackets must not hide the rest. */
    if (memchr(in + 1, '\0', alen) != NULL || inet_pton(AF_INET6, addr, bin) != 1)
        return -1;
    out[0] = '[';
    memcpy(out + 1, addr, alen);
    out[hlen - 1] = ']';
    out[hlen] = '\0';
    return (int)hlen;
}

static int hostname_char_is_valid(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

int hostname_normalise(const char *in, size_t len, char *out)
{
    const char *colon;
    size_t label = 0;

    if (len == 0)
        return -1;
    if (in[0] == '[')
        return ipv6_normalise(in, len, out);
    /* A reg-name holds no ':', so the first one starts the port. */
    colon = memchr(in, ':', len);
    if (colon != NULL) {
        size_t hlen = (size_t)(colon - in);
        if (!port_is_valid(colon + 1, len - hlen - 1))
            return -1;
        len = hlen;
    }
    /* "example.com." is the same name, fully qualified; only one dot goes. */
    if (len > 0 && in[len - 1] == '.')
        len--;
    if (len == 0 || len > HOSTNAME_MAX)
        return -1;
    for (size_t i = 0; i < len; i++) {
        char c = ascii_lower(in[i]);
        if (c == '.') {
            if (label == 0)
                return -1; /* leading dot or "a..b" */
            label = 0;
        } else if (hostname_char_is_valid(c)) {
            if (++label > LABEL_MAX)
                return -1;
        } else {
            return -1;
        }
        out[i] = c;
    }
    if (label == 0)
        return -1; /* "a.." left "a." after the one trailing dot went */
    out[len] = '\0';
    return (int)len;
}

int hostname_is_below(const char *host, size_t len, const char *parent)
{
    size_t plen = strlen(parent);
    return len > plen + 1 && host[len - plen - 1] == '.' &&
           memcmp(host + len - plen, parent, plen) == 0;
}
