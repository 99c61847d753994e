import Testing
import SluiceCore
import SluicePluginAPI
import SluiceProtocol

// Sessions and invalid input: docs/PROTOCOL.md §3.3 and §7.

@Suite("Sessions and invalid input (§3.3, §7)")
struct InvalidInputTests {
    @Test("§3.3 commands from a connection without a session get ERROR notRegistered and are otherwise ignored")
    func notRegistered() {
        var h = Harness()
        h.invokerHello("i1", memoryMB: 4096, slots: 4)

        let activate = h.activate("a1", from: "stranger")
        #expect(activate.errors(to: "stranger").map(\.code) == [.notRegistered])
        #expect(activate.errors.first?.endpoint == .controller)
        #expect(activate.errors.first?.activationID == "a1")
        #expect(activate.answers.isEmpty)
        #expect(activate.dispatches.isEmpty)
        #expect(h.core.inFlightCount == 0)
        #expect(h.core.waitingCount == 0)

        let heartbeat = h.heartbeat(from: "stranger", .controller)
        #expect(heartbeat.errors(to: "stranger").map(\.code) == [.notRegistered])

        let result = h.result("a1", on: "ghost", bytes("r"))
        #expect(result.errors(to: "ghost").map(\.code) == [.notRegistered])
        #expect(result.errors.first?.endpoint == .invoker)
        #expect(result.answers.isEmpty)

        let completion = h.complete("a1", on: "ghost")
        #expect(completion.errors(to: "ghost").map(\.code) == [.notRegistered])
        #expect(completion.answers.isEmpty)

        #expect(h.core.counters.protocolErrors(.notRegistered) == 4)
        #expect(h.core.counters.answered == 0)

        // After HELLO the same connection is served (how peers recover, §3.3).
        h.controllerHello("stranger")
        #expect(h.activate("a1", from: "stranger").placements == ["a1->i1"])
    }

    @Test("§7 a malformed ACTIVATE whose id was read is answered rejected; without an id it gets ERROR; both are counted per code")
    func protocolErrors() {
        var h = Harness()
        h.controllerHello("c1")
        h.invokerHello("i1", memoryMB: 4096, slots: 4)

        let withID = h.receiveFailure(.controller, from: "c1",
                                      ProtocolError(.malformed, "flags: reserved bits 2-7 set", activationID: "a1", command: .activate))
        #expect(withID.answers(to: "c1").map(\.activationID) == ["a1"])
        #expect(withID.answers.first?.kind == .rejected)
        #expect(withID.answers.first?.header.reason.contains("reserved bits") == true)
        #expect(withID.answers.first?.result == [])
        #expect(withID.errors.isEmpty)
        #expect(withID.dispatches.isEmpty)
        #expect(h.core.counters.protocolErrors(.malformed) == 1)

        let withoutID = h.receiveFailure(.controller, from: "c1",
                                         ProtocolError(.malformed, "routing header truncated", command: .activate))
        #expect(withoutID.errors(to: "c1").map(\.code) == [.malformed])
        #expect(withoutID.errors.first?.activationID == "")
        #expect(withoutID.answers.isEmpty)
        #expect(h.core.counters.protocolErrors(.malformed) == 2)

        let invalidID = h.receiveFailure(.controller, from: "c1",
                                         ProtocolError(.invalidID, "answer-to 'c 2' is not an id", activationID: "a2", command: .activate))
        #expect(invalidID.answers.map(\.kind) == [.rejected])
        #expect(h.core.counters.protocolErrors(.invalidID) == 1)

        let badSignature = h.receiveFailure(.invoker, from: "i1", ProtocolError(.badSignature, "first frame is not SLU"))
        #expect(badSignature.errors(to: "i1").map(\.code) == [.badSignature])
        #expect(badSignature.errors.first?.endpoint == .invoker)
        #expect(h.core.counters.protocolErrors(.badSignature) == 1)

        // A peer without a session gets ERROR, never ANSWER, even when the id was read.
        let stranger = h.receiveFailure(.controller, from: "stranger",
                                        ProtocolError(.malformed, "bad flags", activationID: "a3", command: .activate))
        #expect(stranger.answers.isEmpty)
        #expect(stranger.errors(to: "stranger").count == 1)

        // Nothing else was disturbed: the broker still places work.
        #expect(h.activate("a4").placements == ["a4->i1"])
    }

    @Test("§7 a malformed ACTIVATE reusing an id in flight gets ERROR duplicateActivation; the original keeps its single answer")
    func malformedDuplicate() {
        var h = Harness()
        h.controllerHello("c1")
        h.invokerHello("i1", memoryMB: 4096, slots: 4)
        #expect(h.activate("a1").placements == ["a1->i1"])

        let bad = h.receiveFailure(.controller, from: "c1",
                                   ProtocolError(.malformed, "flags: reserved bits 2-7 set", activationID: "a1", command: .activate))
        #expect(bad.answers.isEmpty)
        #expect(bad.errors(to: "c1").map(\.code) == [.duplicateActivation])
        #expect(bad.errors.first?.activationID == "a1")

        let done = h.complete("a1", on: "i1", result: bytes("r1"))
        #expect(done.answers.map(\.kind) == [.success])
        #expect(h.log.answers(for: "a1").count == 1)
    }

    @Test("§7 the broker does not crash on huge but legal memory sizes (u32)")
    func hugeMemoryDoesNotCrash() async {
        await #expect(processExitsWith: .success) {
            var h = Harness()
            h.controllerHello("c1")
            h.invokerHello("i1", memoryMB: .max, slots: 2)
            h.activate("a1", memoryMB: .max - 10)
            // Fits nowhere right now: it must wait, not trap on UInt32 overflow.
            h.activate("a2", memoryMB: 100)
            h.complete("a1", on: "i1")
        }
    }
}
