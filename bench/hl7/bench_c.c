/* bench_c.c -- issue 3 benchmark, our side: parse + serialise with libhl7.
 *
 *   bench_c corpus OUT N FILE...   split FILEs into messages (hl7_iter),
 *                                  keep those that parse and are UTF-8,
 *                                  write them canonical (CR segment ends,
 *                                  hl7_serialize) one per line, cycling
 *                                  through them until N messages
 *   bench_c run CORPUS REPS        warm-up pass with round-trip checks,
 *                                  then REPS timed passes; one JSON line
 *
 * Each message is parsed completely (hl7_parse builds the whole tree:
 * segments, fields, repetitions, components, subcomponents) and serialised
 * back from the tree (hl7_serialize), then freed, one after another, as an
 * ingest loop would. The output buffer is reused (its length reset). The
 * corpus file is the same one the Node and Python sides read. */
#include "hl7/hl7.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(2);
    }
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    for (;;) {
        if (n == cap)
            b = realloc(b, cap *= 2);
        size_t r = fread(b + n, 1, cap - n, f);
        if (r == 0)
            break;
        n += r;
    }
    fclose(f);
    *len = n;
    return b;
}

static int valid_utf8(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3
                 : (c >> 3) == 30 ? 4 : 0;
        if (k == 0 || i + k > n)
            return 0;
        for (size_t j = 1; j < k; j++)
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
        i += k;
    }
    return 1;
}

static int make_corpus(const char *out, long want, int nfiles, char **files)
{
    hl7_buf all = { 0 };
    size_t *off = NULL, *len = NULL, n = 0;
    for (int i = 0; i < nfiles; i++) {
        size_t flen;
        char *buf = slurp(files[i], &flen);
        hl7_iter it;
        hl7_str s;
        hl7_iter_init(&it, buf, flen);
        int rc;
        while ((rc = hl7_iter_next(&it, &s, NULL)) != 0) {
            hl7_msg *m;
            if (rc < 0 || hl7_parse(s.ptr, s.len, NULL, &m, NULL) < 0)
                continue;
            hl7_buf one = { 0 };
            if (hl7_serialize(m, &one) == 0 && one.len > 0 &&
                valid_utf8((unsigned char *)one.data, one.len)) {
                off = realloc(off, (n + 1) * sizeof(*off));
                len = realloc(len, (n + 1) * sizeof(*len));
                off[n] = all.len;
                len[n] = one.len;
                hl7_buf_append(&all, one.data, one.len);
                n++;
            } else {
                fprintf(stderr, "corpus: left out a message of %s (not "
                        "UTF-8)\n", files[i]);
            }
            hl7_buf_free(&one);
            hl7_msg_free(m);
        }
        free(buf);
    }
    if (n == 0) {
        fprintf(stderr, "corpus: no message\n");
        return 2;
    }
    FILE *f = fopen(out, "wb");
    if (!f) {
        perror(out);
        return 2;
    }
    size_t bytes = 0;
    for (long k = 0; k < want; k++) {
        size_t j = (size_t)k % n;
        fwrite(all.data + off[j], 1, len[j], f);
        fputc('\n', f);
        bytes += len[j];
    }
    fclose(f);
    fprintf(stderr, "corpus: %zu distinct messages, %ld in %s (%zu bytes "
            "of HL7)\n", n, want, out, bytes);
    hl7_buf_free(&all);
    free(off);
    free(len);
    return 0;
}

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double median(double *v, int n)
{
    int cmp_double(const void *a, const void *b);
    qsort(v, n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static size_t count_segments(const char *p, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (p[i] == '\r' && i > 0 && p[i - 1] != '\r')
            c++;
    if (n > 0 && p[n - 1] != '\r')
        c++;
    return c;
}

/* One pass over all messages: parse, serialise, free. Returns the total
 * number of output bytes (checked against the first pass so that no pass
 * can skip work), or 0 on a failure. */
static size_t pass(const char **msg, const size_t *mlen, size_t n,
                   hl7_buf *out, size_t *identical, size_t *same_segs)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        hl7_msg *m;
        hl7_error e;
        if (hl7_parse(msg[i], mlen[i], NULL, &m, &e) < 0) {
            fprintf(stderr, "message %zu: %s\n", i, e.message);
            return 0;
        }
        out->len = 0;
        if (hl7_serialize(m, out) < 0) {
            hl7_msg_free(m);
            return 0;
        }
        if (identical) {
            if (out->len == mlen[i] && memcmp(out->data, msg[i], mlen[i]) == 0)
                ++*identical;
            if (count_segments(out->data, out->len) == hl7_segment_count(m) &&
                hl7_segment_count(m) == count_segments(msg[i], mlen[i]))
                ++*same_segs;
        }
        total += out->len;
        hl7_msg_free(m);
    }
    return total;
}

static int run(const char *path, int reps)
{
    size_t len;
    char *buf = slurp(path, &len);
    size_t n = 0, cap = 1024;
    const char **msg = malloc(cap * sizeof(*msg));
    size_t *mlen = malloc(cap * sizeof(*mlen));
    for (size_t i = 0; i < len;) {
        char *e = memchr(buf + i, '\n', len - i);
        size_t end = e ? (size_t)(e - buf) : len;
        if (end > i) {
            if (n == cap) {
                msg = realloc(msg, (cap *= 2) * sizeof(*msg));
                mlen = realloc(mlen, cap * sizeof(*mlen));
            }
            msg[n] = buf + i;
            mlen[n] = end - i;
            n++;
        }
        i = end + 1;
    }
    hl7_buf out = { 0 };
    size_t identical = 0, same = 0, in_bytes = 0;
    for (size_t i = 0; i < n; i++)
        in_bytes += mlen[i];
    /* warm-up pass, also the round-trip check */
    size_t expect = pass(msg, mlen, n, &out, &identical, &same);
    if (expect == 0)
        return 1;
    double *rate = malloc(reps * sizeof(*rate));
    double *cpu = malloc(reps * sizeof(*cpu));
    for (int r = 0; r < reps; r++) {
        double t0 = clock_s(CLOCK_MONOTONIC);
        double c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        size_t got = pass(msg, mlen, n, &out, NULL, NULL);
        double c = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
        double t = clock_s(CLOCK_MONOTONIC) - t0;
        if (got != expect) {
            fprintf(stderr, "pass %d: %zu bytes out, expected %zu\n", r, got,
                    expect);
            return 1;
        }
        rate[r] = n / t;
        cpu[r] = n / c;
    }
    printf("{\"impl\":\"libhl7 (C, this repo)\",\"messages\":%zu,"
           "\"bytes\":%zu,\"identical\":%zu,\"same_segments\":%zu,"
           "\"out_bytes\":%zu,\"rates\":[", n, in_bytes, identical, same,
           expect);
    for (int r = 0; r < reps; r++)
        printf("%s%.1f", r ? "," : "", rate[r]);
    printf("],\"median\":%.1f,", median(rate, reps));
    printf("\"cpu_median\":%.1f}\n", median(cpu, reps));
    hl7_buf_free(&out);
    free(rate);
    free(cpu);
    free(msg);
    free(mlen);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 5 && strcmp(argv[1], "corpus") == 0)
        return make_corpus(argv[2], atol(argv[3]), argc - 4, argv + 4);
    if (argc >= 3 && strcmp(argv[1], "run") == 0)
        return run(argv[2], argc >= 4 ? atoi(argv[3]) : 5);
    fprintf(stderr, "usage: %s corpus OUT N FILE... | run CORPUS [REPS]\n",
            argv[0]);
    return 2;
}
