/*
 * Unit tests for router/hostname.c: the normal form of Host/:authority/SNI/route names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "router/base/hostname.h"

static char out[HOSTNAME_MAX + 1];

static int norm(const char *in)
{
    memset(out, 0x55, sizeof(out));
    return hostname_normalise(in, strlen(in), out);
}

static void assert_norm(const char *in, const char *want)
{
    assert_int_equal(norm(in), (int)strlen(want));
    assert_string_equal(out, want);
}

static void assert_rejected(const char *in)
{
    assert_int_equal(norm(in), -1);
}

static void test_lowercases_letters(void **state)
{
    (void)state;
    assert_norm("App.Hostess.LOCALHOST", "app.hostess.localhost");
    assert_norm("a-b_c.example9", "a-b_c.example9");
}

static void test_strips_a_port(void **state)
{
    (void)state;
    assert_norm("example.com:8080", "example.com");
    assert_norm("example.com:0", "example.com");
    assert_norm("example.com:65535", "example.com");
    assert_norm("example.com:00080", "example.com");
}

static void test_rejects_bad_ports(void **state)
{
    (void)state;
    assert_rejected("example.com:");
    assert_rejected("example.com:65536");
    assert_rejected("example.com:123456");
    assert_rejected("example.com:8a");
    assert_rejected("example.com:80:80");
    assert_rejected(":80");
}

static void test_strips_exactly_one_trailing_dot(void **state)
{
    (void)state;
    assert_norm("example.com.", "example.com");
    assert_norm("Example.COM.:443", "example.com");
    assert_rejected("example.com..");
    assert_rejected(".");
}

static void test_rejects_empty_labels(void **state)
{
    (void)state;
    assert_rejected("");
    assert_rejected(".example.com");
    assert_rejected("a..b");
}

static void test_rejects_characters_outside_the_label_set(void **state)
{
    (void)state;
    assert_rejected("a b");
    assert_rejected("a/b");
    assert_rejected("a@b");
    assert_rejected("caf\xc3\xa9.example");
    assert_rejected("a*b");
    assert_rejected("a%2eb");
}

static void test_reads_only_len_bytes_and_rejects_embedded_nul(void **state)
{
    (void)state;
    assert_int_equal(hostname_normalise("abc.example.com", 3, out), 3);
    assert_string_equal(out, "abc");
    assert_int_equal(hostname_normalise("ab\0cd", 5, out), -1);
    assert_int_equal(hostname_normalise("[::1\0]", 6, out), -1);
}

static void test_labels_may_have_63_octets_but_not_64(void **state)
{
    char in[80];
    (void)state;

    memset(in, 'a', 63);
    memcpy(in + 63, ".com", 5);
    assert_int_equal(norm(in), 67);
    memset(in, 'a', 64);
    memcpy(in + 64, ".com", 5);
    assert_rejected(in);
}

static void test_names_may_have_253_octets_but_not_254(void **state)
{
    char in[300];
    (void)state;

    /* 50 labels "abcd." = 250, then "xyz" = 253. */
    for (int i = 0; i < 50; i++)
        memcpy(in + 5 * i, "abcd.", 5);
    memcpy(in + 250, "xyz", 4);
    assert_int_equal(norm(in), 253);
    assert_int_equal(out[253], '\0');
    /* A trailing dot and a port do not count against the limit. */
    memcpy(in + 253, ".:443", 6);
    assert_int_equal(norm(in), 253);
    memcpy(in + 250, "wxyz", 5);
    assert_rejected(in);
}

static void test_keeps_bracketed_ipv6_lowercased(void **state)
{
    (void)state;
    assert_norm("[::1]", "[::1]");
    assert_norm("[::1]:443", "[::1]");
    assert_norm("[FE80::ABCD]", "[fe80::abcd]");
    assert_norm("[::ffff:1.2.3.4]:80", "[::ffff:1.2.3.4]");
}

static void test_rejects_malformed_ipv6_literals(void **state)
{
    (void)state;
    assert_rejected("[]");
    assert_rejected("[::1");
    assert_rejected("[zz::1]");
    assert_rejected("[::1]x");
    assert_rejected("[::1]:");
    assert_rejected("[::1]:99999");
    assert_rejected("[::1].");
    assert_rejected("[fe80::1%eth0]");
    assert_rejected("::1");
}

static void test_ipv4_literals_pass_as_names(void **state)
{
    (void)state;
    assert_norm("127.0.0.1:8080", "127.0.0.1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lowercases_letters),
        cmocka_unit_test(test_strips_a_port),
        cmocka_unit_test(test_rejects_bad_ports),
        cmocka_unit_test(test_strips_exactly_one_trailing_dot),
        cmocka_unit_test(test_rejects_empty_labels),
        cmocka_unit_test(test_rejects_characters_outside_the_label_set),
        cmocka_unit_test(test_reads_only_len_bytes_and_rejects_embedded_nul),
        cmocka_unit_test(test_labels_may_have_63_octets_but_not_64),
        cmocka_unit_test(test_names_may_have_253_octets_but_not_254),
        cmocka_unit_test(test_keeps_bracketed_ipv6_lowercased),
        cmocka_unit_test(test_rejects_malformed_ipv6_literals),
        cmocka_unit_test(test_ipv4_literals_pass_as_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
