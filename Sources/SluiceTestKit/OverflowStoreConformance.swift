import SluicePluginAPI
import SluiceProtocol
import Testing

/// The conformance suite every `OverflowStore` runs in its own tests:
///
/// - a store never appended to has written nothing (`usage.bytesWritten == 0`), also after
///   `sync()`, an empty `readBatch` and marking an unknown sequence;
/// - sequences strictly increase, also after records were consumed;
/// - `readBatch` returns the unconsumed records in sequence order and honours `after` and
///   `limit` (paging with `after` = the last sequence read visits each record once);
/// - consumed records never come back; marking an unknown or consumed sequence is ignored;
/// - headers, payloads (empty, small, 1 MiB) and enqueue times round-trip exactly; one sample
///   header sets every field of `RoutingHeader` (checked by reflection, so a new field must be
///   added to it), so a store that drops a field fails;
/// - with `reopen` (persistent stores): after `sync()` and reopening, exactly the
///   unconsumed records come back in order, the report counts them and no damage, the
///   reopened store has written nothing yet, and new sequences continue above the old ones,
///   also after everything was consumed.
///
/// `make` is called once and must return an empty store; `reopen` opens the same store
/// again (the suite drops its previous instance first). Call it from a `@Test`; failures are
/// recorded as test issues at the caller's location.
public enum OverflowStoreConformance {
    public static func check(
        _ make: () throws -> any OverflowStore,
        reopen: (() throws -> any OverflowStore)? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let report = Reporter(sourceLocation: sourceLocation)
        for field in fieldsLeftAtDefault(samples()[1].0) {
            report.issue("the suite's full sample header leaves RoutingHeader.\(field) at its default; set it so the round trip checks it")
        }
        // Each phase makes and drops its own instance, so a store that locks its files (the
        // disk store does) is released before it is opened again.
        let first: State? = {
            let store: any OverflowStore
            do {
                store = try make()
            } catch {
                report.issue("making the store failed: \(error)")
                return nil
            }
            report.name = store.name
            return firstRun(store, report)
        }()
        guard var state = first, let reopen else { return }
        for phase in [Phase.consumeSome, .consumeAll, .empty] {
            let reopened: any OverflowStore
            do {
                reopened = try reopen()
            } catch {
                report.issue("reopening the store (\(phase)) failed: \(error)")
                return
            }
            guard let next = reopenedRun(reopened, state, phase, report) else { return }
            state = next
        }
    }

    // MARK: Phases

    struct State {
        /// Unconsumed records, in order, as the store should return them.
        var expected: [OverflowRecord]
        var consumed: Set<UInt64>
        var highest: UInt64
    }

    enum Phase: CustomStringConvertible {
        /// Recovered records come back; append one, consume two.
        case consumeSome
        /// Consume everything.
        case consumeAll
        /// Nothing comes back; numbering continues.
        case empty

        var description: String {
            switch self {
            case .consumeSome: "first reopen"
            case .consumeAll: "second reopen"
            case .empty: "third reopen, after consuming everything"
            }
        }
    }

