import Foundation
import SluiceProtocol
import ZeroMQ

/// The bench's forwarder baseline (`sluice bench --baseline forwarder`): the least a broker can
/// do for the bench's peers on the same ZeroMQ wrapper, to measure Sluice's broker against in
/// the same run. Two ROUTERs; invokers announce credit (their HELLO's slots); each ACTIVATE goes
/// to an invoker with free credit, or waits in a FIFO; a COMPLETION returns the credit and goes
/// back to the controller that sent the activation, found by its routing id. Header and payload
/// frames are forwarded untouched (only the command byte frame differs), each socket is drained
/// until it would block before the next poll, and nothing else is done: no health, no timers,
/// no fairness, no journal, no answer kinds beyond the invoker's outcome. Not a product: it
/// exists only in the bench target.
public final class Forwarder {
    private let context: ZMQContext
    private let controllers: ZMQSocket
    private let invokers: ZMQSocket
    public let controllerEndpoint: String
    public let invokerEndpoint: String

    public init() throws {
        context = try ZMQContext(ioThreads: 1)
        controllers = try ZMQSocket(context, type: .router)
        invokers = try ZMQSocket(context, type: .router)
        for socket in [controllers, invokers] {
            try socket.setLinger(milliseconds: 0)
            try socket.setSendHighWaterMark(0)
            try socket.setReceiveHighWaterMark(0)
        }
        try controllers.bind("tcp://127.0.0.1:*")
        try invokers.bind("tcp://127.0.0.1:*")
        controllerEndpoint = try controllers.lastEndpoint
        invokerEndpoint = try invokers.lastEndpoint
    }

