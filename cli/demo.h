#pragma once

#include <string>

namespace offsync::cli {

// Runs the demo with its stores, registry and sockets in dir (made anew); 0 when the story held.
int run_demo(const std::string& dir);

}  // namespace offsync::cli
