import SluiceCore
import SluiceProtocol
import ZeroMQ

/// The ZeroMQ authentication handler (ZAP, RFC 27) for CURVE: a ROUTER bound to
/// `inproc://zeromq.zap.01` in the broker's context, served on the broker's loop thread.
/// libzmq asks it about every CURVE handshake; it answers 200 only for a key listed for the
/// endpoint's role (ZAP domain `controller` or `invoker`) and 400 for anything else.
final class ZAPHandler {
    let socket: ZMQSocket
    let settings: CurveSettings
    private var frames: [ZMQMessage] = []

    struct Decision {
        var endpoint: Endpoint?
        var accepted: Bool
        var key: String
        var reason: String
    }

    init(socket: ZMQSocket, settings: CurveSettings) {
        self.socket = socket
        self.settings = settings
    }

    /// Answers every waiting request; returns what was decided.
    func answerRequests() throws(ZMQError) -> [Decision] {
        var decisions: [Decision] = []
        while let count = try socket.receiveMultipart(into: &frames, flags: .dontWait) {
            // [routing id, empty, version, request id, domain, address, identity, mechanism, credentials...]
            guard count >= 8 else { continue }
            let parts = frames[..<count].map(\.bytes)
            let requestID = parts[3]
            let domain = String(decoding: parts[4], as: UTF8.self)
            let mechanism = String(decoding: parts[7], as: UTF8.self)
            let key = count >= 9 ? Curve.encode(parts[8]) ?? "" : ""
            let endpoint = Endpoint(rawValue: domain)
            let decision: Decision
            if String(decoding: parts[2], as: UTF8.self) != "1.0" {
                decision = Decision(endpoint: endpoint, accepted: false, key: key, reason: "unsupported ZAP version")
            } else if mechanism != "CURVE" {
                decision = Decision(endpoint: endpoint, accepted: false, key: key, reason: "mechanism \(mechanism) is not allowed")
            } else if endpoint == .controller && settings.controllerIDs[key] != nil {
                decision = Decision(endpoint: endpoint, accepted: true, key: key, reason: "")
            } else if endpoint == .invoker && settings.invokerIDs[key] != nil {
                decision = Decision(endpoint: endpoint, accepted: true, key: key, reason: "")
            } else if endpoint == .controller && settings.invokerIDs[key] != nil {
                decision = Decision(endpoint: endpoint, accepted: false, key: key, reason: "an invoker's key may not connect as a controller")
            } else if endpoint == .invoker && settings.controllerIDs[key] != nil {
                decision = Decision(endpoint: endpoint, accepted: false, key: key, reason: "a controller's key may not connect as an invoker")
            } else {
                decision = Decision(endpoint: endpoint, accepted: false, key: key, reason: "key is not allowed on this endpoint")
            }
            decisions.append(decision)
            let reply: [[UInt8]] = [
                parts[0], [], Array("1.0".utf8), requestID,
                Array((decision.accepted ? "200" : "400").utf8), Array((decision.accepted ? "OK" : decision.reason).utf8),
                // User-Id: the client's key, which the loop checks every HELLO id against (§8).
                Array((decision.accepted ? key : "").utf8), [],
            ]
            for (index, frame) in reply.enumerated() {
                try socket.send(frame: frame, flags: index < reply.count - 1 ? .sendMore : [])
            }
        }
        return decisions
    }

    /// Why `message` (a HELLO) may not be taken from a connection whose key is in `frame`'s
    /// ZAP `User-Id`, or nil: an id must be bound to the key (PROTOCOL.md §8).
    func refusal(of message: Message, on endpoint: Endpoint, frame: ZMQMessage) -> ProtocolError? {
        let id: String
        switch message {
        case .controllerHello(let controllerID): id = controllerID
        case .invokerHello(let hello): id = hello.invokerID
        default: return nil
        }
        let key = frame.userID ?? ""
        let allowed = settings.ids(for: key, on: endpoint)
        guard !allowed.contains(id) else { return nil }
        let bound = allowed.isEmpty ? "no id" : allowed.sorted().map { "'\($0)'" }.joined(separator: ", ")
        return ProtocolError(.notAuthorized, "this connection's key (\(key.prefix(8))...) may say HELLO only as \(bound), not as '\(id)' (§8)",
                             command: .hello)
    }
}
