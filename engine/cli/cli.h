/* What the commands of the flourish command-line tool share. The tool sees the engine only
 * through the public API (flourish.h); this header adds the command-line conventions: messages
 * on stderr prefixed "flourish COMMAND: ", and exit codes 0 success, 1 runtime failure, 2 bad
 * input or usage.
 *
 * A command is a function int cmd_NAME(int argc, char **argv) in its own file (cmd_*.c) beside
 * its help text, declared below and listed in main.c's command table. argv[1] is the command's
 * name; its options start at argv[2]. */
#ifndef FL_CLI_H
#define FL_CLI_H

#include "flourish.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>

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
int cmd_synth(int argc, char **argv);
int cmd_calibrate(int argc, char **argv);

/* The program's name in messages. */
extern const char cli_prog[];
/* This process's MPI rank (0 without MPI; set by main): only rank 0 prints and writes files. */
extern int cli_mpi_rank;

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

/* The progress bar on stderr: a progress callback of fl_run_options and fl_sweep_options, its
 * context a cli_progress naming what is counted ("replications", "points"). */
typedef struct cli_progress {
  time_t start;
  int shown;
  const char *what;
} cli_progress;
void cli_show_progress(void *ctx, size_t done, size_t total);

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
