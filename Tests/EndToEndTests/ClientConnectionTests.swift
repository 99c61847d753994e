import Foundation
import SluiceTestKit
import Synchronization
import SluiceClient
import SluiceProtocol
import Testing
import ZeroMQ

/// The client library against a scripted broker: a bare ROUTER on tcp loopback that says
/// exactly what a test wants and then goes away.
@Suite("Client connection")
struct ClientConnectionTests {
    /// A broker that answers a burst and exits at once (the last answers of a graceful
    /// shutdown): every answer that left the broker reaches the controller. libzmq drops the
    /// messages a connection delivered but the application had not read yet when that
    /// connection closes if the socket has ZMQ_IMMEDIATE set, so the client must not set it.
    @Test("Answers sent just before the broker closes its socket all reach the controller")
    func answersBeforeCloseAreKept() async throws {
        let count = 2_000
        let broker = try ScriptedBroker { router, route in
            // Every activation, then an answer to each in one burst, then close.
            for _ in 0..<count { _ = try router.next { if case .activate = $0 { true } else { false } } }
            for index in 0..<count {
                try router.send(.answer(AnswerHeader(activationID: "a\(index)", kind: .success)), opaque: [1], to: route)
            }
        }
        let controller = try ControllerClient(id: "reader", endpoint: broker.endpoint, answerTimeout: .seconds(15))
        controller.start()
        #expect(await controller.waitUntilWelcomed(timeout: .seconds(10)))
        controller.submit((0..<count).map { (RoutingHeader(activationID: "a\($0)", namespace: "guest", action: "guest/a"), [0]) })
        try await broker.finished()

        // Collected off the test's task, so a client that lost answers (or whose thread is
        // stuck on a broken multipart message) fails the wait instead of hanging the test.
        let kinds = Mutex<[AnswerKind: Int]>([:])
        let reader = Task {
            for await answer in controller.answers { kinds.withLock { $0[answer.kind, default: 0] += 1 } }
        }
        defer { reader.cancel() }
        try await waitUntil("\(count) answers", timeout: .seconds(30)) { kinds.withLock { $0.values.reduce(0, +) } == count }
        #expect(kinds.withLock { $0 } == [.success: count], "every answer the broker sent arrived as sent")
        await controller.close()
    }

}

/// A bare ROUTER on its own thread, as a broker runs: it welcomes the first controller, runs
/// `script`, then closes with a linger and terminates its context (so everything it sent has
/// left the process, as when a broker exits).
final class ScriptedBroker: Sendable {
    let endpoint: String
    private final class Outcome: Sendable {
        let value = Mutex<Result<Void, any Error>?>(nil)
    }
    private let outcome = Outcome()

    final class Router {
        let socket: ZMQSocket
        init(_ socket: ZMQSocket) { self.socket = socket }

        /// The next message `accept` takes, with its route; others are skipped.
        @discardableResult
        func next(_ accept: (Message) -> Bool) throws -> [UInt8] {
            while true {
                var poller = ZMQPoller()
                _ = poller.add(socket)
                guard try poller.poll(timeoutMilliseconds: 10_000) > 0 else { throw ScriptError.silent }
                while let frames = try socket.receiveMultipart(flags: .dontWait) {
                    let message = try Codec.decode(frames[1...].map(\.bytes), channel: .controllerToBroker)
                    if accept(message) { return frames[0].bytes }
                }
            }
        }

        func send(_ message: Message, opaque: [UInt8] = [], to route: [UInt8]) throws {
            try socket.send(multipart: ([route] + Codec.encode(message, opaque: opaque)).map { ZMQMessage(bytes: $0) })
        }
    }

    enum ScriptError: Error { case silent }

    init(script: @escaping @Sendable (Router, [UInt8]) throws -> Void) throws {
        let bound = Mutex<Result<String, any Error>?>(nil)
        let ready = DispatchSemaphore(value: 0)
        let outcome = self.outcome
        let thread = Thread {
            let result = Result<Void, any Error> {
                let context = try ZMQContext()
                defer { context.terminate() }
                let router = Router(try ZMQSocket(context, type: .router))
                defer { try? router.socket.setLinger(milliseconds: 2_000) }
                do {
                    // A burst must not meet the high-water mark: a ROUTER drops silently there.
                    try router.socket.setSendHighWaterMark(0)
                    try router.socket.bind("tcp://127.0.0.1:*")
                    let endpoint = try router.socket.lastEndpoint
                    bound.withLock { $0 = .success(endpoint) }
                    ready.signal()
                } catch {
                    bound.withLock { $0 = .failure(error) }
                    ready.signal()
                    throw error
                }
                let route = try router.next { if case .controllerHello = $0 { true } else { false } }
                try router.send(.welcome(Welcome(brokerID: "scripted", heartbeatMilliseconds: 60_000, maxMessageBytes: 1 << 20)), to: route)
                try script(router, route)
            }
            outcome.value.withLock { $0 = result }
        }
        thread.start()
        ready.wait()
        endpoint = try bound.withLock { $0! }.get()
    }

    /// Waits until the script has run and the socket is closed; rethrows the script's error.
    func finished() async throws {
        try await waitUntil("the scripted broker finished", timeout: .seconds(30)) { outcome.value.withLock { $0 != nil } }
        try outcome.value.withLock { $0! }.get()
    }
}
