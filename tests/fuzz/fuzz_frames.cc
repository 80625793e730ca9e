// libFuzzer harness over the frame input path (testing.md layer 7): a stack
// on a test_netdev with a virtual clock, set up afresh for every input with a
// listener and two established connections (one passive with CUBIC, one
// active with BBR and pacing) that have data in flight; the input is a sequence of frames injected one by one,
// each followed by an optional socket call and a timer advance.
//
// Input format, repeated to the end of the input:
//   u8 ctl, u16 len (big-endian), len bytes of Ethernet frame
//   ctl bits 0-2: advance the clock by {0, 1, 10, 40, 200, 1000, 5000, 60000} ms
//                 after the frame (timers run at their exact times)
//   ctl bit 3:    recompute the IPv4 and TCP/UDP/ICMP checksums
//   ctl bit 4:    TCP seq/ack are offsets from the connection's rcv_nxt and
//                 snd_una (for frames to one of the two connections' ports)
//   ctl bits 5-6: then 0 nothing, 1 recv everything, 2 send 3000 bytes on
//                 both connections, 3 close the passive one / shut the active
//                 one for writing
// tests/fuzz/gen_corpus.py writes seeds in this format; scripts/fuzz runs it.
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/socket.hh"
#include "core/stack.hh"
#include "ipv4/tcp.hh"
#include "support/frames.hh"
#include "support/test_netdev.hh"
#include "support/test_pool.hh"

using namespace dshim;
using namespace dshim::test;

namespace {

constexpr uint32_t local_ip = wire::ipv4(198, 18, 0, 2);
constexpr uint32_t peer_ip = wire::ipv4(198, 18, 0, 1);
const wire::mac_addr local_mac{{0x02, 0xd5, 0x00, 0x00, 0x00, 0x02}};
const wire::mac_addr peer_mac{{0x02, 0xd5, 0x00, 0x00, 0x00, 0x01}};
constexpr uint16_t listen_port = 80, passive_peer_port = 40000;
constexpr uint16_t active_port = 50000, active_peer_port = 5000;
constexpr uint64_t advance_ms[8] = {0, 1, 10, 40, 200, 1000, 5000, 60000};

void die(const char* what) {
    std::fprintf(stderr, "fuzz_frames: set-up failed: %s\n", what);
    std::abort();
}

sockaddr_in sin_of(uint32_t ip, uint16_t port) {
    sockaddr_in s{};
    s.sin_family = AF_INET;
    s.sin_port = htons(port);
    s.sin_addr.s_addr = htonl(ip);
    return s;
}

uint16_t ld16(const uint8_t* p) { return uint16_t((p[0] << 8) | p[1]); }
void st16(uint8_t* p, uint16_t v) { p[0] = uint8_t(v >> 8); p[1] = uint8_t(v); }
uint32_t ld32(const uint8_t* p) { return (uint32_t(ld16(p)) << 16) | ld16(p + 2); }
void st32(uint8_t* p, uint32_t v) { st16(p, uint16_t(v >> 16)); st16(p + 2, uint16_t(v)); }
uint32_t sum16(const uint8_t* p, size_t n, uint32_t s) {
    for (; n >= 2; p += 2, n -= 2) {
        s += ld16(p);
    }
    if (n) {
        s += uint32_t(p[0]) << 8;
    }
    return s;
}
uint16_t fold(uint32_t s) {
    while (s >> 16) {
        s = (s & 0xffff) + (s >> 16);
    }
    return uint16_t(~s);
}

// One pool for the whole run (a fresh 2 MiB pool per input costs more page
// faults than the input itself); every input must give all buffers back.
test_pool& shared_pool() {
    static test_pool* pool = new test_pool(512);
    return *pool;
}

struct harness {
    virtual_clock clk;
    test_pool& pool = shared_pool();
    test_netdev dev{pool, local_mac};
    stack net;
    dshim::socket* listener = nullptr;
    dshim::socket* passive = nullptr;   // accepted from the peer's port 40000
    dshim::socket* active = nullptr;    // our port 50000 -> peer 5000
    frame_addrs peer;

    static stack_config cfg() {
        stack_config c;
        c.ip = local_ip;
        c.prefix_len = 24;
        c.seed = 42;
        return c;
    }

