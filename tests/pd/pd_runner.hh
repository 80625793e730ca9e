// Runs one parsed packetdrill-grammar script against the engine on the
// scripted-peer fixture (tests/tcp/tcp_fixture.hh) with the virtual clock.
// The rules (time tolerance, sequence-number mapping, blocking calls, extra
// packets) are written down in tests/pd/README.md.
#pragma once
#include <string>

#include "pd/pd_script.hh"

namespace dshim::pd {

struct pd_result {
    bool ok = false;
    std::string message;  // on failure: "line N: what\n  script: ...\n  actual: ..."
};

pd_result run_script(const pd_script& script);

}  // namespace dshim::pd
