/* `flourish summary --xlsx`: the summary as a workbook for a committee, one sheet per arm:
 * years down, measures across (with their unit and whether they are discounted in the header),
 * amounts in the scenario's currency format, then the measures over the whole horizon. Written
 * with libxlsxwriter under a temporary name and moved into place when complete. */
#include "output/summary_table.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <xlsxwriter.h>

typedef struct formats {
  lxw_format *title, *note, *head, *money, *count, *qaly, *prob, *months, *text;
} formats;

/* The number format of amounts: the currency sign before whole units, a minus for savings. */
static void money_format(const fl_summary *s, char *buf, size_t size) {
  char sym[32];
  const char *c = fl_currency_symbol(s->currency, sym, sizeof sym);
  if (!strcmp(c, "£") || !strcmp(c, "€") || !strcmp(c, "$"))
    snprintf(buf, size, "%s#,##0;-%s#,##0", c, c);
  else if (*c) snprintf(buf, size, "\"%s\"#,##0;-\"%s\"#,##0", c, c);
  else snprintf(buf, size, "#,##0;-#,##0");
}

static formats make_formats(lxw_workbook *wb, const fl_summary *s) {
  formats f = {0};
  char money[96];
  money_format(s, money, sizeof money);
  f.title = workbook_add_format(wb);
  format_set_bold(f.title);
  format_set_font_size(f.title, 13);
  f.note = workbook_add_format(wb);
  format_set_italic(f.note);
  f.head = workbook_add_format(wb);
  format_set_bold(f.head);
  format_set_text_wrap(f.head);
  format_set_align(f.head, LXW_ALIGN_VERTICAL_TOP);
  format_set_bottom(f.head, LXW_BORDER_THIN);
  f.money = workbook_add_format(wb);
  format_set_num_format(f.money, money);
  f.count = workbook_add_format(wb);
  format_set_num_format(f.count, "#,##0.0");
  f.qaly = workbook_add_format(wb);
  format_set_num_format(f.qaly, "#,##0.0");
  f.prob = workbook_add_format(wb);
  format_set_num_format(f.prob, "0%");
  f.months = workbook_add_format(wb);
  format_set_num_format(f.months, "0");
  f.text = workbook_add_format(wb);
  return f;
}

static lxw_format *format_of(const formats *f, fl_unit u) {
  switch (u) {
  case FL_UNIT_MONEY:
  case FL_UNIT_MONEY_QALY: return f->money;
  case FL_UNIT_CHILDREN: return f->count;
  case FL_UNIT_QALYS: return f->qaly;
  case FL_UNIT_PROB: return f->prob;
  case FL_UNIT_MONTHS: return f->months;
  }
  return NULL;
}

/* "(GBP, undiscounted)", "(children)", "(probability)". */
static void unit_words(const fl_summary *s, const fl_measure *m, char *buf, size_t size) {
  char ub[64];
  const char *u = fl_unit_name(s, m->unit, ub, sizeof ub);
  snprintf(buf, size, "(%s%s)", u,
           m->discounted < 0 ? ""
           : m->discounted   ? ", discounted"
                             : ", undiscounted");
}

/* A value, or a blank for none, or "never" for a break-even never reached. */
static void put(lxw_worksheet *ws, lxw_row_t r, lxw_col_t c, double v, lxw_format *f,
                const formats *fm) {
  if (isnan(v)) return;
  if (isinf(v)) worksheet_write_string(ws, r, c, "never", fm->text);
  else worksheet_write_number(ws, r, c, v, f);
}

/* The calendar span of row y: "Apr 2025" (the start) or "Apr 2025 to Mar 2026", from
 * time.start (YYYY-MM); "" without one. */
static void period(const fl_summary *s, size_t y, char *buf, size_t size) {
  static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  int y0, m0;
  buf[0] = '\0';
  if (sscanf(s->start, "%d-%d", &y0, &m0) != 2 || m0 < 1 || m0 > 12) return;
  const long end = lround(s->year_end[y] * 12), begin = y ? lround(s->year_end[y - 1] * 12) : 0;
  const long a = m0 - 1 + begin, b = m0 - 1 + end - 1;
  if (!y) snprintf(buf, size, "%s %ld (start)", mon[a % 12], y0 + a / 12);
  else snprintf(buf, size, "%s %ld to %s %ld", mon[a % 12], y0 + a / 12, mon[b % 12], y0 + b / 12);
}

/* The yearly table: Year, Period, then each measure's mean (and 5% and 95% where the measure
 * has an interval worth showing). Returns the next free row. */
