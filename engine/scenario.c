/* Loading a scenario: read the file, parse the YAML, check it against the schema. Semantic
 * checks that need several keys at once (names that must exist, rows that must sum to one) are
 * made when the scenario is compiled into a model. */
#include "scenario.h"

#include <stdlib.h>

fl_status fl_scenario_load(const char *path, fl_scenario **out, fl_error *err) {
  fl_scenario *sc = calloc(1, sizeof *sc);
  fl_status st;
  *out = NULL;
  if (!sc || !(sc->path = fl_strdup(path))) {
    free(sc);
    fl_error_set(err, FL_ENOMEM, path, 0, 0, NULL, "out of memory");
    return FL_ENOMEM;
  }
  if ((st = fl_read_file(path, &sc->text, &sc->len, err)) != FL_OK) goto fail;
  if ((st = fl_yaml_parse(path, sc->text, sc->len, &sc->root, err)) != FL_OK) goto fail;
  if ((st = fl_schema_check(path, sc->root, err)) != FL_OK) goto fail;
  *out = sc;
  return FL_OK;
fail:
  fl_scenario_free(sc);
  return st;
}

void fl_scenario_free(fl_scenario *sc) {
  if (!sc) return;
  fl_yaml_free(sc->root);
  free(sc->text);
  free(sc->path);
  free(sc);
}
