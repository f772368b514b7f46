/* A loaded scenario's values as a program shows and changes them (flourish serve): every
 * scalar with its key path and its schema row, a copy with --set assignments applied from the
 * text in memory, and the file's text rewritten with assignments in place, so that a changed
 * scenario can be saved and run as it was shown. */
#include "scenario/scenario.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *type_name(fl_type t) {
  switch (t) {
  case FL_TY_NUM: return "number";
  case FL_TY_INT: return "integer";
  case FL_TY_PROB: return "probability";
  case FL_TY_BOOL: return "boolean";
  case FL_TY_ENUM: return "choice";
  case FL_TY_NAMES: return "names";
  case FL_TY_RANGE: return "range";
  case FL_TY_NUMS: return "numbers";
  default: return "string";
  }
}

/* A sequence of scalars as --set writes a list: "[a, b]" (malloc'd; NULL when out of memory or
 * when an item is not a scalar). */
static char *list_text(const fl_node *n) {
  size_t len = 3;
  for (size_t i = 0; i < n->n; i++) {
    if (n->items[i]->kind != FL_NODE_SCALAR) return NULL;
    len += strlen(n->items[i]->value) + 2;
  }
  char *t = malloc(len), *p = t;
  if (!t) return NULL;
  *p++ = '[';
  for (size_t i = 0; i < n->n; i++) p += sprintf(p, "%s%s", i ? ", " : "", n->items[i]->value);
  strcpy(p, "]");
  return t;
}

typedef struct value_walk {
  void (*each)(void *ctx, const fl_value_info *v);
  void *ctx;
} value_walk;

/* The scalars under node n (key path key, schema pattern pattern, schema row k). */
static void walk(const value_walk *w, const fl_node *n, const fl_key *k, const char *pattern,
                 const char *key) {
  char cpat[256], ckey[256];
  size_t plen = strlen(pattern);
  if (!k) return;
  if (n->kind == FL_NODE_SCALAR) {
    fl_value_info v = {key, n->value, type_name(k->type), k->min, k->max, k->choices, k->unit,
                       k->doc, k->def};
    w->each(w->ctx, &v);
    return;
  }
  if (n->kind == FL_NODE_SEQ &&
      (k->type == FL_TY_NAMES || k->type == FL_TY_RANGE || k->type == FL_TY_NUMS)) {
    char *text = list_text(n);
    if (text) {
      fl_value_info v = {key, text, type_name(k->type), k->min, k->max, k->choices, k->unit,
                         k->doc, k->def};
      w->each(w->ctx, &v);
    }
    free(text);
    return;
  }
  if (k->type == FL_TY_SEQ && n->kind == FL_NODE_SEQ) {
    static const fl_key item = {"", FL_TY_MAP, 0, 0, 0, NULL, NULL, NULL, "list item"};
    snprintf(cpat, sizeof cpat, "%s[]", pattern);
    for (size_t i = 0; i < n->n; i++) {
      snprintf(ckey, sizeof ckey, "%s[%zu]", key, i);
      if (n->items[i]->kind == FL_NODE_MAP) walk(w, n->items[i], &item, cpat, ckey);
    }
    return;
  }
  if (n->kind != FL_NODE_MAP || (k->type != FL_TY_MAP && k->type != FL_TY_NAMED)) return;
  for (size_t i = 0; i < n->n; i++) {
    const char *name = fl_map_key(n, i)->value;
    if (k->type == FL_TY_NAMED) snprintf(cpat, sizeof cpat, "%s%s*", pattern, plen ? "." : "");
    else snprintf(cpat, sizeof cpat, "%s%s%s", pattern, plen ? "." : "", name);
    snprintf(ckey, sizeof ckey, "%s%s%s", key, *key ? "." : "", name);
    walk(w, fl_map_val(n, i), fl_schema_find(cpat), cpat, ckey);
  }
}

void fl_scenario_values(const fl_scenario *sc, void (*each)(void *ctx, const fl_value_info *v),
                        void *ctx) {
  static const fl_key root = {"", FL_TY_MAP, 1, 0, 0, NULL, NULL, NULL, "scenario"};
  const value_walk w = {each, ctx};
  if (sc && sc->root) walk(&w, sc->root, &root, "", "");
}

fl_status fl_scenario_with(const fl_scenario *sc, const char *const *sets, size_t nsets,
                           fl_scenario **out, fl_error *err) {
  return fl_scenario_load_text(sc->path, sc->text, sc->len, sets, nsets, out, err);
}

/* One change to the text: the bytes [at, at + len) replaced by text. */
typedef struct edit {
  size_t at, len;
  char *text;
  size_t order; /* of the assignment */
} edit;

