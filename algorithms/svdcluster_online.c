/* Online error-constrained clustering: one stacked GEMM screens a block against every open group,
 * an eigenvalues-only test predicts each group's error, and only the chosen group is rotated. */
#include "svdcluster.h"

#include "svdcluster_internal.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SPX_SVDCLUSTER_RANK_TOL 1e-12

typedef struct screen_key {
    double key;                /* residual energy of the block outside the group's top-r basis */
    double now;                /* the group's tail energy before the block */
    size_t slot;
} screen_key;

typedef struct group_meta {
    uint64_t blocks;
    double bound;
    int64_t slot;              /* open slot, or -1 once closed */
} group_meta;

struct spx_svdcluster {
    spx_svdcluster_params p;
    size_t m, r, q, nmax;
    double eps2;
    spx_isvd_work *w;
    /* Open groups live in slots 0 .. nopen-1; slot i owns columns [i q, (i+1) q) of ubig, so all
     * open bases are one m x (nopen q) matrix. Slot max_open is scratch for a group being opened.
     * Columns past a state's cur are zero, so they add nothing to the screening GEMM. */
    double *ubig, *sbig;
    spx_isvd_state *st;
    uint64_t *slot_group;
    uint64_t *slot_touched;    /* arrival index of the last block that joined (for LRU closing) */
    size_t nopen;
    double *a;                 /* m x nmax: the block, column-major */
    double *call;              /* (max_open q) x nmax: all open bases times the block */
    double *ata;               /* nmax x nmax */
    screen_key *keys;          /* max_open */
    group_meta *groups;
    size_t ngroups, capgroups;
    uint64_t *label;           /* group of every block seen */
    uint64_t nblocks;
    size_t caplabel;
    double *store;             /* retained blocks, column-major side by side */
    size_t store_cols, store_cap;
    size_t *offset;            /* nretained + 1 */
    size_t nretained, capoffset;
};

static double *slot_u(const spx_svdcluster *c, size_t slot) { return c->ubig + slot * c->q * c->m; }

static double *slot_s(const spx_svdcluster *c, size_t slot) { return c->sbig + slot * c->q; }

int spx_svdcluster_create(spx_svdcluster **out, const spx_svdcluster_params *p)
{
    if (!out || !spx_svdcluster_params_valid(p))
        return -EINVAL;
    spx_svdcluster *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->p = *p;
    c->m = p->rows;
    c->r = p->rank;
    c->q = p->rank + p->oversample < p->rows ? p->rank + p->oversample : p->rows;
    c->nmax = p->max_cols;
    c->eps2 = p->eps * p->eps;
    size_t slots = p->max_open + 1, m = c->m, q = c->q, n = c->nmax;
    c->ubig = calloc(m * q * slots, sizeof *c->ubig);
    c->sbig = calloc(q * slots, sizeof *c->sbig);
    c->st = calloc(slots, sizeof *c->st);
    c->slot_group = calloc(slots, sizeof *c->slot_group);
    c->slot_touched = calloc(slots, sizeof *c->slot_touched);
    c->a = malloc(m * n * sizeof *c->a);
    c->call = malloc(q * p->max_open * n * sizeof *c->call);
    c->ata = malloc(n * n * sizeof *c->ata);
    c->keys = malloc(p->max_open * sizeof *c->keys);
    c->capgroups = 64;
    c->groups = malloc(c->capgroups * sizeof *c->groups);
    c->caplabel = 1024;
    c->label = malloc(c->caplabel * sizeof *c->label);
    c->capoffset = 1024;
    c->offset = malloc(c->capoffset * sizeof *c->offset);
    int rc = -ENOMEM;
    if (c->ubig && c->sbig && c->st && c->slot_group && c->slot_touched && c->a && c->call &&
        c->ata && c->keys && c->groups && c->label && c->offset)
        rc = spx_isvd_work_create(&c->w, m, q, n);
    if (rc != 0) {
        spx_svdcluster_free(c);
        return rc;
    }
    for (size_t i = 0; i < slots; i++)
        spx_isvd_state_init(&c->st[i], m, q, slot_u(c, i), slot_s(c, i));
    c->offset[0] = 0;
    *out = c;
    return 0;
}

