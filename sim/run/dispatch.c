/* dispatch.c — units of work (a block of paths of a scenario) run in order in one process, or
 * handed out to MPI ranks as they finish (rank 0 coordinates, computes and writes); the same
 * path results either way, so the same summaries. */
#include "moatsim/dispatch.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "moatsim/signals.h"

#if defined(MOAT_MPI) && MOAT_MPI
#include <mpi.h>
#endif

/* MOATSIM_TEST_FAIL=k: the unit holding path 0 of scenario k fails the way that path would. */
static int injected_failure(size_t k, size_t first, char *err, size_t errlen) {
  const char *v = getenv("MOATSIM_TEST_FAIL");
  if (!v || !*v || first != 0) return MOAT_OK;
  char *end = NULL;
  unsigned long long want = strtoull(v, &end, 10);
  if (*end != '\0' || want != (unsigned long long)k) return MOAT_OK;
  snprintf(err, errlen, "scenario %zu, path 0: the model failed with status %d (injected by "
           "MOATSIM_TEST_FAIL=%s)", k, MOAT_ERUNTIME, v);
  return MOAT_ERUNTIME;
}

/* ---- path sets ----------------------------------------------------------------------------- */

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

size_t moat_dispatch_unit_paths(size_t block_paths, size_t paths, int ranks) {
  size_t unit = block_paths > 0 ? block_paths : 1;
  if (ranks > 1) {
    size_t share = (paths + 8 * (size_t)ranks - 1) / (8 * (size_t)ranks);
    if (share < unit) unit = share;
  }
  return unit > 0 ? unit : 1;
}

void moat_dispatch_shard_paths(size_t n_scen, const size_t *paths, int index, int count, size_t (*range)[2]) {
  size_t total = 0;
  for (size_t k = 0; k < n_scen; k++) total += paths[k];
  /* global path g of the sweep laid end to end; part I holds g in [total I / N, total (I+1) / N) */
  size_t a = total * (size_t)index / (size_t)count, b = total * ((size_t)index + 1) / (size_t)count;
  for (size_t k = 0, at = 0; k < n_scen; at += paths[k], k++) {
    size_t lo = a > at ? a - at : 0, hi = b > at ? b - at : 0;
    if (hi > paths[k]) hi = paths[k];
    if (lo > hi) lo = hi;
    range[k][0] = lo, range[k][1] = hi;
  }
}

/* ---- the coordinator's state (rank 0; the only state with one rank) ----------------------- */

typedef struct unit {
  size_t k, first, count;
} unit_t;

/* A scenario opened on rank 0: its paths as they come in. */
typedef struct scen {
  size_t k, lo, hi, missing; /* paths [lo, hi) to run; missing: those not yet in ps */
  moat_layout_t lay;
  moat_path_set_t ps;
  double t0;
} scen_t;

/* A worker rank as rank 0 sees it. */
typedef struct worker {
  int out;       /* units handed out whose result is not yet back (at most UNITS_AHEAD) */
  int asked;     /* has said it is ready */
  int stop_sent; /* told to stop at its next path */
  int retired;   /* told there is no more work */
  int started;   /* has had a unit */
} worker_t;

typedef struct coord {
  const moat_dispatch_ops_t *ops;
  size_t n_scen, next; /* next scenario index to open */
  const uint8_t *pending;
  const size_t (*range)[2];
  int ranks;
  scen_t *sc; /* open scenarios */
  size_t n_sc, cap_sc;
  unit_t *q; /* units not yet handed out: q[head .. n_q - 1] */
  size_t head, n_q, cap_q;
  size_t stored; /* scenarios stored by this run */
  int st;
  char *err;
  size_t errlen;
  worker_t *w; /* [ranks] (index 0 unused) */
  int active;  /* workers not yet retired */
  double *buf; /* a received block */
  size_t cap_buf;
  void *recvs; /* MPI: blocks being received (pending_t) */
  size_t n_recvs, cap_recvs;
} coord_t;

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static scen_t *find_scen(coord_t *c, size_t k) {
  for (size_t i = 0; i < c->n_sc; i++)
    if (c->sc[i].k == k) return &c->sc[i];
  return NULL;
}

