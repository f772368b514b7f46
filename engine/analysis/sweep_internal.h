/* What the files of flourish sweep share. design.c makes the points (analysis/sweep.h);
 * sweep.c runs the scenario at each of them, with the checkpoint and MPI; sweep_points.c
 * reduces each point's results to a record and takes the records into the series and into the
 * accumulators of the sensitivity measures' Monte Carlo errors; sweep_write.c computes the
 * sensitivity measures and writes the file. */
#ifndef FL_SWEEP_INTERNAL_H
#define FL_SWEEP_INTERNAL_H

#include "analysis/sweep.h"
#include "core/core.h"
#include "core/limits.h"

/* Bootstrap resamples behind the Monte Carlo errors of partial rank correlations and Sobol
 * indices, and behind the Sobol indices' standard errors from the finite base rows. */
#define FL_SWEEP_BOOTSTRAPS 200

/* One result across points: means [P * width]; Monte Carlo standard errors likewise. */
typedef struct fl_sweep_series {
  char *name;
  const char *doc;
  size_t width;    /* 1, or the product of tdims for vector results */
  int trank;       /* 0 (a scalar), 1 or 2: the trailing dimensions of a vector result */
  size_t tdims[2];
  double *mean, *mcse;
  int sensitivity; /* a scalar result: it gets sensitivity measures */
} fl_sweep_series;

typedef struct fl_sweep_table {
  fl_sweep_series *s;
  size_t n, cap;
  size_t P;
} fl_sweep_table;

/* The layout every point shares, fixed by the first point's compiled model. */
typedef struct fl_sweep_layout {
  size_t n_arms, L, W, B, T;
  char **holder_names;
  char *arm_names[FL_MAX_ARMS];
  char **level_names;
  double *wtp;
  char *scenario_name;
} fl_sweep_layout;

/* The state of a sweep between points. A point's record (what the checkpoint stores) is, for
 * every series in order, its means [width] then its MCSEs [width] when it has them; then, for
 * every sensitivity series in order, its per-replication values [Rv]. Every point goes
 * through fl_sweep_apply in point order, whether it was just run or read back from a
 * checkpoint, so a resumed sweep adds up the same numbers in the same order. */
typedef struct fl_sweep_state {
  const fl_sweep_options *opt;
  size_t P, K, Rv;   /* points, parameters, values per replication series (1: expectation) */
  int rank;          /* MPI rank (0 without MPI): rank 0 keeps the checkpoint and writes */
  const double *values;
  fl_sweep_layout lay;
  fl_sweep_table t;
  size_t n_sens, rec_len;
  double *rec;       /* [rec_len] */
  double *rep_buf, *saving_buf; /* [Rv] each */
  /* A point's values per replication (fl_sweep_take), column by column: [n_vals * Rv]. */
  size_t n_vals;
  double *vals;
  /* Grid: per sensitivity series j, parameter k and value i, per replication r, the sum over
   * the points at that value: lvl[(j * n_lv + lv_off[k] + i) * Rv + r]. */
  size_t n_lv, lv_off[FL_SWEEP_MAX_PARAMS];
  double *lvl;
  /* Sampled designs: bootstrap resamples of the replications (the same resample at every
   * point, which keeps the common random numbers paired): the count of each replication in
   * resample b, cnt[b * Rv + r], and each series' resampled mean at each point,
   * boot[(j * B + b) * P + p]. */
  size_t B;
  uint32_t *cnt;
  double *boot;
} fl_sweep_state;

static inline fl_status fl_sweep_oom(fl_error *err) {
  fl_error_set(err, FL_ENOMEM, NULL, 0, 0, NULL, "out of memory");
  return FL_ENOMEM;
}

/* Given w's opt, P, K, Rv, rank, values and t.P: fixes the layout from the first point's
 * model m0 (copying what it needs, so m0 may be freed after), adds the series, sizes the
 * record and, on rank 0, allocates the accumulators. FL_ENOMEM on no memory, with what was
 * allocated left in w for fl_sweep_state_free. */
fl_status fl_sweep_prepare(fl_sweep_state *w, const fl_model *m0, fl_error *err);
/* A point's values per replication: fl_sweep_values_alloc sizes them (after the layout is
 * fixed); fl_sweep_take takes row `row` of res (a block of a run, or an expectation's results)
 * as replication rep of the point made from model m (FL_EINTERNAL when res lacks an output the
 * record needs); fl_sweep_record then fills w->rec from them. A point holds a few numbers per
 * replication, not its results. */
fl_status fl_sweep_values_alloc(fl_sweep_state *w, fl_error *err);
fl_status fl_sweep_take(fl_sweep_state *w, const fl_results *res, size_t row, size_t rep,
                        const fl_model *m, fl_error *err);
fl_status fl_sweep_record(fl_sweep_state *w, const fl_model *m, fl_error *err);
/* Takes point p's record, w->rec, into the series and the accumulators (rank 0 only). */
void fl_sweep_apply(fl_sweep_state *w, size_t p);
/* Frees what w owns (not opt or values); copes with a state fl_sweep_prepare left half-built. */
void fl_sweep_state_free(fl_sweep_state *w);

/* Writes the sweep, every point applied, to out (atomically: fl_h5_write_simple): the design,
 * the series, the sensitivity measures with their errors, and the provenance; scenario is the
 * scenario's path as recorded there. Rank 0 only. */
fl_status fl_sweep_write(const fl_sweep_state *w, const char *scenario, const char *out,
                         fl_error *err);

#endif
