/* dispatch.c — scenarios handed out in order (one process) or to MPI worker ranks (rank 0
 * coordinates and writes); the same results either way, scenario by scenario. */
#include "moatsim/dispatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "moatsim/signals.h"

#if defined(MOAT_MPI) && MOAT_MPI
#include <limits.h>
#include <mpi.h>
#endif

/* MOATSIM_TEST_FAIL=k: scenario k fails the way a failing path would (tests of that path). */
static int injected_failure(size_t k, char *err, size_t errlen) {
  const char *v = getenv("MOATSIM_TEST_FAIL");
  if (!v || !*v) return MOAT_OK;
  char *end = NULL;
  unsigned long long want = strtoull(v, &end, 10);
  if (*end != '\0' || want != (unsigned long long)k) return MOAT_OK;
  snprintf(err, errlen, "scenario %zu, path 0: the model failed with status %d (injected by "
           "MOATSIM_TEST_FAIL=%s)", k, MOAT_ERUNTIME, v);
  return MOAT_ERUNTIME;
}

/* ---- path sets, blocks --------------------------------------------------------------------- */

int moat_path_set_reserve(moat_path_set_t *ps, size_t n_paths, size_t per_path) {
  size_t need = n_paths * per_path;
  if (n_paths > ps->cap_have) {
    uint8_t *h = realloc(ps->have, n_paths);
    if (!h) return MOAT_ENOMEM;
    ps->have = h, ps->cap_have = n_paths;
  }
  if (need > ps->cap_data) {
    double *d = realloc(ps->data, need * sizeof *d);
    if (!d) return MOAT_ENOMEM;
    ps->data = d, ps->cap_data = need;
  }
  ps->n_paths = n_paths, ps->per_path = per_path;
  if (n_paths) memset(ps->have, 0, n_paths);
  return MOAT_OK;
}

void moat_path_set_clear(moat_path_set_t *ps) {
  free(ps->have);
  free(ps->data);
  memset(ps, 0, sizeof *ps);
}

static int compute_checked(const moat_dispatch_ops_t *ops, size_t k, moat_block_fn emit, void *emit_ctx,
                           moat_scenario_result_t *res, char *err, size_t errlen) {
  memset(res, 0, sizeof *res);
  res->k = k;
  int st = injected_failure(k, err, errlen);
  if (st == MOAT_OK) st = ops->compute(ops->ctx, k, emit, emit_ctx, res, err, errlen);
  return st;
}

/* One process: blocks go straight to store_block. */
static int store_block_here(void *emit_ctx, const moat_block_t *b, char *err, size_t errlen) {
  const moat_dispatch_ops_t *ops = emit_ctx;
  return ops->store_block ? ops->store_block(ops->ctx, b, err, errlen) : MOAT_OK;
}

/* Writing rank: the paths of scenario k already on disk, into ops->set. */
static int load_paths(const moat_dispatch_ops_t *ops, size_t k, char *err, size_t errlen) {
  if (ops->set) ops->set->n_paths = 0; /* compute sizes it for the scenario: nothing loaded */
  return ops->load ? ops->load(ops->ctx, k, err, errlen) : MOAT_OK;
}

static int interrupted(size_t done, char *err, size_t errlen) {
  snprintf(err, errlen, "interrupted by %s after %zu scenario%s of this run",
           moat_signals_name(moat_signals_pending()), done, done == 1 ? "" : "s");
  return MOAT_EINTR;
}

/* One process: every scenario in order. */
static int run_serial(const moat_dispatch_ops_t *ops, size_t n_scen, const uint8_t *pending,
                      char *err, size_t errlen) {
  size_t done = 0;
  for (size_t k = 0; k < n_scen; k++) {
    if (pending && !pending[k]) continue;
    if (moat_signals_pending()) return interrupted(done, err, errlen);
    moat_scenario_result_t res;
    int st = load_paths(ops, k, err, errlen);
    if (st == MOAT_OK) st = compute_checked(ops, k, store_block_here, (void *)(uintptr_t)ops, &res, err, errlen);
    if (st == MOAT_OK) {
      st = ops->store(ops->ctx, &res, err, errlen);
      moat_summary_clear(&res.s);
    }
    if (st == MOAT_EINTR) return interrupted(done, err, errlen);
    if (st != MOAT_OK) return st;
    done++;
  }
  return MOAT_OK;
}

