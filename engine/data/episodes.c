/* The episode records of `flourish calibrate`: a CSV file with columns child_id, state,
 * start_date, end_date (blank while the episode is open) and date_of_birth (blank where not
 * known), and optionally locality, in any order; other columns are ignored.
 *
 * The file is read twice. The first pass (fl_cal_episodes_scan) checks every record, finds the
 * children and the dates the records span, and then looks at each child's episodes together
 * (check_together): an open episode followed by a later one is cut where that one starts, and
 * overlaps, episodes before birth and missing or conflicting dates of birth are counted as
 * data-quality warnings. The second (fl_cal_episodes_paint), once the window is known, paints
 * each child's status on the first day of every month of the window and of the history before
 * it. Overlapping episodes resolve to the state of the highest level (ties: the state listed
 * later in the template), or on request to the episode given later in the file; an open
 * episode not followed by another runs to the end of the window. Memory is one byte per child
 * and month, and 24 bytes per record during the first pass. Identifiers stay in memory and
 * never reach an output. */
#include "data/calibrate_internal.h"

#include "core/csv.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { COL_ID, COL_STATE, COL_START, COL_END, COL_DOB, COL_LOC, N_COLS };
static const char *const col_names[N_COLS] = {"child_id", "state",         "start_date",
                                              "end_date", "date_of_birth", "locality"};

static const fl_csv_spec episodes_spec = {col_names, N_COLS, 0xF /* the first four */,
                                          "episode records"};

/* The reader's state during a pass. */
typedef struct episode_reader {
  cal *c;
  cal_records *r;
  int pass;        /* 1: children and dates; 2: painting */
  size_t next_cut; /* pass 2: the next of r->cuts */
} episode_reader;

/* An episode record, parsed and checked. */
typedef struct episode {
  long start, end; /* day numbers; end is -1 while the episode is open */
  int open_end;
  size_t state;
  long dob; /* the child's absolute month of birth; -1 when the record gives none */
} episode;

static uint64_t hash_str(const char *s) { return fl_fnv1a(FL_FNV_BASIS, s, strlen(s)); }

/* The index of the child with this identifier, adding it (pass 1) when new, first seen at
 * line; -1 on failure. */
static long child_index(cal_records *r, const char *id, int add, size_t line) {
  if (r->n_kids * 2 + 2 > r->table_cap) {
    size_t ncap = r->table_cap ? r->table_cap * 2 : 1024;
    size_t *nt = calloc(ncap, sizeof *nt);
    if (!nt) return -1;
    for (size_t i = 0; i < r->table_cap; i++)
      if (r->table[i]) {
        size_t h = hash_str(r->kids[r->table[i] - 1].id) & (ncap - 1);
        while (nt[h]) h = (h + 1) & (ncap - 1);
        nt[h] = r->table[i];
      }
    free(r->table);
    r->table = nt;
    r->table_cap = ncap;
  }
  size_t h = hash_str(id) & (r->table_cap - 1);
  while (r->table[h]) {
    if (!strcmp(r->kids[r->table[h] - 1].id, id)) return (long)r->table[h] - 1;
    h = (h + 1) & (r->table_cap - 1);
  }
  if (!add) return -1;
  if (r->n_kids == r->cap_kids) {
    size_t ncap = r->cap_kids ? 2 * r->cap_kids : 1024;
    cal_child *nk = realloc(r->kids, ncap * sizeof *nk);
    if (!nk) return -1;
    r->kids = nk;
    r->cap_kids = ncap;
  }
  cal_child *k = &r->kids[r->n_kids];
  memset(k, 0, sizeof *k);
  k->id = fl_strdup(id);
  k->dob = -1;
  k->loc = -1;
  k->line = line;
  k->first_start = LONG_MAX;
  k->last_end = -1;
  if (!k->id) return -1;
  r->table[h] = ++r->n_kids;
  return (long)r->n_kids - 1;
}

