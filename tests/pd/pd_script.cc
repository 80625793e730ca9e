// Parser for the packetdrill-grammar subset (see pd_script.hh and
// tests/pd/README.md): comments, `--option=value` lines, timed events that
// are packets, socket calls or `sysctl` shell commands.
#include "pd/pd_script.hh"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <map>
#include <sstream>

namespace dshim::pd {

namespace {

const std::map<std::string, int64_t>& constants() {
    static const std::map<std::string, int64_t> table = [] {
        std::map<std::string, int64_t> t;
#define PD_C(x) t[#x] = int64_t(x)
        PD_C(AF_INET); PD_C(PF_INET); PD_C(SOCK_STREAM); PD_C(SOCK_NONBLOCK); PD_C(IPPROTO_TCP);
        PD_C(IPPROTO_IP); PD_C(SOL_SOCKET); PD_C(SOL_TCP);
        PD_C(SO_REUSEADDR); PD_C(SO_REUSEPORT); PD_C(SO_KEEPALIVE); PD_C(SO_LINGER); PD_C(SO_ERROR);
        PD_C(SO_SNDBUF); PD_C(SO_RCVBUF); PD_C(SO_TYPE); PD_C(SO_ACCEPTCONN); PD_C(SO_RCVLOWAT);
        PD_C(SO_OOBINLINE); PD_C(SO_MAX_PACING_RATE);
        PD_C(TCP_NODELAY); PD_C(TCP_MAXSEG); PD_C(TCP_CORK); PD_C(TCP_KEEPIDLE); PD_C(TCP_KEEPINTVL);
        PD_C(TCP_KEEPCNT); PD_C(TCP_SYNCNT); PD_C(TCP_LINGER2); PD_C(TCP_QUICKACK); PD_C(TCP_USER_TIMEOUT);
        PD_C(SHUT_RD); PD_C(SHUT_WR); PD_C(SHUT_RDWR);
        PD_C(F_GETFL); PD_C(F_SETFL); PD_C(O_RDWR); PD_C(O_NONBLOCK); PD_C(O_RDONLY); PD_C(O_WRONLY);
        PD_C(POLLIN); PD_C(POLLOUT); PD_C(POLLERR); PD_C(POLLHUP); PD_C(POLLRDHUP); PD_C(POLLRDNORM);
        PD_C(POLLWRNORM); PD_C(POLLPRI); PD_C(POLLNVAL);
        PD_C(MSG_DONTWAIT); PD_C(MSG_PEEK); PD_C(MSG_WAITALL); PD_C(MSG_NOSIGNAL); PD_C(MSG_MORE);
        PD_C(EPERM); PD_C(ENOENT); PD_C(EINTR); PD_C(EIO); PD_C(EBADF); PD_C(EAGAIN); PD_C(ENOMEM);
        PD_C(EACCES); PD_C(EFAULT); PD_C(EINVAL); PD_C(EPIPE); PD_C(ENOTSOCK); PD_C(EDESTADDRREQ);
        PD_C(EMSGSIZE); PD_C(EPROTOTYPE); PD_C(ENOPROTOOPT); PD_C(EPROTONOSUPPORT); PD_C(EOPNOTSUPP);
        PD_C(EAFNOSUPPORT); PD_C(EADDRINUSE); PD_C(EADDRNOTAVAIL); PD_C(ENETDOWN); PD_C(ENETUNREACH);
        PD_C(ECONNABORTED); PD_C(ECONNRESET); PD_C(ENOBUFS); PD_C(EISCONN); PD_C(ENOTCONN);
        PD_C(ETIMEDOUT); PD_C(ECONNREFUSED); PD_C(EHOSTUNREACH); PD_C(EALREADY); PD_C(EINPROGRESS);
        PD_C(EHOSTDOWN); PD_C(EDOM);
#undef PD_C
        t["EWOULDBLOCK"] = EAGAIN;
        return t;
    }();
    return table;
}

// A cursor over one statement.
struct lexer {
    std::string s;
    size_t i = 0;
    std::string err;

