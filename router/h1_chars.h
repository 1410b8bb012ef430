/*
 * h1_chars: the byte classes of RFC 9110/9112 grammar, as one table shared by the head
 * parser (h1_parse.c) and the chunked decoder (h1_chunked.c). router/ internal.
 */
#ifndef HOSTESS_ROUTER_H1_CHARS_H
#define HOSTESS_ROUTER_H1_CHARS_H

#include <stdint.h>

#define C_TCHAR 0x01u  /* RFC 9110 §5.6.2 tchar */
#define C_TARGET 0x02u /* request-target byte: VCHAR except '#' (RFC 9112 §3.2) */
#define C_FVAL 0x04u   /* field-value byte: HTAB, SP, VCHAR, obs-text (RFC 9110 §5.5) */
#define C_HEX 0x08u    /* HEXDIG */
#define C_QDTEXT 0x10u /* qdtext (RFC 9110 §5.6.4) */
#define C_HOST 0x20u   /* authority byte: unreserved, pct, sub-delims, ':', '[', ']' */
#define C_WS 0x40u     /* SP, HTAB */


extern const uint8_t h1_cls[256];

#define IS(c, k) ((h1_cls[(unsigned char)(c)] & (k)) != 0)

#endif
