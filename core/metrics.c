#include "core/metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SERIES 2048 /* power of two; (method, route, status) triples */
#define ROUTE_MAX 120
#define NBUCKETS 12

/* Upper bounds in seconds; the last is +Inf. */
static const double bucket_le[NBUCKETS - 1] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "other"};
#define NMETHODS (sizeof methods / sizeof methods[0])

struct series {
    atomic_bool used; /* set (release) after the key is written */
    int method;
    int status;
    char route[ROUTE_MAX];
    atomic_ullong count;
    atomic_ullong sum_us;
    atomic_ullong bucket[NBUCKETS]; /* not cumulative; summed at render */
};

static struct series table[MAX_SERIES];
static atomic_int nseries;
static pthread_mutex_t insert_mu = PTHREAD_MUTEX_INITIALIZER;

void metrics_printf(struct metrics_buf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->len;
        int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? room : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if (b->s && (size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 8192;
        while (cap < b->len + (size_t)n + 1)
            cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s)
            return;
        b->s = s;
        b->cap = cap;
    }
}

void metrics_label(struct metrics_buf *b, const char *v)
{
    for (; v && *v; v++) {
        if (*v == '\\')
            metrics_printf(b, "\\\\");
        else if (*v == '"')
            metrics_printf(b, "\\\"");
        else if (*v == '\n')
            metrics_printf(b, "\\n");
        else
            metrics_printf(b, "%c", *v);
    }
}

static int method_index(const char *m)
{
    for (size_t i = 0; i + 1 < NMETHODS; i++)
        if (m && strcmp(m, methods[i]) == 0)
            return (int)i;
    return (int)NMETHODS - 1;
}

static uint32_t hash_key(int method, const char *route, int status)
{
    uint32_t h = 2166136261u ^ (uint32_t)method * 16777619u ^ (uint32_t)status * 2654435761u;
    for (const char *c = route; *c; c++)
        h = (h ^ (unsigned char)*c) * 16777619u;
    return h;
}

static struct series *find(int method, const char *route, int status, bool create)
{
    uint32_t h = hash_key(method, route, status);
    for (uint32_t i = 0; i < MAX_SERIES; i++) {
        struct series *s = &table[(h + i) & (MAX_SERIES - 1)];
        if (!atomic_load_explicit(&s->used, memory_order_acquire)) {
            if (!create)
                return NULL;
            pthread_mutex_lock(&insert_mu);
            if (atomic_load_explicit(&s->used, memory_order_acquire)) { /* taken meanwhile: look again */
                pthread_mutex_unlock(&insert_mu);
                i--;
                continue;
            }
            s->method = method;
            s->status = status;
            snprintf(s->route, sizeof s->route, "%s", route);
            atomic_store_explicit(&s->used, true, memory_order_release);
            atomic_fetch_add(&nseries, 1);
            pthread_mutex_unlock(&insert_mu);
            return s;
        }
        if (s->method == method && s->status == status && strcmp(s->route, route) == 0)
            return s;
    }
    return NULL;
}

void metrics_http_request(const char *method, const char *route, int status, double ms)
{
    int m = method_index(method);
    if (!route)
        route = "none";
    /* Keep a quarter of the table free so probing stays short; past that,
     * new routes are folded into "other". */
    struct series *s = find(m, route, status, false);
    if (!s)
        s = find(m, atomic_load(&nseries) < MAX_SERIES * 3 / 4 ? route : "other", status, true);
    if (!s)
        return;
    double sec = ms / 1000.0;
    int b = 0;
    while (b < NBUCKETS - 1 && sec > bucket_le[b])
        b++;
    atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->sum_us, (unsigned long long)(ms > 0 ? ms * 1000.0 : 0), memory_order_relaxed);
    atomic_fetch_add_explicit(&s->bucket[b], 1, memory_order_relaxed);
}

static void labels(struct metrics_buf *b, const struct series *s)
{
    metrics_printf(b, "method=\"%s\",route=\"", methods[s->method]);
    metrics_label(b, s->route);
    metrics_printf(b, "\"");
}

void metrics_http_render(struct metrics_buf *b)
{
    metrics_printf(b, "# HELP his_http_requests_total HTTP requests answered, by method, route pattern and status (route none: refused before a handler ran).\n"
                      "# TYPE his_http_requests_total counter\n");
    for (int i = 0; i < MAX_SERIES; i++) {
        struct series *s = &table[i];
        if (!atomic_load_explicit(&s->used, memory_order_acquire))
            continue;
        metrics_printf(b, "his_http_requests_total{");
        labels(b, s);
        metrics_printf(b, ",status=\"%d\"} %llu\n", s->status, (unsigned long long)atomic_load(&s->count));
    }
    metrics_printf(b, "# HELP his_http_request_duration_seconds Time from the first byte of a request to the end of its reply.\n"
                      "# TYPE his_http_request_duration_seconds histogram\n");
    /* One histogram per (method, route): sum the status series. */
    bool *done = calloc(MAX_SERIES, sizeof(bool));
    if (!done)
        return;
    for (int i = 0; i < MAX_SERIES; i++) {
        struct series *s = &table[i];
        if (done[i] || !atomic_load_explicit(&s->used, memory_order_acquire))
            continue;
        unsigned long long bk[NBUCKETS] = {0}, count = 0, sum_us = 0;
        for (int j = i; j < MAX_SERIES; j++) {
            struct series *t = &table[j];
            if (done[j] || !atomic_load_explicit(&t->used, memory_order_acquire) || t->method != s->method ||
                strcmp(t->route, s->route) != 0)
                continue;
            done[j] = true;
            for (int k = 0; k < NBUCKETS; k++)
                bk[k] += atomic_load_explicit(&t->bucket[k], memory_order_relaxed);
        }
        unsigned long long cum = 0;
        for (int k = 0; k < NBUCKETS; k++) {
            cum += bk[k];
            metrics_printf(b, "his_http_request_duration_seconds_bucket{");
            labels(b, s);
            if (k < NBUCKETS - 1)
                metrics_printf(b, ",le=\"%g\"} %llu\n", bucket_le[k], cum);
            else
                metrics_printf(b, ",le=\"+Inf\"} %llu\n", cum);
        }
        count = cum;
        for (int j = 0; j < MAX_SERIES; j++) {
            struct series *t = &table[j];
            if (atomic_load_explicit(&t->used, memory_order_acquire) && t->method == s->method &&
                strcmp(t->route, s->route) == 0)
                sum_us += atomic_load_explicit(&t->sum_us, memory_order_relaxed);
        }
        metrics_printf(b, "his_http_request_duration_seconds_sum{");
        labels(b, s);
        metrics_printf(b, "} %.6f\n", (double)sum_us / 1e6);
        metrics_printf(b, "his_http_request_duration_seconds_count{");
        labels(b, s);
        metrics_printf(b, "} %llu\n", count);
    }
    free(done);
}
