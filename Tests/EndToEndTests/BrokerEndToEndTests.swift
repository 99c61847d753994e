import Foundation
import SluiceClient
import SluiceProtocol
import Synchronization
import Testing

/// The real `sluice` binary, real invoker processes, tcp loopback.
@Suite("End to end", .serialized, .timeLimit(.minutes(3)))
struct BrokerEndToEndTests {
    @Test("3 invokers, 2 controllers, 10,000 activations: each answered once, to its sender, bytes intact")
    func tenThousandActivations() async throws {
        let broker = try BrokerProcess()
        let invokers = try (0..<3).map { try startInvoker(broker, id: "inv\($0)", slots: 16, duration: "0ms-2ms") }
        defer { invokers.forEach { $0.signal(SIGKILL) } }

        let alpha = try ControllerClient(id: "controller-alpha", endpoint: broker.controllerEndpoint)
        let beta = try ControllerClient(id: "controller-beta", endpoint: broker.controllerEndpoint)
        alpha.start()
        beta.start()
        #expect(await alpha.waitUntilWelcomed(timeout: .seconds(10)), "WELCOME from the broker")
        #expect(await beta.waitUntilWelcomed(timeout: .seconds(10)), "WELCOME from the broker")

        async let alphaResult = drive(alpha, prefix: "alpha", count: 5_000, window: 64, timeout: .seconds(120))
        async let betaResult = drive(beta, prefix: "beta", count: 5_000, window: 64, timeout: .seconds(120))
        let (a, b) = await (alphaResult, betaResult)
        await alpha.close()
        await beta.close()

        for (name, result) in [("alpha", a), ("beta", b)] {
            #expect(result.sent == 5_000)
            #expect(result.answers.count == 5_000, "\(name) got answers for \(result.answers.count) of 5000 activations")
            #expect(result.duplicates == 0, "\(name) got \(result.duplicates) duplicate answers")
            // Only its own activations reach a controller.
            #expect(result.answers.keys.allSatisfy { $0.hasPrefix(name + "-") })
            let kinds = Dictionary(grouping: result.answers.values.compactMap(\.first), by: \.kind).mapValues(\.count)
            #expect(kinds == [.success: 5_000], "\(name) answer kinds: \(kinds)")
            #expect(result.wrongResults.isEmpty, "\(name): \(result.wrongResults.count) results with wrong bytes")
        }
        // Work was spread over every invoker.
        let ran = Set((Array(a.answers.values) + Array(b.answers.values)).compactMap { $0.first?.header.invokerID })
        #expect(ran == ["inv0", "inv1", "inv2"])

        let counters = try broker.stop()
        #expect(counters["activations_received"] == 10_000)
        #expect(counters["dispatched"]! - counters["dispatch_retries"]! == 10_000, "each dispatched once (a retry never left)")
        #expect(counters["answered_success"] == 10_000)
        #expect(counters["protocol_errors"] == 0)
    }

    @Test("SIGKILL an invoker holding work: its in-flight work is answered invokerLost within the liveness window; the rest succeeds")
    func killedInvoker() async throws {
        // Liveness window: 200 ms x 3 = 600 ms.
        let broker = try BrokerProcess(["--heartbeat-interval", "200ms", "--liveness", "3"])
        let survivors = try (0..<2).map { try startInvoker(broker, id: "survivor\($0)", slots: 4, duration: "300ms-500ms") }
        let victim = try startInvoker(broker, id: "victim", slots: 4, duration: "300ms-500ms")
        defer { (survivors + [victim]).forEach { $0.signal(SIGKILL) } }

        let controller = try ControllerClient(id: "controller-kill", endpoint: broker.controllerEndpoint)
        controller.start()
        #expect(await controller.waitUntilWelcomed(timeout: .seconds(10)), "WELCOME from the broker")

        // Kill the victim once it has finished a few activations: it always holds more then,
        // because 120 activations keep all 12 slots busy for several seconds.
        let killedAt = Mutex<ContinuousClock.Instant?>(nil)
        let victimSuccesses = Atomic<Int>(0)
        let result = await drive(controller, prefix: "kill", count: 120, window: 120, timeout: .seconds(60)) { answer in
            guard answer.header.invokerID == "victim", answer.kind == .success else { return }
            if victimSuccesses.add(1, ordering: .relaxed).newValue == 4 {
                victim.signal(SIGKILL)
                killedAt.withLock { $0 = .now }
            }
        }
        await controller.close()

        let killTime = try #require(killedAt.withLock { $0 }, "the victim never finished 4 activations")
        #expect(result.answers.count == 120)
        #expect(result.duplicates == 0)
        let answers = result.answers.values.compactMap(\.first)
        let lost = answers.filter { $0.kind == .invokerLost }
        #expect(!lost.isEmpty, "the victim held work when killed, so some answers must be invokerLost")
        #expect(lost.allSatisfy { $0.header.invokerID == "victim" })
        for answer in lost {
            let delay = killTime.duration(to: result.arrivals[answer.activationID]!)
            // 600 ms window, plus slack for a loaded 2-core machine.
            #expect(delay < .milliseconds(1_500), "invokerLost for \(answer.activationID) came \(delay) after the kill")
        }
        let others = answers.filter { $0.kind != .invokerLost }
        #expect(others.allSatisfy { $0.kind == .success }, "every other activation succeeds")
        #expect(result.wrongResults.isEmpty)

        let counters = try broker.stop()
        // Never redelivered: one DISPATCH per activation.
        #expect(counters["dispatched"]! - counters["dispatch_retries"]! == 120, "each dispatched once (a retry never left)")
        #expect(counters["answered_invokerLost"] == lost.count)
        #expect(counters["invokers_lost"] == 1)
    }
}
