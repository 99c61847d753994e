import Foundation
import SluiceClient
import SluiceProtocol
import Synchronization
import Testing
import ZeroMQ

/// A deterministic generator (splitmix64), so a failing garbage sequence can be replayed.
private struct SplitMix {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
    mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) } }
}

/// One garbage message: random frames, a valid signature with random commands and bodies,
/// truncated real messages, the wrong role's HELLO, or a frame larger than the broker accepts.
private func garbage(_ random: inout SplitMix, endpoint: Channel, maxMessage: Int) -> [[UInt8]] {
    let real: [[UInt8]] = endpoint == .controllerToBroker
        ? Codec.encode(.activate(RoutingHeader(activationID: "g\(random.below(1000))", namespace: "guest", action: "guest/g",
                                                memoryMB: 128, timeLimitMilliseconds: 1000)), opaque: [1, 2, 3])
        : Codec.encode(.completion(CompletionHeader(activationID: "g\(random.below(1000))", includesResult: true, outcome: .success)),
                       opaque: [1, 2, 3])
    switch random.below(6) {
    case 0:  // random frames
        return (0..<(1 + random.below(8))).map { _ in random.bytes(random.below(300)) }
    case 1:  // a real signature, then a random command byte and random frames
        return [signature, [UInt8(random.below(256))]] + (0..<random.below(4)).map { _ in random.bytes(random.below(64)) }
    case 2:  // a real message cut short inside its header frame
        var frames = real
        frames[2] = Array(frames[2].prefix(random.below(frames[2].count)))
        return frames
    case 3:  // the wrong role's HELLO
        return endpoint == .controllerToBroker
            ? Codec.encode(.invokerHello(InvokerHello(invokerID: "role-\(random.below(100))", memoryMB: 1024, slots: 4)))
            : [signature, [0x01], [6] + Array("ctl-xx".utf8)]
    case 4:  // one bit flipped anywhere in a real message
        var frames = real
        let frame = random.below(frames.count)
        if !frames[frame].isEmpty {
            let byte = random.below(frames[frame].count)
            frames[frame][byte] ^= UInt8(1 << random.below(8))
        }
        return frames
    default:  // a giant frame: libzmq disconnects the sender before the broker sees it
        return [signature, [0x10], [UInt8](repeating: 0x41, count: maxMessage + 1 + random.below(1000))]
    }
}

extension BrokerEndToEndTests {
    @Test("Garbage peers on both endpoints during load: every legitimate activation answered once, broker alive, error counters rise")
    func garbagePeersDuringLoad() async throws {
        let maxMessage = 65_536
        let broker = try BrokerProcess(["--max-message-bytes", "\(maxMessage)"])
        let invokers = try (0..<2).map { try startInvoker(broker, id: "inv\($0)", slots: 8, duration: "1ms-3ms") }
        defer { invokers.forEach { $0.signal(SIGKILL) } }
        let controller = try ControllerClient(id: "honest", endpoint: broker.controllerEndpoint)
        controller.start()
        #expect(await controller.waitUntilWelcomed(timeout: .seconds(10)))

        // Garbage from a thread of its own while the load runs: 4 peers per endpoint, each
        // reconnecting after its giant frames got it disconnected.
        let stop = Atomic<Bool>(false)
        let sent = Atomic<Int>(0)
        let (controllerEndpoint, invokerEndpoint) = (broker.controllerEndpoint, broker.invokerEndpoint)
        let attackerStopped = DispatchSemaphore(value: 0)
        let attacker = Thread {
            defer { attackerStopped.signal() }
            var random = SplitMix(state: 0x5EED)
            guard let context = try? ZMQContext() else { return }
            var peers: [(RawPeer, Channel)] = []
            for index in 0..<8 {
                let channel: Channel = index % 2 == 0 ? .controllerToBroker : .invokerToBroker
                let endpoint = channel == .controllerToBroker ? controllerEndpoint : invokerEndpoint
                if let peer = try? RawPeer(context: context, endpoint: endpoint, inbound: channel == .controllerToBroker ? .brokerToController : .brokerToInvoker) {
                    try? peer.socket.setLinger(milliseconds: 0)
                    peers.append((peer, channel))
                }
            }
            while !stop.load(ordering: .acquiring) {
                for (peer, channel) in peers {
                    _ = try? peer.socket.send(multipart: garbage(&random, endpoint: channel, maxMessage: maxMessage).map { ZMQMessage(bytes: $0) },
                                              flags: .dontWait)
                    while (try? peer.socket.receiveMultipart(flags: .dontWait)) != nil {}
                    sent.add(1, ordering: .relaxed)
                }
                usleep(500)
            }
        }
        attacker.start()

        let result = await drive(controller, prefix: "honest", count: 2_000, window: 32, timeout: .seconds(120))
        stop.store(true, ordering: .releasing)
        #expect(attackerStopped.wait(timeout: .now() + 30) == .success, "the attacker thread did not stop")
        await controller.close()

        #expect(result.sent == 2_000)
        #expect(result.answers.count == 2_000, "answers for \(result.answers.count) of 2000")
        #expect(result.duplicates == 0)
        let kinds = Dictionary(grouping: result.answers.values.compactMap(\.first), by: \.kind).mapValues(\.count)
        #expect(kinds == [.success: 2_000], "\(kinds)")
        #expect(result.wrongResults.isEmpty)
        #expect(sent.load(ordering: .relaxed) > 200, "the attacker sent \(sent.load(ordering: .relaxed)) messages")

        let counters = try broker.stop()  // exits 0 with a summary: the broker survived
        #expect((counters["protocol_errors"] ?? 0) > 100, "errors counted: \(counters)")
        for code in ["badSignature", "malformed", "unknownCommand"] {
            #expect((counters["protocol_errors_\(code)"] ?? 0) > 0, "\(code) counted: \(counters)")
        }
    }
}

extension BrokerEndToEndTests {
    @Test("Issue 13 item 17: a peer sending garbage gets a few log lines and a summary, not one line per message; counters stay exact")
    func garbageDoesNotFloodTheLog() async throws {
        let broker = try BrokerProcess(["--log-level", "notice"])
        let context = try ZMQContext()
        let peer = try RawPeer(context: context, endpoint: broker.controllerEndpoint, inbound: .brokerToController)
        let count = 500
        // An ACTIVATE without its header frame: malformed, answered with ERROR each time.
        for _ in 0..<count { try peer.send([signature, [0x10]]) }
        var errors = 0
        while errors < count, let report = try peer.expectError() {
            #expect(report.code == .malformed)
            errors += 1
        }
        #expect(errors == count, "every bad message got its ERROR")
        let counters = try broker.stop()
        #expect(counters["protocol_errors_malformed"] == count, "the counter is exact")
        let lines = broker.child.errors.current.split(separator: "\n")
        let detailed = lines.filter { $0.contains("bad input from a peer") && !$0.contains("not logged") }
        let suppressed = lines.filter { $0.contains("not logged") }.compactMap { line -> Int? in
            guard let range = line.range(of: "suppressed=") else { return nil }
            return Int(line[range.upperBound...].prefix { $0.isNumber })
        }
        // Before the fix: 500 lines. Now 5 per 10 s window, and the rest in summaries.
        #expect(detailed.count >= 5 && detailed.count <= 15, "\(detailed.count) detailed lines")
        #expect(detailed.count + suppressed.reduce(0, +) == count, "every bad message is logged or summarised: \(suppressed)")
    }
}
