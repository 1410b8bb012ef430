/*
 * Unit tests for control/store.c: the file backend of the durable state (store.h).
 *
 * Each test gets a fresh directory from mkdtemp under /tmp (removed by the teardown,
 * whatever the outcome) and the state file "state.json" inside it, not yet created.
 *
 * Commits go to the journal (state.json.journal) and reach state.json only when the store
 * compacts: tests that look at state.json itself set fx->compact = 1 (compact after every
 * commit, i.e. the snapshot always holds the whole state).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "control/store.h"
#include "tests/support/rm_rf.h"

/* ---- fixture and helpers ---------------------------------------------------------- */

struct fx {
    char dir[64];        /* /tmp/test_store.XXXXXX */
    char path[PATH_MAX]; /* dir/state.json unless a test moves it (set_path) */
    char tmp[PATH_MAX];  /* path.tmp */
    char prev[PATH_MAX]; /* path.prev */
    char journal[PATH_MAX]; /* path.journal */
    uint64_t compact;    /* passed to store_set_compact_bytes when not 0 */
    char err[1024];
};

/* Points the test at dir/rel (and its .tmp and .prev). */
static void set_path(struct fx *fx, const char *rel)
{
    assert_true((size_t)snprintf(fx->path, sizeof(fx->path), "%s/%s", fx->dir, rel) <
                sizeof(fx->path));
    assert_true((size_t)snprintf(fx->tmp, sizeof(fx->tmp), "%s.tmp", fx->path) < sizeof(fx->tmp));
    assert_true((size_t)snprintf(fx->prev, sizeof(fx->prev), "%s.prev", fx->path) <
                sizeof(fx->prev));
    assert_true((size_t)snprintf(fx->journal, sizeof(fx->journal), "%s.journal", fx->path) <
                sizeof(fx->journal));
}

static int setup(void **state)
{
    struct fx *fx = calloc(1, sizeof(*fx));

    if (fx == NULL)
        return -1;
    strcpy(fx->dir, "/tmp/test_store.XXXXXX");
    if (mkdtemp(fx->dir) == NULL) {
        free(fx);
        return -1;
    }
    *state = fx;
    set_path(fx, "state.json");
    return 0;
}

static int teardown(void **state)
{
    struct fx *fx = *state;

    rm_rf(fx->dir);
    free(fx);
    return 0;
}

/* The whole file, NUL-terminated (*len excludes the NUL); NULL if it does not exist. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (f == NULL)
        return NULL;
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    if (len != NULL)
        *len = (size_t)n;
    return buf;
}

static void spit(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void assert_file_is(const char *path, const char *want, size_t want_len)
{
    size_t len;
    char *got = slurp(path, &len);

    assert_non_null(got);
    assert_int_equal(len, want_len);
    assert_memory_equal(got, want, want_len);
    free(got);
}

static int exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

static json_t *js(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);

    if (v == NULL)
        fail_msg("bad test JSON %s: %s", text, e.text);
    return v;
}

static struct store *open_store(struct fx *fx)
{
    struct store *s = store_open_file(fx->path, fx->err, sizeof(fx->err));

    if (s == NULL)
        fail_msg("store_open_file: %s", fx->err);
    if (fx->compact != 0)
        store_set_compact_bytes(s, fx->compact);
    return s;
}

/* fx, set to compact after every commit (for tests that look at PATH itself). */
static struct fx *compacting(struct fx *fx)
{
    fx->compact = 1;
    return fx;
}

/* A store opened and loaded; *gen gets the loaded generation. */
static struct store *loaded_store(struct fx *fx, json_t **services, uint64_t *gen)
{
    struct store *s = open_store(fx);

    if (store_load(s, services, gen, fx->err, sizeof(fx->err)) != 0)
        fail_msg("store_load: %s", fx->err);
    return s;
}

static void commit_ok(struct fx *fx, struct store *s, uint64_t gen, const char *key,
                      const char *service_json)
{
    json_t *v = service_json != NULL ? js(service_json) : NULL;

    if (store_commit(s, gen, key, v, fx->err, sizeof(fx->err)) != 0)
        fail_msg("store_commit %s: %s", key, fx->err);
    json_decref(v);
}

/* A store loaded from an empty directory, holding a = {"v":1} and b = {"v":2} at
 * generation 2 on disk. */
static struct store *two_services(struct fx *fx)
{
    json_t *services;
    uint64_t gen;
    struct store *s = loaded_store(fx, &services, &gen);

    json_decref(services);
    commit_ok(fx, s, 1, "p/e/a", "{\"v\":1}");
    commit_ok(fx, s, 2, "p/e/b", "{\"v\":2}");
    return s;
}

/* Loads fx->path in a new store and checks it holds want (JSON text) at generation gen. */
static void assert_state(struct fx *fx, const char *want, uint64_t want_gen)
{
    json_t *services, *expected = js(want);
    uint64_t gen = 12345;
    struct store *s = loaded_store(fx, &services, &gen);

    if (!json_equal(services, expected)) {
        char *got = json_dumps(services, JSON_SORT_KEYS);

        fail_msg("state is %s, expected %s", got, want);
    }
    assert_int_equal(gen, want_gen);
    json_decref(services);
    json_decref(expected);
    store_close(s);
}

/* err is "PATH:LINE:COL: message" with LINE and COL positive. */
static void assert_err_has_position(const char *err, const char *path)
{
    size_t n = strlen(path);
    int line = 0, col = 0, used = 0;

    assert_int_equal(strncmp(err, path, n), 0);
    assert_int_equal(sscanf(err + n, ":%d:%d: %n", &line, &col, &used), 2);
    assert_true(line > 0);
    assert_true(col > 0);
    assert_true(used > 0);
    assert_true(strlen(err + n + used) > 0);
}

/* err is "PATH: message" with no position. */
static void assert_err_without_position(const char *err, const char *path)
{
    size_t n = strlen(path);

    assert_int_equal(strncmp(err, path, n), 0);
    assert_int_equal(strncmp(err + n, ": ", 2), 0);
    assert_true(strlen(err + n + 2) > 0);
}

/* Loading fails, gives no services, and leaves every file as it was. */
static void assert_load_refused(struct fx *fx)
{
    size_t len;
    char *before = slurp(fx->path, &len);
    struct store *s = open_store(fx);
    json_t *services = (json_t *)1;
    uint64_t gen = 77;

    assert_non_null(before);
    fx->err[0] = '\0';
    assert_int_equal(store_load(s, &services, &gen, fx->err, sizeof(fx->err)), -1);
    assert_null(services);
    assert_file_is(fx->path, before, len);
    assert_false(exists(fx->tmp));
    store_close(s);
    free(before);
}

