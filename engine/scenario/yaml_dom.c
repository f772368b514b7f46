/* Builds an fl_node tree from libyaml's event parser (the libyaml documentation's recommended
 * streaming interface), so the schema validator can look at keys in any order and report
 * positions. */
#include "scenario/yaml_dom.h"

#include <stdlib.h>
#include <string.h>
#include <yaml.h>

typedef struct builder {
  yaml_parser_t parser;
  const char *file;
  const char *text;
  size_t len;
  fl_error *err;
} builder;

void fl_yaml_free(fl_node *node) {
  if (!node) return;
  for (size_t i = 0; i < node->nitems; i++)
    fl_yaml_free(node->items[i]);
  free(node->items);
  free(node->value);
  free(node);
}

static fl_node *node_new(fl_node_kind kind, const yaml_mark_t *mark) {
  fl_node *n = calloc(1, sizeof *n);
  if (n) {
    n->kind = kind;
    n->line = (int)mark->line + 1;
    n->col = (int)mark->column + 1;
    n->start = mark->index;
  }
  return n;
}

/* Appends child as item number count of parent, growing the array geometrically. */
static fl_status push_item(fl_node *parent, fl_node *child, size_t count, size_t *cap,
                           fl_error *err) {
  if (count == *cap) {
    size_t ncap = *cap ? 2 * *cap : 8;
    fl_node **items = realloc(parent->items, ncap * sizeof *items);
    if (!items) {
      fl_error_set(err, FL_ENOMEM, NULL, 0, 0, NULL, "out of memory reading YAML");
      return FL_ENOMEM;
    }
    parent->items = items;
    *cap = ncap;
  }
  parent->items[count] = child;
  return FL_OK;
}

static fl_status parse_error(builder *b) {
  const yaml_parser_t *p = &b->parser;
  const yaml_mark_t *m = p->problem ? &p->problem_mark : &p->context_mark;
  const char *what = p->problem ? p->problem : "unreadable input";
  int line = (int)m->line + 1, col = (int)m->column + 1;
  if (p->error == YAML_READER_ERROR) {
    /* Reader errors (bad encoding, control characters) carry only a byte offset. */
    size_t off = p->problem_offset < b->len ? p->problem_offset : b->len;
    line = 1;
    col = 1;
    for (size_t i = 0; i < off; i++) {
      if (b->text[i] == '\n') {
        line++;
        col = 1;
      } else if (((unsigned char)b->text[i] & 0xC0) != 0x80) {
        col++;
      }
    }
    fl_error_set(b->err, FL_EPARSE, b->file, line, col, NULL,
                 "the file is not valid UTF-8 text: %s (byte value %d)", what, p->problem_value);
    return FL_EPARSE;
  }
  if (p->context)
    fl_error_set(b->err, FL_EPARSE, b->file, line, col, NULL, "YAML syntax error: %s %s", what,
                 p->context);
  else
    fl_error_set(b->err, FL_EPARSE, b->file, line, col, NULL, "YAML syntax error: %s", what);
  return FL_EPARSE;
}

/* Key paths are for messages: a path longer than the buffer is cut short. */
static void path_join(char *dst, size_t size, const char *base, const char *leaf) {
  if (snprintf(dst, size, "%s%s%s", base, *base && *leaf ? "." : "", leaf) >= (int)size)
    dst[size - 1] = '\0';
}

static void path_index(char *dst, size_t size, const char *base, size_t i) {
  if (snprintf(dst, size, "%s[%zu]", base, i) >= (int)size) dst[size - 1] = '\0';
}

static fl_status oom(builder *b) {
  fl_error_set(b->err, FL_ENOMEM, NULL, 0, 0, NULL, "out of memory reading YAML");
  return FL_ENOMEM;
}