/* From the end of the text; keys added at one place in the order of their assignments (the
 * later is inserted first, the earlier then goes before it). */
static int edit_order(const void *a, const void *b) {
  const edit *x = a, *y = b;
  if (x->at != y->at) return x->at < y->at ? 1 : -1;
  return x->order < y->order ? 1 : x->order > y->order ? -1 : 0;
}

/* The node of the original tree at PATH (the part of assignment before '='), or its parent
 * mapping when only the last key is missing (*missing then points at that key, *mlen its
 * length). NULL when the path leads nowhere (cannot happen for an assignment that loaded). */
static const fl_node *find_path(const fl_node *root, const char *path, size_t plen,
                                const char **missing, size_t *mlen) {
  const fl_node *node = root;
  const char *p = path, *end = path + plen;
  *missing = NULL;
  while (p < end) {
    if (*p == '[') {
      char *stop;
      unsigned long i = strtoul(p + 1, &stop, 10);
      if (node->kind != FL_NODE_SEQ || i >= node->n) return NULL;
      node = node->items[i];
      p = stop + 1;
      continue;
    }
    if (*p == '.') p++;
    const char *stop = p;
    while (stop < end && *stop != '.' && *stop != '[') stop++;
    const size_t klen = (size_t)(stop - p);
    if (node->kind != FL_NODE_MAP) return NULL;
    const fl_node *next = NULL;
    for (size_t i = 0; i < node->n && !next; i++) {
      const fl_node *k = fl_map_key(node, i);
      if (strlen(k->value) == klen && !memcmp(k->value, p, klen)) next = fl_map_val(node, i);
    }
    if (!next) {
      if (stop != end) return NULL;
      *missing = p;
      *mlen = klen;
      return node;
    }
    node = next;
    p = stop;
  }
  return node;
}

/* The byte offset of character number chars of UTF-8 text (libyaml counts characters). */
static size_t byte_at(const char *text, size_t len, size_t chars) {
  size_t b = 0;
  if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3)) b = 3; /* a byte-order mark, not counted */
  for (; b < len; b++)
    if (((unsigned char)text[b] & 0xC0) != 0x80 && chars-- == 0) break;
  return b;
}

/* The edit that makes the original text say assignment a. Returns 0, or -1 when it cannot be
 * placed (e->text NULL: out of memory when placeable). */
static int make_edit(const fl_scenario *sc, const char *a, edit *e) {
  const char *eq = strchr(a, '=');
  const char *missing;
  size_t mlen = 0;
  const fl_node *n = find_path(sc->root, a, (size_t)(eq - a), &missing, &mlen);
  const char *value = eq + 1;
  if (!n) return -1;
  if (!missing) {
    /* A scalar's text, or a flow sequence up to its closing bracket. */
    if ((n->kind != FL_NODE_SCALAR && !(n->kind == FL_NODE_SEQ && n->flow)) || n->end < n->start)
      return -1;
    e->at = byte_at(sc->text, sc->len, n->start);
    e->len = byte_at(sc->text, sc->len, n->end + (n->kind == FL_NODE_SEQ)) - e->at;
    e->text = fl_strdup(value);
    return 0;
  }
  /* A key the file leaves at its default: added to its mapping, after the last pair in a
   * block mapping (at the first key's indentation), before the closing brace in a flow one. */
  size_t need = mlen + strlen(value) + 8;
  if (n->flow) {
    const size_t close = byte_at(sc->text, sc->len, n->end);
    if (close >= sc->len || sc->text[close] != '}') return -1;
    if (!(e->text = malloc(need))) return 0;
    snprintf(e->text, need, "%s%.*s: %s", n->n ? ", " : "", (int)mlen, missing, value);
    e->at = close;
    e->len = 0;
    return 0;
  }
  if (!n->n) return -1;
  /* The end of the last pair: its value's last scalar, or the closing bracket of a flow
   * collection. */
  const fl_node *first = fl_map_key(n, 0), *last = fl_map_val(n, n->n - 1);
  while (last->kind != FL_NODE_SCALAR && !last->flow && last->nitems)
    last = last->items[last->nitems - 1];
  if (last->kind != FL_NODE_SCALAR && !last->flow) return -1;
  e->at = byte_at(sc->text, sc->len, last->kind == FL_NODE_SCALAR ? last->end : last->end + 1);
  if (first->col < 1 || e->at > sc->len) return -1;
  need += (size_t)first->col;
  if (!(e->text = malloc(need))) return 0;
  snprintf(e->text, need, "\n%*s%.*s: %s", first->col - 1, "", (int)mlen, missing, value);
  e->len = 0;
  return 0;
}

