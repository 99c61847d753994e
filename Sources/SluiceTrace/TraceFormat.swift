#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The placement-trace file format, version 1 (docs/TRACES.md): a 32-byte header, then
/// 32-byte records, little-endian, append-only. Everything a replay needs and nothing else:
/// no activation id, no payload, no result, and names only as keyed hashes.
public enum TraceFormat {
    public static let magic: [UInt8] = Array("SLTR".utf8)
    public static let version: UInt16 = 1
    public static let headerSize = 32
    public static let recordSize = 32
}

/// What a trace segment file starts with.
public struct TraceHeader: Equatable, Sendable {
    /// Wall-clock milliseconds since 1970 at the trace's time zero; record times count from it.
    public var startMilliseconds: UInt64
    /// Which trace the segment belongs to (random per recording); every segment repeats it.
    public var traceID: UInt64
    /// 0 for the first segment, then 1, 2, ...
    public var segment: UInt32

    public init(startMilliseconds: UInt64, traceID: UInt64, segment: UInt32) {
        self.startMilliseconds = startMilliseconds
        self.traceID = traceID
        self.segment = segment
    }

    public var bytes: [UInt8] {
        var out = TraceFormat.magic
        out.appendLittleEndian(TraceFormat.version)
        out.appendLittleEndian(UInt16(TraceFormat.recordSize))
        out.appendLittleEndian(startMilliseconds)
        out.appendLittleEndian(traceID)
        out.appendLittleEndian(segment)
        out.appendLittleEndian(UInt32(0))
        return out
    }

    /// Reads a header; a wrong magic or version is an error that names what was found.
    public init(_ bytes: ArraySlice<UInt8>, path: String) throws(TraceError) {
        let start = bytes.startIndex
        guard bytes.count >= 4, Array(bytes[start..<start + 4]) == TraceFormat.magic else {
            throw TraceError("\(path): not a Sluice trace (the file does not start with 'SLTR')")
        }
        guard bytes.count >= TraceFormat.headerSize else {
            throw TraceError("\(path): \(bytes.count) bytes is too short for a trace header (\(TraceFormat.headerSize) bytes)")
        }
        let version = UInt16(littleEndian: bytes, at: start + 4)
        guard version == TraceFormat.version else {
            throw TraceError("\(path): trace format version \(version) is not supported; this sluice reads version \(TraceFormat.version)")
        }
        let recordSize = UInt16(littleEndian: bytes, at: start + 6)
        guard Int(recordSize) == TraceFormat.recordSize else {
            throw TraceError("\(path): record size \(recordSize) does not match version \(version) (\(TraceFormat.recordSize))")
        }
        startMilliseconds = UInt64(littleEndian: bytes, at: start + 8)
        traceID = UInt64(littleEndian: bytes, at: start + 16)
        segment = UInt32(littleEndian: bytes, at: start + 24)
    }
}

/// One 32-byte record: kind, then a per-kind layout (docs/TRACES.md, "Records").
public enum TraceRecord: Equatable, Sendable {
    /// An ACTIVATE accepted for placement. Hashes are keyed with the trace's secret salt.
    case arrival(sequence: UInt32, microseconds: UInt64, action: UInt64, namespace: UInt64, memoryMB: UInt32)
    /// Its single answer. `ranMicroseconds` is 0 for one that never ran (`ran` false).
    case answered(sequence: UInt32, microseconds: UInt64, kind: UInt8, ran: Bool, ranMicroseconds: UInt64, warm: Bool,
                  invoker: UInt32?)
    /// An invoker registered or changed its capacity (position as in §6.1).
    case invoker(position: UInt32, microseconds: UInt64, memoryMB: UInt32, slots: UInt32)
    /// An invoker's session ended.
    case invokerLeft(position: UInt32, microseconds: UInt64)

    static let arrivalKind: UInt8 = 1
    static let answeredKind: UInt8 = 2
    static let invokerKind: UInt8 = 3
    static let invokerLeftKind: UInt8 = 4

    public var microseconds: UInt64 {
        switch self {
        case .arrival(_, let time, _, _, _), .answered(_, let time, _, _, _, _, _), .invoker(_, let time, _, _),
             .invokerLeft(_, let time):
            time
        }
    }

