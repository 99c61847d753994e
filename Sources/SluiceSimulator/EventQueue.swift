import HeapModule

/// The simulation's future events, earliest first; events at the same time come out in the
/// order they were scheduled (a sequence number breaks ties), which keeps runs deterministic.
struct EventQueue {
    enum Kind {
        case coldStartDone(invoker: Int32, activation: Int32, container: Int32)
        /// The earliest running activation of an invoker may be done; stale unless
        /// `generation` is still the invoker's.
        case processorSharing(invoker: Int32, generation: UInt32)
        case join
        case drain(Int32)
        case leaveWhenIdle(Int32)
    }

    struct Event {
        var time: Double
        var sequence: UInt64
        var kind: Kind
    }

    /// swift-collections' min-max heap; `Event`'s order is total, so runs are deterministic.
    private var heap = Heap<Event>()
    private var sequence: UInt64 = 0

    var nextTime: Double { heap.min?.time ?? .infinity }
    var isEmpty: Bool { heap.isEmpty }

    mutating func schedule(_ time: Double, _ kind: Kind) {
        sequence += 1
        heap.insert(Event(time: time, sequence: sequence, kind: kind))
    }

    /// The earliest event; the queue must not be empty.
    mutating func pop() -> Event { heap.popMin()! }
}

extension EventQueue.Event: Comparable {
    /// Earliest first; the sequence number breaks ties, so the order is total.
    static func < (a: Self, b: Self) -> Bool { a.time != b.time ? a.time < b.time : a.sequence < b.sequence }
    static func == (a: Self, b: Self) -> Bool { a.time == b.time && a.sequence == b.sequence }
}

/// Running activations of one invoker by virtual finish time (ties: lower activation first).
typealias MinHeap = Heap<ProcessorSharingJob>

extension ProcessorSharingJob: Comparable {
    static func < (a: Self, b: Self) -> Bool { a.finish != b.finish ? a.finish < b.finish : a.activation < b.activation }
    static func == (a: Self, b: Self) -> Bool { a.finish == b.finish && a.activation == b.activation }
}
