/* Fuzzing the scenario loader and compiler (engine/scenario/, engine/model/): the input is a
 * YAML text and, after a line "#--set", zero or more --set assignments, one a line (a YAML
 * comment, so a plain scenario file is an input too). The scenario is loaded from memory with
 * the assignments applied, compiled, and described as `flourish validate` describes it. */
#include "fuzz.h"
#include "scenario/scenario.h"

/* At most this many assignments are taken; the rest of the input is ignored. */
#define FZ_MAX_SETS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Where the line "#--set" starts (size when there is none). */
static size_t find_marker(const char *text, size_t size) {
  static const char marker[] = "#--set";
  const size_t n = sizeof marker - 1;
  for (size_t i = 0; i + n <= size; i++)
    if ((i == 0 || text[i - 1] == '\n') && !memcmp(text + i, marker, n) &&
        (i + n == size || text[i + n] == '\n'))
      return i;
  return size;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *text = (const char *)data;
  const size_t ylen = find_marker(text, size);
  char *sets[FZ_MAX_SETS];
  size_t nsets = 0;
  for (size_t i = ylen + 7; i < size && nsets < FZ_MAX_SETS;) { /* (past "#--set\n") */
    const char *nl = memchr(text + i, '\n', size - i);
    const size_t len = nl ? (size_t)(nl - (text + i)) : size - i;
    if (len && !(sets[nsets++] = strndup(text + i, len))) abort();
    i += len + 1;
  }
  fl_scenario *sc = NULL;
  fl_model *m = NULL;
  fl_error err = {0};
  fl_status st =
      fl_scenario_load_text("fuzz.yaml", text, ylen, (const char *const *)sets, nsets, &sc, &err);
  if (st == FL_OK) st = fl_model_compile(sc, &m, &err);
  fz_check_error(st, &err);
  if (st == FL_OK) fl_model_describe(m, fz_discard, NULL);
  fl_model_free(m);
  fl_scenario_free(sc);
  for (size_t i = 0; i < nsets; i++) free(sets[i]);
  return 0;
}
