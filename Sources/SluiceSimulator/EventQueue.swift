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

    private var heap = BinaryHeap<Event> { a, b in a.time != b.time ? a.time < b.time : a.sequence < b.sequence }
    private var sequence: UInt64 = 0

    var nextTime: Double { heap.first?.time ?? .infinity }
    var isEmpty: Bool { heap.isEmpty }

    mutating func schedule(_ time: Double, _ kind: Kind) {
        sequence += 1
        heap.push(Event(time: time, sequence: sequence, kind: kind))
    }

    /// The earliest event; the queue must not be empty.
    mutating func pop() -> Event { heap.pop()! }
}

/// Running activations of one invoker by virtual finish time (ties: lower activation first).
typealias MinHeap = BinaryHeap<ProcessorSharingJob>

extension BinaryHeap<ProcessorSharingJob> {
    init() { self.init { a, b in a.finish != b.finish ? a.finish < b.finish : a.activation < b.activation } }
}

/// A binary min-heap under a strict order `before`. With a total order (ties broken by a
/// sequence number or an id), elements come out in a deterministic order.
struct BinaryHeap<Element> {
    private var items: [Element] = []
    private let before: (Element, Element) -> Bool

    init(before: @escaping (Element, Element) -> Bool) { self.before = before }

    var count: Int { items.count }
    var isEmpty: Bool { items.isEmpty }
    var first: Element? { items.first }

    mutating func push(_ element: Element) {
        items.append(element)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard before(items[child], items[parent]) else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Element? {
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
                if left < items.count && before(items[left], items[smallest]) { smallest = left }
                if right < items.count && before(items[right], items[smallest]) { smallest = right }
                if smallest == parent { break }
                items.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return top
    }
}