/* ---- fresh start -------------------------------------------------------------------- */

static void test_missing_file_is_a_fresh_start_at_generation_0(void **state)
{
    struct fx *fx = *state;
    json_t *services = NULL;
    uint64_t gen = 99;
    struct store *s = open_store(fx);

    assert_string_equal(store_describe(s), fx->path);
    assert_int_equal(store_load(s, &services, &gen, fx->err, sizeof(fx->err)), 0);
    assert_true(json_is_object(services));
    assert_int_equal(json_object_size(services), 0);
    assert_int_equal(gen, 0);
    /* load never writes */
    assert_false(exists(fx->path));
    assert_false(exists(fx->tmp));
    json_decref(services);
    store_close(s);
}

static void test_load_in_a_missing_directory_does_not_create_it(void **state)
{
    struct fx *fx = *state;
    json_t *services = NULL;
    uint64_t gen = 99;
    char sub[160];

    snprintf(sub, sizeof(sub), "%s/missing", fx->dir);
    set_path(fx, "missing/state.json");
    struct store *s = open_store(fx);

    assert_int_equal(store_load(s, &services, &gen, fx->err, sizeof(fx->err)), 0);
    assert_int_equal(json_object_size(services), 0);
    assert_int_equal(gen, 0);
    assert_false(exists(sub));
    json_decref(services);
    store_close(s);
}

/* ---- commit and load ---------------------------------------------------------------- */

static void test_commit_then_load_in_a_new_store_gives_the_same_state(void **state)
{
    struct fx *fx = *state;
    struct store *s = two_services(fx);
    json_t *nul = json_object();

    /* Unicode, nested values, a key that needs escaping, a string holding NUL. */
    commit_ok(fx, s, 3, "proj/prod/web",
              "{\"name\":\"w\\u00e9b \\u2603\",\"targets\":[{\"addr\":\"10.0.0.1:80\","
              "\"weight\":1.5},{\"addr\":\"[::1]:8080\"}],\"on\":true,\"n\":null}");
    commit_ok(fx, s, 4, "p/e/\"quoted\"\\\t\x01", "{\"k\":-7}");
    json_object_set_new(nul, "s", json_stringn("a\0b", 3));
    assert_int_equal(store_commit(s, 5, "p/e/nul", nul, fx->err, sizeof(fx->err)), 0);
    json_decref(nul);
    /* replacing an existing key */
    commit_ok(fx, s, 6, "p/e/a", "{\"v\":10}");
    store_close(s);

    assert_state(fx,
                 "{\"p/e/a\":{\"v\":10},\"p/e/b\":{\"v\":2},"
                 "\"proj/prod/web\":{\"name\":\"w\\u00e9b \\u2603\",\"targets\":[{\"addr\":"
                 "\"10.0.0.1:80\",\"weight\":1.5},{\"addr\":\"[::1]:8080\"}],\"on\":true,"
                 "\"n\":null},"
                 "\"p/e/\\\"quoted\\\"\\\\\\t\\u0001\":{\"k\":-7},"
                 "\"p/e/nul\":{\"s\":\"a\\u0000b\"}}",
                 6);
}

static void test_commits_continue_from_the_loaded_state(void **state)
{
    struct fx *fx = *state;
    json_t *services;
    uint64_t gen;
    struct store *s = two_services(fx);

    store_close(s);
    s = loaded_store(fx, &services, &gen);
    json_decref(services);
    assert_int_equal(gen, 2);
    commit_ok(fx, s, 3, "p/e/c", "{\"v\":3}");
    store_close(s);
    assert_state(fx, "{\"p/e/a\":{\"v\":1},\"p/e/b\":{\"v\":2},\"p/e/c\":{\"v\":3}}", 3);
}

static void test_delete_removes_the_key(void **state)
{
    struct fx *fx = *state;
    struct store *s = two_services(fx);

    commit_ok(fx, s, 3, "p/e/a", NULL);
    assert_state(fx, "{\"p/e/b\":{\"v\":2}}", 3);
    /* deleting a missing key is not an error, and still records the generation */
    commit_ok(fx, s, 4, "p/e/never", NULL);
    assert_state(fx, "{\"p/e/b\":{\"v\":2}}", 4);
    commit_ok(fx, s, 5, "p/e/b", NULL);
    assert_state(fx, "{}", 5);
    store_close(s);
}

static void test_prev_holds_the_previous_document(void **state)
{
    struct fx *fx = *state;
    json_t *services;
    uint64_t gen;
    struct store *s = loaded_store(compacting(fx), &services, &gen);
    size_t len1, len2;
    char *first, *second;

    json_decref(services);
    commit_ok(fx, s, 1, "p/e/a", "{\"v\":1}");
    assert_false(exists(fx->prev));
    first = slurp(fx->path, &len1);
    assert_non_null(first);

    commit_ok(fx, s, 2, "p/e/b", "{\"v\":2}");
    assert_file_is(fx->prev, first, len1);
    second = slurp(fx->path, &len2);
    assert_non_null(second);
    assert_true(len2 != len1 || memcmp(first, second, len1) != 0);

    commit_ok(fx, s, 3, "p/e/a", NULL);
    assert_file_is(fx->prev, second, len2);
    assert_false(exists(fx->tmp));
    free(first);
    free(second);
    store_close(s);
}

static void test_missing_file_with_a_previous_copy_is_refused(void **state)
{
    struct fx *fx = *state;
    json_t *services;
    uint64_t gen;
    struct store *s = loaded_store(compacting(fx), &services, &gen);

    json_decref(services);
    commit_ok(fx, s, 1, "p/e/a", "{\"v\":1}");
    commit_ok(fx, s, 2, "p/e/b", "{\"v\":2}");
    store_close(s);
    assert_int_equal(unlink(fx->path), 0); /* the operator moved the state away */

    s = store_open_file(fx->path, fx->err, sizeof fx->err);
    assert_non_null(s);
    assert_int_equal(store_load(s, &services, &gen, fx->err, sizeof fx->err), -1);
    assert_null(services);
    assert_non_null(strstr(fx->err, fx->prev));
    assert_true(exists(fx->prev));
    assert_false(exists(fx->path));
    store_close(s);
}