#if defined(MOAT_MPI) && MOAT_MPI

enum { TAG_READY = 1, TAG_WORK, TAG_HEADER, TAG_DATA, TAG_PRIOR, TAG_BLOCK };
#define MOAT_MPI_BLOCK ((size_t)1 << 27) /* elements per message: counts are C ints */

/* What a worker sends first for each scenario; the arrays follow when status is 0. */
typedef struct result_header {
  int64_t k, status, n_elem, n_q, n_paths, has_paths;
  double seconds;
  double q[MOAT_MAX_QUANTILES];
  moat_layout_t lay;
  char err[MOAT_ERR_MAX];
} result_header_t;

/* Mirrors of MPI's own process-wide state (MPI_COMM_WORLD), set once by moat_dispatch_init. */
static int rank_, size_ = 1;

int moat_dispatch_init(void) {
  int provided = 0;
  if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) return MOAT_ERUNTIME;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  return MOAT_OK;
}

void moat_dispatch_finalize(void) { MPI_Finalize(); }
int moat_dispatch_rank(void) { return rank_; }
int moat_dispatch_size(void) { return size_; }

int moat_dispatch_agree(int v) {
  if (size_ > 1) MPI_Bcast(&v, 1, MPI_INT, 0, MPI_COMM_WORLD);
  return v;
}

/* Arrays of any length, in blocks of at most MOAT_MPI_BLOCK elements. */
static int send_array(const void *buf, size_t n, MPI_Datatype type, size_t size, int dest) {
  const char *p = buf;
  for (size_t at = 0; at < n; at += MOAT_MPI_BLOCK) {
    size_t len = n - at < MOAT_MPI_BLOCK ? n - at : MOAT_MPI_BLOCK;
    if (MPI_Send(p + at * size, (int)len, type, dest, TAG_DATA, MPI_COMM_WORLD) != MPI_SUCCESS)
      return MOAT_ERUNTIME;
  }
  return MOAT_OK;
}

static int recv_array(void *buf, size_t n, MPI_Datatype type, size_t size, int src) {
  char *p = buf;
  for (size_t at = 0; at < n; at += MOAT_MPI_BLOCK) {
    size_t len = n - at < MOAT_MPI_BLOCK ? n - at : MOAT_MPI_BLOCK;
    if (MPI_Recv(p + at * size, (int)len, type, src, TAG_DATA, MPI_COMM_WORLD, MPI_STATUS_IGNORE) !=
        MPI_SUCCESS)
      return MOAT_ERUNTIME;
  }
  return MOAT_OK;
}

/* A worker's result: header, then mean, std, count, quantiles and (maybe) paths. */
static int send_result(const moat_dispatch_ops_t *ops, const moat_scenario_result_t *res, int st,
                       const char *err, result_header_t *h) {
  memset(h, 0, sizeof *h);
  h->k = (int64_t)res->k, h->status = st;
  snprintf(h->err, sizeof h->err, "%s", st == MOAT_OK ? "" : err);
  if (st == MOAT_OK) {
    h->n_elem = (int64_t)res->s.n_elem, h->n_q = res->s.n_q, h->lay = res->lay;
    h->n_paths = (int64_t)res->n_paths, h->has_paths = ops->send_paths && res->paths;
    h->seconds = res->seconds;
    memcpy(h->q, res->s.q, sizeof h->q);
  }
  if (MPI_Send(h, (int)sizeof *h, MPI_BYTE, 0, TAG_HEADER, MPI_COMM_WORLD) != MPI_SUCCESS) return MOAT_ERUNTIME;
  if (st != MOAT_OK) return MOAT_OK;
  size_t n = res->s.n_elem, nq = (size_t)res->s.n_q;
  if (send_array(res->s.mean, n, MPI_DOUBLE, sizeof(double), 0) || send_array(res->s.std, n, MPI_DOUBLE, sizeof(double), 0) ||
      send_array(res->s.count, n, MPI_INT32_T, sizeof(int32_t), 0) ||
      send_array(res->s.quantile, nq * n, MPI_DOUBLE, sizeof(double), 0) ||
      (h->has_paths && send_array(res->paths, res->n_paths * res->lay.per_path, MPI_DOUBLE, sizeof(double), 0)))
    return MOAT_ERUNTIME;
  return MOAT_OK;
}