    private static func firstRun(_ store: any OverflowStore, _ report: Reporter) -> State? {
        do throws(OverflowStoreError) {
            if store.usage.bytesWritten != 0 || store.usage.records != 0 {
                report.issue("a new store reports \(store.usage.records) records and \(store.usage.bytesWritten) bytes written")
            }
            expectRecords(try store.readBatch(after: nil, limit: 16), [], "readBatch on a new store", report)
            try store.markConsumed(42)
            try store.sync()
            if store.usage.bytesWritten != 0 {
                report.issue("a store never appended to wrote \(store.usage.bytesWritten) bytes (after sync, readBatch and marking an unknown sequence)")
            }

            var records: [OverflowRecord] = []
            for (header, payload, enqueuedAt) in samples() {
                let sequence = try store.append(header, payload: payload, enqueuedAtMilliseconds: enqueuedAt)
                if let last = records.last, sequence <= last.sequence {
                    report.issue("sequence \(sequence) after \(last.sequence): sequences must increase")
                }
                records.append(OverflowRecord(sequence: sequence, header: header, payload: payload, enqueuedAtMilliseconds: enqueuedAt))
            }
            if store.usage.records != records.count {
                report.issue("usage.records is \(store.usage.records) after \(records.count) appends")
            }
            let sequences = records.map(\.sequence)

            // Before any sync: reads see every append.
            expectRecords(try store.readBatch(after: nil, limit: 1000), records, "readBatch of all records before sync", report)
            expectRecords(try store.readBatch(after: nil, limit: 2), Array(records.prefix(2)), "readBatch(after: nil, limit: 2)", report)
            expectRecords(try store.readBatch(after: sequences[2], limit: 3), Array(records[3..<6]), "readBatch(after: 3rd, limit: 3)", report)
            expectRecords(try store.readBatch(after: sequences.last!, limit: 10), [], "readBatch after the last record", report)
            expectRecords(try store.readBatch(after: nil, limit: 0), [], "readBatch with limit 0", report)
            try store.sync()
            expectRecords(try store.readBatch(after: nil, limit: 1000), records, "readBatch of all records after sync", report)

            // Consume some, including the 1 MiB record; marking twice or unknown is ignored.
            let consumedPositions: Set<Int> = [0, 3, 4]
            for position in consumedPositions.sorted() { try store.markConsumed(sequences[position]) }
            try store.markConsumed(sequences[3])
            try store.markConsumed(sequences.last! + 1_000_000)
            var expected = records.enumerated().filter { !consumedPositions.contains($0.offset) }.map(\.element)
            expectRecords(try store.readBatch(after: nil, limit: 1000), expected, "readBatch after consuming 3 records (before sync)", report)
            try store.sync()
            expectRecords(try store.readBatch(after: nil, limit: 1000), expected, "readBatch after consuming 3 records", report)
            expectRecords(try store.readBatch(after: sequences[2], limit: 2), [records[5], records[6]],
                          "readBatch(after: 3rd, limit: 2) skipping consumed records", report)
            expectRecords(try store.readBatch(after: sequences[3], limit: 1), [records[5]],
                          "readBatch(after: a consumed sequence, limit: 1)", report)
            if store.usage.records != expected.count {
                report.issue("usage.records is \(store.usage.records) with \(expected.count) unconsumed")
            }
            expectRecords(try page(store, size: 3, report), expected, "paging with limit 3", report)

            // Appends after consumption continue the numbering.
            var highest = sequences.last!
            for number in 0..<2 {
                let header = RoutingHeader(activationID: "late-\(number)", namespace: "guest", action: "guest/late")
                let payload: [UInt8] = [UInt8(number), 0xAB]
                let sequence = try store.append(header, payload: payload, enqueuedAtMilliseconds: 5_000 + UInt64(number))
                if sequence <= highest {
                    report.issue("sequence \(sequence) after consuming, but \(highest) was already assigned")
                }
                highest = max(highest, sequence)
                expected.append(OverflowRecord(sequence: sequence, header: header, payload: payload, enqueuedAtMilliseconds: 5_000 + UInt64(number)))
            }
            // Consume the first late one and the last early one.
            let lateConsumed = expected[expected.count - 2].sequence
            let earlyConsumed = expected[expected.count - 3].sequence
            try store.markConsumed(lateConsumed)
            try store.markConsumed(earlyConsumed)
            expected.removeAll { $0.sequence == lateConsumed || $0.sequence == earlyConsumed }
            try store.sync()
            expectRecords(try store.readBatch(after: nil, limit: 1000), expected, "readBatch at the end of the first run", report)
            // Consumed records never come back, whatever `after` says.
            let consumed = Set(sequences.enumerated().filter { consumedPositions.contains($0.offset) }.map(\.element))
                .union([lateConsumed, earlyConsumed])
            for sequence in consumed where sequence > 0 {
                if let back = try store.readBatch(after: sequence - 1, limit: 1).first, back.sequence == sequence {
                    report.issue("consumed record \(sequence) came back")
                }
            }
            return State(expected: expected, consumed: consumed, highest: highest)
        } catch {
            report.issue("first run failed: \(error)")
            return nil
        }
    }

