#include "core/arena.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>

#define ARENA_ALIGN 16
#define ARENA_MIN_BLOCK 4096

struct arena_block {
    struct arena_block *next;
    size_t size;
    size_t used;
    _Alignas(16) unsigned char data[];
};

struct arena_defer {
    struct arena_defer *next;
    void (*fn)(void *);
    void *ptr;
};

struct arena {
    struct arena_block *head;
    struct arena_defer *defers;
    size_t block_size;
    size_t total;
};

static struct arena_block *block_new(size_t size);
static void run_defers(arena_t *a);

static struct arena_block *block_new(size_t size)
{
    struct arena_block *b = malloc(sizeof(*b) + size);
    if (!b) {
        fputs("out of memory\n", stderr);
        abort();
    }
    b->next = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

arena_t *arena_new(size_t first_block)
{
    arena_t *a = calloc(1, sizeof(*a));
    if (!a)
        abort();
    a->block_size = first_block < ARENA_MIN_BLOCK ? ARENA_MIN_BLOCK : first_block;
    a->head = block_new(a->block_size);
    return a;
}

static void run_defers(arena_t *a)
{
    /* Last registered first, like a stack of cleanups. */
    struct arena_defer *d = a->defers;
    while (d) {
        d->fn(d->ptr);
        d = d->next;
    }
    a->defers = NULL;
}

void arena_free(arena_t *a)
{
    if (!a)
        return;
    run_defers(a);
    struct arena_block *b = a->head;
    while (b) {
        struct arena_block *n = b->next;
        free(b);
        b = n;
    }
    free(a);
}

void arena_reset(arena_t *a)
{
    run_defers(a);
    /* Keep the first block (the last in the chain) to avoid a malloc per request. */
    struct arena_block *b = a->head;
    while (b->next) {
        struct arena_block *n = b->next;
        free(b);
        b = n;
    }
    b->used = 0;
    a->head = b;
    a->total = 0;
}

void *arena_alloc(arena_t *a, size_t size)
{
    size_t need = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (need == 0)
        need = ARENA_ALIGN;
    struct arena_block *b = a->head;
    if (b->size - b->used < need) {
        size_t bs = a->block_size;
        while (bs < need)
            bs *= 2;
        b = block_new(bs);
        b->next = a->head;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += need;
    a->total += need;
    return p;
}

void *arena_calloc(arena_t *a, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        abort();
    void *p = arena_alloc(a, n * size);
    memset(p, 0, n * size);
    return p;
}

char *arena_strndup(arena_t *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *arena_strdup(arena_t *a, const char *s)
{
    if (!s)
        return NULL;
    return arena_strndup(a, s, strlen(s));
}

char *arena_vprintf(arena_t *a, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return arena_strdup(a, "");
    char *p = arena_alloc(a, (size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    return p;
}

char *arena_printf(arena_t *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = arena_vprintf(a, fmt, ap);
    va_end(ap);
    return p;
}

void arena_defer(arena_t *a, void (*fn)(void *), void *ptr)
{
    if (!ptr)
        return;
    struct arena_defer *d = arena_alloc(a, sizeof(*d));
    d->fn = fn;
    d->ptr = ptr;
    d->next = a->defers;
    a->defers = d;
}

size_t arena_used(const arena_t *a)
{
    return a->total;
}
