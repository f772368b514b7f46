/* What the files of `flourish calibrate` share, in the order of its phases: the state of one
 * calibration; dates and failures (dates.c); the episode records
 * (episodes.c) and the population table (population.c); the counts and the estimates made of
 * them (calibrate.c); the calibrated scenario (calibrate_write.c), the back-cast
 * (calibrate_check.c) and the report (calibrate_report.c).
 *
 * Months are absolute (year * 12 + month - 1) or, as `mo`, counted from the window's first
 * month; days are day numbers (fl_cal_parse_date). */
#ifndef FL_CALIBRATE_INTERNAL_H
#define FL_CALIBRATE_INTERNAL_H

#include "core/csv.h"
#include "data/calibrate.h"

#include <stdio.h>

/* A month that no episode covers: the child is in the gap state. */
#define FL_CAL_NO_RECORD 0xFF
/* Columns past this many are read but never given a role. */
#define FL_CAL_MAX_COLS 64
/* Net migration is estimated for ages (whole years) below this. */
#define FL_CAL_MIGRATION_AGES 200
/* Bins of the moves-per-child histogram: 0 to 9 moves, then 10 or more. */
#define FL_CAL_MOVE_BINS 11

/* Data-quality warnings: conditions of the records that are detectable and would change the
 * estimates, each counted (children or rows, as fl_cal_warning_text says) with the first lines
 * of the file where it was seen. They go to stderr (the options' notice), to the report, and
 * with --strict they are errors. */
enum {
  FL_CAL_W_OPEN_FOLLOWED, /* an open episode followed by a later episode of the same child */
  FL_CAL_W_OVERLAP,       /* episodes of the same child that overlap */
  FL_CAL_W_BEFORE_BIRTH,  /* an episode that starts before the child's month of birth */
  FL_CAL_W_DOB_DIFFERS,   /* a child given different dates of birth */
  FL_CAL_W_NO_DOB,        /* a child with no date of birth in any record */
  FL_CAL_W_OUT_OF_AGE,    /* a child never below the maximum age (or not born) in the window */
  FL_CAL_N_WARNINGS
};
#define FL_CAL_WARNING_LINES 5
typedef struct cal_warning {
  double count;                      /* children or rows affected */
  size_t line[FL_CAL_WARNING_LINES]; /* the first lines (physical, 1-based) where it was seen */
  size_t n_line;
} cal_warning;
/* The name of warning kind w (the report's `from` column) and what it counts and does. */
const char *fl_cal_warning_name(int w);
const char *fl_cal_warning_text(int w);
/* A date format of the records (--date-format), strftime-like: %Y (four digits), %m and %d,
 * and optionally a time of day %H:%M or %H:%M:%S, between literal characters that must be
 * there as written. Months, days, hours, minutes and seconds take one or two digits (Excel
 * writes 1/4/2019), two where a field touches another without a separator (%Y%m%d). A time
 * is read and checked, then ignored: calibration uses a date's day. */
#define FL_CAL_DATE_ISO "%Y-%m-%d"
typedef struct fl_cal_date_format {
  char spec[32];  /* as given: %d/%m/%Y */
  char human[64]; /* as people write it: DD/MM/YYYY */
  char item[32];  /* a field's letter (Y m d H M S) where is_field, else a literal */
  unsigned char is_field[32];
  size_t n;
} fl_cal_date_format;

/* One calibration: its inputs, the window, and the place reached in the file being read.
 * fl_calibrate owns it; every phase borrows it. One calibration runs on one thread. */
