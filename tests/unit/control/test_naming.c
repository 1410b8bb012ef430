/*
 * Unit tests for control/naming.c: the generated hostnames of CONTRACT §1 (normalised
 * names, nanoid, sha7, fallback7, the 63-octet label rule, the FQDN).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "control/naming.h"

/* ---- helpers ---------------------------------------------------------------------- */

static char out[512];

static int norm(const char *in, size_t len)
{
    memset(out, 0x55, sizeof(out));
    return naming_label_normalise(in, len, out, sizeof(out));
}

static void assert_norm(const char *in, const char *want)
{
    assert_int_equal(norm(in, strlen(in)), (int)strlen(want));
    assert_string_equal(out, want);
}

/* A normalised name of n characters: 'a'..'z' repeating, never a '-'. */
static const char *letters(char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)('a' + i % 26);
    buf[n] = '\0';
    return buf;
}

static int label(const char *project, const char *service, const char *id, unsigned port_n)
{
    memset(out, 0x55, sizeof(out));
    return naming_host_label(out, sizeof(out), project, service, id, port_n);
}

static void assert_label(const char *project, const char *service, const char *id,
                         unsigned port_n, const char *want)
{
    assert_int_equal(label(project, service, id, port_n), (int)strlen(want));
    assert_string_equal(out, want);
}

static int is_b36(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z');
}

/* ---- normalisation ---------------------------------------------------------------- */

static void test_normalise_lowercases_ascii_letters(void **state)
{
    (void)state;
    assert_norm("MyApp", "myapp");
    assert_norm("WEB", "web");
    assert_norm("api2", "api2");
    assert_norm("my-app", "my-app");
}

static void test_normalise_turns_each_run_of_symbols_into_one_dash(void **state)
{
    (void)state;
    assert_norm("my app", "my-app");
    assert_norm("my__--..app", "my-app");
    assert_norm("a!b@c#d", "a-b-c-d");
    assert_norm("a  \t b", "a-b");
    assert_norm("v1.2.3", "v1-2-3");
    assert_norm("my-app", "my-app");
}

static void test_normalise_treats_every_non_ascii_byte_as_a_separator(void **state)
{
    (void)state;
    assert_norm("caf\xc3\xa9 bar", "caf-bar");           /* "café bar" */
    assert_norm("\xc3\x9c" "ber__Shop", "ber-shop");     /* "Über__Shop" */
    assert_norm("na\xc3\xafve", "na-ve");                /* "naïve" */
    assert_norm("x\xe6\x97\xa5\xe6\x9c\xac" "y", "x-y"); /* "x日本y" */
    assert_norm("a\x80\xff" "b", "a-b");                 /* invalid UTF-8 too */
}

static void test_normalise_strips_leading_and_trailing_dashes(void **state)
{
    (void)state;
    assert_norm("--web--", "web");
    assert_norm("  My App!  ", "my-app");
    assert_norm("_x_", "x");
    assert_norm("-a-b-", "a-b");
}

static void test_normalise_rejects_an_empty_result(void **state)
{
    (void)state;
    assert_int_equal(norm("", 0), -EINVAL);
    assert_int_equal(norm("---", 3), -EINVAL);
    assert_int_equal(norm("!!! ...", 7), -EINVAL);
    assert_int_equal(norm("\xe6\x97\xa5\xe6\x9c\xac", 6), -EINVAL); /* only non-ASCII */
    assert_int_equal(norm(NULL, 0), -EINVAL);
}

static void test_normalise_reads_exactly_len_bytes(void **state)
{
    (void)state;
    assert_int_equal(norm("App2Go", 4), 4);
    assert_string_equal(out, "app2");
    assert_int_equal(norm("a\0b", 3), 3); /* an embedded NUL is just another separator */
    assert_string_equal(out, "a-b");
}

static void test_normalise_reports_a_buffer_too_small_for_result_and_nul(void **state)
{
    char small[8];

    (void)state;
    assert_int_equal(naming_label_normalise("My App", 6, small, 7), 6);
    assert_string_equal(small, "my-app");
    assert_int_equal(naming_label_normalise("My App", 6, small, 6), -ENOSPC);
    /* Separators that are dropped need no room. */
    assert_int_equal(naming_label_normalise("--ab--", 6, small, 3), 2);
    assert_string_equal(small, "ab");
}