    harness() : net(dev, pool, clk, cfg()) {
        stack_init();
        peer.src_mac = peer_mac;
        peer.dst_mac = local_mac;
        peer.src_ip = peer_ip;
        peer.dst_ip = local_ip;
        inject(make_arp_request(peer_mac, peer_ip, local_ip));

        listener = make_socket();
        sockaddr_in a = sin_of(local_ip, listen_port);
        if (listener->ops->bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
            listener->ops->listen(listener, 8) != 0) {
            die("listen");
        }
        wire::tcp_repr syn = seg(passive_peer_port, listen_port, 1000, 0, wire::TCPF_SYN);
        syn.opt.has_mss = true;
        syn.opt.mss = 1460;
        syn.opt.sack_permitted = true;
        syn.opt.has_ts = true;
        syn.opt.ts_val = 100;
        syn.opt.has_wscale = true;
        syn.opt.wscale = 7;
        inject(make_tcp_frame(peer, syn));
        uint32_t iss = take_synack();
        wire::tcp_repr ack = seg(passive_peer_port, listen_port, 1001, iss + 1, wire::TCPF_ACK);
        ack.opt.has_ts = true;
        ack.opt.ts_val = 101;
        inject(make_tcp_frame(peer, ack));
        if (listener->ops->accept(listener, &passive, 0) != 0 || passive == nullptr) {
            die("accept");
        }

        active = make_socket();
        // The active connection runs BBR (rate sampling, pacing timer),
        // the passive one the default CUBIC: both congestion paths see the
        // fuzzed ACKs.
        static const char bbr_name[] = "bbr";
        if (active->ops->setsockopt(active, IPPROTO_TCP, 13 /* TCP_CONGESTION */, bbr_name, 3) != 0) {
            die("TCP_CONGESTION bbr");
        }
        sockaddr_in b = sin_of(local_ip, active_port);
        sockaddr_in c = sin_of(peer_ip, active_peer_port);
        if (active->ops->bind(active, reinterpret_cast<sockaddr*>(&b), sizeof(b)) != 0) {
            die("bind");
        }
        (void)active->ops->connect(active, reinterpret_cast<sockaddr*>(&c), sizeof(c), 04000);
        net.flush();
        uint32_t iss2 = take_syn();
        wire::tcp_repr sa = seg(active_peer_port, active_port, 7000, iss2 + 1, wire::TCPF_SYN | wire::TCPF_ACK);
        sa.opt = syn.opt;
        inject(make_tcp_frame(peer, sa));
        (void)active->ops->connect(active, reinterpret_cast<sockaddr*>(&c), sizeof(c), 04000);
        if (active->sk->sk_state != TCP_ESTABLISHED || passive->sk->sk_state != TCP_ESTABLISHED) {
            die("connections not established");
        }
        send_both(2000);
        dev.clear_tx();
    }

    ~harness() {
        for (dshim::socket** s : {&passive, &active, &listener}) {
            if (*s != nullptr) {
                sock_release(*s);
                *s = nullptr;
            }
        }
        net.flush();
        dev.clear_tx();
    }

    dshim::socket* make_socket() {
        auto r = sock_create(&net, AF_INET, SOCK_STREAM, 0);
        if (!r.ok()) {
            die("socket");
        }
        return r.value();
    }
    static wire::tcp_repr seg(uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags) {
        wire::tcp_repr t;
        t.sport = sport;
        t.dport = dport;
        t.seq = wire::seq32(seq);
        t.ack = wire::seq32(ack);
        t.flags = flags;
        t.window = 502;
        return t;
    }
    void inject(const frame_bytes& f) {
        if (!dev.inject_bytes(f)) {
            die("inject");
        }
        net.poll();
        net.flush();
    }
    uint32_t take_tcp(uint8_t want) {
        net.flush();
        while (dev.tx_pending() > 0) {
            pbuf_ptr p = dev.pop_tx();
            parsed_frame f = parse_frame(*p);
            if (f.is_tcp && f.tcp.flags == want) {
                return f.tcp.seq.v;
            }
        }
        die("no SYN/SYN-ACK sent");
        return 0;
    }
    uint32_t take_synack() { return take_tcp(wire::TCPF_SYN | wire::TCPF_ACK); }
    uint32_t take_syn() { return take_tcp(wire::TCPF_SYN); }

