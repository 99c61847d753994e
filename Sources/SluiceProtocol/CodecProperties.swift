/// The properties every byte sequence must have against the codec, in one place for the fuzz
/// target (Fuzz/ProtocolDecoderFuzzer.swift, built with these sources by scripts/fuzz.sh)
/// and for the test that replays its corpus (FuzzCorpusTests).
///
/// Input format: byte 0 picks the channel (mod 4); the rest is a list of frames, each a u16
/// big-endian length followed by that many bytes (a length past the end takes what is left).
enum CodecProperties {
    /// The channel and frames an input stands for; nil for an empty input.
    static func frames(_ bytes: some Collection<UInt8>) -> (Channel, [[UInt8]])? {
        let bytes = Array(bytes)
        guard let first = bytes.first else { return nil }
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
        return (channel, frames)
    }

    /// Checks one input; returns the property it breaks, or nil. Decoding must not crash (the
    /// caller's sanitizer sees to reads out of bounds); a message that decodes re-encodes to
    /// frames that decode to the same message, and its header frame re-encodes byte for byte
    /// (the codec is canonical); a refusal carries an ERROR code the spec defines (§7).
    static func violation(_ bytes: some Collection<UInt8>) -> String? {
        guard let (channel, frames) = frames(bytes) else { return nil }
        do {
            let message = try Codec.decode(frames, channel: channel)
            let opaque = message.hasOpaqueFrame ? frames[Message.opaqueFrameIndex] : []
            let redecoded = try Codec.decode(Codec.encode(message, opaque: opaque), channel: channel)
            if redecoded != message { return "re-encoding changed the message: \(message) -> \(redecoded)" }
            if frames.count > 2, let body = Codec.encodeBody(message), body != frames[2] {
                return "header frame is not canonical: \(frames[2]) re-encodes as \(body)"
            }
        } catch {
            if !ErrorCode.known.contains(error.code) { return "refusal with an undefined code \(error.code): \(error)" }
        }
        return nil
    }
}