static int interrupted(coord_t *c) {
  snprintf(c->err, c->errlen, "interrupted by %s after %zu scenario%s of this run",
           moat_signals_name(moat_signals_pending()), c->stored, c->stored == 1 ? "" : "s");
  return MOAT_EINTR;
}

/* The first failure wins; an interruption gives way to nothing else. */
static void fail(coord_t *c, int st, const char *msg) {
  if (c->st != MOAT_OK) return;
  c->st = st;
  if (st == MOAT_EINTR) interrupted(c);
  else snprintf(c->err, c->errlen, "%s", msg);
}

static int push_unit(coord_t *c, size_t k, size_t first, size_t count) {
  if (c->head > 0 && c->head == c->n_q) c->head = c->n_q = 0;
  if (c->n_q == c->cap_q) {
    size_t cap = c->cap_q ? 2 * c->cap_q : 64;
    unit_t *q = realloc(c->q, cap * sizeof *q);
    if (!q) return MOAT_ENOMEM;
    c->q = q, c->cap_q = cap;
  }
  c->q[c->n_q++] = (unit_t){k, first, count};
  return MOAT_OK;
}

static size_t queued(const coord_t *c) { return c->n_q - c->head; }

/* Open the next pending scenario: size its path set, load what is on disk, queue the units of
 * the paths still missing. */
static int open_next(coord_t *c) {
  while (c->next < c->n_scen && c->pending && !c->pending[c->next]) c->next++;
  if (c->next >= c->n_scen) return MOAT_OK;
  size_t k = c->next++;
  char inner[MOAT_ERR_MAX] = "";
  if (c->n_sc == c->cap_sc) {
    size_t cap = c->cap_sc ? 2 * c->cap_sc : 8;
    scen_t *sc = realloc(c->sc, cap * sizeof *sc);
    if (!sc) {
      fail(c, MOAT_ENOMEM, "out of memory for the scenarios in progress");
      return MOAT_ENOMEM;
    }
    c->sc = sc, c->cap_sc = cap;
  }
  scen_t *s = &c->sc[c->n_sc];
  memset(s, 0, sizeof *s);
  s->k = k, s->t0 = now_s();
  size_t n_paths = 0;
  int st = c->ops->open(c->ops->ctx, k, &s->lay, &n_paths, inner, sizeof inner);
  if (st == MOAT_OK && moat_path_set_reserve(&s->ps, n_paths, s->lay.per_path) != MOAT_OK) {
    snprintf(inner, sizeof inner, "scenario %zu: out of memory for %zu paths x %zu results", k, n_paths,
             s->lay.per_path);
    st = MOAT_ENOMEM;
  }
  c->n_sc++;
  if (st == MOAT_OK && c->ops->load) st = c->ops->load(c->ops->ctx, k, &s->ps, inner, sizeof inner);
  for (size_t p = 0; st == MOAT_OK && p < n_paths; p++) s->ps.have[p] = s->ps.have[p] ? 2 : 0; /* on disk */
  if (st != MOAT_OK) {
    fail(c, st, inner);
    return st;
  }
  s->lo = c->range ? c->range[k][0] : 0, s->hi = c->range ? c->range[k][1] : n_paths;
  if (s->hi > n_paths) s->hi = n_paths;
  if (s->lo > s->hi) s->lo = s->hi;
  size_t left = 0; /* paths still to cut into units: they shrink towards the end (guided) */
  for (size_t p = s->lo; p < s->hi; p++) left += !s->ps.have[p];
  for (size_t p = s->lo; p < s->hi;) {
    if (s->ps.have[p]) {
      p++;
      continue;
    }
    size_t unit = moat_dispatch_unit_paths(c->ops->block_paths, left, c->ranks), end = p;
    while (end < s->hi && !s->ps.have[end] && end - p < unit) end++;
    left -= end - p;
    s->missing += end - p;
    if (push_unit(c, k, p, end - p) != MOAT_OK) {
      fail(c, MOAT_ENOMEM, "out of memory for the units of work");
      return MOAT_ENOMEM;
    }
    p = end;
  }
  return MOAT_OK;
}

