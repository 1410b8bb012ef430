/*
 * Unit tests for router/base/cfg.c: the YAML node tree with positions, what it refuses,
 * the typed readers, and keyword tables applied to a small struct of our own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "router/base/cfg.h"

static char err[512];

static int parse(const char *text, struct cfg_node **root)
{
    struct cfg_ctx ctx;

    err[0] = '\0';
    cfg_ctx_init(&ctx, "t.yaml", err, sizeof(err));
    return cfg_parse(&ctx, text, strlen(text), root);
}

static void assert_parse_error(const char *text, const char *want)
{
    struct cfg_node *root = (struct cfg_node *)1;

    assert_int_equal(parse(text, &root), -1);
    assert_null(root);
    assert_string_equal(err, want);
}

/* Parses text, whose root must be a mapping, and runs one reader on the value of "v". */
typedef int (*reader_fn)(struct cfg_ctx *, const struct cfg_node *, uint32_t, uint32_t, uint32_t *);

static int read_v(reader_fn fn, const char *text, uint32_t min, uint32_t max, uint32_t *out)
{
    struct cfg_node *root = NULL;
    struct cfg_ctx ctx;
    int rc;

    assert_int_equal(parse(text, &root), 0);
    cfg_ctx_init(&ctx, "t.yaml", err, sizeof(err));
    size_t saved = cfg_path_push(&ctx, "v");
    rc = fn(&ctx, cfg_map_get(root, "v"), min, max, out);
    cfg_path_pop(&ctx, saved);
    cfg_node_free(root);
    return rc;
}

/* ---- the tree ---- */

static void test_empty_text_has_no_document(void **state)
{
    struct cfg_node *root = (struct cfg_node *)1;
    (void)state;
    assert_int_equal(parse("", &root), 0);
    assert_null(root);
}

static void test_comments_only_have_no_document(void **state)
{
    struct cfg_node *root = (struct cfg_node *)1;
    (void)state;
    assert_int_equal(parse("# nothing here\n\n   # still nothing\n", &root), 0);
    assert_null(root);
}

static void test_nodes_carry_one_based_line_and_column(void **state)
{
    struct cfg_node *root = NULL;
    const struct cfg_node *b, *item;
    (void)state;

    assert_int_equal(parse("a: 1\nb:\n  - x\n  - {c: d}\n", &root), 0);
    assert_non_null(root);
    assert_int_equal(root->type, CFG_MAPPING);
    assert_int_equal(root->nkids, 4);
    assert_int_equal(root->kids[0]->line, 1);
    assert_int_equal(root->kids[0]->col, 1);
    assert_int_equal(root->kids[1]->col, 4);
    assert_string_equal(root->kids[1]->str, "1");
    b = cfg_map_get(root, "b");
    assert_non_null(b);
    assert_int_equal(b->type, CFG_SEQUENCE);
    assert_int_equal(b->nkids, 2);
    assert_int_equal(b->kids[0]->line, 3);
    assert_int_equal(b->kids[0]->col, 5);
    item = b->kids[1];
    assert_int_equal(item->type, CFG_MAPPING);
    assert_int_equal(item->line, 4);
    assert_int_equal(item->col, 5);
    assert_string_equal(cfg_map_get(item, "c")->str, "d");
    assert_int_equal(cfg_map_get(item, "c")->col, 9);
    assert_null(cfg_map_get(root, "zz"));
    cfg_node_free(root);
}

static void test_plain_empty_tilde_and_null_are_null_but_quoted_empty_is_not(void **state)
{
    struct cfg_node *root = NULL;
    (void)state;

    assert_int_equal(parse("a:\nb: ~\nc: null\nd: ''\ne: \"null\"\n", &root), 0);
    assert_true(cfg_map_get(root, "a")->is_null);
    assert_true(cfg_map_get(root, "b")->is_null);
    assert_true(cfg_map_get(root, "c")->is_null);
    assert_false(cfg_map_get(root, "d")->is_null);
    assert_false(cfg_map_get(root, "e")->is_null);
    cfg_node_free(root);
}

