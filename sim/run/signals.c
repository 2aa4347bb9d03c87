/* signals.c — record SIGINT / SIGTERM so that a run stops between paths and keeps what it wrote. */
#include "moatsim/signals.h"

#include <signal.h>
#include <string.h>

#include "moatsim/scenario.h"

/* The one piece of process-wide state: a signal handler can reach nothing else. */
static volatile sig_atomic_t received;
/* A stop asked for by another rank (moat_signals_request): not a signal this process received,
 * so a real one arriving afterwards is still the first (no default action yet). */
static volatile sig_atomic_t requested;

static void on_signal(int sig) {
  if (received) { /* a second signal: the default action, at once */
    signal(sig, SIG_DFL);
    raise(sig);
  }
  received = sig;
}

int moat_signals_install(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART; /* system calls in progress (HDF5's writes, MPI) carry on */
  sigemptyset(&sa.sa_mask);
  received = requested = 0;
  if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0) return MOAT_ERUNTIME;
  return MOAT_OK;
}

int moat_signals_pending(void) { return received ? (int)received : (int)requested; }

void moat_signals_request(int sig) { requested = sig; }

int moat_signals_exit_code(int sig) { return 128 + sig; }

const char *moat_signals_name(int sig) {
  return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal";
}
