/*
 * cfg: YAML text → node tree (with positions) → typed struct fields via keyword tables.
 *
 * Parsing walks libyaml's event stream (yaml_parser_parse), not its document API, so
 * that we see each node's start mark and can refuse what we do not support (anchors,
 * aliases, tags, duplicate keys) at the place it occurs. The tree is built with an
 * explicit stack of open collections, bounded by CFG_MAX_DEPTH, so hostile nesting
 * cannot exhaust the C stack here or in cfg_node_free().
 *
 * Invariants while parsing:
 *   - stack[0..depth) are the open mappings/sequences, outermost first; each one is
 *     already attached to its parent (or is the document root);
 *   - an open mapping has an odd nkids exactly while its last key waits for a value;
 *   - every node is either attached to the tree or freed before the next event.
 * On any error the whole tree is freed and *root stays NULL.
 */
#include "router/base/cfg.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "router/base/span.h"

void cfg_ctx_init(struct cfg_ctx *ctx, const char *name, char *err, size_t errlen)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->name = name ? name : "<config>";
    ctx->err = err;
    ctx->errlen = err ? errlen : 0;
}

/* ---- messages and key paths ---- */

static int fail_at_v(struct cfg_ctx *ctx, unsigned line, unsigned col, const char *fmt,
                     va_list ap)
{
    size_t off = 0;
    int n;

    if (ctx->errlen == 0)
        return -1;
    n = snprintf(ctx->err, ctx->errlen, "%s:%u:%u: ", ctx->name, line, col);
    off = n < 0 ? 0 : (size_t)n;
    if (ctx->pathlen > 0 && off < ctx->errlen) {
        n = snprintf(ctx->err + off, ctx->errlen - off, "%.*s: ", (int)ctx->pathlen, ctx->path);
        off += n < 0 ? 0 : (size_t)n;
    }
    if (off < ctx->errlen)
        vsnprintf(ctx->err + off, ctx->errlen - off, fmt, ap);
    return -1;
}