static void test_normalise_is_idempotent(void **state)
{
    static const char *const in[] = {"My App!", "--web--", "a.b.c", "caf\xc3\xa9", "x1"};
    char once[64];

    (void)state;
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        int n = naming_label_normalise(in[i], strlen(in[i]), once, sizeof(once));

        assert_true(n > 0);
        assert_int_equal(norm(once, (size_t)n), n);
        assert_string_equal(out, once);
    }
}

/* ---- nanoid ----------------------------------------------------------------------- */

static void test_nanoid_is_8_chars_of_0_9_a_z_over_10k_draws(void **state)
{
    char id[NAMING_NANOID_LEN + 1];

    (void)state;
    for (int i = 0; i < 10000; i++) {
        memset(id, 0x55, sizeof(id));
        assert_int_equal(naming_nanoid_generate(id), 0);
        assert_int_equal(id[NAMING_NANOID_LEN], '\0');
        assert_int_equal(strlen(id), NAMING_NANOID_LEN);
        for (int j = 0; j < NAMING_NANOID_LEN; j++)
            assert_true(is_b36(id[j]));
        assert_true(naming_nanoid_valid(id, strlen(id)));
    }
}

#define UNIF_IDS 20000u

/* Pearson's statistic over 8 positions × 36 symbols, UNIF_IDS draws per position.
 * Degrees of freedom: 8 × 35 = 280. P(X ≥ 460 | uniform) ≈ 6.4e-11 (regularized upper
 * incomplete gamma), so a correct generator never fails. Plain `byte % 36` (no rejection)
 * gives 0..3 probability 8/256 instead of 7/256: noncentrality ≈ 312, E[X] ≈ 592,
 * sd ≈ 42, so that bug is caught about 999 times in 1000 (and always by the pinned
 * sample in test_uniformity_check_catches_modulo_bias). */
#define UNIF_CHI2_MAX 460.0
/* One position alone: 35 degrees of freedom, P(X ≥ 125) ≈ 4.9e-12. */
#define UNIF_CHI2_POS_MAX 125.0

static unsigned counts[NAMING_NANOID_LEN][36];

static int sym(char c)
{
    return c <= '9' ? c - '0' : c - 'a' + 10;
}

static double chi2_pos(int pos)
{
    const double e = UNIF_IDS / 36.0;
    double x = 0;

    for (int s = 0; s < 36; s++)
        x += ((double)counts[pos][s] - e) * ((double)counts[pos][s] - e) / e;
    return x;
}

static double chi2_all(void)
{
    double x = 0;

    for (int p = 0; p < NAMING_NANOID_LEN; p++)
        x += chi2_pos(p);
    return x;
}

static void test_nanoid_symbols_are_uniform_in_every_position(void **state)
{
    char id[NAMING_NANOID_LEN + 1];
    double x;

    (void)state;
    memset(counts, 0, sizeof(counts));
    for (unsigned i = 0; i < UNIF_IDS; i++) {
        assert_int_equal(naming_nanoid_generate(id), 0);
        for (int p = 0; p < NAMING_NANOID_LEN; p++)
            counts[p][sym(id[p])]++;
    }
    for (int p = 0; p < NAMING_NANOID_LEN; p++) {
        x = chi2_pos(p);
        if (x >= UNIF_CHI2_POS_MAX)
            fail_msg("position %d: chi-square %.1f >= %.1f", p, x, UNIF_CHI2_POS_MAX);
    }
    x = chi2_all();
    if (x >= UNIF_CHI2_MAX)
        fail_msg("chi-square %.1f >= %.1f over 280 degrees of freedom", x, UNIF_CHI2_MAX);
}