static void test_many_keys_and_items_grow_the_tree(void **state)
{
    char text[8192];
    size_t o = 0;
    struct cfg_node *root = NULL;
    (void)state;

    for (int i = 0; i < 300; i++)
        o += (size_t)snprintf(text + o, sizeof(text) - o, "k%d: [%d, %d]\n", i, i, i + 1);
    assert_int_equal(parse(text, &root), 0);
    assert_int_equal(root->nkids, 600);
    assert_string_equal(cfg_map_get(root, "k299")->kids[1]->str, "300");
    cfg_node_free(root);
}

/* ---- what the parser refuses ---- */

static void test_yaml_syntax_error_reports_libyaml_problem_mark(void **state)
{
    (void)state;
    assert_parse_error("a: b\n c: d\n",
                       "t.yaml:2:3: invalid YAML: mapping values are not allowed in this context");
}

static void test_yaml_syntax_error_includes_libyaml_context(void **state)
{
    (void)state;
    assert_parse_error("a: [1, 2\nb: 3\n",
                       "t.yaml:2:2: invalid YAML: did not find expected ',' or ']' "
                       "(while parsing a flow sequence)");
}

static void test_invalid_utf8_is_reported_at_its_line_and_column(void **state)
{
    (void)state;
    assert_parse_error("a: 1\nb: \"\xff\"\n", "t.yaml:2:5: invalid YAML: invalid leading UTF-8 octet");
}

static void test_duplicate_top_level_key_names_the_first_line(void **state)
{
    (void)state;
    assert_parse_error("a: 1\nb: 2\na: 3\n", "t.yaml:3:1: duplicate key \"a\" (first at line 1)");
}

static void test_duplicate_nested_key_names_its_parent_path(void **state)
{
    (void)state;
    assert_parse_error("x:\n  a: 1\n  a: 2\n",
                       "t.yaml:3:3: x: duplicate key \"a\" (first at line 2)");
}

static void test_same_key_in_two_mappings_is_not_a_duplicate(void **state)
{
    struct cfg_node *root = NULL;
    (void)state;
    assert_int_equal(parse("x: {a: 1}\ny: {a: 2}\n", &root), 0);
    cfg_node_free(root);
}

static void test_anchor_is_refused_at_the_node(void **state)
{
    (void)state;
    assert_parse_error("a: &x 1\n", "t.yaml:1:4: a: YAML anchors (&x) are not supported");
}

static void test_anchor_on_a_mapping_is_refused(void **state)
{
    (void)state;
    assert_parse_error("a: &m\n  b: 1\n", "t.yaml:1:4: a: YAML anchors (&m) are not supported");
}

static void test_alias_is_refused_at_the_node(void **state)
{
    (void)state;
    assert_parse_error("a: 1\nb: *x\n", "t.yaml:2:4: b: YAML aliases (*x) are not supported");
}

static void test_tag_is_refused_with_its_name(void **state)
{
    (void)state;
    assert_parse_error("a: !!str 5\n",
                       "t.yaml:1:4: a: YAML tags (tag:yaml.org,2002:str) are not supported");
}

static void test_tag_on_a_sequence_is_refused(void **state)
{
    (void)state;
    assert_parse_error("a: !foo [1]\n", "t.yaml:1:4: a: YAML tags (!foo) are not supported");
}

static void test_error_path_names_sequence_indexes(void **state)
{
    (void)state;
    assert_parse_error("l:\n  - a\n  - {k: &x b}\n",
                       "t.yaml:3:9: l[1].k: YAML anchors (&x) are not supported");
}

static void test_mapping_as_a_key_is_refused(void **state)
{
    (void)state;
    assert_parse_error("? {a: 1}\n: 2\n", "t.yaml:1:3: mapping keys must be plain strings, got a mapping");
}

static void test_second_document_is_refused(void **state)
{
    (void)state;
    assert_parse_error("a: 1\n---\nb: 2\n", "t.yaml:2:1: only one YAML document is supported");
}

