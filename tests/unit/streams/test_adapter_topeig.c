/* The `topeig` pipeline adapter's parameters, driven through its ops without a daemon: every
 * refusal names the parameter, and accepted settings reach the estimator. */
#include <criterion/criterion.h>
#include <string.h>

#include "pipeline_kind.h"

/* Creating with the given parameters must fail with a message containing `needle`. */
static void create_fails(const spx_param *p, size_t n, const char *needle)
{
    const spx_pipeline_ops *ops = spx_pipeline_kind_find("topeig");
    cr_assert(ops);
    spx_stream_info info = {.name = "s", .kind = SPX_KIND_ROWS, .dim = 10};
    void *st = NULL;
    char err[256] = "";
    cr_assert_eq(ops->create(&st, &info, p, n, err, sizeof err), -1, "%s=%s accepted", p[n - 1].key,
                 p[n - 1].value);
    cr_assert_null(st);
    cr_assert(strstr(err, needle), "%s=%s: error '%s' lacks '%s'", p[n - 1].key, p[n - 1].value,
              err, needle);
}

static void create_ok(const spx_param *p, size_t n)
{
    const spx_pipeline_ops *ops = spx_pipeline_kind_find("topeig");
    spx_stream_info info = {.name = "s", .kind = SPX_KIND_ROWS, .dim = 10};
    void *st = NULL;
    char err[256] = "";
    cr_assert_eq(ops->create(&st, &info, p, n, err, sizeof err), 0, "refused: %s", err);
    ops->destroy(st);
}

Test(adapter_topeig, parameters)
{
    create_fails((spx_param[]){{"method", "lanczos"}}, 1, "method=lanczos: unknown");
    create_fails((spx_param[]){{"colour", "red"}}, 1, "unknown parameter colour");
    create_fails((spx_param[]){{"batch", "0"}}, 1, "batch");
    create_fails((spx_param[]){{"batch", "65537"}}, 1, "batch");
    create_fails((spx_param[]){{"method", "power"}, {"batch", "8"}}, 2,
                 "mini-batches are for method=adaoja and method=oja");
    create_fails((spx_param[]){{"method", "oja"}, {"k", "2"}}, 2, "k must be 1");
    create_fails((spx_param[]){{"method", "power"}, {"k", "9"}}, 2,
                 "k + oversample must be <= dim"); /* dim 10, oversample 2 */
    create_fails((spx_param[]){{"method", "fd"}, {"k", "3"}, {"sketch_rows", "2"}}, 3,
                 "sketch_rows must be 0 (auto) or >= k");
    create_ok((spx_param[]){{"method", "oja"}, {"batch", "16"}, {"t0", "50"}}, 3);
    create_ok((spx_param[]){{"method", "adaoja"}, {"batch", "65536"}}, 2);
    create_ok((spx_param[]){{"method", "power"}, {"batch", "1"}}, 2);
}
