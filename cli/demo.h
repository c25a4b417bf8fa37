#pragma once

#include <string>

namespace offsync::cli {

// Runs the demo in dir (its store is dir/app.db, made anew). resume: the second, restarted process.
int run_demo(const std::string& dir, bool resume);

}  // namespace offsync::cli
