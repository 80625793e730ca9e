// Scripted conformance (testing.md layer 3): the parsed form of a script in
// packetdrill's documented grammar — timed events that are socket calls
// (strace-like, with expected result and errno) or TCP packets (tcpdump-like,
// `<` inbound, `>` outbound) — and the parser that reads it. Written here from
// the grammar's public description; see tests/pd/README.md for the subset.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace dshim::pd {

// When an event happens: an absolute time, `+x` after the previous event,
// `*` (any time), optionally with a range end (`a~b` for packets, `a...b`
// for blocking calls). Times are in nanoseconds of script time.
struct pd_time {
    enum class kind { absolute, relative, any };
    kind k = kind::absolute;
    int64_t ns = 0;
    bool has_end = false;   // `~` or `...`
    bool end_relative = false;
    int64_t end_ns = 0;
};

// One TCP option as written (outbound ones are compared item by item).
struct pd_option {
    enum class kind { nop, eol, mss, wscale, sack_ok, ts, sack };
    kind k = kind::nop;
    uint32_t a = 0;  // mss value, wscale shift, TS val
    uint32_t b = 0;  // TS ecr
    std::vector<std::pair<uint32_t, uint32_t>> blocks;  // sack start:end
};

struct pd_packet {
    bool inbound = true;
    // packetdrill's opt_ip_info `[noecn]` `[ect1]` `[ect0]` `[ce]` `[ect01]`
    // before the flags: the IPv4 ECN field an inbound packet carries / an
    // outbound one must carry (0..3, ect01 = 4: either ECT). -1: not written
    // (inbound Not-ECT, outbound not compared, as packetdrill).
    int ecn = -1;
    uint8_t flags = 0;
    uint32_t seq = 0;
    uint32_t end = 0;
    uint32_t len = 0;
    bool has_ack = false;
    uint32_t ack = 0;
    bool has_win = false;
    uint32_t win = 0;
    bool has_urg = false;
    uint32_t urg = 0;
    bool opts_any = false;   // `<...>`: options are not checked
    bool has_opts = false;   // an option list was written
    std::vector<pd_option> opts;
    // Inbound ICMP (`< icmp TYPE [CODE] [mtu N] [seq:end(len)]`, or with the
    // bracket before `icmp`): the quoted segment is one of ours, its seq
    // relative to the stack's ISN as for outbound packets.
    bool icmp = false;
    uint8_t icmp_type = 0;
    uint8_t icmp_code = 0;
    bool has_mtu = false;
    uint32_t mtu = 0;
    bool has_echoed = false;
    uint32_t echoed_seq = 0;
};

// A call argument: `...`, a number (identifiers and `A|B` are folded into
// numbers at parse time), `[x, y]` or `{name=x, ...}`.
struct pd_arg {
    enum class kind { ellipsis, number, array, record, string };
    kind k = kind::ellipsis;
    int64_t v = 0;
    std::string text;                                    // string, record field names
    std::vector<pd_arg> elems;                           // array or record values
    std::vector<std::string> names;                      // record field names
    const pd_arg* field(const std::string& n) const;     // record lookup
};

struct pd_call {
    std::string name;
    std::vector<pd_arg> args;
    bool result_any = false;  // `= ...`
    int64_t result = 0;
    int err = 0;              // expected errno (0 = none written)
    std::string err_name;
};

struct pd_event {
    enum class kind { packet, call, sysctl, option };
    int line = 0;
    std::string text;  // the statement as written (for messages)
    pd_time time;
    kind k = kind::call;
    pd_packet pkt;
    pd_call call;
    std::string key;   // sysctl name / option name
    int64_t value = 0;
};

struct pd_script {
    std::string path;
    std::vector<pd_event> events;
};

// Parses a whole script; false with `error` ("line N: ...") on a syntax
// error or an unknown name.
bool parse_script(const std::string& text, pd_script& out, std::string& error);

// Symbolic constants the grammar allows (SOCK_STREAM, SO_LINGER, POLLIN,
// errno names...); false if unknown.
bool lookup_constant(const std::string& name, int64_t& out);
const char* errno_name(int e);

}  // namespace dshim::pd