static void test_document_is_compact_sorted_and_of_the_stated_format(void **state)
{
    struct fx *fx = *state;
    json_t *services, *doc;
    json_error_t e;
    uint64_t gen;
    struct store *s = loaded_store(compacting(fx), &services, &gen);
    char *text;
    size_t len;

    json_decref(services);
    commit_ok(fx, s, 1, "p/e/b", "{\"z\":1,\"a\":2}");
    commit_ok(fx, s, 2, "p/e/a", "{\"v\":1}");
    store_close(s);

    doc = json_load_file(fx->path, JSON_REJECT_DUPLICATES, &e);
    assert_non_null(doc);
    assert_int_equal(json_object_size(doc), 4);
    assert_string_equal(json_string_value(json_object_get(doc, "format")), "hostess-edge-state");
    assert_true(json_is_integer(json_object_get(doc, "version")));
    assert_int_equal(json_integer_value(json_object_get(doc, "version")), 1);
    assert_int_equal(json_integer_value(json_object_get(doc, "generation")), 2);
    assert_int_equal(json_object_size(json_object_get(doc, "services")), 2);
    json_decref(doc);

    text = slurp(fx->path, &len);
    assert_non_null(text);
    /* compact: one line, no spaces, ending in a newline */
    assert_true(len > 0 && text[len - 1] == '\n');
    assert_null(memchr(text, '\n', len - 1));
    assert_null(strchr(text, ' '));
    /* keys sorted, so the same state always gives the same bytes */
    assert_true(strstr(text, "\"p/e/a\"") < strstr(text, "\"p/e/b\""));
    assert_non_null(strstr(text, "{\"a\":2,\"z\":1}"));
    free(text);
}

static void test_largest_generation_round_trips_and_one_more_is_refused(void **state)
{
    struct fx *fx = *state;
    json_t *services, *v = js("{}");
    uint64_t gen;
    struct store *s;
    char doc[256];

    /* commits are consecutive: start from a snapshot one below the largest */
    snprintf(doc, sizeof(doc),
             "{\"format\":\"hostess-edge-state\",\"version\":1,\"generation\":%lld,"
             "\"services\":{}}",
             (long long)INT64_MAX - 1);
    spit(fx->path, doc, strlen(doc));
    s = loaded_store(fx, &services, &gen);
    json_decref(services);
    assert_true(gen == (uint64_t)INT64_MAX - 1);
    commit_ok(fx, s, (uint64_t)INT64_MAX, "p/e/a", "{}");
    assert_int_equal(store_commit(s, (uint64_t)INT64_MAX + 1, "p/e/b", v, fx->err, sizeof(fx->err)),
                     -1);
    assert_err_without_position(fx->err, fx->path);
    store_close(s);
    json_decref(v);
    assert_state(fx, "{\"p/e/a\":{}}", (uint64_t)INT64_MAX);
}

static void test_loaded_services_are_the_callers_own_object(void **state)
{
    struct fx *fx = *state;
    json_t *services;
    uint64_t gen;
    struct store *s = two_services(fx);

    store_close(s);
    s = loaded_store(fx, &services, &gen);
    /* the caller's additions do not leak into the store's copy... */
    json_object_set_new(services, "p/e/callers", json_object());
    commit_ok(fx, s, 3, "p/e/c", "{\"v\":3}");
    /* ...and the store's changes do not show up in the caller's object */
    commit_ok(fx, s, 4, "p/e/a", NULL);
    assert_non_null(json_object_get(services, "p/e/a"));
    assert_null(json_object_get(services, "p/e/c"));
    json_decref(services);
    store_close(s);
    assert_state(fx, "{\"p/e/b\":{\"v\":2},\"p/e/c\":{\"v\":3}}", 4);
}

/* ---- refusing to load --------------------------------------------------------------- */

static void test_truncated_file_is_refused_with_its_position_and_left_unchanged(void **state)
{
    struct fx *fx = *state;
    struct store *s = two_services(compacting(fx));
    size_t len, prev_len;
    char *doc, *prev;

    store_close(s);
    doc = slurp(fx->path, &len);
    prev = slurp(fx->prev, &prev_len);
    assert_non_null(doc);
    assert_non_null(prev);
    spit(fx->path, doc, len / 2);

    assert_load_refused(fx);
    assert_err_has_position(fx->err, fx->path);
    /* the operator is pointed at the previous good copy, which is untouched */
    assert_non_null(strstr(fx->err, fx->prev));
    assert_file_is(fx->prev, prev, prev_len);
    free(doc);
    free(prev);
}

static void test_text_that_is_not_json_is_refused_with_its_position(void **state)
{
    struct fx *fx = *state;
    static const char *bad[] = {
        "hello\n",
        "{\"format\":\"hostess-edge-state\",\"version\":1,}",
        "{\"format\":\"hostess-edge-state\"} trailing",
        "\xff\xfe{}",
        "\"hostess-edge-state\"",
        /* a duplicate key would silently lose one service */
        "{\"format\":\"hostess-edge-state\",\"version\":1,\"generation\":1,"
        "\"services\":{\"p/e/a\":{},\"p/e/a\":{}}}",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        spit(fx->path, bad[i], strlen(bad[i]));
        assert_load_refused(fx);
        assert_err_has_position(fx->err, fx->path);
        /* no PATH.prev exists, so none is mentioned */
        assert_null(strstr(fx->err, ".prev"));
    }
}

static void test_empty_file_is_refused(void **state)
{
    struct fx *fx = *state;

    spit(fx->path, "", 0);
    assert_load_refused(fx);
    assert_err_has_position(fx->err, fx->path);
}