typedef struct cal {
  const fl_model *m; /* the template, compiled (monthly steps) */
  const fl_calibrate_options *opt;
  fl_error *err;
  fl_status st;       /* the first failure: later ones leave it and err alone */
  size_t gap;         /* the gap state: the first state of the lowest level */
  long age_years_max; /* ages in whole years are below this: the maximum age rounded up, or 120 */
  size_t NB, ND;      /* age bands and time-in-state bands, each with its open last band */
  long w0, W;         /* the window: its first absolute month and its number of months */
  long LB;            /* months of history painted before the window, for time in state */
  uint64_t secret;    /* keys the random rounding of disclosure control (--suppress) */
  cal_warning warn[FL_CAL_N_WARNINGS];
  /* Coverage (--covers). uncovered[s]: a state that can move whose level the records do not
   * cover (the lowest level's always: the gap between records); partial: some level above the
   * lowest is not covered. Then u_share[s] is the share of the children without a record
   * taken to be in uncovered state s (the template's initial population), and for each
   * covered state d, esc_scale[d] multiplies the template's escalations from uncovered states
   * into d so that together they give the moves the records show from children without a
   * record (NAN where the template has none: then the gap state's row gives them alone). */
  /* What was read, for the report's data-quality rows: the population table's rows and
   * dates; the records' children with an episode in the window, open episodes at the extract
   * date (after the cuts), and episodes wholly before the window (read for time in state only)
   * or after it (not used). */
  size_t pop_rows, pop_dates, kids_in_window, eps_open, eps_before, eps_after;
  size_t n_records, n_kids;
  unsigned char uncovered[FL_MAX_STATES];
  int partial;
  double u_share[FL_MAX_STATES], esc_scale[FL_MAX_STATES];
  double esc_mix[FL_MAX_STATES];  /* the template's rate of that mixture into each state */
  fl_cal_date_format date_format; /* of the dates in the files (opt->date_format, or ISO) */
} cal;

/* The template's step probabilities from state s at an age and a time in state (months), in
 * its first calendar period and before any locality multiplier, into p[S] (calibrate_write.c).
 * The rows a calibrated scenario keeps from its template. */
void fl_cal_template_row(const cal *c, size_t s, long age, long tis, double *p);

/* Counts one case of warning w, seen at line (0: no line). */
void fl_cal_warn(cal *c, int w, size_t line);

/* A child of the episode records. */
typedef struct cal_child {
  char *id;                   /* never written to an output */
  long dob;                   /* absolute month of birth, or -1 when unknown */
  int loc;                    /* locality, or -1 when not given */
  int dob_differs;            /* its records give different dates of birth */
  size_t line;                /* the line of its first record */
  long first_start, last_end; /* day numbers: its first start, its last end (LONG_MAX: open) */
  unsigned char *status;      /* [LB + W]: the state (or FL_CAL_NO_RECORD) on the first day of
                                 each month, window month mo at LB + mo (mo < 0: the history) */
} cal_child;

/* The children of the episode records, in the order of their first record, found by their
 * identifiers through an open-addressing hash table. */
/* An episode as the first pass keeps it, to find what the records say only together: open
 * episodes followed by later ones, overlaps, episodes before birth. */
typedef struct cal_episode {
  uint32_t child, line;
  int32_t start, end; /* day numbers; end -1: open */
  size_t ordinal;     /* its place among the file's records */
} cal_episode;

/* An open episode cut at the start of the child's next episode. */
typedef struct cal_cut {
  size_t ordinal;
  long end;
} cal_cut;

typedef struct cal_records {
  cal_child *kids;
  size_t n_kids, cap_kids;
  cal_episode *eps; /* [n_eps]: every record (pass 1; freed once it has been looked at) */
  size_t n_eps, cap_eps;
  cal_cut *cuts; /* [n_cuts], by ordinal: the open episodes pass 2 ends early */
  size_t n_cuts;
  int has_dob_column;
  size_t *table; /* [table_cap]: child index + 1, 0: empty */
  size_t table_cap;
  size_t rows;              /* the records read */
  long first_day, last_day; /* day numbers: the first start; the last start or end */
} cal_records;

/* Disclosure control (--suppress N): count x randomly rounded to a multiple of N, up with
 * probability (x mod N) / N, so that it is unbiased; the draw is keyed by c->secret (a hash of
 * the data, so the same records give the same file) and by the cell key `key` (the sum of the
 * keys of the events counted, so the same events are rounded alike wherever they are counted:
 * the cell key method of statistics offices). x as it is without --suppress. Every count an
 * output holds goes through it, and everything derived (probabilities, intervals, totals) is
 * computed from the rounded counts: whatever sums and differences a reader takes, the counts
 * they give are multiples of N, never one below N. */
