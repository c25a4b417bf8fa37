/* An app in C outside offsync's tree, built against the installed shared library through the C
 * ABI (find_package, and pkg-config): it writes a record, lists its outbox, syncs it to the server
 * at argv[1] and checks that the outbox is empty after. Exit 0 only when all of that held. */
#include <offsync/offsync.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: app_c SERVER_URL CLIENT_DB LABEL\n");
    return 2;
  }
  offsync_error err;
  offsync_client_options options;
  memset(&options, 0, sizeof options);
  options.path = argv[2];
  options.server_url = argv[1];
  offsync_client* client = offsync_client_open(&options, &err);
  if (!client) {
    fprintf(stderr, "open: %s\n", err.message);
    return 1;
  }
  char fields[256];
  snprintf(fields, sizeof fields, "{\"built_with\": \"%s\"}", argv[3]);
  char* id = offsync_client_put(client, "notes", argv[3], fields, &err);
  char* outbox = offsync_client_outbox(client, &err);
  int queued = outbox && strstr(outbox, argv[3]) != NULL;
  offsync_string_free(outbox);
  char* report = offsync_client_sync(client, &err);
  int applied = report && strstr(report, "\"applied\":1") != NULL;
  offsync_string_free(report);
  outbox = offsync_client_outbox(client, &err);
  int drained = outbox && strcmp(outbox, "[]") == 0;
  offsync_string_free(outbox);
  int ok = id && queued && applied && drained;
  if (ok) printf("synced %s as mutation %s through the C ABI\n", argv[3], id);
  else fprintf(stderr, "C ABI: queued %d applied %d drained %d: %s\n", queued, applied, drained, err.message);
  offsync_string_free(id);
  offsync_client_free(client);
  return ok ? 0 : 1;
}
