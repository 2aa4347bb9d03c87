/* progress.c — the progress report of `moatsim run` on stderr and its closing line. */
#include "moatsim/progress.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "moatsim/model.h"

/* Terminal redraws at most this often, seconds (a path can take milliseconds). */
#define REDRAW_S 0.25

double moat_progress_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int moat_progress_interval_from_env(double *interval_s, char *err, size_t errlen) {
  const char *v = getenv("MOATSIM_PROGRESS_INTERVAL");
  *interval_s = MOAT_PROGRESS_INTERVAL_S;
  if (!v) return MOAT_OK;
  char *end = NULL;
  errno = 0;
  double x = strtod(v, &end);
  if (!*v || *end || errno || !isfinite(x) || x < 0 || x > 86400) {
    snprintf(err, errlen, "MOATSIM_PROGRESS_INTERVAL = '%s' is not a number of seconds in [0, 86400]: "
                          "it sets how often a batch log gets a progress line (0 = after every path)", v);
    return MOAT_EINVAL;
  }
  *interval_s = x;
  return MOAT_OK;
}

/* Scenarios k < n with k mod count = index. */
static size_t shard_size(size_t n, int index, int count) {
  return n > (size_t)index ? (n - (size_t)index - 1) / (size_t)count + 1 : 0;
}

void moat_progress_init(moat_progress_t *p, int quiet, double interval_s, size_t n_scen,
                        int shard_index, int shard_count) {
  *p = (moat_progress_t){0};
  p->tty = isatty(fileno(stderr));
  p->quiet = quiet;
  p->interval_s = interval_s;
  p->shard_index = shard_count > 1 ? shard_index : 0;
  p->shard_count = shard_count > 1 ? shard_count : 1;
  p->n_scen = n_scen;
  p->by_paths = p->shard_count > 1 && n_scen < (size_t)p->shard_count;
  p->n_file = p->by_paths ? 0 : shard_size(n_scen, p->shard_index, p->shard_count);
  p->start = p->last_draw = p->last_beat = moat_progress_now();
}

/* " (shard 1/3: scenarios k mod 3 = 1, 3 of the sweep's 9)", or "" without shards. */
static const char *shard_note(const moat_progress_t *p, char *buf, size_t len) {
  if (p->shard_count <= 1) return "";
  if (p->by_paths) {
    snprintf(buf, len, " (shard %d/%d: part %d of the sweep's paths cut %d ways, from %zu of its %zu scenario%s)",
             p->shard_index, p->shard_count, p->shard_index, p->shard_count, p->n_file, p->n_scen,
             p->n_scen == 1 ? "" : "s");
    return buf;
  }
  snprintf(buf, len, " (shard %d/%d: scenarios k mod %d = %d, %zu of the sweep's %zu)", p->shard_index,
           p->shard_count, p->shard_count, p->shard_index, p->n_file, p->n_scen);
  return buf;
}

void moat_progress_begin(moat_progress_t *p, const char *partial, int resume, size_t n_run) {
  p->n_run = n_run;
  if (p->by_paths) p->n_file = n_run; /* every part is run again from its blocks */
  if (p->quiet) return;
  char note[200];
  fprintf(stderr, "moatsim run: %s '%s': %zu of %zu scenarios to run%s\n", resume ? "resuming" : "writing",
          partial, n_run, p->n_file, shard_note(p, note, sizeof note));
}

void moat_progress_scenario(moat_progress_t *p, size_t k, size_t paths) {
  p->k = k;
  p->paths = paths;
}

/* "H:MM:SS" of a duration in seconds (clamped to [0, 10^7 h]). */
static const char *hms(double s, char *buf, size_t len) {
  long t = s > 0 ? (long)(fmin(s, 3.6e10) + 0.5) : 0;
  snprintf(buf, len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  return buf;
}

void moat_progress_path(void *ctx, size_t done) {
  moat_progress_t *p = ctx;
  if (p->quiet) return;
  double t = moat_progress_now();
  int finished = done >= p->paths;
  if (p->tty ? (!finished && t - p->last_draw < REDRAW_S) : (finished || t - p->last_beat < p->interval_s))
    return; /* batch logs: a finished scenario gets its own line */
  size_t all = p->paths_before + done, total = p->paths_before + (p->n_run - p->run_done) * p->paths;
  double elapsed = t - p->start, rate = (double)all / (elapsed + 1e-9);
  double left = (double)(total - all) / (rate + 1e-300);
  char e[32], l[32];
  if (p->tty) {
    p->last_draw = t;
    fprintf(stderr, "\rscenario %zu  paths %zu/%zu  run %zu/%zu paths  %.1f paths/s  %s left\033[K", p->k,
            done, p->paths, all, total, rate, hms(left, l, sizeof l));
    p->drawn = 1;
    return;
  }
  p->last_beat = t;
  fprintf(stderr, "moatsim run: progress: %zu of %zu paths of this run (scenario %zu: %zu of %zu), "
                  "%.3g paths/s, elapsed %s, ETA %s\n",
          all, total, p->k, done, p->paths, rate, hms(elapsed, e, sizeof e), hms(left, l, sizeof l));
}

void moat_progress_scenario_done(moat_progress_t *p, double seconds) {
  p->paths_before += p->paths;
  p->run_done++;
  if (p->quiet || p->tty) return;
  char note[200];
  fprintf(stderr, "moatsim run: scenario %zu done: %zu paths in %.2f s (%.1f paths/s); this run %zu of %zu; "
                  "the file holds %zu of %zu%s\n",
          p->k, p->paths, seconds, (double)p->paths / (seconds + 1e-9), p->run_done, p->n_run,
          p->n_file - p->n_run + p->run_done, p->n_file, shard_note(p, note, sizeof note));
}

void moat_progress_end(moat_progress_t *p) {
  if (p->drawn) fputc('\n', stderr);
  p->drawn = 0;
}

void moat_progress_print_summary(const moat_progress_t *p, FILE *out, const char *file, int paths,
                                 int threads, int ranks, double wall_s, double write_s) {
  char note[200];
  fprintf(out, "wrote %s%s: %zu of %zu scenario%s written by this run; the file holds %zu of %zu",
          file, shard_note(p, note, sizeof note), p->run_done, p->n_file, p->n_file == 1 ? "" : "s",
          p->n_file - p->n_run + p->run_done, p->n_file);
  if (ranks > 1) fprintf(out, "; on %d MPI ranks", ranks);
  fprintf(out, "; %d paths each, %d thread%s, %.2f s (HDF5 writing %.3f s)\n", paths, threads,
          threads == 1 ? "" : "s", wall_s, write_s);
}
