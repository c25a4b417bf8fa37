#pragma once

#include <string>

namespace offsync::cli {

// Runs the demo with its stores, registry and sockets in dir (made anew); 0 when the story held.
// json: the story goes to stderr and stdout gets the evidence as one JSON object.
int run_demo(const std::string& dir, bool json);

}  // namespace offsync::cli