/* Rank 0 -> worker after the scenario index: the scenario's paths already on disk, if any (a
 * header {n_paths, per_path, n_have}, then the have flags and the path results). */
static int send_prior(const moat_path_set_t *ps, int dest) {
  int64_t h[3] = {0, 0, 0};
  if (ps) {
    h[0] = (int64_t)ps->n_paths, h[1] = (int64_t)ps->per_path;
    for (size_t p = 0; p < ps->n_paths; p++) h[2] += ps->have[p];
  }
  if (MPI_Send(h, 3, MPI_INT64_T, dest, TAG_PRIOR, MPI_COMM_WORLD) != MPI_SUCCESS) return MOAT_ERUNTIME;
  if (h[2] == 0) return MOAT_OK;
  return send_array(ps->have, ps->n_paths, MPI_UINT8_T, 1, dest) ||
                 send_array(ps->data, ps->n_paths * ps->per_path, MPI_DOUBLE, sizeof(double), dest)
             ? MOAT_ERUNTIME : MOAT_OK;
}

static int recv_prior(moat_path_set_t *ps) {
  int64_t h[3];
  if (MPI_Recv(h, 3, MPI_INT64_T, 0, TAG_PRIOR, MPI_COMM_WORLD, MPI_STATUS_IGNORE) != MPI_SUCCESS) return MOAT_ERUNTIME;
  ps->n_paths = 0;
  if (h[2] == 0) return MOAT_OK;
  if (moat_path_set_reserve(ps, (size_t)h[0], (size_t)h[1]) != MOAT_OK) return MOAT_ENOMEM;
  return recv_array(ps->have, ps->n_paths, MPI_UINT8_T, 1, 0) ||
                 recv_array(ps->data, ps->n_paths * ps->per_path, MPI_DOUBLE, sizeof(double), 0)
             ? MOAT_ERUNTIME : MOAT_OK;
}

/* A worker's block on its way to rank 0: {k, first, n, per_path}, then the values. */
static int send_block(void *emit_ctx, const moat_block_t *b, char *err, size_t errlen) {
  (void)emit_ctx;
  int64_t h[4] = {(int64_t)b->k, (int64_t)b->first, (int64_t)b->n, (int64_t)b->per_path};
  if (MPI_Send(h, 4, MPI_INT64_T, 0, TAG_BLOCK, MPI_COMM_WORLD) != MPI_SUCCESS ||
      send_array(b->data, b->n * b->per_path, MPI_DOUBLE, sizeof(double), 0) != MOAT_OK) {
    snprintf(err, errlen, "scenario %zu: sending paths %zu-%zu to rank 0 failed", b->k, b->first, b->first + b->n);
    return MOAT_ERUNTIME;
  }
  return MOAT_OK;
}

/* A worker: ask for work, run it, send it back (which also asks for more) until told to stop. */
static int run_worker(const moat_dispatch_ops_t *ops) {
  result_header_t *h = malloc(sizeof *h);
  char err[MOAT_ERR_MAX];
  int st = h && MPI_Send(NULL, 0, MPI_BYTE, 0, TAG_READY, MPI_COMM_WORLD) == MPI_SUCCESS ? MOAT_OK
                                                                                         : MOAT_ERUNTIME;
  for (int64_t k = 0; st == MOAT_OK;) {
    if (MPI_Recv(&k, 1, MPI_INT64_T, 0, TAG_WORK, MPI_COMM_WORLD, MPI_STATUS_IGNORE) != MPI_SUCCESS) st = MOAT_ERUNTIME;
    if (st != MOAT_OK || k < 0) break;
    moat_scenario_result_t res;
    int cst = recv_prior(ops->set);
    if (cst != MOAT_OK) snprintf(err, sizeof err, "scenario %lld: receiving its finished paths failed", (long long)k);
    if (cst == MOAT_OK) cst = compute_checked(ops, (size_t)k, send_block, NULL, &res, err, sizeof err);
    st = send_result(ops, &res, cst, err, h);
    if (cst == MOAT_OK) moat_summary_clear(&res.s);
  }
  free(h);
  return st;
}