static int fail_at(struct cfg_ctx *ctx, unsigned line, unsigned col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail_at(struct cfg_ctx *ctx, unsigned line, unsigned col, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fail_at_v(ctx, line, col, fmt, ap);
    va_end(ap);
    return -1;
}

int cfg_fail(struct cfg_ctx *ctx, const struct cfg_node *at, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fail_at_v(ctx, at ? at->line : 1, at ? at->col : 1, fmt, ap);
    va_end(ap);
    return -1;
}

static size_t path_append(struct cfg_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static size_t path_append(struct cfg_ctx *ctx, const char *fmt, ...)
{
    size_t saved = ctx->pathlen;
    size_t room = sizeof(ctx->path) - ctx->pathlen;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(ctx->path + ctx->pathlen, room, fmt, ap);
    va_end(ap);
    /* A cut path still locates the error through line:column; never overrun. */
    if (n > 0)
        ctx->pathlen += (size_t)n < room ? (size_t)n : room - 1;
    return saved;
}

size_t cfg_path_push(struct cfg_ctx *ctx, const char *key)
{
    return path_append(ctx, ctx->pathlen ? ".%s" : "%s", key);
}

size_t cfg_path_push_index(struct cfg_ctx *ctx, size_t i)
{
    return path_append(ctx, "[%zu]", i);
}

void cfg_path_pop(struct cfg_ctx *ctx, size_t saved)
{
    ctx->pathlen = saved;
    ctx->path[saved] = '\0';
}

const char *cfg_node_describe(const struct cfg_node *n, char *buf, size_t buflen)
{
    enum { SHOWN = 48 }; /* long values are shortened: the position says where they are */
    size_t o = 0;

    if (buflen == 0)
        return buf;
    if (n == NULL || (n->type == CFG_SCALAR && n->is_null)) {
        snprintf(buf, buflen, "nothing");
        return buf;
    }
    if (n->type != CFG_SCALAR) {
        snprintf(buf, buflen, "%s", n->type == CFG_MAPPING ? "a mapping" : "a list");
        return buf;
    }
    if (buflen < 16) {
        snprintf(buf, buflen, "a value");
        return buf;
    }
    /* Escape quotes and control bytes so a message stays one readable line. */
    size_t i = 0;
    buf[o++] = '"';
    for (; i < n->len && i < SHOWN && o + 10 < buflen; i++) {
        unsigned char c = (unsigned char)n->str[i];
        if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            o += (size_t)snprintf(buf + o, buflen - o, "\\x%02x", c);
        } else {
            buf[o++] = (char)c;
        }
    }
    snprintf(buf + o, buflen - o, "%s\"", i < n->len ? "..." : "");
    return buf;
}

static const char *quote(const char *s, size_t len, char *buf, size_t buflen)
{
    struct cfg_node tmp = {.type = CFG_SCALAR, .str = (char *)s, .len = len};
    return cfg_node_describe(&tmp, buf, buflen);
}

/* ---- the tree ---- */

void cfg_node_free(struct cfg_node *n)
{
    if (n == NULL)
        return;
    for (size_t i = 0; i < n->nkids; i++)
        cfg_node_free(n->kids[i]); /* depth bounded by CFG_MAX_DEPTH */
    free(n->kids);
    free(n->str);
    free(n);
}

static struct cfg_node *node_new(enum cfg_type type, const yaml_event_t *ev)
{
    struct cfg_node *n = calloc(1, sizeof(*n));

    if (n == NULL)
        return NULL;
    n->type = type;
    n->line = (unsigned)ev->start_mark.line + 1;
    n->col = (unsigned)ev->start_mark.column + 1;
    if (type == CFG_SCALAR) {
        const char *v = (const char *)ev->data.scalar.value;
        size_t len = ev->data.scalar.length;
        n->str = malloc(len + 1);
        if (n->str == NULL) {
            free(n);
            return NULL;
        }
        memcpy(n->str, v, len);
        n->str[len] = '\0';
        n->len = len;
        /* YAML 1.2 core schema nulls; a quoted "" is an empty string, not null. */
        n->is_null = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                     (len == 0 || strcmp(n->str, "~") == 0 || strcmp(n->str, "null") == 0 ||
                      strcmp(n->str, "Null") == 0 || strcmp(n->str, "NULL") == 0);
    }
    return n;
}

static int kids_append(struct cfg_node *parent, struct cfg_node *kid)
{
    size_t n = parent->nkids;

    /* Capacity is implicit: grow when the count reaches 0 or a power of two. */
    if ((n & (n - 1)) == 0) {
        size_t cap = n < 4 ? 4 : n * 2;
        struct cfg_node **k = realloc(parent->kids, cap * sizeof(*k));
        if (k == NULL)
            return -1;
        parent->kids = k;
    }
    parent->kids[parent->nkids++] = kid;
    return 0;
}

/* Rebuilds ctx->path for the node about to be added below stack[depth - 1]. */
static void path_build(struct cfg_ctx *ctx, struct cfg_node **stack, size_t depth)
{
    cfg_path_pop(ctx, 0);
    for (size_t i = 0; i < depth; i++) {
        const struct cfg_node *c = stack[i];
        int last = i + 1 == depth;
        if (c->type == CFG_MAPPING) {
            /* Below the top the open value is kids[nkids-1], its key kids[nkids-2]. */
            if (!last)
                cfg_path_push(ctx, c->kids[c->nkids - 2]->str);
            else if (c->nkids % 2 == 1)
                cfg_path_push(ctx, c->kids[c->nkids - 1]->str);
        } else {
            cfg_path_push_index(ctx, last ? c->nkids : c->nkids - 1);
        }
    }
}

/* Attaches n (not yet owned by anyone) below the stack top or as the root. On error n
 * is freed and a message is in ctx. */
static int node_attach(struct cfg_ctx *ctx, struct cfg_node **stack, size_t depth,
                       struct cfg_node **doc, struct cfg_node *n)
{
    struct cfg_node *parent = depth ? stack[depth - 1] : NULL;
    char q[80];

    if (parent == NULL) {
        *doc = n;
        return 0;
    }
    if (parent->type == CFG_MAPPING && parent->nkids % 2 == 0) {
        if (n->type != CFG_SCALAR) {
            path_build(ctx, stack, depth);
            fail_at(ctx, n->line, n->col, "mapping keys must be plain strings, got %s",
                    n->type == CFG_MAPPING ? "a mapping" : "a list");
            goto fail;
        }
        for (size_t i = 0; i < parent->nkids; i += 2) {
            const struct cfg_node *k = parent->kids[i];
            if (k->len == n->len && memcmp(k->str, n->str, n->len) == 0) {
                path_build(ctx, stack, depth);
                fail_at(ctx, n->line, n->col, "duplicate key %s (first at line %u)",
                        quote(n->str, n->len, q, sizeof(q)), k->line);
                goto fail;
            }
        }
    }
    if (kids_append(parent, n) < 0) {
        fail_at(ctx, n->line, n->col, "out of memory");
        goto fail;
    }
    return 0;
fail:
    cfg_node_free(n);
    return -1;
}

/* Finds line and column of byte offset off, for reader errors (bad UTF-8) where
 * libyaml gives only an offset. */
static void offset_position(const char *text, size_t len, size_t off, unsigned *line,
                            unsigned *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off && i < len; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static int syntax_fail(struct cfg_ctx *ctx, const yaml_parser_t *p, const char *text,
                       size_t len)
{
    unsigned line = (unsigned)p->problem_mark.line + 1, col = (unsigned)p->problem_mark.column + 1;
    const char *problem = p->problem ? p->problem : "unknown error";

    cfg_path_pop(ctx, 0);
    if (p->error == YAML_MEMORY_ERROR)
        return fail_at(ctx, 1, 1, "out of memory");
    if (p->error == YAML_READER_ERROR)
        offset_position(text, len, p->problem_offset, &line, &col);
    if (p->context)
        return fail_at(ctx, line, col, "invalid YAML: %s (%s)", problem, p->context);
    return fail_at(ctx, line, col, "invalid YAML: %s", problem);
}

/* Anchors and tags are refused rather than ignored: silently dropping "!!int" or "&x"
 * would make the file mean something other than what its author wrote. */
static int check_props(struct cfg_ctx *ctx, struct cfg_node **stack, size_t depth,
                       const yaml_event_t *ev, const yaml_char_t *anchor, const yaml_char_t *tag,
                       int implicit)
{
    unsigned line = (unsigned)ev->start_mark.line + 1, col = (unsigned)ev->start_mark.column + 1;

    if (anchor) {
        path_build(ctx, stack, depth);
        return fail_at(ctx, line, col, "YAML anchors (&%s) are not supported", (const char *)anchor);
    }
    if (tag && !implicit) {
        path_build(ctx, stack, depth);
        return fail_at(ctx, line, col, "YAML tags (%s) are not supported", (const char *)tag);
    }
    return 0;
}

int cfg_parse(struct cfg_ctx *ctx, const char *text, size_t len, struct cfg_node **root)
{
    struct cfg_node *stack[CFG_MAX_DEPTH];
    struct cfg_node *doc = NULL, *n;
    size_t depth = 0;
    yaml_parser_t p;
    yaml_event_t ev;
    int ndocs = 0, rc = -1, done = 0;

    *root = NULL;
    if (!yaml_parser_initialize(&p))
        return fail_at(ctx, 1, 1, "out of memory");
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    while (!done) {
        unsigned line, col;
        if (!yaml_parser_parse(&p, &ev)) {
            syntax_fail(ctx, &p, text, len);
            goto out;
        }
        line = (unsigned)ev.start_mark.line + 1;
        col = (unsigned)ev.start_mark.column + 1;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++ndocs > 1) {
                fail_at(ctx, line, col, "only one YAML document is supported");
                goto fail_event;
            }
            break;
        case YAML_ALIAS_EVENT:
            path_build(ctx, stack, depth);
            fail_at(ctx, line, col, "YAML aliases (*%s) are not supported",
                    (const char *)ev.data.alias.anchor);
            goto fail_event;
        case YAML_SCALAR_EVENT:
            /* A plain scalar with no tag is "implicit"; any explicit tag is refused. */
            if (check_props(ctx, stack, depth, &ev, ev.data.scalar.anchor, ev.data.scalar.tag,
                            ev.data.scalar.tag == NULL) < 0)
                goto fail_event;
            if ((n = node_new(CFG_SCALAR, &ev)) == NULL) {
                fail_at(ctx, line, col, "out of memory");
                goto fail_event;
            }
            if (node_attach(ctx, stack, depth, &doc, n) < 0)
                goto fail_event;
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT: {
            int seq = ev.type == YAML_SEQUENCE_START_EVENT;
            const yaml_char_t *anchor = seq ? ev.data.sequence_start.anchor : ev.data.mapping_start.anchor;
            const yaml_char_t *tag = seq ? ev.data.sequence_start.tag : ev.data.mapping_start.tag;
            int implicit = seq ? ev.data.sequence_start.implicit : ev.data.mapping_start.implicit;
            if (check_props(ctx, stack, depth, &ev, anchor, tag, implicit && tag == NULL) < 0)
                goto fail_event;
            if (depth == CFG_MAX_DEPTH) {
                path_build(ctx, stack, depth);
                fail_at(ctx, line, col, "nesting deeper than %d levels", CFG_MAX_DEPTH);
                goto fail_event;
            }
            if ((n = node_new(seq ? CFG_SEQUENCE : CFG_MAPPING, &ev)) == NULL) {
                fail_at(ctx, line, col, "out of memory");
                goto fail_event;
            }
            if (node_attach(ctx, stack, depth, &doc, n) < 0)
                goto fail_event;
            stack[depth++] = n;
            break;
        }
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            depth--; /* libyaml guarantees balanced start/end events */
            break;
        default: /* stream start, document end: nothing to build */
            break;
        }
        yaml_event_delete(&ev);
    }
    *root = doc;
    doc = NULL;
    rc = 0;
    goto out;
fail_event:
    yaml_event_delete(&ev);
out:
    cfg_node_free(doc);
    yaml_parser_delete(&p);
    cfg_path_pop(ctx, 0);
    return rc;
}

