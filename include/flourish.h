/* Flourish: a Monte Carlo microsimulation engine for children's services.
 *
 * Public C API. Every exported symbol carries FL_API; everything else in the library has
 * hidden visibility. Functions return an fl_status and pass results through out-parameters;
 * on failure they fill the caller's fl_error (when not NULL) with the code, the location in the
 * input (file:line:col and key path) or in the run, and a sentence a user can act on. Library
 * code never prints and never exits.
 *
 * Object lifetimes: every fl_X_create/load has a NULL-safe fl_X_free. Compiled models are
 * immutable and may be shared read-only by any number of threads. */
#ifndef FLOURISH_H
#define FLOURISH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define FL_API __attribute__((visibility("default")))
#else
#define FL_API
#endif

#define FL_VERSION_STRING "0.1.0"

/* The one error table. Input errors (the user can fix the file or the command line) map to exit
 * status 2; the rest are runtime failures (exit status 1). FL_ESTOPPED is no failure: the
 * caller asked a run or sweep to stop (fl_run_options.stop), and it kept its finished work in
 * its checkpoint; the command-line tool exits with 128 + the signal that asked for it. */
#define FL_ERRNO_MAP(X)                                                                            \
  X(OK, 0, "success")                                                                              \
  X(EUSAGE, 2, "invalid command-line usage")                                                       \
  X(EPARSE, 2, "malformed YAML")                                                                   \
  X(ESCHEMA, 2, "invalid scenario")                                                                \
  X(EINPUT, 2, "invalid input file")                                                               \
  X(EIO, 1, "input/output failure")                                                                \
  X(ENOMEM, 1, "out of memory")                                                                    \
  X(EHDF5, 1, "HDF5 library failure")                                                              \
  X(ENUMERIC, 1, "numerical failure")                                                              \
  X(EINTERNAL, 1, "internal error")                                                                \
  X(ESTOPPED, 1, "stopped on request")

typedef enum fl_status {
#define FL_X_ENUM(name, exit_code, text) FL_##name,
  FL_ERRNO_MAP(FL_X_ENUM)
#undef FL_X_ENUM
      FL_STATUS_COUNT
} fl_status;

/* An error record. file/line/col locate the offending input (line and col are 1-based; 0 means
 * unknown); key is the dotted key path inside a scenario (e.g. "states.foster.cost"), empty when
 * not applicable; message is one sentence saying what was expected and what was found. */
typedef struct fl_error {
  fl_status code;
  char file[512];
  int line;
  int col;
  char key[256];
  char message[1024];
} fl_error;

FL_API const char *fl_strerror(fl_status code);
FL_API const char *fl_err_name(fl_status code);
/* The process exit status that a command should return for this code: 0, 1 or 2. */
FL_API int fl_err_exit_code(fl_status code);
/* Formats err as "file:line:col: key: message" (the parts that are known) into buf. */
FL_API void fl_error_format(const fl_error *err, char *buf, size_t size);

typedef struct fl_scenario fl_scenario;
typedef struct fl_model fl_model;
typedef struct fl_results fl_results;

/* Parses and validates a YAML scenario file. The scenario keeps a copy of the file's text (it is
 * stored in every output for provenance). */
FL_API fl_status fl_scenario_load(const char *path, fl_scenario **out, fl_error *err);
/* The same, with "PATH=VALUE" assignments applied before the checks (the --set option): PATH
 * is a key path as errors print it (states.intensive.cost.social_work,
 * transitions.tables[0].rows.universal.additional); the last key may be one the file leaves
 * at its default; VALUE is a plain value, or a list written [a, b]. The assignments are kept
 * with the scenario's text for provenance. */
FL_API fl_status fl_scenario_load_with(const char *path, const char *const *sets, size_t nsets,
                                       fl_scenario **out, fl_error *err);
FL_API void fl_scenario_free(fl_scenario *sc);
/* A copy of sc (loaded without assignments) with "PATH=VALUE" assignments applied, from the
 * text it holds: what fl_scenario_load_with would give for its file, without reading it. */
