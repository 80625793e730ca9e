// SO_REUSEPORT within a process (issue 6): listeners that all set it share
// one address and port and form a group; each new connection goes to one
// member chosen by a hash of its 4-tuple (the kernel's reuseport_select_sock),
// so every member gets a share, one flow always reaches the same member, and
// a closed member's share moves to the rest. Without SO_REUSEPORT on both,
// the second bind fails (EADDRINUSE). Kernel counterparts:
// inet_csk_bind_conflict, __inet_lookup_listener, reuseport_select_sock.
#include <map>

#include "tcp/conn_fixture.hh"

using namespace dshim;
using namespace dshim::test;
using wire::TCPF_ACK;
using wire::TCPF_SYN;

namespace {

constexpr uint16_t LPORT = 8080;
constexpr uint32_t PISN = 90000;

usock reuseport_listener(tcp_fixture& f, uint32_t addr = 0) {
    usock l = usock::create(f.net);
    REQUIRE(l.setsockopt_int(SOL_SOCKET, SO_REUSEPORT, 1) == 0);
    REQUIRE(l.bind(addr, LPORT) == 0);
    REQUIRE(l.listen(128) == 0);
    return l;
}

// Completes a handshake from the peer's pport; returns which listener (index
// into ls) accepted it, or -1.
int connect_from(tcp_fixture& f, std::vector<usock>& ls, uint16_t pport) {
    f.inject(seg(pport, LPORT, PISN, 0, TCPF_SYN));
    auto sa = f.expect_tcp(TCPF_SYN | TCPF_ACK);
    f.inject(seg(pport, LPORT, PISN + 1, sa.tcp.seq.v + 1, TCPF_ACK));
    f.expect_no_tx();
    for (size_t i = 0; i < ls.size(); ++i) {
        if (ls[i].s == nullptr) {
            continue;
        }
        usock a;
        if (ls[i].accept(&a) == 0) {
            a.close();
            f.expect_tcp(wire::TCPF_FIN | TCPF_ACK);
            // The peer resets: the 4-tuple is free again at once.
            f.inject(seg(pport, LPORT, PISN + 1, 0, wire::TCPF_RST));
            f.expect_no_tx();
            return int(i);
        }
    }
    return -1;
}

std::map<int, int> spread(tcp_fixture& f, std::vector<usock>& ls, uint16_t first_port, int n) {
    std::map<int, int> got;
    for (int i = 0; i < n; ++i) {
        ++got[connect_from(f, ls, uint16_t(first_port + i))];
    }
    return got;
}

}  // namespace

TEST_CASE("reuseport: a second bind to the same port needs SO_REUSEPORT on both") {
    tcp_fixture f;
    usock a = reuseport_listener(f);
    usock b = usock::create(f.net);
    CHECK(b.bind(0, LPORT) == -EADDRINUSE);
    usock c = usock::create(f.net);
    REQUIRE(c.setsockopt_int(SOL_SOCKET, SO_REUSEPORT, 1) == 0);
    CHECK(c.bind(0, LPORT) == 0);
    CHECK(c.listen(16) == 0);
    a.close();
    b.close();
    c.close();
}

TEST_CASE("reuseport: 200 connections spread over 2 and over 4 listeners, every one accepted once") {
    for (int members : {2, 4}) {
        tcp_fixture f;
        std::vector<usock> ls;
        for (int i = 0; i < members; ++i) {
            ls.push_back(reuseport_listener(f));
        }
        auto got = spread(f, ls, 20000, 200);
        CHECK(got.count(-1) == 0);
        int total = 0;
        for (int i = 0; i < members; ++i) {
            INFO("members " << members << " listener " << i << " got " << got[i]);
            // A fair hash gives 200/members each; allow wide statistical room
            // but demand a real share for every member.
            CHECK(got[i] >= 200 / members / 3);
            total += got[i];
        }
        CHECK(total == 200);
        for (auto& l : ls) {
            l.close();
        }
    }
}

TEST_CASE("reuseport: one flow always reaches the same member; a closed member's share moves to the rest") {
    tcp_fixture f;
    std::vector<usock> ls;
    for (int i = 0; i < 3; ++i) {
        ls.push_back(reuseport_listener(f));
    }
    // The same 4-tuple again (the first connection reset) picks the same
    // listener.
    const int first = connect_from(f, ls, 30000);
    REQUIRE(first >= 0);
    CHECK(connect_from(f, ls, 30000) == first);
    ls[1].close();
    ls[1].s = nullptr;
    auto got = spread(f, ls, 31000, 90);
    CHECK(got.count(-1) == 0);
    CHECK(got.count(1) == 0);
    CHECK(got[0] > 10);
    CHECK(got[2] > 10);
    ls[0].close();
    ls[2].close();
}

TEST_CASE("reuseport: a group on the exact address is preferred to a wildcard listener") {
    tcp_fixture f;
    std::vector<usock> ls;
    ls.push_back(reuseport_listener(f, 0));           // 0.0.0.0:8080
    ls.push_back(reuseport_listener(f, LOCAL_IP));    // 198.18.0.2:8080
    ls.push_back(reuseport_listener(f, LOCAL_IP));
    auto got = spread(f, ls, 40000, 60);
    CHECK(got.count(0) == 0);
    CHECK(got[1] + got[2] == 60);
    CHECK(got[1] > 5);
    CHECK(got[2] > 5);
    for (auto& l : ls) {
        l.close();
    }
}