static void test_nesting_deeper_than_the_limit_is_refused(void **state)
{
    char text[CFG_MAX_DEPTH + 2];
    struct cfg_node *root = NULL;
    (void)state;

    memset(text, '[', CFG_MAX_DEPTH + 1);
    text[CFG_MAX_DEPTH + 1] = '\0';
    assert_int_equal(parse(text, &root), -1);
    assert_null(root);
    assert_non_null(strstr(err, ":1:65: "));
    assert_non_null(strstr(err, "nesting deeper than 64 levels"));

    /* Exactly the limit is fine. */
    char ok[2 * CFG_MAX_DEPTH + 1];
    memset(ok, '[', CFG_MAX_DEPTH);
    memset(ok + CFG_MAX_DEPTH, ']', CFG_MAX_DEPTH);
    ok[2 * CFG_MAX_DEPTH] = '\0';
    assert_int_equal(parse(ok, &root), 0);
    cfg_node_free(root);
}

/* ---- messages ---- */

static void test_cfg_fail_truncates_to_the_buffer(void **state)
{
    struct cfg_node n = {.type = CFG_SCALAR, .line = 12, .col = 34};
    char small[16];
    struct cfg_ctx ctx;
    (void)state;

    memset(small, 'Z', sizeof(small));
    cfg_ctx_init(&ctx, "file.yaml", small, 12);
    cfg_path_push(&ctx, "timeouts");
    assert_int_equal(cfg_fail(&ctx, &n, "a long message %d", 42), -1);
    assert_string_equal(small, "file.yaml:1");
    assert_int_equal(small[12], 'Z');
}

static void test_cfg_fail_without_buffer_does_nothing(void **state)
{
    struct cfg_ctx ctx;
    (void)state;
    cfg_ctx_init(&ctx, "x", NULL, 100);
    assert_int_equal(cfg_fail(&ctx, NULL, "m"), -1);
}

static void test_long_paths_are_cut_not_overrun(void **state)
{
    struct cfg_ctx ctx;
    char key[100];
    (void)state;

    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    cfg_ctx_init(&ctx, "x", err, sizeof(err));
    for (int i = 0; i < 10; i++)
        cfg_path_push(&ctx, key);
    assert_int_equal(ctx.pathlen, sizeof(ctx.path) - 1);
    assert_int_equal(strlen(ctx.path), sizeof(ctx.path) - 1);
    cfg_path_pop(&ctx, 0);
    assert_string_equal(ctx.path, "");
}

static void test_describe_quotes_escapes_and_shortens_values(void **state)
{
    struct cfg_node n = {.type = CFG_SCALAR, .str = "a\"b\\c\n", .len = 6};
    struct cfg_node m = {.type = CFG_MAPPING}, s = {.type = CFG_SEQUENCE};
    struct cfg_node nul = {.type = CFG_SCALAR, .str = "", .is_null = 1};
    char longv[100], buf[80];
    (void)state;

    assert_string_equal(cfg_node_describe(&n, buf, sizeof(buf)), "\"a\\\"b\\\\c\\x0a\"");
    assert_string_equal(cfg_node_describe(&m, buf, sizeof(buf)), "a mapping");
    assert_string_equal(cfg_node_describe(&s, buf, sizeof(buf)), "a list");
    assert_string_equal(cfg_node_describe(&nul, buf, sizeof(buf)), "nothing");
    memset(longv, 'x', sizeof(longv));
    n.str = longv;
    n.len = sizeof(longv);
    cfg_node_describe(&n, buf, sizeof(buf));
    assert_int_equal(strlen(buf), 1 + 48 + 3 + 1);
    assert_string_equal(buf + 49, "...\"");
}

/* ---- typed readers ---- */

static void test_durations_accept_ms_s_m_h(void **state)
{
    uint32_t v = 0;
    (void)state;
    assert_int_equal(read_v(cfg_read_ms, "v: 250ms", 0, UINT32_MAX, &v), 0);
    assert_int_equal(v, 250);
    assert_int_equal(read_v(cfg_read_ms, "v: 5s", 0, UINT32_MAX, &v), 0);
    assert_int_equal(v, 5000);
    assert_int_equal(read_v(cfg_read_ms, "v: \"2m\"", 0, UINT32_MAX, &v), 0);
    assert_int_equal(v, 120000);
    assert_int_equal(read_v(cfg_read_ms, "v: 1h", 0, UINT32_MAX, &v), 0);
    assert_int_equal(v, 3600000);
    assert_int_equal(read_v(cfg_read_ms, "v: 0s", 0, 10, &v), 0);
    assert_int_equal(v, 0);
}

