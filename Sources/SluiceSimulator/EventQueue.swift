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

    private var heap: [Event] = []
    private var sequence: UInt64 = 0

    var nextTime: Double { heap.first?.time ?? .infinity }
    var isEmpty: Bool { heap.isEmpty }

    private static func before(_ a: Event, _ b: Event) -> Bool {
        a.time != b.time ? a.time < b.time : a.sequence < b.sequence
    }

    mutating func schedule(_ time: Double, _ kind: Kind) {
        sequence += 1
        heap.append(Event(time: time, sequence: sequence, kind: kind))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard Self.before(heap[child], heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Event {
        let top = heap[0]
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1
                let right = left + 1
                var smallest = parent
                if left < heap.count && Self.before(heap[left], heap[smallest]) { smallest = left }
                if right < heap.count && Self.before(heap[right], heap[smallest]) { smallest = right }
                if smallest == parent { break }
                heap.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return top
    }
}

/// Running activations of one invoker by virtual finish time (ties: lower activation first).
struct MinHeap {
    private var items: [ProcessorSharingJob] = []

    var count: Int { items.count }
    var first: ProcessorSharingJob? { items.first }

    private static func before(_ a: ProcessorSharingJob, _ b: ProcessorSharingJob) -> Bool {
        a.finish != b.finish ? a.finish < b.finish : a.activation < b.activation
    }

    mutating func push(_ job: ProcessorSharingJob) {
        items.append(job)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard Self.before(items[child], items[parent]) else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> ProcessorSharingJob? {
        guard !items.isEmpty else { return nil }
        let top = items[0]
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1
                let right = left + 1
                var smallest = parent
                if left < items.count && Self.before(items[left], items[smallest]) { smallest = left }
                if right < items.count && Self.before(items[right], items[smallest]) { smallest = right }
                if smallest == parent { break }
                items.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return top
    }
}
