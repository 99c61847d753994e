import SluiceProtocol
import ZeroMQ

// A ZeroMQ frame can be decoded in place: no copy of its bytes.
extension ZMQMessage: FrameBytes {}

/// SLU/1 messages as ZeroMQ frames, shared by the broker and the clients.
public enum Wire {
    /// The frames of `message`: signature, command, header, then `opaque` (moved, not copied)
    /// when the message carries an opaque frame.
    public static func frames(_ message: Message, opaque: ZMQMessage?) -> [ZMQMessage] {
        var frames: [ZMQMessage] = []
        frames.reserveCapacity(5)
        frames.append(ZMQMessage(bytes: ProtocolConstants.signature))
        frames.append(ZMQMessage(bytes: CollectionOfOne(message.command.rawValue)))
        if let body = Codec.encodeBody(message) { frames.append(ZMQMessage(bytes: body)) }
        if message.hasOpaqueFrame { frames.append(opaque ?? ZMQMessage()) }
        if let trailer = Codec.encodeTrailer(message) { frames.append(ZMQMessage(bytes: trailer)) }
        return frames
    }

    /// Decodes received frames (without a routing-id frame). Returns the message and its
    /// opaque frame, if it has one.
    public static func decode(_ frames: ArraySlice<ZMQMessage>, channel: Channel) -> (Result<Message, ProtocolError>, ZMQMessage?) {
        let list = Array(frames)
        do {
            let message = try Codec.decode(list, channel: channel)
            return (.success(message), message.hasOpaqueFrame ? list[Message.opaqueFrameIndex] : nil)
        } catch {
            return (.failure(error), nil)
        }
    }
}

extension ZMQSocket {
    /// Sends an SLU/1 message from a DEALER (no routing frame).
    public func send(_ message: Message, opaque: ZMQMessage? = nil, flags: ZMQFlags = []) throws(ZMQError) {
        try send(multipart: Wire.frames(message, opaque: opaque), flags: flags)
    }

    /// Sends an SLU/1 message from a ROUTER to the peer with routing id `route`.
    public func send(_ message: Message, opaque: ZMQMessage?, to route: [UInt8], flags: ZMQFlags = []) throws(ZMQError) {
        var frames = Wire.frames(message, opaque: opaque)
        frames.insert(ZMQMessage(bytes: route), at: 0)
        try send(multipart: frames, flags: flags)
    }
}
