// The `offsync client` commands as scripts use them: docs/protocol.md's spellings, --json, exit codes.
#include <doctest/doctest.h>

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "e2e/process.h"
#include "offsync/client.h"
#include "offsync/ulid.h"
#include "support.h"

using nlohmann::json;
using offsync::test::ProcessResult;
using offsync::test::run_process;
using offsync::test::ScratchDir;

namespace {

struct Cli {
  std::string db;
  ProcessResult operator()(std::vector<std::string> args) const {
    args.insert(args.begin(), {OFFSYNC_BIN, "client", "--db", db});
    return run_process(args);
  }
};

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

TEST_CASE("put prints the mutation's ULID, and get, list and outbox show the offline write") {
  ScratchDir dir;
  Cli cli{dir.file("c.db")};
  auto put = cli({"put", "notes", "n1", R"({"title":"hello"})"});
  REQUIRE(put.exit_code == 0);
  std::string id = trimmed(put.out);
  CHECK(offsync::Ulid::parse(id).is_ok());

  auto get = cli({"get", "notes", "n1", "--json"});
  REQUIRE(get.exit_code == 0);
  CHECK(json::parse(get.out) == json({{"collection", "notes"}, {"record", "n1"}, {"fields", {{"title", "hello"}}}}));

  auto list = cli({"--json", "list", "notes"});
  REQUIRE(list.exit_code == 0);
  CHECK(json::parse(list.out).size() == 1);

  auto outbox = cli({"outbox", "--json"});
  REQUIRE(outbox.exit_code == 0);
  json rows = json::parse(outbox.out);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0]["id"] == id);
  CHECK(rows[0]["op"] == "upsert");
  CHECK(rows[0]["state"] == "pending");
  CHECK(rows[0]["collection"] == "notes");
}

TEST_CASE("put without a record id makes a record with a fresh ULID id") {
  ScratchDir dir;
  Cli cli{dir.file("c.db")};
  auto put = cli({"put", "notes", R"({"title":"new"})", "--json"});
  REQUIRE(put.exit_code == 0);
  json out = json::parse(put.out);
  CHECK(offsync::Ulid::parse(out["record"].get<std::string>()).is_ok());
  CHECK(cli({"get", "notes", out["record"]}).exit_code == 0);
}

TEST_CASE("patch, remove and discard work from the command line, and status counts the outbox") {
  ScratchDir dir;
  Cli cli{dir.file("c.db")};
  REQUIRE(cli({"put", "notes", "a", R"({"v":1})"}).exit_code == 0);
  REQUIRE(cli({"put", "notes", "b", R"({"v":1})"}).exit_code == 0);
  REQUIRE(cli({"patch", "notes", "a", R"({"w":2})"}).exit_code == 0);
  CHECK(json::parse(cli({"get", "notes", "a", "--json"}).out)["fields"] == json({{"v", 1}, {"w", 2}}));

  auto status = cli({"status", "--json"});
  REQUIRE(status.exit_code == 0);
  json s = json::parse(status.out);
  CHECK(s["pending"] == 2);
  CHECK(s["rejected"] == 0);
  CHECK(s["conflicts"] == 0);
  CHECK(s["oldest_pending_age_s"].is_number());

  auto removed = cli({"remove", "notes", "b"});
  REQUIRE(removed.exit_code == 0);
  CHECK(removed.out.find("nothing to send") != std::string::npos);  // created offline, never sent

  std::string a_id = json::parse(cli({"outbox", "--json"}).out)[0]["id"];
  auto discarded = cli({"discard", a_id});
  REQUIRE(discarded.exit_code == 0);
  CHECK(cli({"get", "notes", "a"}).exit_code != 0);
  CHECK(json::parse(cli({"status", "--json"}).out)["pending"] == 0);
}

TEST_CASE("bad input exits non-zero with one line naming what was wrong, and writes nothing") {
  ScratchDir dir;
  Cli cli{dir.file("c.db")};
  REQUIRE(cli({"put", "notes", "n1", R"({"v":1})"}).exit_code == 0);
  struct Case {
    std::vector<std::string> args;
    std::string words;
  };
  for (const Case& c : std::vector<Case>{
           {{"put", "notes", "n2", "{not json"}, "payload is not valid JSON"},
           {{"put", "notes", "n2", "[1,2]"}, "payload is not a JSON object"},
           {{"put", "bad/name", "n2", "{}"}, "collection 'bad/name'"},
           {{"patch", "notes", "ghost", "{}"}, "no record notes/ghost"},
           {{"remove", "notes", "ghost"}, "no record notes/ghost"},
           {{"get", "notes", "ghost"}, "no record notes/ghost"},
           {{"discard", "01ARZ3NDEKTSV4RRFFQ69G5FAV"}, "no mutation"},
           {{"frobnicate"}, "frobnicate"},
       }) {
    auto r = cli(c.args);
    CHECK(r.exit_code != 0);
    CHECK_MESSAGE(r.err.find(c.words) != std::string::npos, r.err);
    CHECK_MESSAGE(std::count(r.err.begin(), r.err.end(), '\n') == 1, r.err);
  }
  CHECK(json::parse(cli({"outbox", "--json"}).out).size() == 1);
}

