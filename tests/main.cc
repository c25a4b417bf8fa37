#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <vector>

namespace {

// How many test cases the run's filters let through.
unsigned g_cases_run = 0;

struct CountCases : doctest::IReporter {
  explicit CountCases(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats& stats) override { g_cases_run = stats.numTestCasesPassingFilters; }
  void test_case_start(const doctest::TestCaseData&) override {}
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};

REGISTER_LISTENER("count_cases", 1, CountCases);

}  // namespace

// As doctest's own main, except that a run naming a test case that matches none fails: CTest runs
// each case by name, and a name that no longer matches (renamed, or split by CTest at a ';') must
// not pass silently.
//
// --postgres (CTest's "pg: " run): every server the tests open stores in the throwaway PostgreSQL
// cluster scripts/test started (OFFSYNC_PG_CONNINFO; tests/pg_support.h). Without a cluster the
// run is skipped (exit 77), never pointed at a database it did not make.
int main(int argc, char** argv) {
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--postgres") != 0) {
      args.push_back(argv[i]);
      continue;
    }
    const char* conninfo = std::getenv("OFFSYNC_PG_CONNINFO");
    if (!conninfo || !*conninfo) {
      std::cerr << "skipped: no PostgreSQL test cluster (scripts/test starts one and sets OFFSYNC_PG_CONNINFO)\n";
      return 77;
    }
    setenv("OFFSYNC_TEST_POSTGRES", conninfo, 1);
  }
  argc = static_cast<int>(args.size());
  argv = args.data();
  doctest::Context context(argc, argv);
  int result = context.run();
  if (context.shouldExit()) return result;
  bool named = false;
  for (int i = 1; i < argc; ++i) named = named || std::strncmp(argv[i], "--test-case=", 12) == 0;
  if (result == 0 && named && g_cases_run == 0) {
    std::cerr << "no test case matches the name given\n";
    return 1;
  }
  return result;
}
