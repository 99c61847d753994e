import Foundation
import SluiceProtocol
import Testing

/// Replays the fuzzer's committed corpus (Fuzz/corpus/protocol: the golden vectors, plus any
/// input that once crashed the decoder) through the same properties the fuzz target checks
/// (Fuzz/ProtocolDecoderFuzzer.swift), in the ordinary test run.
@Suite("SLU/1 fuzz corpus (§3, §4, §7)")
struct FuzzCorpusTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz/corpus/protocol")

    static var files: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: corpus.path)) ?? []).sorted()
    }

    /// The fuzzer's input format: channel byte, then u16-length-prefixed frames.
    static func frames(_ bytes: [UInt8]) -> (Channel, [[UInt8]]) {
        let channel = Channel.allCases[Int(bytes[0]) % Channel.allCases.count]
        var frames: [[UInt8]] = []
        var index = 1
        while index < bytes.count && frames.count < 16 {
            guard index + 1 < bytes.count else { frames.append([bytes[index]]); break }
            let length = Int(bytes[index]) << 8 | Int(bytes[index + 1])
            index += 2
            let end = min(index + length, bytes.count)
            frames.append(Array(bytes[index..<end]))
            index = end
        }
        return (channel, frames)
    }

    @Test("the corpus is there: one seed per command at least")
    func corpusPresent() {
        #expect(Self.files.count >= 18, "seeds in \(Self.corpus.path): \(Self.files)")
    }

    @Test("every corpus input decodes or is refused with a defined code; what decodes re-encodes canonically",
          arguments: FuzzCorpusTests.files)
    func replay(_ name: String) throws {
        let bytes = try [UInt8](Data(contentsOf: Self.corpus.appendingPathComponent(name)))
        try #require(!bytes.isEmpty)
        let (channel, frames) = Self.frames(bytes)
        do {
            let message = try Codec.decode(frames, channel: channel)
            let opaque = message.hasOpaqueFrame ? frames[Message.opaqueFrameIndex] : []
            #expect(try Codec.decode(Codec.encode(message, opaque: opaque), channel: channel) == message)
            if frames.count > 2, let body = Codec.encodeBody(message) { #expect(body == frames[2]) }
        } catch {
            #expect(ErrorCode.known.contains(error.code), "\(name): \(error)")
        }
    }
}
