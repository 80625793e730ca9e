// Engine test fixtures.
//
// tcp_fixture: one stack (198.18.0.2) on a test_netdev and a scripted peer
// (198.18.0.1): tests inject the peer's segments and expect ours, with an
// explicit virtual clock — the packetdrill style of testing.md layer 2.
//
// sim_pair: two stacks joined by a sim_wire (layer 4), driven to an event
// horizon by run_until().
#pragma once
#include <catch2/catch.hpp>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "core/socket.hh"
#include "core/stack.hh"
#include "ipv4/tcp.hh"
#include "support/frames.hh"
#include "support/sim_wire.hh"
#include "support/test_netdev.hh"
#include "support/test_pool.hh"

namespace dshim::test {

inline constexpr uint32_t LOCAL_IP = wire::ipv4(198, 18, 0, 2);
inline constexpr uint32_t PEER_IP = wire::ipv4(198, 18, 0, 1);
inline const wire::mac_addr LOCAL_MAC{{0x02, 0xd5, 0x00, 0x00, 0x00, 0x02}};
inline const wire::mac_addr PEER_MAC{{0x02, 0xd5, 0x00, 0x00, 0x00, 0x01}};

inline sockaddr_in make_sin(uint32_t ip, uint16_t port) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(ip);
    return sin;
}

// A user-side handle on a dshim socket, calling the proto_ops as the shim
// will (non-blocking; results are the ops' >= 0 or -errno).
struct usock {
    socket* s = nullptr;

    static usock create(stack& net) {
        stack_init();
        auto r = sock_create(&net, AF_INET, SOCK_STREAM, 0);
        REQUIRE(r.ok());
        return usock{r.value()};
    }
    sock* sk() const { return s->sk; }
    tcp_sock* tp() const { return tcp_sk(s->sk); }
    int state() const { return s->sk->sk_state; }
    int bind(uint32_t ip, uint16_t port) {
        sockaddr_in sin = make_sin(ip, port);
        return s->ops->bind(s, reinterpret_cast<sockaddr*>(&sin), sizeof(sin));
    }
    int listen(int backlog) { return s->ops->listen(s, backlog); }
    int connect(uint32_t ip, uint16_t port) {
        sockaddr_in sin = make_sin(ip, port);
        return s->ops->connect(s, reinterpret_cast<sockaddr*>(&sin), sizeof(sin), O_NONBLOCK_FLAG);
    }
    int accept(usock* out) {
        socket* ns = nullptr;
        int r = s->ops->accept(s, &ns, 0);
        if (r == 0) {
            out->s = ns;
        }
        return r;
    }
    long send(const void* buf, size_t len, int flags = 0) {
        iovec iov{const_cast<void*>(buf), len};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        return s->ops->sendmsg(s, &msg, len, flags);
    }
    long send(const std::string& str, int flags = 0) { return send(str.data(), str.size(), flags); }
    long recv(void* buf, size_t len, int flags = 0) {
        iovec iov{buf, len};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        return s->ops->recvmsg(s, &msg, len, flags);
    }
    std::string recv_str(size_t len = 65536) {
        std::string out(len, '\0');
        long n = recv(out.data(), len);
        if (n < 0) {
            return "<" + std::to_string(n) + ">";
        }
        out.resize(size_t(n));
        return out;
    }
    int shutdown(int how) { return s->ops->shutdown(s, how); }
    uint32_t poll() { return s->ops->poll(s); }
    int setsockopt_int(int level, int name, int v) { return s->ops->setsockopt(s, level, name, &v, sizeof(v)); }
    int getsockopt_int(int level, int name, int* v) {
        unsigned len = sizeof(*v);
        return s->ops->getsockopt(s, level, name, v, &len);
    }
    void close() {
        if (s) {
            sock_release(s);
            s = nullptr;
        }
    }
    static constexpr int O_NONBLOCK_FLAG = 04000;
};

inline stack_config local_config(tcp_profile p = tcp_profile::linux) {
    stack_config cfg;
    cfg.ip = LOCAL_IP;
    cfg.prefix_len = 24;
    cfg.profile = p;
    cfg.seed = 42;
    return cfg;
}

// One stack against a scripted peer.
struct tcp_fixture {
    virtual_clock clk;
    test_pool pool;
    test_netdev dev;
    stack net;
    frame_addrs peer;  // peer -> us

    explicit tcp_fixture(tcp_profile p = tcp_profile::linux, size_t nbufs = 4096)
        : pool(nbufs), dev(pool, LOCAL_MAC), net(dev, pool, clk, local_config(p)) {
        peer.src_mac = PEER_MAC;
        peer.dst_mac = LOCAL_MAC;
        peer.src_ip = PEER_IP;
        peer.dst_ip = LOCAL_IP;
        // Teach the stack the peer's MAC the way a real peer would: an ARP
        // request for our address; our reply is discarded.
        inject_raw(make_arp_request(PEER_MAC, PEER_IP, LOCAL_IP));
        dev.clear_tx();
    }

