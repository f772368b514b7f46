/* Loading a scenario: read the file, parse the YAML, check it against the schema. Semantic
 * checks that need several keys at once (names that must exist, rows that must sum to one) are
 * made when the scenario is compiled into a model. */
#include "scenario/scenario.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Appends a key and its scalar value to a mapping. */
static fl_node *map_add(fl_node *map, const char *key, size_t klen) {
  fl_node **items = realloc(map->items, (map->nitems + 2) * sizeof *items);
  if (!items) return NULL;
  map->items = items;
  fl_node *k = calloc(1, sizeof *k), *v = calloc(1, sizeof *v);
  char *kv = malloc(klen + 1);
  if (!k || !v || !kv) {
    free(k);
    free(v);
    free(kv);
    return NULL;
  }
  memcpy(kv, key, klen);
  kv[klen] = '\0';
  k->kind = FL_NODE_SCALAR;
  k->value = kv;
  v->kind = FL_NODE_SCALAR;
  items[map->nitems++] = k;
  items[map->nitems++] = v;
  map->n++;
  return v;
}

/* A list value of --set ("[a, b]", a flow sequence of plain values) in place of node, a scalar
 * or a sequence; its items have no file position either. */
static fl_status set_list(fl_node *node, const char *assignment, const char *value,
                          const char *walked, fl_error *err) {
  fl_node *list = NULL;
  fl_error perr = {0};
  if (node->kind == FL_NODE_MAP) {
    fl_error_set(err, FL_EUSAGE, "--set", 0, 0, NULL, "'%s': %s is a mapping, not a list",
                 assignment, walked);
    return FL_EUSAGE;
  }
  if (fl_yaml_parse("--set", value, strlen(value), &list, &perr) != FL_OK ||
      list->kind != FL_NODE_SEQ) {
    fl_yaml_free(list);
    fl_error_set(err, FL_EUSAGE, "--set", 0, 0, NULL,
                 "'%s': expected a list of plain values such as [a, b]", assignment);
    return FL_EUSAGE;
  }
  for (size_t i = 0; i < list->n; i++) {
    if (list->items[i]->kind != FL_NODE_SCALAR) {
      fl_yaml_free(list);
      fl_error_set(err, FL_EUSAGE, "--set", 0, 0, NULL,
                   "'%s': expected a list of plain values such as [a, b]", assignment);
      return FL_EUSAGE;
    }
    list->items[i]->line = list->items[i]->col = 0;
    list->items[i]->start = list->items[i]->end = 0;
  }
  /* The node takes the list's items; the list's own record is freed. */
  for (size_t i = 0; i < node->nitems; i++) fl_yaml_free(node->items[i]);
  free(node->items);
  free(node->value);
  node->kind = FL_NODE_SEQ;
  node->value = NULL;
  node->items = list->items;
  node->n = list->n;
  node->nitems = list->nitems;
  node->flow = 1;
  node->quoted = 0;
  node->line = node->col = 0;
  node->start = node->end = 0;
  list->items = NULL;
  list->nitems = list->n = 0;
  fl_yaml_free(list);
  return FL_OK;
}

/* Applies one "PATH=VALUE" assignment to the document. PATH is a key path as errors and
 * `validate --keys` print it: mapping keys joined by dots, sequence items by [i]. Every step
 * but the last must exist; the last may be a key the file leaves at its default. The new
 * value is a plain scalar, read as the file's own text would be, or a list of them written
 * [a, b] (levels, localities, ranges such as months: [0, 24]), and has no file position
 * (line 0), which lets errors about it name the assignment rather than the file. */
