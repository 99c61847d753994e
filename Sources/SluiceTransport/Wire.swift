import SluiceProtocol
import ZeroMQ

// A ZeroMQ frame can be decoded in place: no copy of its bytes.
extension ZMQMessage: FrameObject {}

/// SLU/1 messages as ZeroMQ frames, shared by the broker and the clients.
public enum Wire {
    static let signature = ProtocolConstants.signature
    /// One ready-made command frame per command byte.
    static let commandFrames: [[UInt8]] = (0...255).map { [UInt8($0)] }

    /// Decodes received frames (without a routing-id frame). Returns the message and its
    /// opaque frame, if it has one.
    public static func decode(_ frames: ArraySlice<ZMQMessage>, channel: Channel) -> (Result<Message, ProtocolError>, ZMQMessage?) {
        var scratch: [RawFrame] = []
        return decode(frames, channel: channel, scratch: &scratch)
    }

    /// `decode`, with the array of frame pointers kept by the caller between messages (the
    /// broker's loop), so a message costs no allocation for it.
    public static func decode(_ frames: ArraySlice<ZMQMessage>, channel: Channel,
                              scratch raw: inout [RawFrame]) -> (Result<Message, ProtocolError>, ZMQMessage?) {
        do {
            // Decoded through pointers to the frames' bytes: the codec's specialization for
            // RawFrame, made in its own module, so no cross-module optimization is needed.
            let message = try withExtendedLifetime(frames) { () throws(ProtocolError) -> Message in
                raw.removeAll(keepingCapacity: true)
                for frame in frames { raw.append(RawFrame(frame.unsafeBytes)) }
                defer { raw.removeAll(keepingCapacity: true) }
                return try Codec.decode(raw[...], channel: channel)
            }
            return (.success(message), message.hasOpaqueFrame ? frames[frames.startIndex + Message.opaqueFrameIndex] : nil)
        } catch {
            return (.failure(error), nil)
        }
    }
}

extension ZMQSocket {
    /// Sends an SLU/1 message from a DEALER (no routing frame). Small frames go out with
    /// `zmq_send`; only the opaque frame is a `ZMQMessage`, moved to libzmq.
    public func send(_ message: Message, opaque: ZMQMessage? = nil, flags: ZMQFlags = []) throws(ZMQError) {
        try sendFrames(message, opaque: opaque, flags: flags)
    }

    /// Sends an SLU/1 message from a ROUTER to the peer with routing id `route`.
    ///
    /// The small frames go out with `zmq_send` (no Swift allocation); only the opaque frame is a
    /// `ZMQMessage`, moved to libzmq. With ROUTER_MANDATORY an unknown or full peer fails on
    /// the routing-id frame, before anything else is sent, so `opaque` keeps its bytes.
    public func send(_ message: Message, opaque: ZMQMessage?, to route: [UInt8], flags: ZMQFlags = []) throws(ZMQError) {
        try send(frame: route, flags: flags.union(.sendMore))
        try sendFrames(message, opaque: opaque, flags: flags)
    }

    /// As `send(_:opaque:to:flags:)`, with the routing id in place (the broker keeps routing
    /// ids without an array).
    public func send(_ message: Message, opaque: ZMQMessage?, to route: UnsafeRawBufferPointer, flags: ZMQFlags = []) throws(ZMQError) {
        try send(buffer: route, flags: flags.union(.sendMore))
        try sendFrames(message, opaque: opaque, flags: flags)
    }

    /// Signature, command, header, opaque and trailer frames of `message`.
    func sendFrames(_ message: Message, opaque: ZMQMessage?, flags: ZMQFlags) throws(ZMQError) {
        let more = flags.union(.sendMore)
        try send(frame: Wire.signature, flags: more)
        // The header is encoded into the socket's reused buffer (taken out while in use).
        var body: [UInt8] = []
        swap(&body, &encodeBuffer)
        defer { swap(&body, &encodeBuffer) }
        let hasBody = Codec.encodeBody(message, into: &body)
        let trailer = Codec.encodeTrailer(message)
        let lastIsCommand = !hasBody && !message.hasOpaqueFrame && trailer == nil
        try send(frame: Wire.commandFrames[Int(message.command.rawValue)], flags: lastIsCommand ? flags : more)
        if hasBody {
            try send(frame: body, flags: message.hasOpaqueFrame || trailer != nil ? more : flags)
        }
        if message.hasOpaqueFrame {
            try send(opaque ?? ZMQMessage(), flags: trailer != nil ? more : flags)
        }
        if let trailer { try send(frame: trailer, flags: flags) }
    }
}
