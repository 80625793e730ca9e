// Classic libpcap capture files (the tcpdump/Wireshark "pcap" format, not
// pcapng): a 24-byte global header then one 16-byte record header per frame,
// LINKTYPE_ETHERNET, microsecond timestamps. Written little-endian always,
// so the bytes do not depend on the host.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <vector>
#include "core/clock.hh"

namespace dshim::test {

inline constexpr uint32_t pcap_magic_usec = 0xa1b2c3d4;
inline constexpr uint32_t pcap_linktype_ethernet = 1;
inline constexpr uint32_t pcap_default_snaplen = 65535;
inline constexpr size_t pcap_file_header_len = 24;
inline constexpr size_t pcap_record_header_len = 16;

// Appends the global header (magic, version 2.4, zone 0, sigfigs 0, snaplen,
// LINKTYPE_ETHERNET) to out.
void pcap_append_file_header(std::vector<std::byte>& out, uint32_t snaplen = pcap_default_snaplen);
// Appends one record: ts = t (virtual nanoseconds, truncated to
// microseconds), caplen = min(len, snaplen), origlen = len.
void pcap_append_record(std::vector<std::byte>& out, nsec_t t, std::span<const std::byte> frame,
                        uint32_t snaplen = pcap_default_snaplen);

// Streams records to a file. Owned by one thread.
class pcap_writer {
public:
    pcap_writer() = default;
    ~pcap_writer() { close(); }
    pcap_writer(const pcap_writer&) = delete;
    pcap_writer& operator=(const pcap_writer&) = delete;

    // Creates/truncates path and writes the file header; false on I/O error.
    bool open(const std::string& path, uint32_t snaplen = pcap_default_snaplen);
    bool is_open() const noexcept { return _f != nullptr; }
    bool write(nsec_t t, std::span<const std::byte> frame);
    // Flushes and closes; false if any write failed.
    bool close();

private:
    std::FILE* _f = nullptr;
    uint32_t _snaplen = pcap_default_snaplen;
    bool _ok = true;
};

}  // namespace dshim::test
