/* Helpers shared by svdcluster.c, svdcluster_batch.c and svdcluster_online.c (not public). */
#ifndef SPX_SVDCLUSTER_INTERNAL_H
#define SPX_SVDCLUSTER_INTERNAL_H

#include "svdcluster.h"

int spx_svdcluster_params_valid(const spx_svdcluster_params *p);
int spx_svdcluster_blocks_valid(const spx_svdcluster_blocks *b);
/* Room for a partition of `blocks` blocks (count 0). */
int spx_svdcluster_groups_alloc(spx_svdcluster_groups *g, size_t blocks);
/* Appends a group with these members. */
void spx_svdcluster_groups_push(spx_svdcluster_groups *g, const size_t *member, size_t n,
                                double bound);

#endif
