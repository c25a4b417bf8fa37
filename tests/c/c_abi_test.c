/* The C ABI from a program written in C (compiled as C): a server in process, a client that
 * writes, lists its outbox, syncs, reads, and is told clearly what it did wrong. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "offsync/offsync.h"

static int failures = 0;
#define CHECK(c)                                                          \
  do {                                                                    \
    if (!(c)) {                                                           \
      fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #c); \
      ++failures;                                                         \
    }                                                                     \
  } while (0)

static int count(const char* text, const char* needle) {
  int n = 0;
  for (const char* at = text ? strstr(text, needle) : NULL; at; at = strstr(at + 1, needle)) ++n;
  return n;
}

int main(void) {
  char dir[] = "/tmp/offsync-c-abi-XXXXXX";
  if (!mkdtemp(dir)) return 2;
  char server_path[256], client_path[256];
  snprintf(server_path, sizeof server_path, "%s/server.db", dir);
  snprintf(client_path, sizeof client_path, "%s/client.db", dir);

  offsync_error err;
  offsync_server* server = offsync_server_open(server_path, &err);
  CHECK(server != NULL && err.code == OFFSYNC_OK);

  offsync_client_options options;
  memset(&options, 0, sizeof options);
  options.path = client_path;
  options.in_process_server = server;
  options.durability_normal = true;
  offsync_client* client = offsync_client_open(&options, &err);
  CHECK(client != NULL && err.code == OFFSYNC_OK);

  /* Three writes, each a mutation with a ULID. */
  for (int i = 0; i < 3; ++i) {
    char id[16];
    snprintf(id, sizeof id, "n%d", i);
    char* mutation = offsync_client_put(client, "notes", id, "{\"title\": \"offline note\"}", &err);
    CHECK(mutation != NULL && strlen(mutation) == 26);
    offsync_string_free(mutation);
  }
  char* patched = offsync_client_patch(client, "notes", "n0", "{\"title\": \"edited\"}", &err);
  CHECK(patched != NULL);
  offsync_string_free(patched);

  char* outbox = offsync_client_outbox(client, &err);
  CHECK(outbox != NULL && count(outbox, "\"state\":\"pending\"") == 3);
  offsync_string_free(outbox);

  /* What is wrong is said, and nothing is written. */
  char* bad = offsync_client_put(client, "notes", "x", "{not json", &err);
  CHECK(bad == NULL && err.code == OFFSYNC_INVALID_ARGUMENT && strstr(err.message, "fields_json") != NULL);
  bad = offsync_client_put(client, "notes", "", "{}", &err);
  CHECK(bad == NULL && err.code == OFFSYNC_INVALID_ARGUMENT);
  bad = offsync_client_put(NULL, "notes", "x", "{}", &err);
  CHECK(bad == NULL && err.code == OFFSYNC_INVALID_ARGUMENT);
  CHECK(!offsync_error_is_transient(&err));

  /* One sync: the three reach the server; the outbox is empty. */
  char* report = offsync_client_sync(client, &err);
  CHECK(report != NULL && strstr(report, "\"applied\":3") != NULL);
  offsync_string_free(report);
  outbox = offsync_client_outbox(client, &err);
  CHECK(outbox != NULL && strcmp(outbox, "[]") == 0);
  offsync_string_free(outbox);

  char* fields = offsync_client_get(client, "notes", "n0", &err);
  CHECK(fields != NULL && strstr(fields, "\"edited\"") != NULL);
  offsync_string_free(fields);
  char* missing = offsync_client_get(client, "notes", "nope", &err);
  CHECK(missing == NULL && err.code == OFFSYNC_NOT_FOUND);

  char* removed = offsync_client_remove(client, "notes", "n2", &err);
  CHECK(removed != NULL && strlen(removed) == 26);
  offsync_string_free(removed);
  CHECK(!offsync_client_wait_until_synced(client, 100, &err) && err.code == OFFSYNC_INVALID_ARGUMENT);

  /* The server's byte handler: what a Binder or XPC shim calls. */
  const char* request = "GET /v1/health HTTP/1.1\r\nHost: app\r\n\r\n";
  size_t size = 0;
  char* response = offsync_server_handle_bytes(server, (const uint8_t*)request, strlen(request), &size);
  CHECK(response != NULL && size > 12 && strncmp(response, "HTTP/1.1 200", 12) == 0);
  offsync_string_free(response);
  response = offsync_server_handle_bytes(server, (const uint8_t*)"garbage", 7, &size);
  CHECK(response != NULL && strncmp(response, "HTTP/1.1 400", 12) == 0);
  offsync_string_free(response);

  offsync_client_free(client);
  offsync_server_free(server);
  offsync_client_free(NULL);
  offsync_server_free(NULL);
  char command[300];
  snprintf(command, sizeof command, "rm -rf %s", dir);
  if (system(command) != 0) fprintf(stderr, "could not remove %s\n", dir);
  if (failures == 0) printf("c abi: all checks passed\n");
  return failures == 0 ? 0 : 1;
}