/* splitmix64: a fixed-seed stand-in for getrandom, so this sample is the same every run. */
static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void test_uniformity_check_catches_modulo_bias(void **state)
{
    uint64_t seed = 42;

    (void)state;
    memset(counts, 0, sizeof(counts));
    for (unsigned i = 0; i < UNIF_IDS; i++) {
        uint64_t r = splitmix64(&seed);

        for (int p = 0; p < NAMING_NANOID_LEN; p++)
            counts[p][(uint8_t)(r >> (8 * p)) % 36]++; /* the bug rejection sampling avoids */
    }
    assert_true(chi2_all() >= UNIF_CHI2_MAX);

    /* and the same stream with rejection sampling passes */
    memset(counts, 0, sizeof(counts));
    seed = 42;
    for (unsigned i = 0; i < UNIF_IDS; i++) {
        for (int p = 0; p < NAMING_NANOID_LEN;) {
            uint8_t b = (uint8_t)splitmix64(&seed);

            if (b < 252)
                counts[p++][b % 36]++;
        }
    }
    assert_true(chi2_all() < UNIF_CHI2_MAX);
}

static void test_nanoid_valid_accepts_exactly_8_lowercase_alphanumerics(void **state)
{
    (void)state;
    assert_int_equal(naming_nanoid_valid("m2x8k9n4", 8), 1);
    assert_int_equal(naming_nanoid_valid("00000000", 8), 1);
    assert_int_equal(naming_nanoid_valid("zzzzzzzz", 8), 1);
    assert_int_equal(naming_nanoid_valid("m2x8k9n", 7), 0);
    assert_int_equal(naming_nanoid_valid("m2x8k9n4a", 9), 0);
    assert_int_equal(naming_nanoid_valid("m2x8k9n4a", 8), 1); /* only len bytes count */
    assert_int_equal(naming_nanoid_valid("M2x8k9n4", 8), 0);
    assert_int_equal(naming_nanoid_valid("m2x8-9n4", 8), 0);
    assert_int_equal(naming_nanoid_valid("m2x8\xc3\xa9n", 8), 0);
    assert_int_equal(naming_nanoid_valid("m2x8\0k9n", 8), 0);
    assert_int_equal(naming_nanoid_valid("", 0), 0);
    assert_int_equal(naming_nanoid_valid(NULL, 8), 0);
}

/* ---- sha7 and fallback7 ----------------------------------------------------------- */

static void test_sha7_takes_the_first_7_hex_digits_in_lower_case(void **state)
{
    char s7[NAMING_SHA7_LEN + 1];
    const char *full = "2a6e3c1f0b9d8e7a6c5b4d3e2f1a0b9c8d7e6f5a"; /* 40 */
    const char *sha256 = "ABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789";

    (void)state;
    assert_int_equal(naming_sha7("A1B2C3D4E5", 10, s7), 0);
    assert_string_equal(s7, "a1b2c3d");
    assert_int_equal(naming_sha7(full, strlen(full), s7), 0);
    assert_string_equal(s7, "2a6e3c1");
    assert_int_equal(naming_sha7("DEADBEE", 7, s7), 0);
    assert_string_equal(s7, "deadbee");
    assert_int_equal(strlen(sha256), 64);
    assert_int_equal(naming_sha7(sha256, 64, s7), 0);
    assert_string_equal(s7, "abcdef0");
}

static void test_sha7_rejects_short_long_and_non_hex_input(void **state)
{
    char s7[NAMING_SHA7_LEN + 1];
    char long65[66];

    (void)state;
    memset(long65, 'a', 65);
    long65[65] = '\0';
    assert_int_equal(naming_sha7("a1b2c3", 6, s7), -EINVAL);
    assert_string_equal(s7, "");
    assert_int_equal(naming_sha7(long65, 65, s7), -EINVAL);
    assert_int_equal(naming_sha7("a1b2c3g4", 8, s7), -EINVAL);    /* 'g' */
    assert_int_equal(naming_sha7("a1b2c3d4e5 ", 11, s7), -EINVAL); /* a non-hex after 7 */
    assert_int_equal(naming_sha7(" a1b2c3d", 8, s7), -EINVAL);
    assert_int_equal(naming_sha7("0xa1b2c3d", 9, s7), -EINVAL);
    assert_int_equal(naming_sha7("", 0, s7), -EINVAL);
    assert_int_equal(naming_sha7(NULL, 7, s7), -EINVAL);
}