    void ws() {
        while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) {
            ++i;
        }
    }
    bool eof() {
        ws();
        return i >= s.size();
    }
    bool peek(char c) {
        ws();
        return i < s.size() && s[i] == c;
    }
    bool peek_str(const char* p) {
        ws();
        return s.compare(i, std::char_traits<char>::length(p), p) == 0;
    }
    bool eat(char c) {
        if (peek(c)) {
            ++i;
            return true;
        }
        return false;
    }
    bool eat_str(const char* p) {
        if (peek_str(p)) {
            i += std::char_traits<char>::length(p);
            return true;
        }
        return false;
    }
    bool fail(const std::string& m) {
        if (err.empty()) {
            err = m + " at '" + s.substr(i, 20) + "'";
        }
        return false;
    }
    std::string ident() {
        ws();
        size_t b = i;
        while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '_')) {
            ++i;
        }
        return s.substr(b, i - b);
    }
    // Unsigned integer (decimal or 0x hex).
    bool number(uint64_t& v) {
        ws();
        if (i >= s.size() || !std::isdigit(static_cast<unsigned char>(s[i]))) {
            return fail("number expected");
        }
        char* end = nullptr;
        v = std::strtoull(s.c_str() + i, &end, 0);
        i = size_t(end - s.c_str());
        return true;
    }
    // Seconds with optional fraction ("1", "0.25", ".1"); a '.' that starts
    // "..." is not a fraction.
    bool seconds(int64_t& ns) {
        ws();
        size_t b = i;
        while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
            ++i;
        }
        if (i < s.size() && s[i] == '.' && !(i + 1 < s.size() && s[i + 1] == '.')) {
            ++i;
            while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
                ++i;
            }
        }
        if (i == b) {
            return fail("time expected");
        }
        ns = int64_t(std::strtod(s.substr(b, i - b).c_str(), nullptr) * 1e9 + 0.5);
        return true;
    }
};

bool parse_time(lexer& lx, pd_time& t) {
    if (lx.eat('*')) {
        t.k = pd_time::kind::any;
        return true;
    }
    t.k = lx.eat('+') ? pd_time::kind::relative : pd_time::kind::absolute;
    if (!lx.seconds(t.ns)) {
        return false;
    }
    if (lx.s.compare(lx.i, 3, "...") == 0 || (lx.i < lx.s.size() && lx.s[lx.i] == '~')) {
        lx.i += lx.s[lx.i] == '~' ? 1 : 3;
        t.has_end = true;
        t.end_relative = lx.eat('+');
        return lx.seconds(t.end_ns);
    }
    return true;
}

bool parse_options(lexer& lx, pd_packet& p) {
    // Caller ate '<'.
    p.has_opts = true;
    if (lx.eat_str("...")) {
        p.opts_any = true;
        return lx.eat('>') || lx.fail("'>' expected");
    }
    for (;;) {
        pd_option o;
        std::string name = lx.ident();
        uint64_t v = 0;
        if (name == "nop") {
            o.k = pd_option::kind::nop;
        } else if (name == "eol") {
            o.k = pd_option::kind::eol;
        } else if (name == "sackOK") {
            o.k = pd_option::kind::sack_ok;
        } else if (name == "mss" || name == "wscale") {
            o.k = name == "mss" ? pd_option::kind::mss : pd_option::kind::wscale;
            if (!lx.number(v)) {
                return false;
            }
            o.a = uint32_t(v);
        } else if (name == "TS") {
            o.k = pd_option::kind::ts;
            uint64_t a = 0;
            uint64_t b = 0;
            if (lx.ident() != "val" || !lx.number(a) || lx.ident() != "ecr" || !lx.number(b)) {
                return lx.fail("TS val N ecr N expected");
            }
            o.a = uint32_t(a);
            o.b = uint32_t(b);
        } else if (name == "sack") {
            o.k = pd_option::kind::sack;
            while (!lx.peek(',') && !lx.peek('>')) {
                uint64_t a = 0;
                uint64_t b = 0;
                if (!lx.number(a) || !lx.eat(':') || !lx.number(b)) {
                    return lx.fail("sack start:end expected");
                }
                o.blocks.emplace_back(uint32_t(a), uint32_t(b));
            }
        } else {
            return lx.fail("unknown TCP option '" + name + "'");
        }
        p.opts.push_back(std::move(o));
        if (lx.eat('>')) {
            return true;
        }
        if (!lx.eat(',')) {
            return lx.fail("',' or '>' expected in options");
        }
    }
}

