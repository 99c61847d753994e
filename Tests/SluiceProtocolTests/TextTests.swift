import Testing
@testable import SluiceProtocol

// The byte-level text checks that replaced Unicode property lookups on the hot path must give
// the same answers as the lookups.

@Suite("Text (byte-level checks on decoded strings)")
struct TextTests {
    @Test("containsControlCharacter agrees with the Unicode general category Cc for every scalar up to U+3000 and across the planes")
    func controlCharactersMatchUnicode() {
        var scalars = Array(0...0x3000)
        scalars += stride(from: 0x3000, to: 0x110000, by: 97).map { $0 }
        for value in scalars {
            guard let scalar = Unicode.Scalar(value) else { continue }  // surrogates
            let text = "a" + String(Character(scalar)) + "b"
            let expected = scalar.properties.generalCategory == .control
            #expect(Text.containsControlCharacter(text) == expected, "U+\(String(value, radix: 16))")
        }
    }

    @Test("decode: ASCII and multi-byte UTF-8 decode as themselves; invalid UTF-8 is refused")
    func decodeValidatesUTF8() {
        func decode(_ bytes: [UInt8]) -> String? { bytes.withUnsafeBytes { Text.decode($0) } }
        #expect(decode(Array("whisk.system/echo".utf8)) == "whisk.system/echo")
        #expect(decode(Array("café/日本".utf8)) == "café/日本")
        #expect(decode([]) == "")
        #expect(decode([0x61, 0xFF, 0x62]) == nil)
        #expect(decode([0xE2, 0x82]) == nil)  // truncated 3-byte sequence
        #expect(decode([0xF0, 0x9F, 0x98, 0x61]) == nil)  // 4-byte sequence cut short by ASCII
        #expect(decode([0xC0, 0xAF]) == nil)  // overlong encoding of "/"
    }
}