double fl_cal_round(const cal *c, double x, uint64_t key);

/* Parses the format fmt into f; FL_OK, or FL_EUSAGE with why (n bytes) saying what is wrong
 * with it ("'%y' is not one of %Y %m %d %H %M %S"). */
fl_status fl_cal_date_format_parse(const char *fmt, fl_cal_date_format *f, char *why, size_t n);
/* The day number of the date s in format f (days since 0000-03-01, for comparisons), and its
 * absolute month (year * 12 + month - 1) in *month when month is not NULL; -1 when s is not
 * such a date of the years 1900 to 2200, with why (n bytes) saying what is wrong with a value
 * of the format's shape ("February 2023 has 28 days"), or "" when s is not of its shape. */
long fl_cal_date_read(const fl_cal_date_format *f, const char *s, long *month, char *why, size_t n);
/* fl_cal_date_read in the format YYYY-MM-DD (the options --from and --to). */
long fl_cal_parse_date(const char *s, long *month);
/* The day number (and absolute month) of the date s of a file: in the calibration's format,
 * or YYYY-MM-DD, which is read whatever the format as it cannot be mistaken for another (a
 * population table from elsewhere may write it); -1 when neither. */
long fl_cal_read_date(const cal *c, const char *s, long *month);
/* Fails the record being read at column k (of r's spec): its value s is not a date in the
 * calibration's format (`also`, when not NULL, adds what else it may be: " or blank ..."). The
 * message gives the format expected, the text found, what is wrong with it, and, when s reads
 * as a date in another common format (day-first, month-first, a date-time), the --date-format
 * that reads it. Returns FL_EINPUT. */
fl_status fl_cal_date_fail(const cal *c, fl_csv *r, int k, const char *s, const char *also);
/* The day number of the first day of an absolute month (-1 outside the years 1900 to 2200). */
long fl_cal_first_day_of(long month);
/* Records the failure code with a message (a failure that is not about a place in a file:
 * memory, a temporary file). Only the first failure of a calibration is kept: c->st and c->err
 * are left alone once c->st is not FL_OK. field is kept for the column (0: none). */
