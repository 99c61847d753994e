/// Checks on UTF-8 text that run for every decoded message, written over bytes so they cost
/// no Unicode property lookups.
public enum Text {
    /// `value` as a JSON string literal: quotes, backslashes and control characters escaped.
    /// (The OpenWhisk acknowledgements and the JSON log lines write JSON by hand.)
    public static func jsonQuoted(_ value: String) -> String {
        var out = "\""
        out.reserveCapacity(value.utf8.count + 2)
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default:
                out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// Whether `value` contains a control character (general category Cc: U+0000 to U+001F
    /// and U+007F to U+009F). Same answer as
    /// `unicodeScalars.contains { $0.properties.generalCategory == .control }`.
    public static func containsControlCharacter(_ value: String) -> Bool {
        var value = value
        return value.withUTF8 { containsControlCharacter(UnsafeRawBufferPointer($0)) }
    }

    static func containsControlCharacter(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var previous: UInt8 = 0
        for byte in bytes {
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

/// A hash that is the same in every process and run (Swift's `Hasher` is seeded per process):
/// for placement and spreading decisions that peers or later runs must repeat.
public enum StableHash {
    /// 64-bit FNV-1a of the UTF-8 bytes of `text`.
    public static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return hash
    }
}