static void test_fallback_is_pinned_by_fixed_vectors(void **state)
{
    /* Computed by an independent implementation of the rule in naming.h. These are in
     * users' URLs: if this test fails, the rule changed, and it must not. */
    static const struct {
        const char *id;
        size_t      len;
        const char *want;
    } v[] = {
        {"", 0, "kopmwx2"},
        {"a", 1, "nir3ntn"},
        {"dep_01HZX3Y7K9", 14, "mu0x0vw"},
        {"0b6f1c2e-9a43-4d7e-8f10-2c3b4a5d6e7f", 36, "iqsabsi"},
        {"deploy-42", 9, "gzagrdb"},
    };
    char f7[NAMING_SHA7_LEN + 1];
    char all[256];

    (void)state;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        memset(f7, 0x55, sizeof(f7));
        naming_fallback7(v[i].id, v[i].len, f7);
        assert_string_equal(f7, v[i].want);
    }
    for (int i = 0; i < 256; i++)
        all[i] = (char)i;
    naming_fallback7(all, sizeof(all), f7); /* every byte value, NUL and ≥ 0x80 included */
    assert_string_equal(f7, "vgy3qbq");
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void test_fallback_is_deterministic_7_chars_led_by_a_non_hex_letter(void **state)
{
    static char seen[10000][NAMING_SHA7_LEN + 1];
    char id[32], again[NAMING_SHA7_LEN + 1];

    (void)state;
    for (int i = 0; i < 10000; i++) {
        int n = snprintf(id, sizeof(id), "dep-%d", i);

        naming_fallback7(id, (size_t)n, seen[i]);
        naming_fallback7(id, (size_t)n, again);
        assert_string_equal(seen[i], again);
        assert_int_equal(strlen(seen[i]), NAMING_SHA7_LEN);
        /* never mistaken for (or equal to) a sha7 of the same service */
        assert_true(seen[i][0] >= 'g' && seen[i][0] <= 'z');
        for (int j = 1; j < NAMING_SHA7_LEN; j++)
            assert_true(is_b36(seen[i][j]));
    }
    /* Fixed inputs, so this is deterministic: no two of these 10k ids collide. */
    qsort(seen, 10000, sizeof(seen[0]), cmp_str);
    for (int i = 1; i < 10000; i++)
        if (strcmp(seen[i - 1], seen[i]) == 0)
            fail_msg("two ids share the fallback %s", seen[i]);
    /* only len bytes are read */
    naming_fallback7("deploy-42-and-more", 9, again);
    assert_string_equal(again, "gzagrdb");
}

/* ---- labels ----------------------------------------------------------------------- */

static void test_label_joins_project_service_and_id(void **state)
{
    (void)state;
    assert_label("my-app", "web", "m2x8k9n4", 0, "my-app-web-m2x8k9n4");
    assert_label("my-app", "web", "m2x8k9n4", 1, "my-app-web-m2x8k9n4");
    assert_label("a", "b", "c", 1, "a-b-c");
}

static void test_label_adds_a_port_suffix_from_port_2_on(void **state)
{
    (void)state;
    assert_label("my-app", "web", "m2x8k9n4", 2, "my-app-web-m2x8k9n4-2");
    assert_label("my-app", "web", "m2x8k9n4", 10, "my-app-web-m2x8k9n4-10");
    assert_label("my-app", "web", "m2x8k9n4", 65535, "my-app-web-m2x8k9n4-65535");
    assert_label("my-app", "web", "m2x8k9n4", UINT_MAX, "my-app-web-m2x8k9n4-4294967295");
}

static void test_label_of_a_deployment_uses_its_sha7(void **state)
{
    char s7[NAMING_SHA7_LEN + 1];

    (void)state;
    assert_int_equal(naming_sha7("A1B2C3D4E5", 10, s7), 0);
    assert_label("my-app", "web", s7, 1, "my-app-web-a1b2c3d");
    assert_label("my-app", "web", s7, 3, "my-app-web-a1b2c3d-3");
}

