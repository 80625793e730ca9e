// The conformance suite's driver: runs every tests/pd/scripts/**/*.pkt
// (or those whose path contains $PD_FILTER; $PD_SCRIPTS names another
// directory) through the packetdrill-grammar runner, prints one PASS/FAIL
// line per script and the `dshim-checks: P passed, F failed` line
// scripts/test counts; then checks that tests/pd/must_fail/*.pkt all fail.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "pd/pd_runner.hh"

using namespace dshim::pd;

namespace {

namespace fs = std::filesystem;

std::vector<fs::path> scripts_under(const fs::path& dir, const char* filter) {
    std::vector<fs::path> files;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
        if (e.is_regular_file() && e.path().extension() == ".pkt" &&
            (!filter || e.path().string().find(filter) != std::string::npos)) {
            files.push_back(e.path());
        }
    }
    std::sort(files.begin(), files.end());
    return files;
}

pd_result run_file(const fs::path& f, const std::string& name) {
    std::ifstream in(f);
    std::stringstream ss;
    ss << in.rdbuf();
    pd_script script;
    script.path = name;
    std::string err;
    if (!parse_script(ss.str(), script, err)) {
        return pd_result{false, "parse error: " + err};
    }
    return run_script(script);
}

}  // namespace

TEST_CASE("pd: every script in tests/pd/scripts passes") {
    const char* dir_env = std::getenv("PD_SCRIPTS");
    const fs::path dir = dir_env ? dir_env : PD_SCRIPT_DIR;
    int passed = 0;
    int failed = 0;
    for (const auto& f : scripts_under(dir, std::getenv("PD_FILTER"))) {
        const std::string name = fs::relative(f, dir).string();
        pd_result r = run_file(f, name);
        if (r.ok) {
            ++passed;
            std::cout << "PASS " << name << "\n";
        } else {
            ++failed;
            std::cout << "FAIL " << name << ": " << r.message << "\n";
        }
    }
    std::cout << "dshim-checks: " << passed << " passed, " << failed << " failed" << std::endl;
    CHECK(failed == 0);
    CHECK(passed > 0);
}

// The runner itself must be able to fail: each script under must_fail/ is
// wrong on purpose (timing, fields, options, extra or missing packets,
// results, errno, syntax) and has to be reported as a failure.
TEST_CASE("pd: broken scripts in tests/pd/must_fail are reported as failures") {
    const fs::path dir = PD_MUST_FAIL_DIR;
    int n = 0;
    for (const auto& f : scripts_under(dir, nullptr)) {
        const std::string name = fs::relative(f, dir).string();
        pd_result r = run_file(f, name);
        INFO("must_fail/" << name);
        CHECK_FALSE(r.ok);
        if (std::getenv("PD_TRACE")) {
            std::cout << "must_fail/" << name << ": " << r.message << "\n";
        }
        ++n;
    }
    CHECK(n >= 10);
}