/* The state of this name, or the first state of the level of this name; -1 if neither. */
static long state_of(const fl_model *m, const char *name) {
  for (size_t s = 0; s < m->S; s++)
    if (!strcmp(m->state_names[s], name)) return (long)s;
  for (size_t l = 0; l < m->L; l++)
    if (!strcmp(m->level_names[l], name))
      for (size_t s = 0; s < m->S; s++)
        if (m->state_level[s] == l) return (long)s;
  return -1;
}

/* Parses the record f into e; FL_OK, or the failure (at its field) when it is not a valid
 * episode of the template's states. */
static fl_status parse_episode(const cal *c, fl_csv *r, const char *const *f, episode *e) {
  const long state = state_of(c->m, f[COL_STATE]);
  e->start = fl_cal_read_date(c, f[COL_START], NULL);
  e->open_end = !f[COL_END][0];
  e->end = e->open_end ? -1 : fl_cal_read_date(c, f[COL_END], NULL);
  e->dob = -1;
  e->state = (size_t)state;
  if (!f[COL_ID][0]) return fl_csv_fail(r, FL_EINPUT, COL_ID, "the identifier is empty");
  if (e->start < 0) return fl_cal_date_fail(c, r, COL_START, f[COL_START], NULL);
  if (!e->open_end && e->end < 0)
    return fl_cal_date_fail(c, r, COL_END, f[COL_END], " or blank while the episode is open");
  if (!e->open_end && e->end < e->start)
    return fl_csv_fail(r, FL_EINPUT, COL_END, "the episode ends before it starts");
  if (state < 0)
    return fl_csv_fail(r, FL_EINPUT, COL_STATE,
                       "'%s' is neither a state nor a level of the template", f[COL_STATE]);
  if (f[COL_DOB] && f[COL_DOB][0] && fl_cal_read_date(c, f[COL_DOB], &e->dob) < 0)
    return fl_cal_date_fail(c, r, COL_DOB, f[COL_DOB], NULL);
  if (c->partial && c->uncovered[state] && c->m->state_level[state] > 0)
    return fl_csv_fail(r, FL_EINPUT, COL_STATE,
                       "'%s' is a state of level '%s', which --covers leaves out: list the level "
                       "in --covers, or leave its rows out",
                       f[COL_STATE], c->m->level_names[c->m->state_level[state]]);
  return FL_OK;
}

/* Pass 1: the child of the record (added when new, its date of birth and locality updated)
 * and the span of the dates. */
static fl_status scan_episode(episode_reader *p, fl_csv *r, const char *const *f,
                              const episode *e) {
  cal *c = p->c;
  cal_records *rs = p->r;
  const size_t line = fl_csv_line(r);
  const long k = child_index(rs, f[COL_ID], 1, line);
  if (k < 0) return fl_csv_fail(r, FL_ENOMEM, -1, "out of memory");
  cal_child *ch = &rs->kids[k];
  rs->has_dob_column = f[COL_DOB] != NULL;
  if (e->start < ch->first_start) ch->first_start = e->start;
  if ((e->open_end ? LONG_MAX : e->end) > ch->last_end)
    ch->last_end = e->open_end ? LONG_MAX : e->end;
  if (f[COL_DOB] && f[COL_DOB][0]) {
    if (ch->dob >= 0 && ch->dob != e->dob && !ch->dob_differs) {
      ch->dob_differs = 1;
      fl_cal_warn(c, FL_CAL_W_DOB_DIFFERS, line);
    }
    ch->dob = e->dob;
  }
  if (rs->n_eps == rs->cap_eps) {
    const size_t ncap = rs->cap_eps ? 2 * rs->cap_eps : 4096;
    cal_episode *ne = realloc(rs->eps, ncap * sizeof *ne);
    if (!ne) return fl_csv_fail(r, FL_ENOMEM, -1, "out of memory");
    rs->eps = ne;
    rs->cap_eps = ncap;
  }
  rs->eps[rs->n_eps++] = (cal_episode){.child = (uint32_t)k,
                                       .line = (uint32_t)(line < UINT32_MAX ? line : UINT32_MAX),
                                       .start = (int32_t)e->start,
                                       .end = (int32_t)(e->open_end ? -1 : e->end),
                                       .ordinal = fl_csv_records(r)};
  if (f[COL_LOC] && f[COL_LOC][0]) {
    for (size_t l = 0; l < c->m->NLOC; l++)
      if (!strcmp(c->m->loc_names[l], f[COL_LOC])) rs->kids[k].loc = (int)l;
    if (rs->kids[k].loc < 0)
      return fl_csv_fail(r, FL_EINPUT, COL_LOC, "'%s' is not one of the template's", f[COL_LOC]);
  }
  if (rs->first_day < 0 || e->start < rs->first_day) rs->first_day = e->start;
  if (e->start > rs->last_day) rs->last_day = e->start;
  if (!e->open_end && e->end > rs->last_day) rs->last_day = e->end;
  rs->rows++;
  return FL_OK;
}