TEST_CASE("every client subcommand has --help") {
  for (const char* sub : {"put", "patch", "remove", "get", "list", "outbox", "status", "discard"}) {
    auto r = run_process({OFFSYNC_BIN, "client", "--db", "/tmp/unused.db", sub, "--help"});
    CHECK_MESSAGE(r.exit_code == 0, sub);
    CHECK(r.out.find("Usage") != std::string::npos);
  }
}

TEST_CASE("the demo tells the whole story: IPC provider on demand, offline writes, a cut upload, a conflict, the evidence") {
  ScratchDir dir;
  auto r = run_process({OFFSYNC_BIN, "demo", "--dir", dir.file("demo")});
  REQUIRE_MESSAGE(r.exit_code == 0, std::string(r.out + r.err));
  CHECK(r.out.find("round 2: the upload resumes at byte 1048576") != std::string::npos);
  CHECK(r.out.find("refused: notes/scratch: 422 missing_required_field") != std::string::npos);
  CHECK(r.out.find("conflict escalated on notes/lesson-3") != std::string::npos);
  CHECK(r.out.find("photo: identical") != std::string::npos);
  CHECK(r.out.find("math app outbox depth                         0") != std::string::npos);
  CHECK(r.out.find("cloud: mutations applied                      7") != std::string::npos);
  CHECK(r.out.find("The story held.") != std::string::npos);
  // --json: the evidence alone on stdout, the story on stderr.
  auto j = run_process({OFFSYNC_BIN, "demo", "--json", "--dir", dir.file("demo-json")});
  REQUIRE_MESSAGE(j.exit_code == 0, j.err);
  json evidence = json::parse(j.out);
  CHECK(evidence["held"] == true);
  CHECK(evidence["math_outbox_depth"] == 0);
  CHECK(evidence["cloud_mutations_applied"] == 7);
  CHECK(evidence["rejected"].size() == 1);
  CHECK(j.err.find("== Evidence") != std::string::npos);
}