static void test_bare_number_duration_is_an_error_with_line_and_column(void **state)
{
    uint32_t v = 7;
    (void)state;
    assert_int_equal(read_v(cfg_read_ms, "x: 1\nv:   30\n", 1, 1000000, &v), -1);
    assert_string_equal(err, "t.yaml:2:6: v: expected a duration such as 30s, got \"30\"");
    assert_int_equal(v, 7);
}

static void test_bad_duration_words_and_units_are_errors(void **state)
{
    uint32_t v;
    (void)state;
    assert_int_equal(read_v(cfg_read_ms, "v: soon", 1, 1000, &v), -1);
    assert_string_equal(err, "t.yaml:1:4: v: expected a duration such as 30s, got \"soon\"");
    assert_int_equal(read_v(cfg_read_ms, "v: 5 s", 1, 100000, &v), -1);
    assert_string_equal(err, "t.yaml:1:4: v: expected a duration such as 30s, got \"5 s\"");
    assert_int_equal(read_v(cfg_read_ms, "v: 5sec", 1, 100000, &v), -1);
    assert_int_equal(read_v(cfg_read_ms, "v: -5s", 1, 100000, &v), -1);
    assert_int_equal(read_v(cfg_read_ms, "v: 1.5s", 1, 100000, &v), -1);
    assert_int_equal(read_v(cfg_read_ms, "v: [5s]", 1, 100000, &v), -1);
    assert_string_equal(err, "t.yaml:1:4: v: expected a duration such as 30s, got a list");
    assert_int_equal(read_v(cfg_read_ms, "v:", 1, 100000, &v), -1);
    assert_string_equal(err, "t.yaml:1:3: v: expected a duration such as 30s, got nothing");
}

static void test_duration_out_of_range_names_the_range(void **state)
{
    uint32_t v;
    (void)state;
    assert_int_equal(read_v(cfg_read_ms, "v: 25h", 1, 86400000, &v), -1);
    assert_string_equal(err, "t.yaml:1:4: v: expected a duration between 1ms and 24h, got \"25h\"");
    assert_int_equal(read_v(cfg_read_ms, "v: 0ms", 1, 86400000, &v), -1);
    assert_string_equal(err, "t.yaml:1:4: v: expected a duration between 1ms and 24h, got \"0ms\"");
    assert_int_equal(read_v(cfg_read_ms, "v: 99999999999999999999999h", 1, 86400000, &v), -1);
    assert_non_null(strstr(err, "expected a duration between 1ms and 24h"));
    assert_int_equal(read_v(cfg_read_ms, "v: 9999999999999999h", 1, 86400000, &v), -1);
    assert_non_null(strstr(err, "expected a duration between 1ms and 24h"));
    assert_int_equal(read_v(cfg_read_ms, "v: 1500ms", 2000, 90000, &v), -1);
    assert_string_equal(err, "t.yaml:1:4: v: expected a duration between 2s and 90s, got \"1500ms\"");
}

static void test_sizes_accept_bytes_and_iec_units(void **state)
{
    uint32_t v = 0;
    (void)state;
    assert_int_equal(read_v(cfg_read_bytes, "v: 512", 0, UINT32_MAX, &v), 0);
    assert_int_equal(v, 512);
    assert_int_equal(read_v(cfg_read_bytes, "v: 512B", 0, UINT32_MAX, &v), 0);
    assert_int_equal(v, 512);
    assert_int_equal(read_v(cfg_read_bytes, "v: 8KiB", 0, UINT32_MAX, &v), 0);
    assert_int_equal(v, 8192);
    assert_int_equal(read_v(cfg_read_bytes, "v: 1MiB", 0, UINT32_MAX, &v), 0);
    assert_int_equal(v, 1048576);
    assert_int_equal(read_v(cfg_read_bytes, "v: 2GiB", 0, UINT32_MAX, &v), 0);
    assert_int_equal(v, 2147483648u);
}

