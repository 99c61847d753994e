import SluicePluginAPI
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
    /// The invoker at `position` registered or changed its capacity (the cluster's shape).
    case invoker(position: Int, at: Timestamp, memoryMB: UInt32, slots: UInt32)
    /// The invoker at `position` is gone.
    case invokerLeft(position: Int, at: Timestamp)
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
            let starting = newValue && !tracing
            tracing = newValue
            if starting {
                // A trace starts with the cluster as it is; changes follow (`traceShape`).
                for case let invoker? in cluster {
                    traceEvents.append(.invoker(position: invoker.position, at: now, memoryMB: invoker.memoryMB, slots: invoker.slots))
                }
            }
            if !newValue {
                traceStates.removeAll()
                traceByHandle.removeAll()
                traceLast = nil
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

    // Per-activation trace state costs no hashing on the common path: an activation placed at
    // once goes from the arrival (`traceLast`) straight to its in-flight handle
    // (`traceByHandle`, an array), and its answer names the handle. Only activations that wait,
    // or are answered without running, are kept by id.

    /// The view's snapshot at `position` is about to become `new`: a registration, a capacity
    /// change or a departure is part of the cluster's shape (other changes are not).
    mutating func traceShape(from old: InvokerSnapshot?, to new: InvokerSnapshot?, at position: Int) {
        guard tracing else { return }
        if let new {
            if old?.memoryMB != new.memoryMB || old?.slots != new.slots {
                traceEvents.append(.invoker(position: position, at: now, memoryMB: new.memoryMB, slots: new.slots))
            }
        } else if old != nil {
            traceEvents.append(.invokerLeft(position: position, at: now))
        }
    }

    mutating func traceArrival(_ header: RoutingHeader) {
        guard tracing else { return }
        traceSequence &+= 1
        traceLast = (header.activationID, traceSequence)
        traceEvents.append(.arrival(sequence: traceSequence, at: now, action: header.action, namespace: header.namespace,
                                    memoryMB: header.memoryMB))
    }

    /// The activation `id` waits (or waits again): its state is kept by id until dispatched.
    mutating func traceWaits(_ id: String, handle: InFlightTable.Handle? = nil) {
        guard tracing else { return }
        if let handle, Int(handle) < traceByHandle.count, let state = traceByHandle[Int(handle)] {
            traceByHandle[Int(handle)] = nil
            traceStates[id] = state
        } else if let last = traceLast, last.id == id {
            traceLast = nil
            traceStates[id] = TraceState(sequence: last.sequence)
        }
    }

    mutating func traceDispatch(_ activationID: String, handle: InFlightTable.Handle, warm: Bool, position: Int) {
        guard tracing else { return }
        let sequence: UInt32
        if let last = traceLast, last.id == activationID {
            sequence = last.sequence
            traceLast = nil
        } else if let state = traceStates.removeValue(forKey: activationID) {
            sequence = state.sequence
        } else {
            return
        }
        let index = Int(handle)
        if index >= traceByHandle.count { traceByHandle.append(contentsOf: repeatElement(nil, count: index + 1 - traceByHandle.count)) }
        traceByHandle[index] = TraceState(sequence: sequence, dispatchedAt: now, warm: warm, invokerPosition: Int32(position))
    }

    /// `handle`: the in-flight handle the answered activation had (the answer of a run).
    mutating func traceAnswer(_ activationID: String, kind: AnswerKind, handle: InFlightTable.Handle?) {
        guard tracing else { return }
        let state: TraceState
        if let handle, Int(handle) < traceByHandle.count, let found = traceByHandle[Int(handle)] {
            traceByHandle[Int(handle)] = nil
            state = found
        } else if let last = traceLast, last.id == activationID {
            traceLast = nil
            state = TraceState(sequence: last.sequence)
        } else if !traceStates.isEmpty, let found = traceStates.removeValue(forKey: activationID) {
            state = found
        } else {
            return
        }
        let ran = state.dispatchedAt.map { now.nanoseconds >= $0.nanoseconds ? now.nanoseconds - $0.nanoseconds : 0 }
        traceEvents.append(.answered(sequence: state.sequence, at: now, kind: kind, ranNanoseconds: ran, warm: state.warm,
                                     invokerPosition: state.invokerPosition))
    }
}
