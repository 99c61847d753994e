// libFuzzer target for the SLU/1 decoder (docs/PROTOCOL.md). Built by scripts/fuzz.sh together
// with Sources/SluiceProtocol, with -sanitize=fuzzer,address; not part of the package build.
//
// Input format: byte 0 picks the channel (mod 4); the rest is a list of frames, each a u16
// big-endian length followed by that many bytes (a length past the end takes what is left).
// The seeds in Fuzz/corpus/protocol are the golden vectors in this format.
//
// Properties checked on every input:
// - decoding never crashes, traps or reads out of bounds (AddressSanitizer);
// - a message that decodes re-encodes to frames that decode to the same message, and its
//   header frame re-encodes byte for byte (the codec is canonical);
// - a refusal carries an ERROR code the spec defines (§7).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzProtocolDecoder(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    guard let first = bytes.first else { return 0 }
    let channel = Channel.allCases[Int(first) % Channel.allCases.count]
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
    do {
        let message = try Codec.decode(frames, channel: channel)
        let opaque = message.hasOpaqueFrame ? frames[Message.opaqueFrameIndex] : []
        let again = Codec.encode(message, opaque: opaque)
        let redecoded = try Codec.decode(again, channel: channel)
        if redecoded != message { fatalError("re-encoding changed the message: \(message) -> \(redecoded)") }
        if frames.count > 2, let body = Codec.encodeBody(message), body != frames[2] {
            fatalError("header frame is not canonical: \(frames[2]) re-encodes as \(body)")
        }
    } catch {
        if !ErrorCode.known.contains(error.code) { fatalError("refusal with an undefined code \(error.code)") }
    }
    return 0
}