static void test_bad_size_units_are_errors(void **state)
{
    uint32_t v;
    (void)state;
    assert_int_equal(read_v(cfg_read_bytes, "v: 8KB", 0, UINT32_MAX, &v), -1);
    assert_string_equal(err, "t.yaml:1:4: v: expected a size such as 8KiB, got \"8KB\"");
    assert_int_equal(read_v(cfg_read_bytes, "v: 8k", 0, UINT32_MAX, &v), -1);
    assert_int_equal(read_v(cfg_read_bytes, "v: KiB", 0, UINT32_MAX, &v), -1);
    assert_int_equal(read_v(cfg_read_bytes, "v: {a: 1}", 0, UINT32_MAX, &v), -1);
    assert_string_equal(err, "t.yaml:1:4: v: expected a size such as 8KiB, got a mapping");
}

static void test_size_out_of_range_names_the_range(void **state)
{
    uint32_t v;
    (void)state;
    assert_int_equal(read_v(cfg_read_bytes, "v: 2MiB", 256, 1048576, &v), -1);
    assert_string_equal(err, "t.yaml:1:4: v: expected a size between 256B and 1MiB, got \"2MiB\"");
    assert_int_equal(read_v(cfg_read_bytes, "v: 8GiB", 0, UINT32_MAX, &v), -1);
    assert_int_equal(read_v(cfg_read_bytes, "v: 99999999999999999999999", 0, 10, &v), -1);
    assert_string_equal(err, "t.yaml:1:4: v: expected a size between 0B and 10B, "
                             "got \"99999999999999999999999\"");
}

static void test_integers_are_plain_decimal_within_range(void **state)
{
    uint32_t v = 0;
    (void)state;
    assert_int_equal(read_v(cfg_read_u32, "v: 100", 1, 10000, &v), 0);
    assert_int_equal(v, 100);
    assert_int_equal(read_v(cfg_read_u32, "v: 0", 1, 10000, &v), -1);
    assert_string_equal(err, "t.yaml:1:4: v: expected an integer between 1 and 10000, got \"0\"");
    assert_int_equal(read_v(cfg_read_u32, "v: 0x10", 1, 10000, &v), -1);
    assert_int_equal(read_v(cfg_read_u32, "v: +5", 1, 10000, &v), -1);
    assert_int_equal(read_v(cfg_read_u32, "v: 5k", 1, 10000, &v), -1);
    assert_string_equal(err, "t.yaml:1:4: v: expected an integer between 1 and 10000, got \"5k\"");
}

static void test_strings_must_be_non_empty_scalars(void **state)
{
    struct cfg_node *root = NULL;
    struct cfg_ctx ctx;
    char *s = NULL;
    (void)state;

    assert_int_equal(parse("a: hello\nb: ''\nc: [x]\nd:\ne: \"x\\0y\"\n", &root), 0);
    cfg_ctx_init(&ctx, "t.yaml", err, sizeof(err));
    assert_int_equal(cfg_read_string(&ctx, cfg_map_get(root, "a"), &s), 0);
    assert_string_equal(s, "hello");
    assert_int_equal(cfg_read_string(&ctx, cfg_map_get(root, "b"), &s), -1);
    assert_string_equal(err, "t.yaml:2:4: expected a non-empty string, got \"\"");
    assert_int_equal(cfg_read_string(&ctx, cfg_map_get(root, "c"), &s), -1);
    assert_string_equal(err, "t.yaml:3:4: expected a string, got a list");
    assert_int_equal(cfg_read_string(&ctx, cfg_map_get(root, "d"), &s), -1);
    assert_string_equal(err, "t.yaml:4:3: expected a string, got nothing");
    assert_int_equal(cfg_read_string(&ctx, cfg_map_get(root, "e"), &s), -1);
    assert_string_equal(err, "t.yaml:5:4: expected a string without NUL bytes, got \"x\\x00y\"");
    assert_string_equal(s, "hello"); /* untouched by the failures */
    free(s);
    cfg_node_free(root);
}

/* ---- keyword tables ---- */

struct demo {
    char    *name;
    uint32_t count;
    uint32_t wait_ms;
    uint32_t max_bytes;
    int      seen;
};