static void test_documents_of_another_shape_are_refused(void **state)
{
    struct fx *fx = *state;
#define DOC(fmt, ver, gen, svc)                                                                    \
    "{\"format\":" fmt ",\"version\":" ver ",\"generation\":" gen ",\"services\":" svc "}"
    static const char *bad[] = {
        DOC("\"hostess-edge-stat\"", "1", "1", "{}"), /* wrong format */
        DOC("\"other\"", "1", "1", "{}"),
        DOC("1", "1", "1", "{}"),
        DOC("\"hostess-edge-state\"", "2", "1", "{}"), /* wrong version */
        DOC("\"hostess-edge-state\"", "0", "1", "{}"),
        DOC("\"hostess-edge-state\"", "\"1\"", "1", "{}"),
        DOC("\"hostess-edge-state\"", "1.0", "1", "{}"),
        DOC("\"hostess-edge-state\"", "1", "-1", "{}"), /* bad generation */
        DOC("\"hostess-edge-state\"", "1", "1.5", "{}"),
        DOC("\"hostess-edge-state\"", "1", "\"3\"", "{}"),
        DOC("\"hostess-edge-state\"", "1", "1", "[]"), /* services not an object */
        DOC("\"hostess-edge-state\"", "1", "1", "null"),
        DOC("\"hostess-edge-state\"", "1", "1", "{\"p/e/a\":[]}"), /* a service not an object */
        DOC("\"hostess-edge-state\"", "1", "1", "{\"p/e/a\":{},\"p/e/b\":\"x\"}"),
        "{\"version\":1,\"generation\":1,\"services\":{}}", /* missing members */
        "{\"format\":\"hostess-edge-state\",\"generation\":1,\"services\":{}}",
        "{\"format\":\"hostess-edge-state\",\"version\":1,\"services\":{}}",
        "{\"format\":\"hostess-edge-state\",\"version\":1,\"generation\":1}",
        /* a member the next commit would drop */
        "{\"format\":\"hostess-edge-state\",\"version\":1,\"generation\":1,\"services\":{},"
        "\"extra\":1}",
        "[]",
    };
#undef DOC

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        spit(fx->path, bad[i], strlen(bad[i]));
        assert_load_refused(fx);
        assert_err_without_position(fx->err, fx->path);
    }
}

static void test_refusal_mentions_prev_when_it_exists(void **state)
{
    struct fx *fx = *state;
    struct store *s = two_services(compacting(fx));
    static const char wrong[] =
        "{\"format\":\"hostess-edge-state\",\"version\":9,\"generation\":1,\"services\":{}}";

    store_close(s);
    spit(fx->path, wrong, strlen(wrong));
    assert_load_refused(fx);
    assert_err_without_position(fx->err, fx->path);
    assert_non_null(strstr(fx->err, fx->prev));
}

static void test_failed_load_keeps_the_store_from_committing(void **state)
{
    struct fx *fx = *state;
    struct store *s;
    json_t *services = NULL, *v = js("{}");
    uint64_t gen;
    static const char bad[] = "{\"format\":";

    spit(fx->path, bad, strlen(bad));
    s = open_store(fx);
    assert_int_equal(store_load(s, &services, &gen, fx->err, sizeof(fx->err)), -1);
    assert_int_equal(store_commit(s, 1, "p/e/a", v, fx->err, sizeof(fx->err)), -1);
    assert_file_is(fx->path, bad, strlen(bad));
    store_close(s);
    json_decref(v);
}

static void test_commit_before_load_is_refused_and_writes_nothing(void **state)
{
    struct fx *fx = *state;
    struct store *s = two_services(compacting(fx));
    json_t *v = js("{}");
    size_t len;
    char *before;

    store_close(s);
    before = slurp(fx->path, &len);
    s = open_store(fx);
    assert_int_equal(store_commit(s, 3, "p/e/c", v, fx->err, sizeof(fx->err)), -1);
    assert_err_without_position(fx->err, fx->path);
    assert_file_is(fx->path, before, len);
    store_close(s);
    json_decref(v);
    free(before);
}

/* ---- failing commits ---------------------------------------------------------------- */

/* After a failed commit, the next successful one must not carry the failed change. */
static void check_failed_commits_change_nothing(struct fx *fx, struct store *s)
{
    json_t *v = js("{\"v\":99}");
    size_t len, prev_len;
    char *before = slurp(fx->path, &len);
    char *prev = slurp(fx->prev, &prev_len);
    struct stat st;
    size_t jlen = 0;
    /* (a test may have put a directory in its place) */
    char *journal = stat(fx->journal, &st) == 0 && S_ISREG(st.st_mode) ? slurp(fx->journal, &jlen)
                                                                        : NULL;

    assert_non_null(before);
    assert_non_null(prev);

    /* a new key, a replaced key, a deleted key */
    fx->err[0] = '\0';
    assert_int_equal(store_commit(s, 3, "p/e/new", v, fx->err, sizeof(fx->err)), -1);
    assert_true(strlen(fx->err) > 0);
    assert_int_equal(store_commit(s, 3, "p/e/a", v, fx->err, sizeof(fx->err)), -1);
    assert_int_equal(store_commit(s, 3, "p/e/b", NULL, fx->err, sizeof(fx->err)), -1);
    assert_file_is(fx->path, before, len);
    assert_file_is(fx->prev, prev, prev_len);
    if (journal != NULL)
        assert_file_is(fx->journal, journal, jlen);
    json_decref(v);
    free(before);
    free(prev);
    free(journal);
}

static void test_failed_commit_leaves_disk_and_copy_unchanged(void **state)
{
    struct fx *fx = *state;
    struct store *s = two_services(compacting(fx));

    /* PATH.journal cannot be opened for writing: this fails even for root. (Compacted
     * after every commit, the journal is empty: nothing is lost by removing it.) */
    assert_int_equal(unlink(fx->journal), 0);
    assert_int_equal(mkdir(fx->journal, 0700), 0);
    check_failed_commits_change_nothing(fx, s);
    assert_int_equal(rmdir(fx->journal), 0);

    commit_ok(fx, s, 3, "p/e/c", "{\"v\":3}");
    store_close(s);
    assert_state(fx, "{\"p/e/a\":{\"v\":1},\"p/e/b\":{\"v\":2},\"p/e/c\":{\"v\":3}}", 3);
}

static void test_commit_into_a_read_only_directory_fails_cleanly(void **state)
{
    struct fx *fx = *state;
    struct store *s;

    if (geteuid() == 0)
        skip(); /* root writes through mode 0500; the test above covers it */
    fx->compact = 1;
    s = two_services(fx);
    /* compacted after every commit: the journal is empty, and must be created again */
    assert_int_equal(unlink(fx->journal), 0);
    assert_int_equal(chmod(fx->dir, 0500), 0);
    check_failed_commits_change_nothing(fx, s);
    assert_int_equal(chmod(fx->dir, 0700), 0);

    commit_ok(fx, s, 3, "p/e/c", "{\"v\":3}");
    store_close(s);
    assert_state(fx, "{\"p/e/a\":{\"v\":1},\"p/e/b\":{\"v\":2},\"p/e/c\":{\"v\":3}}", 3);
}

