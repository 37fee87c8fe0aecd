/* A growable byte buffer with sticky out-of-memory, for building JSON text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void spectra__buf_reserve(spectra__buf *b, size_t extra)
{
    if (b->oom || b->cap - b->len > extra)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len <= extra) {
        if (cap > SIZE_MAX / 2) {
            b->oom = 1;
            return;
        }
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return;
    }
    b->p = p;
    b->cap = cap;
}

void spectra__buf_put(spectra__buf *b, const void *data, size_t n)
{
    spectra__buf_reserve(b, n);
    if (b->oom)
        return;
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void spectra__buf_putc(spectra__buf *b, char c)
{
    spectra__buf_reserve(b, 1);
    if (b->oom)
        return;
    b->p[b->len++] = c;
    b->p[b->len] = '\0';
}

void spectra__buf_puts(spectra__buf *b, const char *s)
{
    spectra__buf_put(b, s, strlen(s));
}

void spectra__buf_printf(spectra__buf *b, const char *fmt, ...)
{
    va_list ap;
    spectra__buf_reserve(b, 64);
    if (b->oom)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = 1;
        return;
    }
    if ((size_t)n >= b->cap - b->len) {
        spectra__buf_reserve(b, (size_t)n);
        if (b->oom)
            return;
        va_start(ap, fmt);
        vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

void spectra__buf_free(spectra__buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}
