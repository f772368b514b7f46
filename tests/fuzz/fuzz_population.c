/* Fuzzing the population table of `flourish calibrate` (engine/data/population.c, through the
 * table reader engine/core/csv.c): the input is the population table, calibrated with good
 * episode records (data/episodes.csv) against the semi-Markov template; the births, migration
 * and children without a record that follow from the table are computed and written. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *population = fz_write("population.csv", data, size);
  fz_calibrate(FL_FUZZ_DIR "/data/episodes.csv", population, "population.csv");
  unlink(population);
  free(population);
  return 0;
}