static fl_status apply_set(fl_scenario *sc, const char *assignment, fl_error *err) {
  const char *eq = strchr(assignment, '=');
  const char *where = "--set";
  if (!eq || eq == assignment || !eq[1] || strchr(assignment, '\n')) {
    fl_error_set(err, FL_EUSAGE, where, 0, 0, NULL,
                 "expected PATH=VALUE such as arms.community_city.interventions.community."
                 "escalation=0.85, found '%s'", assignment);
    return FL_EUSAGE;
  }
  fl_node *node = sc->root;
  const char *p = assignment;
  char walked[256] = "";
  size_t wlen = 0;
  while (p < eq) {
    if (*p == '[') {
      char *end;
      errno = 0;
      unsigned long i = isdigit((unsigned char)p[1]) ? strtoul(p + 1, &end, 10) : 0;
      if (!isdigit((unsigned char)p[1]) || errno || *end != ']' || end > eq ||
          (end[1] != '.' && end[1] != '[' && end[1] != '=')) {
        fl_error_set(err, FL_EUSAGE, where, 0, 0, NULL,
                     "'%.*s': expected a sequence index such as [0] after '%s'",
                     (int)(eq - assignment), assignment, walked);
        return FL_EUSAGE;
      }
      if (node->kind != FL_NODE_SEQ || i >= node->n) {
        fl_error_set(err, FL_EUSAGE, where, 0, 0, NULL,
                     "'%.*s': %s has no item [%lu]%s", (int)(eq - assignment), assignment,
                     *walked ? walked : "the scenario", i,
                     node->kind == FL_NODE_SEQ ? "" : " (it is not a sequence)");
        return FL_EUSAGE;
      }
      node = node->items[i];
      wlen += (size_t)snprintf(walked + wlen, sizeof walked - wlen, "[%lu]", i);
      p = end + 1;
    } else {
      if (*p == '.') p++;
      const char *stop = p;
      while (stop < eq && *stop != '.' && *stop != '[') stop++;
      size_t klen = (size_t)(stop - p);
      if (!klen || node->kind != FL_NODE_MAP) {
        fl_error_set(err, FL_EUSAGE, where, 0, 0, NULL,
                     "'%.*s': %s", (int)(eq - assignment), assignment,
                     !klen ? "empty key in the path"
                           : "the path goes past a value that is not a mapping");
        return FL_EUSAGE;
      }
      fl_node *next = NULL;
      for (size_t i = 0; i < node->n && !next; i++) {
        const fl_node *k = fl_map_key(node, i);
        if (strlen(k->value) == klen && !memcmp(k->value, p, klen)) next = node->items[2 * i + 1];
      }
      if (!next && stop == eq) next = map_add(node, p, klen);
      if (!next) {
        if (stop != eq)
          fl_error_set(err, FL_EUSAGE, where, 0, 0, NULL, "'%.*s': %s has no key '%.*s'",
                       (int)(eq - assignment), assignment, *walked ? walked : "the scenario",
                       (int)klen, p);
        else
          fl_error_set(err, FL_ENOMEM, where, 0, 0, NULL, "out of memory");
        return err->code;
      }
      node = next;
      wlen += (size_t)snprintf(walked + wlen, sizeof walked - wlen, "%s%.*s", wlen ? "." : "",
                               (int)klen, p);
      p = stop;
    }
    if (wlen >= sizeof walked) wlen = sizeof walked - 1;
  }
  if (eq[1] == '[') return set_list(node, assignment, eq + 1, walked, err);
  if (node->kind != FL_NODE_SCALAR) {
    fl_error_set(err, FL_EUSAGE, where, 0, 0, NULL,
                 "'%s': --set replaces single values and lists written [a, b]; %s is a %s",
                 assignment, walked, node->kind == FL_NODE_MAP ? "mapping" : "sequence");
    return FL_EUSAGE;
  }
  char *value = fl_strdup(eq + 1);
  if (!value) {
    fl_error_set(err, FL_ENOMEM, where, 0, 0, NULL, "out of memory");
    return FL_ENOMEM;
  }
  free(node->value);
  node->value = value;
  node->quoted = 0;
  node->line = node->col = 0;
  return FL_OK;
}

/* Whether key path a is b or lies inside it, or the other way round. */
static int paths_nest(const char *a, size_t alen, const char *b, size_t blen) {
  size_t n = alen < blen ? alen : blen;
  if (strncmp(a, b, n)) return 0;
  const char next = alen > n ? a[n] : blen > n ? b[n] : '\0';
  return next == '\0' || next == '.' || next == '[';
}

/* The last assignment wins when several set the same path, so the last match is named. */
void fl_scenario_blame(const fl_scenario *sc, fl_error *err) {
  if (err->line || !sc || !sc->overrides || !err->key[0]) return;
  const char *hit = NULL, *hit_end = NULL;
  for (const char *s = sc->overrides; *s;) {
    const char *nl = strchr(s, '\n'), *eq = memchr(s, '=', (size_t)(nl - s));
    if (eq && paths_nest(s, (size_t)(eq - s), err->key, strlen(err->key))) {
      hit = s;
      hit_end = nl;
    }
    s = nl + 1;
  }
  if (hit) snprintf(err->file, sizeof err->file, "--set %.*s", (int)(hit_end - hit), hit);
}

int fl_paths_nest(const char *a, const char *b) {
  return paths_nest(a, strlen(a), b, strlen(b));
}

/* Parses sc->text, applies the assignments sets[nsets] (recording them in sc->overrides) and
 * checks the result against the schema. */