/* Open scenarios until `target` units wait (or none is left to open). */
static void refill(coord_t *c, size_t target) {
  while (c->st == MOAT_OK && queued(c) < target && c->next < c->n_scen) open_next(c);
}

/* Commit as blocks the runs of paths in memory but not yet on disk (have 1; 2 once on disk) of
 * at least min_len paths. */
static void commit_runs(coord_t *c, scen_t *s, size_t min_len) {
  const moat_path_set_t *ps = &s->ps;
  for (size_t p = 0; p < ps->n_paths && (c->st == MOAT_OK || c->st == MOAT_EINTR);) {
    if (ps->have[p] != 1) {
      p++;
      continue;
    }
    size_t end = p;
    while (end < ps->n_paths && ps->have[end] == 1) end++;
    if (end - p >= min_len) {
      moat_block_t b = {s->k, p, end - p, ps->per_path, ps->data + p * ps->per_path};
      char inner[MOAT_ERR_MAX];
      int st = c->ops->store_block ? c->ops->store_block(c->ops->ctx, &b, inner, sizeof inner) : MOAT_OK;
      if (st != MOAT_OK) {
        if (c->st == MOAT_EINTR) c->st = MOAT_OK; /* a write failing after a signal is the news */
        fail(c, st, inner);
        return;
      }
      memset(ps->have + p, 2, end - p);
    }
    p = end;
  }
}

/* Paths first .. first + n - 1 of scenario s are in its path set. They are committed once a
 * run of block_paths paths is in a row, or the scenario's last paths are in (units may be
 * smaller than blocks under MPI: this keeps the commits, each an fsync on rank 0, as few as in
 * one process), else when the run stops. */
static void block_done(coord_t *c, scen_t *s, size_t first, size_t n) {
  size_t fresh = 0;
  for (size_t p = first; p < first + n; p++) fresh += !s->ps.have[p];
  memset(s->ps.have + first, 1, n);
  s->missing -= fresh < s->missing ? fresh : s->missing;
  commit_runs(c, s, s->missing == 0 ? 1 : c->ops->block_paths > 0 ? c->ops->block_paths : 1);
}

/* Store the scenarios whose paths are all in (also after a signal: they are finished). */
static void store_complete(coord_t *c) {
  for (size_t i = 0; i < c->n_sc;) {
    scen_t *s = &c->sc[i];
    if (s->missing > 0 || (c->st != MOAT_OK && c->st != MOAT_EINTR)) {
      i++;
      continue;
    }
    char inner[MOAT_ERR_MAX];
    int st = c->st != MOAT_OK && c->st != MOAT_EINTR ? c->st
             : c->ops->store(c->ops->ctx, s->k, &s->lay, &s->ps, s->lo, s->hi, now_s() - s->t0, inner,
                           sizeof inner);
    if (st != MOAT_OK) {
      if (c->st == MOAT_EINTR) c->st = MOAT_OK;
      fail(c, st, inner);
      return;
    }
    c->stored++;
    if (c->st == MOAT_EINTR) interrupted(c); /* the count in the message */
    moat_path_set_clear(&s->ps);
    c->sc[i] = c->sc[--c->n_sc];
  }
}

static void coord_clear(coord_t *c) {
  for (size_t i = 0; i < c->n_sc; i++) moat_path_set_clear(&c->sc[i].ps);
  free(c->sc);
  free(c->q);
  free(c->w);
  free(c->buf);
  free(c->recvs);
}

/* Rank 0 runs unit u itself (poll: its messages between paths, under MPI). */
static void run_own(coord_t *c, unit_t u, moat_poll_fn poll) {
  scen_t *s = find_scen(c, u.k);
  char inner[MOAT_ERR_MAX];
  size_t finished = 0;
  int st = injected_failure(u.k, u.first, inner, sizeof inner);
  if (st == MOAT_OK)
    st = c->ops->run(c->ops->ctx, u.k, u.first, u.count, s->ps.data, poll, c, &finished, inner, sizeof inner);
  if (finished > 0) block_done(c, s, u.first, finished);
  if (st != MOAT_OK) {
    char msg[MOAT_ERR_MAX + 16];
    snprintf(msg, sizeof msg, "%s%s", c->ranks > 1 ? "rank 0: " : "", inner);
    fail(c, st, msg);
  }
}