void spx_svdcluster_free(spx_svdcluster *c)
{
    if (!c)
        return;
    spx_isvd_work_free(c->w);
    free(c->ubig);
    free(c->sbig);
    free(c->st);
    free(c->slot_group);
    free(c->slot_touched);
    free(c->a);
    free(c->call);
    free(c->ata);
    free(c->keys);
    free(c->groups);
    free(c->label);
    free(c->store);
    free(c->offset);
    free(c);
}

uint64_t spx_svdcluster_blocks_seen(const spx_svdcluster *c) { return c->nblocks; }

size_t spx_svdcluster_open_groups(const spx_svdcluster *c) { return c->nopen; }

/* Amortised doubling for the per-block and per-group records: the only allocations after create,
 * made before anything changes so that a failure leaves the clusterer as it was. */
static int grow(void **buf, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t nc = *cap;
    while (nc < need)
        nc *= 2;
    void *nb = realloc(*buf, nc * elem);
    if (!nb)
        return -ENOMEM;
    *buf = nb;
    *cap = nc;
    return 0;
}

static int reserve(spx_svdcluster *c, size_t n)
{
    int rc = grow((void **)&c->label, &c->caplabel, c->nblocks + 1, sizeof *c->label);
    if (rc == 0)
        rc = grow((void **)&c->groups, &c->capgroups, c->ngroups + 1, sizeof *c->groups);
    if (rc == 0 && c->nretained < c->p.max_blocks) {
        rc = grow((void **)&c->offset, &c->capoffset, c->nretained + 2, sizeof *c->offset);
        if (rc == 0 && c->store_cols + n > c->store_cap) {
            size_t cap = c->store_cap ? c->store_cap : 256;
            while (cap < c->store_cols + n)
                cap *= 2;
            double *ns = realloc(c->store, cap * c->m * sizeof *ns);
            if (!ns)
                return -ENOMEM;
            c->store = ns;
            c->store_cap = cap;
        }
    }
    return rc;
}

/* Moves slot `from` into slot `to` (storage and state). */
static void move_slot(spx_svdcluster *c, size_t from, size_t to)
{
    memcpy(slot_u(c, to), slot_u(c, from), c->m * c->q * sizeof *c->ubig);
    memcpy(slot_s(c, to), slot_s(c, from), c->q * sizeof *c->sbig);
    spx_isvd_state moved = c->st[from];
    moved.u = slot_u(c, to);
    moved.s = slot_s(c, to);
    c->st[to] = moved;
    c->slot_group[to] = c->slot_group[from];
    c->slot_touched[to] = c->slot_touched[from];
    c->groups[c->slot_group[to]].slot = (int64_t)to;
}

static int by_key(const void *x, const void *y)
{
    const screen_key *a = x, *b = y;
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    return a->slot < b->slot ? -1 : a->slot > b->slot;
}

/* Index of the chosen open group, or -1: among feasible groups (predicted error <= eps) the one whose
 * predicted tail energy grows least. The eigenvalue tests run in increasing order of the block's
 * residual energy outside each group's top-r basis (an upper bound of that growth, read off the
 * stacked GEMM); with screen_depth d > 0 the search stops once d groups have been tested and one of
 * them is feasible. */
static int screen(spx_svdcluster *c, size_t n, double a2, int *rc)
{
    size_t m = c->m, q = c->q, rows = c->nopen * q;
    *rc = 0;
    if (c->nopen == 0)
        return -1;
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)rows, (int)n, (int)m, 1.0, c->ubig,
                (int)m, c->a, (int)m, 0.0, c->call, (int)rows);
    cblas_dsyrk(CblasColMajor, CblasLower, CblasTrans, (int)n, (int)m, 1.0, c->a, (int)m, 0.0,
                c->ata, (int)n);
    size_t nk = 0;
    for (size_t g = 0; g < c->nopen; g++) {
        const spx_isvd_state *st = &c->st[g];
        double now = spx_isvd_state_tail(st, c->r), e = st->energy + a2;
        /* adding columns never lowers the rank-r tail: a group already over budget is skipped */
        if (now > c->eps2 * e)
            continue;
        size_t kr = st->cur < c->r ? st->cur : c->r;
        double in = 0.0;
        for (size_t j = 0; j < n; j++) {
            const double *cj = c->call + g * q + j * rows;
            for (size_t i = 0; i < kr; i++)
                in += cj[i] * cj[i];
        }
        c->keys[nk].key = a2 - in; /* an ordering key only: the cancellation does not matter */
        c->keys[nk].slot = g;
        c->keys[nk].now = now;
        nk++;
    }
    qsort(c->keys, nk, sizeof *c->keys, by_key);
    int best = -1;
    double best_growth = INFINITY;
    for (size_t k = 0; k < nk; k++) {
        if (c->p.screen_depth > 0 && k >= c->p.screen_depth && best >= 0)
            break;
        size_t g = c->keys[k].slot;
        const spx_isvd_state *st = &c->st[g];
        double tail = 0.0, e = st->energy + a2;
        *rc = spx_isvd_state_predict(st, c->w, c->call + g * q, rows, c->ata, n, c->r, &tail);
        if (*rc != 0)
            return -1;
        if (tail <= c->eps2 * e && tail - c->keys[k].now < best_growth) {
            best_growth = tail - c->keys[k].now;
            best = (int)g;
        }
    }
    return best;
}

