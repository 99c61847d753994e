import SluicePluginAPI
import SluiceProtocol

/// Encoding and decoding of segment records (the format is described on `DiskOverflowStore`).
enum RecordFormat {
    enum Kind: UInt8 {
        /// An APPEND whose header is in the store's first, hand-written encoding. Read only:
        /// kept so stores written by older brokers recover; nothing writes it any more.
        case legacyAppend = 1
        case consume = 2
        case next = 3
        /// An APPEND whose header is the protocol's own routing-header encoding (§4.6).
        case append = 4
    }

    /// length (u32) + crc (u32).
    static let frameHeaderBytes = 8
    /// The smallest body: a CONSUME or NEXT record (type + u64).
    static let minimumBodyBytes = 9
    /// A whole CONSUME or NEXT record.
    static let smallRecordBytes = frameHeaderBytes + minimumBodyBytes
    /// type + sequence + enqueued-at + header-length.
    static let appendFixedBytes = 1 + 8 + 8 + 4
    /// The largest body the format allows; a longer length prefix is taken for damage.
    static let maximumBodyBytes = 256 * 1024 * 1024

    // MARK: Writing

    static func put32(_ value: UInt32, _ out: inout [UInt8]) {
        out.append(UInt8(truncatingIfNeeded: value))
        out.append(UInt8(truncatingIfNeeded: value >> 8))
        out.append(UInt8(truncatingIfNeeded: value >> 16))
        out.append(UInt8(truncatingIfNeeded: value >> 24))
    }

    static func put64(_ value: UInt64, _ out: inout [UInt8]) {
        put32(UInt32(truncatingIfNeeded: value), &out)
        put32(UInt32(truncatingIfNeeded: value >> 32), &out)
    }

    /// The routing header as the protocol encodes it (`Codec.encodeRoutingHeader`): one
    /// encoding for the wire and the journal, so a new header field is journaled too.
    static func encodeHeader(_ header: RoutingHeader) -> [UInt8] {
        Codec.encodeRoutingHeader(header)
    }

    static func appendBytes(header: [UInt8], payloadCount: Int) -> Int {
        frameHeaderBytes + appendFixedBytes + header.count + payloadCount
    }

    /// Appends a whole APPEND record to `out`.
    static func writeAppend(sequence: UInt64, enqueuedAt: UInt64, header: [UInt8], payload: [UInt8], into out: inout [UInt8]) {
        let start = out.count
        put32(UInt32(appendFixedBytes + header.count + payload.count), &out)
        put32(0, &out)
        out.append(Kind.append.rawValue)
        put64(sequence, &out)
        put64(enqueuedAt, &out)
        put32(UInt32(header.count), &out)
        out.append(contentsOf: header)
        out.append(contentsOf: payload)
        sealCRC(&out, start: start)
    }

    /// Appends a whole CONSUME or NEXT record to `out`.
    static func writeSmall(_ kind: Kind, _ value: UInt64, into out: inout [UInt8]) {
        let start = out.count
        put32(UInt32(minimumBodyBytes), &out)
        put32(0, &out)
        out.append(kind.rawValue)
        put64(value, &out)
        sealCRC(&out, start: start)
    }