/* ---- MPI ----------------------------------------------------------------------------------- */

#if defined(MOAT_MPI) && MOAT_MPI

enum { TAG_READY = 1, TAG_WORK, TAG_RESULT, TAG_DATA, TAG_BLOCK, TAG_STOP };
/* Units a worker holds: the one it runs and the next, so that it never waits for rank 0, which
 * answers only between its own paths. */
#define UNITS_AHEAD 2
#define MOAT_MPI_BLOCK ((size_t)1 << 27) /* elements per message: counts are C ints */

/* A worker's answer for one unit (after its block, if any path finished). */
typedef struct unit_result {
  int64_t status, sig;
  char err[MOAT_ERR_MAX];
} unit_result_t;

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

/* Requests of arrays in flight, each sent or received in pieces of at most MOAT_MPI_BLOCK
 * elements. Nothing waits for the other side: a worker goes on with its next paths while its
 * block travels, rank 0 receives it between its own paths (both make progress when they call
 * MPI, after each path). */
typedef struct reqs {
  MPI_Request *r;
  int n, cap;
} reqs_t;

static int reqs_add(reqs_t *q, int pieces) {
  if (q->n + pieces > q->cap) {
    int cap = q->cap ? 2 * q->cap : 16;
    while (cap < q->n + pieces) cap *= 2;
    MPI_Request *r = realloc(q->r, (size_t)cap * sizeof *r);
    if (!r) return MOAT_ENOMEM;
    q->r = r, q->cap = cap;
  }
  return MOAT_OK;
}

static int pieces_of(size_t n) { return (int)((n + MOAT_MPI_BLOCK - 1) / MOAT_MPI_BLOCK); }

/* Post the sends (recv = 0) or receives of buf[0 .. n-1] into q. */
static int post_array(reqs_t *q, double *buf, size_t n, int peer, int recv) {
  if (reqs_add(q, pieces_of(n)) != MOAT_OK) return MOAT_ENOMEM;
  for (size_t at = 0; at < n; at += MOAT_MPI_BLOCK) {
    int len = (int)(n - at < MOAT_MPI_BLOCK ? n - at : MOAT_MPI_BLOCK);
    int rc = recv ? MPI_Irecv(buf + at, len, MPI_DOUBLE, peer, TAG_DATA, MPI_COMM_WORLD, &q->r[q->n])
                  : MPI_Isend(buf + at, len, MPI_DOUBLE, peer, TAG_DATA, MPI_COMM_WORLD, &q->r[q->n]);
    if (rc != MPI_SUCCESS) return MOAT_ERUNTIME;
    q->n++;
  }
  return MOAT_OK;
}

/* Rank 0: a block on its way in: its receives and where it goes. */
typedef struct pending {
  reqs_t q;
  size_t k, first, n;
  int src;
} pending_t;

/* Rank 0 -> worker: {k, first, count, stop_sent}; k = -1: no more work (stop_sent: a stop
 * message is on its way, to be received before leaving). */
static void send_work(coord_t *c, int dest, int64_t k, int64_t first, int64_t count) {
  int64_t m[4] = {k, first, count, c->w[dest].stop_sent};
  MPI_Send(m, 4, MPI_INT64_T, dest, TAG_WORK, MPI_COMM_WORLD);
  if (k < 0) c->w[dest].retired = 1, c->active--;
  else c->w[dest].out++, c->w[dest].started = 1;
}

/* Keep every worker UNITS_AHEAD units ahead (one, once few units are left: none sits on a unit
 * that an idle rank could run); retire one that holds none when the run fails or stops, or
 * nothing is left to open; otherwise it waits until rank 0 opens more scenarios. */
