/*
 * cfg: the generic half of configuration loading (STYLE §10).
 *
 * cfg_parse() turns YAML text into a small tree of scalars, mappings and sequences, each
 * node carrying the 1-based line and column where it starts, so that every later error
 * can point at the exact spot. Keyword tables (struct cfg_key) then copy typed values
 * out of that tree into a plain C struct; each module describes its own section with a
 * table and never touches libyaml.
 *
 * Errors are always written as "name:line:column: key.path: message" into the buffer of
 * a struct cfg_ctx; every function that can fail returns 0 or -1 and leaves the message
 * there.
 */
#ifndef HOSTESS_ROUTER_BASE_CFG_H
#define HOSTESS_ROUTER_BASE_CFG_H

#include <stddef.h>
#include <stdint.h>

#define CFG_MAX_DEPTH 64 /* deeper nesting is refused: no config needs it */

enum cfg_type { CFG_SCALAR, CFG_MAPPING, CFG_SEQUENCE };

/* One YAML node. The tree owns every node and string below its root. */
struct cfg_node {
    enum cfg_type     type;
    unsigned          line;    /* 1-based */
    unsigned          col;     /* 1-based */
    int               is_null; /* plain scalar "", "~" or "null": the key is given no value */
    char             *str;     /* CFG_SCALAR: NUL-terminated (may also hold NULs: see len) */
    size_t            len;     /* CFG_SCALAR: bytes in str */
    struct cfg_node **kids;    /* CFG_SEQUENCE: items; CFG_MAPPING: key0, value0, key1, ... */
    size_t            nkids;
};

/* Where errors go, and the key path of the node being looked at ("timeouts.idle",
 * "routes[2].targets[0]"). Lives on the caller's stack for one load. */
struct cfg_ctx {
    const char *name; /* file name (or any label) used as the prefix of messages */
    char       *err;
    size_t      errlen;
    char        path[256];
    size_t      pathlen;
};

void cfg_ctx_init(struct cfg_ctx *ctx, const char *name, char *err, size_t errlen);

/* Parses text[0..len) (one YAML document). Returns 0 with *root set to the document's
 * root node, or NULL when the text holds no document (empty, or only comments). Returns
 * -1 with an error in ctx on a syntax error (reported at libyaml's problem mark),
 * anchors, aliases, tags, duplicate keys, non-scalar keys, more than one document, or
 * nesting deeper than CFG_MAX_DEPTH. The caller frees *root with cfg_node_free(). */
int cfg_parse(struct cfg_ctx *ctx, const char *text, size_t len, struct cfg_node **root);
void cfg_node_free(struct cfg_node *n);

/* Writes "name:line:col: path: message" (no "path: " when the path is empty) into ctx,
 * pointing at node at (or at 1:1 when at is NULL). Always returns -1, so a caller can
 * `return cfg_fail(...)`. */