const struct cfg_node *cfg_map_get(const struct cfg_node *map, const char *key)
{
    size_t klen = strlen(key);

    if (map == NULL || map->type != CFG_MAPPING)
        return NULL;
    for (size_t i = 0; i + 1 < map->nkids; i += 2)
        if (map->kids[i]->len == klen && memcmp(map->kids[i]->str, key, klen) == 0)
            return map->kids[i + 1];
    return NULL;
}

int cfg_scalar_is(const struct cfg_node *n, const char *s)
{
    return n && n->type == CFG_SCALAR && !n->is_null && n->len == strlen(s) &&
           memcmp(n->str, s, n->len) == 0;
}

/* ---- typed readers ---- */

int cfg_read_string(struct cfg_ctx *ctx, const struct cfg_node *n, char **out)
{
    char got[80];
    char *copy;

    if (n->type != CFG_SCALAR || n->is_null)
        return cfg_fail(ctx, n, "expected a string, got %s", cfg_node_describe(n, got, sizeof(got)));
    if (n->len == 0)
        return cfg_fail(ctx, n, "expected a non-empty string, got \"\"");
    if (strlen(n->str) != n->len)
        return cfg_fail(ctx, n, "expected a string without NUL bytes, got %s",
                        cfg_node_describe(n, got, sizeof(got)));
    if ((copy = strdup(n->str)) == NULL)
        return cfg_fail(ctx, n, "out of memory");
    free(*out);
    *out = copy;
    return 0;
}