static void answer_waiting(coord_t *c) {
  for (int r = 1; r < c->ranks; r++) {
    if (!c->w[r].asked || c->w[r].retired) continue;
    while (c->st == MOAT_OK && queued(c) > 0 &&
           c->w[r].out < (queued(c) > (size_t)c->ranks || c->next < c->n_scen ? UNITS_AHEAD : 1)) {
      unit_t u = c->q[c->head++];
      send_work(c, r, (int64_t)u.k, (int64_t)u.first, (int64_t)u.count);
    }
    if (c->w[r].out == 0 && (c->st != MOAT_OK || (queued(c) == 0 && c->next >= c->n_scen)))
      send_work(c, r, -1, 0, 0);
  }
}

/* Tell the busy workers to stop at their next path (once each). */
static void stop_workers(coord_t *c) {
  int sig = moat_signals_pending() ? moat_signals_pending() : SIGTERM;
  for (int r = 1; r < c->ranks; r++) {
    if (c->w[r].out == 0 || c->w[r].stop_sent) continue;
    MPI_Send(&sig, 1, MPI_INT, r, TAG_STOP, MPI_COMM_WORLD);
    c->w[r].stop_sent = 1;
  }
}

/* A worker's block: {k, first, n, per_path}, then the values, received straight into the
 * scenario's path set (rows no one else writes) without waiting: see poll_blocks. */
