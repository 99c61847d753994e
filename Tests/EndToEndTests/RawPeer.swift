import SluiceProtocol
import ZeroMQ

/// A bare DEALER that sends whatever frames a test likes and reads the broker's replies.
final class RawPeer {
    let socket: ZMQSocket
    let inbound: Channel

    init(context: ZMQContext, endpoint: String, inbound: Channel) throws {
        socket = try ZMQSocket(context, type: .dealer)
        try socket.connect(endpoint)
        self.inbound = inbound
    }

    func send(_ frames: [[UInt8]]) throws {
        try socket.send(multipart: frames.map { ZMQMessage(bytes: $0) })
    }

    func send(_ message: Message, opaque: [UInt8] = []) throws {
        try send(Codec.encode(message, opaque: opaque))
    }

    /// The next message other than HEARTBEAT, decoded, or nil after `timeoutMilliseconds`.
    func receive(timeoutMilliseconds: Int = 3_000) throws -> (Message, [UInt8])? {
        let clock = ContinuousClock()
        let deadline = clock.now + .milliseconds(timeoutMilliseconds)
        while clock.now < deadline {
            var poller = ZMQPoller()
            _ = poller.add(socket)
            let left = clock.now.duration(to: deadline)
            guard try poller.poll(timeoutMilliseconds: Int(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000)) > 0 else { continue }
            while let frames = try socket.receiveMultipart(flags: .dontWait) {
                let bytes = frames.map(\.bytes)
                let message = try Codec.decode(bytes, channel: inbound)
                if message == .heartbeat { continue }
                return (message, message.hasOpaqueFrame ? bytes.last! : [])
            }
        }
        return nil
    }

    /// The code of the next ERROR, or nil if the next message is not an ERROR.
    func expectError() throws -> ErrorReport? {
        guard let (message, _) = try receive(), case .error(let report) = message else { return nil }
        return report
    }
}
