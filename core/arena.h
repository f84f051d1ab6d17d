/* Per-request memory: everything a request allocates is owned by its arena
 * and released at once when the request completes, so handlers never free
 * piecemeal (the PostgreSQL memory-context idea, reduced to what we need). */
#ifndef CORE_ARENA_H
#define CORE_ARENA_H

#include <stddef.h>
#include <stdarg.h>

typedef struct arena arena_t;

arena_t *arena_new(size_t first_block);
void arena_free(arena_t *a);
void arena_reset(arena_t *a);
void *arena_alloc(arena_t *a, size_t size);
void *arena_calloc(arena_t *a, size_t n, size_t size);
char *arena_strdup(arena_t *a, const char *s);
char *arena_strndup(arena_t *a, const char *s, size_t n);
char *arena_printf(arena_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *arena_vprintf(arena_t *a, const char *fmt, va_list ap);
/* Register a destructor run when the arena is freed or reset (for objects
 * owned by other libraries: PGresult, json_t). */
void arena_defer(arena_t *a, void (*fn)(void *), void *ptr);
size_t arena_used(const arena_t *a);

#endif
