// libFuzzer target for the SLU/1 decoder (docs/PROTOCOL.md). Built by scripts/fuzz.sh together
// with Sources/SluiceProtocol, with -sanitize=fuzzer,address; not part of the package build.
//
// The input format and the properties checked on every input are in
// Sources/SluiceProtocol/CodecProperties.swift, shared with the corpus replay test.
// The seeds in Fuzz/corpus/protocol are the golden vectors in that format.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzProtocolDecoder(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    if let problem = CodecProperties.violation(UnsafeBufferPointer(start: data, count: size)) { fatalError(problem) }
    return 0
}
