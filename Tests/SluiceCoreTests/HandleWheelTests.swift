import Testing
@testable import SluiceCore

// The in-flight deadlines' wheel (HandleWheel) must fire exactly what DeadlineWheel fires, at the
// same advances: checked on a scripted scenario and against DeadlineWheel on random operations.

private func at(ms: Int64) -> Timestamp { Timestamp.zero + .milliseconds(ms) }

@Suite("HandleWheel (in-flight deadlines by handle)")
struct HandleWheelTests {
    @Test("schedule, cancel and advance across revolutions; one tick's entries fire in schedule order")
    func scripted() {
        // 8 buckets of 10 ms: one revolution is 80 ms.
        var wheel = HandleWheel(granularity: .milliseconds(10), buckets: 8, start: .zero)
        wheel.schedule(1, at: at(ms: 30))
        wheel.schedule(2, at: at(ms: 250))  // three revolutions out, same bucket as 4
        wheel.schedule(3, at: at(ms: 50))
        wheel.schedule(4, at: at(ms: 90))
        wheel.schedule(5, at: at(ms: 31))   // same tick as 1, scheduled after it
        wheel.schedule(0, at: at(ms: 32))
        #expect(wheel.count == 6)
        wheel.cancel(3)
        wheel.cancel(3)  // twice: nothing more happens
        wheel.cancel(1_000)  // never scheduled
        #expect(wheel.count == 5)

        var fired: [Int32] = []
        wheel.advance(to: at(ms: 29), into: &fired)
        #expect(fired.isEmpty)
        wheel.advance(to: at(ms: 39), into: &fired)
        #expect(fired == [1, 5, 0])
        fired = []
        wheel.advance(to: at(ms: 90), into: &fired)
        #expect(fired == [4])  // 2 shares the bucket but is not due
        fired = []
        wheel.advance(to: at(ms: 250), into: &fired)
        #expect(fired == [2])
        #expect(wheel.count == 0)

        // A handle is reused after it fired or was cancelled; a rescheduled one moves.
        wheel.schedule(1, at: at(ms: 400))
        wheel.schedule(1, at: at(ms: 300))
        #expect(wheel.count == 1)
        fired = []
        wheel.advance(to: at(ms: 300), into: &fired)
        #expect(fired == [1])
        wheel.advance(to: at(ms: 500), into: &fired)
        #expect(fired == [1])

        // A deadline in the past fires at the next advance; a partly processed tick is seen again.
        wheel.schedule(7, at: at(ms: 100))
        wheel.schedule(8, at: at(ms: 515))
        fired = []
        wheel.advance(to: at(ms: 511), into: &fired)
        #expect(fired == [7])
        wheel.advance(to: at(ms: 520), into: &fired)
        #expect(fired == [7, 8])

        // A burst past the storage it keeps: emptied, the wheel gives that storage back and
        // works on with small and large handles.
        for handle in Int32(0)..<6_000 { wheel.schedule(handle, at: at(ms: 600)) }
        for handle in Int32(0)..<6_000 { wheel.cancel(handle) }
        #expect(wheel.count == 0)
        wheel.schedule(5_999, at: at(ms: 600))
        wheel.schedule(3, at: at(ms: 600))
        fired = []
        wheel.advance(to: at(ms: 600), into: &fired)
        #expect(fired == [5_999, 3])
        #expect(wheel.count == 0)
    }

    @Test("random schedules, cancels and advances fire what DeadlineWheel fires, across bursts that empty it")
    func agreesWithDeadlineWheel() {
        for seed in 0..<20 {
            var generator = ModelRandom(state: UInt64(seed))
            var reference = DeadlineWheel<Int32>(granularity: .milliseconds(5), buckets: 16, start: .zero)
            var wheel = HandleWheel(granularity: .milliseconds(5), buckets: 16, start: .zero)
            var scheduled: [Int32: Timestamp] = [:]
            var now: Int64 = 0
            for _ in 0..<3_000 {
                switch generator.next() % 10 {
                case 0...4:
                    // Handles up to 5,000 grow the per-handle storage past what it keeps when empty.
                    let handle = Int32(generator.next() % (seed % 2 == 0 ? 64 : 5_000))
                    guard scheduled[handle] == nil else { continue }
                    // Some already past (they fire at the next advance).
                    let deadline = at(ms: max(0, now + Int64(generator.next() % 400) - 20))
                    reference.schedule(handle, at: deadline)
                    wheel.schedule(handle, at: deadline)
                    scheduled[handle] = deadline
                case 5...6:
                    let handles = scheduled.keys.sorted()
                    guard !handles.isEmpty else { continue }
                    let handle = handles[Int(generator.next() % UInt64(handles.count))]
                    let deadline = scheduled[handle]!
                    reference.cancel(handle, deadline: deadline)
                    wheel.cancel(handle)
                    scheduled[handle] = nil
                default:
                    now += Int64(generator.next() % 60)
                    var expected: [Int32] = [], actual: [Int32] = []
                    reference.advance(to: at(ms: now), into: &expected)
                    wheel.advance(to: at(ms: now), into: &actual)
                    #expect(actual.sorted() == expected.sorted(), "seed \(seed) at \(now) ms")
                    #expect(Set(actual).count == actual.count, "fired twice")
                    for handle in actual { scheduled[handle] = nil }
                }
                #expect(wheel.count == reference.count, "seed \(seed)")
            }
        }
    }
}