/* A scalar node from its event. */
static fl_status build_scalar(builder *b, const yaml_event_t *ev, fl_node **out) {
  fl_node *n = node_new(FL_NODE_SCALAR, &ev->start_mark);
  if (!n) return oom(b);
  n->value = malloc(ev->data.scalar.length + 1);
  if (!n->value) {
    free(n);
    return oom(b);
  }
  n->end = ev->end_mark.index;
  memcpy(n->value, ev->data.scalar.value, ev->data.scalar.length);
  n->value[ev->data.scalar.length] = '\0';
  if (strlen(n->value) != ev->data.scalar.length) {
    fl_error_set(b->err, FL_EPARSE, b->file, n->line, n->col, NULL,
                 "scalar contains a NUL character");
    fl_yaml_free(n);
    return FL_EPARSE;
  }
  n->quoted = ev->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
              ev->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
  *out = n;
  return FL_OK;
}

/* The key just read into mapping n (its count-th item, count odd) is a scalar given once. */
static fl_status check_key(builder *b, const fl_node *n, size_t count, const char *path) {
  const fl_node *key = n->items[count - 1];
  if (key->kind != FL_NODE_SCALAR) {
    fl_error_set(b->err, FL_EPARSE, b->file, key->line, key->col, NULL,
                 "mapping keys must be plain words, found a %s",
                 key->kind == FL_NODE_MAP ? "mapping" : "sequence");
    return FL_EPARSE;
  }
  for (size_t i = 0; i + 1 < count; i += 2) {
    if (strcmp(n->items[i]->value, key->value) == 0) {
      char key_path[256];
      path_join(key_path, sizeof key_path, path, key->value);
      fl_error_set(b->err, FL_EPARSE, b->file, key->line, key->col, key_path,
                   "duplicate key (first given at line %d)", n->items[i]->line);
      return FL_EPARSE;
    }
  }
  return FL_OK;
}

static fl_status build_node(builder *b, yaml_event_t *ev, fl_node **out, int depth,
                            const char *path);

/* A sequence or mapping whose start event is ev: its items up to the matching end event. */
static fl_status build_collection(builder *b, const yaml_event_t *ev, fl_node **out, int depth,
                                  const char *path) {
  const int is_map = ev->type == YAML_MAPPING_START_EVENT;
  const yaml_event_type_t end = is_map ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT;
  fl_node *n = node_new(is_map ? FL_NODE_MAP : FL_NODE_SEQ, &ev->start_mark);
  size_t cap = 0, count = 0;
  fl_status st = FL_OK;
  if (!n) return oom(b);
  n->flow = is_map ? ev->data.mapping_start.style == YAML_FLOW_MAPPING_STYLE
                   : ev->data.sequence_start.style == YAML_FLOW_SEQUENCE_STYLE;
  for (;;) {
    yaml_event_t child_ev;
    fl_node *child = NULL;
    if (!yaml_parser_parse(&b->parser, &child_ev)) {
      fl_yaml_free(n);
      return parse_error(b);
    }
    if (child_ev.type == end) {
      n->end = child_ev.start_mark.index; /* a flow collection: its closing bracket */
      yaml_event_delete(&child_ev);
      break;
    }
    char child_path[256];
    if (!is_map)
      path_index(child_path, sizeof child_path, path, count);
    else if (count % 2)
      path_join(child_path, sizeof child_path, path, n->items[count - 1]->value);
    else
      path_join(child_path, sizeof child_path, path, "");
    st = build_node(b, &child_ev, &child, depth + 1, child_path);
    yaml_event_delete(&child_ev);
    if (st == FL_OK) st = push_item(n, child, count, &cap, b->err);
    if (st != FL_OK) {
      fl_yaml_free(child);
      fl_yaml_free(n);
      return st;
    }
    n->nitems = ++count;
    n->n = is_map ? count / 2 : count;
    if (is_map && count % 2 && (st = check_key(b, n, count, path)) != FL_OK) {
      fl_yaml_free(n);
      return st;
    }
  }
  if (is_map && count % 2) { /* cannot happen with a conforming parser */
    fl_yaml_free(n);
    fl_error_set(b->err, FL_EINTERNAL, b->file, 0, 0, NULL, "unbalanced mapping");
    return FL_EINTERNAL;
  }
  *out = n;
  return FL_OK;
}