static void test_label_of_exactly_63_octets_is_not_shortened(void **state)
{
    char p[128], want[256];

    (void)state;
    /* 50 + 1 + 3 + 1 + 8 = 63 */
    letters(p, 50);
    snprintf(want, sizeof(want), "%s-web-m2x8k9n4", p);
    assert_int_equal(strlen(want), 63);
    assert_label(p, "web", "m2x8k9n4", 1, want);
    /* with a suffix: 48 + 1 + 3 + 1 + 8 + 2 = 63 */
    letters(p, 48);
    snprintf(want, sizeof(want), "%s-web-m2x8k9n4-2", p);
    assert_int_equal(strlen(want), 63);
    assert_label(p, "web", "m2x8k9n4", 2, want);
}

static void test_label_of_64_octets_loses_one_project_character(void **state)
{
    char p[128], want[128];

    (void)state;
    letters(p, 51);
    snprintf(want, sizeof(want), "%.50s-web-m2x8k9n4", p);
    assert_label(p, "web", "m2x8k9n4", 1, want);
    assert_int_equal(strlen(out), 63);
    /* the same with a suffix: 49-char project, port 2 */
    letters(p, 49);
    snprintf(want, sizeof(want), "%.48s-web-m2x8k9n4-2", p);
    assert_label(p, "web", "m2x8k9n4", 2, want);
    assert_int_equal(strlen(out), 63);
}

static void test_label_far_too_long_shortens_the_project_first(void **state)
{
    char p[256], s[32], want[128];

    (void)state;
    letters(p, 200);
    letters(s, 10);
    /* budget 63 - (2 + 7 + 6) = 48; project keeps 48 - 10 = 38; service is untouched */
    snprintf(want, sizeof(want), "%.38s-%s-a1b2c3d-65535", p, s);
    assert_label(p, s, "a1b2c3d", 65535, want);
    assert_int_equal(strlen(out), 63);
}

static void test_label_shortening_drops_a_dash_left_at_the_cut(void **state)
{
    char p[128], want[128];

    (void)state;
    /* 49 letters, '-', 10 letters: the cut at 50 would leave "…-" */
    letters(p, 49);
    memcpy(p + 49, "-bbbbbbbbbb", 12);
    snprintf(want, sizeof(want), "%.49s-web-m2x8k9n4", p);
    assert_label(p, "web", "m2x8k9n4", 1, want);
    assert_int_equal(strlen(out), 62);
}

static void test_label_shortens_the_service_once_the_project_is_one_char(void **state)
{
    char s[128], want[128];

    (void)state;
    /* budget 63 - 10 = 53; project → "p"; service keeps 53 - 1 = 52 */
    letters(s, 100);
    snprintf(want, sizeof(want), "p-%.52s-m2x8k9n4", s);
    assert_label("proj", s, "m2x8k9n4", 1, want);
    assert_int_equal(strlen(out), 63);
    /* a service cut at a '-' loses it too: 51 letters, '-', more */
    letters(s, 51);
    memcpy(s + 51, "-zzzz", 6);
    snprintf(want, sizeof(want), "p-%.51s-m2x8k9n4", s);
    assert_label("proj", s, "m2x8k9n4", 1, want);
    assert_int_equal(strlen(out), 62);
}

/* The rule of naming.h, restated as directly as possible, for the grid below. */
static size_t ref_cut(const char *name, size_t len, size_t keep)
{
    if (keep < len)
        len = keep;
    while (name[len - 1] == '-')
        len--;
    return len;
}

static void ref_label(char *dst, size_t cap, const char *p, const char *s, const char *tail)
{
    size_t pl = strlen(p), sl = strlen(s);
    size_t budget = NAMING_LABEL_MAX - 1 - strlen(tail); /* tail holds the id's '-' */

    if (pl + sl > budget)
        pl = ref_cut(p, pl, sl < budget ? budget - sl : 1);
    if (pl + sl > budget)
        sl = ref_cut(s, sl, budget - pl);
    snprintf(dst, cap, "%.*s-%.*s%s", (int)pl, p, (int)sl, s, tail);
}

