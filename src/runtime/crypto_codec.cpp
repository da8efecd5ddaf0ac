#if STARLING_HAVE_CRYPTO

#include "crypto_codec.h"

#include <cstring>

namespace starling::runtime::codec {

namespace {

enum class Type : std::uint8_t { hello = 1, reply = 2, finish = 3, datagram = 4 };

class Writer {
 public:
  explicit Writer(Type type) { bytes_.push_back(static_cast<std::uint8_t>(type)); }
  template <std::size_t N>
  void put(const std::array<std::uint8_t, N>& field) { bytes_.insert(bytes_.end(), field.begin(), field.end()); }
  void put(std::uint64_t value, int size) {
    for (int i = size - 1; i >= 0; --i) bytes_.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
  }
  void put(ByteSpan rest) { bytes_.insert(bytes_.end(), rest.begin(), rest.end()); }
  Bytes take() { return std::move(bytes_); }

 private:
  Bytes bytes_;
};

class Reader {
 public:
  Reader(ByteSpan bytes, Type type) : bytes_(bytes) {
    ok_ = !bytes_.empty() && bytes_[0] == static_cast<std::uint8_t>(type);
    offset_ = 1;
  }
  template <std::size_t N>
  void get(std::array<std::uint8_t, N>& field) {
    if (!ok_ || bytes_.size() - offset_ < N) {
      ok_ = false;
      return;
    }
    std::memcpy(field.data(), bytes_.data() + offset_, N);
    offset_ += N;
  }
  std::uint64_t get(int size) {
    if (!ok_ || bytes_.size() - offset_ < static_cast<std::size_t>(size)) {
      ok_ = false;
      return 0;
    }
    std::uint64_t value = 0;
    for (int i = 0; i < size; ++i) value = (value << 8) | bytes_[offset_++];
    return value;
  }
  ByteSpan rest() {
    ByteSpan tail = ok_ ? bytes_.subspan(offset_) : ByteSpan{};
    offset_ = bytes_.size();
    return tail;
  }
  // Everything read, nothing left over.
  bool complete() const { return ok_ && offset_ == bytes_.size(); }

 private:
  ByteSpan bytes_;
  std::size_t offset_ = 0;
  bool ok_ = false;
};

Error malformed(const char* what) { return make_error(ErrorKind::corrupt, std::string("malformed ") + what); }

}  // namespace

Bytes encode(const crypto::HandshakeHello& hello) {
  Writer writer(Type::hello);
  writer.put(hello.version, 4);
  writer.put(hello.ephemeral_public_key);
  writer.put(hello.sealed_identity);
  return writer.take();
}

Bytes encode(const crypto::HandshakeReply& reply) {
  Writer writer(Type::reply);
  writer.put(reply.version, 4);
  writer.put(reply.ephemeral_public_key);
  writer.put(reply.sealed_identity_proof);
  return writer.take();
}

Bytes encode(const crypto::HandshakeFinish& finish) {
  Writer writer(Type::finish);
  writer.put(finish.sealed_signature);
  return writer.take();
}

Bytes encode(const crypto::SealedDatagram& datagram) {
  Writer writer(Type::datagram);
  writer.put(datagram.nonce);
  writer.put(datagram.sender.bytes());
  writer.put(datagram.timestamp_ms, 8);
  writer.put(datagram.counter, 8);
  writer.put(datagram.ciphertext);
  return writer.take();
}

Result<crypto::HandshakeHello> decode_hello(ByteSpan bytes) {
  Reader reader(bytes, Type::hello);
  crypto::HandshakeHello hello;
  hello.version = static_cast<std::uint32_t>(reader.get(4));
  reader.get(hello.ephemeral_public_key);
  reader.get(hello.sealed_identity);
  if (!reader.complete()) return malformed("handshake hello");
  return hello;
}

Result<crypto::HandshakeReply> decode_reply(ByteSpan bytes) {
  Reader reader(bytes, Type::reply);
  crypto::HandshakeReply reply;
  reply.version = static_cast<std::uint32_t>(reader.get(4));
  reader.get(reply.ephemeral_public_key);
  reader.get(reply.sealed_identity_proof);
  if (!reader.complete()) return malformed("handshake reply");
  return reply;
}

Result<crypto::HandshakeFinish> decode_finish(ByteSpan bytes) {
  Reader reader(bytes, Type::finish);
  crypto::HandshakeFinish finish;
  reader.get(finish.sealed_signature);
  if (!reader.complete()) return malformed("handshake finish");
  return finish;
}

Result<crypto::SealedDatagram> decode_datagram(ByteSpan bytes) {
  Reader reader(bytes, Type::datagram);
  crypto::SealedDatagram datagram;
  reader.get(datagram.nonce);
  crypto::NodeId::Bytes sender{};
  reader.get(sender);
  datagram.sender = crypto::NodeId(sender);
  datagram.timestamp_ms = reader.get(8);
  datagram.counter = reader.get(8);
  const ByteSpan ciphertext = reader.rest();
  if (!reader.complete() || ciphertext.size() < crypto::kDatagramTagBytes) return malformed("sealed datagram");
  datagram.ciphertext.assign(ciphertext.begin(), ciphertext.end());
  return datagram;
}

}  // namespace starling::runtime::codec

#endif  // STARLING_HAVE_CRYPTO