FL_API fl_status fl_scenario_with(const fl_scenario *sc, const char *const *sets, size_t nsets,
                                  fl_scenario **out, fl_error *err);
/* One value of a scenario (a scalar, or a list of scalars), with its schema row: path as
 * --set takes it, the text as the file writes it (a list as --set writes one: "[a, b]"), the
 * type ("number", "integer", "probability", "boolean", "choice", "string", "names", "range",
 * "numbers"), the bounds of a number, the choices of a choice (separated by |), the unit, the
 * description and the default (NULL where the schema gives none). */
typedef struct fl_value_info {
  const char *path;
  const char *text;
  const char *type;
  double min, max;
  const char *choices, *unit, *doc, *def;
} fl_value_info;
/* Calls each for every scalar and list of scalars of the scenario, in the file's order (the strings are valid
 * during the call only). */
FL_API void fl_scenario_values(const fl_scenario *sc,
                               void (*each)(void *ctx, const fl_value_info *v), void *ctx);
/* The text of sc (loaded without assignments) with the assignments written into it in place,
 * comments and layout kept: a file that loads as fl_scenario_with(sc, sets) does. A key the
 * file leaves at its default is added to its mapping. The assignments are checked as --set
 * checks them (their errors as fl_scenario_load_with's). *text is malloc'd (free it), NUL
 * terminated, *len bytes long. */
FL_API fl_status fl_scenario_yaml_with(const fl_scenario *sc, const char *const *sets,
                                       size_t nsets, char **text, size_t *len, fl_error *err);
/* The text of sc (loaded without assignments) unchanged, with a copy of arm arm added as arm
 * name after the last arm: the arm's lines, comments kept, with the assignments (each under
 * arms.ARM., else FL_EUSAGE) written into the copy in place as fl_scenario_yaml_with writes
 * them, and its label, when one line of plain text that no assignment sets, followed by
 * " (what-if)". name is a letter, then letters, digits or underscores, and no arm's yet. The
 * arms must be written one key a line (not {...}). The text is checked before it is returned:
 * it loads, and says what sc says with the new arm equal to arm with the assignments (else
 * FL_EINTERNAL). *text is malloc'd (free it), NUL terminated, *len bytes long; when loaded is
 * not NULL, *loaded is the text loaded (free it with fl_scenario_free). */
FL_API fl_status fl_scenario_yaml_new_arm(const fl_scenario *sc, const char *arm,
                                          const char *name, const char *const *sets,
                                          size_t nsets, char **text, size_t *len,
                                          fl_scenario **loaded, fl_error *err);

/* Compiles a scenario into immutable tables (transition thresholds, costs, entries). The model
 * borrows nothing from the scenario: the scenario may be freed afterwards. */
FL_API fl_status fl_model_compile(const fl_scenario *sc, fl_model **out, fl_error *err);
FL_API void fl_model_free(fl_model *m);
/* Writes a plain-words description of the model (what `flourish validate` prints). */
FL_API void fl_model_describe(const fl_model *m, void (*write)(void *ctx, const char *text),
                              void *ctx);
/* Writes one line (key path: sentence) for each thing in the model that is valid but looks like
 * a mistake, such as an intervention that makes escalation more likely; nothing when none. */
FL_API void fl_model_warnings(const fl_model *m, void (*write)(void *ctx, const char *text),
                              void *ctx);

/* The hot pass of a step (one draw per child), in portable C or vectorised. Every pass gives
 * bit-identical results; only the speed differs. */
typedef enum fl_path {
  FL_PATH_AUTO = 0,   /* the fastest this processor supports: AVX-512, then AVX2, then portable */
  FL_PATH_SCALAR = 1, /* portable C */
  FL_PATH_AVX2 = 2,   /* 8 children per iteration */
  FL_PATH_AVX512 = 3  /* 16 children per iteration */
} fl_path;