/* Splits a scalar into a leading decimal number and the unit after it. Returns 0,
 * -1 when there is no number, -2 when the number does not fit 64 bits. */
static int number_unit(const struct cfg_node *n, uint64_t *v, const char **unit)
{
    size_t i = 0;
    int rc;

    if (n->type != CFG_SCALAR || n->is_null)
        return -1;
    while (i < n->len && n->str[i] >= '0' && n->str[i] <= '9')
        i++;
    if (i == 0)
        return -1;
    rc = span_to_u64(span_make(n->str, i), v);
    *unit = n->str + i;
    return rc == 0 ? 0 : -2;
}

static int scaled(uint64_t v, uint64_t mult, uint64_t *out)
{
    if (v > UINT64_MAX / mult)
        return -1;
    *out = v * mult;
    return 0;
}

int cfg_read_u32(struct cfg_ctx *ctx, const struct cfg_node *n, uint32_t min, uint32_t max,
                 uint32_t *out)
{
    const char *unit = NULL;
    uint64_t v = 0;
    char got[80];

    if (number_unit(n, &v, &unit) != 0 || *unit != '\0' || v < min || v > max)
        return cfg_fail(ctx, n, "expected an integer between %u and %u, got %s", min, max,
                        cfg_node_describe(n, got, sizeof(got)));
    *out = (uint32_t)v;
    return 0;
}