/* Every (project length, service length, port, id) in a grid: the result is the rule's,
 * at most 63 octets, ends with the whole "-{id}{suffix}", is a well-formed label, starts
 * with the project's first character, and is cut only when the full label would not fit. */
static void test_label_never_cuts_the_id_or_the_port_suffix(void **state)
{
    static const unsigned ports[] = {1, 2, 65535};
    static const char *const ids[] = {"m2x8k9n4", "a1b2c3d"};
    char p[160], s[160], tail[32], want[256];

    (void)state;
    for (size_t k = 0; k < 2; k++) {
        for (size_t q = 0; q < 3; q++) {
            size_t tlen;

            if (ports[q] >= 2)
                snprintf(tail, sizeof(tail), "-%s-%u", ids[k], ports[q]);
            else
                snprintf(tail, sizeof(tail), "-%s", ids[k]);
            tlen = strlen(tail);
            for (size_t pl = 1; pl <= 130; pl++) {
                for (size_t sl = 1; sl <= 130; sl++) {
                    size_t full = pl + 1 + sl + tlen;
                    int n;

                    /* dashes inside, so some cuts land on one */
                    letters(p, pl);
                    letters(s, sl);
                    for (size_t i = 3; i + 1 < pl; i += 7)
                        p[i] = '-';
                    for (size_t i = 5; i + 1 < sl; i += 11)
                        s[i] = '-';
                    n = label(p, s, ids[k], ports[q]);
                    ref_label(want, sizeof(want), p, s, tail);
                    assert_string_equal(out, want);
                    assert_true(n > 0 && n <= NAMING_LABEL_MAX);
                    assert_int_equal((size_t)n, strlen(out));
                    assert_memory_equal(out + n - tlen, tail, tlen);
                    assert_null(strstr(out, "--"));
                    assert_true(out[0] == p[0]);
                    if (full <= NAMING_LABEL_MAX)
                        assert_int_equal((size_t)n, full);
                    else /* 63, or 62 when a '-' at the cut went */
                        assert_true(n >= NAMING_LABEL_MAX - 1);
                }
            }
        }
    }
}

static void test_label_keeps_the_service_whole_while_the_project_can_give(void **state)
{
    char p[128], s[64], want[128];

    (void)state;
    for (size_t sl = 1; sl <= 52; sl++) {
        letters(p, 100);
        letters(s, sl);
        /* budget 53: the project keeps 53 - sl ≥ 1 characters, the service all of them */
        snprintf(want, sizeof(want), "%.*s-%s-m2x8k9n4", (int)(53 - sl), p, s);
        assert_label(p, s, "m2x8k9n4", 1, want);
    }
}

static void test_label_rejects_names_that_are_not_normalised(void **state)
{
    (void)state;
    assert_int_equal(label("", "web", "m2x8k9n4", 1), -EINVAL);
    assert_int_equal(label("-a", "web", "m2x8k9n4", 1), -EINVAL);
    assert_int_equal(label("a-", "web", "m2x8k9n4", 1), -EINVAL);
    assert_int_equal(label("a--b", "web", "m2x8k9n4", 1), -EINVAL);
    assert_int_equal(label("My-app", "web", "m2x8k9n4", 1), -EINVAL);
    assert_int_equal(label("my_app", "web", "m2x8k9n4", 1), -EINVAL);
    assert_int_equal(label("my-app", "w.b", "m2x8k9n4", 1), -EINVAL);
    assert_int_equal(label("my-app", "", "m2x8k9n4", 1), -EINVAL);
    assert_int_equal(label("my-app", "web", "", 1), -EINVAL);
    assert_int_equal(label("my-app", "web", "M2X8K9N4", 1), -EINVAL);
    assert_int_equal(label("my-app", "web", "m2x8-9n4", 1), -EINVAL);
    assert_int_equal(label(NULL, "web", "m2x8k9n4", 1), -EINVAL);
    assert_int_equal(label("my-app", NULL, "m2x8k9n4", 1), -EINVAL);
    assert_int_equal(label("my-app", "web", NULL, 1), -EINVAL);
}

