// pcapng capture of the port's traffic.
#include "capture.hh"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_errno.h>

namespace dshim::dpdk {

namespace {
constexpr uint32_t snap_len = 9216;     // the largest frame we could see
constexpr uint32_t capture_mbufs = 1023;
}  // namespace

int capture::open(const char* path, uint16_t port_id, int socket, std::string& err) {
    _port = port_id;
    _mp = rte_pktmbuf_pool_create("dshim_pcap", capture_mbufs, 0, 0, uint16_t(rte_pcapng_mbuf_size(snap_len)), socket);
    if (_mp == nullptr) {
        err = std::string("cannot create the capture mempool: ") + rte_strerror(rte_errno);
        return -(rte_errno ? rte_errno : ENOMEM);
    }
    int fd = ::open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        err = std::string("cannot open capture file ") + path + ": " + std::strerror(e) + " (DSHIM_PCAP)";
        rte_mempool_free(_mp);
        _mp = nullptr;
        return -e;
    }
    struct utsname u {};
    std::string os = "Linux";
    if (uname(&u) == 0) {
        os = std::string(u.sysname) + " " + u.release;
    }
    _pcap = rte_pcapng_fdopen(fd, os.c_str(), nullptr, "dshim", nullptr);
    if (_pcap == nullptr) {
        int e = rte_errno ? rte_errno : EIO;
        ::close(fd);
        rte_mempool_free(_mp);
        _mp = nullptr;
        err = std::string("cannot start pcapng capture: ") + rte_strerror(e);
        return -e;
    }
    _fd = fd;
    return 0;
}

void capture::close() noexcept {
    if (_pcap != nullptr) {
        rte_pcapng_close(_pcap);   // closes the fd
        _pcap = nullptr;
        _fd = -1;
    }
    if (_mp != nullptr) {
        rte_mempool_free(_mp);
        _mp = nullptr;
    }
}

void capture::copy_burst(rte_mbuf* const* pkts, uint16_t n, rte_pcapng_direction dir, rte_mbuf** copies) noexcept {
    uint64_t now = rte_get_tsc_cycles();
    for (uint16_t i = 0; i < n; ++i) {
        copies[i] = _pcap ? rte_pcapng_copy(_port, 0, pkts[i], _mp, UINT32_MAX, now, dir) : nullptr;
    }
}

void capture::write_burst(rte_mbuf** copies, uint16_t keep, uint16_t n) noexcept {
    rte_mbuf* out[max_burst];
    uint16_t c = 0;
    for (uint16_t i = 0; i < keep; ++i) {
        if (copies[i] == nullptr) {
            ++drops;
        } else {
            out[c++] = copies[i];
        }
    }
    if (c > 0 && _pcap != nullptr && rte_pcapng_write_packets(_pcap, out, c) < 0) {
        drops += c;
    }
    // The 22.11 writer does not free what it wrote (despite its doc).
    for (uint16_t i = 0; i < n; ++i) {
        if (copies[i] != nullptr) {
            rte_pktmbuf_free(copies[i]);
        }
    }
}

void capture::record(rte_mbuf* const* pkts, uint16_t n, rte_pcapng_direction dir) noexcept {
    while (n > 0) {
        uint16_t k = n < max_burst ? n : max_burst;
        rte_mbuf* copies[max_burst];
        copy_burst(pkts, k, dir, copies);
        write_burst(copies, k, k);
        pkts += k;
        n = uint16_t(n - k);
    }
}

void capture::cut_off() noexcept {
    // The child's copy of the file descriptor only; the parent keeps writing.
    if (_fd >= 0) {
        ::close(_fd);
    }
    _fd = -1;
    _pcap = nullptr;
    _mp = nullptr;
}

}  // namespace dshim::dpdk
