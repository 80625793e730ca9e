// Bulk transfer driver for simulation tests: pushes a deterministic byte
// stream from one socket to another over a sim_pair and checks it arrives
// byte-exact, in order.
#pragma once
#include "tcp/tcp_fixture.hh"

namespace dshim::test {

// The n-th byte of the test stream (a pattern that catches shifts and swaps).
inline uint8_t stream_byte(uint64_t n, uint8_t salt) { return uint8_t((n * 2654435761u >> 13) ^ (n >> 11) ^ salt); }

struct transfer_result {
    bool done = false;
    uint64_t sent = 0;
    uint64_t received = 0;
    uint64_t mismatches = 0;
    nsec_t elapsed = 0;
};

// Sends `total` bytes from `from` to `to` (both established), both
// directions at once when `back` is given. Runs the simulation until all
// arrived or `limit` of virtual time passed.
struct stream_state {
    usock* tx = nullptr;
    usock* rx = nullptr;
    uint64_t total = 0;
    uint8_t salt = 0;
    uint64_t sent = 0;
    uint64_t received = 0;
    uint64_t mismatches = 0;

    void pump() {
        uint8_t buf[65536];
        while (sent < total) {
            // Generate only what the send buffer can take: pump() runs on
            // every simulation step, and filling 64 KiB for a send that
            // returns EAGAIN dominated the run time.
            const int room = tx->sk()->sk_stream_wspace();
            if (room <= 0) {
                break;
            }
            const size_t n = size_t(std::min<uint64_t>({sizeof(buf), total - sent, uint64_t(room)}));
            for (size_t i = 0; i < n; ++i) {
                buf[i] = stream_byte(sent + i, salt);
            }
            const long r = tx->send(buf, n);
            if (r <= 0) {
                break;
            }
            sent += uint64_t(r);
        }
        for (;;) {
            const long r = rx->recv(buf, sizeof(buf));
            if (r <= 0) {
                break;
            }
            for (long i = 0; i < r; ++i) {
                if (buf[i] != stream_byte(received + uint64_t(i), salt)) {
                    ++mismatches;
                }
            }
            received += uint64_t(r);
        }
    }
    bool done() const { return received >= total; }
};

inline bool run_streams(sim_pair& p, std::initializer_list<stream_state*> streams, nsec_t limit) {
    return p.run_until(
        [&] {
            bool all = true;
            for (auto* s : streams) {
                s->pump();
                all = all && s->done();
            }
            return all;
        },
        limit);
}

// Connects b -> a:port and returns (client on b, server on a).
inline void connect_pair(sim_pair& p, uint16_t port, usock& client, usock& server, usock* listener_out = nullptr) {
    usock l = usock::create(p.a);
    REQUIRE(l.setsockopt_int(SOL_SOCKET, SO_REUSEADDR, 1) == 0);
    REQUIRE(l.bind(0, port) == 0);
    REQUIRE(l.listen(16) == 0);
    client = usock::create(p.b);
    REQUIRE(client.connect(PEER_IP, port) == -EINPROGRESS);
    REQUIRE(p.run_until([&] { return l.accept(&server) == 0; }, 30 * NSEC_PER_SEC));
    REQUIRE(p.run_until([&] { return client.state() == TCP_ESTABLISHED; }, 30 * NSEC_PER_SEC));
    REQUIRE(client.connect(PEER_IP, port) == 0);
    if (listener_out) {
        *listener_out = l;
    } else {
        l.close();
    }
}

}  // namespace dshim::test