static void test_label_fails_when_the_id_alone_leaves_no_room(void **state)
{
    char id[80];

    (void)state;
    /* 2 + 59 = 61 fixed octets leave 2: just fits as "a-d-{id}" */
    letters(id, 59);
    assert_int_equal(label("abc", "def", id, 1), 63);
    assert_memory_equal(out, "a-d-", 4);
    /* 2 + 60 = 62 fixed octets leaves 1 < 2 */
    letters(id, 60);
    assert_int_equal(label("abc", "def", id, 1), -ENAMETOOLONG);
    letters(id, 70);
    assert_int_equal(label("abc", "def", id, 1), -ENAMETOOLONG);
}

static void test_label_reports_a_buffer_too_small_for_label_and_nul(void **state)
{
    char small[NAMING_LABEL_MAX + 1];

    (void)state;
    assert_int_equal(naming_host_label(small, 20, "my-app", "web", "m2x8k9n4", 1), 19);
    assert_string_equal(small, "my-app-web-m2x8k9n4");
    assert_int_equal(naming_host_label(small, 19, "my-app", "web", "m2x8k9n4", 1), -ENOSPC);
}

static void test_collision_example_from_the_contract_gives_identical_labels(void **state)
{
    char a[NAMING_LABEL_MAX + 1], b[NAMING_LABEL_MAX + 1];
    char p1[128], p2[128];

    (void)state;
    /* Naming does not detect these; the model answers 409 naming the owner. */
    assert_int_equal(naming_host_label(a, sizeof(a), "a-b", "c", "a1b2c3d", 1), 13);
    assert_int_equal(naming_host_label(b, sizeof(b), "a", "b-c", "a1b2c3d", 1), 13);
    assert_string_equal(a, "a-b-c-a1b2c3d");
    assert_string_equal(a, b);
    /* shortening can make two long projects meet as well */
    letters(p1, 80);
    letters(p2, 80);
    p2[79] = '9';
    assert_int_equal(naming_host_label(a, sizeof(a), p1, "web", "m2x8k9n4", 1), 63);
    assert_int_equal(naming_host_label(b, sizeof(b), p2, "web", "m2x8k9n4", 1), 63);
    assert_string_equal(a, b);
}

/* ---- fqdn ------------------------------------------------------------------------- */

static void test_fqdn_appends_the_domain_after_one_dot(void **state)
{
    char f[NAMING_FQDN_MAX + 1];

    (void)state;
    assert_int_equal(naming_host_fqdn(f, sizeof(f), "my-app-web-m2x8k9n4", "hostess.run"), 31);
    assert_string_equal(f, "my-app-web-m2x8k9n4.hostess.run");
    assert_int_equal(naming_host_fqdn(f, sizeof(f), "my-app-web-a1b2c3d-2", "hostess.localhost"),
                     38);
    assert_string_equal(f, "my-app-web-a1b2c3d-2.hostess.localhost");
}

static void test_fqdn_of_253_octets_fits_and_254_does_not(void **state)
{
    char f[NAMING_FQDN_MAX + 2], lab[NAMING_LABEL_MAX + 1], dom[256];

    (void)state;
    letters(lab, 63);
    /* 63 + 1 + 189 = 253, the domain being 62 + 1 + 62 + 1 + 63 octets */
    memset(dom, 'd', sizeof(dom));
    dom[62] = dom[125] = '.';
    dom[189] = '\0';
    assert_int_equal(naming_host_fqdn(f, NAMING_FQDN_MAX + 1, lab, dom), 253);
    assert_int_equal(strlen(f), 253);
    dom[189] = 'd';
    dom[190] = '\0';
    assert_int_equal(naming_host_fqdn(f, sizeof(f), lab, dom), -ENAMETOOLONG);
    memset(dom, 'd', sizeof(dom) - 1);
    dom[255] = '\0';
    assert_int_equal(naming_host_fqdn(f, sizeof(f), lab, dom), -ENAMETOOLONG);
}