/* Nonzero when this build and this processor can run the pass (auto and scalar always can). */
FL_API int fl_path_supported(fl_path path);
/* "auto", "scalar", "avx2" or "avx512"; "unknown" for any other value. */
FL_API const char *fl_path_name(fl_path path);
/* The pass named by one of the names above; returns 0, or -1 (and leaves *path) when the name
 * is none of them. */
FL_API int fl_path_parse(const char *name, fl_path *path);

/* Options of a Monte Carlo run. */
typedef struct fl_run_options {
  uint64_t seed;          /* master seed; streams derive from (seed, replication, child, purpose) */
  size_t replications;    /* R >= 1 */
  int threads;            /* 0: the OpenMP default; results do not depend on this */
  /* Threads inside each replication, splitting its children between them (a nested team), out
   * of `threads`. 0: automatic, used only when there are fewer replications than threads and
   * at least 5,000 children per thread; results do not depend on this either. When
   * replications also run in parallel, this raises OpenMP's max-active-levels to 2 for the
   * process (nested teams). */
  int threads_per_replication;
  int keep_flows;         /* nonzero: store the [R, T, S, S] flow counts */
  fl_path pass;           /* the hot pass; FL_PATH_AUTO (0): the fastest supported. fl_run
                           * refuses a pass the processor lacks. Results are identical. */
  /* Where to keep finished replications (NULL: nowhere); with resume nonzero, the stored ones
   * are loaded from it instead of simulated. The results are the same bytes either way. */
  const char *checkpoint;
  int resume;
  /* Parameter uncertainty: each block of psa_inner replications draws its transition rows from
   * their Dirichlet posteriors (counts + psa_prior); psa_inner >= 2 also splits the variance
   * of the results into parameter and chance parts. */
  int psa;
  size_t psa_inner;
  double psa_prior;
  /* With psa: the keys of uncertainty-section entries (comma-separated, at most 6) whose
   * expected value of partial perfect information is written; NULL or "": none. Borrowed. */
  const char *evppi;
  /* Called after each completed replication, from whichever thread completed it, serialised by
   * the library; done counts completed replications. May be NULL. */
  void (*progress)(void *ctx, size_t done, size_t total);
  void *progress_ctx;
  /* fl_run_write: called as the summaries over replications are computed, after the last
   * replication (done of total pieces of work), with progress_ctx. May be NULL. */
  void (*summary_progress)(void *ctx, size_t done, size_t total);
  /* Called with one sentence on what the run found or did that its user should know (resumed
   * from a checkpoint, started afresh without one, replaced an earlier run's), from the
   * calling thread, before the replications start (rank 0 only under MPI). May be NULL. */
  void (*notice)(void *ctx, const char *text);
  void *notice_ctx;
  /* Asked before each replication starts, from whichever thread is about to run it (possibly
   * from several at once: it must be thread-safe and quick, e.g. a read of an atomic flag that
   * a signal handler sets). Nonzero: the replications in progress finish, are kept in the
   * checkpoint (which is then made durable), no others start, and fl_run returns FL_ESTOPPED
   * without results (under MPI, every rank does when any rank is asked); a later run with
   * resume continues. May be NULL. The library installs no
   * signal handler: stopping on a signal is the caller's choice. */
  int (*stop)(void *ctx);
  void *stop_ctx;
} fl_run_options;

FL_API void fl_run_options_init(fl_run_options *opt);
/* Simulates every child of the model's population over the horizon, R times. Bit-identical
 * results for any thread count. */
FL_API fl_status fl_run(const fl_model *m, const fl_run_options *opt, fl_results **out,
                        fl_error *err);
/* Computes exact expected stocks, flows, costs and QoL by matrix algebra over
 * (state x age x time-in-state x locality) cells. */
FL_API fl_status fl_expect(const fl_model *m, fl_results **out, fl_error *err);
FL_API void fl_results_free(fl_results *res);

