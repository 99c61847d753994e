import Testing
@testable import SluiceCore

// The compact table of activations in flight, checked against a Dictionary doing the same
// operations: any disagreement (a lost entry after a backward shift, a handle reused while
// live, a long id mixed up with an inline one) fails here.

private func record(_ n: Int) -> InFlightRecord {
    InFlightRecord(memoryMB: UInt32(n % 512 + 1), timeLimitMilliseconds: UInt32(n), invokerPosition: Int32(n % 7),
                   deadline: Timestamp(nanoseconds: UInt64(n)), enqueuedAt: .zero,
                   answerTo: "controller-\(n % 3)", namespace: "ns\(n % 5)")
}

/// Ids of every shape the protocol allows: short, exactly 32 bytes (OpenWhisk's), and long.
private func id(_ n: Int) -> String {
    switch n % 4 {
    case 0: "a\(n)"
    case 1: String(repeating: "0", count: 32 - String(n).count) + String(n)
    case 2: "long-" + String(repeating: "x", count: 100) + "-\(n)"
    default: "act-\(n)-\(n * 7919)"
    }
}

@Suite("InFlightTable (compact in-flight records)")
struct InFlightTableTests {
    @Test("random inserts, lookups and removals agree with a Dictionary, across growth and the reset after a burst")
    func agreesWithDictionary() {
        var table = InFlightTable()
        var model: [String: (handle: InFlightTable.Handle, n: Int)] = [:]
        var live = Set<InFlightTable.Handle>()
        var generator = SystemRandomNumberGenerator()
        var next = 0
        for round in 0..<40_000 {
            // Bursts up to a few thousand, then drain to zero now and then (the reset path).
            let draining = (round / 5_000) % 2 == 1
            if !draining && Int.random(in: 0..<3, using: &generator) != 0 {
                let key = id(next)
                #expect(table.find(key) == nil)
                let handle = table.insert(key, record(next))
                #expect(live.insert(handle).inserted, "handle \(handle) reused while live")
                model[key] = (handle, next)
                next += 1
            } else if let (key, entry) = model.randomElement(using: &generator) {
                let removed = table.remove(entry.handle)
                #expect(removed.timeLimitMilliseconds == UInt32(entry.n))
                model[key] = nil
                live.remove(entry.handle)
                #expect(table.find(key) == nil)
            }
            #expect(table.count == model.count)
            if round % 997 == 0 {
                for (key, entry) in model {
                    #expect(table.find(key) == entry.handle)
                    #expect(table.id(of: entry.handle) == key)
                    #expect(table[entry.handle].namespace == "ns\(entry.n % 5)")
                }
                #expect(Set(table.handles) == Set(model.values.map(\.handle)))
            }
        }
        for (key, entry) in model {
            #expect(table.find(key) == entry.handle)
            table.remove(entry.handle)
        }
        #expect(table.isEmpty)
    }

    @Test("ids that differ only past 32 bytes, or share an inline prefix, stay distinct")
    func idsOfEveryLength() {
        var table = InFlightTable()
        let ids = ["x", String(repeating: "a", count: 32), String(repeating: "a", count: 31),
                   String(repeating: "a", count: 33), String(repeating: "a", count: 128),
                   String(repeating: "a", count: 127) + "b", ""]
        var handles: [InFlightTable.Handle] = []
        for (n, id) in ids.enumerated() { handles.append(table.insert(id, record(n))) }
        for (n, id) in ids.enumerated() {
            #expect(table.find(id) == handles[n])
            #expect(table.id(of: handles[n]) == id)
        }
        table[handles[2]].answered = true
        #expect(table[handles[2]].answered)
        #expect(!table[handles[1]].answered)
    }

    @Test("an insert or removal right after a lookup of another id (short or long) still lands where lookups find it")
    func lookupThenOtherId() {
        var table = InFlightTable()
        let long = String(repeating: "l", count: 100)
        for (looked, inserted) in [("a", "b"), (long, "c"), ("d", long + "x")] {
            #expect(table.find(looked) == nil)
            let handle = table.insert(inserted, record(1))
            #expect(table.find(inserted) == handle)
            // The last lookup was of `inserted`; remove another live one.
            let other = table.insert(inserted + "-2", record(2))
            #expect(table.find(inserted) == handle)
            table.remove(other)
            #expect(table.find(inserted + "-2") == nil)
            #expect(table.find(inserted) == handle)
            table.remove(handle)
            #expect(table.find(inserted) == nil)
        }
        #expect(table.isEmpty)
    }

    @Test("a record is small: the memory cost per activation in flight (docs/PERFORMANCE.md)")
    func recordSize() {
        #expect(MemoryLayout<InFlightRecord>.stride <= 96)
    }
}