// packetdrill's ICMP type and code names (unreachable codes as RFC 792/1812).
bool icmp_type_of(const std::string& n, uint8_t& t) {
    static const std::pair<const char*, uint8_t> types[] = {
        {"echo_reply", 0}, {"unreachable", 3}, {"source_quench", 4}, {"redirect", 5},
        {"echo_request", 8}, {"time_exceeded", 11}, {"parameter_problem", 12}};
    for (auto [name, v] : types) {
        if (n == name) {
            t = v;
            return true;
        }
    }
    return false;
}

bool icmp_code_of(const std::string& n, uint8_t& c) {
    static const char* const unreach[] = {
        "net_unreachable", "host_unreachable", "protocol_unreachable", "port_unreachable",
        "frag_needed", "source_route_failed", "net_unknown", "host_unknown",
        "source_host_isolated", "net_prohibited", "host_prohibited", "net_unreachable_for_tos",
        "host_unreachable_for_tos", "packet_filtered", "precedence_violation", "precedence_cutoff"};
    for (size_t i = 0; i < sizeof(unreach) / sizeof(unreach[0]); ++i) {
        if (n == unreach[i]) {
            c = uint8_t(i);
            return true;
        }
    }
    return false;
}

// `[seq:end(len)]`: the TCP segment an ICMP error quotes.
bool parse_echoed(lexer& lx, pd_packet& p) {
    uint64_t a = 0, b = 0, n = 0;
    if (!lx.number(a) || !lx.eat(':') || !lx.number(b) || !lx.eat('(') || !lx.number(n) || !lx.eat(')') ||
        !lx.eat(']')) {
        return lx.fail("[start:end(len)] expected");
    }
    if (uint32_t(a + n) != uint32_t(b)) {
        return lx.fail("end != start + len");
    }
    p.has_echoed = true;
    p.echoed_seq = uint32_t(a);
    return true;
}

bool parse_icmp(lexer& lx, pd_packet& p) {
    if (!p.inbound) {
        return lx.fail("outbound ICMP packets are not supported");
    }
    p.icmp = true;
    if (!icmp_type_of(lx.ident(), p.icmp_type)) {
        return lx.fail("unknown ICMP type");
    }
    while (!lx.eof()) {
        if (lx.eat('[')) {
            if (!parse_echoed(lx, p)) {
                return false;
            }
            continue;
        }
        uint64_t v = 0;
        if (lx.i < lx.s.size() && std::isdigit(static_cast<unsigned char>(lx.s[lx.i]))) {
            if (!lx.number(v) || v > 255) {
                return lx.fail("ICMP code 0..255 expected");
            }
            p.icmp_code = uint8_t(v);
            continue;
        }
        std::string kw = lx.ident();
        if (kw == "mtu") {
            if (!lx.number(v) || v > 65535) {
                return lx.fail("mtu 0..65535 expected");
            }
            p.has_mtu = true;
            p.mtu = uint32_t(v);
        } else if (!icmp_code_of(kw, p.icmp_code)) {
            return lx.fail("unknown ICMP code '" + kw + "'");
        }
    }
    return true;
}