static int demo_mark(struct cfg_ctx *ctx, const struct cfg_node *v, void *base)
{
    if (!cfg_scalar_is(v, "yes"))
        return cfg_fail(ctx, v, "expected yes");
    ((struct demo *)base)->seen = 1;
    return 0;
}

static const struct cfg_key demo_inner[] = {
    CFG_MS("wait", struct demo, wait_ms, 1, 60000, 1000),
    CFG_BYTES("max", struct demo, max_bytes, 1, 1 << 20, 4096),
    CFG_END,
};

static const struct cfg_key demo_keys[] = {
    CFG_STRING("name", struct demo, name, "anon"),
    CFG_U32("count", struct demo, count, 1, 10, 3),
    CFG_SECTION("inner", demo_inner),
    CFG_FUNC("mark", demo_mark),
    CFG_UNSUPPORTED("later"),
    CFG_END,
};

static int demo_load(const char *text, struct demo *d)
{
    struct cfg_node *root = NULL;
    struct cfg_ctx ctx;
    int rc;

    memset(d, 0, sizeof(*d));
    cfg_keys_defaults(demo_keys, d);
    assert_int_equal(parse(text, &root), 0);
    cfg_ctx_init(&ctx, "t.yaml", err, sizeof(err));
    rc = root ? cfg_keys_apply(&ctx, root, demo_keys, d) : 0;
    cfg_node_free(root);
    return rc;
}

static void test_keyword_table_defaults_apply_without_keys(void **state)
{
    struct demo d;
    (void)state;
    assert_int_equal(demo_load("", &d), 0);
    assert_string_equal(d.name, "anon");
    assert_int_equal(d.count, 3);
    assert_int_equal(d.wait_ms, 1000);
    assert_int_equal(d.max_bytes, 4096);
    cfg_keys_free(demo_keys, &d);
    assert_null(d.name);
}

static void test_keyword_table_reads_every_kind(void **state)
{
    struct demo d;
    (void)state;
    assert_int_equal(demo_load("name: x\ncount: 7\ninner: {wait: 2s, max: 1KiB}\nmark: yes\n", &d), 0);
    assert_string_equal(d.name, "x");
    assert_int_equal(d.count, 7);
    assert_int_equal(d.wait_ms, 2000);
    assert_int_equal(d.max_bytes, 1024);
    assert_int_equal(d.seen, 1);
    cfg_keys_free(demo_keys, &d);
}

static void test_null_section_keeps_the_defaults(void **state)
{
    struct demo d;
    (void)state;
    assert_int_equal(demo_load("inner:\n", &d), 0);
    assert_int_equal(d.wait_ms, 1000);
    cfg_keys_free(demo_keys, &d);
}

static void test_unknown_key_is_reported_at_the_key_with_its_parent_path(void **state)
{
    struct demo d;
    (void)state;
    assert_int_equal(demo_load("name: x\nfoo: 1\n", &d), -1);
    assert_string_equal(err, "t.yaml:2:1: unknown key \"foo\"");
    cfg_keys_free(demo_keys, &d);
    assert_int_equal(demo_load("inner:\n  wait: 1s\n  wiat: 2s\n", &d), -1);
    assert_string_equal(err, "t.yaml:3:3: inner: unknown key \"wiat\"");
    cfg_keys_free(demo_keys, &d);
}

static void test_unsupported_key_is_reported_at_the_key(void **state)
{
    struct demo d;
    (void)state;
    assert_int_equal(demo_load("later: {x: 1}\n", &d), -1);
    assert_string_equal(err, "t.yaml:1:1: later: not supported by this version of hostess-edge");
    cfg_keys_free(demo_keys, &d);
}

static void test_section_of_the_wrong_type_expects_a_mapping(void **state)
{
    struct demo d;
    (void)state;
    assert_int_equal(demo_load("inner: [1, 2]\n", &d), -1);
    assert_string_equal(err, "t.yaml:1:8: inner: expected a mapping, got a list");
    cfg_keys_free(demo_keys, &d);
    assert_int_equal(demo_load("inner: fast\n", &d), -1);
    assert_string_equal(err, "t.yaml:1:8: inner: expected a mapping, got \"fast\"");
    cfg_keys_free(demo_keys, &d);
}

