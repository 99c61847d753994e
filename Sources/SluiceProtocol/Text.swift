/// Checks on UTF-8 text that run for every decoded message, written over bytes so they cost
/// no Unicode property lookups.
public enum Text {
    /// Whether `value` contains a control character (general category Cc: U+0000 to U+001F
    /// and U+007F to U+009F). Same answer as
    /// `unicodeScalars.contains { $0.properties.generalCategory == .control }`.
    public static func containsControlCharacter(_ value: String) -> Bool {
        var previous: UInt8 = 0
        for byte in value.utf8 {
            // U+0080...U+009F are encoded as C2 80...C2 9F.
            if byte < 0x20 || byte == 0x7F || (previous == 0xC2 && byte >= 0x80 && byte <= 0x9F) { return true }
            previous = byte
        }
        return false
    }

    /// Decodes UTF-8 bytes, or nil if they are not valid UTF-8. ASCII (every identifier, and
    /// almost every name on the wire) takes a fast path without the generic validator.
    static func decode(_ bytes: UnsafeRawBufferPointer) -> String? {
        var ascii = true
        for byte in bytes where byte >= 0x80 {
            ascii = false
            break
        }
        if ascii { return String(decoding: bytes.bindMemory(to: UInt8.self), as: UTF8.self) }
        return String(validating: bytes, as: UTF8.self)
    }
}
