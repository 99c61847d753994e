/// Reads SLU/1 field encodings (§3.2) from one frame, never past its end.
struct ByteReader {
    private let buffer: UnsafeRawBufferPointer
    private var offset = 0
    /// The frame being read, for error messages. Field names are autoclosures: they are
    /// built only for an error, never per message (an interpolated name allocated a string
    /// for every ACTIVATE).
    private let frameName: String

    init(_ buffer: UnsafeRawBufferPointer, frameName: String) {
        self.buffer = buffer
        self.frameName = frameName
    }

    private func truncated(_ field: () -> String) -> ProtocolError {
        ProtocolError(.malformed, "\(frameName): truncated at field '\(field())' (\(buffer.count) bytes)")
    }

    mutating func u8(_ field: @autoclosure () -> String) throws(ProtocolError) -> UInt8 {
        guard offset + 1 <= buffer.count else { throw truncated(field) }
        defer { offset += 1 }
        return buffer[offset]
    }

    mutating func u16(_ field: @autoclosure () -> String) throws(ProtocolError) -> UInt16 {
        guard offset + 2 <= buffer.count else { throw truncated(field) }
        defer { offset += 2 }
        return UInt16(buffer[offset]) << 8 | UInt16(buffer[offset + 1])
    }

    mutating func u32(_ field: @autoclosure () -> String) throws(ProtocolError) -> UInt32 {
        guard offset + 4 <= buffer.count else { throw truncated(field) }
        defer { offset += 4 }
        return UInt32(buffer[offset]) << 24 | UInt32(buffer[offset + 1]) << 16
            | UInt32(buffer[offset + 2]) << 8 | UInt32(buffer[offset + 3])
    }

    /// Bytes not read yet.
    var remaining: Int { buffer.count - offset }

    mutating func u64(_ field: @autoclosure () -> String) throws(ProtocolError) -> UInt64 {
        let high = try u32(field())
        return UInt64(high) << 32 | UInt64(try u32(field()))
    }

    private mutating func string(length: Int, field: @autoclosure () -> String) throws(ProtocolError) -> String {
        guard offset + length <= buffer.count else {
            throw ProtocolError(.malformed, "\(frameName): field '\(field())' claims \(length) bytes, only \(buffer.count - offset) left")
        }
        let slice = UnsafeRawBufferPointer(rebasing: buffer[offset..<offset + length])
        offset += length
        guard let value = Text.decode(slice) else {
            throw ProtocolError(.malformed, "\(frameName): field '\(field())' is not valid UTF-8")
        }
        return value
    }

    mutating func shortString(_ field: @autoclosure () -> String) throws(ProtocolError) -> String {
        try string(length: Int(u8(field())), field: field())
    }

    mutating func longString(_ field: @autoclosure () -> String) throws(ProtocolError) -> String {
        try string(length: Int(u16(field())), field: field())
    }

    /// An id (§3.2): `[A-Za-z0-9._-]{1,128}`, or empty when `optional`.
    mutating func id(_ field: @autoclosure () -> String, optional: Bool = false) throws(ProtocolError) -> String {
        let length = Int(try u8(field()))
        guard offset + length <= buffer.count else {
            throw ProtocolError(.malformed, "\(frameName): field '\(field())' claims \(length) bytes, only \(buffer.count - offset) left")
        }
        let slice = UnsafeRawBufferPointer(rebasing: buffer[offset..<offset + length])
        offset += length
        if length == 0 && optional { return "" }
        // Checked on the bytes, before a string is made: a valid id is ASCII, so the string
        // needs no UTF-8 validation of its own.
        guard Identifier.isValid(slice) else {
            guard let text = Text.decode(slice) else {
                throw ProtocolError(.malformed, "\(frameName): field '\(field())' is not valid UTF-8")
            }
            try Identifier.validate(text, field: field())
            preconditionFailure("an id the byte check refused passed the string check")
        }
        return String(decoding: slice, as: UTF8.self)
    }

    /// The frame must be fully consumed (§3.2).
    func finish() throws(ProtocolError) {
        if offset != buffer.count {
            throw ProtocolError(.malformed, "\(frameName): \(buffer.count - offset) unexpected bytes after the last field")
        }
    }
}

/// The identifier rule shared by controllers, invokers and activations (§3.2).
public enum Identifier {
    /// Whether `value` matches `[A-Za-z0-9._-]{1,128}`.
    public static func isValid(_ value: String) -> Bool {
        var value = value
        return value.withUTF8 { isValid(UnsafeRawBufferPointer($0)) }
    }

    /// Whether `bytes` match `[A-Za-z0-9._-]{1,128}`.
    public static func isValid(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard !bytes.isEmpty, bytes.count <= ProtocolConstants.maxIDLength else { return false }
        for byte in bytes {
            let letter = byte | 0x20
            guard (byte >= 0x30 && byte <= 0x39) || (letter >= 0x61 && letter <= 0x7A) || byte == 0x2E || byte == 0x5F || byte == 0x2D else {
                return false
            }
        }
        return true
    }

    /// Throws `invalidId` naming the field when `value` breaks the rule.
    public static func validate(_ value: String, field: String) throws(ProtocolError) {
        guard isValid(value) else {
            let shown = value.count > 40 ? String(value.prefix(40)) + "..." : value
            throw ProtocolError(.invalidID, "\(field) '\(shown)' must match [A-Za-z0-9._-]{1,128}")
        }
    }
}