int cfg_fail(struct cfg_ctx *ctx, const struct cfg_node *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Appends ".key" (or "key" at the top) / "[i]" to the path; returns the previous length,
 * which cfg_path_pop() restores. A path too long for the buffer is cut, never overrun. */
size_t cfg_path_push(struct cfg_ctx *ctx, const char *key);
size_t cfg_path_push_index(struct cfg_ctx *ctx, size_t i);
void cfg_path_pop(struct cfg_ctx *ctx, size_t saved);

/* Describes what a node holds, for "got ..." in messages: "nothing", "a mapping",
 * "a list", or the scalar as a quoted, escaped and shortened string. Returns buf. */
const char *cfg_node_describe(const struct cfg_node *n, char *buf, size_t buflen);

/* Looks up key in a mapping; NULL when absent (or when map is not a mapping). */
const struct cfg_node *cfg_map_get(const struct cfg_node *map, const char *key);

/* Typed readers. Each returns 0, or -1 with "expected ..., got ..." written in ctx at
 * the node. Strings must be non-empty scalars without NUL bytes; *out is replaced by a
 * fresh copy that the caller owns (the old one is freed). Durations are an integer and
 * a unit (ms, s, m, h), in milliseconds; sizes a byte count with an optional unit (B,
 * KiB, MiB, GiB); integers plain decimal. All check the inclusive range [min, max]. */
int cfg_read_string(struct cfg_ctx *ctx, const struct cfg_node *n, char **out);
int cfg_read_u32(struct cfg_ctx *ctx, const struct cfg_node *n, uint32_t min, uint32_t max,
                 uint32_t *out);
int cfg_read_ms(struct cfg_ctx *ctx, const struct cfg_node *n, uint32_t min, uint32_t max,
                uint32_t *out);
int cfg_read_bytes(struct cfg_ctx *ctx, const struct cfg_node *n, uint32_t min, uint32_t max,
                   uint32_t *out);
/* 1 when n is a scalar equal to s, else 0. */
int cfg_scalar_is(const struct cfg_node *n, const char *s);

/* Keyword tables. Offsets are relative to one base struct (nested sections use the same
 * base, e.g. offsetof(struct edge_config, timeouts.idle_ms)). */
enum cfg_kind {
    CFG_K_END = 0,
    CFG_K_STRING,      /* char *, owned by the struct; default def_str (strdup'ed) */
    CFG_K_U32,         /* uint32_t */
    CFG_K_MS,          /* uint32_t milliseconds */
    CFG_K_BYTES,       /* uint32_t bytes */
    CFG_K_SECTION,     /* a nested mapping described by .section */
    CFG_K_FUNC,        /* .parse reads the value; its default is set by the module */
    CFG_K_UNSUPPORTED, /* a contract key this build does not implement: an error */
};

struct cfg_key;
typedef int (*cfg_parse_cb)(struct cfg_ctx *ctx, const struct cfg_node *value, void *base);

struct cfg_key {
    const char           *name;
    enum cfg_kind         kind;
    size_t                offset;
    uint32_t              min, max, def;
    const char           *def_str;
    const struct cfg_key *section;
    cfg_parse_cb          parse;
};

#define CFG_STRING(k, T, f, d)         {(k), CFG_K_STRING, offsetof(T, f), 0, 0, 0, (d), NULL, NULL}
#define CFG_U32(k, T, f, lo, hi, d)    {(k), CFG_K_U32, offsetof(T, f), (lo), (hi), (d), NULL, NULL, NULL}
#define CFG_MS(k, T, f, lo, hi, d)     {(k), CFG_K_MS, offsetof(T, f), (lo), (hi), (d), NULL, NULL, NULL}
#define CFG_BYTES(k, T, f, lo, hi, d)  {(k), CFG_K_BYTES, offsetof(T, f), (lo), (hi), (d), NULL, NULL, NULL}
#define CFG_SECTION(k, tbl)            {(k), CFG_K_SECTION, 0, 0, 0, 0, NULL, (tbl), NULL}
#define CFG_FUNC(k, cb)                {(k), CFG_K_FUNC, 0, 0, 0, 0, NULL, NULL, (cb)}
#define CFG_UNSUPPORTED(k)             {(k), CFG_K_UNSUPPORTED, 0, 0, 0, 0, NULL, NULL, NULL}
#define CFG_END                        {NULL, CFG_K_END, 0, 0, 0, 0, NULL, NULL, NULL}

/* Stores every table default into base (recursing into sections). Strings are strdup'ed;
 * running out of memory here aborts with a message (it only happens at boot). */
void cfg_keys_defaults(const struct cfg_key *keys, void *base);
/* Applies the mapping map to base. A null node (key with no value) leaves the defaults.
 * Unknown keys, wrong types and bad values are errors; the first one stops the walk. */
int cfg_keys_apply(struct cfg_ctx *ctx, const struct cfg_node *map, const struct cfg_key *keys,
                   void *base);
/* Frees the CFG_K_STRING fields of base and sets them to NULL. */
void cfg_keys_free(const struct cfg_key *keys, void *base);

#endif
