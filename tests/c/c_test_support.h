/* What the C ABI's test programs share (each is one translation unit, compiled as C): CHECK, time,
 * and the app's IPC shim that carries request bytes to a provider's byte handler in this process,
 * as a Binder transaction would. */
#ifndef OFFSYNC_TESTS_C_TEST_SUPPORT_H
#define OFFSYNC_TESTS_C_TEST_SUPPORT_H

#define _POSIX_C_SOURCE 200809L
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "offsync/offsync.h"

static int failures = 0;
#define CHECK(c)                                                          \
  do {                                                                    \
    if (!(c)) {                                                           \
      fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #c); \
      ++failures;                                                         \
    }                                                                     \
  } while (0)

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void sleep_ms(int ms) {
  struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&t, NULL);
}

/* The shim's exchange callback: context is the provider's offsync_server. */
static atomic_int exchanges;
static bool exchange(void* context, const uint8_t* request, size_t request_size, uint8_t** response,
                     size_t* response_size) {
  char* answer = offsync_server_handle_bytes((offsync_server*)context, request, request_size, response_size);
  if (!answer) return false;
  *response = malloc(*response_size);
  memcpy(*response, answer, *response_size);
  offsync_string_free(answer);
  atomic_fetch_add(&exchanges, 1);
  return true;
}

/* Removes a test's scratch directory and says how the checks went: the program's exit code. */
static int finish(const char* name, const char* dir) {
  char command[400];
  snprintf(command, sizeof command, "rm -rf %s", dir);
  if (system(command) != 0) fprintf(stderr, "could not remove %s\n", dir);
  if (failures == 0) printf("%s: all checks passed\n", name);
  return failures == 0 ? 0 : 1;
}

#endif
