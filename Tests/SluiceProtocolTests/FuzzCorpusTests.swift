import Foundation
@testable import SluiceProtocol
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

    @Test("the corpus is there: one seed per command at least")
    func corpusPresent() {
        #expect(Self.files.count >= 18, "seeds in \(Self.corpus.path): \(Self.files)")
    }

    @Test("every corpus input decodes or is refused with a defined code; what decodes re-encodes canonically",
          arguments: FuzzCorpusTests.files)
    func replay(_ name: String) throws {
        let bytes = try [UInt8](Data(contentsOf: Self.corpus.appendingPathComponent(name)))
        try #require(!bytes.isEmpty)
        #expect(CodecProperties.violation(bytes) == nil, "\(name)")
    }
}
