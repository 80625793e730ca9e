// pcap-on-failure guard (see pcap_on_failure.hh) and the Catch2 listener that
// triggers it. The listener lives in this object file, so it is linked in
// exactly when a test uses the guard.
#define CATCH_CONFIG_EXTERNAL_INTERFACES
#include <catch2/catch.hpp>

#include "support/pcap_on_failure.hh"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace dshim::test {

namespace {

std::vector<const pcap_on_failure*>& active_guards() {
    static std::vector<const pcap_on_failure*> guards;
    return guards;
}

struct pcap_failure_listener : Catch::TestEventListenerBase {
    using TestEventListenerBase::TestEventListenerBase;

    bool assertionEnded(const Catch::AssertionStats& stats) override {
        if (!stats.assertionResult.isOk() && !active_guards().empty()) {
            std::string name = Catch::getResultCapture().getCurrentTestName();
            for (const pcap_on_failure* g : active_guards()) {
                g->dump_now(name);
            }
        }
        return true;
    }
};

}  // namespace

CATCH_REGISTER_LISTENER(pcap_failure_listener)

pcap_on_failure::pcap_on_failure(const sim_wire& wire, std::string label) : _wire(wire), _label(std::move(label)) {
    active_guards().push_back(this);
}

pcap_on_failure::~pcap_on_failure() {
    auto& g = active_guards();
    g.erase(std::remove(g.begin(), g.end(), this), g.end());
}

std::string pcap_on_failure::path_for(const std::string& test_name) const {
    const char* dir = std::getenv("DSHIM_TEST_PCAP_DIR");
    std::string base = test_name.empty() ? "dshim-test" : test_name;
    if (!_label.empty()) {
        base += "-" + _label;
    }
    for (char& c : base) {
        bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '_' || c == '.';
        if (!safe) {
            c = '_';
        }
    }
    return std::string(dir && *dir ? dir : "/tmp") + "/" + base + ".pcap";
}

std::string pcap_on_failure::dump_now(const std::string& test_name) const {
    std::string path = path_for(test_name);
    if (!_wire.dump_pcap(path)) {
        std::fprintf(stderr, "pcap_on_failure: could not write %s\n", path.c_str());
        return {};
    }
    std::fprintf(stderr, "pcap_on_failure: %zu frames written to %s\n", _wire.captured_count(), path.c_str());
    return path;
}

}  // namespace dshim::test