/* Reading results in memory (what flourish serve shows). Arm 0 is the baseline; a group is an
 * arm's datasets (comparison 0) or its comparison with the baseline (comparison nonzero, arms
 * from 1). A dataset has its registry name (docs/output.md: "stocks_by_level",
 * "cumulative_net_cost", "spells/ever_in_level"), its shape in this mode (Monte Carlo datasets
 * with a value per replication have the replication first; expectation results have no
 * replication dimension) and its dimensions' names ("replication", "time", "step", "state",
 * "to_state", "level", "budget_holder", "locality", "intervention", "year", ...), whose items
 * fl_results_label names. Values are read in row-major order as doubles. */
typedef struct fl_dataset {
  const char *name;
  const char *unit;
  int rank;
  size_t dims[8];
  const char *dim_names[8];
  size_t count;         /* the product of dims */
  int per_replication;  /* dims[0] is the replication */
  const void *data_;    /* the library's */
} fl_dataset;
FL_API size_t fl_results_n_arms(const fl_results *res);
FL_API const char *fl_results_arm_name(const fl_results *res, size_t arm);
/* The replications of Monte Carlo results; 0 for expectation results. */
FL_API size_t fl_results_replications(const fl_results *res);
/* Fills *ds and returns 1 when the group holds the dataset, 0 (and a zeroed *ds) when not. */
FL_API int fl_results_dataset(const fl_results *res, size_t arm, int comparison,
                              const char *name, fl_dataset *ds);
FL_API double fl_dataset_value(const fl_dataset *ds, size_t i);
/* Summaries over the replications of a per-replication dataset, computed as the output file's
 * summary group is (the same bits): out[k * cells + c] for statistic k (fl_summary_stat_name:
 * mean, sd, mcse, q025, q05, q25, q50, q75, q95, q975; quantiles by R's type 7) and cell c
 * (cells = count / dims[0], row-major over the dimensions after the replication). */
#define FL_SUMMARY_STATS 10
FL_API const char *fl_summary_stat_name(size_t k);
FL_API fl_status fl_dataset_summarise(const fl_dataset *ds, double *out, fl_error *err);
/* The name of item i of a dimension (state, to_state, level, budget_holder, locality, arm, and
 * arm's intervention), NULL for other dimensions or i out of range; the level index of a state
 * (-1 out of range). */
FL_API const char *fl_results_label(const fl_results *res, size_t arm, const char *dim,
                                    size_t i);
FL_API int fl_results_state_level(const fl_results *res, size_t state);

/* Provenance recorded in an output file. */
typedef struct fl_provenance {
  const char *command_line;
  const char *git_commit;
} fl_provenance;

/* Writes results to an HDF5 file atomically: the data go to a temporary file beside path, which
 * is renamed over path only when complete. */
FL_API fl_status fl_results_write(const fl_results *res, const fl_model *m,
                                  const fl_provenance *prov, const char *path, fl_error *err);
/* Runs the replications (as fl_run) and streams them to an HDF5 file at path as they finish,
 * with their summaries: what the run holds does not grow with the number of replications, and
 * the file is the one fl_run then fl_results_write would write (written atomically, the same
 * bytes in its datasets for any number of threads or MPI ranks). Under MPI, rank 0 writes. */
FL_API fl_status fl_run_write(const fl_model *m, const fl_run_options *opt,
                              const fl_provenance *prov, const char *path, fl_error *err);

/* Prints a per-year summary of an output file (text table, or CSV when csv is nonzero). */
FL_API fl_status fl_summary_print(const char *path, int csv,
                                  void (*write)(void *ctx, const char *text), void *ctx,
                                  fl_error *err);
/* Writes the same summary of the run or expect output at path as a workbook (XLSX) at xlsx: one
 * sheet per arm, years down and measures across. Written atomically. */
FL_API fl_status fl_summary_xlsx(const char *path, const char *xlsx, fl_error *err);

/* The output-path policy every command applies before it starts: each input must be a readable
 * regular file (exit status 2 otherwise: not a FIFO, a device or a directory); each output may
 * replace only a regular file the user can write (not a link, a FIFO, a device, a socket or a
 * directory), its directory must exist, and no output may be the same file (device and inode,
 * or the same absolute name) as an input or as another output. option names the command-line
 * option or argument in messages ("-o", "SCENARIO"). */
