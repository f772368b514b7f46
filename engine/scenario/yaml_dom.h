/* A small read-only document tree built from libyaml's event stream. Every node keeps the line
 * and column (1-based) where it starts, so that validation errors can point at the input. */
#ifndef FL_YAML_DOM_H
#define FL_YAML_DOM_H

#include "core/core.h"

typedef enum fl_node_kind { FL_NODE_SCALAR, FL_NODE_SEQ, FL_NODE_MAP } fl_node_kind;

typedef struct fl_node fl_node;
struct fl_node {
  fl_node_kind kind;
  int line, col;
  /* Offsets in characters (as libyaml counts them) of where the node starts and ends (a collection's end event;
   * both 0 for a node --set added), and whether a collection is written in flow style
   * ({a: 1}, [a, b]): fl_scenario_yaml_with edits the text in place through them. */
  size_t start, end;
  int flow;
  int quoted;   /* scalar was quoted: never read as a number or special word */
  char *value;  /* scalar text (NUL-terminated) */
  size_t n;      /* number of sequence items or mapping pairs */
  size_t nitems; /* number of child nodes held (keys and values of a mapping) */
  fl_node **items; /* sequence items, or for a mapping keys[i] = items[2i], values = items[2i+1] */
};

/* Parses text (from file, used in messages) into a tree. Rejects empty documents, several
 * documents, aliases, duplicate mapping keys and non-scalar mapping keys. */
fl_status fl_yaml_parse(const char *file, const char *text, size_t len, fl_node **out,
                        fl_error *err);
void fl_yaml_free(fl_node *node);

static inline const fl_node *fl_map_key(const fl_node *map, size_t i) { return map->items[2 * i]; }
static inline const fl_node *fl_map_val(const fl_node *map, size_t i) {
  return map->items[2 * i + 1];
}
/* The value for key in a mapping, or NULL. */
const fl_node *fl_map_get(const fl_node *map, const char *key);

#endif
