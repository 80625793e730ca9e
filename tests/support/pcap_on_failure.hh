// Dumps a simulation's capture ring to a pcap file when a Catch2 assertion
// fails while the guard is alive (CHECK or REQUIRE; REQUIRE aborts the process
// in this -fno-exceptions build, so the dump is written at the failing
// assertion itself, from a Catch2 event listener).
#pragma once
#include <string>
#include "support/sim_wire.hh"

namespace dshim::test {

// Scope guard: while alive, every failed assertion rewrites
//   $DSHIM_TEST_PCAP_DIR (default /tmp) / <test name>[-<label>].pcap
// with the wire's current capture ring and prints the path to stderr. The
// wire must outlive the guard. Owned by the test thread.
class pcap_on_failure {
public:
    explicit pcap_on_failure(const sim_wire& wire, std::string label = {});
    ~pcap_on_failure();
    pcap_on_failure(const pcap_on_failure&) = delete;
    pcap_on_failure& operator=(const pcap_on_failure&) = delete;

    // Writes the file now (what the listener calls); returns the path, or an
    // empty string if it could not be written.
    std::string dump_now(const std::string& test_name) const;
    // The file name for a test name: unsafe characters become '_'.
    std::string path_for(const std::string& test_name) const;

private:
    const sim_wire& _wire;
    std::string _label;
};

}  // namespace dshim::test
