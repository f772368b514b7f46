/* The tables of `flourish summary`, computed once from an output file and written three ways
 * (text, CSV, XLSX; summary.c and summary_xlsx.c), so that every form shows the same numbers.
 * Private to output/. */
#ifndef FL_SUMMARY_TABLE_H
#define FL_SUMMARY_TABLE_H

#include "output/reader.h"

typedef enum fl_unit {
  FL_UNIT_CHILDREN,
  FL_UNIT_MONEY,     /* the scenario's currency */
  FL_UNIT_QALYS,     /* quality-adjusted child-years */
  FL_UNIT_PROB,      /* a share, 0 to 1 */
  FL_UNIT_MONTHS,    /* months from the start of the run */
  FL_UNIT_MONEY_QALY /* currency per QALY */
} fl_unit;

/* One measure: a value per row of the sheet's years (per_year) or one for the whole horizon.
 * mean, median, lo (5%) and hi (95%) over replications; NAN where a row has no value (the
 * costs of year 0) or a statistic does not apply; +inf for a break-even never reached. */
typedef struct fl_measure {
  char name[96];   /* the CSV's name: children_universal, delta_cost_social_work, icer, ... */
  char label[224]; /* for people: "Children: Looked after" */
  char head[96];   /* the text table's column header: "Looked after", "cost in year" */
  fl_unit unit;
  int discounted; /* 1 discounted, 0 undiscounted, -1 not money or QALYs */
  int per_year;
  int interval; /* whether lo and hi are worth showing (Monte Carlo) */
  int in_text;  /* part of the text summary's yearly table */
  double *mean, *median, *lo, *hi;
} fl_measure;

/* One arm: its measures, then (arms other than the baseline) its comparison's. */
typedef struct fl_sheet {
  char *arm, *label;
  int compared;
  size_t n, cap;
  fl_measure *m;
} fl_sheet;

/* A file's summary: the years (row y: the start for y = 0, else year y, ending year_end[y]
 * years in), the settings from the scenario it keeps, and a sheet per arm. */
typedef struct fl_summary {
  const char *path;
  char mode[32];
  int mc, psa;
  double step_months;
  size_t n_rows;    /* years + 1 */
  size_t T;         /* steps */
  double *year_end; /* [n_rows] years from the start at the end of each row's year */
  char currency[32], start[16], scenario_name[256];
  char parameter_words[160]; /* whether parameter uncertainty is included, in words */
  size_t n_sheets;
  fl_sheet *sheets;
} fl_summary;

/* Reads the file at path (a run or expect output) into s; FL_EINPUT for a file that is not a
 * complete Flourish output. fl_summary_free releases it (also after a failed read). */
fl_status fl_summary_read(fl_reader *rd, const char *mode, double step, fl_summary *s);
void fl_summary_free(fl_summary *s);

/* The unit of a measure as the CSV and XLSX headers write it (the currency code for money). */
const char *fl_unit_name(const fl_summary *s, fl_unit u, char *buf, size_t size);

/* summary_xlsx.c: the workbook, one sheet per arm (when built with libxlsxwriter). */
fl_status fl_summary_write_xlsx(const fl_summary *s, const char *path, fl_error *err);

#endif
