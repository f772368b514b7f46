/* Fuzzing the episode records of `flourish calibrate` (engine/data/episodes.c, through the
 * table reader engine/core/csv.c): the input is the episodes file, calibrated with a good
 * population table (data/population.csv) against the semi-Markov template; everything after
 * the reading (the window, the counts, the estimates, the scenario and report written) runs
 * on what was read. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *episodes = fz_write("episodes.csv", data, size);
  fz_calibrate(episodes, FL_FUZZ_DIR "/data/population.csv", "episodes.csv");
  unlink(episodes);
  free(episodes);
  return 0;
}
