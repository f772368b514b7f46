/* A loaded scenario's values as a program shows and changes them (flourish serve): every
 * scalar with its key path and its schema row, a copy with --set assignments applied from the
 * text in memory, and the file's text rewritten with assignments in place, so that a changed
 * scenario can be saved and run as it was shown. */
#include "core/limits.h"
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

/* ---- a copy of an arm, changed, as a new arm ---- */

/* Whether two trees say the same: kinds, scalars' text and quoting, pairs and items in order
 * (not where they stand in their texts). */
static int same_tree(const fl_node *a, const fl_node *b) {
  if (a->kind != b->kind || a->n != b->n || a->nitems != b->nitems) return 0;
  if (a->kind == FL_NODE_SCALAR) return a->quoted == b->quoted && !strcmp(a->value, b->value);
  for (size_t i = 0; i < a->nitems; i++)
    if (!same_tree(a->items[i], b->items[i])) return 0;
  return 1;
}

/* The pair of mapping map with key name: its index, or -1. */
static long pair_of(const fl_node *map, const char *name) {
  if (!map || map->kind != FL_NODE_MAP) return -1;
  for (size_t i = 0; i < map->n; i++)
    if (!strcmp(fl_map_key(map, i)->value, name)) return (long)i;
  return -1;
}

/* The lines of text that hold the pair key: value of a block mapping: [*from, *to), from the
 * start of the key's line to the end of the line of the value's last character, then the
 * comment lines after it indented deeper than the key (trailing blank lines and comments at
 * the key's indentation or less are left out). Returns -1 when the key does not begin its
 * line. */
static int pair_lines(const char *text, size_t len, const fl_node *key, const fl_node *val,
                      size_t *from, size_t *to) {
  const size_t kb = byte_at(text, len, key->start);
  size_t ls = kb, e;
  while (ls > 0 && text[ls - 1] != '\n') ls--;
  for (size_t i = ls; i < kb; i++)
    if (text[i] != ' ') return -1;
  const fl_node *last = val;
  while (last->kind != FL_NODE_SCALAR && !last->flow && last->nitems)
    last = last->items[last->nitems - 1];
  e = byte_at(text, len, last->kind == FL_NODE_SCALAR ? last->end : last->end + 1);
  if (e > len) e = len;
  /* A block scalar ends after its line breaks. */
  while (e > kb && strchr(" \t\r\n", text[e - 1])) e--;
  while (e < len && text[e] != '\n') e++;
  if (e < len) e++;
  for (;;) { /* comment lines inside the pair */
    size_t c = e;
    while (c < len && text[c] == ' ') c++;
    if (c >= len || text[c] != '#' || c - e <= kb - ls) break;
    while (c < len && text[c] != '\n') c++;
    e = c < len ? c + 1 : c;
  }
  *from = ls;
  *to = e;
  return 0;
}

/* Whether name can be a new arm's key: a letter, then letters, digits and underscores, at
 * most 63 characters. */
static int arm_name_ok(const char *name) {
  size_t n = strlen(name);
  if (!n || n > 63 || !((*name >= 'a' && *name <= 'z') || (*name >= 'A' && *name <= 'Z')))
    return 0;
  for (size_t i = 0; i < n; i++) {
    const char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '_'))
      return 0;
  }
  return 1;
}