bool parse_packet(lexer& lx, pd_packet& p) {
    p.inbound = lx.eat('<');
    if (!p.inbound && !lx.eat('>')) {
        return lx.fail("'<' or '>' expected");
    }
    {
        // `[ect0]` and friends (packetdrill's ip_ecn), else the bracket is
        // an ICMP quote.
        const size_t at = lx.i;
        if (lx.eat('[')) {
            static const std::pair<const char*, int> words[] = {
                {"noecn", 0}, {"ect1", 1}, {"ect0", 2}, {"ce", 3}, {"ect01", 4}};
            const std::string w = lx.ident();
            bool found = false;
            for (auto [name, v] : words) {
                if (w == name) {
                    p.ecn = v;
                    found = true;
                }
            }
            if (found && !lx.eat(']')) {
                return lx.fail("']' expected after the ECN field");
            }
            if (!found) {
                lx.i = at;
            }
        }
    }
    if (lx.eat('[')) {  // `< [seq:end(len)] icmp ...`
        if (!parse_echoed(lx, p)) {
            return false;
        }
        if (!lx.eat_str("icmp")) {
            return lx.fail("'icmp' expected after the quoted segment");
        }
        return parse_icmp(lx, p);
    }
    if (lx.peek_str("icmp ")) {
        lx.eat_str("icmp");
        return parse_icmp(lx, p);
    }
    lx.ws();
    while (lx.i < lx.s.size() && !std::isspace(static_cast<unsigned char>(lx.s[lx.i]))) {
        switch (lx.s[lx.i]) {
        case 'F': p.flags |= 0x01; break;
        case 'S': p.flags |= 0x02; break;
        case 'R': p.flags |= 0x04; break;
        case 'P': p.flags |= 0x08; break;
        case '.': p.flags |= 0x10; break;
        case 'U': p.flags |= 0x20; break;
        case 'E': p.flags |= 0x40; break;
        case 'W': p.flags |= 0x80; break;
        default: return lx.fail("unknown TCP flag");
        }
        ++lx.i;
    }
    uint64_t a = 0;
    uint64_t b = 0;
    uint64_t n = 0;
    if (!lx.number(a) || !lx.eat(':') || !lx.number(b) || !lx.eat('(') || !lx.number(n) || !lx.eat(')')) {
        return lx.fail("start:end(len) expected");
    }
    p.seq = uint32_t(a);
    p.end = uint32_t(b);
    p.len = uint32_t(n);
    if (uint32_t(p.seq + p.len) != p.end) {
        return lx.fail("end != start + len");
    }
    while (!lx.eof()) {
        if (lx.eat('<')) {
            if (!parse_options(lx, p)) {
                return false;
            }
            continue;
        }
        std::string kw = lx.ident();
        uint64_t v = 0;
        if (kw == "ack") {
            p.has_ack = true;
        } else if (kw == "win") {
            p.has_win = true;
        } else if (kw == "urg") {
            p.has_urg = true;
        } else {
            return lx.fail("unknown packet field '" + kw + "'");
        }
        if (!lx.number(v)) {
            return false;
        }
        (kw == "ack" ? p.ack : kw == "win" ? p.win : p.urg) = uint32_t(v);
    }
    return true;
}

bool parse_value(lexer& lx, int64_t& out) {
    out = 0;
    do {
        bool neg = lx.eat('-');
        lx.ws();
        int64_t v = 0;
        if (lx.i < lx.s.size() && std::isdigit(static_cast<unsigned char>(lx.s[lx.i]))) {
            uint64_t u = 0;
            if (!lx.number(u)) {
                return false;
            }
            v = int64_t(u);
        } else {
            std::string id = lx.ident();
            if (id.empty() || !lookup_constant(id, v)) {
                return lx.fail("unknown name '" + id + "'");
            }
        }
        out |= neg ? -v : v;
    } while (lx.eat('|'));
    return true;
}

bool parse_arg(lexer& lx, pd_arg& a) {
    if (lx.eat_str("...")) {
        a.k = pd_arg::kind::ellipsis;
        return true;
    }
    if (lx.eat('[')) {
        a.k = pd_arg::kind::array;
        while (!lx.eat(']')) {
            pd_arg e;
            if (!parse_arg(lx, e)) {
                return false;
            }
            a.elems.push_back(std::move(e));
            if (!lx.eat(',') && !lx.peek(']')) {
                return lx.fail("',' or ']' expected");
            }
        }
        return true;
    }
    if (lx.eat('{')) {
        a.k = pd_arg::kind::record;
        while (!lx.eat('}')) {
            std::string n = lx.ident();
            pd_arg e;
            if (n.empty() || !lx.eat('=') || !parse_arg(lx, e)) {
                return lx.fail("name=value expected");
            }
            a.names.push_back(n);
            a.elems.push_back(std::move(e));
            if (!lx.eat(',') && !lx.peek('}')) {
                return lx.fail("',' or '}' expected");
            }
        }
        return true;
    }
    if (lx.eat('"')) {
        a.k = pd_arg::kind::string;
        size_t e = lx.s.find('"', lx.i);
        if (e == std::string::npos) {
            return lx.fail("unterminated string");
        }
        a.text = lx.s.substr(lx.i, e - lx.i);
        lx.i = e + 1;
        return true;
    }
    a.k = pd_arg::kind::number;
    return parse_value(lx, a.v);
}

