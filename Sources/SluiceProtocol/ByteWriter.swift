/// Appends SLU/1 field encodings (§3.2) to a byte array.
struct ByteWriter {
    var bytes: [UInt8] = []

    init(capacity: Int = 128) { bytes.reserveCapacity(capacity) }

    /// Takes `buffer`'s storage (left empty) and writes from its start, keeping its capacity.
    init(reusing buffer: inout [UInt8]) {
        swap(&bytes, &buffer)
        bytes.removeAll(keepingCapacity: true)
    }

    mutating func u8(_ value: UInt8) { bytes.append(value) }

    mutating func u16(_ value: UInt16) {
        bytes.append(UInt8(value >> 8))
        bytes.append(UInt8(truncatingIfNeeded: value))
    }

    mutating func u32(_ value: UInt32) {
        bytes.append(UInt8(truncatingIfNeeded: value >> 24))
        bytes.append(UInt8(truncatingIfNeeded: value >> 16))
        bytes.append(UInt8(truncatingIfNeeded: value >> 8))
        bytes.append(UInt8(truncatingIfNeeded: value))
    }

    mutating func u64(_ value: UInt64) {
        u32(UInt32(truncatingIfNeeded: value >> 32))
        u32(UInt32(truncatingIfNeeded: value))
    }

    /// A short string. Encoders are given validated values; longer input is a programming
    /// error and traps with a message rather than producing a frame the peer cannot read.
    mutating func shortString(_ value: String) {
        let utf8 = value.utf8
        precondition(utf8.count <= 255, "short-string longer than 255 bytes: \(utf8.count)")
        u8(UInt8(utf8.count))
        bytes.append(contentsOf: utf8)
    }

    mutating func longString(_ value: String) {
        if value.utf8.count <= Int(UInt16.max) {
            u16(UInt16(value.utf8.count))
            bytes.append(contentsOf: value.utf8)
            return
        }
        var utf8 = Array(value.utf8)
        // Reasons are free text; cut rather than trap so an error reply can always be sent,
        // and cut on a character boundary so the text stays valid UTF-8 (§3.2).
        if utf8.count > Int(UInt16.max) {
            var end = Int(UInt16.max)
            while end > 0 && utf8[end] & 0xC0 == 0x80 { end -= 1 }
            utf8.removeSubrange(end...)
        }
        u16(UInt16(utf8.count))
        bytes.append(contentsOf: utf8)
    }
}