    private static func reopenedRun(_ store: any OverflowStore, _ state: State, _ phase: Phase, _ report: Reporter) -> State? {
        var state = state
        do throws(OverflowStoreError) {
            if store.usage.bytesWritten != 0 {
                report.issue("\(phase): a reopened store wrote \(store.usage.bytesWritten) bytes before any append")
            }
            let recovered = try store.readBatch(after: nil, limit: 1000)
            expectRecords(recovered, state.expected, "\(phase): recovered records", report)
            for record in recovered where state.consumed.contains(record.sequence) {
                report.issue("\(phase): consumed record \(record.sequence) came back after reopening")
            }
            if store.usage.records != state.expected.count {
                report.issue("\(phase): usage.records is \(store.usage.records); expected \(state.expected.count)")
            }
            let recovery = store.recoveryReport
            if recovery.recovered != state.expected.count || recovery.corruptRecords != 0 || recovery.truncatedBytes != 0 {
                report.issue("\(phase): recovery report \(recovery); expected \(state.expected.count) recovered and no damage")
            }
            expectRecords(try page(store, size: 2, report), state.expected, "\(phase): paging with limit 2", report)

            switch phase {
            case .consumeSome:
                let header = RoutingHeader(activationID: "after-reopen", namespace: "guest", action: "guest/again", requiredTags: ["gpu"])
                let sequence = try store.append(header, payload: [1, 2, 3], enqueuedAtMilliseconds: 9_000)
                if sequence <= state.highest {
                    report.issue("\(phase): new sequence \(sequence) is not above \(state.highest) from before the restart")
                }
                state.highest = max(state.highest, sequence)
                state.expected.append(OverflowRecord(sequence: sequence, header: header, payload: [1, 2, 3], enqueuedAtMilliseconds: 9_000))
                for record in state.expected.prefix(2) {
                    try store.markConsumed(record.sequence)
                    state.consumed.insert(record.sequence)
                }
                state.expected.removeFirst(min(2, state.expected.count))
            case .consumeAll:
                for record in state.expected {
                    try store.markConsumed(record.sequence)
                    state.consumed.insert(record.sequence)
                }
                state.expected = []
                expectRecords(try store.readBatch(after: nil, limit: 1000), [], "\(phase): readBatch after consuming everything", report)
            case .empty:
                let header = RoutingHeader(activationID: "fresh", namespace: "guest", action: "guest/fresh")
                let sequence = try store.append(header, payload: [], enqueuedAtMilliseconds: 10_000)
                if sequence <= state.highest {
                    report.issue("\(phase): new sequence \(sequence) is not above \(state.highest) from before the restarts")
                }
                state.highest = max(state.highest, sequence)
                state.expected = [OverflowRecord(sequence: sequence, header: header, payload: [], enqueuedAtMilliseconds: 10_000)]
                expectRecords(try store.readBatch(after: nil, limit: 10), state.expected, "\(phase): readBatch after a new append", report)
            }
            try store.sync()
            expectRecords(try store.readBatch(after: nil, limit: 1000), state.expected, "\(phase): readBatch before closing", report)
            return state
        } catch {
            report.issue("\(phase) failed: \(error)")
            return nil
        }
    }

    // MARK: Helpers

    final class Reporter {
        var name = "store"
        let sourceLocation: SourceLocation

        init(sourceLocation: SourceLocation) { self.sourceLocation = sourceLocation }

        func issue(_ message: String) {
            Issue.record(Comment(rawValue: "\(name) overflow store: \(message)"), sourceLocation: sourceLocation)
        }
    }

    /// Reads everything through `readBatch(after: last, limit: size)`.
    static func page(_ store: any OverflowStore, size: Int, _ report: Reporter) throws(OverflowStoreError) -> [OverflowRecord] {
        var all: [OverflowRecord] = []
        var after: UInt64?
        while true {
            let batch = try store.readBatch(after: after, limit: size)
            if batch.count > size {
                report.issue("readBatch returned \(batch.count) records with limit \(size)")
                return all + batch
            }
            guard let last = batch.last else { return all }
            all += batch
            after = last.sequence
            if all.count > 100_000 { return all }
        }
    }