void fl_cal_fail(cal *c, fl_status code, size_t field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Pass 1 over the episodes file at c->opt->episodes (read by core/csv.c): checks every record
 * and finds the children, their dates of birth and localities, and the dates the records span,
 * into r (zeroed on entry; the caller frees it with fl_cal_records_free, also after a failure).
 * Then what the records say together: an open episode followed by a later one of the same
 * child is cut where that one starts (FL_CAL_W_OPEN_FOLLOWED), overlaps, episodes before birth,
 * children without a date of birth or given two are counted as warnings. Returns c->st; a file
 * without records, or without a date_of_birth column, fails with FL_EINPUT. */
fl_status fl_cal_episodes_scan(cal *c, cal_records *r);
/* Pass 2, once the window (c->w0, c->W, c->LB) is known: paints every child's status (an
 * open episode cut by pass 1 ends where it was cut). */
fl_status fl_cal_episodes_paint(cal *c, cal_records *r);
void fl_cal_records_free(cal_records *r);

/* One row of the population table: the children of an age in whole years and a locality (-1:
 * not given) on a date, given as its absolute month. */
typedef struct cal_pop_row {
  long month;
  int age, loc;
  double count;
  size_t line; /* its line in the file, for messages */
} cal_pop_row;

/* The population table, its rows in the file's order. */
typedef struct cal_population {
  cal_pop_row *rows;
  size_t n, cap;
  size_t n_dates; /* the distinct dates of the rows */
} cal_population;

/* Net migration estimated from the population table: the streams of children arriving and the
 * rate at which children leave. */
typedef struct cal_migration {
  /* Children arriving a year at age a to a + 1 (universal), where the net inflow at that age
   * is at least 0.05 a year; 0: no stream. */
  double in_per_year[FL_CAL_MIGRATION_AGES];
  /* The yearly probability that a child leaves (at most 0.5), from the net outflows of the
   * other ages over the population; 0: none. */
  double out_per_year;
} cal_migration;

/* Reads the table at c->opt->population into t (empty on entry; the caller frees it with
 * fl_cal_population_free, also after a failure). Returns c->st (read by core/csv.c); a
 * table without rows fails with FL_EINPUT. */
fl_status fl_cal_population_read(cal *c, cal_population *t);
void fl_cal_population_free(cal_population *t);
/* The first date of the table, as an absolute month (t has rows). */
long fl_cal_pop_first_month(const cal_population *t);
/* Children aged `age` (whole years) in locality loc (-1: all) on the latest date of the table
 * not after `month`, or on its first date when all are later. */
double fl_cal_pop_at(const cal_population *t, long month, int age, int loc);
/* Births a year: the children aged 0 in the table, mean over its dates. */
double fl_cal_births_per_year(const cal_population *t);
/* Net migration by age from each pair of dates a year apart: the children aged a + 1 at the
 * later date less those aged a at the earlier one, mean over the pairs, for the ages a with
 * a + 1 below age_years_max. Without such a pair, no migration. */
void fl_cal_migration(const cal_population *t, long age_years_max, cal_migration *mig);

/* What the window shows, counted from the records and the population table (calibrate.c).
 * Counts of child-months are fractional where the population table's counts are. */
typedef struct cal_counts {
  /* [(NB + 1) * (ND + 1) * S * S]: the child-months moving from state s to state d a month
   * later, at row fl_cal_row(c, ab, db, s), cell d, for age band ab and time-in-state band db;
   * ab = NB is all ages, db = ND all durations. */
  double *n;
  /* [n_periods * S * S]: all ages and durations by calendar period of opt->period_months
   * months, row p * S + s, cell d (trends for the report); NULL without periods. */
  double *per_n;
  size_t n_periods;
  double *stock; /* [W * S]: children with a record in each state on the first day of each
                    month (the gap state: 0) */
  double moves_hist[FL_CAL_MOVE_BINS]; /* children with a record by moves in the window */
  double skips;                        /* moves up two levels or more at once */
  double reentries;                    /* moves into a level left within the previous 12 months */
  double spell_sum[FL_MAX_LEVELS];     /* months of the spells in each level ended in the window */
  double spell_n[FL_MAX_LEVELS];       /* the number of those spells */
  unsigned char spell_hidden[FL_MAX_LEVELS]; /* with --suppress, fewer than N spells: no mean */
  /* The cell keys of disclosure control (--suppress): beside each count, the sum (mod 2^64) of
   * the keys of the events it counts (fl_cal_event_key), so that two counts of the same events
   * (a cell of the all-ages table and of the one age band that holds all its moves) have the
   * same key and are rounded alike: otherwise the two roundings of one count would give it
   * away on average. NULL (and zero) without --suppress. */
  uint64_t *n_key, *per_n_key, *stock_key;
  uint64_t moves_hist_key[FL_CAL_MOVE_BINS], skips_key, reentries_key, spell_key[FL_MAX_LEVELS];
} cal_counts;

/* The key of an event of disclosure control's cell keys: what is counted (tag), and of whom
 * and when (a and b: a child's index and a window month, or an age year and a month). */
enum {
  FL_CAL_EV_STEP = 1,  /* a child's month: a move or a stay */
  FL_CAL_EV_UNIVERSAL, /* the children without a record of an age year in a month */
  FL_CAL_EV_PRESENT,   /* a child in a state on the first day of a month */
  FL_CAL_EV_CHILD,     /* a child (by moves in the window) */
  FL_CAL_EV_INITIAL,   /* a child of the initial population */
  FL_CAL_EV_WARNING    /* a data-quality warning's count (by its kind) */
};
uint64_t fl_cal_event_key(uint64_t tag, uint64_t a, uint64_t b);

/* The row of state s in the table of age band ab and time-in-state band db (cal_counts.n). */
static inline size_t fl_cal_row(const cal *c, size_t ab, size_t db, size_t s) {
  return (ab * (c->ND + 1) + db) * c->m->S + s;
}
/* The time-in-state band of a spell that has lasted `months` (ND - 1: the open last band). */
size_t fl_cal_duration_band(const cal *c, long months);

/* Rows of counts, each row a state's moves to every state, with their totals: what the
 * estimates are made of (fl_cal_estimate). */
typedef struct cal_rows {
  size_t R, S;         /* rows, of S cells each */
  const double *count; /* [R * S], borrowed from the counts */
  double *total;       /* [R] */
} cal_rows;

/* The estimate of cell d of row r: the maximum-likelihood probability, the count over the
 * row's total (0 in an empty row), and when lo is not NULL its exact (Clopper-Pearson) 95%
 * interval in *lo and *hi. */
double fl_cal_estimate(const cal_rows *e, size_t r, size_t d, double *lo, double *hi);

/* A table of the calibrated transitions: an age band and a time-in-state band (NB, ND: all). */
typedef struct cal_table {
  size_t ab, db;
} cal_table;

/* What the calibrated transitions are made of (calibrate.c). The tables run from the broadest
 * to the narrowest: all ages and durations; each age band; each time-in-state band; each
 * combination. A later table replaces the rows it gives, so a table leaves out a row with too
 * few observations (pooling: the broader table's row applies). */
typedef struct cal_estimates {
  cal_rows tr;          /* of cal_counts.n, its rows indexed by fl_cal_row */
  unsigned char *given; /* [tr.R]: whether the row's table gives it */
  cal_table *tables;    /* the tables of the scenario, broadest first */
  size_t n_tables;
  cal_rows periods; /* of cal_counts.per_n (R = 0 without periods) */
} cal_estimates;

/* Copies the template's text except its population and transitions sections (and, for the
 * back-casting model, its time, arms and uncertainty). */
void fl_cal_copy_template(FILE *out, const fl_scenario *sc, int for_check);
/* Writes the population section for window month `month`: the children with a record in
 * their states, the universal stock as the population table's children less them, births and
 * net migration from the population table. Returns c->st (FL_ENOMEM). */
fl_status fl_cal_write_population(FILE *out, cal *c, const cal_records *rec,
                                  const cal_population *pop, long month);
/* Writes the calibrated scenario to out: the template with its population (at the extract
 * date, the window's last month) and transitions (the estimates, with the counts behind every
 * row) replaced. *transitions gets the text of the transitions section, which the back-cast
 * uses too (the caller frees it). Returns c->st (FL_ENOMEM). */
fl_status fl_cal_write_scenario(FILE *out, cal *c, const fl_scenario *sc, const cal_records *rec,
                                const cal_population *pop, const cal_estimates *e,
                                char **transitions);

/* Back-casting (--check): the calibrated model, started from the stocks observed at the start
 * of the window, is run over the window in expectation mode. *expected gets its expected
 * children by window month and state, [W * S] (the caller frees it). Returns c->st:
 * FL_ENOMEM, FL_EIO (no temporary file), FL_EINTERNAL (the model failed). */
fl_status fl_cal_back_cast(cal *c, const fl_scenario *sc, const cal_records *rec,
                           const cal_population *pop, const char *transitions, double **expected);

/* Writes the report CSV to rep: every row of every table with its estimate and interval; with
 * expected (the back-cast, or NULL), the observed against the expected stocks; the rows by
 * calendar period; the monthly stocks; the journey measures (counts randomly rounded with
 * --suppress, fl_cal_round). */
void fl_cal_write_report(FILE *rep, const cal *c, const cal_counts *k, const cal_estimates *e,
                         const double *expected);
/* Writes the report's counts, stocks and journeys (and expected, when not NULL) as HDF5 to
 * opt->report_h5 (rounded as the CSV's). Returns c->st. */
fl_status fl_cal_write_report_h5(cal *c, const cal_counts *k, const double *expected);

#endif