/* Pass 2: paints the months whose first day the episode covers. */
static fl_status paint_episode(episode_reader *p, fl_csv *r, const char *const *f,
                               const episode *e) {
  const cal *c = p->c;
  const fl_model *m = c->m;
  const long ki = child_index(p->r, f[COL_ID], 0, 0);
  if (ki < 0) /* (the file changed between the passes) */
    return fl_csv_fail(r, FL_EINPUT, COL_ID,
                       "a child the first reading did not see; "
                       "was the file changed while it was read?");
  cal_child *k = &p->r->kids[ki];
  long end = e->open_end ? -1 : e->end;
  const cal_records *rs = p->r;
  if (e->open_end && p->next_cut < rs->n_cuts && rs->cuts[p->next_cut].ordinal == fl_csv_records(r))
    end = rs->cuts[p->next_cut++].end;
  const long day0 = fl_cal_first_day_of(c->w0), day1 = fl_cal_first_day_of(c->w0 + c->W);
  p->c->eps_open += end < 0;
  p->c->eps_before += end >= 0 && end <= day0;
  p->c->eps_after += e->start >= day1;
  for (long mo = -c->LB; mo < c->W; mo++) {
    const long d1 = fl_cal_first_day_of(c->w0 + mo);
    if (d1 < e->start || (end >= 0 && d1 >= end)) continue;
    unsigned char *st = &k->status[c->LB + mo];
    if (c->opt->precedence_file || *st == FL_CAL_NO_RECORD ||
        m->state_level[e->state] > m->state_level[*st] ||
        (m->state_level[e->state] == m->state_level[*st] && (unsigned)e->state > *st))
      *st = (unsigned char)e->state;
  }
  return FL_OK;
}

static fl_status on_record(void *ctx, fl_csv *r, const char *const *f) {
  episode_reader *p = ctx;
  episode e;
  fl_status st = parse_episode(p->c, r, f, &e);
  if (st != FL_OK) return st;
  return p->pass == 1 ? scan_episode(p, r, f, &e) : paint_episode(p, r, f, &e);
}

/* Reads the episodes file once, in the given pass. */
static fl_status read_pass(cal *c, cal_records *r, int pass) {
  episode_reader p = {.c = c, .r = r, .pass = pass};
  return c->st = fl_csv_read(c->opt->episodes, &episodes_spec, c->opt->delimiter, on_record, &p,
                             c->err);
}

/* Orders episodes by child, then start, then place in the file. */
static int episode_cmp(const void *pa, const void *pb) {
  const cal_episode *a = pa, *b = pb;
  if (a->child != b->child) return a->child < b->child ? -1 : 1;
  if (a->start != b->start) return a->start < b->start ? -1 : 1;
  return a->ordinal < b->ordinal ? -1 : a->ordinal > b->ordinal;
}

static int cut_cmp(const void *pa, const void *pb) {
  const cal_cut *a = pa, *b = pb;
  return a->ordinal < b->ordinal ? -1 : a->ordinal > b->ordinal;
}

/* What the episodes say together, child by child (r->eps sorted): each open episode followed by
 * a later-starting one of the same child is cut where the next starts; overlaps (after the
 * cuts) and episodes starting before the month of birth are counted. Frees r->eps. Returns
 * c->st (FL_ENOMEM). */