/* Rank 0: receive the arrays announced by header h from rank src and store them. */
static int receive_and_store(const moat_dispatch_ops_t *ops, const result_header_t *h, int src,
                             double **paths, size_t *cap, int store, char *err, size_t errlen) {
  moat_scenario_result_t res = {(size_t)h->k, h->lay, {0}, NULL, (size_t)h->n_paths, h->seconds};
  size_t n = (size_t)h->n_elem, np = h->has_paths ? (size_t)h->n_paths * h->lay.per_path : 0;
  int st = moat_summary_init(&res.s, n, h->q, (int)h->n_q, err, errlen);
  if (st != MOAT_OK) return st;
  if (np > *cap) {
    double *grown = realloc(*paths, np * sizeof *grown);
    if (!grown) {
      moat_summary_clear(&res.s);
      snprintf(err, errlen, "scenario %lld: out of memory receiving %zu path results", (long long)h->k, np);
      return MOAT_ENOMEM;
    }
    *paths = grown, *cap = np;
  }
  res.paths = np ? *paths : NULL;
  if (recv_array(res.s.mean, n, MPI_DOUBLE, sizeof(double), src) || recv_array(res.s.std, n, MPI_DOUBLE, sizeof(double), src) ||
      recv_array(res.s.count, n, MPI_INT32_T, sizeof(int32_t), src) ||
      recv_array(res.s.quantile, (size_t)h->n_q * n, MPI_DOUBLE, sizeof(double), src) ||
      recv_array(*paths, np, MPI_DOUBLE, sizeof(double), src)) {
    snprintf(err, errlen, "scenario %lld: receiving its results from rank %d failed", (long long)h->k, src);
    st = MOAT_ERUNTIME;
  }
  if (st == MOAT_OK && store) st = ops->store(ops->ctx, &res, err, errlen);
  moat_summary_clear(&res.s);
  return st;
}

/* Wait for a message from any worker, looking every millisecond; returns 0 early (no message)
 * when a signal has arrived and the run is not yet stopping (st == MOAT_OK). */
static int wait_message(MPI_Status *stat, int st) {
  for (int flag = 0;;) {
    MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, stat);
    if (flag) return 1;
    if (st == MOAT_OK && moat_signals_pending()) return 0;
    struct timespec ms = {0, 1000000};
    nanosleep(&ms, NULL);
  }
}