static void test_commit_refuses_bad_arguments(void **state)
{
    struct fx *fx = *state;
    json_t *services, *arr = js("[]"), *num = js("1"), *obj = js("{}");
    uint64_t gen;
    struct store *s = loaded_store(fx, &services, &gen);

    json_decref(services);
    assert_int_equal(store_commit(s, 1, "p/e/a", arr, fx->err, sizeof(fx->err)), -1);
    assert_int_equal(store_commit(s, 1, "p/e/a", num, fx->err, sizeof(fx->err)), -1);
    assert_int_equal(store_commit(s, 1, "", obj, fx->err, sizeof(fx->err)), -1);
    assert_int_equal(store_commit(s, 1, NULL, obj, fx->err, sizeof(fx->err)), -1);
    assert_int_equal(store_commit(s, 1, "p/e/\xff", obj, fx->err, sizeof(fx->err)), -1);
    assert_false(exists(fx->path));
    assert_false(exists(fx->tmp));
    store_close(s);
    json_decref(arr);
    json_decref(num);
    json_decref(obj);
}

/* ---- the journal -------------------------------------------------------------------- */

static size_t file_size(const char *path)
{
    struct stat st;

    assert_int_equal(stat(path, &st), 0);
    return (size_t)st.st_size;
}

static void append_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "ab");

    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

/* Loading refuses PATH.journal at line, leaving every file as it was. */
static void assert_journal_refused(struct fx *fx, int line)
{
    size_t jlen, plen = 0;
    char *journal = slurp(fx->journal, &jlen), *snap = slurp(fx->path, &plen);
    char want[PATH_MAX + 32], other[256];
    struct store *s = open_store(fx);
    json_t *services = (json_t *)1, *v = js("{}");
    uint64_t gen = 77;

    assert_non_null(journal);
    fx->err[0] = '\0';
    assert_int_equal(store_load(s, &services, &gen, fx->err, sizeof(fx->err)), -1);
    assert_null(services);
    snprintf(want, sizeof(want), "%s:%d: ", fx->journal, line);
    if (strncmp(fx->err, want, strlen(want)) != 0)
        fail_msg("expected \"%s...\", got \"%s\"", want, fx->err);
    /* and the store stays unable to commit */
    assert_int_equal(store_commit(s, 1, "p/e/x", v, other, sizeof(other)), -1);
    assert_file_is(fx->journal, journal, jlen);
    if (snap != NULL)
        assert_file_is(fx->path, snap, plen);
    else
        assert_false(exists(fx->path));
    assert_false(exists(fx->tmp));
    store_close(s);
    json_decref(v);
    free(journal);
    free(snap);
}

static void test_commits_live_in_the_journal_until_compaction(void **state)
{
    struct fx *fx = *state;
    struct store *s = two_services(fx);
    char *text;
    size_t len;

    /* default threshold (1 MiB): no snapshot yet, two records */
    assert_false(exists(fx->path));
    text = slurp(fx->journal, &len);
    assert_non_null(text);
    assert_string_equal(text, "{\"generation\":1,\"key\":\"p/e/a\",\"service\":{\"v\":1}}\n"
                              "{\"generation\":2,\"key\":\"p/e/b\",\"service\":{\"v\":2}}\n");
    free(text);
    commit_ok(fx, s, 3, "p/e/a", NULL);
    assert_state(fx, "{\"p/e/b\":{\"v\":2}}", 3);

    /* compaction: the snapshot takes the whole state, the journal starts empty */
    store_set_compact_bytes(s, 1);
    commit_ok(fx, s, 4, "p/e/c", "{\"v\":3}");
    assert_int_equal(file_size(fx->journal), 0);
    assert_false(exists(fx->tmp));
    assert_state(fx, "{\"p/e/b\":{\"v\":2},\"p/e/c\":{\"v\":3}}", 4);
    text = slurp(fx->path, &len);
    assert_non_null(strstr(text, "\"generation\":4,"));
    free(text);

    /* and journal records after the snapshot */
    store_set_compact_bytes(s, 0);
    commit_ok(fx, s, 5, "p/e/d", "{\"v\":4}");
    commit_ok(fx, s, 6, "p/e/b", NULL);
    store_close(s);
    assert_true(file_size(fx->journal) > 0);
    assert_state(fx, "{\"p/e/c\":{\"v\":3},\"p/e/d\":{\"v\":4}}", 6);
}

static void test_compaction_threshold_keeps_the_state_and_resets_the_journal(void **state)
{
    struct fx *fx = *state;
    json_t *services;
    uint64_t gen;
    struct store *s = loaded_store(fx, &services, &gen);
    char key[32], want[4096];
    size_t off = 0, compactions = 0, last = 0, now;

    json_decref(services);
    store_set_compact_bytes(s, 300);
    off += (size_t)snprintf(want + off, sizeof(want) - off, "{");
    for (int i = 1; i <= 40; i++) {
        snprintf(key, sizeof(key), "p/e/s%02d", i);
        commit_ok(fx, s, (uint64_t)i, key, "{\"port\":8000}");
        off += (size_t)snprintf(want + off, sizeof(want) - off, "%s\"%s\":{\"port\":8000}",
                                i > 1 ? "," : "", key);
        now = file_size(fx->journal);
        assert_true(now < 300);
        if (now < last)
            compactions++;
        last = now;
    }
    snprintf(want + off, sizeof(want) - off, "}");
    assert_true(compactions >= 3);
    store_close(s);
    assert_state(fx, want, 40);
}

static void test_torn_last_record_is_ignored_then_cut_off_by_the_next_commit(void **state)
{
    struct fx *fx = *state;
    struct store *s = two_services(fx);
    json_t *services;
    uint64_t gen;
    size_t len;
    char *good, *text;

    store_close(s);
    good = slurp(fx->journal, &len);
    /* a crash in the middle of the third append: never acknowledged */
    append_text(fx->journal, "{\"generation\":3,\"key\":\"p/e/c\",\"serv");
    assert_state(fx, "{\"p/e/a\":{\"v\":1},\"p/e/b\":{\"v\":2}}", 2);
    /* load did not write */
    assert_int_equal(file_size(fx->journal), len + 35);

    s = loaded_store(fx, &services, &gen);
    json_decref(services);
    assert_int_equal(gen, 2);
    commit_ok(fx, s, 3, "p/e/d", "{\"v\":4}");
    store_close(s);
    text = slurp(fx->journal, NULL);
    assert_memory_equal(text, good, len);
    assert_string_equal(text + len, "{\"generation\":3,\"key\":\"p/e/d\",\"service\":{\"v\":4}}\n");
    assert_state(fx, "{\"p/e/a\":{\"v\":1},\"p/e/b\":{\"v\":2},\"p/e/d\":{\"v\":4}}", 3);
    free(good);
    free(text);
}

