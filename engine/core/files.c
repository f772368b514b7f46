/* Files a command writes: the policy that keeps an output from destroying anything (the same
 * file as an input or another output, a link, a device, a FIFO), and the temporary file beside
 * each output that is moved over it only when complete. */
#include "core/core.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* This host, in temporary file names: 8 hex digits of a hash of its name (any characters, any
 * length, yet a short name with no dots, so the names parse unambiguously). */
static void host_tag(char tag[9]) {
  char host[256];
  if (gethostname(host, sizeof host) != 0) host[0] = '\0';
  host[sizeof host - 1] = '\0';
  snprintf(tag, 9, "%08x", (unsigned)(fl_fnv1a(FL_FNV_BASIS, host, strlen(host)) & 0xFFFFFFFFu));
}

char *fl_tmp_name(const char *path, unsigned n) {
  char tag[9];
  host_tag(tag);
  const size_t len = strlen(path) + 48;
  char *tmp = malloc(len);
  if (tmp) snprintf(tmp, len, "%s.tmp.%s.%ld.%u", path, tag, (long)getpid(), n);
  return tmp;
}

/* Whether s is one or more decimal digits and nothing else. */
static int all_digits(const char *s) {
  if (!*s) return 0;
  for (; *s; s++)
    if (*s < '0' || *s > '9') return 0;
  return 1;
}

void fl_tmp_clean(const char *path) {
  char tag[9];
  host_tag(tag);
  /* The directory (".", "/" or the part before the last slash) and the file name. */
  const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
  const size_t dlen = !slash ? 1 : slash == path ? 1 : (size_t)(slash - path);
  char *dir = malloc(dlen + 1), *prefix = malloc(strlen(base) + 32);
  DIR *d = NULL;
  if (dir && prefix) {
    memcpy(dir, !slash ? "." : path, dlen);
    dir[dlen] = '\0';
    snprintf(prefix, strlen(base) + 32, "%s.tmp.%s.", base, tag);
    d = opendir(dir);
  }
  if (d) {
    const size_t k = strlen(prefix);
    for (struct dirent *e; (e = readdir(d));) {
      /* PATH.tmp.TAG.PID.N exactly, with a PID of this host that no longer runs. */
      if (strncmp(e->d_name, prefix, k) != 0) continue;
      char *end;
      errno = 0;
      const long pid = strtol(e->d_name + k, &end, 10);
      if (errno || end == e->d_name + k || *end != '.' || !all_digits(end + 1) || pid <= 0 ||
          pid == (long)getpid())
        continue;
      if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* alive, or not ours to ask */
      const size_t flen = dlen + strlen(e->d_name) + 2;
      char *full = malloc(flen);
      if (!full) break;
      snprintf(full, flen, "%s%s%s", dir, dir[dlen - 1] == '/' ? "" : "/", e->d_name);
      unlink(full);
      free(full);
    }
    closedir(d);
  }
  free(prefix);
  free(dir);
}

/* What stands at a path, in words, for a file that is not a regular one. */
static const char *kind_words(mode_t mode) {
  return S_ISDIR(mode)    ? "a directory"
         : S_ISLNK(mode)  ? "a symbolic link"
         : S_ISFIFO(mode) ? "a FIFO (named pipe)"
         : S_ISCHR(mode)  ? "a character device"
         : S_ISBLK(mode)  ? "a block device"
         : S_ISSOCK(mode) ? "a socket"
                          : "not a regular file";
}

/* The directory part of path ("." when it has none), in a buffer of PATH_MAX. */
static void dir_of(const char *path, char *dir) {
  const char *slash = strrchr(path, '/');
  if (!slash) {
    strcpy(dir, ".");
  } else if (slash == path) {
    strcpy(dir, "/");
  } else {
    const size_t n = (size_t)(slash - path) < PATH_MAX - 1 ? (size_t)(slash - path) : PATH_MAX - 1;
    memcpy(dir, path, n);
    dir[n] = '\0';
  }
}

fl_status fl_output_target_check(const char *path, const char *option, fl_error *err) {
  struct stat st;
  char dir[PATH_MAX];
  if (!*path) {
    fl_error_set(err, FL_EUSAGE, path, 0, 0, option, "the output path is empty");
    return FL_EUSAGE;
  }
  if (lstat(path, &st) == 0) {
    if (!S_ISREG(st.st_mode)) {
      fl_error_set(err, FL_EUSAGE, path, 0, 0, option,
                   "is %s; an output replaces only a regular file: give the path of a new file",
                   kind_words(st.st_mode));
      return FL_EUSAGE;
    }
    if (access(path, W_OK) != 0) {
      fl_error_set(err, FL_EUSAGE, path, 0, 0, option,
                   "exists and is not writable by you; give the path of a new file");
      return FL_EUSAGE;
    }
  } else if (errno != ENOENT) {
    fl_error_set(err, FL_EUSAGE, path, 0, 0, option, "cannot be written: %s", strerror(errno));
    return FL_EUSAGE;
  }
  dir_of(path, dir);
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
    fl_error_set(err, FL_EUSAGE, path, 0, 0, option, "the directory '%s' does not exist", dir);
    return FL_EUSAGE;
  }
  if (access(dir, W_OK) != 0) {
    fl_error_set(err, FL_EUSAGE, path, 0, 0, option, "cannot write in the directory '%s': %s",
                 dir, strerror(errno));
    return FL_EUSAGE;
  }
  return FL_OK;
}

/* The file a path names: its device and inode when it exists (following links), else its
 * absolute, link-free name (that of its directory, then its own). Returns 0, or -1 when the
 * directory cannot be resolved (then only the name as given is compared). */