    /// Forwards until `stop()` returns true (checked at least every 100 ms).
    public func run(until stop: () -> Bool) throws {
        // Named like the broker's loop thread, so the bench attributes both alike.
        ProcessThreads.nameCurrentThreadAsLoop()
        let signature = ProtocolConstants.signature
        let welcome = Codec.encodeBody(.welcome(Welcome(brokerID: "forwarder", heartbeatMilliseconds: 1000, maxMessageBytes: 2 << 20)))!
        let welcomeCommand: [UInt8] = [Command.welcome.rawValue]
        let dispatchCommand: [UInt8] = [Command.dispatch.rawValue]
        let answerCommand: [UInt8] = [Command.answer.rawValue]

        var invokerIndex: [[UInt8]: Int] = [:]
        var invokerRoutes: [[UInt8]] = []
        var credit: [Int] = []
        /// Invokers with credit, used round robin.
        var ready: [Int] = []
        var readyHead = 0
        /// The controller route of each activation in flight, by activation id bytes.
        var sentBy: [[UInt8]: [UInt8]] = [:]
        var waiting: [(route: [UInt8], header: ZMQMessage, payload: ZMQMessage)] = []
        var waitingHead = 0
        var frames: [ZMQMessage] = []

        func idBytes(_ header: ZMQMessage) -> [UInt8] {
            header.withUnsafeBytes { raw in
                guard let length = raw.first, raw.count > Int(length) else { return [] }
                return Array(raw[1...Int(length)])
            }
        }

        func takeInvoker() -> Int? {
            while readyHead < ready.count {
                let index = ready[readyHead]
                if credit[index] > 0 {
                    credit[index] -= 1
                    if credit[index] == 0 { readyHead += 1 } else {
                        // Round robin: to the back of the line.
                        readyHead += 1
                        ready.append(index)
                    }
                    if readyHead > 4096 && readyHead * 2 > ready.count {
                        ready.removeFirst(readyHead)
                        readyHead = 0
                    }
                    return index
                }
                readyHead += 1
            }
            return nil
        }

        func dispatch(_ index: Int, controller: [UInt8], header: ZMQMessage, payload: ZMQMessage) throws {
            sentBy[idBytes(header)] = controller
            try invokers.send(frame: invokerRoutes[index], flags: .sendMore)
            try invokers.send(frame: signature, flags: .sendMore)
            try invokers.send(frame: dispatchCommand, flags: .sendMore)
            try invokers.send(header, flags: .sendMore)
            try invokers.send(payload)
        }

        var poller = ZMQPoller()
        _ = poller.add(controllers)
        _ = poller.add(invokers)
        while !stop() {
            _ = try poller.poll(timeoutMilliseconds: 100)
            var busy = true
            while busy {
                busy = false
                // Controllers: HELLO, ACTIVATE (HEARTBEAT and the rest are not answered).
                while let count = try controllers.receiveMultipart(into: &frames, flags: .dontWait) {
                    busy = true
                    guard count >= 3, frames[2].count == 1 else { continue }
                    let route = frames[0].bytes
                    switch frames[2].withUnsafeBytes({ $0[0] }) {
                    case Command.hello.rawValue:
                        try controllers.send(frame: route, flags: .sendMore)
                        try controllers.send(frame: signature, flags: .sendMore)
                        try controllers.send(frame: welcomeCommand, flags: .sendMore)
                        try controllers.send(frame: welcome)
                    case Command.activate.rawValue where count == 5:
                        let header = frames[3], payload = frames[4]
                        frames[3] = ZMQMessage()
                        frames[4] = ZMQMessage()
                        if let index = takeInvoker() {
                            try dispatch(index, controller: route, header: header, payload: payload)
                        } else {
                            waiting.append((route, header, payload))
                        }
                    default:
                        break
                    }
                }
                // Invokers: HELLO (credit), COMPLETION (credit back, answer out).
                while let count = try invokers.receiveMultipart(into: &frames, flags: .dontWait) {
                    busy = true
                    guard count >= 3, frames[2].count == 1 else { continue }
                    switch frames[2].withUnsafeBytes({ $0[0] }) {
                    case Command.hello.rawValue where count == 4:
                        let route = frames[0].bytes
                        let slots = frames[3].withUnsafeBytes { raw -> Int in
                            let at = 1 + Int(raw.first ?? 0) + 4
                            guard raw.count >= at + 4 else { return 0 }
                            return raw[at..<at + 4].reduce(0) { $0 << 8 | Int($1) }
                        }
                        let index = invokerIndex[route] ?? {
                            invokerRoutes.append(route)
                            credit.append(0)
                            invokerIndex[route] = invokerRoutes.count - 1
                            return invokerRoutes.count - 1
                        }()
                        credit[index] = slots
                        if slots > 0 { ready.append(index) }
                        try invokers.send(frame: route, flags: .sendMore)
                        try invokers.send(frame: signature, flags: .sendMore)
                        try invokers.send(frame: welcomeCommand, flags: .sendMore)
                        try invokers.send(frame: welcome)
                    case Command.completion.rawValue where count >= 4:
                        guard let index = invokerIndex[frames[0].bytes] else { continue }
                        let id = idBytes(frames[3])
                        let outcome = frames[3].withUnsafeBytes { raw in raw.count >= id.count + 3 ? raw[id.count + 2] : 0 }
                        if credit[index] == 0 { ready.append(index) }
                        credit[index] += 1
                        if let controller = sentBy.removeValue(forKey: id) {
                            // answer-header: activation-id kind invoker-ref reason
                            var answer = [UInt8(id.count)] + id
                            answer.append(outcome)
                            answer.append(0)
                            answer.append(contentsOf: [0, 0])
                            try controllers.send(frame: controller, flags: .sendMore)
                            try controllers.send(frame: signature, flags: .sendMore)
                            try controllers.send(frame: answerCommand, flags: .sendMore)
                            try controllers.send(frame: answer, flags: .sendMore)
                            if count >= 5 {
                                try controllers.send(frames[4])
                            } else {
                                try controllers.send(frame: [])
                            }
                        }
                        while waitingHead < waiting.count, let next = takeInvoker() {
                            let item = waiting[waitingHead]
                            waitingHead += 1
                            try dispatch(next, controller: item.route, header: item.header, payload: item.payload)
                        }
                        if waitingHead > 4096 && waitingHead * 2 > waiting.count {
                            waiting.removeFirst(waitingHead)
                            waitingHead = 0
                        }
                    default:
                        break
                    }
                }
            }
        }
    }
}
