import Foundation
import SluiceClient
import SluiceProtocol
import Testing
import ZeroMQ

let signature: [UInt8] = Array("SLU".utf8) + [1]

/// docs/PROTOCOL.md §7 with a live broker: bad input gets an ERROR (or a `rejected` answer),
/// is counted, and never disturbs other peers' work.
// Part of the serialized "End to end" suite: these tests start processes and block on
// sockets, so they must not run beside each other.
extension BrokerEndToEndTests {
    @Test("Malformed frames on both endpoints while normal traffic runs: traffic all answered, broker up, counters rise")
    func malformedFramesDuringTraffic() async throws {
        let broker = try BrokerProcess(["--max-message-bytes", "65536"])
        let invokers = try (0..<2).map { try startInvoker(broker, id: "inv\($0)", slots: 8, duration: "1ms-3ms") }
        defer { invokers.forEach { $0.signal(SIGKILL) } }
        let context = try ZMQContext()

        // Invoker endpoint first, before traffic, so a registered raw invoker can be drained
        // before any work could be placed on it.
        let rawInvoker = try RawPeer(context: context, endpoint: broker.invokerEndpoint, inbound: .brokerToInvoker)
        try rawInvoker.send(.completion(CompletionHeader(activationID: "nothing", includesResult: false)))
        #expect(try rawInvoker.expectError()?.code == .notRegistered, "§3.3 COMPLETION before HELLO")
        try rawInvoker.send([signature, [0x01], [3] + Array("bad".utf8) + [0, 0, 0, 1, 0, 0, 0, 0, 0]])
        #expect(try rawInvoker.expectError()?.code == .malformed, "§4.1 HELLO with 0 slots")
        try rawInvoker.send(.invokerHello(InvokerHello(invokerID: "raw-invoker", memoryMB: 1, slots: 1)))
        try rawInvoker.send(.capacity(Capacity(memoryMB: 0, slots: 0)))
        guard case .welcome? = try rawInvoker.receive()?.0 else { Issue.record("§4.2 no WELCOME for a valid HELLO"); return }
        try rawInvoker.send(.completion(CompletionHeader(activationID: "never-dispatched", includesResult: false)))
        #expect(try rawInvoker.expectError()?.code == .unknownActivation, "§7 COMPLETION for an unknown activation")
        try rawInvoker.send([signature, [0x22], [3] + Array("abc".utf8) + [9], []])
        #expect(try rawInvoker.expectError()?.code == .malformed, "§4.10 RESULT with outcome 9")
        try rawInvoker.send([signature, [0x10], [], []])
        #expect(try rawInvoker.expectError()?.code == .unexpectedCommand, "§4 ACTIVATE on the invoker endpoint")

        // Normal traffic, while the controller endpoint is attacked.
        let controller = try ControllerClient(id: "honest", endpoint: broker.controllerEndpoint)
        controller.start()
        #expect(await controller.waitUntilWelcomed(timeout: .seconds(10)), "WELCOME from the broker")
        async let load = drive(controller, prefix: "honest", count: 2_000, window: 32, timeout: .seconds(60))

        let raw = try RawPeer(context: context, endpoint: broker.controllerEndpoint, inbound: .brokerToController)
        try raw.send([Array("XXXX".utf8), [0x01]])
        #expect(try raw.expectError()?.code == .badSignature, "§3.1 bad signature")
        try raw.send([Array("SLU".utf8) + [2], [0x03]])
        #expect(try raw.expectError()?.code == .badVersion, "§3.1 version 2")
        try raw.send([signature, [0x7F]])
        #expect(try raw.expectError()?.code == .unknownCommand, "§4 command 0x7F")
        try raw.send([signature, [0x03, 0x03]])
        #expect(try raw.expectError()?.code == .malformed, "§3.1 two-byte command frame")
        let header = RoutingHeader(activationID: "raw-1", namespace: "guest", action: "guest/raw")
        try raw.send(.activate(header), opaque: [1, 2, 3])
        let unregistered = try raw.expectError()
        #expect(unregistered?.code == .notRegistered && unregistered?.activationID == "raw-1", "§3.3 ACTIVATE before HELLO")
        try raw.send([signature, [0x01], [7] + Array("bad id!".utf8)])
        #expect(try raw.expectError()?.code == .invalidID, "§3.2 controller id with a space")
        try raw.send(.controllerHello(controllerID: "raw-controller"))
        guard case .welcome? = try raw.receive()?.0 else { Issue.record("§4.2 no WELCOME for a valid HELLO"); return }
        try raw.send([signature, [0x10], [5, 0x61], [1]])
        #expect(try raw.expectError()?.code == .malformed, "§4.6 truncated routing header")
        var flagged = Codec.encode(.activate(RoutingHeader(activationID: "raw-2", namespace: "guest", action: "guest/raw")), opaque: [1])
        // The header ends: flags, target-invoker (empty: 1 byte), answer-to (1), required-tag-count (1),
        // max-wait-ms (4). Set reserved flag bits.
        flagged[2][flagged[2].count - 8] = 0xF1
        try raw.send(flagged)
        if case .answer(let answer)? = try raw.receive()?.0 {
            #expect(answer.activationID == "raw-2" && answer.kind == .rejected, "§7 ACTIVATE with reserved flags is answered rejected")
            #expect(answer.reason.contains("reserved bits"), "the reason names the problem: \(answer.reason)")
        } else {
            Issue.record("§7 no ANSWER rejected for an ACTIVATE with reserved flag bits")
        }
        try raw.send([signature, [0x21], [], []])
        #expect(try raw.expectError()?.code == .unexpectedCommand, "§4 DISPATCH from a controller")
        // Larger than --max-message-bytes: libzmq drops the connection before the broker sees it.
        try raw.send([signature, [0x03], [UInt8](repeating: 0x41, count: 100_000)])

        let result = await load
        await controller.close()
        #expect(result.answers.count == 2_000, "every honest activation answered")
        #expect(result.duplicates == 0)
        #expect(result.answers.values.allSatisfy { $0.first?.kind == .success })
        #expect(broker.isRunning, "the broker survived")

        // Still serving after the attack.
        let after = try ControllerClient(id: "after", endpoint: broker.controllerEndpoint)
        after.start()
        #expect(await after.waitUntilWelcomed(timeout: .seconds(10)), "WELCOME from the broker")
        let answer = await after.invoke(RoutingHeader(activationID: "after-1", namespace: "guest", action: "guest/after"), payload: Array("x".utf8))
        #expect(answer.kind == .success)
        #expect(answer.result == Array("result-of:after-1:x".utf8))
        await after.close()

        let counters = try broker.stop()
        #expect((counters["protocol_errors"] ?? 0) >= 14)
        for name in ["badSignature", "badVersion", "unknownCommand", "malformed", "invalidId", "notRegistered", "unexpectedCommand", "unknownActivation"] {
            #expect((counters["protocol_errors_\(name)"] ?? 0) >= 1, "counter protocol_errors_\(name)")
        }
        #expect(counters["answered_rejected"] == 1)
    }
}
