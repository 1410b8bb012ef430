/*
 * client_hello: bounds-checked readers of two ClientHello extension bodies. Every
 * length field is checked against what is left before it is used; a mismatch means
 * "malformed" and the caller falls back to its default (RSA, no name).
 */
#include "certs/client_hello.h"

#include <stdint.h>

static size_t be16(const unsigned char *p)
{
    return ((size_t)p[0] << 8) | p[1];
}

int client_hello_has_ecdsa(const unsigned char *ext, size_t len)
{
    size_t list;

    if (ext == NULL || len < 2)
        return 0;
    list = be16(ext);
    /* RFC 8446 §4.2.3: SignatureSchemeList supported_signature_algorithms<2..2^16-2> */
    if (list != len - 2 || list == 0 || (list & 1) != 0)
        return 0;
    for (size_t i = 2; i < len; i += 2) {
        unsigned scheme = (unsigned)be16(ext + i);
        /* 0x0403/0x0503/0x0603: TLS 1.3 ecdsa_secpXXXr1_shaYYY; in TLS 1.2 the pairs
         * (sha256|sha384|sha512, ecdsa). SHA-1 and SHA-224 pairs do not count: our
         * security level will not sign with them. */
        if (scheme == 0x0403 || scheme == 0x0503 || scheme == 0x0603)
            return 1;
    }
    return 0;
}

int client_hello_server_name(const unsigned char *ext, size_t len, const char **name,
                             size_t *name_len)
{
    size_t list, i;

    if (ext == NULL || len < 2)
        return -1;
    list = be16(ext);
    if (list != len - 2 || list == 0)
        return -1;
    /* ServerNameList: entries of NameType (1 byte) + opaque<1..2^16-1>. RFC 6066 allows
     * one name per type; the first host_name (type 0) is the one. */
    for (i = 2; i + 3 <= len;) {
        unsigned type = ext[i];
        size_t n = be16(ext + i + 1);

        if (n > len - i - 3)
            return -1;
        if (type == 0) {
            if (n == 0)
                return -1;
            *name = (const char *)(ext + i + 3);
            *name_len = n;
            return 0;
        }
        i += 3 + n;
    }
    return -1;
}

int client_hello_offers_tls13(const unsigned char *ext, size_t len)
{
    if (ext == NULL || len < 1 || ext[0] != len - 1 || (ext[0] & 1) != 0)
        return 0;
    for (size_t i = 1; i + 1 < len; i += 2)
        if (ext[i] == 0x03 && ext[i + 1] == 0x04)
            return 1;
    return 0;
}

int client_hello_has_ecdsa_suite(const unsigned char *suites, size_t len)
{
    for (size_t i = 0; suites != NULL && i + 1 < len; i += 2) {
        unsigned cs = ((unsigned)suites[i] << 8) | suites[i + 1];
        /* ECDHE-ECDSA with AES-128-GCM, AES-256-GCM, CHACHA20-POLY1305 */
        if (cs == 0xC02B || cs == 0xC02C || cs == 0xCCA9)
            return 1;
    }
    return 0;
}
