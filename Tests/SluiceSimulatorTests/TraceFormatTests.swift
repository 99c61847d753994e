import Foundation
import SluiceProtocol
import SluiceSimulator
import SluiceStrategies
import SluiceTrace
import Testing

/// A fresh path in a fresh directory (traces refuse to overwrite).
private func tracePath(_ name: String = "trace.sltr") -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-trace-\(UUID().uuidString)").path
    try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    return (directory as NSString).appendingPathComponent(name)
}

@Suite("Placement trace format (docs/TRACES.md)")
struct TraceFormatTests {
    static let salt = TraceSalt(k0: 1, k1: 2)

    @Test("every record kind round-trips through the writer and the reader, in order, names hashed with the salt")
    func roundTrip() throws {
        let path = tracePath()
        let writer = try TraceWriter(path: path, startMilliseconds: 1_700_000_000_000, salt: Self.salt)
        let records: [TraceRecord] = [
            .invoker(position: 0, microseconds: 5, memoryMB: 4096, slots: 16),
            .answered(sequence: 7, microseconds: 900, kind: AnswerKind.success.rawValue, ran: true, ranMicroseconds: 750, warm: true, invoker: 0),
            .answered(sequence: 8, microseconds: 901, kind: AnswerKind.overloaded.rawValue, ran: false, ranMicroseconds: 0, warm: false, invoker: nil),
            .invokerLeft(position: 0, microseconds: 1_000),
        ]
        writer.submit([.arrival(sequence: 7, microseconds: 10, action: "guest/hello", namespace: "guest", memoryMB: 256)]
                      + records.map { .record($0) })
        writer.close()
        #expect(writer.status.records == 5)
        #expect(writer.status.stopped == nil)
        let file = try TraceFile(path: path)
        #expect(file.header.startMilliseconds == 1_700_000_000_000)
        #expect(file.segments == 1 && file.tornBytes == 0)
        let arrival = TraceRecord.arrival(sequence: 7, microseconds: 10, action: Self.salt.hash("guest/hello"),
                                          namespace: UInt64(UInt32(truncatingIfNeeded: Self.salt.hash("guest"))), memoryMB: 256)
        #expect(file.records == [arrival] + records)
        // A different salt gives different hashes: traces cannot be matched with each other.
        #expect(TraceSalt(k0: 3, k1: 4).hash("guest/hello") != Self.salt.hash("guest/hello"))
    }

    @Test("SipHash-2-4 matches the reference vectors of its paper (key 00..0f)")
    func sipHashVectors() {
        // Key bytes 00 01 .. 0f as two little-endian words; messages 00, 00 01, ..., as in the
        // reference implementation's vectors.h.
        let salt = TraceSalt(k0: 0x0706_0504_0302_0100, k1: 0x0F0E_0D0C_0B0A_0908)
        #expect(salt.hash("") == 0x726F_DB47_DD0E_0E31)
        #expect(salt.hash(String(decoding: (0..<15).map { UInt8($0) }, as: UTF8.self)) == 0xA129_CA61_49BE_45E5)
    }