/* Whether the scenario in text says what the assignments say (each path's scalar as given). */
static int says(const fl_scenario *re, const char *const *sets, size_t nsets) {
  for (size_t i = 0; i < nsets; i++) {
    const char *eq = strchr(sets[i], '='), *missing;
    size_t mlen;
    int later = 0; /* a later assignment of the same path wins */
    for (size_t j = i + 1; j < nsets && !later; j++) {
      const char *eq2 = strchr(sets[j], '=');
      later = eq2 - sets[j] == eq - sets[i] && !memcmp(sets[j], sets[i], (size_t)(eq - sets[i]));
    }
    if (later) continue;
    const fl_node *n = find_path(re->root, sets[i], (size_t)(eq - sets[i]), &missing, &mlen);
    if (!n || missing) return 0;
    if (n->kind == FL_NODE_SEQ) { /* the list, item by item */
      fl_node *want = NULL;
      fl_error perr = {0};
      char *a = list_text(n), *b = NULL;
      if (fl_yaml_parse("--set", eq + 1, strlen(eq + 1), &want, &perr) == FL_OK &&
          want->kind == FL_NODE_SEQ)
        b = list_text(want);
      const int ok = a && b && !strcmp(a, b);
      free(a);
      free(b);
      fl_yaml_free(want);
      if (!ok) return 0;
    } else if (n->kind != FL_NODE_SCALAR || strcmp(n->value, eq + 1)) {
      return 0;
    }
  }
  return 1;
}

fl_status fl_scenario_yaml_with(const fl_scenario *sc, const char *const *sets, size_t nsets,
                                char **out, size_t *out_len, fl_error *err) {
  fl_scenario *check = NULL;
  fl_status st;
  edit *edits = NULL;
  size_t n = 0;
  char *text = NULL;
  *out = NULL;
  if (sc->overrides && sc->overrides[0]) {
    fl_error_set(err, FL_EUSAGE, sc->path, 0, 0, NULL,
                 "the scenario already has assignments; rewrite the one loaded without them");
    return FL_EUSAGE;
  }
  /* The assignments are checked as --set checks them before the text is touched. */
  if ((st = fl_scenario_with(sc, sets, nsets, &check, err)) != FL_OK) return st;
  fl_scenario_free(check);
  check = NULL;
  if (nsets && !(edits = calloc(nsets, sizeof *edits))) goto oom;
  for (size_t i = 0; i < nsets; i++) {
    const char *eq = strchr(sets[i], '=');
    int later = 0;
    for (size_t j = i + 1; j < nsets && !later; j++) {
      const char *eq2 = strchr(sets[j], '=');
      later = eq2 - sets[j] == eq - sets[i] && !memcmp(sets[j], sets[i], (size_t)(eq - sets[i]));
    }
    if (later) continue;
    edits[n].order = i;
    if (make_edit(sc, sets[i], &edits[n]) != 0) {
      fl_error_set(err, FL_EUSAGE, "--set", 0, 0, NULL,
                   "'%s': the value cannot be written into the file's text in place", sets[i]);
      st = FL_EUSAGE;
      goto out;
    }
    if (!edits[n++].text) goto oom;
  }
  if (n) qsort(edits, n, sizeof *edits, edit_order);
  size_t len = sc->len;
  for (size_t i = 0; i < n; i++) len += strlen(edits[i].text);
  if (!(text = malloc(len + 1))) goto oom;
  /* Edits from the end of the text, so that earlier offsets stay valid. */
  memcpy(text, sc->text, sc->len);
  size_t used = sc->len;
  for (size_t i = 0; i < n; i++) {
    const size_t tl = strlen(edits[i].text), tail = used - edits[i].at - edits[i].len;
    memmove(text + edits[i].at + tl, text + edits[i].at + edits[i].len, tail);
    memcpy(text + edits[i].at, edits[i].text, tl);
    used = edits[i].at + tl + tail;
  }
  text[used] = '\0';
  if ((st = fl_scenario_load_text(sc->path, text, used, NULL, 0, &check, err)) != FL_OK ||
      !says(check, sets, nsets)) {
    if (st == FL_OK) {
      fl_error_set(err, FL_EINTERNAL, sc->path, 0, 0, NULL,
                   "the rewritten scenario does not say what the assignments say");
      st = FL_EINTERNAL;
    }
    goto out;
  }
  *out = text;
  *out_len = used;
  text = NULL;
  goto out;
oom:
  fl_error_set(err, FL_ENOMEM, sc->path, 0, 0, NULL, "out of memory");
  st = FL_ENOMEM;
out:
  fl_scenario_free(check);
  for (size_t i = 0; i < n; i++) free(edits[i].text);
  free(edits);
  free(text);
  return st;
}