    void poll() {
        net.poll();
    }
    void inject_raw(std::span<const std::byte> frame) {
        REQUIRE(dev.inject_bytes(frame));
        poll();
    }
    // Injects a segment from the peer. Defaults: ACK flag not implied.
    void inject(const wire::tcp_repr& th, std::span<const std::byte> payload = {}) {
        inject_raw(make_tcp_frame(peer, th, payload));
    }
    void inject(const wire::tcp_repr& th, const std::string& payload) {
        inject(th, std::as_bytes(std::span(payload.data(), payload.size())));
    }
    // Moves virtual time forward by d, running timers at each one on the way
    // (so timer order and times are exact).
    void advance(nsec_t d) {
        const nsec_t end = clk.now() + d;
        for (;;) {
            nsec_t next = net.next_timer();
            if (next == TIME_NEVER || next > end) {
                break;
            }
            if (next > clk.now()) {
                clk.set(next);
            }
            net.run_timers();
            net.flush();
        }
        clk.set(end);
        net.run_timers();
        net.flush();
    }
    void advance_ms(uint64_t ms) { advance(ms * NSEC_PER_MSEC); }

    // User calls queue frames in the stack's tx batch; the shim flushes after
    // each call, the fixture before looking.
    bool has_tx() { net.flush(); return dev.tx_pending() > 0; }
    // The next frame we sent, parsed; fails the test when there is none.
    parsed_frame expect_tx() {
        net.flush();
        REQUIRE(dev.tx_pending() > 0);
        pbuf_ptr p = dev.pop_tx();
        parsed_frame f = parse_frame(*p);
        INFO("tx: " << describe(f));
        REQUIRE(f.ok());
        return f;
    }
    parsed_frame expect_tcp(uint8_t flags) {
        parsed_frame f = expect_tx();
        INFO("tx: " << describe(f));
        REQUIRE(f.is_tcp);
        CHECK(tcp_flags_str(f.tcp.flags) == tcp_flags_str(flags));
        return f;
    }
    void expect_no_tx() {
        net.flush();
        if (dev.tx_pending() > 0) {
            pbuf_ptr p = dev.pop_tx();
            FAIL("unexpected tx: " << describe(*p));
        }
    }
    // Collects every TCP segment sent so far.
    std::vector<parsed_frame> drain_tcp() {
        net.flush();
        std::vector<parsed_frame> out;
        while (dev.tx_pending() > 0) {
            pbuf_ptr p = dev.pop_tx();
            parsed_frame f = parse_frame(*p);
            if (f.is_tcp) {
                out.push_back(std::move(f));
            }
        }
        return out;
    }
};

// A segment from the peer, built field by field.
inline wire::tcp_repr seg(uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags,
                          uint16_t win = 65535) {
    wire::tcp_repr th;
    th.sport = sport;
    th.dport = dport;
    th.seq = wire::seq32(seq);
    th.ack = wire::seq32(ack);
    th.flags = flags;
    th.window = win;
    return th;
}

// Two stacks over a simulated wire: A = 198.18.0.1, B = 198.18.0.2.
struct sim_pair {
    virtual_clock clk;
    test_pool pool_a;
    test_pool pool_b;
    test_netdev dev_a;
    test_netdev dev_b;
    stack a;
    stack b;
    sim_wire wire;

    static stack_config cfg_for(uint32_t ip, uint64_t seed, tcp_profile p) {
        stack_config c;
        c.ip = ip;
        c.prefix_len = 24;
        c.seed = seed;
        c.profile = p;
        return c;
    }

    explicit sim_pair(const sim_wire_config& wc = {}, size_t nbufs = 8192, tcp_profile p = tcp_profile::linux)
        : pool_a(nbufs), pool_b(nbufs), dev_a(pool_a, PEER_MAC), dev_b(pool_b, LOCAL_MAC),
          a(dev_a, pool_a, clk, cfg_for(PEER_IP, 7, p)), b(dev_b, pool_b, clk, cfg_for(LOCAL_IP, 11, p)),
          wire(clk, dev_a, dev_b, wc) {}

    // One round: both stacks poll, the wire moves frames. Returns true if
    // anything happened.
    bool step() {
        const unsigned na = a.poll();
        const unsigned nb = b.poll();
        const size_t before = wire.in_flight();
        wire.step();
        // Frames delivered by this step (or left over from a full rx burst)
        // are still waiting in a receive queue: that is activity too.
        return na + nb > 0 || dev_a.tx_pending() + dev_b.tx_pending() > 0 || wire.in_flight() != before ||
               dev_a.rx_pending() + dev_b.rx_pending() > 0;
    }
    // Runs until pred() holds or `limit` of virtual time passes; jumps the
    // clock to the next event when idle. Returns pred().
    bool run_until(const std::function<bool()>& pred, nsec_t limit = 60 * NSEC_PER_SEC) {
        const nsec_t end = clk.now() + limit;
        while (!pred()) {
            if (clk.now() >= end) {
                return false;
            }
            if (step()) {
                continue;
            }
            nsec_t next = std::min({a.next_timer(), b.next_timer(), wire.next_event(), end});
            if (next <= clk.now()) {
                next = clk.now() + NSEC_PER_USEC;
            }
            clk.set(next);
        }
        return true;
    }
    void run_for(nsec_t d) {
        const nsec_t end = clk.now() + d;
        run_until([&] { return clk.now() >= end; }, d + NSEC_PER_SEC);
    }
};

}  // namespace dshim::test
