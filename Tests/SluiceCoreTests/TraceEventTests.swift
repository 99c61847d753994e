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
            case .invoker, .invokerLeft:
                break
            }
        }
        return out
    }

    /// The cluster-shape events, as text.
    static func shape(_ events: [TraceEvent]) -> [String] {
        events.compactMap { event in
            switch event {
            case .invoker(let position, _, let memory, let slots): "\(position) joined \(memory)/\(slots)"
            case .invokerLeft(let position, _): "\(position) left"
            default: nil
            }
        }
    }

    @Test("placed at once, waited, refused, timed out, lost and RESULT-then-COMPLETION each give one arrival and one answer with the right kind, run and warm flag")
    func everyPathIsTraced() {
        var h = Harness()
        h.controllerHello("c1")
        h.invokerHello("i1", memoryMB: 512, slots: 2)
        // Recording starts with an invoker registered: the trace opens with it.
        h.core.recordsTrace = true
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
        // The cluster's shape: i1 was registered when recording started, and left.
        #expect(Self.shape(events) == ["0 joined 512/2", "0 left"])
        let answers = Self.joined(events)
        #expect(answers.count == 4)
        #expect(answers[1]?.kind == .success && answers[1]?.ran == true && answers[1]?.warm == true && answers[1]?.position == 0)
        #expect(answers[2]?.kind == .success && answers[2]?.ran == true && answers[2]?.warm == false)
        #expect(answers[3]?.kind == .invokerLost && answers[3]?.ran == true)
        #expect(answers[4]?.kind == .rejected && answers[4]?.ran == false && answers[4]?.position == nil)
        #expect(h.core.takeTraceEvents().isEmpty, "taken once")

        // A registration while recording is traced; so is a timeout; off means no events.
        h.invokerHello("i2", memoryMB: 512, slots: 2)
        // i1 left, so i2 takes its free position 0.
        #expect(Self.shape(h.core.takeTraceEvents()) == ["0 joined 512/2"])
        h.activate("t1", timeLimitMilliseconds: 1)
        h.stopHeartbeats("i2")
        h.advance(by: .seconds(200))
        #expect(Self.joined(h.core.takeTraceEvents()).values.contains { $0.kind == .timeout || $0.kind == .invokerLost })
        h.core.recordsTrace = false
        h.activate("off1")
        #expect(h.core.takeTraceEvents().isEmpty)
    }
}
