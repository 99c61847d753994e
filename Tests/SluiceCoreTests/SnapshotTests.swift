import SluiceCore
import SluiceProtocol
import Testing

/// What the monitoring endpoint shows comes from `BrokerCore.snapshot()` and the latency
/// samples (issue 14); these check them against scripted events.
@Suite("Snapshot and latency samples")
struct SnapshotTests {
    @Test("The snapshot's tables match what happened: slots used per invoker, in flight per controller, waiting per namespace")
    func tables() {
        var harness = Harness()
        harness.controllerHello("c1")
        harness.controllerHello("c2")
        harness.invokerHello("inv-a", memoryMB: 2048, slots: 4)
        harness.invokerHello("inv-b", memoryMB: 2048, slots: 4)
        for index in 0..<6 { harness.activate("one-\(index)", from: "c1") }
        for index in 0..<4 { harness.activate("two-\(index)", from: "c2") }
        let snapshot = harness.core.snapshot()

        #expect(snapshot.inFlight == 8)
        #expect(snapshot.waiting == 2)
        #expect(snapshot.waitingByNamespace.map(\.namespace) == ["guest"])
        #expect(snapshot.waitingByNamespace.map(\.waiting) == [2])
        #expect(snapshot.invokers.map(\.id) == ["inv-a", "inv-b"])
        #expect(snapshot.invokers.map(\.slotsUsed) == [4, 4])
        #expect(snapshot.invokers.map(\.memoryUsedMB) == [1024, 1024])
        #expect(snapshot.freeSlots == 0)
        #expect(snapshot.slots == 8)
        #expect(snapshot.freeMemoryMB == 2048)
        #expect(snapshot.controllers.map(\.id) == ["c1", "c2"])
        #expect(snapshot.controllers.map(\.inFlight) == [6, 2])
        #expect(snapshot.connectedControllers == 2)
        #expect(snapshot.invokersByState.first { $0.state == "healthy" }?.count == 2)

        // A completion frees a slot; a waiting activation takes it.
        harness.complete("one-0", on: "inv-a", result: bytes("r"))
        let after = harness.core.snapshot()
        #expect(after.inFlight == 8)
        #expect(after.waiting == 1)
        #expect(after.controllers.map(\.inFlight) == [5, 3])

        // A controller that falls silent stays listed, disconnected, with the answers kept for it.
        harness.stopHeartbeats("c2")
        harness.advance(by: .seconds(5))
        let holder = harness.log.dispatches.first { $0.activationID == "two-0" }?.route ?? "?"
        harness.complete("two-0", on: holder, result: bytes("r"))
        let away = harness.core.snapshot()
        #expect(away.controllers.first { $0.id == "c2" }?.connected == false)
        #expect(away.controllers.first { $0.id == "c2" }?.parked == 1)
        #expect(away.parkedAnswers == 1)
    }

    @Test("Wait, run and answer durations are recorded when asked, and taken once")
    func latencies() {
        var configuration = BrokerConfiguration()
        configuration.recordsLatencies = true
        var harness = Harness(configuration: configuration)
        harness.controllerHello("c1")
        harness.invokerHello("inv", memoryMB: 1024, slots: 1)
        harness.activate("first")            // placed at once: waited 0
        harness.setClock(toSeconds: 0.5)
        harness.activate("second")           // waits for the slot
        harness.setClock(toSeconds: 2)
        harness.complete("first", on: "inv", result: bytes("r"))   // ran 2 s; answered after 2 s; second dispatched after 1.5 s
        let samples = harness.core.takeLatencySamples()
        #expect(samples.waited == [0, 1_500_000_000])
        #expect(samples.ran == [2_000_000_000])
        #expect(samples.answered == [2_000_000_000])
        #expect(harness.core.takeLatencySamples().isEmpty, "taken once")

        // An immediate refusal is answered with zero delay.
        harness.activate("huge", memoryMB: 999_999)
        #expect(harness.core.takeLatencySamples().answered == [0])
    }

    @Test("Nothing is recorded unless asked (the simulator and tests pay nothing)")
    func offByDefault() {
        var harness = Harness()
        harness.controllerHello("c1")
        harness.invokerHello("inv")
        harness.activate("a")
        harness.complete("a", on: "inv", result: bytes("r"))
        #expect(harness.core.takeLatencySamples().isEmpty)
    }
}
