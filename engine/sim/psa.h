/* Parameter uncertainty: each replication block's own transition tables (see psa.c). */
#ifndef FL_PSA_H
#define FL_PSA_H

#include "model/model.h"

typedef struct fl_psa fl_psa;

/* Per-thread buffers for the drawn tables of every arm. */
fl_psa *fl_psa_create(const fl_model *m);
void fl_psa_free(fl_psa *p);
/* The state costs per step [S * B] and QoL weights [S] of the block last prepared. */
const double *fl_psa_cost(const fl_psa *p);
const double *fl_psa_qol(const fl_psa *p);
/* The values drawn for the uncertainty section [n_unc], in its order and its keys' units. */
const double *fl_psa_drawn(const fl_psa *p);
/* Whether any row of the model carries counts (without them there is nothing to draw). */
int fl_psa_has_counts(const fl_model *m);
/* Sets tabs[arm] to the tables of replication block `block` (drawn once per block and kept
 * while the same block comes again). */
fl_status fl_psa_prepare(const fl_model *m, fl_psa *p, uint64_t seed, uint64_t block,
                         double prior, fl_arm_tables *tabs, fl_error *err);

#endif
