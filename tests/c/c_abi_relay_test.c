/* The C ABI's provider side, from a program written in C (compiled as C): a cloud server listening
 * on TCP, a provider app's server relaying to it (upstream_url) and listening on a Unix socket, a
 * client that syncs through that socket, and a client on a Binder-like byte pipe whose long poll
 * (watch_exchange, answered with offsync_server_handle_bytes_async) brings another device's change
 * without a sync call, then is cancelled when the client closes. */
#include "c_test_support.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

/* Whether something accepts TCP connections at url ("http://127.0.0.1:PORT"). */
static bool accepts(const char* url) {
  const char* colon = strrchr(url, ':');
  if (!colon) return false;
  struct sockaddr_in at;
  memset(&at, 0, sizeof at);
  at.sin_family = AF_INET;
  at.sin_port = htons((uint16_t)atoi(colon + 1));
  at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  bool connected = connect(fd, (struct sockaddr*)&at, sizeof at) == 0;
  close(fd);
  return connected;
}

/* The cloud's figure `name` from offsync_server_stats, or -1. */
static long stat_of(offsync_server* server, const char* name) {
  offsync_error err;
  char* stats = offsync_server_stats(server, &err);
  if (!stats) return -1;
  char key[64];
  snprintf(key, sizeof key, "\"%s\":", name);
  const char* at = strstr(stats, key);
  long value = at ? strtol(at + strlen(key), NULL, 10) : -1;
  offsync_string_free(stats);
  return value;
}

/* The long poll, carried asynchronously as a Binder callback or an XPC reply would: the provider
 * answers it later, on its long-poll thread. */
typedef struct watch_shim {
  offsync_server* provider;
  offsync_peer* peer;  /* the app at the other end, for the provider (linkToDeath) */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool cancelled;
  atomic_int polls;   /* long polls sent */
  atomic_int pushes;  /* long polls the provider answered */
} watch_shim;

/* One long poll in flight: freed by whichever of the exchange and the answer finishes last. */
typedef struct poll_call {
  watch_shim* shim;
  bool answered;
  uint8_t* bytes;
  size_t size;
  atomic_int refs;
} poll_call;

static void release_call(poll_call* call) {
  if (atomic_fetch_sub(&call->refs, 1) == 1) {
    free(call->bytes);
    free(call);
  }
}

static void poll_answered(void* context, const uint8_t* response, size_t response_size) {
  poll_call* call = (poll_call*)context;
  pthread_mutex_lock(&call->shim->mu);
  call->bytes = malloc(response_size ? response_size : 1);
  memcpy(call->bytes, response, response_size);
  call->size = response_size;
  call->answered = true;
  pthread_cond_broadcast(&call->shim->cv);
  pthread_mutex_unlock(&call->shim->mu);
  release_call(call);
}

static bool watch_exchange(void* context, const uint8_t* request, size_t request_size, uint8_t** response,
                           size_t* response_size) {
  watch_shim* shim = (watch_shim*)context;
  poll_call* call = calloc(1, sizeof *call);
  call->shim = shim;
  atomic_init(&call->refs, 2);
  atomic_fetch_add(&shim->polls, 1);
  offsync_server_handle_bytes_async_from(shim->provider, shim->peer, request, request_size, poll_answered, call);
  pthread_mutex_lock(&shim->mu);
  while (!call->answered && !shim->cancelled) pthread_cond_wait(&shim->cv, &shim->mu);
  bool ok = call->answered;
  if (ok) {
    *response = call->bytes;
    *response_size = call->size;
    call->bytes = NULL;
  }
  pthread_mutex_unlock(&shim->mu);
  release_call(call);
  if (ok && *response_size >= 12 && memcmp(*response, "HTTP/1.1 200", 12) == 0) {
    atomic_fetch_add(&shim->pushes, 1);
  }
  return ok;
}

static void watch_cancel(void* context) {
  watch_shim* shim = (watch_shim*)context;
  pthread_mutex_lock(&shim->mu);
  shim->cancelled = true;
  pthread_cond_broadcast(&shim->cv);
  pthread_mutex_unlock(&shim->mu);
}

static atomic_int heard;
static char heard_last[4096];
static void on_result(void* context, const char* result_json, const char* change_json) {
  (void)context;
  (void)change_json;
  snprintf(heard_last, sizeof heard_last, "%s", result_json);
  atomic_fetch_add(&heard, 1);
}