    /// Appends the record's 32 bytes (written in place with fixed-offset stores).
    public func write(into out: inout [UInt8]) {
        var kind: UInt8 = 0, flags: UInt8 = 0, byte2: UInt8 = 0
        var id: UInt32 = 0, time: UInt64 = 0, word2: UInt64 = 0, word3a: UInt32 = 0, word3b: UInt32 = 0
        switch self {
        case .arrival(let sequence, let at, let action, let namespace, let memory):
            kind = Self.arrivalKind; id = sequence; time = at; word2 = action
            // The namespace hash is kept to 32 bits: it only groups activations.
            word3a = UInt32(truncatingIfNeeded: namespace); word3b = memory
        case .answered(let sequence, let at, let answerKind, let ran, let ranMicroseconds, let warm, let invoker):
            kind = Self.answeredKind; flags = (ran ? 1 : 0) | (warm ? 2 : 0) | (invoker != nil ? 4 : 0); byte2 = answerKind
            id = sequence; time = at; word2 = ranMicroseconds; word3a = invoker ?? 0
        case .invoker(let position, let at, let memory, let slots):
            kind = Self.invokerKind; id = position; time = at; word2 = UInt64(memory) | UInt64(slots) << 32
        case .invokerLeft(let position, let at):
            kind = Self.invokerLeftKind; id = position; time = at
        }
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: TraceFormat.recordSize))
        out.withUnsafeMutableBytes { buffer in
            let base = buffer.baseAddress! + start
            base.storeBytes(of: kind, as: UInt8.self)
            (base + 1).storeBytes(of: flags, as: UInt8.self)
            (base + 2).storeBytes(of: byte2, as: UInt8.self)
            (base + 4).storeBytes(of: id.littleEndian, toByteOffset: 0, as: UInt32.self)
            UnsafeMutableRawPointer(base + 8).storeBytes(of: time.littleEndian, as: UInt64.self)
            UnsafeMutableRawPointer(base + 16).storeBytes(of: word2.littleEndian, as: UInt64.self)
            UnsafeMutableRawPointer(base + 24).storeBytes(of: word3a.littleEndian, as: UInt32.self)
            UnsafeMutableRawPointer(base + 28).storeBytes(of: word3b.littleEndian, as: UInt32.self)
        }
    }

    /// Reads one record, or nil if the bytes are not a record of this version (a torn or
    /// damaged tail: the reader stops there).
    public init?(_ bytes: ArraySlice<UInt8>) {
        guard bytes.count >= TraceFormat.recordSize else { return nil }
        let at = bytes.startIndex
        let kind = bytes[at], flags = bytes[at + 1]
        let id = UInt32(littleEndian: bytes, at: at + 4)
        let time = UInt64(littleEndian: bytes, at: at + 8)
        switch kind {
        case Self.arrivalKind:
            guard flags == 0 else { return nil }
            self = .arrival(sequence: id, microseconds: time, action: UInt64(littleEndian: bytes, at: at + 16),
                            namespace: UInt64(UInt32(littleEndian: bytes, at: at + 24)),
                            memoryMB: UInt32(littleEndian: bytes, at: at + 28))
        case Self.answeredKind:
            guard flags & ~0b111 == 0 else { return nil }
            self = .answered(sequence: id, microseconds: time, kind: bytes[at + 2], ran: flags & 1 != 0,
                             ranMicroseconds: UInt64(littleEndian: bytes, at: at + 16), warm: flags & 2 != 0,
                             invoker: flags & 4 != 0 ? UInt32(littleEndian: bytes, at: at + 24) : nil)
        case Self.invokerKind:
            self = .invoker(position: id, microseconds: time, memoryMB: UInt32(littleEndian: bytes, at: at + 16),
                            slots: UInt32(littleEndian: bytes, at: at + 20))
        case Self.invokerLeftKind:
            self = .invokerLeft(position: id, microseconds: time)
        default:
            return nil
        }
    }
}

public struct TraceError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Names as keyed hashes: SipHash-2-4 with a 128-bit salt drawn per trace and never written,
/// so the same name hashes the same within one trace and cannot be recovered or matched
/// across traces (docs/TRACES.md, "Privacy").
public struct TraceSalt: Sendable {
    let k0: UInt64
    let k1: UInt64

    public init(k0: UInt64, k1: UInt64) {
        self.k0 = k0
        self.k1 = k1
    }

    public static func random() -> TraceSalt {
        var generator = SystemRandomNumberGenerator()
        return TraceSalt(k0: generator.next(), k1: generator.next())
    }

    public func hash(_ text: String) -> UInt64 {
        var text = text
        return text.withUTF8 { SipHash24.hash(UnsafeRawBufferPointer($0), k0: k0, k1: k1) }
    }
}

/// SipHash-2-4 (Aumasson and Bernstein), 64-bit output.
enum SipHash24 {
    static func hash(_ bytes: UnsafeRawBufferPointer, k0: UInt64, k1: UInt64) -> UInt64 {
        var v0: UInt64 = 0x736F_6D65_7073_6575 ^ k0
        var v1: UInt64 = 0x646F_7261_6E64_6F6D ^ k1
        var v2: UInt64 = 0x6C79_6765_6E65_7261 ^ k0
        var v3: UInt64 = 0x7465_6462_7974_6573 ^ k1
        func round() {
            v0 &+= v1; v1 = v1.rotatedLeft(13); v1 ^= v0; v0 = v0.rotatedLeft(32)
            v2 &+= v3; v3 = v3.rotatedLeft(16); v3 ^= v2
            v0 &+= v3; v3 = v3.rotatedLeft(21); v3 ^= v0
            v2 &+= v1; v1 = v1.rotatedLeft(17); v1 ^= v2; v2 = v2.rotatedLeft(32)
        }
        let count = bytes.count
        var offset = 0
        while offset + 8 <= count {
            let m = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            v3 ^= m; round(); round(); v0 ^= m
            offset += 8
        }
        var last = UInt64(truncatingIfNeeded: count) << 56
        var shift: UInt64 = 0
        while offset < count {
            last |= UInt64(bytes[offset]) << shift
            shift += 8
            offset += 1
        }
        v3 ^= last; round(); round(); v0 ^= last
        v2 ^= 0xFF
        round(); round(); round(); round()
        return v0 ^ v1 ^ v2 ^ v3
    }
}

extension UInt64 {
    func rotatedLeft(_ count: UInt64) -> UInt64 { (self << count) | (self >> (64 - count)) }
}

extension Array where Element == UInt8 {
    mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        var little = value.littleEndian
        Swift.withUnsafeBytes(of: &little) { append(contentsOf: $0) }
    }
}

extension FixedWidthInteger {
    init(littleEndian bytes: ArraySlice<UInt8>, at offset: Int) {
        var value = Self.zero
        for index in 0..<(Self.bitWidth / 8) { value |= Self(bytes[offset + index]) << (8 * index) }
        self = value
    }
}