static lxw_row_t yearly(lxw_worksheet *ws, const fl_summary *s, const fl_sheet *sh,
                        const formats *f, lxw_row_t r0) {
  lxw_col_t c = 2;
  char head[400], unit[96];
  worksheet_write_string(ws, r0, 0, "Year", f->head);
  worksheet_write_string(ws, r0, 1, "Period", f->head);
  for (size_t k = 0; k < sh->n; k++) {
    const fl_measure *m = &sh->m[k];
    if (!m->per_year) continue;
    unit_words(s, m, unit, sizeof unit);
    snprintf(head, sizeof head, "%s %s%s", m->label, unit, m->interval ? ", mean" : "");
    worksheet_write_string(ws, r0, c, head, f->head);
    for (size_t y = 0; y < s->n_rows; y++)
      put(ws, r0 + 1 + y, c, m->mean[y], format_of(f, m->unit), f);
    c++;
    if (!m->interval) continue;
    for (int q = 0; q < 2; q++) {
      snprintf(head, sizeof head, "%s %s, %s", m->label, unit, q ? "95%" : "5%");
      worksheet_write_string(ws, r0, c, head, f->head);
      for (size_t y = 0; y < s->n_rows; y++)
        put(ws, r0 + 1 + y, c, q ? m->hi[y] : m->lo[y], format_of(f, m->unit), f);
      c++;
    }
  }
  for (size_t y = 0; y < s->n_rows; y++) {
    char p[64];
    worksheet_write_number(ws, r0 + 1 + y, 0, s->year_end[y], NULL);
    period(s, y, p, sizeof p);
    worksheet_write_string(ws, r0 + 1 + y, 1, p, NULL);
  }
  worksheet_set_row(ws, r0, 75, NULL);
  worksheet_set_column(ws, 0, 0, 6, NULL);
  worksheet_set_column(ws, 1, 1, 21, NULL);
  worksheet_set_column(ws, 2, c ? c - 1 : 2, 15, NULL);
  worksheet_freeze_panes(ws, r0 + 1, 2);
  return r0 + 1 + (lxw_row_t)s->n_rows;
}

/* The measures over the whole horizon: measure, unit, mean, median, 5%, 95%. */
static void totals(lxw_worksheet *ws, const fl_summary *s, const fl_sheet *sh, const formats *f,
                   lxw_row_t r) {
  static const char *const head[] = {
      "Over the whole horizon", "Unit", "Mean", "Median", "5%", "95%"};
  for (lxw_col_t c = 0; c < 6; c++) worksheet_write_string(ws, r, c ? c + 1 : 0, head[c], f->head);
  for (size_t k = 0; k < sh->n; k++) {
    const fl_measure *m = &sh->m[k];
    char unit[96];
    if (m->per_year) continue;
    r++;
    unit_words(s, m, unit, sizeof unit);
    worksheet_write_string(ws, r, 0, m->label, NULL);
    worksheet_write_string(ws, r, 2, unit, NULL);
    const double v[] = {m->mean[0], m->median[0], m->lo[0], m->hi[0]};
    for (int i = 0; i < 4; i++) put(ws, r, (lxw_col_t)(3 + i), v[i], format_of(f, m->unit), f);
  }
}

/* A sheet name Excel accepts: at most 31 characters, none of []:*?/\, not used before. */
static void sheet_name(const fl_sheet *sh, size_t i, char names[][32]) {
  char *n = names[i];
  snprintf(n, 32, "%s", sh->label);
  for (char *p = n; *p; p++)
    if (strchr("[]:*?/\\", *p)) *p = '-';
  for (size_t j = 0; j < i; j++)
    if (!strcmp(names[j], n)) {
      char numbered[48];
      snprintf(numbered, sizeof numbered, "%.26s (%u)", sh->label, (unsigned)(i + 1) % 1000);
      snprintf(n, 32, "%.31s", numbered);
    }
}

fl_status fl_summary_write_xlsx(const fl_summary *s, const char *path, fl_error *err) {
  fl_outfile of;
  fl_status st = fl_outfile_begin(&of, path, "--xlsx", NULL, err);
  if (st != FL_OK) return st;
  lxw_workbook *wb = workbook_new(of.tmp);
  char(*names)[32] = fl_calloc(s->n_sheets, sizeof *names);
  if (!wb || !names) {
    free(names);
    fl_outfile_abort(&of);
    fl_error_set(err, FL_EIO, path, 0, 0, NULL, "cannot create the workbook");
    return FL_EIO;
  }
  const formats f = make_formats(wb, s);
  for (size_t i = 0; i < s->n_sheets; i++) {
    const fl_sheet *sh = &s->sheets[i];
    sheet_name(sh, i, names);
    lxw_worksheet *ws = workbook_add_worksheet(wb, names[i]);
    char title[512], note[512];
    snprintf(title, sizeof title, "%s%s (arm %s)%s%s", sh->label,
             sh->compared ? ", with its difference from the baseline" : "", sh->arm,
             s->scenario_name[0] ? ": " : "", s->scenario_name);
    snprintf(note, sizeof note,
             "Year 0 is the start; each later row is one year: children at "
             "its end, costs and QALYs during it. Amounts in %s; %s.",
             s->currency[0] ? s->currency : "the scenario's currency", s->parameter_words);
    worksheet_write_string(ws, 0, 0, title, f.title);
    worksheet_write_string(ws, 1, 0, note, f.note);
    lxw_row_t r = yearly(ws, s, sh, &f, 3);
    totals(ws, s, sh, &f, r + 2);
  }
  free(names);
  lxw_error e = workbook_close(wb);
  if (e != LXW_NO_ERROR) {
    fl_outfile_abort(&of);
    fl_error_set(err, FL_EIO, path, 0, 0, NULL, "cannot write the workbook: %s", lxw_strerror(e));
    return FL_EIO;
  }
  return fl_outfile_commit(&of, err);
}