int spx_svdcluster_add(spx_svdcluster *c, const void *a, size_t n, spx_isvd_layout layout,
                       spx_svdcluster_assignment *out)
{
    if (!c || !a || n == 0 || n > c->nmax)
        return -EINVAL;
    double a2 = 0.0;
    int rc = spx_isvd_load_block(c->a, c->m, a, n, layout, &a2);
    if (rc == 0)
        rc = reserve(c, n);
    if (rc != 0)
        return rc;
    int g = screen(c, n, a2, &rc);
    if (rc != 0)
        return rc;
    uint64_t block = c->nblocks, group;
    int64_t closed = -1;
    spx_isvd_state *st;
    if (g >= 0) {
        st = &c->st[g];
        rc = spx_isvd_state_update(st, c->w, c->a, c->m, n, 1.0, SPX_SVDCLUSTER_RANK_TOL);
        if (rc != 0)
            return rc;
        group = c->slot_group[g];
    } else {
        size_t scratch = c->p.max_open;
        spx_isvd_state_clear(&c->st[scratch]);
        rc = spx_isvd_state_update(&c->st[scratch], c->w, c->a, c->m, n, 1.0,
                                   SPX_SVDCLUSTER_RANK_TOL);
        if (rc != 0)
            return rc;
        if (c->nopen == c->p.max_open) {
            size_t lru = 0;
            for (size_t i = 1; i < c->nopen; i++)
                if (c->slot_touched[i] < c->slot_touched[lru])
                    lru = i;
            closed = (int64_t)c->slot_group[lru];
            c->groups[closed].slot = -1;
            if (lru != c->nopen - 1)
                move_slot(c, c->nopen - 1, lru);
            c->nopen--;
            /* the vacated slot's columns must be zero for the screening GEMM */
            spx_isvd_state_clear(&c->st[c->nopen]);
        }
        group = c->ngroups++;
        c->groups[group].blocks = 0;
        c->slot_group[scratch] = group;
        g = (int)c->nopen;
        move_slot(c, scratch, (size_t)g);
        c->nopen++;
        st = &c->st[g];
    }
    c->slot_touched[g] = block;
    group_meta *gm = &c->groups[group];
    gm->blocks++;
    gm->bound = st->energy > 0.0 ? sqrt(spx_isvd_state_tail(st, c->r) / st->energy) : 0.0;
    c->label[c->nblocks++] = group;
    if (c->nretained < c->p.max_blocks) {
        memcpy(c->store + c->store_cols * c->m, c->a, c->m * n * sizeof *c->store);
        c->store_cols += n;
        c->offset[++c->nretained] = c->store_cols;
    }
    if (out) {
        out->block = block;
        out->group = group;
        out->bound = gm->bound;
        out->opened = gm->blocks == 1;
        out->closed = closed;
    }
    return 0;
}

