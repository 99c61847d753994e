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
        do {
            // Decoded through pointers to the frames' bytes: the codec's specialization for
            // RawFrame, made in its own module, so no cross-module optimization is needed.
            let message = try withExtendedLifetime(frames) { () throws(ProtocolError) -> Message in
                let raw = frames.map { frame in RawFrame(frame.unsafeBytes) }
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

    /// Signature, command, header, opaque and trailer frames of `message`.
    func sendFrames(_ message: Message, opaque: ZMQMessage?, flags: ZMQFlags) throws(ZMQError) {
        let more = flags.union(.sendMore)
        try send(frame: Wire.signature, flags: more)
        let body = Codec.encodeBody(message)
        let trailer = Codec.encodeTrailer(message)
        let lastIsCommand = body == nil && !message.hasOpaqueFrame && trailer == nil
        try send(frame: Wire.commandFrames[Int(message.command.rawValue)], flags: lastIsCommand ? flags : more)
        if let body {
            try send(frame: body, flags: message.hasOpaqueFrame || trailer != nil ? more : flags)
        }
        if message.hasOpaqueFrame {
            try send(opaque ?? ZMQMessage(), flags: trailer != nil ? more : flags)
        }
        if let trailer { try send(frame: trailer, flags: flags) }
    }
}