fl_status fl_scenario_yaml_new_arm(const fl_scenario *sc, const char *arm, const char *name,
                                   const char *const *sets, size_t nsets, char **out,
                                   size_t *out_len, fl_scenario **loaded, fl_error *err) {
  const char **all = NULL;
  char *label = NULL, *edited = NULL, *text = NULL, prefix[320];
  size_t elen = 0, nall = 0;
  fl_node *etree = NULL;
  fl_scenario *check = NULL;
  fl_status st = FL_OK;
  *out = NULL;
  if (loaded) *loaded = NULL;
  const long ai = pair_of(sc->root, "arms");
  const fl_node *arms = ai < 0 ? NULL : fl_map_val(sc->root, (size_t)ai);
  const long at = pair_of(arms, arm);
  if (at < 0) {
    fl_error_set(err, FL_EUSAGE, sc->path, 0, 0, "arms", "the scenario has no arm '%s'", arm);
    return FL_EUSAGE;
  }
  if (!arm_name_ok(name)) {
    fl_error_set(err, FL_EUSAGE, sc->path, 0, 0, "arms",
                 "'%s': a new arm's name is a letter, then letters, digits or underscores "
                 "(at most 63 characters)", name);
    return FL_EUSAGE;
  }
  if (pair_of(arms, name) >= 0) {
    fl_error_set(err, FL_EUSAGE, sc->path, 0, 0, "arms", "the scenario has an arm '%s' already",
                 name);
    return FL_EUSAGE;
  }
  if (arms->n >= FL_MAX_ARMS - 1) {
    fl_error_set(err, FL_EUSAGE, sc->path, 0, 0, "arms",
                 "the scenario has %zu arms, the most it can have", arms->n);
    return FL_EUSAGE;
  }
  if (arms->flow) {
    fl_error_set(err, FL_EUSAGE, sc->path, arms->line, arms->col, "arms",
                 "the arms are written in flow style ({...}); a new arm can be added only to "
                 "arms written one key a line");
    return FL_EUSAGE;
  }
  const int plen = snprintf(prefix, sizeof prefix, "arms.%s.", arm);
  for (size_t i = 0; i < nsets; i++)
    if (strncmp(sets[i], prefix, (size_t)plen)) {
      fl_error_set(err, FL_EUSAGE, "--set", 0, 0, NULL,
                   "'%s': a new arm copied from %s takes only assignments under %s", sets[i],
                   arm, prefix);
      return FL_EUSAGE;
    }
  /* The copy's label says it is a what-if, unless an assignment gives it one or the label is
   * written otherwise than as one line of plain text (which appending could change). */
  const fl_node *armv = fl_map_val(arms, (size_t)at);
  const long li = pair_of(armv, "label");
  int relabel = li >= 0;
  for (size_t i = 0; i < nsets && relabel; i++)
    relabel = !(strncmp(sets[i], prefix, (size_t)plen) == 0 &&
                !strncmp(sets[i] + plen, "label=", 6));
  if (relabel) {
    const fl_node *l = fl_map_val(armv, (size_t)li);
    if (l->kind != FL_NODE_SCALAR || l->quoted || l->end <= l->start) {
      relabel = 0;
    } else {
      const size_t b = byte_at(sc->text, sc->len, l->start), e = byte_at(sc->text, sc->len, l->end);
      relabel = e - b == strlen(l->value) && !memcmp(sc->text + b, l->value, e - b);
    }
  }
  if (!(all = calloc(nsets + 1, sizeof *all))) goto oom;
  for (size_t i = 0; i < nsets; i++) all[nall++] = sets[i];
  if (relabel) {
    const char *v = fl_map_val(armv, (size_t)li)->value;
    const size_t need = (size_t)plen + strlen(v) + 20;
    if (!(label = malloc(need))) goto oom;
    snprintf(label, need, "%slabel=%s (what-if)", prefix, v);
    all[nall++] = label;
  }
  /* The arm changed in place, in a text of its own, from which its lines are copied. */
  if ((st = fl_scenario_yaml_with(sc, all, nall, &edited, &elen, err)) != FL_OK) goto out;
  if ((st = fl_yaml_parse(sc->path, edited, elen, &etree, err)) != FL_OK) goto internal;
  const long eai = pair_of(etree, "arms");
  const fl_node *earms = eai < 0 ? NULL : fl_map_val(etree, (size_t)eai);
  const long eat = pair_of(earms, arm);
  size_t f, t, lf, lt;
  if (eat < 0) goto internal;
  const fl_node *ekey = fl_map_key(earms, (size_t)eat), *eval = fl_map_val(earms, (size_t)eat);
  if (pair_lines(edited, elen, ekey, eval, &f, &t) ||
      pair_lines(sc->text, sc->len, fl_map_key(arms, arms->n - 1), fl_map_val(arms, arms->n - 1),
                 &lf, &lt)) {
    fl_error_set(err, FL_EUSAGE, sc->path, 0, 0, "arms",
                 "an arm's key does not begin its line; a new arm can be added only to arms "
                 "written one key a line");
    st = FL_EUSAGE;
    goto out;
  }
  const size_t kb = byte_at(edited, elen, ekey->start), ke = byte_at(edited, elen, ekey->end);
  const int gap = lt > 0 && sc->text[lt - 1] != '\n', tail = t > f && edited[t - 1] != '\n';
  const size_t nlen = strlen(name), len = sc->len + (size_t)gap + (t - f) - (ke - kb) + nlen +
                                            (size_t)tail;
  if (!(text = malloc(len + 1))) goto oom;
  char *p = text;
  memcpy(p, sc->text, lt), p += lt;
  if (gap) *p++ = '\n';
  memcpy(p, edited + f, kb - f), p += kb - f;
  memcpy(p, name, nlen), p += nlen;
  memcpy(p, edited + ke, t - ke), p += t - ke;
  if (tail) *p++ = '\n';
  memcpy(p, sc->text + lt, sc->len - lt), p += sc->len - lt;
  *p = '\0';
  /* The file says what the original says, with the changed arm added under its new name. */
  fl_error lerr = {0};
  if (fl_scenario_load_text(sc->path, text, len, NULL, 0, &check, &lerr) != FL_OK ||
      check->root->kind != FL_NODE_MAP || check->root->n != sc->root->n)
    goto internal;
  for (size_t i = 0; i < sc->root->n; i++) {
    const fl_node *k = fl_map_key(check->root, i), *v = fl_map_val(check->root, i);
    if (!same_tree(k, fl_map_key(sc->root, i))) goto internal;
    if ((long)i != ai) {
      if (!same_tree(v, fl_map_val(sc->root, i))) goto internal;
      continue;
    }
    if (v->kind != FL_NODE_MAP || v->n != arms->n + 1 ||
        strcmp(fl_map_key(v, arms->n)->value, name) || !same_tree(fl_map_val(v, arms->n), eval))
      goto internal;
    for (size_t j = 0; j < arms->n; j++)
      if (!same_tree(fl_map_key(v, j), fl_map_key(arms, j)) ||
          !same_tree(fl_map_val(v, j), fl_map_val(arms, j)))
        goto internal;
  }
  *out = text;
  *out_len = len;
  text = NULL;
  if (loaded) *loaded = check, check = NULL;
  goto out;
internal:
  fl_error_set(err, FL_EINTERNAL, sc->path, 0, 0, "arms",
               "the scenario with the new arm '%s' does not say what arm %s with the "
               "assignments says", name, arm);
  st = FL_EINTERNAL;
  goto out;
oom:
  fl_error_set(err, FL_ENOMEM, sc->path, 0, 0, NULL, "out of memory");
  st = FL_ENOMEM;
out:
  fl_scenario_free(check);
  fl_yaml_free(etree);
  free(text);
  free(edited);
  free(label);
  free(all);
  return st;
}
