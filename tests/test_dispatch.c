/* test_dispatch.c — the dispatcher in one process: units cut from the paths not yet done (after
 * load), in scenario and path order; blocks committed per run of block_paths paths and flushed
 * when the run stops; a scenario stored once every path of its range is in, with its paths
 * path-indexed; a shard's range of paths; store and run failures; SIGINT / SIGTERM at a path
 * boundary (exit codes 130 / 143); the failure test hook; the unit size rule under MPI. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "moatsim/dispatch.h"
#include "moatsim/signals.h"

#define PATHS 5 /* paths of every fake scenario */

/* A fake run: path p of scenario k holds 10 k + p (one double); everything is logged. */
typedef struct fake {
  size_t units[32][3], blocks[32][3], stored[16][3]; /* (k, first, count) / (k, lo, hi) */
  int n_units, n_blocks, n_stored, n_loaded;
  int fail_run_at, fail_store_at; /* scenario, -1: never */
  int signal_at;                  /* a signal raised after path signal_path of scenario signal_k */
  size_t signal_k, signal_path;
  int load_path0; /* load finds path 0 of every scenario on disk */
} fake_t;

static int fake_open(void *ctx, size_t k, moat_layout_t *lay, size_t *n_paths, char *err, size_t errlen) {
  (void)ctx, (void)k, (void)err, (void)errlen;
  memset(lay, 0, sizeof *lay);
  lay->per_path = 1;
  *n_paths = PATHS;
  return MOAT_OK;
}

static int fake_load(void *ctx, size_t k, moat_path_set_t *ps, char *err, size_t errlen) {
  (void)err, (void)errlen;
  fake_t *f = ctx;
  f->n_loaded++;
  assert_int_equal(ps->n_paths, PATHS);
  if (f->load_path0) ps->have[0] = 1, ps->data[0] = 10.0 * (double)k;
  return MOAT_OK;
}

static int fake_run(void *ctx, size_t k, size_t first, size_t count, double *out, moat_poll_fn poll, void *poll_ctx,
                    size_t *finished, char *err, size_t errlen) {
  fake_t *f = ctx;
  assert_null(poll); /* one process: nothing to poll */
  (void)poll_ctx;
  size_t *u = f->units[f->n_units++];
  u[0] = k, u[1] = first, u[2] = count;
  *finished = 0;
  if ((int)k == f->fail_run_at) {
    snprintf(err, errlen, "scenario %zu, path %zu: the model failed", k, first);
    return MOAT_ERUNTIME;
  }
  for (size_t p = first; p < first + count; p++) {
    if (moat_signals_pending()) {
      snprintf(err, errlen, "interrupted");
      return MOAT_EINTR;
    }
    out[p] = 10.0 * (double)k + (double)p;
    ++*finished;
    if (f->signal_at && k == f->signal_k && p == f->signal_path) raise(f->signal_at);
  }
  return MOAT_OK;
}

static int fake_store_block(void *ctx, const moat_block_t *b, char *err, size_t errlen) {
  (void)err, (void)errlen;
  fake_t *f = ctx;
  for (size_t i = 0; i < b->n; i++) assert_true(b->data[i] == 10.0 * (double)b->k + (double)(b->first + i));
  size_t *r = f->blocks[f->n_blocks++];
  r[0] = b->k, r[1] = b->first, r[2] = b->n;
  return MOAT_OK;
}

static int fake_store(void *ctx, size_t k, const moat_layout_t *lay, const moat_path_set_t *ps, size_t lo, size_t hi,
                      double seconds, char *err, size_t errlen) {
  fake_t *f = ctx;
  assert_int_equal(lay->per_path, 1);
  assert_true(seconds >= 0);
  for (size_t p = lo; p < hi; p++) {
    assert_true(ps->have[p] != 0);
    assert_true(ps->data[p] == 10.0 * (double)k + (double)p); /* path-indexed */
  }
  size_t *r = f->stored[f->n_stored++];
  r[0] = k, r[1] = lo, r[2] = hi;
  if ((int)k == f->fail_store_at) {
    snprintf(err, errlen, "cannot write scenario %zu", k);
    return MOAT_EIO;
  }
  return MOAT_OK;
}