static void test_corrupt_journal_line_is_refused_with_its_line_number(void **state)
{
    struct fx *fx = *state;
    struct store *s = two_services(fx);
    static const char *bad[] = {
        "not json\n",
        "{\"generation\":3,\"key\":\"p/e/c\",\"service\":{\"v\":3}} trailing\n",
        "[]\n",
        "\n",
        "{\"generation\":3,\"key\":\"p/e/c\"}\n",
        "{\"generation\":3,\"key\":\"p/e/c\",\"service\":[]}\n",
        "{\"generation\":3,\"key\":\"p/e/c\",\"service\":\"x\"}\n",
        "{\"generation\":3,\"key\":\"\",\"service\":null}\n",
        "{\"generation\":3,\"key\":7,\"service\":null}\n",
        "{\"generation\":\"3\",\"key\":\"p/e/c\",\"service\":null}\n",
        "{\"generation\":-3,\"key\":\"p/e/c\",\"service\":null}\n",
        "{\"generation\":3,\"key\":\"p/e/c\",\"service\":null,\"extra\":1}\n",
        "{\"generation\":3,\"key\":\"p/e/c\",\"key\":\"p/e/d\",\"service\":null}\n",
    };
    static const char last[] = "{\"generation\":4,\"key\":\"p/e/d\",\"service\":{\"v\":4}}\n";
    size_t len;
    char *good;

    store_close(s);
    good = slurp(fx->journal, &len);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        /* line 3 is bad, line 4 is good: a middle line */
        spit(fx->journal, good, len);
        append_text(fx->journal, bad[i]);
        append_text(fx->journal, last);
        assert_journal_refused(fx, 3);
    }
    /* a bad first line, with a snapshot present */
    spit(fx->path,
         "{\"format\":\"hostess-edge-state\",\"version\":1,\"generation\":0,\"services\":{}}", 72);
    spit(fx->journal, "{]\n", 3);
    assert_journal_refused(fx, 1);
    free(good);
}

static void test_out_of_sequence_generation_is_refused(void **state)
{
    struct fx *fx = *state;
    struct store *s = two_services(fx);
    static const char *bad[] = {
        "{\"generation\":4,\"key\":\"p/e/c\",\"service\":null}\n", /* a gap */
        "{\"generation\":2,\"key\":\"p/e/c\",\"service\":null}\n", /* a repeat */
        "{\"generation\":1,\"key\":\"p/e/c\",\"service\":null}\n", /* going back */
    };
    size_t len;
    char *good;

    store_close(s);
    good = slurp(fx->journal, &len);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        spit(fx->journal, good, len);
        append_text(fx->journal, bad[i]);
        assert_journal_refused(fx, 3);
        assert_non_null(strstr(fx->err, "out of sequence"));
    }
    /* the first record after the snapshot must be the snapshot's generation + 1 */
    spit(fx->journal, "{\"generation\":2,\"key\":\"p/e/c\",\"service\":null}\n", 47);
    assert_journal_refused(fx, 1);
    free(good);
}

static void test_commit_must_carry_the_next_generation(void **state)
{
    struct fx *fx = *state;
    struct store *s = two_services(fx);
    json_t *v = js("{}");
    size_t len;
    char *before = slurp(fx->journal, &len);

    assert_int_equal(store_commit(s, 4, "p/e/c", v, fx->err, sizeof(fx->err)), -1);
    assert_err_without_position(fx->err, fx->path);
    assert_int_equal(store_commit(s, 2, "p/e/c", v, fx->err, sizeof(fx->err)), -1);
    assert_file_is(fx->journal, before, len);
    commit_ok(fx, s, 3, "p/e/c", "{}");
    store_close(s);
    assert_state(fx, "{\"p/e/a\":{\"v\":1},\"p/e/b\":{\"v\":2},\"p/e/c\":{}}", 3);
    json_decref(v);
    free(before);
}

/* A crash after the snapshot was written but before the journal was emptied: the old
 * records are in the snapshot already and are skipped. */
static void test_crash_between_snapshot_and_journal_reset_loads_correctly(void **state)
{
    struct fx *fx = *state;
    struct store *s = two_services(fx);
    json_t *services;
    uint64_t gen;
    static const char snap2[] = "{\"format\":\"hostess-edge-state\",\"version\":1,\"generation\":2,"
                                "\"services\":{\"p/e/a\":{\"v\":1},\"p/e/b\":{\"v\":2}}}\n";
    static const char snap3[] = "{\"format\":\"hostess-edge-state\",\"version\":1,\"generation\":3,"
                                "\"services\":{\"p/e/b\":{\"v\":2}}}\n";

    commit_ok(fx, s, 3, "p/e/a", NULL);
    commit_ok(fx, s, 4, "p/e/c", "{\"v\":3}");
    store_close(s);
    /* journal: generations 1..4 */

    spit(fx->path, snap2, strlen(snap2)); /* compaction at 2, journal not reset */
    assert_state(fx, "{\"p/e/b\":{\"v\":2},\"p/e/c\":{\"v\":3}}", 4);
    spit(fx->path, snap3, strlen(snap3));
    assert_state(fx, "{\"p/e/b\":{\"v\":2},\"p/e/c\":{\"v\":3}}", 4);
    /* a snapshot holding everything: every record skipped */
    assert_int_equal(unlink(fx->path), 0);
    s = loaded_store(fx, &services, &gen);
    json_decref(services);
    store_set_compact_bytes(s, 1);
    /* compacting now writes the snapshot at 5 and resets; put the old journal back to
     * simulate the crash right after the snapshot's rename */
    {
        size_t len;
        char *old = slurp(fx->journal, &len);

        commit_ok(fx, s, 5, "p/e/d", "{\"v\":4}");
        store_close(s);
        assert_int_equal(file_size(fx->journal), 0);
        spit(fx->journal, old, len);
        append_text(fx->journal,
                    "{\"generation\":5,\"key\":\"p/e/d\",\"service\":{\"v\":4}}\n");
        free(old);
    }
    assert_state(fx, "{\"p/e/b\":{\"v\":2},\"p/e/c\":{\"v\":3},\"p/e/d\":{\"v\":4}}", 5);
    /* commits continue after the skipped records */
    s = loaded_store(fx, &services, &gen);
    json_decref(services);
    commit_ok(fx, s, 6, "p/e/e", "{\"v\":5}");
    store_close(s);
    assert_state(fx,
                 "{\"p/e/b\":{\"v\":2},\"p/e/c\":{\"v\":3},\"p/e/d\":{\"v\":4},\"p/e/e\":{\"v\":5}}",
                 6);
}

