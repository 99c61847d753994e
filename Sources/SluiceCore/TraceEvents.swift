import SluiceProtocol

/// What the core reports for a placement trace (`sluice broker --record-trace`, docs/TRACES.md):
/// one arrival per ACTIVATE it accepted for placement and one end when that activation's single
/// answer leaves. Names are handed over in the clear; the trace writer hashes them with the
/// trace's secret salt before anything is written, and nothing else about an activation (its
/// id, payload or result) is reported. Taken by the shell with `takeTraceEvents()`.
public enum TraceEvent: Sendable, Equatable {
    /// `sequence` numbers the activations of this broker run; it is what joins an end to its
    /// arrival in the trace (activation ids are never written).
    case arrival(sequence: UInt32, at: Timestamp, action: String, namespace: String, memoryMB: UInt32)
    /// `ran`: DISPATCH to the answer, nil if it never ran. `warm`: when it was dispatched, the
    /// invoker's counted idle containers for the action (§4.12) had one for it.
    case answered(sequence: UInt32, at: Timestamp, kind: AnswerKind, ranNanoseconds: UInt64?, warm: Bool, invokerPosition: Int32?)
}

/// Per-activation state of a trace between its arrival and its answer (only while tracing).
struct TraceState {
    var sequence: UInt32
    var dispatchedAt: Timestamp?
    var warm = false
    var invokerPosition: Int32?
}

extension BrokerCore {
    /// Whether trace events are kept (the shell turns this on and off while the broker runs).
    public var recordsTrace: Bool {
        get { tracing }
        set {
            tracing = newValue
            if !newValue {
                traceStates.removeAll()
                traceEvents.removeAll()
            }
        }
    }

    /// The trace events since the last call, oldest first.
    public mutating func takeTraceEvents() -> [TraceEvent] {
        guard !traceEvents.isEmpty else { return [] }
        defer { traceEvents.removeAll(keepingCapacity: true) }
        return traceEvents
    }

    mutating func traceArrival(_ header: RoutingHeader) {
        guard tracing else { return }
        traceSequence &+= 1
        traceStates[header.activationID] = TraceState(sequence: traceSequence)
        traceEvents.append(.arrival(sequence: traceSequence, at: now, action: header.action, namespace: header.namespace,
                                    memoryMB: header.memoryMB))
    }

    mutating func traceDispatch(_ activationID: String, warm: Bool, position: Int) {
        guard tracing, let index = traceStates.index(forKey: activationID) else { return }
        traceStates.values[index].dispatchedAt = now
        traceStates.values[index].warm = warm
        traceStates.values[index].invokerPosition = Int32(position)
    }

    mutating func traceAnswer(_ activationID: String, kind: AnswerKind) {
        guard tracing, let state = traceStates.removeValue(forKey: activationID) else { return }
        let ran = state.dispatchedAt.map { now.nanoseconds >= $0.nanoseconds ? now.nanoseconds - $0.nanoseconds : 0 }
        traceEvents.append(.answered(sequence: state.sequence, at: now, kind: kind, ranNanoseconds: ran, warm: state.warm,
                                     invokerPosition: state.invokerPosition))
    }
}
