/* `flourish calibrate` (see calibrate.c). */
#ifndef FL_CALIBRATE_H
#define FL_CALIBRATE_H

#include "internal.h"

typedef struct fl_calibrate_options {
  const char *episodes;    /* episodes CSV */
  const char *population;  /* population CSV */
  const char *output;      /* calibrated scenario (YAML) */
  const char *report;      /* calibration report (CSV), or NULL */
  const char *report_h5;   /* the same as HDF5, or NULL */
  const char *from, *to;   /* window YYYY-MM-DD; NULL: first record, last date in the file */
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
} fl_calibrate_options;

/* Calibrates the template scenario sc (compiled as m, with monthly steps) from the records. */
fl_status fl_calibrate(const fl_scenario *sc, const fl_model *m, const fl_calibrate_options *opt,
                       fl_error *err);
/* synth.c: synthetic records of scenario m (monthly steps) starting at year/month. */
fl_status fl_synth(const fl_model *m, uint64_t seed, int start_year, int start_month,
                   const char *episodes_path, const char *population_path, fl_error *err);

#endif