int main(void) {
  char dir[] = "/tmp/offsync-c-relay-XXXXXX";
  if (!mkdtemp(dir)) return 2;
  char path[6][300];
  const char* names[6] = {"cloud.db", "provider.db", "app.db", "web.db", "binder.db", "provider.sock"};
  for (int i = 0; i < 6; ++i) snprintf(path[i], sizeof path[i], "%s/%s", dir, names[i]);
  offsync_error err;

  /* The cloud, on a loopback port; addresses that cannot be listened on are named. */
  offsync_server* cloud = offsync_server_open(path[0], &err);
  CHECK(cloud != NULL);
  CHECK(offsync_server_listen(cloud, "udp:127.0.0.1:1", &err) == NULL && err.code == OFFSYNC_INVALID_ARGUMENT &&
        strstr(err.message, "udp:127.0.0.1:1") != NULL);
  CHECK(offsync_server_listen(cloud, "tcp:127.0.0.1:99999", &err) == NULL && err.code == OFFSYNC_INVALID_ARGUMENT);
  CHECK(offsync_server_listen(cloud, "tcp:no-such-address:0", &err) == NULL && err.code != OFFSYNC_OK);
  offsync_listener* cloud_listener = offsync_server_listen(cloud, "tcp:127.0.0.1:0", &err);
  CHECK(cloud_listener != NULL && err.code == OFFSYNC_OK);
  char* cloud_url = offsync_listener_address(cloud_listener);
  CHECK(cloud_url != NULL && strncmp(cloud_url, "http://127.0.0.1:", 17) == 0);

  /* The provider app's server: relays to the cloud, serves local apps on a Unix socket. */
  offsync_server_options relay;
  memset(&relay, 0, sizeof relay);
  relay.db_path = path[1];
  relay.upstream_url = cloud_url;
  relay.durability_normal = true;
  offsync_server* provider = offsync_server_open_with(&relay, &err);
  CHECK(provider != NULL);
  char unix_address[320];
  snprintf(unix_address, sizeof unix_address, "unix:%s", path[5]);
  offsync_listener* local = offsync_server_listen(provider, unix_address, &err);
  CHECK(local != NULL);
  char* local_address = offsync_listener_address(local);
  CHECK(local_address != NULL && strcmp(local_address, unix_address) == 0);
  offsync_string_free(local_address);

  /* An app writes through the socket; the provider answers at once and relays to the cloud. */
  offsync_client_options o;
  memset(&o, 0, sizeof o);
  o.path = path[2];
  o.server_url = "http://localhost";
  o.unix_socket = path[5];
  o.durability_normal = true;
  offsync_client* app = offsync_client_open(&o, &err);
  CHECK(app != NULL);
  for (int i = 0; i < 3; ++i) {
    char id[8];
    snprintf(id, sizeof id, "n%d", i);
    offsync_string_free(offsync_client_put(app, "notes", id, "{\"title\": \"from the app\"}", &err));
  }
  char* report = offsync_client_sync(app, &err);
  CHECK(report != NULL && strstr(report, "\"applied\":3") != NULL);
  offsync_string_free(report);
  double until = now_s() + 20;
  while (stat_of(cloud, "mutations_applied") < 3 && now_s() < until) sleep_ms(20);
  CHECK(stat_of(cloud, "mutations_applied") == 3);

  /* A web device on the cloud reads them. */
  memset(&o, 0, sizeof o);
  o.path = path[3];
  o.server_url = cloud_url;
  o.durability_normal = true;
  offsync_client* web = offsync_client_open(&o, &err);
  CHECK(web != NULL);
  offsync_string_free(offsync_client_sync(web, &err));
  char* fields = offsync_client_get(web, "notes", "n2", &err);
  CHECK(fields != NULL && strstr(fields, "from the app") != NULL);
  offsync_string_free(fields);

  /* A second app on the byte pipe, with push: its long poll is held by the provider. */
  static watch_shim shim;
  shim.provider = provider;
  shim.peer = offsync_peer_new();
  pthread_mutex_init(&shim.mu, NULL);
  pthread_cond_init(&shim.cv, NULL);
  memset(&o, 0, sizeof o);
  o.path = path[4];
  o.exchange = exchange;
  o.exchange_context = provider;
  o.watch_exchange = watch_exchange;
  o.watch_context = &shim;
  o.watch_cancel = watch_cancel;
  o.watch_wait_s = 30;
  o.background = true;
  o.durability_normal = true;
  offsync_client_options too_long = o;
  too_long.watch_wait_s = 61;
  CHECK(offsync_client_open(&too_long, &err) == NULL && err.code == OFFSYNC_INVALID_ARGUMENT &&
        strstr(err.message, "watch_wait_s") != NULL);
  offsync_client* binder = offsync_client_open(&o, &err);
  CHECK(binder != NULL);
  offsync_observer* live = offsync_client_watch(binder, "{\"collection\": \"notes\", \"order\": [{\"path\": \"title\"}]}",
                                                on_result, NULL, &err);
  CHECK(live != NULL);
  until = now_s() + 20;
  while ((atomic_load(&heard) == 0 || strstr(heard_last, "\"n2\"") == NULL || atomic_load(&shim.polls) < 2) &&
         now_s() < until) {
    sleep_ms(20);
  }
  CHECK(strstr(heard_last, "\"n2\"") != NULL);  /* the worker's first round pulled the app's notes */
  CHECK(atomic_load(&shim.polls) >= 1);

  /* The web device writes to the cloud; the cloud's push reaches the provider, whose held poll
   * answers the binder app, which syncs by itself: nobody calls sync on it. */
  double written = now_s();
  offsync_string_free(offsync_client_put(web, "notes", "w1", "{\"title\": \"pushed from the web\"}", &err));
  offsync_string_free(offsync_client_sync(web, &err));
  until = now_s() + 20;
  while (strstr(heard_last, "pushed from the web") == NULL && now_s() < until) sleep_ms(5);
  CHECK(strstr(heard_last, "pushed from the web") != NULL);
  CHECK(atomic_load(&shim.pushes) >= 1);
  printf("a web write reached the binder app by push in %.0f ms\n", (now_s() - written) * 1000);

  /* An app without push (watch_wait_s < 0) hears of the web's write only when asked: sync_now. */
  char quiet_path[320];
  snprintf(quiet_path, sizeof quiet_path, "%s/quiet.db", dir);
  offsync_client_options q = o;
  q.path = quiet_path;
  q.watch_exchange = NULL;
  q.watch_wait_s = -1;
  offsync_client* quiet = offsync_client_open(&q, &err);
  CHECK(quiet != NULL);
  until = now_s() + 20;
  while (offsync_client_count(quiet, "{\"collection\": \"notes\"}", &err) < 4 && now_s() < until) sleep_ms(10);
  offsync_string_free(offsync_client_put(web, "notes", "w2", "{\"title\": \"second from the web\"}", &err));
  offsync_string_free(offsync_client_sync(web, &err));
  until = now_s() + 20;
  while (stat_of(provider, "changes") < 5 && now_s() < until) sleep_ms(10);  /* the provider has it */
  sleep_ms(300);
  char* w2 = offsync_client_get(quiet, "notes", "w2", &err);
  CHECK(w2 == NULL && err.code == OFFSYNC_NOT_FOUND);
  offsync_client_sync_now(quiet);
  until = now_s() + 20;
  while ((w2 = offsync_client_get(quiet, "notes", "w2", &err)) == NULL && now_s() < until) sleep_ms(10);
  CHECK(w2 != NULL);
  offsync_string_free(w2);

  /* Offline (the platform said so), a write waits and the status says why; online, it drains. */
  CHECK(!offsync_client_set_connectivity(quiet, 7, &err) && err.code == OFFSYNC_INVALID_ARGUMENT);
  CHECK(offsync_client_set_connectivity(quiet, OFFSYNC_OFFLINE, &err));
  offsync_string_free(offsync_client_put(quiet, "notes", "q1", "{\"title\": \"on the train\"}", &err));
  sleep_ms(300);
  char* status = offsync_client_status(quiet, &err);
  CHECK(status != NULL && strstr(status, "\"state\":\"offline\"") != NULL && strstr(status, "\"pending\":1") != NULL);
  offsync_string_free(status);
  CHECK(offsync_client_set_connectivity(quiet, OFFSYNC_ONLINE, &err));
  until = now_s() + 20;
  bool drained = false;
  while (!drained && now_s() < until) {
    status = offsync_client_status(quiet, &err);
    drained = status != NULL && strstr(status, "\"pending\":0") != NULL;
    offsync_string_free(status);
    if (!drained) sleep_ms(10);
  }
  CHECK(drained);
  CHECK(offsync_client_set_token(quiet, "a-new-token", &err));
  CHECK(!offsync_client_set_token(quiet, NULL, &err) && err.code == OFFSYNC_INVALID_ARGUMENT);
  offsync_client_free(quiet);

  /* Closing the app cancels its held long poll at once (30 s wait). */
  until = now_s() + 5;
  int polls = atomic_load(&shim.polls);
  while (atomic_load(&shim.polls) == polls && now_s() < until) sleep_ms(5);  /* the next poll is held */
  sleep_ms(50);
  offsync_observer_remove(live);
  double closing = now_s();
  offsync_client_free(binder);
  double took = now_s() - closing;
  CHECK(took < 2.0);
  printf("closing the binder app with a held long poll took %.0f ms\n", took * 1000);
  /* The provider still holds that poll until the carrier says the app died (linkToDeath). */
  CHECK(stat_of(provider, "long_polls_held") == 1);
  offsync_peer_gone(shim.peer);
  offsync_peer_free(shim.peer);  /* the held call keeps what it needs */
  until = now_s() + 5;
  while (stat_of(provider, "long_polls_held") != 0 && now_s() < until) sleep_ms(20);
  CHECK(stat_of(provider, "long_polls_held") == 0);

  offsync_client_free(web);
  offsync_client_free(app);
  offsync_listener_free(local);
  offsync_server_free(provider);  /* answers the cancelled poll, if still held */
  /* The cloud's server freed before its listener: the listener stops with it (nothing serves a
   * freed server), and its handle stays good until freed. */
  offsync_server_free(cloud);
  CHECK(!accepts(cloud_url));
  char* still = offsync_listener_address(cloud_listener);
  CHECK(still && strcmp(still, cloud_url) == 0);
  offsync_string_free(still);
  offsync_listener_free(cloud_listener);
  offsync_string_free(cloud_url);
  offsync_listener_free(NULL);
  return finish("c abi relay", dir);
}
