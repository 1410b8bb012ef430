/*
 * fuzz_h1_request: libFuzzer entry for the HTTP/1.1 request validation layer.
 * Parses the input as a request head (router/h1_parse.c) and, when it is accepted with a
 * chunked body, runs the chunked decoder (router/h1_chunked.c) over the rest, checking
 * the invariants the proxy relies on: spans stay inside the input, head_len is exact,
 * the decoder never consumes more than it is given and never reports data out of range.
 *
 * Build for fuzzing:  clang -fsanitize=fuzzer,address,undefined ... fuzz_h1_request.c
 * Build for replay:   cc -DFUZZ_REPLAY_MAIN ... fuzz_h1_request.c; ./a.out FILE...
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "router/h1_parse.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

static int span_inside(struct span s, const char *buf, size_t len)
{
    if (s.len == 0)
        return 1;
    return s.ptr >= buf && s.ptr <= buf + len && s.len <= (size_t)(buf + len - s.ptr);
}

/* Runs the decoder over in[0..len) in pieces whose sizes come from the input itself. */
static void run_chunked(const char *in, size_t len, uint8_t split)
{
    struct h1_chunked d;
    size_t            pos = 0;
    size_t            step = split ? split : len;

    h1_chunked_init(&d, 1024);
    while (pos < len) {
        size_t      avail = len - pos < step ? len - pos : step;
        size_t      used = 0;
        struct span data;
        int         r = h1_chunked_next(&d, in + pos, avail, &used, &data);
        CHECK(used <= avail);
        if (r < 0)
            return;
        if (r == 1) {
            CHECK(data.len > 0 && span_inside(data, in + pos, used));
        } else if (r == 0) {
            CHECK(used == avail);
        }
        pos += used;
        if (r == 2)
            return;
        CHECK(r == 0 || r == 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct h1_limits lim = {
        .request_line = 2048, .header_bytes = 8192, .header_fields = 64};
    struct h1_field   fields[64];
    struct h1_request req;
    const char       *buf = (const char *)data;

    int r = h1_parse_request(buf, size, &lim, &req, fields, 64);
    if (r <= 0) {
        CHECK(r == 0 || r == -400 || r == -414 || r == -417 || r == -431 || r == -501);
        CHECK(r == 0 || req.error != NULL);
        return 0;
    }
    CHECK((size_t)r == req.head_len && req.head_len <= size && req.head_len >= 4);
    CHECK(memcmp(buf + req.head_len - 4, "\r\n\r\n", 4) == 0);
    CHECK(req.nfields <= 64);
    CHECK(span_inside(req.method, buf, req.head_len));
    CHECK(span_inside(req.target, buf, req.head_len));
    CHECK(req.path.len > 0);
    CHECK(req.host.ptr == NULL || span_inside(req.host, buf, req.head_len));
    CHECK(req.minor == 1 ? req.host.len > 0 : 1);
    for (size_t i = 0; i < req.nfields; i++) {
        CHECK(fields[i].name.len > 0 && span_inside(fields[i].name, buf, req.head_len));
        CHECK(span_inside(fields[i].value, buf, req.head_len));
    }
    CHECK(req.body != H1_BODY_UNTIL_CLOSE);
    if (req.body == H1_BODY_CHUNKED || size - req.head_len > 0) {
        /* Also feed non-chunked tails: the decoder must be robust to anything. */
        uint8_t split = size > req.head_len ? data[req.head_len] % 8 : 0;
        run_chunked(buf + req.head_len, size - req.head_len, split);
    }
    return 0;
}

#ifdef FUZZ_REPLAY_MAIN
#include <stdio.h>

int main(int argc, char **argv)
{
    static uint8_t buf[1 << 20];

    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (f == NULL) {
            perror(argv[i]);
            return 1;
        }
        size_t n = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        /* A heap copy of exactly n bytes lets ASan catch reads past the input. */
        uint8_t *copy = malloc(n ? n : 1);
        if (copy == NULL)
            return 1;
        memcpy(copy, buf, n);
        LLVMFuzzerTestOneInput(copy, n);
        free(copy);
    }
    printf("replayed %d input(s)\n", argc - 1);
    return 0;
}
#endif