static void test_errors_in_sections_and_callbacks_carry_the_full_path(void **state)
{
    struct demo d;
    (void)state;
    assert_int_equal(demo_load("inner:\n  max: 2MiB\n", &d), -1);
    assert_string_equal(err, "t.yaml:2:8: inner.max: expected a size between 1B and 1MiB, got \"2MiB\"");
    cfg_keys_free(demo_keys, &d);
    assert_int_equal(demo_load("mark: no\n", &d), -1);
    assert_string_equal(err, "t.yaml:1:7: mark: expected yes");
    cfg_keys_free(demo_keys, &d);
    assert_int_equal(demo_load("name: {a: b}\n", &d), -1);
    assert_string_equal(err, "t.yaml:1:7: name: expected a string, got a mapping");
    cfg_keys_free(demo_keys, &d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_text_has_no_document),
        cmocka_unit_test(test_comments_only_have_no_document),
        cmocka_unit_test(test_nodes_carry_one_based_line_and_column),
        cmocka_unit_test(test_plain_empty_tilde_and_null_are_null_but_quoted_empty_is_not),
        cmocka_unit_test(test_many_keys_and_items_grow_the_tree),
        cmocka_unit_test(test_yaml_syntax_error_reports_libyaml_problem_mark),
        cmocka_unit_test(test_yaml_syntax_error_includes_libyaml_context),
        cmocka_unit_test(test_invalid_utf8_is_reported_at_its_line_and_column),
        cmocka_unit_test(test_duplicate_top_level_key_names_the_first_line),
        cmocka_unit_test(test_duplicate_nested_key_names_its_parent_path),
        cmocka_unit_test(test_same_key_in_two_mappings_is_not_a_duplicate),
        cmocka_unit_test(test_anchor_is_refused_at_the_node),
        cmocka_unit_test(test_anchor_on_a_mapping_is_refused),
        cmocka_unit_test(test_alias_is_refused_at_the_node),
        cmocka_unit_test(test_tag_is_refused_with_its_name),
        cmocka_unit_test(test_tag_on_a_sequence_is_refused),
        cmocka_unit_test(test_error_path_names_sequence_indexes),
        cmocka_unit_test(test_mapping_as_a_key_is_refused),
        cmocka_unit_test(test_second_document_is_refused),
        cmocka_unit_test(test_nesting_deeper_than_the_limit_is_refused),
        cmocka_unit_test(test_cfg_fail_truncates_to_the_buffer),
        cmocka_unit_test(test_cfg_fail_without_buffer_does_nothing),
        cmocka_unit_test(test_long_paths_are_cut_not_overrun),
        cmocka_unit_test(test_describe_quotes_escapes_and_shortens_values),
        cmocka_unit_test(test_durations_accept_ms_s_m_h),
        cmocka_unit_test(test_bare_number_duration_is_an_error_with_line_and_column),
        cmocka_unit_test(test_bad_duration_words_and_units_are_errors),
        cmocka_unit_test(test_duration_out_of_range_names_the_range),
        cmocka_unit_test(test_sizes_accept_bytes_and_iec_units),
        cmocka_unit_test(test_bad_size_units_are_errors),
        cmocka_unit_test(test_size_out_of_range_names_the_range),
        cmocka_unit_test(test_integers_are_plain_decimal_within_range),
        cmocka_unit_test(test_strings_must_be_non_empty_scalars),
        cmocka_unit_test(test_keyword_table_defaults_apply_without_keys),
        cmocka_unit_test(test_keyword_table_reads_every_kind),
        cmocka_unit_test(test_null_section_keeps_the_defaults),
        cmocka_unit_test(test_unknown_key_is_reported_at_the_key_with_its_parent_path),
        cmocka_unit_test(test_unsupported_key_is_reported_at_the_key),
        cmocka_unit_test(test_section_of_the_wrong_type_expects_a_mapping),
        cmocka_unit_test(test_errors_in_sections_and_callbacks_carry_the_full_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