/* Rank 0: a worker's block: receive it and store it (unless the run is already failing). */
static int receive_block(const moat_dispatch_ops_t *ops, int src, double **buf, size_t *cap, int store,
                         char *err, size_t errlen) {
  int64_t h[4];
  MPI_Recv(h, 4, MPI_INT64_T, src, TAG_BLOCK, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  size_t n = (size_t)h[2] * (size_t)h[3];
  if (n > *cap) {
    double *grown = realloc(*buf, n * sizeof *grown);
    if (!grown) {
      snprintf(err, errlen, "scenario %lld: out of memory receiving %zu path results", (long long)h[0], n);
      return MOAT_ENOMEM;
    }
    *buf = grown, *cap = n;
  }
  if (recv_array(*buf, n, MPI_DOUBLE, sizeof(double), src) != MOAT_OK) {
    snprintf(err, errlen, "scenario %lld: receiving paths from rank %d failed", (long long)h[0], src);
    return MOAT_ERUNTIME;
  }
  moat_block_t b = {(size_t)h[0], (size_t)h[1], (size_t)h[2], (size_t)h[3], *buf};
  return store && ops->store_block ? ops->store_block(ops->ctx, &b, err, errlen) : MOAT_OK;
}

/* Rank 0: hand out scenarios in index order as workers ask; store what comes back. */
static int run_coordinator(const moat_dispatch_ops_t *ops, size_t n_scen, const uint8_t *pending,
                           char *err, size_t errlen) {
  result_header_t *h = malloc(sizeof *h);
  double *paths = NULL;
  size_t cap = 0, next = 0, stored = 0;
  int st = h ? MOAT_OK : MOAT_ENOMEM, active = size_ - 1;
  if (!h) snprintf(err, errlen, "out of memory for a result header");
  while (active > 0) {
    MPI_Status stat;
    if (!wait_message(&stat, st)) { /* a signal: hand out nothing more; collect what is running */
      st = interrupted(stored, err, errlen);
      continue;
    }
    int src = stat.MPI_SOURCE;
    if (stat.MPI_TAG == TAG_BLOCK) {
      char inner[MOAT_ERR_MAX];
      int rst = receive_block(ops, src, &paths, &cap, st == MOAT_OK || st == MOAT_EINTR, inner, sizeof inner);
      if (rst != MOAT_OK && (st == MOAT_OK || st == MOAT_EINTR)) st = rst, snprintf(err, errlen, "%s", inner);
      continue; /* the worker goes on with its scenario */
    } else if (stat.MPI_TAG == TAG_READY) {
      MPI_Recv(NULL, 0, MPI_BYTE, src, TAG_READY, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    } else {
      result_header_t scratch, *hp = h ? h : &scratch;
      MPI_Recv(hp, (int)sizeof *hp, MPI_BYTE, src, TAG_HEADER, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      if (hp->status == MOAT_OK) {
        char inner[MOAT_ERR_MAX];
        int rst = receive_and_store(ops, hp, src, &paths, &cap, st == MOAT_OK, inner, sizeof inner);
        if (rst != MOAT_OK && st == MOAT_OK) st = rst, snprintf(err, errlen, "%s", inner);
        if (rst == MOAT_OK) stored++;
      } else if (st == MOAT_OK) {
        st = (int)hp->status;
        snprintf(err, errlen, "rank %d: %s", src, hp->err);
      }
    }
    if (st == MOAT_OK && moat_signals_pending()) st = interrupted(stored, err, errlen);
    while (next < n_scen && pending && !pending[next]) next++;
    int64_t k = st == MOAT_OK && next < n_scen ? (int64_t)next++ : -1;
    if (k >= 0) {
      int lst = load_paths(ops, (size_t)k, err, errlen);
      if (lst != MOAT_OK) st = lst, k = -1;
    }
    MPI_Send(&k, 1, MPI_INT64_T, src, TAG_WORK, MPI_COMM_WORLD);
    if (k >= 0 && send_prior(ops->set, src) != MOAT_OK && st == MOAT_OK) {
      st = MOAT_ERUNTIME;
      snprintf(err, errlen, "scenario %lld: sending its finished paths to rank %d failed", (long long)k, src);
    }
    if (k < 0) active--;
  }
  if (st == MOAT_EINTR) interrupted(stored, err, errlen);
  free(paths);
  free(h);
  return st;
}

int moat_dispatch_run(const moat_dispatch_ops_t *ops, size_t n_scen, const uint8_t *pending,
                      char *err, size_t errlen) {
  if (size_ == 1) return run_serial(ops, n_scen, pending, err, errlen);
  if (rank_ == 0) return run_coordinator(ops, n_scen, pending, err, errlen);
  return run_worker(ops);
}

#else /* one process */

int moat_dispatch_init(void) { return MOAT_OK; }
void moat_dispatch_finalize(void) {}
int moat_dispatch_rank(void) { return 0; }
int moat_dispatch_size(void) { return 1; }
int moat_dispatch_agree(int v) { return v; }

int moat_dispatch_run(const moat_dispatch_ops_t *ops, size_t n_scen, const uint8_t *pending,
                      char *err, size_t errlen) {
  return run_serial(ops, n_scen, pending, err, errlen);
}

#endif