typedef enum fl_path_use { FL_PATH_INPUT, FL_PATH_OUTPUT } fl_path_use;
typedef struct fl_path_role {
  const char *path;
  const char *option;
  fl_path_use use;
} fl_path_role;
FL_API fl_status fl_paths_check(const fl_path_role *paths, size_t n, fl_error *err);

/* Scenario keys. fl_scenario_blame: an error about a value that --set gave (it has no line)
 * names the assignment in err->file instead of the scenario file. fl_paths_nest: whether key
 * path a is b, lies inside it, or holds it (a.b and a.b[0].c nest; a.b and a.bc do not).
 * fl_schema_print: the reference of every scenario key (one paragraph per key, or a Markdown
 * table). */
FL_API void fl_scenario_blame(const fl_scenario *sc, fl_error *err);
FL_API int fl_paths_nest(const char *a, const char *b);
FL_API void fl_schema_print(int markdown, void (*write)(void *ctx, const char *text), void *ctx);
/* The reference of every dataset an output file holds (docs/output.md), from the output
 * registry: a Markdown table, or one paragraph each. */
FL_API void fl_outputs_print(int markdown, void (*write)(void *ctx, const char *text), void *ctx);

/* Calibration from episode records (flourish calibrate) and synthetic records (flourish
 * synth). */
typedef struct fl_calibrate_options {
  const char *episodes;    /* episodes CSV */
  const char *population;  /* population CSV */
  const char *output;      /* calibrated scenario (YAML) */
  const char *report;      /* calibration report (CSV), or NULL */
  const char *report_h5;   /* the same as HDF5, or NULL */
  const char *from, *to;   /* window YYYY-MM-DD; NULL: first record, last date in the file */
  char delimiter;          /* of the CSV files' fields: ',' (0 too), ';', '\t' or '|' */
  const char *date_format; /* of the files' dates, strftime-like (%d/%m/%Y, '%Y-%m-%d %H:%M':
                              %Y %m %d, optionally %H:%M[:%S], read and ignored); NULL: %Y-%m-%d */
  const double *age_bands; /* band edges in years (after 0), ascending */
  size_t n_age_bands;
  const double *dur_bands; /* time-in-state band edges in months (after 0), ascending */
  size_t n_dur_bands;
  long period_months;      /* > 0: report each row by calendar periods of this length */
  double min_row;          /* rows with fewer child-months in an age band are pooled */
  double suppress;         /* report counts below this as "<N"; 0: no suppression */
  int check;               /* back-cast the window into the report (needs report) */
  int precedence_file;     /* overlaps: the episode later in the file wins (default: the
                              highest level) */
  int strict;              /* data-quality warnings are errors (FL_EINPUT) */
  /* The levels the records cover, comma-separated (NULL: every level above the lowest). The
   * rows of the others keep the template's, their escalations into covered levels scaled to
   * the records. */
  const char *covers;
  /* Each data-quality warning, a sentence with its count and first lines (NULL: none). */
  void (*notice)(void *ctx, const char *text);
  void *notice_ctx;
} fl_calibrate_options;

/* Calibrates the template scenario sc (compiled as m, with monthly steps) from the records. */
FL_API fl_status fl_calibrate(const fl_scenario *sc, const fl_model *m, const fl_calibrate_options *opt,
                       fl_error *err);
/* Synthetic records of scenario m (monthly steps) starting at year/month. */
FL_API fl_status fl_synth(const fl_model *m, uint64_t seed, int start_year, int start_month,
                   const char *episodes_path, const char *population_path, fl_error *err);

/* Sweeps (flourish sweep): a scenario run at many points of a parameter space, each point's
 * scenario made by --set assignments, with the results summarised per point and sensitivity
 * measures across points. */
/* Saltelli's design for variance-based (Sobol) indices: for each of `points` base rows, two
 * quasi-random rows A and B and the K rows A with column k from B, K + 2 points in all. */
typedef enum fl_design {
  FL_DESIGN_GRID,
  FL_DESIGN_LHS,
  FL_DESIGN_SOBOL,
  FL_DESIGN_SALTELLI
} fl_design;