int spx_svdcluster_online_groups(const spx_svdcluster *c, spx_svdcluster_groups *out)
{
    if (!c || !out)
        return -EINVAL;
    int rc = spx_svdcluster_groups_alloc(out, (size_t)c->nblocks);
    if (rc != 0)
        return rc;
    /* counting sort of the blocks by group, keeping arrival order within a group */
    size_t *fill = calloc(c->ngroups + 1, sizeof *fill);
    if (!fill) {
        spx_svdcluster_groups_free(out);
        return -ENOMEM;
    }
    for (size_t g = 0; g < c->ngroups; g++)
        out->start[g + 1] = out->start[g] + (size_t)c->groups[g].blocks;
    for (uint64_t b = 0; b < c->nblocks; b++) {
        size_t g = (size_t)c->label[b];
        out->member[out->start[g] + fill[g]++] = (size_t)b;
        out->label[b] = g;
    }
    for (size_t g = 0; g < c->ngroups; g++)
        out->bound[g] = c->groups[g].bound;
    out->count = c->ngroups;
    free(fill);
    return 0;
}

void spx_svdcluster_retained(const spx_svdcluster *c, spx_svdcluster_blocks *out)
{
    out->rows = c->m;
    out->count = c->nretained;
    out->data = c->store;
    out->col_offset = c->offset;
}

int spx_svdcluster_recluster(const spx_svdcluster *c, spx_svdcluster_method method,
                             spx_svdcluster_groups *out)
{
    if (!c || !out)
        return -EINVAL;
    spx_svdcluster_params p = c->p;
    p.method = method;
    spx_svdcluster_blocks b;
    spx_svdcluster_retained(c, &b);
    return spx_svdcluster_batch(&p, &b, out);
}

int spx_svdcluster_group_basis(const spx_svdcluster *c, uint64_t group, double *u, double *s)
{
    if (!c)
        return -EINVAL;
    if (group >= c->ngroups || c->groups[group].slot < 0)
        return -ENOENT;
    const spx_isvd_state *st = &c->st[c->groups[group].slot];
    size_t keep = st->cur < c->r ? st->cur : c->r;
    for (size_t j = 0; j < c->r; j++) {
        if (u) {
            if (j < keep)
                memcpy(u + j * c->m, st->u + j * c->m, c->m * sizeof *u);
            else
                memset(u + j * c->m, 0, c->m * sizeof *u);
        }
        if (s)
            s[j] = j < keep ? st->s[j] : 0.0;
    }
    return 0;
}

int spx_svdcluster_block_coefficients(spx_svdcluster *c, uint64_t group, const void *a, size_t n,
                                      spx_isvd_layout layout, double *coef)
{
    if (!c || !a || !coef || n == 0 || n > c->nmax)
        return -EINVAL;
    if (group >= c->ngroups || c->groups[group].slot < 0)
        return -ENOENT;
    int rc = spx_isvd_load_block(c->a, c->m, a, n, layout, NULL);
    if (rc != 0)
        return rc;
    const spx_isvd_state *st = &c->st[c->groups[group].slot];
    size_t keep = st->cur < c->r ? st->cur : c->r;
    memset(coef, 0, c->r * n * sizeof *coef);
    if (keep > 0)
        cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)keep, (int)n, (int)c->m, 1.0,
                    st->u, (int)c->m, c->a, (int)c->m, 0.0, coef, (int)c->r);
    return 0;
}

/* ---- durable state ----------------------------------------------------------------------------- */

void spx_svdcluster_snapshot_get(const spx_svdcluster *c, spx_svdcluster_snapshot *out)
{
    memset(out, 0, sizeof *out);
    out->rows = c->m;
    out->capacity = c->q;
    out->open = c->nopen;
    out->groups = c->ngroups;
    out->blocks = c->nblocks;
    out->retained = c->nretained;
    out->retained_cols = c->store_cols;
    out->u = c->ubig;
    out->s = c->sbig;
    out->label = c->label;
    out->offset = c->offset;
    out->store = c->store;
}

void spx_svdcluster_snapshot_records(const spx_svdcluster *c, spx_svdcluster_slot_state *slot,
                                     spx_svdcluster_group_state *group)
{
    for (size_t i = 0; i < c->nopen; i++)
        slot[i] = (spx_svdcluster_slot_state){.group = c->slot_group[i],
                                              .touched = c->slot_touched[i],
                                              .cur = c->st[i].cur,
                                              .energy = c->st[i].energy,
                                              .discarded = c->st[i].discarded};
    for (size_t g = 0; g < c->ngroups; g++)
        group[g] = (spx_svdcluster_group_state){.blocks = c->groups[g].blocks,
                                                .bound = c->groups[g].bound};
}