static fl_status parse(fl_scenario *sc, const char *const *sets, size_t nsets, fl_error *err) {
  fl_status st;
  if ((st = fl_yaml_parse(sc->path, sc->text, sc->len, &sc->root, err)) != FL_OK) return st;
  for (size_t i = 0; i < nsets; i++) {
    if ((st = apply_set(sc, sets[i], err)) != FL_OK) return st;
    strcat(strcat(sc->overrides, sets[i]), "\n");
  }
  if ((st = fl_schema_check(sc->path, sc->root, err)) != FL_OK) fl_scenario_blame(sc, err);
  return st;
}

/* A scenario with its path and room for the assignments sets[nsets]; NULL when out of memory
 * (err filled). */
static fl_scenario *scenario_new(const char *path, const char *const *sets, size_t nsets,
                                 fl_error *err) {
  fl_scenario *sc = calloc(1, sizeof *sc);
  size_t olen = 1;
  for (size_t i = 0; i < nsets; i++) olen += strlen(sets[i]) + 1;
  if (!sc || !(sc->path = fl_strdup(path)) || !(sc->overrides = calloc(olen, 1))) {
    fl_scenario_free(sc);
    fl_error_set(err, FL_ENOMEM, path, 0, 0, NULL, "out of memory");
    return NULL;
  }
  return sc;
}

fl_status fl_scenario_load_with(const char *path, const char *const *sets, size_t nsets,
                                fl_scenario **out, fl_error *err) {
  fl_scenario *sc = scenario_new(path, sets, nsets, err);
  fl_status st;
  *out = NULL;
  if (!sc) return FL_ENOMEM;
  if ((st = fl_read_file(path, &sc->text, &sc->len, err)) != FL_OK ||
      (st = parse(sc, sets, nsets, err)) != FL_OK) {
    fl_scenario_free(sc);
    return st;
  }
  *out = sc;
  return FL_OK;
}

fl_status fl_scenario_parse(const char *name, const char *text, const char *overrides,
                            fl_scenario **out, fl_error *err) {
  /* The recorded assignments, one a line, as run --set gave them. */
  size_t n = 0, cap = 8;
  char *copy = fl_strdup(overrides ? overrides : ""), **sets = calloc(cap, sizeof *sets);
  fl_scenario *sc = NULL;
  fl_status st = FL_ENOMEM;
  *out = NULL;
  for (char *line = copy, *nl; copy && sets && line && *line; line = nl) {
    if ((nl = strchr(line, '\n'))) *nl++ = '\0';
    if (!*line) continue;
    if (n == cap) {
      char **grown = realloc(sets, 2 * cap * sizeof *sets);
      if (!grown) goto out;
      sets = grown;
      cap *= 2;
    }
    sets[n++] = line;
  }
  if (!copy || !sets || !(sc = scenario_new(name, (const char *const *)sets, n, err))) goto out;
  sc->len = strlen(text);
  if (!(sc->text = fl_strdup(text))) goto out;
  if ((st = parse(sc, (const char *const *)sets, n, err)) == FL_OK) {
    *out = sc;
    sc = NULL;
  }
out:
  if (st == FL_ENOMEM && !*out) fl_error_set(err, FL_ENOMEM, name, 0, 0, NULL, "out of memory");
  fl_scenario_free(sc);
  free(sets);
  free(copy);
  return st;
}

fl_status fl_scenario_load(const char *path, fl_scenario **out, fl_error *err) {
  return fl_scenario_load_with(path, NULL, 0, out, err);
}

void fl_scenario_free(fl_scenario *sc) {
  if (!sc) return;
  fl_yaml_free(sc->root);
  free(sc->text);
  free(sc->path);
  free(sc->overrides);
  free(sc);
}

fl_status fl_scenario_load_text(const char *name, const char *text, size_t len,
                                const char *const *sets, size_t nsets, fl_scenario **out,
                                fl_error *err) {
  fl_scenario *sc = scenario_new(name, sets, nsets, err);
  fl_status st;
  *out = NULL;
  if (!sc) return FL_ENOMEM;
  if (!(sc->text = malloc(len + 1))) {
    fl_scenario_free(sc);
    fl_error_set(err, FL_ENOMEM, name, 0, 0, NULL, "out of memory");
    return FL_ENOMEM;
  }
  memcpy(sc->text, text, len);
  sc->text[len] = '\0';
  sc->len = len;
  if ((st = parse(sc, sets, nsets, err)) != FL_OK) {
    fl_scenario_free(sc);
    return st;
  }
  *out = sc;
  return FL_OK;
}