static fake_t fresh(void) {
  fake_t f;
  memset(&f, 0, sizeof f);
  f.fail_run_at = f.fail_store_at = -1;
  return f;
}

static int run(fake_t *f, size_t n, const uint8_t *pending, const size_t (*range)[2], size_t block, char *err) {
  moat_dispatch_ops_t ops = {fake_open, fake_load, fake_run, fake_store_block, fake_store, f, block};
  return moat_dispatch_run(&ops, n, pending, range, err, MOAT_ERR_MAX);
}

static void assert_triple(const size_t *t, size_t a, size_t b, size_t c) {
  assert_int_equal(t[0], a);
  assert_int_equal(t[1], b);
  assert_int_equal(t[2], c);
}

static void units_blocks_and_order(void **state) {
  (void)state;
  char err[MOAT_ERR_MAX];
  fake_t f = fresh();
  assert_int_equal(moat_dispatch_size(), 1);
  assert_int_equal(moat_dispatch_agree(7), 7);
  assert_int_equal(run(&f, 3, NULL, NULL, 2, err), MOAT_OK);
  /* 5 paths in units of 2: [0,2) [2,4) [4,5) per scenario, scenario by scenario */
  assert_int_equal(f.n_units, 9);
  for (int k = 0; k < 3; k++) {
    assert_triple(f.units[3 * k], (size_t)k, 0, 2);
    assert_triple(f.units[3 * k + 1], (size_t)k, 2, 2);
    assert_triple(f.units[3 * k + 2], (size_t)k, 4, 1);
    assert_triple(f.stored[k], (size_t)k, 0, PATHS);
  }
  /* committed per run of 2, and the scenario's last paths */
  assert_int_equal(f.n_blocks, 9);
  assert_triple(f.blocks[0], 0, 0, 2);
  assert_triple(f.blocks[1], 0, 2, 2);
  assert_triple(f.blocks[2], 0, 4, 1);
  /* a shard's or a resumed run's flags: only the marked scenarios, in order */
  const uint8_t pending[7] = {0, 1, 0, 0, 1, 1, 0};
  f = fresh();
  assert_int_equal(run(&f, 7, pending, NULL, 8, err), MOAT_OK);
  assert_int_equal(f.n_stored, 3);
  assert_int_equal(f.n_units, 3);
  assert_int_equal(f.n_blocks, 3); /* one unit, one block a scenario */
  assert_int_equal(f.stored[0][0], 1);
  assert_int_equal(f.stored[1][0], 4);
  assert_int_equal(f.stored[2][0], 5);
}

/* Paths on disk are not run again; a shard's range of paths is run and committed as blocks. */
static void loaded_paths_and_ranges(void **state) {
  (void)state;
  char err[MOAT_ERR_MAX];
  fake_t f = fresh();
  f.load_path0 = 1;
  assert_int_equal(run(&f, 1, NULL, NULL, 3, err), MOAT_OK);
  assert_int_equal(f.n_loaded, 1);
  assert_int_equal(f.n_units, 2);
  assert_triple(f.units[0], 0, 1, 3);
  assert_triple(f.units[1], 0, 4, 1);
  assert_triple(f.stored[0], 0, 0, PATHS);
  /* every path on disk (killed before its scenario file): stored without a unit */
  f = fresh();
  f.load_path0 = 1;
  const size_t first_only[2][2] = {{0, 1}, {0, 1}};
  assert_int_equal(run(&f, 2, NULL, first_only, 3, err), MOAT_OK);
  assert_int_equal(f.n_units, 0);
  assert_int_equal(f.n_stored, 2);
  const size_t range[2][2] = {{3, 5}, {0, 0}};
  const uint8_t pending[2] = {1, 0};
  f = fresh();
  assert_int_equal(run(&f, 2, pending, range, 8, err), MOAT_OK);
  assert_int_equal(f.n_units, 1);
  assert_triple(f.units[0], 0, 3, 2);
  assert_triple(f.stored[0], 0, 3, 5);
  assert_int_equal(f.n_blocks, 1); /* part of a scenario: its blocks are its result in a shard */
  assert_triple(f.blocks[0], 0, 3, 2);
}

