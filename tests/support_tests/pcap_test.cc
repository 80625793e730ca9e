// Tests of tests/support/pcap and sim_wire::dump_pcap: exact header and
// record bytes, file round trip.
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unistd.h>
#include <vector>
#include "support/pcap.hh"
#include "support/pcap_on_failure.hh"
#include "support/sim_wire.hh"
#include "support/test_pool.hh"

using namespace dshim;
using namespace dshim::test;

namespace {

std::vector<std::byte> bytes_of(std::initializer_list<int> v) {
    std::vector<std::byte> out;
    for (int x : v) {
        out.push_back(std::byte(uint8_t(x)));
    }
    return out;
}

std::vector<std::byte> read_file(const std::string& path) {
    std::vector<std::byte> out;
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) {
        return out;
    }
    std::byte buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) {
        out.insert(out.end(), buf, buf + n);
    }
    std::fclose(f);
    return out;
}

std::string temp_path(const char* name) {
    return "/tmp/dshim_support_" + std::to_string(::getpid()) + "_" + name + ".pcap";
}

uint32_t le32(const std::vector<std::byte>& b, size_t off) {
    return uint32_t(b[off]) | (uint32_t(b[off + 1]) << 8) | (uint32_t(b[off + 2]) << 16) | (uint32_t(b[off + 3]) << 24);
}

}  // namespace

TEST_CASE("pcap: file header is the classic little-endian usec Ethernet header", "[support][pcap]") {
    std::vector<std::byte> out;
    pcap_append_file_header(out);
    CHECK(out == bytes_of({0xd4, 0xc3, 0xb2, 0xa1, 0x02, 0x00, 0x04, 0x00, 0, 0, 0, 0, 0, 0, 0, 0,
                           0xff, 0xff, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00}));
}

TEST_CASE("pcap: record has seconds, microseconds, lengths, then the bytes", "[support][pcap]") {
    std::vector<std::byte> out;
    nsec_t t = 3 * NSEC_PER_SEC + 500002 * NSEC_PER_USEC + 999;  // ns below a usec are dropped
    auto frame = bytes_of({0xaa, 0xbb, 0xcc});
    pcap_append_record(out, t, frame);
    CHECK(out == bytes_of({3, 0, 0, 0, 0x22, 0xa1, 0x07, 0x00, 3, 0, 0, 0, 3, 0, 0, 0, 0xaa, 0xbb, 0xcc}));
}

TEST_CASE("pcap: snaplen truncates the captured bytes but keeps the original length", "[support][pcap]") {
    std::vector<std::byte> out;
    std::vector<std::byte> frame(100, std::byte{1});
    pcap_append_record(out, 0, frame, 60);
    REQUIRE(out.size() == 16 + 60);
    CHECK(le32(out, 8) == 60);
    CHECK(le32(out, 12) == 100);
}

TEST_CASE("pcap: writer produces header plus records on disk", "[support][pcap]") {
    std::string path = temp_path("writer");
    {
        pcap_writer w;
        REQUIRE(w.open(path));
        CHECK(w.write(NSEC_PER_SEC, bytes_of({1, 2, 3, 4})));
        CHECK(w.write(2 * NSEC_PER_SEC, bytes_of({5})));
        CHECK(w.close());
    }
    auto b = read_file(path);
    std::remove(path.c_str());
    REQUIRE(b.size() == 24 + 16 + 4 + 16 + 1);
    CHECK(le32(b, 0) == pcap_magic_usec);
    CHECK(le32(b, 24) == 1);
    CHECK(le32(b, 24 + 8) == 4);
    CHECK(b[24 + 16] == std::byte{1});
    CHECK(le32(b, 44) == 2);
    CHECK(b.back() == std::byte{5});
}

TEST_CASE("pcap: opening an impossible path fails", "[support][pcap]") {
    pcap_writer w;
    CHECK_FALSE(w.open("/nonexistent-dir-dshim/x.pcap"));
    CHECK_FALSE(w.is_open());
}

TEST_CASE("sim_wire: dump_pcap writes every captured frame with virtual timestamps", "[support][pcap][sim]") {
    virtual_clock clock;
    clock.set(10 * NSEC_PER_SEC);
    test_pool pa(8), pb(8);
    test_netdev a(pa), b(pb);
    sim_wire w(clock, a, b, 5);
    for (uint8_t i = 0; i < 3; ++i) {
        pbuf* p = pa.alloc(0, 60);
        std::memset(p->append(60), i, 60);
        REQUIRE(a.tx_burst(&p, 1) == 1);
        w.step();
        clock.advance(250 * NSEC_PER_USEC);
    }
    std::string path = temp_path("sim");
    REQUIRE(w.dump_pcap(path));
    auto bytes = read_file(path);
    std::remove(path.c_str());
    REQUIRE(bytes.size() == 24 + 3 * (16 + 60));
    for (size_t i = 0; i < 3; ++i) {
        size_t off = 24 + i * 76;
        CHECK(le32(bytes, off) == 10);
        CHECK(le32(bytes, off + 4) == 250 * i);
        CHECK(le32(bytes, off + 8) == 60);
        CHECK(bytes[off + 16] == std::byte(uint8_t(i)));
    }
}

TEST_CASE("pcap_on_failure: names the file after the test and writes the ring", "[support][pcap]") {
    virtual_clock clock;
    test_pool pa(4), pb(4);
    test_netdev a(pa), b(pb);
    sim_wire w(clock, a, b, 1);
    pbuf* p = pa.alloc(0, 60);
    std::memset(p->append(60), 0x42, 60);
    REQUIRE(a.tx_burst(&p, 1) == 1);
    w.step();
    ::setenv("DSHIM_TEST_PCAP_DIR", "/tmp", 1);
    pcap_on_failure guard(w, "ab");
    CHECK(guard.path_for("sim: loss/reorder") == "/tmp/sim__loss_reorder-ab.pcap");
    std::string name = "dshim_support_" + std::to_string(::getpid());
    std::string path = guard.dump_now(name);
    REQUIRE(path == "/tmp/" + name + "-ab.pcap");
    auto bytes = read_file(path);
    std::remove(path.c_str());
    CHECK(bytes.size() == 24 + 16 + 60);
    ::unsetenv("DSHIM_TEST_PCAP_DIR");
}
