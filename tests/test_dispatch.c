/* test_dispatch.c — the scenario dispatcher in one process: order and skipping, load before
 * compute and each block stored before its scenario, store and compute failures, SIGINT / SIGTERM between scenarios (exit codes 130 / 143), the failure test hook. */
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

/* A fake run: scenario k's single element is k; every compute and store is logged. */
typedef struct fake {
  size_t computed[16], stored[16], loaded[16], blocks[16];
  int n_computed, n_stored, n_loaded, n_blocks;
  int fail_compute_at, fail_store_at; /* -1: never */
  int signal_at;                      /* raise this signal after computing scenario signal_k */
  size_t signal_k;
} fake_t;

static int fake_load(void *ctx, size_t k, char *err, size_t errlen) {
  (void)err, (void)errlen;
  fake_t *f = ctx;
  f->loaded[f->n_loaded++] = k;
  return MOAT_OK;
}

/* Scenario k's one block: path 0 holds 10 k; it is stored before the scenario's summaries. */
static int fake_compute(void *ctx, size_t k, moat_block_fn emit, void *emit_ctx, moat_scenario_result_t *res,
                        char *err, size_t errlen) {
  fake_t *f = ctx;
  assert_int_equal(f->n_loaded, f->n_computed + 1); /* loaded just before */
  assert_int_equal(f->loaded[f->n_computed], k);
  f->computed[f->n_computed++] = k;
  double v = 10.0 * (double)k;
  moat_block_t b = {k, 0, 1, 1, &v};
  if (emit(emit_ctx, &b, err, errlen) != MOAT_OK) return MOAT_EIO;
  if ((int)k == f->fail_compute_at) {
    snprintf(err, errlen, "scenario %zu, path 2: the model failed", k);
    return MOAT_ERUNTIME;
  }
  double q = 0.5;
  int st = moat_summary_init(&res->s, 1, &q, 1, err, errlen);
  if (st == MOAT_OK) res->s.mean[0] = (double)k;
  if (f->signal_at && k == f->signal_k) raise(f->signal_at);
  return st;
}

static int fake_store_block(void *ctx, const moat_block_t *b, char *err, size_t errlen) {
  (void)err, (void)errlen;
  fake_t *f = ctx;
  assert_true(b->data[0] == 10.0 * (double)b->k && b->first == 0 && b->n == 1);
  f->blocks[f->n_blocks++] = b->k;
  return MOAT_OK;
}

static int fake_store(void *ctx, const moat_scenario_result_t *res, char *err, size_t errlen) {
  fake_t *f = ctx;
  assert_int_equal(f->blocks[f->n_blocks - 1], res->k); /* its block came first */
  assert_true(res->s.mean[0] == (double)res->k); /* the result of that scenario */
  f->stored[f->n_stored++] = res->k;
  if ((int)res->k == f->fail_store_at) {
    snprintf(err, errlen, "cannot write scenario %zu", res->k);
    return MOAT_EIO;
  }
  return MOAT_OK;
}

static fake_t fresh(void) {
  fake_t f;
  memset(&f, 0, sizeof f);
  f.fail_compute_at = f.fail_store_at = -1;
  return f;
}

static int run(fake_t *f, size_t n, const uint8_t *pending, char *err) {
  moat_dispatch_ops_t ops = {fake_load, fake_compute, fake_store_block, fake_store, f, NULL, 0};
  return moat_dispatch_run(&ops, n, pending, err, MOAT_ERR_MAX);
}

static void order_and_skipping(void **state) {
  (void)state;
  char err[MOAT_ERR_MAX];
  fake_t f = fresh();
  assert_int_equal(moat_dispatch_size(), 1);
  assert_int_equal(moat_dispatch_agree(7), 7);
  assert_int_equal(run(&f, 5, NULL, err), MOAT_OK);
  assert_int_equal(f.n_stored, 5);
  assert_int_equal(f.n_blocks, 5);
  for (int k = 0; k < 5; k++) assert_int_equal(f.stored[k], (size_t)k);
  /* a shard's or a resumed run's flags: only the marked scenarios, in order */
  const uint8_t pending[7] = {0, 1, 0, 0, 1, 1, 0};
  f = fresh();
  assert_int_equal(run(&f, 7, pending, err), MOAT_OK);
  assert_int_equal(f.n_computed, 3);
  assert_int_equal(f.stored[0], 1);
  assert_int_equal(f.stored[1], 4);
  assert_int_equal(f.stored[2], 5);
}

static void failures_stop_the_run(void **state) {
  (void)state;
  char err[MOAT_ERR_MAX];
  fake_t f = fresh();
  f.fail_compute_at = 2;
  assert_int_equal(run(&f, 5, NULL, err), MOAT_ERUNTIME);
  assert_int_equal(f.n_stored, 2); /* 0 and 1 written, nothing after the failure */
  assert_int_equal(f.n_computed, 3);
  assert_non_null(strstr(err, "scenario 2, path 2"));
  f = fresh();
  f.fail_store_at = 1;
  assert_int_equal(run(&f, 5, NULL, err), MOAT_EIO);
  assert_int_equal(f.n_computed, 2);
  assert_non_null(strstr(err, "cannot write scenario 1"));
  /* the test hook makes scenario 3 fail as a path would, before its compute */
  setenv("MOATSIM_TEST_FAIL", "3", 1);
  f = fresh();
  assert_int_equal(run(&f, 5, NULL, err), MOAT_ERUNTIME);
  unsetenv("MOATSIM_TEST_FAIL");
  assert_int_equal(f.n_computed, 3);
  assert_int_equal(f.n_stored, 3);
  assert_non_null(strstr(err, "scenario 3, path 0"));
}

/* A signal during scenario k: k is still stored (it finished), nothing after it runs. */
static void signals_end_between_scenarios(void **state) {
  (void)state;
  const int sigs[2] = {SIGTERM, SIGINT}, codes[2] = {143, 130};
  for (int t = 0; t < 2; t++) {
    char err[MOAT_ERR_MAX];
    assert_int_equal(moat_signals_install(), MOAT_OK);
    assert_int_equal(moat_signals_pending(), 0);
    fake_t f = fresh();
    f.signal_at = sigs[t], f.signal_k = 1;
    assert_int_equal(run(&f, 5, NULL, err), MOAT_EINTR);
    assert_int_equal(moat_signals_pending(), sigs[t]);
    assert_int_equal(moat_signals_exit_code(moat_signals_pending()), codes[t]);
    assert_int_equal(f.n_stored, 2);
    assert_int_equal(f.n_computed, 2);
    assert_non_null(strstr(err, moat_signals_name(sigs[t])));
    assert_non_null(strstr(err, "after 2 scenarios"));
  }
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(order_and_skipping),
      cmocka_unit_test(failures_stop_the_run),
      cmocka_unit_test(signals_end_between_scenarios),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