    private static func sealCRC(_ out: inout [UInt8], start: Int) {
        let crc = out.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[(start + frameHeaderBytes)...])) }
        out[start + 4] = UInt8(truncatingIfNeeded: crc)
        out[start + 5] = UInt8(truncatingIfNeeded: crc >> 8)
        out[start + 6] = UInt8(truncatingIfNeeded: crc >> 16)
        out[start + 7] = UInt8(truncatingIfNeeded: crc >> 24)
    }

    // MARK: Reading

    /// A record body, checked and parsed. For APPEND, `payload` is where the payload starts
    /// inside the body.
    enum Body {
        case append(sequence: UInt64, enqueuedAt: UInt64, header: RoutingHeader, payload: Int)
        case consume(UInt64)
        case next(UInt64)
    }

    /// Parses a body whose CRC already matched; nil when it does not follow the format.
    static func parseBody(_ body: UnsafeRawBufferPointer) -> Body? {
        var cursor = Cursor(body)
        guard let type = cursor.u8(), let kind = Kind(rawValue: type) else { return nil }
        switch kind {
        case .append, .legacyAppend:
            guard let sequence = cursor.u64(), sequence > 0, let enqueuedAt = cursor.u64(), let headerCount = cursor.u32(),
                  Int(headerCount) <= cursor.remaining
            else { return nil }
            let payload = cursor.offset + Int(headerCount)
            let header: RoutingHeader?
            if kind == .append {
                header = try? Codec.decodeRoutingHeader(UnsafeRawBufferPointer(rebasing: body[cursor.offset..<payload]))
            } else {
                var headerCursor = Cursor(body, from: cursor.offset, to: payload)
                header = decodeLegacyHeader(&headerCursor).flatMap { headerCursor.remaining == 0 ? $0 : nil }
            }
            guard let header else { return nil }
            return .append(sequence: sequence, enqueuedAt: enqueuedAt, header: header, payload: payload)
        case .consume, .next:
            guard let value = cursor.u64(), value > 0, cursor.remaining == 0 else { return nil }
            return kind == .consume ? .consume(value) : .next(value)
        }
    }

    /// The first format's header (kind 1): flags u8, memory-mb u32, time-limit-ms u32, then
    /// activation id, namespace, action, revision, target invoker, answer-to and the tags as
    /// varint-prefixed UTF-8. It had no `max-wait-ms` (so 0: the broker's limit).
    static func decodeLegacyHeader(_ cursor: inout Cursor) -> RoutingHeader? {
        guard let flags = cursor.u8(), flags & ~0b11 == 0,
              let memory = cursor.u32(), let timeLimit = cursor.u32(),
              let activationID = cursor.text(), let namespace = cursor.text(), let action = cursor.text(),
              let revision = cursor.text(), let targetInvoker = cursor.text(), let answerTo = cursor.text(),
              let tagCount = cursor.varint(), tagCount <= cursor.remaining
        else { return nil }
        var tags: [String] = []
        tags.reserveCapacity(tagCount)
        for _ in 0..<tagCount {
            guard let tag = cursor.text() else { return nil }
            tags.append(tag)
        }
        return RoutingHeader(activationID: activationID, namespace: namespace, action: action, revision: revision,
                             memoryMB: memory, timeLimitMilliseconds: timeLimit, blocking: flags & 1 != 0,
                             blackbox: flags & 2 != 0, targetInvoker: targetInvoker, answerTo: answerTo,
                             requiredTags: tags)
    }

    /// Checks a whole record read back from a file (frame header included) and returns it as
    /// an `OverflowRecord`; nil when the length, CRC or body is wrong or it is not an APPEND
    /// of `sequence`.
    static func decodeAppendRecord(_ record: UnsafeRawBufferPointer, sequence: UInt64) -> OverflowRecord? {
        guard record.count >= frameHeaderBytes + appendFixedBytes else { return nil }
        let length = UInt32(littleEndian: record.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
        let crc = UInt32(littleEndian: record.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        guard Int(length) == record.count - frameHeaderBytes else { return nil }
        let body = UnsafeRawBufferPointer(rebasing: record[frameHeaderBytes...])
        guard CRC32C.checksum(body) == crc,
              case .append(let found, let enqueuedAt, let header, let payload)? = parseBody(body), found == sequence
        else { return nil }
        return OverflowRecord(sequence: sequence, header: header, payload: Array(body[payload...]),
                              enqueuedAtMilliseconds: enqueuedAt)
    }
}

/// Reads little-endian fields from a byte range; every read returns nil past the end.
struct Cursor {
    let bytes: UnsafeRawBufferPointer
    private(set) var offset: Int
    let end: Int

    init(_ bytes: UnsafeRawBufferPointer, from start: Int = 0, to end: Int? = nil) {
        self.bytes = bytes
        self.offset = start
        self.end = end ?? bytes.count
    }

    var remaining: Int { end - offset }

    mutating func u8() -> UInt8? {
        guard remaining >= 1 else { return nil }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func u32() -> UInt32? {
        guard remaining >= 4 else { return nil }
        defer { offset += 4 }
        return UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    mutating func u64() -> UInt64? {
        guard remaining >= 8 else { return nil }
        defer { offset += 8 }
        return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    /// Unsigned LEB128 of at most 5 bytes (values below 2^35).
    mutating func varint() -> Int? {
        var value = 0
        var shift = 0
        while shift < 35 {
            guard let byte = u8() else { return nil }
            value |= Int(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
        return nil
    }

    mutating func text() -> String? {
        guard let count = varint(), count <= remaining else { return nil }
        defer { offset += count }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)]), as: UTF8.self)
    }
}
