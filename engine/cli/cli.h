/* What the commands of the flourish command-line tool share. The tool sees the engine only
 * through the public API (flourish.h); this header adds the command-line conventions: messages
 * on stderr prefixed "flourish COMMAND: ", and exit codes 0 success, 1 runtime failure, 2 bad
 * input or usage, 128 + the signal for a run or sweep stopped by SIGTERM or SIGINT.
 *
 * A command is a function int cmd_NAME(int argc, char **argv) in its own file (cmd_*.c) beside
 * its help text, declared below and listed in main.c's command table. argv[1] is the command's
 * name; its options start at argv[2]. */
#ifndef FL_CLI_H
#define FL_CLI_H

#include "flourish.h"

#include <stddef.h>
#include <stdint.h>

#ifndef FL_GIT_COMMIT
#define FL_GIT_COMMIT "unknown"
#endif

/* The commands, in the order of the help. Each returns the exit code. */
int cmd_run(int argc, char **argv);
int cmd_expect(int argc, char **argv);
int cmd_validate(int argc, char **argv);
int cmd_summary(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_fit(int argc, char **argv);
int cmd_calibrate(int argc, char **argv);

/* The program's name in messages. */
extern const char cli_prog[];
/* This process's MPI rank (0 without MPI; set by main): only rank 0 prints and writes files;
 * and the number of ranks (1 without MPI). */
extern int cli_mpi_rank;
extern int cli_mpi_ranks;

/* A write callback of the describe and print functions: text to stdout (ctx unused). */
void cli_write_stdout(void *ctx, const char *text);

/* Prints err as "flourish: MESSAGE" on rank 0 and returns its exit code. */
int cli_report(const fl_error *err);

/* Prints "flourish CMD: MESSAGE" and a pointer to the command's help; returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parses a whole unsigned decimal number in [lo, hi] into *out. Returns 1, or 0 (nothing
 * stored) for anything else, signs included. */
int cli_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);

/* -r/--replications, -s/--seed and -t/--threads (c is the letter) into opt; allowed 0 refuses
 * them (expect computes without replications). Returns 0, or 2 after the message. */
int cli_replication_option(const char *cmd, int c, const char *arg, int allowed,
                           fl_run_options *opt);

/* --pass NAME into *path: a name fl_path_parse knows and the processor supports. Returns 0, or
 * 2 after the message. */
int cli_pass_option(const char *cmd, const char *name, fl_path *path);

/* Whether -h or --help is among the command's arguments (anywhere after its name). */
int cli_wants_help(int argc, char **argv);

/* The command line joined with spaces, for the output's provenance (malloc'd; NULL when out of
 * memory). Call it before getopt_long permutes argv. */
char *cli_join_args(int argc, char **argv);

/* The command's paths checked by the output-path policy (fl_paths_check): 0, or the exit status
 * after the message. */
int cli_check_paths(const fl_path_role *paths, size_t n);
/* A library notice on stderr as "flourish CMD: TEXT" (rank 0); ctx is the command's name. */
void cli_notice(void *ctx, const char *text);

/* The checkpoint beside an output: OUT.ckpt (malloc'd; NULL when out of memory). */
char *cli_checkpoint_path(const char *out);

/* Progress on stderr (rank 0 only, none with quiet): on a terminal a bar redrawn in place;
 * otherwise (a batch job's log, a pipe) a plain line every FLOURISH_PROGRESS_INTERVAL seconds
 * (default 10) and one at the end, so that a log shows how far a job is. Both give the count
 * done, the rate and the time left. */
enum { CLI_PROGRESS_OFF, CLI_PROGRESS_BAR, CLI_PROGRESS_LINES };
typedef struct cli_progress {
  const char *cmd, *what; /* the command ("run") and what is counted ("replications") */
  int mode;               /* CLI_PROGRESS_* */
  int bar_open;           /* a bar is drawn on a line not yet ended */
  double start, last;     /* monotonic seconds: the start, the last line printed */
  double last_units;      /* units done at the last line */
  double interval;        /* seconds between lines */
  size_t done, total;     /* units finished, of total */
  size_t part_done, part_total; /* of the unit in progress (a sweep point's replications) */
} cli_progress;
void cli_progress_init(cli_progress *p, const char *cmd, const char *what, int quiet);
/* A progress callback of fl_run_options and fl_sweep_options; ctx is a cli_progress. */
void cli_show_progress(void *ctx, size_t done, size_t total);
/* The progress of the unit in progress (fl_sweep_options.run.progress: a point's
 * replications), counted in part towards the total. */
void cli_show_part(void *ctx, size_t done, size_t total);
/* fl_run_options.summary_progress: the output's summaries, after the replications, shown as a
 * phase of its own ("summaries") on the same cli_progress. */
void cli_show_summary_progress(void *ctx, size_t done, size_t total);
/* Ends a bar's line when the work stopped before it was complete. */
void cli_progress_end(cli_progress *p);
/* "flourish CMD: wrote PATH (12.3 MB)" on stderr (rank 0, not with quiet). */
void cli_wrote(const cli_progress *p, const char *path);

/* Several copies of cmd started by a launcher (srun, mpirun: their variables say how many)
 * that do not form one MPI job of as many ranks would each do all the work: returns 2 after
 * a message (from the first copy) saying how to start them, or 0 when there is one copy, one
 * MPI job, or FLOURISH_ALLOW_COPIES=1. */
int cli_check_copies(const char *cmd);

/* Stopping on a signal. cli_catch_stop_signals installs handlers for SIGTERM and SIGINT
 * (unless ignored) that note the signal and say how the command stops (how);
 * cli_stop_asked is the stop callback of fl_run_options (thread-safe; ctx unused); after a
 * command stopped (FL_ESTOPPED), cli_stopped says so, where the finished WHAT are kept
 * (checkpoint, or NULL: nowhere) and how to continue, and returns the exit status, 128 + the
 * signal (143 for SIGTERM, 130 for SIGINT). */
void cli_catch_stop_signals(const char *cmd, const char *how);
int cli_stop_asked(void *ctx);
int cli_stopped(const char *cmd, const char *checkpoint, const char *what);

/* The --set assignments of a command, borrowed from argv. */
enum { CLI_MAX_SETS = 256 };
typedef struct cli_sets {
  const char *v[CLI_MAX_SETS];
  size_t n;
} cli_sets;

/* Appends one --set PATH=VALUE. Returns 0, or 2 after the message when there are too many. */
int cli_sets_add(const char *cmd, cli_sets *s, const char *assignment);

/* Loads the scenario at path with the assignments of set (NULL: none) and compiles it into *m.
 * Returns FL_OK, or the status with err filled in (a compile error blamed on its scenario
 * line). */
fl_status cli_load_model(const char *path, const cli_sets *set, fl_model **m, fl_error *err);

#endif
