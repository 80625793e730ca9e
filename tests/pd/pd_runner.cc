// Executes packetdrill-grammar scripts against the engine (see pd_runner.hh
// and tests/pd/README.md for the rules). Script time 0 is the fixture's clock
// when the script starts; time only moves when the script says so, and timers
// run exactly at their expiry on the way.
#include "pd/pd_runner.hh"

#include <fcntl.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <sstream>

#include "tcp/tcp_fixture.hh"
#include "wire/bytes.hh"

namespace dshim::pd {

using namespace dshim::test;

namespace {

constexpr uint16_t LOCAL_PORT = 8080;        // what bind(fd, ..., ...) binds
constexpr uint16_t REMOTE_PORT = 40000;      // the script's port; connect() target
constexpr uint32_t DEFAULT_REMOTE_ISN = 1000000;
constexpr int64_t DEFAULT_TOLERANCE = 4 * int64_t(NSEC_PER_MSEC);
constexpr int64_t ANY_TIME_LIMIT = 600 * int64_t(NSEC_PER_SEC);

struct tx_rec {
    int64_t at;
    parsed_frame f;
};

struct fd_ent {
    socket* s = nullptr;
    bool nonblock = false;
};

std::string fmt_time(int64_t ns) {
    std::ostringstream o;
    o.setf(std::ios::fixed);
    o.precision(6);
    o << double(ns) / 1e9;
    return o.str();
}

std::vector<pd_option> parse_actual_options(const std::vector<std::byte>& b) {
    std::vector<pd_option> out;
    auto u8 = [&](size_t i) { return i < b.size() ? uint32_t(b[i]) : 0u; };
    auto u32 = [&](size_t i) { return (u8(i) << 24) | (u8(i + 1) << 16) | (u8(i + 2) << 8) | u8(i + 3); };
    size_t i = 0;
    while (i < b.size()) {
        pd_option o;
        const uint32_t kind = u8(i);
        if (kind == 0 || kind == 1) {
            o.k = kind == 0 ? pd_option::kind::eol : pd_option::kind::nop;
            out.push_back(o);
            ++i;
            continue;
        }
        const uint32_t len = std::max<uint32_t>(u8(i + 1), 2);
        switch (kind) {
        case 2: o.k = pd_option::kind::mss; o.a = (u8(i + 2) << 8) | u8(i + 3); break;
        case 3: o.k = pd_option::kind::wscale; o.a = u8(i + 2); break;
        case 4: o.k = pd_option::kind::sack_ok; break;
        case 8: o.k = pd_option::kind::ts; o.a = u32(i + 2); o.b = u32(i + 6); break;
        case 5:
            o.k = pd_option::kind::sack;
            for (size_t j = i + 2; j + 8 <= i + len; j += 8) {
                o.blocks.emplace_back(u32(j), u32(j + 4));
            }
            break;
        default: o.k = pd_option::kind::eol; o.a = 0xffff0000u | kind; break;  // unknown kind
        }
        out.push_back(o);
        i += len;
    }
    return out;
}

std::string fmt_option(const pd_option& o, uint32_t sack_base) {
    switch (o.k) {
    case pd_option::kind::nop: return "nop";
    case pd_option::kind::eol: return o.a ? "kind " + std::to_string(o.a & 0xff) : "eol";
    case pd_option::kind::mss: return "mss " + std::to_string(o.a);
    case pd_option::kind::wscale: return "wscale " + std::to_string(o.a);
    case pd_option::kind::sack_ok: return "sackOK";
    case pd_option::kind::ts: return "TS val " + std::to_string(o.a) + " ecr " + std::to_string(o.b);
    case pd_option::kind::sack: {
        std::string s = "sack";
        for (auto [a, b] : o.blocks) {
            s += " " + std::to_string(a - sack_base) + ":" + std::to_string(b - sack_base);
        }
        return s;
    }
    }
    return "?";
}

std::string flags_str(uint8_t f) {
    std::string s;
    if (f & 0x02) { s += 'S'; }
    if (f & 0x01) { s += 'F'; }
    if (f & 0x04) { s += 'R'; }
    if (f & 0x08) { s += 'P'; }
    if (f & 0x20) { s += 'U'; }
    if (f & 0x40) { s += 'E'; }
    if (f & 0x80) { s += 'W'; }
    if (f & 0x10) { s += '.'; }
    return s;
}

class runner {
public:
    explicit runner(const pd_script& s) : _script(s) {
        _t0 = int64_t(_fx.clk.now());
        _last = _t0;
    }
    ~runner() {
        for (auto& [fd, e] : _fds) {
            sock_release(e.s);
        }
    }
    pd_result run();

private:
    // ---- time and transmissions
    int64_t now() const { return int64_t(_fx.clk.now()); }
    // Takes what the stack sent: TCP segments are queued for `>` lines; an
    // ARP request for the peer is answered at once (the peer is always
    // reachable, as on packetdrill's tun device); anything else is ignored.
    void collect() {
        _fx.net.flush();
        for (int rounds = 0; _fx.dev.tx_pending() > 0 && rounds < 8; ++rounds) {
            bool arp = false;
            drain_tx(arp);
            if (arp) {
                if (_fx.dev.inject_bytes(make_arp_reply(_fx.peer))) {
                    _fx.net.poll();
                }
                _fx.net.flush();
            }
        }
    }
    void drain_tx(bool& arp) {
        while (_fx.dev.tx_pending() > 0) {
            pbuf_ptr p = _fx.dev.pop_tx();
            parsed_frame f = parse_frame(*p);
            if (f.is_arp && f.arp.op == 1 && f.arp.tpa == PEER_IP) {
                arp = true;
            }
            if (f.is_tcp) {
                if (_trace) {
                    std::fprintf(stderr, "  tx %s\n", describe_tx(tx_rec{now(), f}).c_str());
                }
                _txq.push_back({now(), std::move(f)});
            }
        }
    }
    void after_change() {
        collect();
        retry_pending();
        collect();
    }
    // Runs timers up to t (each at its own time); with stop_on_tx returns as
    // soon as something was sent.
    void advance_to(int64_t t, bool stop_on_tx) {
        after_change();
        for (int guard = 0; !_failed && guard < 10000000; ++guard) {
            if (stop_on_tx && !_txq.empty()) {
                return;
            }
            nsec_t next = _fx.net.next_timer();
            if (_pend.active && _pend.wake_at < next) {
                next = _pend.wake_at;
            }
            if (next == TIME_NEVER || int64_t(next) > t) {
                break;
            }
            if (int64_t(next) > now()) {
                _fx.clk.set(next);
            }
            _fx.net.run_timers();
            after_change();
        }
        if (t > now()) {
            _fx.clk.set(nsec_t(t));
        }
        _fx.net.run_timers();
        after_change();
    }
    int64_t event_time(const pd_time& t) const {
        switch (t.k) {
        case pd_time::kind::any: return now();
        case pd_time::kind::relative: return _last + t.ns;
        case pd_time::kind::absolute: break;
        }
        return _t0 + t.ns;
    }
    int64_t end_time(const pd_time& t, int64_t start) const {
        if (!t.has_end) {
            return start;
        }
        return t.end_relative ? start + t.end_ns : _t0 + t.end_ns;
    }
    std::string script_time(int64_t abs) const { return fmt_time(abs - _t0); }

