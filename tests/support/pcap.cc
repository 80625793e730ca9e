// Classic pcap writer (see pcap.hh). Format per the libpcap file format
// description (tcpdump.org "pcap-savefile", draft-ietf-opsawg-pcap).
#include "support/pcap.hh"

namespace dshim::test {

namespace {

void put_le32(std::vector<std::byte>& out, uint32_t v) {
    for (int i = 0; i < 4; ++i) {
        out.push_back(std::byte((v >> (8 * i)) & 0xff));
    }
}
void put_le16(std::vector<std::byte>& out, uint16_t v) {
    out.push_back(std::byte(v & 0xff));
    out.push_back(std::byte(v >> 8));
}

}  // namespace

void pcap_append_file_header(std::vector<std::byte>& out, uint32_t snaplen) {
    put_le32(out, pcap_magic_usec);
    put_le16(out, 2);  // version major
    put_le16(out, 4);  // version minor
    put_le32(out, 0);  // thiszone: UTC
    put_le32(out, 0);  // sigfigs
    put_le32(out, snaplen);
    put_le32(out, pcap_linktype_ethernet);
}

void pcap_append_record(std::vector<std::byte>& out, nsec_t t, std::span<const std::byte> frame,
                        uint32_t snaplen) {
    uint32_t caplen = frame.size() < snaplen ? uint32_t(frame.size()) : snaplen;
    put_le32(out, uint32_t(t / NSEC_PER_SEC));
    put_le32(out, uint32_t((t % NSEC_PER_SEC) / NSEC_PER_USEC));
    put_le32(out, caplen);
    put_le32(out, uint32_t(frame.size()));
    out.insert(out.end(), frame.begin(), frame.begin() + caplen);
}

bool pcap_writer::open(const std::string& path, uint32_t snaplen) {
    close();
    _f = std::fopen(path.c_str(), "wb");
    if (!_f) {
        return false;
    }
    _snaplen = snaplen;
    _ok = true;
    std::vector<std::byte> hdr;
    pcap_append_file_header(hdr, snaplen);
    _ok = std::fwrite(hdr.data(), 1, hdr.size(), _f) == hdr.size();
    return _ok;
}

bool pcap_writer::write(nsec_t t, std::span<const std::byte> frame) {
    if (!_f) {
        return false;
    }
    std::vector<std::byte> rec;
    rec.reserve(pcap_record_header_len + frame.size());
    pcap_append_record(rec, t, frame, _snaplen);
    bool ok = std::fwrite(rec.data(), 1, rec.size(), _f) == rec.size();
    _ok = _ok && ok;
    return ok;
}

bool pcap_writer::close() {
    if (!_f) {
        return _ok;
    }
    bool ok = std::fclose(_f) == 0;
    _f = nullptr;
    _ok = _ok && ok;
    return _ok;
}

}  // namespace dshim::test