static void failures_stop_the_run(void **state) {
  (void)state;
  char err[MOAT_ERR_MAX];
  fake_t f = fresh();
  f.fail_run_at = 2;
  assert_int_equal(run(&f, 5, NULL, NULL, 8, err), MOAT_ERUNTIME);
  assert_int_equal(f.n_stored, 2); /* 0 and 1 written, nothing after the failure */
  assert_non_null(strstr(err, "scenario 2, path 0"));
  f = fresh();
  f.fail_store_at = 1;
  assert_int_equal(run(&f, 5, NULL, NULL, 8, err), MOAT_EIO);
  assert_int_equal(f.n_units, 2);
  assert_non_null(strstr(err, "cannot write scenario 1"));
  /* the test hook makes the unit holding path 0 of scenario 3 fail as that path would */
  setenv("MOATSIM_TEST_FAIL", "3", 1);
  f = fresh();
  assert_int_equal(run(&f, 5, NULL, NULL, 8, err), MOAT_ERUNTIME);
  unsetenv("MOATSIM_TEST_FAIL");
  assert_int_equal(f.n_units, 3);
  assert_int_equal(f.n_stored, 3);
  assert_non_null(strstr(err, "scenario 3, path 0"));
}

/* A signal after path 2 of scenario 1 (units of 2): the paths finished are committed, the
 * finished scenario 0 is stored, nothing else runs. */
static void signals_end_at_a_path(void **state) {
  (void)state;
  const int sigs[2] = {SIGTERM, SIGINT}, codes[2] = {143, 130};
  for (int t = 0; t < 2; t++) {
    char err[MOAT_ERR_MAX];
    assert_int_equal(moat_signals_install(), MOAT_OK);
    assert_int_equal(moat_signals_pending(), 0);
    fake_t f = fresh();
    f.signal_at = sigs[t], f.signal_k = 1, f.signal_path = 2;
    assert_int_equal(run(&f, 5, NULL, NULL, 2, err), MOAT_EINTR);
    assert_int_equal(moat_signals_pending(), sigs[t]);
    assert_int_equal(moat_signals_exit_code(moat_signals_pending()), codes[t]);
    assert_int_equal(f.n_stored, 1);
    assert_int_equal(f.n_units, 5); /* scenario 0's three, scenario 1's [0,2) and [2,4) */
    /* scenario 1: [0,2) committed as a run of 2, path 2 (finished) flushed at the stop */
    assert_triple(f.blocks[f.n_blocks - 2], 1, 0, 2);
    assert_triple(f.blocks[f.n_blocks - 1], 1, 2, 1);
    assert_non_null(strstr(err, moat_signals_name(sigs[t])));
    assert_non_null(strstr(err, "after 1 scenario of this run"));
  }
  /* a stop asked for by rank 0 reads as that signal, and a real one is still the first */
  assert_int_equal(moat_signals_install(), MOAT_OK);
  moat_signals_request(SIGTERM);
  assert_int_equal(moat_signals_pending(), SIGTERM);
  raise(SIGINT); /* not the default action: the process goes on */
  assert_int_equal(moat_signals_pending(), SIGINT);
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
}

/* Units under MPI: at most an eighth of an equal share, at most block_paths, at least 1. */
static void unit_size_rule(void **state) {
  (void)state;
  assert_int_equal(moat_dispatch_unit_paths(32, 200, 1), 32); /* one rank: the block */
  assert_int_equal(moat_dispatch_unit_paths(32, 48, 2), 3);   /* ceil(48 / 16) */
  assert_int_equal(moat_dispatch_unit_paths(2, 48, 2), 2);
  assert_int_equal(moat_dispatch_unit_paths(10, 96, 3), 4); /* ceil(96 / 24) */
  assert_int_equal(moat_dispatch_unit_paths(10, 40, 3), 2); /* ceil(40 / 24) */
  assert_int_equal(moat_dispatch_unit_paths(16, 1, 8), 1);
  assert_int_equal(moat_dispatch_unit_paths(0, 0, 1), 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(units_blocks_and_order),
      cmocka_unit_test(loaded_paths_and_ranges),
      cmocka_unit_test(failures_stop_the_run),
      cmocka_unit_test(signals_end_at_a_path),
      cmocka_unit_test(unit_size_rule),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