    static func expectRecords(_ got: [OverflowRecord], _ want: [OverflowRecord], _ what: String, _ report: Reporter) {
        if got.map(\.sequence) != want.map(\.sequence) {
            report.issue("\(what): sequences \(got.map(\.sequence)); expected \(want.map(\.sequence))")
            return
        }
        for (have, need) in zip(got, want) {
            if have.header != need.header {
                report.issue("\(what): record \(need.sequence) header \(have.header); expected \(need.header)")
            }
            if have.enqueuedAtMilliseconds != need.enqueuedAtMilliseconds {
                report.issue("\(what): record \(need.sequence) enqueued at \(have.enqueuedAtMilliseconds); expected \(need.enqueuedAtMilliseconds)")
            }
            if have.payload != need.payload {
                let difference = zip(have.payload, need.payload).enumerated().first { $0.element.0 != $0.element.1 }?.offset
                let at = difference.map { "byte \($0)" } ?? "the end"
                report.issue("\(what): record \(need.sequence) payload of \(have.payload.count) bytes differs from the \(need.payload.count) appended (first difference at \(at))")
            }
        }
    }

    /// Varied headers and payloads: empty, tiny, all zero bytes, 1 MiB.
    /// Stored properties of `header` that equal those of a header made with only the required
    /// arguments. The full sample must set every one: a field added to `RoutingHeader` then
    /// fails this suite until the sample sets it, and a store that drops it fails the round trip.
    static func fieldsLeftAtDefault(_ header: RoutingHeader) -> [String] {
        let defaults = Mirror(reflecting: RoutingHeader(activationID: "", namespace: "", action: "")).children
        let values = Mirror(reflecting: header).children
        return zip(defaults, values).compactMap { base, value in
            String(describing: base.value) == String(describing: value.value) ? base.label ?? "?" : nil
        }
    }

    static func samples() -> [(RoutingHeader, [UInt8], UInt64)] {
        let full = RoutingHeader(
            activationID: "a0000000000000000000000000000001", namespace: "whisk.system", action: "whisk.system/utils/echo",
            revision: "3-0123456789abcdef", memoryMB: 2048, timeLimitMilliseconds: 300_000, blocking: false, blackbox: true,
            targetInvoker: "invoker-7", answerTo: "controller-0", requiredTags: ["gpu", "x86_64", "region-eu"],
            maxWaitMilliseconds: 1_500
        )
        let unicode = RoutingHeader(activationID: "unicode-1", namespace: "équipe-東京", action: "équipe-東京/π/🚀",
                                    memoryMB: 128, timeLimitMilliseconds: 1)
        let large = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ ($0 >> 9)) }
        return [
            (RoutingHeader(activationID: "empty-payload", namespace: "guest", action: "guest/a"), [], 1_700_000_000_000),
            (full, [0x00, 0xFF, 0x10, 0x80], 0),
            (unicode, Array("{\"name\":\"Ünïcode\"}".utf8), UInt64.max),
            (RoutingHeader(activationID: "large", namespace: "guest", action: "guest/big", memoryMB: 512), large, 1_700_000_000_001),
            (RoutingHeader(activationID: "zeros", namespace: "guest", action: "guest/z"), [UInt8](repeating: 0, count: 1000), 1_700_000_000_002),
            (RoutingHeader(activationID: "bytes-255", namespace: "guest", action: "guest/b", answerTo: "c-1"),
             (0..<255).map { UInt8($0) }, 1_700_000_000_003),
            (RoutingHeader(activationID: "seven", namespace: "guest", action: "guest/pkg/seven"), [7], 1_700_000_000_004),
            (RoutingHeader(activationID: "eight", namespace: "guest", action: "guest/eight", targetInvoker: "invoker-0"),
             Array(repeating: 0xEE, count: 4096), 1_700_000_000_005),
        ]
    }
}
