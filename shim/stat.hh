// The `dshim stat` service (see stat.cc).
#pragma once
#include <string>

namespace dshim::shim {

// Starts the stat thread and its socket (after the port is attached).
void stat_start();
// Removes the socket file (at exit).
void stat_stop();
// The text `dshim stat` prints.
std::string stat_render();

}  // namespace dshim::shim