static int refuse(const char **why, const char *reason)
{
    if (why)
        *why = reason;
    return -EINVAL;
}

static int finite_nonneg(double v) { return isfinite(v) && v >= 0.0; }

/* U^T U of a saved basis may drift from I by rounding only (~1e-14); this is far above that. */
#define SPX_SVDCLUSTER_SNAPSHOT_ORTH_TOL 1e-6

/* One open slot's factors: finite, s descending and zero past cur, U zero past cur and
 * orthonormal before. gram: cur x cur scratch. */
static int slot_valid(const spx_svdcluster *c, const spx_svdcluster_slot_state *sl,
                      const double *u, const double *s, double *gram)
{
    size_t m = c->m, q = c->q, cur = sl->cur;
    if (cur > q || !finite_nonneg(sl->energy) || !finite_nonneg(sl->discarded))
        return 0;
    for (size_t j = 0; j < q; j++)
        if (!finite_nonneg(s[j]) || (j >= cur && s[j] != 0.0) || (j > 0 && s[j] > s[j - 1]))
            return 0;
    for (size_t k = 0; k < m * q; k++)
        if (!isfinite(u[k]) || (k >= m * cur && u[k] != 0.0))
            return 0;
    if (cur == 0)
        return 1;
    cblas_dsyrk(CblasColMajor, CblasUpper, CblasTrans, (int)cur, (int)m, 1.0, u, (int)m, 0.0, gram,
                (int)cur);
    for (size_t j = 0; j < cur; j++)
        for (size_t i = 0; i <= j; i++)
            if (!(fabs(gram[i + j * cur] - (i == j ? 1.0 : 0.0)) <=
                  SPX_SVDCLUSTER_SNAPSHOT_ORTH_TOL))
                return 0;
    return 1;
}

/* Everything but the factors: sizes, records, labels and the retained blocks. */
static int records_valid(const spx_svdcluster *c, const spx_svdcluster_snapshot *in,
                         const char **why)
{
    const spx_svdcluster_params *p = &c->p;
    if (in->rows != c->m || in->capacity != c->q)
        return refuse(why, "rows or capacity differ from the clusterer's");
    if (in->open > p->max_open || in->open > in->groups || in->groups > in->blocks ||
        (in->blocks > 0 && in->open == 0))
        return refuse(why, "open groups, groups and blocks do not fit together");
    uint64_t want_retained = in->blocks < (uint64_t)p->max_blocks ? in->blocks : p->max_blocks;
    if ((uint64_t)in->retained != want_retained)
        return refuse(why, "retained blocks disagree with blocks seen and max_blocks");
    if ((in->open && (!in->u || !in->s || !in->slot)) || (in->groups && !in->group) ||
        (in->blocks && !in->label) || !in->offset || (in->retained_cols && !in->store))
        return refuse(why, "missing arrays");
    uint64_t total = 0;
    for (size_t g = 0; g < in->groups; g++) {
        if (in->group[g].blocks == 0 || !finite_nonneg(in->group[g].bound))
            return refuse(why, "a group record is empty or its bound is not finite");
        total += in->group[g].blocks;
    }
    if (total != in->blocks)
        return refuse(why, "group sizes do not add up to the blocks seen");
    for (size_t i = 0; i < in->open; i++) {
        if (in->slot[i].group >= in->groups || in->slot[i].touched >= in->blocks)
            return refuse(why, "an open slot names a group or block that does not exist");
        for (size_t j = 0; j < i; j++)
            if (in->slot[j].group == in->slot[i].group)
                return refuse(why, "a group is open in two slots");
    }
    if (in->offset[0] != 0 || in->offset[in->retained] != in->retained_cols)
        return refuse(why, "retained block offsets do not span the retained columns");
    for (size_t i = 0; i < in->retained; i++) {
        if (in->offset[i + 1] <= in->offset[i] || in->offset[i + 1] - in->offset[i] > c->nmax)
            return refuse(why, "a retained block is empty or wider than max_cols");
    }
    for (size_t k = 0; k < c->m * in->retained_cols; k++)
        if (!isfinite(in->store[k]))
            return refuse(why, "retained blocks not finite");
    return 0;
}