static const char *ms_format(uint32_t ms, char *buf, size_t len)
{
    if (ms == 0)
        snprintf(buf, len, "0s");
    else if (ms % 3600000u == 0)
        snprintf(buf, len, "%uh", ms / 3600000u);
    else if (ms % 60000u == 0)
        snprintf(buf, len, "%um", ms / 60000u);
    else if (ms % 1000u == 0)
        snprintf(buf, len, "%us", ms / 1000u);
    else
        snprintf(buf, len, "%ums", ms);
    return buf;
}

int cfg_read_ms(struct cfg_ctx *ctx, const struct cfg_node *n, uint32_t min, uint32_t max,
                uint32_t *out)
{
    static const struct { const char *unit; uint64_t ms; } units[] = {
        {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000},
    };
    const char *unit = NULL;
    uint64_t v = 0, ms = 0, mult = 0;
    char got[80], lo[24], hi[24];
    int rc = number_unit(n, &v, &unit);

    if (rc != -1)
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
            if (strcmp(unit, units[i].unit) == 0)
                mult = units[i].ms;
    /* A bare number is refused on purpose: "30" could mean seconds or milliseconds. */
    if (rc == -1 || mult == 0)
        return cfg_fail(ctx, n, "expected a duration such as 30s, got %s",
                        cfg_node_describe(n, got, sizeof(got)));
    if (rc == -2 || scaled(v, mult, &ms) < 0 || ms < min || ms > max)
        return cfg_fail(ctx, n, "expected a duration between %s and %s, got %s",
                        ms_format(min, lo, sizeof(lo)), ms_format(max, hi, sizeof(hi)),
                        cfg_node_describe(n, got, sizeof(got)));
    *out = (uint32_t)ms;
    return 0;
}

static const char *bytes_format(uint32_t b, char *buf, size_t len)
{
    if (b != 0 && b % (1u << 30) == 0)
        snprintf(buf, len, "%uGiB", b >> 30);
    else if (b != 0 && b % (1u << 20) == 0)
        snprintf(buf, len, "%uMiB", b >> 20);
    else if (b != 0 && b % (1u << 10) == 0)
        snprintf(buf, len, "%uKiB", b >> 10);
    else
        snprintf(buf, len, "%uB", b);
    return buf;
}

int cfg_read_bytes(struct cfg_ctx *ctx, const struct cfg_node *n, uint32_t min, uint32_t max,
                   uint32_t *out)
{
    static const struct { const char *unit; uint64_t mult; } units[] = {
        {"", 1}, {"B", 1}, {"KiB", 1u << 10}, {"MiB", 1u << 20}, {"GiB", 1u << 30},
    };
    const char *unit = NULL;
    uint64_t v = 0, b = 0, mult = 0;
    char got[80], lo[24], hi[24];
    int rc = number_unit(n, &v, &unit);

    /* Only IEC units: "8K" or "8KB" would leave 1000 versus 1024 to guesswork. */
    if (rc != -1)
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
            if (strcmp(unit, units[i].unit) == 0)
                mult = units[i].mult;
    if (rc == -1 || mult == 0)
        return cfg_fail(ctx, n, "expected a size such as 8KiB, got %s",
                        cfg_node_describe(n, got, sizeof(got)));
    if (rc == -2 || scaled(v, mult, &b) < 0 || b < min || b > max)
        return cfg_fail(ctx, n, "expected a size between %s and %s, got %s",
                        bytes_format(min, lo, sizeof(lo)), bytes_format(max, hi, sizeof(hi)),
                        cfg_node_describe(n, got, sizeof(got)));
    *out = (uint32_t)b;
    return 0;
}

