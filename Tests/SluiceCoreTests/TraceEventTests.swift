import SluiceCore
import SluicePluginAPI
import SluiceProtocol
import Testing

@Suite("Placement trace events (issue 18, docs/TRACES.md)")
struct TraceEventTests {
    /// The answered events by sequence, with the arrivals they follow.
    static func joined(_ events: [TraceEvent]) -> [UInt32: (kind: AnswerKind, ran: Bool, warm: Bool, position: Int32?)] {
        var arrived: Set<UInt32> = []
        var out: [UInt32: (kind: AnswerKind, ran: Bool, warm: Bool, position: Int32?)] = [:]
        for event in events {
            switch event {
            case .arrival(let sequence, _, _, _, _):
                #expect(arrived.insert(sequence).inserted, "one arrival per sequence")
            case .answered(let sequence, _, let kind, let ran, let warm, let position):
                #expect(arrived.contains(sequence), "an answer follows its arrival")
                #expect(out[sequence] == nil, "one answer per sequence")
                out[sequence] = (kind, ran != nil, warm, position)
            }
        }
        return out
    }

    @Test("placed at once, waited, refused, timed out, lost and RESULT-then-COMPLETION each give one arrival and one answer with the right kind, run and warm flag")
    func everyPathIsTraced() {
        var h = Harness()
        h.core.recordsTrace = true
        h.controllerHello("c1")
        h.invokerHello("i1", memoryMB: 512, slots: 2)
        h.receive(.invoker, from: "i1", .invokerHeartbeat(WarmReport([WarmReport.Entry(action: "guest/echo", idle: 1, total: 1)])))
        #expect(h.activate("a1").placements == ["a1->i1"])       // 1: at once, warm
        #expect(h.activate("a2").placements == ["a2->i1"])       // 2: at once, cold
        #expect(h.activate("a3").placements.isEmpty)             // 3: waits
        h.activate("big", memoryMB: 100_000)                     // 4: refused (larger than any invoker)
        h.complete("a1", on: "i1")                               // 1 answered; 3 is placed
        h.result("a2", on: "i1", [1])                            // 2 answered by its RESULT
        h.complete("a2", on: "i1")
        h.invokerGoodbye("i1")                                   // 3 lost
        let events = h.core.takeTraceEvents()
        let answers = Self.joined(events)
        #expect(answers.count == 4)
        #expect(answers[1]?.kind == .success && answers[1]?.ran == true && answers[1]?.warm == true && answers[1]?.position == 0)
        #expect(answers[2]?.kind == .success && answers[2]?.ran == true && answers[2]?.warm == false)
        #expect(answers[3]?.kind == .invokerLost && answers[3]?.ran == true)
        #expect(answers[4]?.kind == .rejected && answers[4]?.ran == false && answers[4]?.position == nil)
        #expect(h.core.takeTraceEvents().isEmpty, "taken once")

        // A timeout is traced too; off means no events.
        h.invokerHello("i2", memoryMB: 512, slots: 2)
        h.activate("t1", timeLimitMilliseconds: 1)
        h.stopHeartbeats("i2")
        h.advance(by: .seconds(200))
        #expect(Self.joined(h.core.takeTraceEvents()).values.contains { $0.kind == .timeout || $0.kind == .invokerLost })
        h.core.recordsTrace = false
        h.activate("off1")
        #expect(h.core.takeTraceEvents().isEmpty)
    }
}