typedef struct file_id {
  int exists;
  dev_t dev;
  ino_t ino;
  char name[PATH_MAX + NAME_MAX + 2];
} file_id;

static void identify(const char *path, file_id *id) {
  struct stat st;
  char dir[PATH_MAX], real[PATH_MAX];
  memset(id, 0, sizeof *id);
  if (stat(path, &st) == 0) {
    id->exists = 1;
    id->dev = st.st_dev;
    id->ino = st.st_ino;
  }
  dir_of(path, dir);
  const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
  if (realpath(dir, real)) snprintf(id->name, sizeof id->name, "%s/%s", real, base);
  else snprintf(id->name, sizeof id->name, "%s", path);
}

static int same_file(const file_id *a, const file_id *b) {
  if (a->exists && b->exists) return a->dev == b->dev && a->ino == b->ino;
  return !strcmp(a->name, b->name);
}

/* An input: a regular file (following links) that can be read. */
static fl_status check_input(const fl_path_role *r, fl_error *err) {
  struct stat st;
  if (stat(r->path, &st) != 0) {
    fl_error_set(err, FL_EINPUT, r->path, 0, 0, r->option, "cannot read: %s", strerror(errno));
    return FL_EINPUT;
  }
  if (!S_ISREG(st.st_mode)) {
    fl_error_set(err, FL_EINPUT, r->path, 0, 0, r->option,
                 "is %s; an input must be a regular file", kind_words(st.st_mode));
    return FL_EINPUT;
  }
  if (access(r->path, R_OK) != 0) {
    fl_error_set(err, FL_EINPUT, r->path, 0, 0, r->option, "cannot read: %s", strerror(errno));
    return FL_EINPUT;
  }
  return FL_OK;
}

fl_status fl_paths_check(const fl_path_role *paths, size_t n, fl_error *err) {
  fl_status st;
  for (size_t i = 0; i < n; i++) {
    const fl_path_role *r = &paths[i];
    st = r->use == FL_PATH_INPUT ? check_input(r, err) : fl_output_target_check(r->path, r->option, err);
    if (st != FL_OK) return st;
  }
  /* No output is the same file as an input or as another output. */
  for (size_t i = 0; i < n; i++) {
    if (paths[i].use != FL_PATH_OUTPUT) continue;
    file_id out, other;
    identify(paths[i].path, &out);
    for (size_t j = 0; j < n; j++) {
      if (j == i || (paths[j].use == FL_PATH_OUTPUT && j < i)) continue;
      identify(paths[j].path, &other);
      if (!same_file(&out, &other)) continue;
      fl_error_set(err, FL_EUSAGE, paths[i].path, 0, 0, paths[i].option,
                   "is the same file as %s %s (%s); give the output another name",
                   paths[j].use == FL_PATH_INPUT ? "the input" : "the output", paths[j].path,
                   paths[j].option);
      return FL_EUSAGE;
    }
  }
  return FL_OK;
}

fl_status fl_outfile_begin(fl_outfile *o, const char *path, const char *option, int *fd_out,
                           fl_error *err) {
  static unsigned counter;
  struct stat old;
  fl_status st;
  int fd = -1;
  o->path = path;
  o->option = option;
  o->tmp = NULL;
  if ((st = fl_output_target_check(path, option, err)) != FL_OK) return st;
  /* A new name beside the target, created exclusively with mode 0666 so the umask applies as for
   * any new file (or with the mode of the file it will replace). What earlier runs killed while
   * writing here left behind is removed first. */
  fl_tmp_clean(path);
  const mode_t mode = lstat(path, &old) == 0 ? (old.st_mode & 0777) : 0666;
  for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
    free(o->tmp);
    unsigned k;
#pragma omp atomic capture
    k = counter++;
    if (!(o->tmp = fl_tmp_name(path, k))) {
      fl_error_set(err, FL_ENOMEM, path, 0, 0, NULL, "out of memory");
      return FL_ENOMEM;
    }
    fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL, mode);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) {
    fl_error_set(err, FL_EIO, path, 0, 0, option, "cannot create a file beside the output: %s",
                 strerror(errno));
    free(o->tmp);
    o->tmp = NULL;
    return FL_EIO;
  }
  if (lstat(path, &old) == 0) fchmod(fd, old.st_mode & 0777);
  if (fd_out) *fd_out = fd;
  else close(fd);
  return FL_OK;
}

fl_status fl_outfile_commit(fl_outfile *o, fl_error *err) {
  fl_status st = FL_OK;
  struct stat now;
  if (!o->tmp) return FL_OK;
  /* What stands at the path may have changed while the output was written: replace only a
   * regular file. */
  if (lstat(o->path, &now) == 0 && !S_ISREG(now.st_mode)) {
    fl_error_set(err, FL_EUSAGE, o->path, 0, 0, o->option,
                 "is now %s; an output replaces only a regular file, so it was not written",
                 kind_words(now.st_mode));
    st = FL_EUSAGE;
  } else if (rename(o->tmp, o->path) != 0) {
    fl_error_set(err, FL_EIO, o->path, 0, 0, o->option,
                 "cannot move the finished file into place: %s", strerror(errno));
    st = FL_EIO;
  }
  if (st != FL_OK) unlink(o->tmp);
  free(o->tmp);
  o->tmp = NULL;
  return st;
}

void fl_outfile_abort(fl_outfile *o) {
  if (!o->tmp) return;
  unlink(o->tmp);
  free(o->tmp);
  o->tmp = NULL;
}
