@testable import SluiceProtocol
import Testing

@Suite("RecentSet (late completions, late answers)")
struct RecentSetTests {
    @Test("forgets the oldest beyond its capacity; remove and insert again keep the newer membership")
    func boundedAndExact() {
        var set = RecentSet<Int>(capacity: 3)
        for n in 1...5 { set.insert(n) }
        #expect(!set.contains(1) && !set.contains(2))
        #expect(set.contains(3) && set.contains(4) && set.contains(5))
        let removed = set.remove(4)
        let removedAgain = set.remove(4)
        #expect(removed)
        #expect(!removedAgain)
        set.insert(4)  // newer than 5 now
        set.insert(6)  // over capacity: 3 goes (the oldest), the stale entry of 4 does not take 4
        #expect(!set.contains(3))
        #expect(set.contains(4) && set.contains(5) && set.contains(6))
        #expect(set.count == 3)
    }

    @Test("inserting and removing forever keeps its memory bounded")
    func removeHeavyStaysBounded() {
        var set = RecentSet<Int>(capacity: 10)
        for n in 0..<100_000 {
            set.insert(n)
            set.remove(n)
            if n % 997 == 0 { #expect(set.storedEntries <= 4 * set.capacity + 1, "after \(n): \(set.storedEntries) entries") }
        }
        #expect(set.count == 0)
        set.insert(-1)
        #expect(set.contains(-1))
    }
}
