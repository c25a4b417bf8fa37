/* The C ABI from a program written in C (compiled as C): a server in process, a client that
 * writes, lists its outbox, syncs, reads, and is told clearly what it did wrong. */
#include "c_test_support.h"

#include <unistd.h>

static int count(const char* text, const char* needle) {
  int n = 0;
  for (const char* at = text ? strstr(text, needle) : NULL; at; at = strstr(at + 1, needle)) ++n;
  return n;
}

static atomic_int live_calls;
static char live_last[4096];
static void on_result(void* context, const char* result_json, const char* change_json) {
  (void)change_json;
  if (context != (void*)live_last) return;
  snprintf(live_last, sizeof live_last, "%s", result_json);
  atomic_fetch_add(&live_calls, 1);
}

static atomic_int states;
static void on_state(void* context, const char* state, const char* reason) {
  (void)context;
  (void)reason;
  if (state && *state) atomic_fetch_add(&states, 1);
}

static void wait_for(atomic_int* counter, int at_least) {
  for (int i = 0; i < 500 && atomic_load(counter) < at_least; ++i) sleep_ms(10);
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
  /* JSON nested 100,000 deep: refused, naming the limit, and nothing crashes. */
  size_t depth = 100000;
  char* deep = malloc(2 * depth + 8);
  strcpy(deep, "{\"a\":");
  memset(deep + 5, '[', depth);
  memset(deep + 5 + depth, ']', depth);
  strcpy(deep + 5 + 2 * depth, "}");
  bad = offsync_client_put(client, "notes", "deep", deep, &err);
  CHECK(bad == NULL && err.code == OFFSYNC_INVALID_ARGUMENT && strstr(err.message, "nests deeper") != NULL);
  CHECK(offsync_client_query(client, deep, &err) == NULL && err.code == OFFSYNC_INVALID_ARGUMENT);
  free(deep);

  /* One sync: the three reach the server; the outbox is empty. */
  char* report = offsync_client_sync(client, &err);
  CHECK(report != NULL && strstr(report, "\"applied\":3") != NULL);
  offsync_string_free(report);
  outbox = offsync_client_outbox(client, &err);
  CHECK(outbox != NULL && strcmp(outbox, "[]") == 0);
  offsync_string_free(outbox);

  /* A photo: added from a file, listed by a write, uploaded before it by the sync. */
  char photo_path[256];
  snprintf(photo_path, sizeof photo_path, "%s/photo.jpg", dir);
  FILE* photo = fopen(photo_path, "wb");
  for (int i = 0; i < 300000; ++i) fputc((i * 7) & 0xff, photo);
  fclose(photo);
  char* photo_id = offsync_client_add_attachment_file(client, photo_path, "image/jpeg", &err);
  CHECK(photo_id != NULL);
  char ids[64];
  snprintf(ids, sizeof ids, "[\"%s\"]", photo_id ? photo_id : "");
  char* attached = offsync_client_put_attached(client, "photos", "p1", "{\"caption\": \"site\"}", ids, &err);
  CHECK(attached != NULL);
  offsync_string_free(attached);
  CHECK(offsync_client_put_attached(client, "photos", "p2", "{}", "[7]", &err) == NULL && err.code == OFFSYNC_INVALID_ARGUMENT);
  report = offsync_client_sync(client, &err);
  CHECK(report != NULL && strstr(report, "\"attachments_uploaded\":1") != NULL);
  offsync_string_free(report);
  char* info = photo_id ? offsync_client_attachment(client, photo_id, &err) : NULL;
  CHECK(info != NULL && strstr(info, "\"state\":\"uploaded\"") != NULL && strstr(info, "\"size\":300000") != NULL);
  offsync_string_free(info);

  char* stats = offsync_server_stats(server, &err);
  CHECK(stats != NULL && strstr(stats, "\"mutations_applied\":4") != NULL);
  offsync_string_free(stats);
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

  /* A second app over the byte pipe (the transport callback), with a live query and a sync observer. */
  char ipc_path[256];
  snprintf(ipc_path, sizeof ipc_path, "%s/ipc.db", dir);
  offsync_client_options ipc;
  memset(&ipc, 0, sizeof ipc);
  ipc.path = ipc_path;
  ipc.exchange = exchange;
  ipc.exchange_context = server;
  ipc.durability_normal = true;
  offsync_client* app = offsync_client_open(&ipc, &err);
  CHECK(app != NULL);
  const char* query = "{\"collection\": \"notes\", \"where\": [{\"path\": \"title\", \"op\": \"prefix\", \"value\": \"ed\"}],"
                      " \"order\": [{\"path\": \"title\"}], \"limit\": 10}";
  offsync_observer* live = offsync_client_watch(app, query, on_result, live_last, &err);
  CHECK(live != NULL);
  wait_for(&live_calls, 1);
  CHECK(atomic_load(&live_calls) == 1 && strcmp(live_last, "[]") == 0);
  offsync_sync_callbacks callbacks;
  memset(&callbacks, 0, sizeof callbacks);
  callbacks.on_state = on_state;
  offsync_observer* news = offsync_client_add_sync_observer(app, &callbacks, &err);
  CHECK(news != NULL);
  report = offsync_client_sync(app, &err);  /* pulls what the first app wrote, through the callback */
  CHECK(report != NULL && strstr(report, "\"pulled\":") != NULL && atomic_load(&exchanges) > 0);
  offsync_string_free(report);
  wait_for(&live_calls, 2);
  CHECK(atomic_load(&live_calls) == 2 && strstr(live_last, "\"n0\"") != NULL);
  CHECK(atomic_load(&states) > 0);
  CHECK(offsync_client_count(app, query, &err) == 1);
  char* rows = offsync_client_query(app, "{\"collection\": \"notes\", \"order\": [{\"path\": \"title\", \"desc\": true}]}", &err);
  CHECK(rows != NULL && count(rows, "\"id\"") == 3);  /* n0, n1, n2 (its removal is not sent yet) */
  offsync_string_free(rows);
  CHECK(offsync_client_query(app, "{\"collection\": \"notes\", \"where\": [{\"path\": \"a..b\", \"op\": \"==\", \"value\": 1}]}", &err) == NULL &&
        err.code == OFFSYNC_INVALID_ARGUMENT);
  CHECK(offsync_client_query(app, "{\"where\": []}", &err) == NULL && err.code == OFFSYNC_INVALID_ARGUMENT);
  offsync_observer_remove(live);
  offsync_observer_remove(news);
  int before = atomic_load(&live_calls);
  char* local = offsync_client_put(app, "notes", "n9", "{\"title\": \"edge\"}", &err);
  offsync_string_free(local);
  CHECK(atomic_load(&live_calls) == before);

  /* The photo reaches the second app: downloaded (SHA-256 checked) and exported byte for byte. */
  CHECK(photo_id && offsync_client_download_attachment(app, photo_id, &err));
  char copy_path[256];
  snprintf(copy_path, sizeof copy_path, "%s/copy.jpg", dir);
  CHECK(photo_id && offsync_client_export_attachment(app, photo_id, copy_path, &err));
  FILE* copy = fopen(copy_path, "rb");
  int same = copy != NULL;
  for (int i = 0; same && i < 300000; ++i) same = fgetc(copy) == ((i * 7) & 0xff);
  same = same && fgetc(copy) == EOF;
  if (copy) fclose(copy);
  CHECK(same);
  CHECK(!offsync_client_download_attachment(app, "no-such-photo", &err) && err.code != OFFSYNC_OK);
  offsync_string_free(photo_id);

  /* Server options: a schema that does not parse is refused, naming why. */
  offsync_server_options bad_schema;
  memset(&bad_schema, 0, sizeof bad_schema);
  bad_schema.db_path = server_path;
  bad_schema.schema_json = "{\"collections\": 7}";
  CHECK(offsync_server_open_with(&bad_schema, &err) == NULL && err.code == OFFSYNC_INVALID_ARGUMENT);

  /* A write the user gives up before it is sent. */
  outbox = offsync_client_outbox(app, &err);
  CHECK(outbox != NULL && count(outbox, "\"id\"") == 1);
  char* id_start = outbox ? strstr(outbox, "\"id\":\"") : NULL;
  if (id_start) {
    char mutation[27];
    memcpy(mutation, id_start + 6, 26);
    mutation[26] = '\0';
    CHECK(offsync_client_discard(app, mutation, &err));
  }
  offsync_string_free(outbox);
  CHECK(offsync_client_get(app, "notes", "n9", &err) == NULL && err.code == OFFSYNC_NOT_FOUND);
  CHECK(offsync_client_sign_in(app, "alice", "token-1", NULL, &err));
  CHECK(offsync_client_sign_out(app, &err) == 0);
  CHECK(!offsync_client_resolve(app, "nope", 7, NULL, &err) && err.code == OFFSYNC_INVALID_ARGUMENT);
  offsync_client_free(app);

  offsync_client_free(client);
  offsync_server_free(server);
  offsync_client_free(NULL);
  offsync_server_free(NULL);
  return finish("c abi", dir);
}