/* Reads the node whose first event is ev (already taken from the parser). path is the node's
 * key path ("states.universal.qol", "population.initial[2]"), for messages. */
static fl_status build_node(builder *b, yaml_event_t *ev, fl_node **out, int depth,
                            const char *path) {
  const int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;
  *out = NULL;
  if (depth > 64) {
    fl_error_set(b->err, FL_EPARSE, b->file, line, col, NULL,
                 "YAML nesting deeper than 64 levels is not a scenario");
    return FL_EPARSE;
  }
  switch (ev->type) {
  case YAML_ALIAS_EVENT:
    fl_error_set(b->err, FL_EPARSE, b->file, line, col, NULL,
                 "YAML aliases (*%s) are not supported in scenarios; write the value out",
                 (const char *)ev->data.alias.anchor);
    return FL_EPARSE;
  case YAML_SCALAR_EVENT: return build_scalar(b, ev, out);
  case YAML_SEQUENCE_START_EVENT:
  case YAML_MAPPING_START_EVENT: return build_collection(b, ev, out, depth, path);
  default:
    fl_error_set(b->err, FL_EPARSE, b->file, line, col, NULL, "unexpected YAML structure");
    return FL_EPARSE;
  }
}

fl_status fl_yaml_parse(const char *file, const char *text, size_t len, fl_node **out,
                        fl_error *err) {
  builder b = {.file = file, .text = text, .len = len, .err = err};
  fl_node *root = NULL;
  fl_status st = FL_OK;
  int docs = 0;
  *out = NULL;
  if (!yaml_parser_initialize(&b.parser)) {
    fl_error_set(err, FL_ENOMEM, NULL, 0, 0, NULL, "cannot initialise the YAML parser");
    return FL_ENOMEM;
  }
  yaml_parser_set_input_string(&b.parser, (const unsigned char *)text, len);
  for (;;) {
    yaml_event_t ev;
    if (!yaml_parser_parse(&b.parser, &ev)) {
      st = parse_error(&b);
      break;
    }
    yaml_event_type_t type = ev.type;
    if (type == YAML_STREAM_END_EVENT) {
      yaml_event_delete(&ev);
      break;
    }
    if (type == YAML_DOCUMENT_START_EVENT && ++docs > 1) {
      fl_error_set(err, FL_EPARSE, file, (int)ev.start_mark.line + 1,
                   (int)ev.start_mark.column + 1, NULL,
                   "a scenario file holds one YAML document, found a second");
      yaml_event_delete(&ev);
      st = FL_EPARSE;
      break;
    }
    if (type == YAML_SCALAR_EVENT || type == YAML_SEQUENCE_START_EVENT ||
        type == YAML_MAPPING_START_EVENT || type == YAML_ALIAS_EVENT) {
      st = build_node(&b, &ev, &root, 0, "");
    }
    yaml_event_delete(&ev);
    if (st != FL_OK) break;
  }
  yaml_parser_delete(&b.parser);
  if (st == FL_OK && !root) {
    fl_error_set(err, FL_EPARSE, file, 1, 1, NULL,
                 "the file is empty: a scenario is a YAML mapping of keys such as states and "
                 "transitions");
    st = FL_EPARSE;
  }
  if (st != FL_OK) {
    fl_yaml_free(root);
    return st;
  }
  *out = root;
  return FL_OK;
}

const fl_node *fl_map_get(const fl_node *map, const char *key) {
  if (!map || map->kind != FL_NODE_MAP) return NULL;
  for (size_t i = 0; i < map->n; i++)
    if (strcmp(fl_map_key(map, i)->value, key) == 0) return fl_map_val(map, i);
  return NULL;
}