/* Labels against group records: every label names a group, as many times as its record says. */
static int labels_valid(const spx_svdcluster_snapshot *in, const char **why)
{
    uint64_t *count = calloc(in->groups ? in->groups : 1, sizeof *count);
    if (!count)
        return -ENOMEM;
    int rc = 0;
    for (uint64_t b = 0; b < in->blocks && rc == 0; b++) {
        if (in->label[b] >= in->groups)
            rc = refuse(why, "a block label names a group that does not exist");
        else
            count[in->label[b]]++;
    }
    for (size_t g = 0; g < in->groups && rc == 0; g++)
        if (count[g] != in->group[g].blocks)
            rc = refuse(why, "block labels disagree with the group records");
    free(count);
    return rc;
}

int spx_svdcluster_snapshot_set(spx_svdcluster *c, const spx_svdcluster_snapshot *in,
                                const char **why)
{
    if (!c || !in)
        return refuse(why, "no snapshot");
    int rc = records_valid(c, in, why);
    if (rc == 0)
        rc = labels_valid(in, why);
    if (rc != 0)
        return rc;
    size_t m = c->m, q = c->q;
    double *gram = malloc(q * q * sizeof *gram);
    if (!gram)
        return -ENOMEM;
    for (size_t i = 0; i < in->open && rc == 0; i++)
        if (!slot_valid(c, &in->slot[i], in->u + i * m * q, in->s + i * q, gram))
            rc = refuse(why, "an open group's factors are not finite, ordered and orthonormal");
    free(gram);
    if (rc != 0)
        return rc;

    /* New record arrays first, so a failed allocation changes nothing. */
    size_t caplabel = in->blocks > c->caplabel ? (size_t)in->blocks : c->caplabel;
    size_t capgroups = in->groups > c->capgroups ? in->groups : c->capgroups;
    size_t capoffset = in->retained + 2 > c->capoffset ? in->retained + 2 : c->capoffset;
    uint64_t *label = malloc(caplabel * sizeof *label);
    group_meta *groups = malloc(capgroups * sizeof *groups);
    size_t *offset = malloc(capoffset * sizeof *offset);
    double *store = in->retained_cols ? malloc(in->retained_cols * m * sizeof *store) : NULL;
    if (!label || !groups || !offset || (in->retained_cols && !store)) {
        free(label);
        free(groups);
        free(offset);
        free(store);
        return -ENOMEM;
    }
    if (in->blocks)
        memcpy(label, in->label, (size_t)in->blocks * sizeof *label);
    for (size_t g = 0; g < in->groups; g++)
        groups[g] = (group_meta){.blocks = in->group[g].blocks, .bound = in->group[g].bound,
                                 .slot = -1};
    memcpy(offset, in->offset, (in->retained + 1) * sizeof *offset);
    if (store)
        memcpy(store, in->store, in->retained_cols * m * sizeof *store);
    free(c->label);
    free(c->groups);
    free(c->offset);
    free(c->store);
    c->label = label;
    c->caplabel = caplabel;
    c->groups = groups;
    c->capgroups = capgroups;
    c->offset = offset;
    c->capoffset = capoffset;
    c->store = store;
    c->store_cap = in->retained_cols;
    c->store_cols = in->retained_cols;
    c->nretained = in->retained;
    c->nblocks = in->blocks;
    c->ngroups = in->groups;

    for (size_t i = 0; i <= c->p.max_open; i++) {
        spx_isvd_state_clear(&c->st[i]);
        c->slot_group[i] = 0;
        c->slot_touched[i] = 0;
    }
    for (size_t i = 0; i < in->open; i++) {
        const spx_svdcluster_slot_state *sl = &in->slot[i];
        memcpy(slot_u(c, i), in->u + i * m * q, m * q * sizeof *c->ubig);
        memcpy(slot_s(c, i), in->s + i * q, q * sizeof *c->sbig);
        c->st[i].cur = sl->cur;
        c->st[i].energy = sl->energy;
        c->st[i].discarded = sl->discarded;
        c->slot_group[i] = sl->group;
        c->slot_touched[i] = sl->touched;
        c->groups[sl->group].slot = (int64_t)i;
    }
    c->nopen = in->open;
    return 0;
}
