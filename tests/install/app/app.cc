// An app outside offsync's tree, built against the installed copy (tests/install/run.sh): it
// writes a record offline-first, syncs it to the server at argv[1] over libcurl, and checks that the
// server acknowledged it. Exit 0 only when all of that held.
#include <offsync/client.h>
#include <offsync/transport.h>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: app SERVER_URL CLIENT_DB LABEL\n");
    return 2;
  }
  auto transport = offsync::make_curl_transport({.base_url = argv[1]});
  if (!transport) {
    std::fprintf(stderr, "transport: %s\n", transport.status().to_string().c_str());
    return 1;
  }
  offsync::ClientOptions options;
  options.path = argv[2];
  options.sync.transport = std::move(*transport);
  options.sync.background = false;
  auto client = offsync::Client::open(std::move(options));
  if (!client) {
    std::fprintf(stderr, "open: %s\n", client.status().to_string().c_str());
    return 1;
  }
  auto id = (*client)->put("notes", argv[3], {{"built_with", argv[3]}});
  if (!id) return 1;
  auto report = (*client)->sync_once();
  if (!report || report->applied != 1 || !(*client)->outbox()->empty()) {
    std::fprintf(stderr, "sync: %s\n", report ? "not acknowledged" : report.status().to_string().c_str());
    return 1;
  }
  std::printf("synced %s as mutation %s\n", argv[3], id->c_str());
  return 0;
}