#define FL_SWEEP_MAX_PARAMS 40 /* GSL's Sobol generator goes to 40 dimensions */

typedef struct fl_sweep_param {
  const char *path; /* a key path as --set takes it */
  double lo, hi;
  size_t levels;    /* grid points (grid design; 1 keeps lo) */
} fl_sweep_param;

typedef struct fl_sweep_options {
  fl_sweep_param params[FL_SWEEP_MAX_PARAMS];
  size_t n_params;
  fl_design design;
  size_t points;        /* LHS and Sobol designs; base rows of the Saltelli design */
  const char *const *sets; /* fixed assignments applied at every point */
  size_t n_sets;
  int expect;           /* expectation mode at each point instead of replications */
  fl_run_options run;   /* seed, replications, threads: the same at every point */
  /* Where to keep finished points (NULL: nowhere); with resume nonzero, the stored ones are
   * read back instead of run again. The output is the same bytes either way. */
  const char *checkpoint;
  int resume;
  const char *git_commit, *command_line; /* provenance written to the output */
  void (*progress)(void *ctx, size_t done, size_t total);
  void *progress_ctx;
  void (*notice)(void *ctx, const char *text); /* as fl_run_options' */
  void *notice_ctx;
} fl_sweep_options;

/* Builds the design, runs the scenario at every point (the same seed at each: common random
 * numbers, so differences between points are the parameters' effects, not chance), and writes
 * per-point summaries and sensitivity measures to out atomically. run.stop is asked before each
 * point as well as before each replication: nonzero stops the sweep before the next point (a
 * point in progress is abandoned and run again on resuming), keeps the finished points in the
 * checkpoint and returns FL_ESTOPPED without writing out. Under MPI every rank stops at the
 * same point when any rank is asked to. */
FL_API fl_status fl_sweep(const char *scenario, const fl_sweep_options *opt, const char *out,
                   fl_error *err);

/* Bayesian calibration to aggregate series (flourish fit): the scenario's numbers named by
 * params fitted to the observed stocks and flows (docs/fit.md). */
typedef struct fl_fit_options {
  const char *scenario;        /* the scenario (YAML) */
  const char *observed;        /* observations CSV: date,measure,value[,locality][,sd] */
  const char *const *params;   /* "PATH=LO:HI" or "PATH~lognormal(mu,sigma)", beta(a,b),
                                  normal(m,s); a PATH with * or ? scales every match */
  size_t n_params;
  const char *from;            /* YYYY-MM[-DD]: start of the fit; NULL: the first date */
  int initial_as_written;      /* nonzero: the scenario's initial population as it is;
                                  0: its groups rescaled to the first date's stocks */
  const char *noise;           /* "poisson" (NULL too) or "negbin:K" for rows without an sd */
  size_t walkers;              /* 0: max(16, 4 x parameters), made even */
  size_t iterations;           /* kept iterations of every walker (0: 1000) */
  size_t burn_in;              /* iterations discarded first (0: 500) */
  size_t draws;                /* posterior draws written for run --psa (0: 1000) */
  uint64_t seed;
  int threads;                 /* 0: the OpenMP default; the draws do not depend on it */
  const char *output;          /* the fitted scenario (YAML) */
  const char *summary_csv;     /* or NULL */
  const char *report_h5;       /* or NULL */
  const char *command_line;    /* provenance */
  const char *git_commit;      /* provenance (NULL: unknown) */
  /* What the fit prints: the table of parameters, warnings (one sentence each). */
  void (*write)(void *ctx, const char *text);
  void (*notice)(void *ctx, const char *text);
  void (*progress)(void *ctx, size_t done, size_t total);
  void *ctx;                   /* of write and progress */
  void *notice_ctx;
} fl_fit_options;

FL_API void fl_fit_options_init(fl_fit_options *opt);
FL_API fl_status fl_fit(const fl_fit_options *opt, fl_error *err);

#ifdef __cplusplus
}
#endif
#endif