    bool fail(const pd_event& ev, const std::string& what, const std::string& actual = "") {
        if (_failed) {
            return false;
        }
        _failed = true;
        std::ostringstream o;
        o << "line " << ev.line << ": " << what << "\n  script: " << ev.text;
        if (!actual.empty()) {
            o << "\n  actual: " << actual;
        }
        _msg = o.str();
        return false;
    }
    bool check_unexpected(const pd_event& ev) {
        if (!_txq.empty() && _txq.front().at + _tol < now()) {
            return fail(ev, "unexpected outbound packet before this event", describe_tx(_txq.front()));
        }
        return true;
    }
    bool check_pending_overdue(const pd_event& ev) {
        if (_pend.active && now() > _pend.hi) {
            return fail(*_pend.ev, "blocking call did not return by " + script_time(_pend.hi) + " (now at line " +
                                       std::to_string(ev.line) + ")");
        }
        return true;
    }

    // ---- packets
    std::string describe_tx(const tx_rec& r) const {
        const parsed_frame& f = r.f;
        std::ostringstream o;
        static const char* const ecn_names[] = {"", "[ect1] ", "[ect0] ", "[ce] "};
        o << script_time(r.at) << " " << ecn_names[f.ip.tos & 3] << flags_str(f.tcp.flags) << " " << (f.tcp.seq.v - _local_isn) << ":"
          << (f.tcp.seq.v - _local_isn + uint32_t(f.payload.size())) << "(" << f.payload.size() << ")";
        if (f.tcp.flags & wire::TCPF_ACK) {
            o << " ack " << (f.tcp.ack.v - _remote_isn);
        }
        o << " win " << f.tcp.window;
        auto opts = parse_actual_options(f.tcp_opt_bytes);
        if (!opts.empty()) {
            o << " <";
            for (size_t i = 0; i < opts.size(); ++i) {
                o << (i ? "," : "") << fmt_option(opts[i], _remote_isn);
            }
            o << ">";
        }
        return o.str();
    }
    bool outbound(const pd_event& ev, int64_t t);
    bool inbound(const pd_event& ev);
    bool inbound_icmp(const pd_event& ev);
    // ---- calls
    bool call(const pd_event& ev, int64_t t);
    // Returns false when the call would block (blocking socket); else sets r.
    bool attempt(const pd_call& c, long& r);
    bool finish_call(const pd_event& ev, long r);
    void retry_pending();
    fd_ent* fd_of(const pd_call& c, size_t i = 0) {
        if (c.args.size() <= i) {
            return nullptr;
        }
        auto it = _fds.find(int(c.args[i].v));
        return it == _fds.end() ? nullptr : &it->second;
    }
    int new_fd() const {
        int fd = 3;
        while (_fds.count(fd)) {
            ++fd;
        }
        return fd;
    }

