/*
 * Unit tests for router/base/span.c: strict decimal parsing (the Content-Length rule:
 * digits only, no sign, no spaces, no prefix, overflow is an error), ASCII
 * case-insensitive comparison and OWS trimming.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>

#include "router/base/span.h"

static struct span S(const char *s)
{
    return span_make(s, strlen(s));
}

static void test_to_u64_accepts_plain_decimal_digits(void **state)
{
    (void)state;
    uint64_t v = 7;
    assert_int_equal(span_to_u64(S("0"), &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(span_to_u64(S("5"), &v), 0);
    assert_int_equal(v, 5);
    assert_int_equal(span_to_u64(S("00012"), &v), 0);
    assert_int_equal(v, 12);
    assert_int_equal(span_to_u64(S("1234567890"), &v), 0);
    assert_int_equal(v, 1234567890u);
}

static void test_to_u64_accepts_the_largest_u64(void **state)
{
    (void)state;
    uint64_t v = 0;
    assert_int_equal(span_to_u64(S("18446744073709551615"), &v), 0);
    assert_true(v == UINT64_MAX);
    assert_int_equal(span_to_u64(S("18446744073709551610"), &v), 0);
    assert_true(v == UINT64_MAX - 5);
    assert_int_equal(span_to_u64(S("000018446744073709551615"), &v), 0);
    assert_true(v == UINT64_MAX);
}

static void test_to_u64_reports_overflow_as_erange_and_leaves_out_alone(void **state)
{
    (void)state;
    uint64_t v = 42;
    assert_int_equal(span_to_u64(S("18446744073709551616"), &v), -ERANGE);
    assert_int_equal(span_to_u64(S("18446744073709551620"), &v), -ERANGE);
    assert_int_equal(span_to_u64(S("99999999999999999999"), &v), -ERANGE);
    assert_int_equal(span_to_u64(S("184467440737095516150"), &v), -ERANGE);
    assert_int_equal(span_to_u64(S("100000000000000000000000000000"), &v), -ERANGE);
    assert_int_equal(v, 42);
}

static void test_to_u64_rejects_anything_but_digits_with_einval(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "+5", "-5", " 5", "5 ", "\t5", "0x5", "5a", "1,000", "1.0", "1e3", "\xef\xbc\x95", "5\r",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t v = 42;
        assert_int_equal(span_to_u64(S(bad[i]), &v), -EINVAL);
        assert_int_equal(v, 42);
    }
    uint64_t v = 42;
    assert_int_equal(span_to_u64(SPAN_NULL, &v), -EINVAL);
    assert_int_equal(span_to_u64(span_make("5\0" "5", 3), &v), -EINVAL);
    assert_int_equal(v, 42);
}

static void test_to_u64_reads_only_the_span_length(void **state)
{
    (void)state;
    uint64_t v = 0;
    assert_int_equal(span_to_u64(span_make("123abc", 3), &v), 0);
    assert_int_equal(v, 123);
}

static void test_ieq_ignores_ascii_case_only(void **state)
{
    (void)state;
    assert_true(span_ieq(S("Content-Length"), S("content-length")));
    assert_true(span_ieq(S("HOST"), S("host")));
    assert_true(span_ieq(S(""), S("")));
    assert_true(span_ieq(SPAN_NULL, S("")));
    assert_true(span_ieq(S("a-Z_09"), S("A-z_09")));
    assert_false(span_ieq(S("host"), S("hosts")));
    assert_false(span_ieq(S("host"), S("hosT ")));
    assert_false(span_ieq(S("host"), S("h0st")));
    /* Only A-Z fold: '@' (0x40) and '`' (0x60), '[' and '{' stay distinct. */
    assert_false(span_ieq(S("@"), S("`")));
    assert_false(span_ieq(S("["), S("{")));
    /* Non-ASCII bytes compare exactly. */
    assert_false(span_ieq(S("\xc3\x89"), S("\xc3\xa9")));
    assert_true(span_ieq(S("\xc3\x89"), S("\xc3\x89")));
}

static void test_eq_compares_bytes_and_lengths(void **state)
{
    (void)state;
    assert_true(span_eq(S("abc"), S("abc")));
    assert_false(span_eq(S("abc"), S("ABC")));
    assert_false(span_eq(S("abc"), S("ab")));
    assert_true(span_eq(SPAN_NULL, S("")));
}

static void test_trim_strips_spaces_and_tabs_at_both_ends_only(void **state)
{
    (void)state;
    const char *in = " \t value  with space \t ";
    struct span t = span_trim(S(in));
    assert_int_equal(t.len, strlen("value  with space"));
    assert_memory_equal(t.ptr, "value  with space", t.len);
    assert_ptr_equal(t.ptr, in + 3); /* a view into the input, not a copy */

    t = span_trim(S("x"));
    assert_int_equal(t.len, 1);
    t = span_trim(S(" \t \t"));
    assert_int_equal(t.len, 0);
    t = span_trim(S(""));
    assert_int_equal(t.len, 0);
    t = span_trim(SPAN_NULL);
    assert_int_equal(t.len, 0);
    /* CR, LF, VT and FF are not OWS. */
    t = span_trim(S("\r a \n"));
    assert_int_equal(t.len, 5);
    t = span_trim(S("\va\f"));
    assert_int_equal(t.len, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_to_u64_accepts_plain_decimal_digits),
        cmocka_unit_test(test_to_u64_accepts_the_largest_u64),
        cmocka_unit_test(test_to_u64_reports_overflow_as_erange_and_leaves_out_alone),
        cmocka_unit_test(test_to_u64_rejects_anything_but_digits_with_einval),
        cmocka_unit_test(test_to_u64_reads_only_the_span_length),
        cmocka_unit_test(test_ieq_ignores_ascii_case_only),
        cmocka_unit_test(test_eq_compares_bytes_and_lengths),
        cmocka_unit_test(test_trim_strips_spaces_and_tabs_at_both_ends_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
