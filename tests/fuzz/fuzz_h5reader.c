/* Fuzzing the reader of output files, `flourish summary` (engine/output/summary.c,
 * summary_sweep.c and reader.c): the input is the file, summarised as text and as CSV. Beyond
 * the sanitizers, every HDF5 object the reader opened must be closed when it returns. The HDF5
 * library itself is not instrumented, so the fuzzer is guided by the reader's branches only. */
#include "fuzz.h"

#include <hdf5.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__lsan_default_suppressions(void);
const char *__lsan_default_options(void);

/* LeakSanitizer's suppressions, read at start: HDF5 1.10 loses blocks on some error paths of a
 * damaged file (H5Fopen and H5Dopen of a broken object header, in its metadata cache), which
 * no caller can free. A leak of the engine's own allocations has no HDF5 frame and is still
 * reported, except in collect_arm (summary.c), called back by H5Literate; an object the
 * engine opens and does not close is caught by the count below. */
const char *__lsan_default_suppressions(void) { return "leak:libhdf5\n"; }
const char *__lsan_default_options(void) { return "print_suppressions=0"; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *path = fz_write("input.h5", data, size);
  for (int csv = 0; csv <= 1; csv++) {
    fl_error err = {0};
    fz_check_error(fl_summary_print(path, csv, fz_discard, NULL, &err), &err);
    const ssize_t open = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
    if (open != 0) {
      fprintf(stderr, "fuzz: %zd HDF5 objects left open by fl_summary_print\n", open);
      abort();
    }
  }
  H5garbage_collect(); /* HDF5's free lists, so that one input's blocks do not serve the next */
  unlink(path);
  free(path);
  return 0;
}