static void test_fqdn_rejects_bad_labels_and_domains(void **state)
{
    char f[NAMING_FQDN_MAX + 1], lab[NAMING_LABEL_MAX + 2];

    (void)state;
    letters(lab, 64);
    assert_int_equal(naming_host_fqdn(f, sizeof(f), lab, "hostess.run"), -EINVAL);
    assert_int_equal(naming_host_fqdn(f, sizeof(f), "", "hostess.run"), -EINVAL);
    assert_int_equal(naming_host_fqdn(f, sizeof(f), "a.b", "hostess.run"), -EINVAL);
    assert_int_equal(naming_host_fqdn(f, sizeof(f), "a", ""), -EINVAL);
    assert_int_equal(naming_host_fqdn(f, sizeof(f), "a", ".hostess.run"), -EINVAL);
    assert_int_equal(naming_host_fqdn(f, sizeof(f), "a", "hostess.run."), -EINVAL);
    assert_int_equal(naming_host_fqdn(f, sizeof(f), NULL, "hostess.run"), -EINVAL);
    assert_int_equal(naming_host_fqdn(f, sizeof(f), "a", NULL), -EINVAL);
    /* "a.hostess.run" is 13 octets and needs 14 bytes */
    assert_int_equal(naming_host_fqdn(f, 13, "a", "hostess.run"), -ENOSPC);
    assert_int_equal(naming_host_fqdn(f, 14, "a", "hostess.run"), 13);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalise_lowercases_ascii_letters),
        cmocka_unit_test(test_normalise_turns_each_run_of_symbols_into_one_dash),
        cmocka_unit_test(test_normalise_treats_every_non_ascii_byte_as_a_separator),
        cmocka_unit_test(test_normalise_strips_leading_and_trailing_dashes),
        cmocka_unit_test(test_normalise_rejects_an_empty_result),
        cmocka_unit_test(test_normalise_reads_exactly_len_bytes),
        cmocka_unit_test(test_normalise_reports_a_buffer_too_small_for_result_and_nul),
        cmocka_unit_test(test_normalise_is_idempotent),
        cmocka_unit_test(test_nanoid_is_8_chars_of_0_9_a_z_over_10k_draws),
        cmocka_unit_test(test_nanoid_symbols_are_uniform_in_every_position),
        cmocka_unit_test(test_uniformity_check_catches_modulo_bias),
        cmocka_unit_test(test_nanoid_valid_accepts_exactly_8_lowercase_alphanumerics),
        cmocka_unit_test(test_sha7_takes_the_first_7_hex_digits_in_lower_case),
        cmocka_unit_test(test_sha7_rejects_short_long_and_non_hex_input),
        cmocka_unit_test(test_fallback_is_pinned_by_fixed_vectors),
        cmocka_unit_test(test_fallback_is_deterministic_7_chars_led_by_a_non_hex_letter),
        cmocka_unit_test(test_label_joins_project_service_and_id),
        cmocka_unit_test(test_label_adds_a_port_suffix_from_port_2_on),
        cmocka_unit_test(test_label_of_a_deployment_uses_its_sha7),
        cmocka_unit_test(test_label_of_exactly_63_octets_is_not_shortened),
        cmocka_unit_test(test_label_of_64_octets_loses_one_project_character),
        cmocka_unit_test(test_label_far_too_long_shortens_the_project_first),
        cmocka_unit_test(test_label_shortening_drops_a_dash_left_at_the_cut),
        cmocka_unit_test(test_label_shortens_the_service_once_the_project_is_one_char),
        cmocka_unit_test(test_label_never_cuts_the_id_or_the_port_suffix),
        cmocka_unit_test(test_label_keeps_the_service_whole_while_the_project_can_give),
        cmocka_unit_test(test_label_rejects_names_that_are_not_normalised),
        cmocka_unit_test(test_label_fails_when_the_id_alone_leaves_no_room),
        cmocka_unit_test(test_label_reports_a_buffer_too_small_for_label_and_nul),
        cmocka_unit_test(test_collision_example_from_the_contract_gives_identical_labels),
        cmocka_unit_test(test_fqdn_appends_the_domain_after_one_dot),
        cmocka_unit_test(test_fqdn_of_253_octets_fits_and_254_does_not),
        cmocka_unit_test(test_fqdn_rejects_bad_labels_and_domains),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