    @Test("a torn tail (a crash mid-record) is cut on read; what came before it is kept")
    func tornTail() throws {
        let path = tracePath()
        let writer = try TraceWriter(path: path, startMilliseconds: 0, salt: Self.salt)
        writer.submit((0..<10).map { .record(.invokerLeft(position: UInt32($0), microseconds: UInt64($0))) })
        writer.close()
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: [3, 0, 0, 0, 9, 9, 9])
        try handle.close()
        let file = try TraceFile(path: path)
        #expect(file.records.count == 10)
        #expect(file.tornBytes == 7)
    }

    @Test("segments rotate at the segment size and are read back in order; the budget stops recording and says why")
    func rotationAndBudget() throws {
        let path = tracePath()
        // Two records per segment; four segments' worth of budget.
        let segment = TraceFormat.headerSize + 2 * TraceFormat.recordSize
        let writer = try TraceWriter(path: path, startMilliseconds: 0, segmentBytes: segment, budgetBytes: 4 * segment, salt: Self.salt)
        writer.submit((0..<20).map { .record(.invokerLeft(position: UInt32($0), microseconds: UInt64($0))) })
        // close() writes everything queued before it returns: no waiting.
        writer.close()
        let status = writer.status
        #expect(status.records == 8)
        #expect(status.segments == 4)
        #expect(status.bytes <= 4 * segment)
        #expect(status.stopped?.contains("budget") == true)
        #expect(status.dropped == 12)
        let file = try TraceFile(path: path)
        #expect(file.segments == 4)
        #expect(file.records == (0..<8).map { .invokerLeft(position: UInt32($0), microseconds: UInt64($0)) })
        #expect(!FileManager.default.fileExists(atPath: path + ".4"))
    }

    @Test("a trace from another format version, not a trace at all, or an existing path is refused with an error that says so")
    func refusals() throws {
        let path = tracePath()
        var header = TraceHeader(startMilliseconds: 0, traceID: 1, segment: 0).bytes
        header[4] = 9
        try Data(header).write(to: URL(fileURLWithPath: path))
        #expect(throws: TraceError("\(path): trace format version 9 is not supported; this sluice reads version 1")) {
            try TraceFile(path: path)
        }
        let csv = tracePath("azure.csv")
        try Data("HashOwner,HashApp\n".utf8).write(to: URL(fileURLWithPath: csv))
        #expect(throws: TraceError("\(csv): not a Sluice trace (the file does not start with 'SLTR')")) { try TraceFile(path: csv) }
        let error = #expect(throws: TraceError.self) { try TraceWriter(path: path, startMilliseconds: 0) }
        #expect(error?.description.contains("already exists") == true)
    }

    @Test("privacy: no action or namespace name appears in the file, only their salted hashes")
    func namesAreNotWritten() throws {
        let path = tracePath()
        let writer = try TraceWriter(path: path, startMilliseconds: 0)
        writer.submit((0..<50).map { .arrival(sequence: UInt32($0), microseconds: UInt64($0), action: "tenant-secret/payroll-export-\($0 % 3)",
                                              namespace: "tenant-secret", memoryMB: 512) })
        writer.close()
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        for needle in ["tenant-secret", "payroll", "export"] {
            #expect(bytes.range(of: Data(needle.utf8)) == nil, "'\(needle)' must not be in the file")
        }
        let trace = RecordedTrace(try TraceFile(path: path))
        #expect(trace.actionHashes.count == 3)
        #expect(trace.activations.count == 50)
    }

    @Test("replay: arrivals keep their order and work; the same trace and seed give the same numbers")
    func replayIsDeterministic() throws {
        let path = tracePath()
        let writer = try TraceWriter(path: path, startMilliseconds: 0, salt: Self.salt)
        var inputs: [TraceInput] = [.record(.invoker(position: 0, microseconds: 0, memoryMB: 2048, slots: 8)),
                                    .record(.invoker(position: 1, microseconds: 0, memoryMB: 2048, slots: 8))]
        for sequence in 0..<400 {
            let arrival = UInt64(sequence) * 10_000
            let warm = sequence >= 10
            inputs.append(.arrival(sequence: UInt32(sequence), microseconds: arrival, action: "guest/a\(sequence % 4)", namespace: "guest", memoryMB: 256))
            // Cold runs took 300 ms longer than warm ones (100 ms).
            inputs.append(.record(.answered(sequence: UInt32(sequence), microseconds: arrival + 500_000, kind: AnswerKind.success.rawValue, ran: true,
                                            ranMicroseconds: warm ? 100_000 : 400_000, warm: warm, invoker: UInt32(sequence % 2))))
        }
        writer.submit(inputs)
        writer.close()
        let trace = RecordedTrace(try TraceFile(path: path))
        #expect(trace.activations.count == 400)
        #expect(trace.invokers == 2 && trace.invokerSlots == 8 && trace.invokerMemoryMB == 2048)
        let cold = try #require(trace.estimatedColdStartSeconds)
        #expect(abs(cold - 0.3) < 1e-6)
        let workload = trace.workload()
        #expect(workload.arrivals.count == 400)
        #expect(zip(workload.arrivals, workload.arrivals.dropFirst()).allSatisfy { $0.time <= $1.time })
        // A cold run's work is its action's warm median, not the cold run time.
        #expect(workload.arrivals.allSatisfy { abs($0.work - 0.1) < 1e-6 })
        var settings = SimulationSettings()
        settings.cluster = trace.cluster
        let first = Simulator.run(workload, settings: settings, strategy: try BuiltInStrategies.registry.make("warm-affinity"), duration: trace.span + 1)
        let second = Simulator.run(workload, settings: settings, strategy: try BuiltInStrategies.registry.make("warm-affinity"), duration: trace.span + 1)
        #expect(first == second)
        #expect(first.activations == 400)
    }
}
