/* Process-wide counters for GET /metrics (Prometheus text format 0.0.4).
 * Every finished HTTP request is counted by core/http.c (request_completed)
 * with atomics: no lock on the request path once a (method, route, status)
 * series exists; a new series takes a mutex once. Gauges that live in the
 * database (outbox, HL7 queue, replication) are read by his/metrics.c at
 * scrape time. */
#ifndef CORE_METRICS_H
#define CORE_METRICS_H

#include <stddef.h>

/* A growable text buffer for the exposition. */
struct metrics_buf {
    char *s;
    size_t len, cap;
};
void metrics_printf(struct metrics_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Label values escaped per the text format (backslash, quote, newline). */
void metrics_label(struct metrics_buf *b, const char *value);

/* Counts one finished request. route: the route pattern (or a short note such
 * as "static"), NULL when no handler ran (unknown path, 401/403/405 and CSRF
 * refusals: counted as route "none"); never the raw path. */
void metrics_http_request(const char *method, const char *route, int status, double ms);

/* Appends his_http_requests_total, his_http_request_duration_seconds
 * (histogram per method and route). */
void metrics_http_render(struct metrics_buf *b);

#endif
