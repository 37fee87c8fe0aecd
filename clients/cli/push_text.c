/* A push source reading rows from a text table (CSV, delimited or whitespace-separated). */
#include <stdlib.h>

#include "cli.h"

static int text_read(push_source *src, double *rows, size_t max_rows, push_chunk *chunk)
{
    return spectra_table_read(src->impl, rows, max_rows, &chunk->n);
}

static const char *text_error(const push_source *src)
{
    return spectra_table_error(src->impl);
}

static void text_close(push_source *src)
{
    spectra_table_free(src->impl);
    src->impl = NULL;
}

int push_source_text_open(push_source *src, const char *path, const spectra_table_options *opts,
                          const char **err)
{
    src->kind = SPECTRA_ROWS;
    src->read = text_read;
    src->error = text_error;
    src->close = text_close;
    src->impl = spectra_table_new(opts);
    if (!src->impl) {
        *err = "out of memory";
        return SPECTRA_ENOMEM;
    }
    int rc = spectra_table_open(src->impl, path);
    if (rc) {
        *err = spectra_table_error(src->impl);
        return rc;
    }
    src->width = spectra_table_width(src->impl);
    return 0;
}