/* The write itself fails half-way (RLIMIT_FSIZE: part of the record is written, then
 * EFBIG): the journal is cut back, the copy is unchanged, the next commit is clean. */
static void test_failed_append_leaves_journal_and_copy_unchanged(void **state)
{
    struct fx *fx = *state;
    struct store *s = two_services(fx);
    struct rlimit old, lim;
    json_t *v = js("{\"v\":99,\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}");
    size_t len;
    char *before = slurp(fx->journal, &len);
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);

    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = (rlim_t)len + 10;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    assert_int_equal(store_commit(s, 3, "p/e/new", v, fx->err, sizeof(fx->err)), -1);
    assert_int_equal(store_commit(s, 3, "p/e/a", v, fx->err, sizeof(fx->err)), -1);
    assert_int_equal(store_commit(s, 3, "p/e/b", NULL, fx->err, sizeof(fx->err)), -1);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, old_handler);
    assert_non_null(strstr(fx->err, fx->journal));
    assert_file_is(fx->journal, before, len);

    commit_ok(fx, s, 3, "p/e/c", "{\"v\":3}");
    store_close(s);
    assert_state(fx, "{\"p/e/a\":{\"v\":1},\"p/e/b\":{\"v\":2},\"p/e/c\":{\"v\":3}}", 3);
    json_decref(v);
    free(before);
}

/* The journal replaced by a directory: the append cannot even open it. */
static void test_unwritable_journal_fails_the_commit_cleanly(void **state)
{
    struct fx *fx = *state;
    struct store *s = two_services(fx);
    json_t *v = js("{\"v\":99}");
    char aside[PATH_MAX + 8];

    snprintf(aside, sizeof(aside), "%s.aside", fx->journal);
    assert_int_equal(rename(fx->journal, aside), 0);
    assert_int_equal(mkdir(fx->journal, 0700), 0);
    assert_int_equal(store_commit(s, 3, "p/e/new", v, fx->err, sizeof(fx->err)), -1);
    assert_int_equal(store_commit(s, 3, "p/e/a", v, fx->err, sizeof(fx->err)), -1);
    assert_int_equal(store_commit(s, 3, "p/e/b", NULL, fx->err, sizeof(fx->err)), -1);
    assert_false(exists(fx->path));
    assert_int_equal(rmdir(fx->journal), 0);
    assert_int_equal(rename(aside, fx->journal), 0);

    commit_ok(fx, s, 3, "p/e/c", "{\"v\":3}");
    store_close(s);
    assert_state(fx, "{\"p/e/a\":{\"v\":1},\"p/e/b\":{\"v\":2},\"p/e/c\":{\"v\":3}}", 3);
    json_decref(v);
}

/* A commit costs the record, not the state: with 2,000 services loaded, one more commit
 * appends well under 2 KiB and leaves the snapshot alone. */
static void test_commit_cost_does_not_depend_on_the_number_of_services(void **state)
{
    struct fx *fx = *state;
    size_t cap = 2000 * 80 + 256, off = 0, snap_len, before, after;
    char *doc = malloc(cap), *snap;
    json_t *services;
    uint64_t gen;
    struct store *s;

    assert_non_null(doc);
    off += (size_t)snprintf(doc + off, cap - off,
                            "{\"format\":\"hostess-edge-state\",\"version\":1,"
                            "\"generation\":2000,\"services\":{");
    for (int i = 0; i < 2000; i++)
        off += (size_t)snprintf(doc + off, cap - off,
                                "%s\"proj/prod/svc%04d\":{\"ports\":[{\"port\":8000}]}",
                                i > 0 ? "," : "", i);
    off += (size_t)snprintf(doc + off, cap - off, "}}\n");
    spit(fx->path, doc, off);
    free(doc);

    s = loaded_store(fx, &services, &gen);
    assert_int_equal(json_object_size(services), 2000);
    json_decref(services);
    snap = slurp(fx->path, &snap_len);
    before = exists(fx->journal) ? file_size(fx->journal) : 0;
    commit_ok(fx, s, 2001, "proj/prod/svc2000", "{\"ports\":[{\"port\":8000}]}");
    after = file_size(fx->journal);
    assert_true(after - before < 2048);
    assert_true(after - before < snap_len / 20);
    commit_ok(fx, s, 2002, "proj/prod/svc0000", NULL);
    assert_true(file_size(fx->journal) - after < 2048);
    assert_file_is(fx->path, snap, snap_len); /* the snapshot is not rewritten */
    store_close(s);
    s = loaded_store(fx, &services, &gen);
    assert_int_equal(json_object_size(services), 2000);
    assert_int_equal(gen, 2002);
    assert_non_null(json_object_get(services, "proj/prod/svc2000"));
    assert_null(json_object_get(services, "proj/prod/svc0000"));
    json_decref(services);
    store_close(s);
    free(snap);
}

/* ---- directory and file mode -------------------------------------------------------- */