TEST_CASE("offsync-bench local-write prints one JSON object with both durability settings") {
  auto r = run_process({OFFSYNC_BENCH_BIN, "local-write", "--json", "--writes-full", "20", "--writes-normal", "50",
                        "--rounds", "1"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  json out = json::parse(r.out);
  for (const char* setting : {"full", "normal"}) {
    CHECK(out[setting]["engine_rows_per_s"].get<double>() > 0);
    CHECK(out[setting]["raw_sqlite_rows_per_s"].get<double>() > 0);
    CHECK(out[setting]["ratio_engine_over_raw"].get<double>() > 0);
  }
}

TEST_CASE("offsync-bench server-apply prints single and batch figures against raw SQLite") {
  auto r = run_process({OFFSYNC_BENCH_BIN, "server-apply", "--json", "--single", "20", "--batched", "200",
                        "--batch-size", "50", "--rounds", "1"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  json out = json::parse(r.out);
  for (const char* path : {"single", "batch"}) {
    CHECK(out[path]["engine_mutations_per_s"].get<double>() > 0);
    CHECK(out[path]["ratio_engine_over_raw"].get<double>() > 0);
  }
}

TEST_CASE("offsync-bench drain and pull print their figures") {
  auto drain = run_process({OFFSYNC_BENCH_BIN, "drain", "--json", "--mutations", "300", "--baseline", "30",
                            "--rss-mutations", "200"});
  REQUIRE_MESSAGE(drain.exit_code == 0, drain.err);
  json d = json::parse(drain.out);
  CHECK(d["engine_mutations_per_s"].get<double>() > 0);
  CHECK(d["ratio_engine_over_loop"].get<double>() > 0);
  CHECK(d["peak_rss_mib_draining"].get<double>() > 0);
  auto pull = run_process({OFFSYNC_BENCH_BIN, "pull", "--json", "--changes", "300", "--small", "50", "--large", "500"});
  REQUIRE_MESSAGE(pull.exit_code == 0, pull.err);
  json p = json::parse(pull.out);
  CHECK(p["changes_per_s"].get<double>() > 0);
  CHECK(p["ratio_large_over_small"].get<double>() > 0);
}

TEST_CASE("--version prints the version, and options may come before or after the subcommand") {
  ScratchDir dir;
  auto version = run_process({OFFSYNC_BIN, "--version"});
  CHECK(version.exit_code == 0);
  CHECK(version.out.rfind("offsync 0.", 0) == 0);
  std::string db = dir.file("c.db");
  auto after = run_process({OFFSYNC_BIN, "client", "put", "notes", "n1", R"({"v":1})", "--db", db});
  REQUIRE(after.exit_code == 0);
  auto before = run_process({OFFSYNC_BIN, "client", "--db", db, "--json", "get", "notes", "n1"});
  REQUIRE(before.exit_code == 0);
  CHECK(json::parse(before.out)["fields"] == json({{"v", 1}}));
  auto mixed = run_process({OFFSYNC_BIN, "client", "get", "--db", db, "notes", "n1", "--json"});
  CHECK(mixed.exit_code == 0);
}

TEST_CASE("sync against an unreachable server exits 3 and says why") {
  ScratchDir dir;
  Cli cli{dir.file("c.db")};
  REQUIRE(cli({"put", "notes", "n1", R"({"v":1})"}).exit_code == 0);
  auto sync = run_process({OFFSYNC_BIN, "client", "--db", dir.file("c.db"), "--server", "http://127.0.0.1:1", "sync"});
  CHECK(sync.exit_code == 3);
  CHECK(sync.out.find("could not be reached: ") != std::string::npos);
  CHECK(sync.out.find("127.0.0.1:1") != std::string::npos);
}

TEST_CASE("offsync-bench ipc prints its round trips and ratios as one JSON object") {
  auto r = run_process({OFFSYNC_BENCH_BIN, "ipc", "--json", "--requests", "50", "--rounds", "1"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  json out = json::parse(r.out);
  CHECK(out["benchmark"] == "ipc");
  for (const char* key : {"tcp_round_trip_us", "ipc_round_trip_us", "raw_socket_round_trip_us"}) {
    CAPTURE(key);
    CHECK(out[key].get<double>() > 0);
  }
  CHECK(out["ratio_ipc_over_tcp"].get<double>() > 0);
}

TEST_CASE("client sign-out says how many unsent mutations it discards, then leaves nothing behind") {
  ScratchDir dir;
  Cli cli{dir.file("c.db")};
  REQUIRE(cli({"put", "notes", "n1", R"({"text":"sign-out-marker"})"}).exit_code == 0);
  REQUIRE(cli({"put", "notes", "n2", R"({"text":"other"})"}).exit_code == 0);
  auto out = cli({"sign-out"});
  CHECK(out.exit_code == 0);
  CHECK(out.out.find("discarding 2 unsent mutation(s)") != std::string::npos);
  CHECK(trimmed(cli({"list", "notes", "--json"}).out) == "[]");
  std::ifstream in(dir.file("c.db"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(bytes.find("sign-out-marker") == std::string::npos);
}

TEST_CASE("every command of PROTOCOL.md's fixed core lists --help and --json in its help") {
  const std::vector<std::vector<std::string>> commands = {
      {"serve"}, {"client", "put"}, {"client", "patch"}, {"client", "remove"}, {"client", "get"},
      {"client", "list"}, {"client", "outbox"}, {"client", "status"}, {"client", "sync"},
      {"client", "resolve"}, {"client", "discard"}, {"client", "sign-out"}, {"admin", "stats"},
      {"admin", "compact"}, {"admin", "rotate-cursor"}, {"auth", "approve"}, {"proxy"}, {"demo"}};
  for (auto args : commands) {
    std::string name;
    for (const auto& a : args) name += (name.empty() ? "" : " ") + a;
    args.insert(args.begin(), OFFSYNC_BIN);
    args.push_back("--help");
    auto help = run_process(args);
    CHECK_MESSAGE(help.exit_code == 0, name);
    CHECK_MESSAGE(help.out.find("--json") != std::string::npos, name << " --help does not list --json");
  }
}

TEST_CASE("query, count and query --explain read an app's store, and leave its declared indexes in place") {
  ScratchDir dir;
  Cli cli{dir.file("c.db")};
  {
    offsync::ClientOptions options{.path = dir.file("c.db"), .durability = offsync::Durability::kNormal};
    options.indexes = std::vector<offsync::IndexSpec>{{"notes", {"course", "due"}}};
    auto app = offsync::Client::open(options);
    REQUIRE(app.is_ok());
    for (int i = 0; i < 200; ++i) {
      REQUIRE((*app)->put("notes", "n" + std::to_string(i), {{"course", i % 5 ? "art" : "math"}, {"due", i}}).is_ok());
    }
  }
  const std::string math = R"({"collection":"notes","where":[{"path":"course","op":"==","value":"math"},)"
                           R"({"path":"due","op":">=","value":100}],"order":[{"path":"due","desc":true}],"limit":3})";
  auto rows = cli({"query", math, "--json"});
  REQUIRE_MESSAGE(rows.exit_code == 0, rows.err);
  json listed = json::parse(rows.out);
  REQUIRE(listed.size() == 3);
  CHECK(listed[0]["record"] == "n195");
  CHECK(listed[2]["record"] == "n185");
  CHECK(trimmed(cli({"count", math}).out) == "20");  // count ignores the limit
  auto plan = cli({"query", "--explain", math, "--json"});
  REQUIRE(plan.exit_code == 0);
  CHECK(json::parse(plan.out)["uses_index"] == true);
  // The command declared no index, and the app's is still there for the app.
  CHECK(json::parse(cli({"query", "--explain", math, "--json"}).out)["uses_index"] == true);
  auto bad = cli({"query", R"({"collection":"notes","where":[{"path":"a..b","op":"==","value":1}]})"});
  CHECK(bad.exit_code == 1);
  CHECK(bad.err.find("a..b") != std::string::npos);
  CHECK(cli({"count", "not json"}).err.find("not JSON") != std::string::npos);
}
