/* message_check.h — test helper: an error message holds every expected fragment. */
#ifndef MOATSIM_TESTS_MESSAGE_CHECK_H
#define MOATSIM_TESTS_MESSAGE_CHECK_H

#include <stdarg.h>
#include <string.h>

/* Fails the test unless msg contains each string of the NULL-terminated list ap. */
static inline void assert_message_has(const char *msg, va_list ap) {
  for (const char *needle; (needle = va_arg(ap, const char *)) != NULL;) {
    if (!strstr(msg, needle)) {
      print_error("message \"%s\" lacks \"%s\"\n", msg, needle);
      fail();
    }
  }
}

#endif