static void test_missing_directories_are_created_with_mode_0700(void **state)
{
    struct fx *fx = *state;
    json_t *services;
    uint64_t gen;
    struct store *s;
    struct stat st;
    char a[160], ab[160];

    snprintf(a, sizeof(a), "%s/a", fx->dir);
    snprintf(ab, sizeof(ab), "%s/a//b", fx->dir);
    set_path(fx, "a//b/state.json");
    s = loaded_store(fx, &services, &gen);
    json_decref(services);
    commit_ok(fx, s, 1, "p/e/a", "{\"v\":1}");
    store_close(s);

    assert_int_equal(stat(a, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_int_equal(stat(ab, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_state(fx, "{\"p/e/a\":{\"v\":1}}", 1);
}

static void test_a_file_in_the_way_of_the_directory_fails_the_commit(void **state)
{
    struct fx *fx = *state;
    json_t *services, *v = js("{}");
    uint64_t gen;
    struct store *s;
    char blocker[PATH_MAX];

    set_path(fx, "file/sub/state.json");
    s = loaded_store(fx, &services, &gen); /* a fresh start: "file" does not exist yet */
    json_decref(services);
    snprintf(blocker, sizeof(blocker), "%s/file", fx->dir);
    spit(blocker, "x", 1);
    assert_int_equal(store_commit(s, 1, "p/e/a", v, fx->err, sizeof(fx->err)), -1);
    assert_true(strlen(fx->err) > 0);
    assert_file_is(blocker, "x", 1);
    store_close(s);
    json_decref(v);
}

static void test_files_are_mode_0600_whatever_the_umask(void **state)
{
    struct fx *fx = *state;
    json_t *services;
    uint64_t gen;
    struct store *s = loaded_store(compacting(fx), &services, &gen);
    struct stat st;
    mode_t old_mask;

    json_decref(services);
    /* a PATH.tmp left behind by a crash, with a wider mode */
    spit(fx->tmp, "junk", 4);
    assert_int_equal(chmod(fx->tmp, 0666), 0);
    commit_ok(fx, s, 1, "p/e/a", "{\"v\":1}");
    assert_int_equal(stat(fx->path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);

    old_mask = umask(0277);
    commit_ok(fx, s, 2, "p/e/b", "{\"v\":2}");
    umask(old_mask);
    assert_int_equal(stat(fx->path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(stat(fx->prev, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(stat(fx->journal, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    /* a journal created by an append (not by a compaction), under the narrow umask */
    store_set_compact_bytes(s, 0);
    assert_int_equal(unlink(fx->journal), 0);
    old_mask = umask(0277);
    commit_ok(fx, s, 3, "p/e/c", "{\"v\":3}");
    umask(old_mask);
    assert_int_equal(stat(fx->journal, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    store_close(s);
}

/* ---- open and error strings --------------------------------------------------------- */

static void test_open_refuses_empty_too_long_and_directory_paths(void **state)
{
    struct fx *fx = *state;
    char *longpath = malloc(PATH_MAX + 1);
    char name[NAME_MAX + 16];

    assert_non_null(longpath);
    assert_null(store_open_file("", fx->err, sizeof(fx->err)));
    assert_true(strlen(fx->err) > 0);
    assert_null(store_open_file(NULL, fx->err, sizeof(fx->err)));

    /* PATH.journal.tmp (the longest name) must fit PATH_MAX */
    memset(longpath, 'a', PATH_MAX);
    longpath[0] = '/';
    for (size_t i = 100; i < PATH_MAX; i += 100)
        longpath[i] = '/';
    longpath[PATH_MAX - 12] = '\0';
    assert_null(store_open_file(longpath, fx->err, sizeof(fx->err)));
    assert_non_null(strstr(fx->err, "too long"));
    longpath[PATH_MAX - 13] = '\0'; /* PATH.journal.tmp and its NUL fill PATH_MAX exactly */
    struct store *s = store_open_file(longpath, fx->err, sizeof(fx->err));
    assert_non_null(s);
    store_close(s);

    /* the last component, plus ".journal.tmp", must fit NAME_MAX */
    memset(name, 'n', sizeof(name));
    name[0] = '/';
    name[NAME_MAX - 10] = '\0'; /* "/" and 244 characters: 256 with ".journal.tmp" */
    assert_null(store_open_file(name, fx->err, sizeof(fx->err)));
    assert_non_null(strstr(fx->err, "too long"));
    name[NAME_MAX - 11] = '\0'; /* 243 characters: 255 with ".journal.tmp" */
    s = store_open_file(name, fx->err, sizeof(fx->err));
    assert_non_null(s);
    store_close(s);

    assert_null(store_open_file("/tmp/", fx->err, sizeof(fx->err)));
    free(longpath);
}

static void test_errors_are_truncated_and_nul_terminated(void **state)
{
    struct fx *fx = *state;
    struct store *s;
    json_t *services;
    uint64_t gen;
    char small[16];

    spit(fx->path, "nope", 4);
    s = open_store(fx);
    memset(small, 'X', sizeof(small));
    assert_int_equal(store_load(s, &services, &gen, small, 10), -1);
    assert_int_equal(strlen(small), 9);
    assert_memory_equal(small, fx->path, 9);
    assert_int_equal(small[10], 'X');
    /* no room at all: nothing is written, and nothing breaks */
    assert_int_equal(store_load(s, &services, &gen, small, 0), -1);
    assert_int_equal(small[0], fx->path[0]);
    assert_int_equal(store_load(s, &services, &gen, NULL, 0), -1);
    store_close(s);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_missing_file_is_a_fresh_start_at_generation_0),
        T(test_load_in_a_missing_directory_does_not_create_it),
        T(test_commit_then_load_in_a_new_store_gives_the_same_state),
        T(test_commits_continue_from_the_loaded_state),
        T(test_delete_removes_the_key),
        T(test_prev_holds_the_previous_document),
        T(test_missing_file_with_a_previous_copy_is_refused),
        T(test_document_is_compact_sorted_and_of_the_stated_format),
        T(test_largest_generation_round_trips_and_one_more_is_refused),
        T(test_loaded_services_are_the_callers_own_object),
        T(test_truncated_file_is_refused_with_its_position_and_left_unchanged),
        T(test_text_that_is_not_json_is_refused_with_its_position),
        T(test_empty_file_is_refused),
        T(test_documents_of_another_shape_are_refused),
        T(test_refusal_mentions_prev_when_it_exists),
        T(test_failed_load_keeps_the_store_from_committing),
        T(test_commit_before_load_is_refused_and_writes_nothing),
        T(test_failed_commit_leaves_disk_and_copy_unchanged),
        T(test_commit_into_a_read_only_directory_fails_cleanly),
        T(test_commit_refuses_bad_arguments),
        T(test_commits_live_in_the_journal_until_compaction),
        T(test_compaction_threshold_keeps_the_state_and_resets_the_journal),
        T(test_torn_last_record_is_ignored_then_cut_off_by_the_next_commit),
        T(test_corrupt_journal_line_is_refused_with_its_line_number),
        T(test_out_of_sequence_generation_is_refused),
        T(test_commit_must_carry_the_next_generation),
        T(test_crash_between_snapshot_and_journal_reset_loads_correctly),
        T(test_failed_append_leaves_journal_and_copy_unchanged),
        T(test_unwritable_journal_fails_the_commit_cleanly),
        T(test_commit_cost_does_not_depend_on_the_number_of_services),
        T(test_missing_directories_are_created_with_mode_0700),
        T(test_a_file_in_the_way_of_the_directory_fails_the_commit),
        T(test_files_are_mode_0600_whatever_the_umask),
        T(test_open_refuses_empty_too_long_and_directory_paths),
        T(test_errors_are_truncated_and_nul_terminated),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