static fl_status check_together(cal *c, cal_records *r) {
  qsort(r->eps, r->n_eps, sizeof *r->eps, episode_cmp);
  size_t n_open = 0;
  for (size_t i = 0; i < r->n_eps; i++) n_open += r->eps[i].end < 0;
  if (n_open && !(r->cuts = malloc(n_open * sizeof *r->cuts))) {
    fl_cal_fail(c, FL_ENOMEM, 0, "out of memory");
    return c->st;
  }
  for (size_t i = 0, j; i < r->n_eps; i = j) {
    const uint32_t child = r->eps[i].child;
    const cal_child *ch = &r->kids[child];
    const long birth_day = ch->dob >= 0 ? fl_cal_first_day_of(ch->dob) : -1;
    int open_followed = 0, overlap = 0;
    long reach = -1; /* the latest end so far (LONG_MAX: open) */
    for (j = i; j < r->n_eps && r->eps[j].child == child; j++) {
      cal_episode *e = &r->eps[j];
      if (e->end < 0) { /* open: followed by a later start? */
        size_t n = j + 1;
        while (n < r->n_eps && r->eps[n].child == child && r->eps[n].start == e->start) n++;
        if (n < r->n_eps && r->eps[n].child == child) {
          r->cuts[r->n_cuts++] = (cal_cut){e->ordinal, r->eps[n].start};
          e->end = r->eps[n].start;
          if (!open_followed++) fl_cal_warn(c, FL_CAL_W_OPEN_FOLLOWED, e->line);
        }
      }
      if (j > i && e->start < reach && !overlap++) fl_cal_warn(c, FL_CAL_W_OVERLAP, e->line);
      const long end = e->end < 0 ? LONG_MAX : e->end;
      if (end > reach) reach = end;
      if (birth_day >= 0 && e->start < birth_day) fl_cal_warn(c, FL_CAL_W_BEFORE_BIRTH, e->line);
    }
    if (ch->dob < 0) fl_cal_warn(c, FL_CAL_W_NO_DOB, ch->line);
  }
  if (r->n_cuts) qsort(r->cuts, r->n_cuts, sizeof *r->cuts, cut_cmp); /* (NULL when none) */
  free(r->eps);
  r->eps = NULL;
  r->n_eps = r->cap_eps = 0;
  return FL_OK;
}

fl_status fl_cal_episodes_scan(cal *c, cal_records *r) {
  r->first_day = r->last_day = -1;
  fl_status st = read_pass(c, r, 1);
  if (st != FL_OK) return st;
  if (r->rows == 0) {
    fl_error_set(c->err, FL_EINPUT, c->opt->episodes, 2, 1, NULL,
                 "the file has a header but no records");
    return c->st = FL_EINPUT;
  }
  if (!r->has_dob_column) {
    fl_error_set(c->err, FL_EINPUT, c->opt->episodes, 1, 0, "date_of_birth",
                 "the header has no date_of_birth column: without it the children of the "
                 "records cannot be told from the population table's children of their age, and "
                 "their months would be counted twice (once recorded, once universal); add the "
                 "column (YYYY-MM-DD; the first of the month of birth is enough)");
    return c->st = FL_EINPUT;
  }
  return check_together(c, r);
}

fl_status fl_cal_episodes_paint(cal *c, cal_records *r) {
  const size_t months = (size_t)(c->LB + c->W);
  for (size_t k = 0; k < r->n_kids; k++) {
    if (!(r->kids[k].status = malloc(months))) {
      fl_cal_fail(c, FL_ENOMEM, 0, "out of memory");
      return c->st;
    }
    memset(r->kids[k].status, FL_CAL_NO_RECORD, months);
  }
  return read_pass(c, r, 2);
}

void fl_cal_records_free(cal_records *r) {
  for (size_t k = 0; k < r->n_kids; k++) {
    free(r->kids[k].id);
    free(r->kids[k].status);
  }
  free(r->kids);
  free(r->table);
  free(r->eps);
  free(r->cuts);
  memset(r, 0, sizeof *r);
}
