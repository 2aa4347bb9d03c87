/* runner.c — the paths of one scenario in parallel: one workspace per thread, results by path. */
#include "moatsim/runner.h"

#include <stdio.h>
#include <stdlib.h>

#include <omp.h>

#include "moatsim/signals.h"

struct moat_runner {
  int threads;
  moat_workspace_t **ws; /* [threads] */
  void (*poll)(void *ctx); /* called by thread 0 between its paths, or NULL */
  void *poll_ctx;
};

void moat_runner_set_poll(moat_runner_t *r, void (*poll)(void *ctx), void *ctx) {
  r->poll = poll, r->poll_ctx = ctx;
}

moat_runner_t *moat_runner_alloc(int threads) {
  moat_runner_t *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->threads = threads > 0 ? threads : omp_get_max_threads();
  r->ws = calloc((size_t)r->threads, sizeof *r->ws);
  if (!r->ws) {
    free(r);
    return NULL;
  }
  for (int t = 0; t < r->threads; t++) {
    r->ws[t] = moat_workspace_alloc();
    if (!r->ws[t]) {
      moat_runner_free(r);
      return NULL;
    }
  }
  return r;
}

void moat_runner_free(moat_runner_t *r) {
  if (!r) return;
  for (int t = 0; t < r->threads && r->ws; t++) moat_workspace_free(r->ws[t]);
  free(r->ws);
  free(r);
}

int moat_runner_threads(const moat_runner_t *r) { return r->threads; }

int moat_runner_run(moat_runner_t *r, const moat_scenario_t *sc, uint64_t scenario_index,
                    double *out, moat_path_stats_t *stats, moat_progress_fn progress, void *ctx,
                    char *err, size_t errlen) {
  size_t finished = 0;
  return moat_runner_run_range(r, sc, scenario_index, 0, (size_t)(sc->paths > 0 ? sc->paths : 0), out, stats,
                               progress, ctx, &finished, err, errlen);
}

int moat_runner_run_range(moat_runner_t *r, const moat_scenario_t *sc, uint64_t scenario_index,
                          size_t first, size_t count, double *out, moat_path_stats_t *stats,
                          moat_progress_fn progress, void *ctx, size_t *finished, char *err,
                          size_t errlen) {
  *finished = 0;
  for (int t = 0; t < r->threads; t++) {
    int st = moat_workspace_reserve(r->ws[t], sc, err, errlen);
    if (st != MOAT_OK) return st;
  }
  moat_layout_t lay;
  moat_scenario_layout(sc, &lay);
  long n = (long)count, p0 = (long)first;
  int *status = malloc((size_t)(n > 0 ? n : 1) * sizeof *status);
  if (!status) {
    snprintf(err, errlen, "scenario %llu: out of memory for %ld path statuses",
             (unsigned long long)scenario_index, n);
    return MOAT_ENOMEM;
  }
  size_t done = 0;
  /* Each path writes only its own slot of out, stats and status; nothing leaves the region
   * early (a failing path records its status, checked below). */
#pragma omp parallel num_threads(r->threads)
  {
    moat_workspace_t *ws = r->ws[omp_get_thread_num()];
#pragma omp for schedule(dynamic)
    for (long i = 0; i < n; i++) {
      long p = p0 + i;
      /* After SIGINT / SIGTERM the remaining paths are skipped: the run ends within a path. */
      status[i] = moat_signals_pending()
                      ? MOAT_EINTR
                      : moat_path_run(sc, scenario_index, (uint64_t)p, ws,
                                      out + (size_t)p * lay.per_path, stats ? &stats[p] : NULL);
      size_t now;
#pragma omp atomic capture
      now = ++done;
      if (progress) {
        /* Whichever thread finishes a path reports (paths can take seconds each). */
#pragma omp critical(moat_runner_progress)
        progress(ctx, now);
      }
      /* The thread that started MPI (MPI_THREAD_FUNNELED) looks at its messages. */
      if (r->poll && omp_get_thread_num() == 0) r->poll(r->poll_ctx);
    }
  }
  int st = MOAT_OK;
  long i = 0;
  for (; i < n && status[i] == MOAT_OK; i++) {}
  *finished = (size_t)i;
  if (i < n && status[i] == MOAT_EINTR) {
    st = MOAT_EINTR;
    snprintf(err, errlen, "scenario %llu interrupted by %s at path %ld",
             (unsigned long long)scenario_index, moat_signals_name(moat_signals_pending()), p0 + i);
  } else if (i < n) {
    st = status[i];
    snprintf(err, errlen, "scenario %llu, path %ld: the model failed with status %d",
             (unsigned long long)scenario_index, p0 + i, st);
  }
  free(status);
  if (st == MOAT_OK && progress) progress(ctx, (size_t)n);
  return st;
}