    void send_both(size_t n) {
        static char buf[4096];
        for (dshim::socket* s : {passive, active}) {
            if (s != nullptr) {
                iovec iov{buf, n};
                msghdr m{};
                m.msg_iov = &iov;
                m.msg_iovlen = 1;
                (void)s->ops->sendmsg(s, &m, n, MSG_DONTWAIT);
            }
        }
        net.flush();
    }
    void recv_all() {
        static char buf[65536];
        for (dshim::socket* s : {passive, active}) {
            if (s == nullptr) {
                continue;
            }
            for (int i = 0; i < 64; ++i) {
                iovec iov{buf, sizeof(buf)};
                msghdr m{};
                m.msg_iov = &iov;
                m.msg_iovlen = 1;
                if (s->ops->recvmsg(s, &m, sizeof(buf), MSG_DONTWAIT) <= 0) {
                    break;
                }
            }
        }
        // Drain the accept queue too (children made by fuzzed SYNs).
        dshim::socket* child = nullptr;
        while (listener != nullptr && listener->ops->accept(listener, &child, 0) == 0 && child != nullptr) {
            sock_release(child);
            child = nullptr;
        }
        net.flush();
    }
    void advance(nsec_t d) {
        const nsec_t end = clk.now() + d;
        for (int guard = 0; guard < 100000; ++guard) {
            nsec_t next = net.next_timer();
            if (next == TIME_NEVER || next > end) {
                break;
            }
            if (next > clk.now()) {
                clk.set(next);
            }
            net.run_timers();
            net.flush();
            dev.clear_tx();
        }
        clk.set(end);
        net.run_timers();
        net.flush();
    }

    // The connection a frame from the peer is addressed to, if any.
    tcp_sock* conn_for(uint16_t sport, uint16_t dport) {
        if (sport == passive_peer_port && dport == listen_port && passive != nullptr) {
            return tcp_sk(passive->sk);
        }
        if (sport == active_peer_port && dport == active_port && active != nullptr) {
            return tcp_sk(active->sk);
        }
        return nullptr;
    }

    void fix_frame(uint8_t* f, size_t len, uint8_t ctl) {
        if (len < 34 || ld16(f + 12) != 0x0800) {
            return;
        }
        uint8_t* ip = f + 14;
        const size_t ihl = size_t(ip[0] & 0xf) * 4;
        size_t tot = ld16(ip + 2);
        if (ihl < 20 || 14 + ihl > len) {
            return;
        }
        if (tot < ihl || 14 + tot > len) {
            tot = len - 14;
        }
        uint8_t* l4 = ip + ihl;
        const size_t l4_len = tot - ihl;
        if ((ctl & 0x10) && ip[9] == 6 && l4_len >= 20) {
            if (tcp_sock* tp = conn_for(ld16(l4), ld16(l4 + 2))) {
                st32(l4 + 4, ld32(l4 + 4) + tp->rcv_nxt.v);
                st32(l4 + 8, ld32(l4 + 8) + tp->snd_una.v);
            }
        }
        if (!(ctl & 0x08)) {
            return;
        }
        st16(ip + 10, 0);
        st16(ip + 10, fold(sum16(ip, ihl, 0)));
        size_t field = ip[9] == 6 ? 16 : ip[9] == 17 ? 6 : ip[9] == 1 ? 2 : 0;
        if ((ip[9] != 6 && ip[9] != 17 && ip[9] != 1) || l4_len < field + 2) {
            return;
        }
        st16(l4 + field, 0);
        uint32_t s = 0;
        if (ip[9] != 1) {
            s = sum16(ip + 12, 8, 0) + ip[9] + uint32_t(l4_len);
        }
        st16(l4 + field, fold(sum16(l4, l4_len, s)));
    }

    void run(const uint8_t* data, size_t size) {
        static uint8_t frame[2048];
        size_t pos = 0;
        while (pos + 3 <= size) {
            const uint8_t ctl = data[pos];
            size_t len = ld16(data + pos + 1);
            pos += 3;
            if (len > size - pos) {
                len = size - pos;
            }
            if (len > 1514) {
                len = 1514;
            }
            std::memcpy(frame, data + pos, len);
            pos += len;
            fix_frame(frame, len, ctl);
            if (dev.inject_bytes(std::span(reinterpret_cast<const std::byte*>(frame), len))) {
                net.poll();
            }
            switch ((ctl >> 5) & 3) {
            case 1:
                recv_all();
                break;
            case 2:
                send_both(3000);
                break;
            case 3:
                if (passive != nullptr) {
                    sock_release(passive);
                    passive = nullptr;
                } else if (active != nullptr) {
                    (void)active->ops->shutdown(active, SHUT_WR);
                }
                break;
            default:
                break;
            }
            net.flush();
            dev.clear_tx();
            advance(advance_ms[ctl & 7] * NSEC_PER_MSEC);
            dev.clear_tx();
        }
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    {
        harness h;
        h.run(data, size);
    }
    if (shared_pool().in_use() != 0) {
        std::fprintf(stderr, "fuzz_frames: %zu packet buffers still in use after the stack was destroyed\n",
                     shared_pool().in_use());
        std::abort();
    }
    return 0;
}