bool parse_call(lexer& lx, pd_call& c) {
    c.name = lx.ident();
    if (c.name.empty() || !lx.eat('(')) {
        return lx.fail("call expected");
    }
    while (!lx.eat(')')) {
        pd_arg a;
        if (!parse_arg(lx, a)) {
            return false;
        }
        c.args.push_back(std::move(a));
        if (!lx.eat(',') && !lx.peek(')')) {
            return lx.fail("',' or ')' expected");
        }
    }
    if (!lx.eat('=')) {
        return lx.fail("'= result' expected");
    }
    if (lx.eat_str("...")) {
        c.result_any = true;
        return true;
    }
    if (!parse_value(lx, c.result)) {
        return false;
    }
    if (!lx.eof() && !lx.peek('(')) {
        c.err_name = lx.ident();
        int64_t e = 0;
        if (!lookup_constant(c.err_name, e)) {
            return lx.fail("unknown errno");
        }
        c.err = int(e);
    }
    if (lx.eat('(')) {  // "(Operation now in progress)": free text
        size_t e = lx.s.rfind(')');
        lx.i = e == std::string::npos ? lx.s.size() : e + 1;
    }
    return lx.eof() || lx.fail("junk after call");
}

// `sysctl -q net.ipv4.NAME=VALUE` (also -w, or no flag).
bool parse_sysctl(lexer& lx, pd_event& ev) {
    std::string body = lx.s.substr(lx.i);
    size_t close = body.find('`');
    if (close == std::string::npos) {
        return lx.fail("unterminated `");
    }
    std::istringstream in(body.substr(0, close));
    std::string word;
    in >> word;
    if (word != "sysctl") {
        return lx.fail("only `sysctl ...` shell commands are supported");
    }
    while (in >> word && word[0] == '-') {
    }
    size_t eq = word.find('=');
    if (eq == std::string::npos) {
        return lx.fail("sysctl name=value expected");
    }
    ev.k = pd_event::kind::sysctl;
    ev.key = word.substr(0, eq);
    ev.value = std::strtoll(word.c_str() + eq + 1, nullptr, 0);
    return true;
}

std::string strip_comments(const std::string& text) {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size(); ++i) {
        if (text.compare(i, 2, "//") == 0) {
            while (i < text.size() && text[i] != '\n') {
                ++i;
            }
            out += '\n';
        } else if (text.compare(i, 2, "/*") == 0) {
            size_t e = text.find("*/", i + 2);
            e = e == std::string::npos ? text.size() : e;
            for (size_t j = i; j < e; ++j) {
                if (text[j] == '\n') {
                    out += '\n';  // keep line numbers
                }
            }
            i = e + 1;
        } else {
            out += text[i];
        }
    }
    return out;
}

}  // namespace

const pd_arg* pd_arg::field(const std::string& n) const {
    for (size_t i = 0; i < names.size(); ++i) {
        if (names[i] == n) {
            return &elems[i];
        }
    }
    return nullptr;
}

bool lookup_constant(const std::string& name, int64_t& out) {
    auto it = constants().find(name);
    if (it == constants().end()) {
        return false;
    }
    out = it->second;
    return true;
}

const char* errno_name(int e) {
    for (const auto& [n, v] : constants()) {
        if (n[0] == 'E' && v == e && n != "EWOULDBLOCK") {
            return n.c_str();
        }
    }
    return "E?";
}

bool parse_script(const std::string& text, pd_script& out, std::string& error) {
    std::istringstream in(strip_comments(text));
    std::string line;
    int lineno = 0;
    while (std::getline(in, line)) {
        ++lineno;
        lexer lx{line};
        if (lx.eof()) {
            continue;
        }
        pd_event ev;
        ev.line = lineno;
        ev.text = line.substr(line.find_first_not_of(" \t"));
        bool ok = true;
        if (lx.eat_str("--")) {
            // Script option: --name=value.
            std::string n = lx.ident();
            ev.k = pd_event::kind::option;
            ev.key = n;
            ok = lx.eat('=') && parse_value(lx, ev.value);
            if (!ok) {
                lx.fail("--name=value expected");
            }
        } else if (!parse_time(lx, ev.time)) {
            ok = false;
        } else if (lx.peek('<') || lx.peek('>')) {
            ev.k = pd_event::kind::packet;
            ok = parse_packet(lx, ev.pkt);
        } else if (lx.eat('`')) {
            ok = parse_sysctl(lx, ev);
        } else {
            ev.k = pd_event::kind::call;
            ok = parse_call(lx, ev.call);
        }
        if (!ok) {
            error = "line " + std::to_string(lineno) + ": " + (lx.err.empty() ? "syntax error" : lx.err);
            return false;
        }
        out.events.push_back(std::move(ev));
    }
    return true;
}

}  // namespace dshim::pd