static void receive_block(coord_t *c, int src) {
  int64_t h[4];
  MPI_Recv(h, 4, MPI_INT64_T, src, TAG_BLOCK, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  size_t k = (size_t)h[0], first = (size_t)h[1], n = (size_t)h[2], per = (size_t)h[3];
  scen_t *s = find_scen(c, k);
  char msg[MOAT_ERR_MAX];
  double *into = s && per == s->ps.per_path && first + n <= s->ps.n_paths ? s->ps.data + first * per : NULL;
  if (!into) { /* cannot happen: take it in all the same (the sender waits for it), then fail */
    if (n * per > c->cap_buf) {
      double *grown = realloc(c->buf, n * per * sizeof *grown);
      if (grown) c->buf = grown, c->cap_buf = n * per;
    }
    into = n * per <= c->cap_buf ? c->buf : NULL;
    snprintf(msg, sizeof msg, "rank %d sent paths %zu-%zu of scenario %zu, which is not in progress", src, first,
             first + n, k);
    fail(c, MOAT_ERUNTIME, msg);
    if (!into) return;
  }
  if (c->n_recvs == c->cap_recvs) {
    size_t cap = c->cap_recvs ? 2 * c->cap_recvs : 8;
    pending_t *grown = realloc(c->recvs, cap * sizeof *grown);
    if (!grown) {
      fail(c, MOAT_ENOMEM, "out of memory for the blocks being received");
      return;
    }
    c->recvs = grown, c->cap_recvs = cap;
  }
  pending_t *p = (pending_t *)c->recvs + c->n_recvs++;
  *p = (pending_t){{NULL, 0, 0}, k, first, n, src};
  if (post_array(&p->q, into, n * per, src, 1) != MOAT_OK) {
    snprintf(msg, sizeof msg, "scenario %zu: receiving paths %zu-%zu from rank %d failed", k, first, first + n, src);
    fail(c, MOAT_ERUNTIME, msg);
  }
}

/* Rank 0: the blocks whose values have all arrived are done (committed per block_done). */
static void poll_blocks(coord_t *c) {
  pending_t *all = c->recvs;
  for (size_t i = 0; i < c->n_recvs;) {
    int flag = 0;
    MPI_Testall(all[i].q.n, all[i].q.r, &flag, MPI_STATUSES_IGNORE);
    if (!flag) {
      i++;
      continue;
    }
    pending_t p = all[i];
    all[i] = all[--c->n_recvs];
    free(p.q.r);
    scen_t *s = find_scen(c, p.k);
    if (s && p.first + p.n <= s->ps.n_paths) block_done(c, s, p.first, p.n);
  }
}

/* Rank 0: every message waiting now, then answers to the workers that asked for work. Never
 * opens a scenario (the runner may be using the current one): called between rank 0's paths. */
static void service(void *ctx) {
  coord_t *c = ctx;
  for (;;) {
    int flag = 0;
    MPI_Status stat;
    MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &stat);
    if (!flag) break;
    int src = stat.MPI_SOURCE;
    if (stat.MPI_TAG == TAG_READY) {
      MPI_Recv(NULL, 0, MPI_BYTE, src, TAG_READY, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      c->w[src].asked = 1;
    } else if (stat.MPI_TAG == TAG_BLOCK) {
      receive_block(c, src);
    } else if (stat.MPI_TAG == TAG_RESULT) {
      unit_result_t r;
      MPI_Recv(&r, (int)sizeof r, MPI_BYTE, src, TAG_RESULT, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      c->w[src].out--;
      if (r.status == MOAT_EINTR) { /* the worker got a signal (or rank 0's stop) */
        if (!moat_signals_pending()) moat_signals_request((int)r.sig);
        fail(c, MOAT_EINTR, "");
      } else if (r.status != MOAT_OK) {
        char msg[MOAT_ERR_MAX + 16];
        r.err[sizeof r.err - 1] = '\0';
        snprintf(msg, sizeof msg, "rank %d: %s", src, r.err);
        fail(c, (int)r.status, msg);
      }
    } else { /* nothing else is sent to rank 0: take it off the queue */
      MPI_Recv(NULL, 0, MPI_BYTE, src, stat.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    }
  }
  poll_blocks(c);
  if (c->st == MOAT_OK && moat_signals_pending()) fail(c, MOAT_EINTR, "");
  if (c->st != MOAT_OK) stop_workers(c);
  answer_waiting(c);
}

/* ---- a worker ------------------------------------------------------------------------------ */

/* A worker's messages for one unit on their way to rank 0 (block header, values, result): all
 * sent without waiting, kept until every request completes. A blocking send behind a large
 * one in flight would wait for rank 0, which answers only between its own paths. */
typedef struct outgoing {
  int64_t h[4];
  unit_result_t r;
  reqs_t q;
} outgoing_t;

typedef struct worker_state {
  outgoing_t **out; /* messages in flight */
  int n_out, cap_out;
  int got_stop; /* rank 0's stop message was received */
  int wait_stop; /* test hook: after the first path, wait for the stop message */
  size_t paths;  /* paths finished by this worker */
  double wait_since;
} worker_state_t;

/* Free the messages whose requests have completed (wait = 1: wait for all of them first). */
static void outgoing_drain(worker_state_t *ws, int wait) {
  for (int i = 0; i < ws->n_out;) {
    outgoing_t *o = ws->out[i];
    int done = 1;
    if (wait) MPI_Waitall(o->q.n, o->q.r, MPI_STATUSES_IGNORE);
    else MPI_Testall(o->q.n, o->q.r, &done, MPI_STATUSES_IGNORE);
    if (!done) {
      i++;
      continue;
    }
    free(o->q.r);
    free(o);
    ws->out[i] = ws->out[--ws->n_out];
  }
}

/* Post a unit's messages: its block (finished > 0) and its result. */
static int outgoing_post(worker_state_t *ws, const int64_t h[4], const double *data, const unit_result_t *r) {
  if (ws->n_out == ws->cap_out) {
    int cap = ws->cap_out ? 2 * ws->cap_out : 8;
    outgoing_t **grown = realloc(ws->out, (size_t)cap * sizeof *grown);
    if (!grown) return MOAT_ENOMEM;
    ws->out = grown, ws->cap_out = cap;
  }
  outgoing_t *o = calloc(1, sizeof *o);
  if (!o || reqs_add(&o->q, 2) != MOAT_OK) {
    if (o) free(o->q.r);
    free(o);
    return MOAT_ENOMEM;
  }
  ws->out[ws->n_out++] = o;
  memcpy(o->h, h, sizeof o->h);
  o->r = *r;
  int bad = 0;
  if (h[2] > 0) {
    bad = MPI_Isend(o->h, 4, MPI_INT64_T, 0, TAG_BLOCK, MPI_COMM_WORLD, &o->q.r[o->q.n++]) != MPI_SUCCESS ||
          post_array(&o->q, (double *)(uintptr_t)data, (size_t)h[2] * (size_t)h[3], 0, 0) != MOAT_OK;
  }
  if (!bad && reqs_add(&o->q, 1) != MOAT_OK) bad = 1;
  if (!bad) bad = MPI_Isend(&o->r, (int)sizeof o->r, MPI_BYTE, 0, TAG_RESULT, MPI_COMM_WORLD, &o->q.r[o->q.n++]) != MPI_SUCCESS;
  return bad ? MOAT_ERUNTIME : MOAT_OK;
}

/* Between paths: rank 0's stop message ends the unit at the next path boundary. */
static void worker_poll(void *ctx) {
  worker_state_t *ws = ctx;
  ws->paths++;
  outgoing_drain(ws, 0);
  for (;;) {
    int flag = 0;
    MPI_Iprobe(0, TAG_STOP, MPI_COMM_WORLD, &flag, MPI_STATUS_IGNORE);
    if (flag) {
      int sig = SIGTERM;
      MPI_Recv(&sig, 1, MPI_INT, 0, TAG_STOP, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      ws->got_stop = 1;
      moat_signals_request(sig);
    }
    /* the test hook waits at most a minute: a missing stop message fails the test, no hang */
    if (ws->got_stop || !ws->wait_stop || ws->paths != 1) return;
    if (ws->wait_since == 0) ws->wait_since = now_s();
    if (now_s() - ws->wait_since > 60) return;
    struct timespec ms = {0, 1000000};
    nanosleep(&ms, NULL);
  }
}

/* A worker: ask for a unit, run it, send its block and result (which asks for the next) until
 * told there is no more work. */
static int run_worker(const moat_dispatch_ops_t *ops) {
  const char *hook = getenv("MOATSIM_TEST_WORKER_WAIT_STOP");
  worker_state_t ws = {NULL, 0, 0, 0, hook && strcmp(hook, "1") == 0, 0, 0};
  moat_path_set_t buf = {0};
  moat_layout_t lay;
  size_t cur = (size_t)-1, n_paths = 0;
  unit_result_t *r = malloc(sizeof *r);
  int st = r && MPI_Send(NULL, 0, MPI_BYTE, 0, TAG_READY, MPI_COMM_WORLD) == MPI_SUCCESS ? MOAT_OK : MOAT_ERUNTIME;
  while (st == MOAT_OK) {
    int64_t m[4];
    if (MPI_Recv(m, 4, MPI_INT64_T, 0, TAG_WORK, MPI_COMM_WORLD, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
      st = MOAT_ERUNTIME;
      break;
    }
    if (m[0] < 0) {
      if (m[3] && !ws.got_stop) {
        int sig;
        MPI_Recv(&sig, 1, MPI_INT, 0, TAG_STOP, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      }
      break;
    }
    size_t k = (size_t)m[0], first = (size_t)m[1], count = (size_t)m[2], finished = 0;
    memset(r, 0, sizeof *r);
    int ust = MOAT_OK;
    if (k != cur) {
      outgoing_drain(&ws, 1); /* the blocks still travelling are in the buffer about to be resized */
      ust = ops->open(ops->ctx, k, &lay, &n_paths, r->err, sizeof r->err);
      if (ust == MOAT_OK && moat_path_set_reserve(&buf, n_paths, lay.per_path) != MOAT_OK) {
        snprintf(r->err, sizeof r->err, "scenario %zu: out of memory for %zu paths x %zu results", k, n_paths,
                 lay.per_path);
        ust = MOAT_ENOMEM;
      }
      cur = ust == MOAT_OK ? k : (size_t)-1;
    }
    if (ust == MOAT_OK) ust = injected_failure(k, first, r->err, sizeof r->err);
    if (ust == MOAT_OK)
      ust = ops->run(ops->ctx, k, first, count, buf.data, worker_poll, &ws, &finished, r->err, sizeof r->err);
    int64_t h[4] = {(int64_t)k, (int64_t)first, (int64_t)finished, (int64_t)lay.per_path};
    r->status = ust, r->sig = moat_signals_pending();
    if (outgoing_post(&ws, h, finished > 0 ? buf.data + first * lay.per_path : NULL, r) != MOAT_OK) st = MOAT_ERUNTIME;
  }
  outgoing_drain(&ws, 1);
  free(ws.out);
  moat_path_set_clear(&buf);
  free(r);
  return st;
}

#else /* one process */

static int rank_ = 0, size_ = 1;

int moat_dispatch_init(void) { return MOAT_OK; }
void moat_dispatch_finalize(void) {}
int moat_dispatch_rank(void) { return 0; }
int moat_dispatch_size(void) { return 1; }
int moat_dispatch_agree(int v) { return v; }

#endif

/* ---- rank 0 -------------------------------------------------------------------------------- */

/* Every worker still in the run has had a unit. */
static int workers_started(const coord_t *c) {
  for (int r = 1; r < c->ranks; r++)
    if (!c->w[r].started && !c->w[r].retired) return 0;
  return 1;
}

/* Rank 0 (the only rank in one process): open scenarios a few units ahead, run units itself,
 * store blocks and finished scenarios, and (MPI) keep the workers fed, until all is done or
 * the run fails or is interrupted and every worker has left. */
static int run_coordinator(const moat_dispatch_ops_t *ops, size_t n_scen, const uint8_t *pending,
                           const size_t (*range)[2], char *err, size_t errlen) {
  coord_t c = {.ops = ops, .n_scen = n_scen, .pending = pending, .range = range, .ranks = size_,
               .err = err, .errlen = errlen, .active = size_ - 1};
  moat_poll_fn poll = NULL;
#if defined(MOAT_MPI) && MOAT_MPI
  poll = size_ > 1 ? service : NULL;
#endif
  /* The workers start first: rank 0 answers only between its own paths, so a worker that asked
   * while rank 0 ran a unit would wait for a path. They ask as soon as they are up. */
  int hold = size_ > 1;
  c.w = calloc((size_t)size_, sizeof *c.w);
  if (!c.w) fail(&c, MOAT_ENOMEM, "out of memory for the ranks' state");
  for (;;) {
#if defined(MOAT_MPI) && MOAT_MPI
    if (size_ > 1) service(&c);
#endif
    store_complete(&c);
    if (c.st == MOAT_OK && moat_signals_pending()) fail(&c, MOAT_EINTR, "");
    /* A few units ahead of the workers, so that none waits while rank 0 computes; one
     * scenario at a time in one process. */
    refill(&c, size_ > 1 ? 2 * (size_t)size_ : 1);
    store_complete(&c); /* a scenario whose paths were all on disk already */
#if defined(MOAT_MPI) && MOAT_MPI
    if (size_ > 1) {
      if (c.st != MOAT_OK) stop_workers(&c);
      answer_waiting(&c);
    }
#endif
    if (c.st == MOAT_OK && queued(&c) > 0 && (!hold || workers_started(&c))) {
      run_own(&c, c.q[c.head++], poll);
      continue;
    }
    int work_left = c.st == MOAT_OK && (c.next < c.n_scen || c.n_sc > 0);
    if (c.active == 0 && c.n_recvs == 0 && !work_left) break;
    if (c.active == 0 && c.n_recvs == 0 && c.st == MOAT_OK && c.n_sc > 0 && queued(&c) == 0 &&
        c.next >= c.n_scen) {
      /* every unit is done but a scenario still misses paths: cannot happen */
      fail(&c, MOAT_ERUNTIME, "internal error: a scenario's paths were never handed out");
      continue;
    }
    struct timespec ms = {0, 1000000}; /* waiting for the workers: look every millisecond */
    nanosleep(&ms, NULL);
  }
  if (c.st == MOAT_EINTR) { /* every finished path goes to disk */
    for (size_t i = 0; i < c.n_sc; i++) commit_runs(&c, &c.sc[i], 1);
    if (c.st == MOAT_EINTR) interrupted(&c);
  }
  int st = c.st;
  coord_clear(&c);
  return st;
}

int moat_dispatch_run(const moat_dispatch_ops_t *ops, size_t n_scen, const uint8_t *pending,
                      const size_t (*range)[2], char *err, size_t errlen) {
#if defined(MOAT_MPI) && MOAT_MPI
  if (size_ > 1 && rank_ != 0) return run_worker(ops);
#else
  (void)rank_;
#endif
  return run_coordinator(ops, n_scen, pending, range, err, errlen);
}