/* ---- keyword tables ---- */

static void *field(void *base, size_t offset)
{
    return (char *)base + offset;
}

void cfg_keys_defaults(const struct cfg_key *keys, void *base)
{
    for (const struct cfg_key *k = keys; k->kind != CFG_K_END; k++) {
        switch (k->kind) {
        case CFG_K_STRING: {
            char **s = field(base, k->offset);
            *s = NULL;
            if (k->def_str && (*s = strdup(k->def_str)) == NULL) {
                fprintf(stderr, "hostess-edge: out of memory loading config defaults\n");
                abort();
            }
            break;
        }
        case CFG_K_U32:
        case CFG_K_MS:
        case CFG_K_BYTES:
            *(uint32_t *)field(base, k->offset) = k->def;
            break;
        case CFG_K_SECTION:
            cfg_keys_defaults(k->section, base);
            break;
        default:
            break;
        }
    }
}

void cfg_keys_free(const struct cfg_key *keys, void *base)
{
    for (const struct cfg_key *k = keys; k->kind != CFG_K_END; k++) {
        if (k->kind == CFG_K_STRING) {
            char **s = field(base, k->offset);
            free(*s);
            *s = NULL;
        } else if (k->kind == CFG_K_SECTION) {
            cfg_keys_free(k->section, base);
        }
    }
}

static int key_apply(struct cfg_ctx *ctx, const struct cfg_key *k, const struct cfg_node *key,
                     const struct cfg_node *v, void *base)
{
    switch (k->kind) {
    case CFG_K_STRING:
        return cfg_read_string(ctx, v, field(base, k->offset));
    case CFG_K_U32:
        return cfg_read_u32(ctx, v, k->min, k->max, field(base, k->offset));
    case CFG_K_MS:
        return cfg_read_ms(ctx, v, k->min, k->max, field(base, k->offset));
    case CFG_K_BYTES:
        return cfg_read_bytes(ctx, v, k->min, k->max, field(base, k->offset));
    case CFG_K_SECTION:
        return cfg_keys_apply(ctx, v, k->section, base);
    case CFG_K_FUNC:
        return k->parse(ctx, v, base);
    case CFG_K_UNSUPPORTED:
        return cfg_fail(ctx, key, "not supported by this version of hostess-edge");
    default:
        return cfg_fail(ctx, key, "internal error: bad key table");
    }
}

int cfg_keys_apply(struct cfg_ctx *ctx, const struct cfg_node *map, const struct cfg_key *keys,
                   void *base)
{
    char got[80];

    if (map->type == CFG_SCALAR && map->is_null)
        return 0; /* "timeouts:" with nothing under it keeps every default */
    if (map->type != CFG_MAPPING)
        return cfg_fail(ctx, map, "expected a mapping, got %s",
                        cfg_node_describe(map, got, sizeof(got)));
    for (size_t i = 0; i + 1 < map->nkids; i += 2) {
        const struct cfg_node *key = map->kids[i], *v = map->kids[i + 1];
        const struct cfg_key *k = keys;
        size_t saved;
        int rc;
        while (k->kind != CFG_K_END && !cfg_scalar_is(key, k->name))
            k++;
        if (k->kind == CFG_K_END)
            return cfg_fail(ctx, key, "unknown key %s", cfg_node_describe(key, got, sizeof(got)));
        saved = cfg_path_push(ctx, k->name);
        rc = key_apply(ctx, k, key, v, base);
        cfg_path_pop(ctx, saved);
        if (rc < 0)
            return -1;
    }
    return 0;
}
