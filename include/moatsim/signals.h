/* signals.h — SIGINT / SIGTERM end a run cleanly: a handler records the signal, the runner and
 * the scenario loop look at it between paths and scenarios, main writes what is done and exits. */
#ifndef MOATSIM_SIGNALS_H
#define MOATSIM_SIGNALS_H

/* Install handlers for SIGINT and SIGTERM that only record the signal (async-signal-safe).
 * A second signal of either kind takes the default action at once (Ctrl-C twice stops a run
 * immediately, leaving the .partial file as of its last completed scenario). 0 or MOAT_ERUNTIME (sigaction failed). */
int moat_signals_install(void);

/* The first signal received since moat_signals_install (SIGINT or SIGTERM), else the one
 * moat_signals_request asked for, or 0. */
int moat_signals_pending(void);

/* Stop as if `sig` had been received (rank 0 telling a rank that got no signal itself): from
 * now on moat_signals_pending returns the received signal, else sig. A signal arriving later is
 * still the first one received (it does not take the default action). */
void moat_signals_request(int sig);

/* Exit code of a run ended by signal sig: 128 + sig (130 for SIGINT, 143 for SIGTERM). */
int moat_signals_exit_code(int sig);

/* Name of the signal, e.g. "SIGTERM". */
const char *moat_signals_name(int sig);

#endif