    const pd_script& _script;
    tcp_fixture _fx;
    int64_t _t0 = 0;
    int64_t _last = 0;
    int64_t _tol = DEFAULT_TOLERANCE;
    std::deque<tx_rec> _txq;
    std::map<int, fd_ent> _fds;
    uint32_t _remote_isn = DEFAULT_REMOTE_ISN;
    uint32_t _local_isn = 0;
    bool _ts_known = false;
    uint32_t _ts_off = 0;
    uint16_t _local_port = LOCAL_PORT;
    uint16_t _remote_port = REMOTE_PORT;
    bool _failed = false;
    bool _trace = std::getenv("PD_TRACE") != nullptr;
    std::string _msg;
    std::string _getsockopt_got;  // set when a getsockopt value differs
    bool _poll_mismatch = false;
    std::string _poll_got;
    struct pending {
        bool active = false;
        const pd_event* ev = nullptr;
        int64_t lo = 0;
        int64_t hi = 0;
        nsec_t wake_at = TIME_NEVER;  // poll timeout
        long done = 0;                // bytes written so far (write/send)
    } _pend;
};

bool runner::outbound(const pd_event& ev, int64_t t) {
    const pd_packet& p = ev.pkt;
    int64_t lo = t - _tol;
    int64_t hi = end_time(ev.time, t) + _tol;
    if (ev.time.k == pd_time::kind::any) {
        lo = INT64_MIN;
        hi = now() + ANY_TIME_LIMIT;
    }
    if (_txq.empty()) {
        advance_to(hi, true);
    }
    if (_failed) {
        return false;
    }
    if (_txq.empty()) {
        return fail(ev, "expected outbound packet was not sent by " + script_time(hi));
    }
    tx_rec r = std::move(_txq.front());
    _txq.pop_front();
    const wire::tcp_repr& th = r.f.tcp;
    if ((p.flags & wire::TCPF_SYN) && (th.flags & wire::TCPF_SYN)) {
        // The stack's ISN, learned from its SYN or SYN-ACK.
        _local_isn = th.seq.v - p.seq;
        _local_port = th.sport;
        _remote_port = th.dport;
    }
    std::vector<std::string> diffs;
    if (r.at < lo) {
        diffs.push_back("sent at " + script_time(r.at) + ", expected at " + script_time(t) + " (too early)");
    }
    if (th.flags != p.flags) {
        diffs.push_back("flags " + flags_str(th.flags) + " != " + flags_str(p.flags));
    }
    if (p.ecn >= 0) {
        static const char* const names[] = {"noecn", "ect1", "ect0", "ce"};
        const int got = r.f.ip.tos & 3;
        const bool ok = p.ecn == 4 ? (got == 1 || got == 2) : got == p.ecn;
        if (!ok) {
            diffs.push_back(std::string("ecn [") + names[got] + "] != [" +
                            (p.ecn == 4 ? "ect01" : names[p.ecn]) + "]");
        }
    }
    if (th.seq.v - _local_isn != p.seq) {
        diffs.push_back("seq " + std::to_string(th.seq.v - _local_isn) + " != " + std::to_string(p.seq));
    }
    if (r.f.payload.size() != p.len) {
        diffs.push_back("len " + std::to_string(r.f.payload.size()) + " != " + std::to_string(p.len));
    }
    if (p.has_ack && th.ack.v - _remote_isn != p.ack) {
        diffs.push_back("ack " + std::to_string(th.ack.v - _remote_isn) + " != " + std::to_string(p.ack));
    }
    if (p.has_win && th.window != p.win) {
        diffs.push_back("win " + std::to_string(th.window) + " != " + std::to_string(p.win));
    }
    if (!p.opts_any) {
        auto act = parse_actual_options(r.f.tcp_opt_bytes);
        bool same = act.size() == p.opts.size();
        for (size_t i = 0; same && i < act.size(); ++i) {
            const pd_option& a = act[i];
            const pd_option& e = p.opts[i];
            same = a.k == e.k;
            if (!same) {
                break;
            }
            switch (a.k) {
            case pd_option::kind::mss:
            case pd_option::kind::wscale:
            case pd_option::kind::eol: same = a.a == e.a; break;
            case pd_option::kind::ts:
                // TS val is the stack's clock: not compared (learned for
                // mapping inbound TS ecr); TS ecr echoes the script's val.
                if (!_ts_known) {
                    _ts_known = true;
                    _ts_off = a.a - e.a;
                }
                same = a.b == e.b;
                break;
            case pd_option::kind::sack:
                same = a.blocks.size() == e.blocks.size();
                for (size_t j = 0; same && j < a.blocks.size(); ++j) {
                    same = a.blocks[j].first - _remote_isn == e.blocks[j].first &&
                           a.blocks[j].second - _remote_isn == e.blocks[j].second;
                }
                break;
            default: break;
            }
        }
        if (!same) {
            diffs.push_back("options differ");
        }
    }
    if (!diffs.empty()) {
        std::string w;
        for (const auto& d : diffs) {
            w += (w.empty() ? "" : "; ") + d;
        }
        return fail(ev, "outbound packet differs: " + w, describe_tx(r));
    }
    _last = r.at;
    return true;
}

// An ICMP error from the peer quoting our segment: IPv4 header (DF, as our
// TCP sends) + the first 8 bytes of TCP (ports, sequence number).
bool runner::inbound_icmp(const pd_event& ev) {
    const pd_packet& p = ev.pkt;
    std::vector<std::byte> quote;
    if (p.has_echoed) {
        quote.resize(28);
        wire::ipv4_repr ih;
        ih.total_len = 1500;  // what it was is not known here; tcp_v4_err does not look
        ih.frag = wire::ip_df;
        ih.proto = wire::ipproto_tcp;
        ih.src = LOCAL_IP;
        ih.dst = PEER_IP;
        ih.emit({quote.data(), 20});
        wire::store16(quote.data() + 20, _local_port);
        wire::store16(quote.data() + 22, _remote_port);
        wire::store32(quote.data() + 24, p.echoed_seq + _local_isn);
    }
    wire::icmp_repr icmp{p.icmp_type, p.icmp_code, p.has_mtu ? (p.mtu & 0xffff) : 0,
                         {quote.data(), quote.size()}};
    frame_bytes frame = make_icmp_frame(_fx.peer, icmp);
    if (!_fx.dev.inject_bytes(frame)) {
        return fail(ev, "the test device refused the frame");
    }
    _fx.net.poll();
    after_change();
    return true;
}

bool runner::inbound(const pd_event& ev) {
    const pd_packet& p = ev.pkt;
    if (p.icmp) {
        return inbound_icmp(ev);
    }
    std::vector<std::byte> opt;
    auto put8 = [&](uint32_t v) { opt.push_back(std::byte(v & 0xff)); };
    auto put32 = [&](uint32_t v) {
        put8(v >> 24);
        put8(v >> 16);
        put8(v >> 8);
        put8(v);
    };
    for (const pd_option& o : p.opts) {
        switch (o.k) {
        case pd_option::kind::nop: put8(1); break;
        case pd_option::kind::eol: put8(0); break;
        case pd_option::kind::mss: put8(2); put8(4); put8(o.a >> 8); put8(o.a); break;
        case pd_option::kind::wscale: put8(3); put8(3); put8(o.a); break;
        case pd_option::kind::sack_ok: put8(4); put8(2); break;
        case pd_option::kind::ts:
            put8(8);
            put8(10);
            put32(o.a);
            put32(o.b == 0 || !_ts_known ? o.b : o.b + _ts_off);
            break;
        case pd_option::kind::sack:
            put8(5);
            put8(uint32_t(2 + 8 * o.blocks.size()));
            for (auto [a, b] : o.blocks) {
                put32(a + _local_isn);
                put32(b + _local_isn);
            }
            break;
        }
    }
    if (opt.size() > 40) {
        return fail(ev, "options longer than 40 bytes");
    }
    while (opt.size() % 4) {
        opt.push_back(std::byte(0));
    }
    std::vector<std::byte> seg(20 + opt.size() + p.len);
    auto w16 = [&](size_t at, uint32_t v) {
        seg[at] = std::byte((v >> 8) & 0xff);
        seg[at + 1] = std::byte(v & 0xff);
    };
    auto w32 = [&](size_t at, uint32_t v) {
        w16(at, v >> 16);
        w16(at + 2, v & 0xffff);
    };
    w16(0, _remote_port);
    w16(2, _local_port);
    w32(4, p.seq + _remote_isn);
    w32(8, p.has_ack ? p.ack + _local_isn : 0);
    seg[12] = std::byte(((20 + opt.size()) / 4) << 4);
    seg[13] = std::byte(p.flags);
    w16(14, p.has_win ? p.win : 65535);
    w16(18, p.has_urg ? p.urg : 0);
    std::copy(opt.begin(), opt.end(), seg.begin() + 20);
    for (uint32_t i = 0; i < p.len; ++i) {
        seg[20 + opt.size() + i] = std::byte('a' + (p.seq + i) % 26);
    }
    wire::tcp_fill_checksum(wire::bytes(seg), PEER_IP, LOCAL_IP);
    frame_addrs a = _fx.peer;
    a.tos = uint8_t(p.ecn == 4 ? 2 : p.ecn < 0 ? 0 : p.ecn);  // [ect01] sends ECT(0)
    frame_bytes frame = make_ipv4_frame(a, 6, seg);
    if (!_fx.dev.inject_bytes(frame)) {
        return fail(ev, "the test device refused the frame");
    }
    _fx.net.poll();
    after_change();
    return true;
}

bool runner::attempt(const pd_call& c, long& r) {
    const std::string& n = c.name;
    auto arg = [&](size_t i) -> int64_t { return i < c.args.size() ? c.args[i].v : 0; };
    if (n == "socket") {
        stack_init();
        auto res = sock_create(&_fx.net, AF_INET, SOCK_STREAM, 0);
        if (!res.ok()) {
            r = -res.err();
            return true;
        }
        int fd = new_fd();
        _fds[fd] = fd_ent{res.value(), (arg(1) & SOCK_NONBLOCK) != 0};
        r = fd;
        return true;
    }
    if (n == "poll") {
        // poll([{fd=N, events=E, revents=R}, ...], n, timeout)
        const pd_arg& set = c.args[0];
        int ready = 0;
        std::string got;
        for (const pd_arg& ent : set.elems) {
            const pd_arg* fdv = ent.field("fd");
            const pd_arg* evv = ent.field("events");
            auto it = fdv ? _fds.find(int(fdv->v)) : _fds.end();
            uint32_t m = it == _fds.end() ? POLLNVAL : it->second.s->ops->poll(it->second.s);
            m &= uint32_t(evv ? evv->v : 0) | POLLERR | POLLHUP | POLLNVAL;
            ready += m != 0;
            got += (got.empty() ? "" : ",") + std::to_string(m);
            const pd_arg* rv = ent.field("revents");
            if (rv && rv->k == pd_arg::kind::number && uint32_t(rv->v) != m) {
                _poll_mismatch = true;
            }
        }
        _poll_got = got;
        if (ready == 0) {
            const int64_t timeout = arg(2);
            if (timeout != 0) {
                if (_pend.wake_at == TIME_NEVER) {
                    _pend.wake_at = timeout < 0 ? TIME_NEVER - 1 : _fx.clk.now() + nsec_t(timeout) * NSEC_PER_MSEC;
                }
                if (_fx.clk.now() < _pend.wake_at) {
                    _poll_mismatch = false;
                    return false;
                }
            }
        }
        _pend.wake_at = TIME_NEVER;
        r = ready;
        return true;
    }
    fd_ent* e = fd_of(c);
    if (!e) {
        r = -EBADF;
        return true;
    }
    socket* s = e->s;
    const bool blocking = !e->nonblock;
    if (n == "bind") {
        sockaddr_in sin = make_sin(LOCAL_IP, LOCAL_PORT);
        _local_port = LOCAL_PORT;
        r = s->ops->bind(s, reinterpret_cast<sockaddr*>(&sin), sizeof(sin));
        return true;
    }
    if (n == "listen") {
        r = s->ops->listen(s, int(arg(1)));
        return true;
    }
    if (n == "connect") {
        sockaddr_in sin = make_sin(PEER_IP, REMOTE_PORT);
        r = s->ops->connect(s, reinterpret_cast<sockaddr*>(&sin), sizeof(sin), 04000);
        if (blocking && (r == -EINPROGRESS || r == -EALREADY)) {
            return false;
        }
        return true;
    }
    if (n == "accept") {
        socket* ns = nullptr;
        r = s->ops->accept(s, &ns, 0);
        if (r == -EAGAIN && blocking) {
            return false;
        }
        if (r == 0) {
            int fd = new_fd();
            _fds[fd] = fd_ent{ns, false};
            r = fd;
        }
        return true;
    }
    if (n == "write" || n == "send") {
        const long total = long(arg(2));
        const int flags = n == "send" ? int(arg(3)) : 0;
        std::vector<char> buf(size_t(total - _pend.done), 'x');
        iovec iov{buf.data(), buf.size()};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        long k = buf.empty() ? 0 : s->ops->sendmsg(s, &msg, buf.size(), flags);
        const bool nb = !blocking || (flags & MSG_DONTWAIT);
        if (k >= 0) {
            _pend.done += k;
            if (nb || _pend.done >= total) {
                r = _pend.done;
                _pend.done = 0;
                return true;
            }
            return false;
        }
        if (k == -EAGAIN && !nb) {
            return false;
        }
        r = _pend.done > 0 ? _pend.done : k;
        _pend.done = 0;
        return true;
    }
    if (n == "read" || n == "recv") {
        const int flags = n == "recv" ? int(arg(3)) : 0;
        std::vector<char> buf(size_t(std::max<int64_t>(arg(2), 0)));
        iovec iov{buf.data(), buf.size()};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        r = s->ops->recvmsg(s, &msg, buf.size(), flags);
        return !(r == -EAGAIN && blocking && !(flags & MSG_DONTWAIT));
    }
    if (n == "shutdown") {
        r = s->ops->shutdown(s, int(arg(1)));
        return true;
    }
    if (n == "close") {
        sock_release(s);
        _fds.erase(int(arg(0)));
        r = 0;
        return true;
    }
    if (n == "fcntl") {
        if (arg(1) == F_GETFL) {
            r = O_RDWR | (e->nonblock ? O_NONBLOCK : 0);
        } else if (arg(1) == F_SETFL) {
            e->nonblock = (arg(2) & O_NONBLOCK) != 0;
            r = 0;
        } else {
            r = -EINVAL;
        }
        return true;
    }
    if (n == "setsockopt" || n == "getsockopt") {
        if (c.args.size() < 4) {
            r = -EINVAL;
            return true;
        }
        const pd_arg& v = c.args[3];
        const bool is_linger = v.k == pd_arg::kind::record;
        linger lg{};
        int iv = 0;
        if (n == "setsockopt") {
            if (is_linger) {
                const pd_arg* on = v.field("onoff") ? v.field("onoff") : v.field("l_onoff");
                const pd_arg* sec = v.field("linger") ? v.field("linger") : v.field("l_linger");
                lg.l_onoff = on ? int(on->v) : 0;
                lg.l_linger = sec ? int(sec->v) : 0;
                r = s->ops->setsockopt(s, int(arg(1)), int(arg(2)), &lg, sizeof(lg));
            } else {
                iv = v.k == pd_arg::kind::array && !v.elems.empty() ? int(v.elems[0].v) : int(v.v);
                r = s->ops->setsockopt(s, int(arg(1)), int(arg(2)), &iv, sizeof(iv));
            }
            return true;
        }
        unsigned len = is_linger ? sizeof(lg) : sizeof(iv);
        r = s->ops->getsockopt(s, int(arg(1)), int(arg(2)), is_linger ? static_cast<void*>(&lg) : &iv, &len);
        if (r == 0) {
            // The value is compared here; a mismatch is reported as result -2.
            if (is_linger) {
                const pd_arg* on = v.field("onoff") ? v.field("onoff") : v.field("l_onoff");
                const pd_arg* sec = v.field("linger") ? v.field("linger") : v.field("l_linger");
                if ((on && on->k == pd_arg::kind::number && on->v != lg.l_onoff) ||
                    (sec && sec->k == pd_arg::kind::number && sec->v != lg.l_linger)) {
                    _getsockopt_got = "{onoff=" + std::to_string(lg.l_onoff) + ", linger=" +
                                      std::to_string(lg.l_linger) + "}";
                }
            } else if (v.k == pd_arg::kind::array && !v.elems.empty() &&
                       v.elems[0].k == pd_arg::kind::number && v.elems[0].v != iv) {
                _getsockopt_got = "[" + std::to_string(iv) + "]";
            }
        }
        return true;
    }
    r = -ENOSYS;
    return true;
}

bool runner::finish_call(const pd_event& ev, long r) {
    const pd_call& c = ev.call;
    auto shown = [](long v) {
        return v >= 0 ? std::to_string(v) : "-1 " + std::string(errno_name(int(-v)));
    };
    std::string expected = c.result_any ? "..." : c.err ? std::to_string(c.result) + " " + c.err_name
                                                         : std::to_string(c.result);
    if (r == -ENOSYS) {
        return fail(ev, "call not supported by the runner: " + c.name);
    }
    if (!_getsockopt_got.empty()) {
        std::string g = _getsockopt_got;
        _getsockopt_got.clear();
        return fail(ev, "getsockopt value differs", g);
    }
    if (c.name == "poll" && _poll_mismatch) {
        _poll_mismatch = false;
        return fail(ev, "poll revents differ", "revents " + _poll_got);
    }
    if (c.result_any) {
        return true;
    }
    const bool ok = c.err ? (r == -c.err && c.result == -1) : (r >= 0 && r == c.result);
    if (!ok) {
        return fail(ev, c.name + " returned " + shown(r) + ", expected " + expected);
    }
    return true;
}

void runner::retry_pending() {
    if (!_pend.active || _failed) {
        return;
    }
    long r = 0;
    if (!attempt(_pend.ev->call, r)) {
        return;
    }
    _pend.active = false;
    const pd_event& ev = *_pend.ev;
    if (now() < _pend.lo) {
        fail(ev, "blocking call returned at " + script_time(now()) + ", expected at " +
                     script_time(_pend.lo + _tol) + " (too early)");
        return;
    }
    if (now() > _pend.hi) {
        fail(ev, "blocking call returned at " + script_time(now()) + ", expected by " + script_time(_pend.hi));
        return;
    }
    finish_call(ev, r);
}

bool runner::call(const pd_event& ev, int64_t t) {
    if (_pend.active) {
        return fail(ev, "a blocking call (line " + std::to_string(_pend.ev->line) + ") is still in progress");
    }
    _pend.done = 0;
    _pend.wake_at = TIME_NEVER;
    long r = 0;
    const int64_t end = end_time(ev.time, t);
    if (!attempt(ev.call, r)) {
        _pend.active = true;
        _pend.ev = &ev;
        _pend.lo = ev.time.has_end ? end - _tol : INT64_MIN;
        _pend.hi = end + _tol;
        collect();
        return true;
    }
    collect();
    if (ev.time.has_end && end - _tol > now()) {
        return fail(ev, "call returned at once, expected to block until " + script_time(end));
    }
    return finish_call(ev, r);
}

pd_result runner::run() {
    for (const pd_event& ev : _script.events) {
        if (_failed) {
            break;
        }
        if (ev.k == pd_event::kind::option) {
            if (ev.key == "tolerance_usecs") {
                _tol = ev.value * int64_t(NSEC_PER_USEC);
            } else if (ev.key == "remote_isn") {
                _remote_isn = uint32_t(ev.value);
            } else {
                fail(ev, "unknown option --" + ev.key);
            }
            continue;
        }
        const int64_t t = event_time(ev.time);
        if (_trace) {
            std::fprintf(stderr, "%s [now %s] line %d: %s\n", script_time(t).c_str(), script_time(now()).c_str(),
                         ev.line, ev.text.c_str());
        }
        const bool is_out = ev.k == pd_event::kind::packet && !ev.pkt.inbound;
        if (is_out) {
            outbound(ev, t);
            continue;
        }
        advance_to(t, false);
        if (!check_unexpected(ev) || !check_pending_overdue(ev)) {
            break;
        }
        switch (ev.k) {
        case pd_event::kind::packet: inbound(ev); break;
        case pd_event::kind::call: call(ev, t); break;
        case pd_event::kind::sysctl: {
            auto& sc = _fx.net.sysctl();
            const std::string& k = ev.key;
            const int64_t v = ev.value;
            if (k == "net.ipv4.tcp_timestamps") {
                sc.timestamps = v != 0;
            } else if (k == "net.ipv4.tcp_sack") {
                sc.sack = v != 0;
            } else if (k == "net.ipv4.tcp_window_scaling") {
                sc.window_scaling = v != 0;
            } else if (k == "net.ipv4.tcp_syn_retries") {
                sc.syn_retries = uint8_t(v);
            } else if (k == "net.ipv4.tcp_synack_retries") {
                sc.synack_retries = uint8_t(v);
            } else if (k == "net.ipv4.tcp_keepalive_time") {
                sc.keepalive_time = nsec_t(v) * NSEC_PER_SEC;
            } else if (k == "net.ipv4.tcp_keepalive_intvl") {
                sc.keepalive_intvl = nsec_t(v) * NSEC_PER_SEC;
            } else if (k == "net.ipv4.tcp_keepalive_probes") {
                sc.keepalive_probes = uint8_t(v);
            } else if (k == "net.ipv4.tcp_fin_timeout") {
                sc.fin_timeout = nsec_t(v) * NSEC_PER_SEC;
            } else if (k == "net.ipv4.tcp_retries2") {
                sc.retries2 = uint8_t(v);
            } else if (k == "net.ipv4.tcp_orphan_retries") {
                sc.orphan_retries = uint8_t(v);
            } else if (k == "net.ipv4.tcp_ecn") {
                sc.ecn = uint8_t(v);
            } else if (k == "net.ipv4.tcp_syncookies") {
                sc.syncookies = uint8_t(v);
            } else {
                fail(ev, "sysctl not supported by the runner: " + k);
            }
            break;
        }
        case pd_event::kind::option: break;
        }
        _last = ev.time.k == pd_time::kind::any ? now() : t;
    }
    if (!_failed && _pend.active) {
        fail(*_pend.ev, "blocking call never returned (script ended at " + script_time(now()) + ")");
    }
    if (!_failed && !_txq.empty()) {
        const pd_event& last = _script.events.back();
        fail(last, "unexpected outbound packet (unmatched when the script ended)", describe_tx(_txq.front()));
    }
    return pd_result{!_failed, _msg};
}

}  // namespace

pd_result run_script(const pd_script& script) {
    runner r(script);
    return r.run();
}

}  // namespace dshim::pd
