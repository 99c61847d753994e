import Foundation
import SluiceOverflowDisk
import SluicePluginAPI
import SluiceProtocol
import Testing

@Test func neverAppendedCreatesNoFiles() throws {
    let directory = temporaryDirectory("idle")
    defer { removeDirectory(directory) }
    do {
        let store = try DiskOverflowStore(directory: directory)
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory)
        #expect(exists && isDirectory.boolValue)
        #expect(try store.readBatch(after: nil, limit: 10).isEmpty)
        try store.markConsumed(1)
        try store.sync()
        #expect(store.usage == OverflowUsage(records: 0, bytes: 0, bytesWritten: 0, budgetBytes: 1024 * 1024 * 1024))
        #expect(store.recoveryReport == OverflowRecoveryReport())
        // Only the lock file, which holds no activation (item 1 of issue 13).
        #expect(allFiles(directory) == ["LOCK"])
        try store.close()
    }
    #expect(allFiles(directory) == ["LOCK"])
    let reopened = try DiskOverflowStore(directory: directory)
    #expect(reopened.usage.bytesWritten == 0)
    #expect(reopened.recoveryReport == OverflowRecoveryReport())
    #expect(allFiles(directory) == ["LOCK"])
}

@Test func bytesWrittenCountsFromOpen() throws {
    let directory = temporaryDirectory("written")
    defer { removeDirectory(directory) }
    _ = try fill(directory, count: 3, payloadBytes: 100)
    let store = try DiskOverflowStore(directory: directory)
    #expect(store.usage.bytesWritten == 0)
    #expect(store.usage.records == 3)
    #expect(store.usage.bytes == segmentBytesOnDisk(directory))
    _ = try store.append(header(9), payload: [1], enqueuedAtMilliseconds: 0)
    #expect(store.usage.bytesWritten > 0)
    try store.sync()
    #expect(store.usage.bytes == segmentBytesOnDisk(directory))
}

@Test func budgetExceededThrows() throws {
    let directory = temporaryDirectory("budget")
    defer { removeDirectory(directory) }
    let store = try DiskOverflowStore(directory: directory, segmentBytes: 64 * 1024, budgetBytes: 4096, fsync: .never)
    var sequences: [UInt64] = []
    var failure: OverflowStoreError?
    for number in 0..<10 {
        do throws(OverflowStoreError) {
            sequences.append(try store.append(header(number), payload: payload(number, 1000), enqueuedAtMilliseconds: 1))
        } catch {
            failure = error
            break
        }
    }
    // About 1,070 bytes a record: three fit in 4,096 bytes, the fourth does not.
    #expect(sequences.count == 3)
    #expect(failure?.code == .budgetExceeded)
    #expect(failure?.message.contains("4096") == true, "\(String(describing: failure))")
    #expect(store.usage.bytes <= 4096)
    #expect(store.usage.records == 3)
    try store.sync()
    #expect(try store.readBatch(after: nil, limit: 10).map(\.sequence) == sequences)

    // Consuming everything gives the space back.
    for sequence in sequences { try store.markConsumed(sequence) }
    try store.sync()
    #expect(store.usage.bytes < 64)
    let again = try store.append(header(20), payload: payload(20, 1000), enqueuedAtMilliseconds: 2)
    #expect(again > sequences.last!)
    // A record bigger than the whole budget never fits.
    expectBudgetExceeded { () throws(OverflowStoreError) in
        _ = try store.append(header(21), payload: [UInt8](repeating: 1, count: 5000), enqueuedAtMilliseconds: 3)
    }
    // Consuming is never refused, even at the budget.
    try store.markConsumed(again)
    try store.sync()
    #expect(store.usage.records == 0)
}

@Test func consumedSegmentsAreDeleted() throws {
    let directory = temporaryDirectory("reclaim")
    defer { removeDirectory(directory) }
    let store = try DiskOverflowStore(directory: directory, segmentBytes: 4096, budgetBytes: nil)
    var sequences: [UInt64] = []
    for number in 0..<20 {
        sequences.append(try store.append(header(number), payload: payload(number, 1000), enqueuedAtMilliseconds: UInt64(number)))
    }
    try store.sync()
    let before = segmentFiles(directory)
    #expect(before.count >= 5, "\(before)")
    // sync() wrote everything buffered.
    #expect(segmentBytesOnDisk(directory) == store.usage.bytes)

    // Nothing consumed: nothing deleted.
    try store.sync()
    #expect(segmentFiles(directory) == before)

    // The first half consumed: the oldest segments go, the active one stays.
    for sequence in sequences.prefix(10) { try store.markConsumed(sequence) }
    try store.sync()
    let middle = segmentFiles(directory)
    #expect(middle.count < before.count, "\(before) -> \(middle)")
    #expect(!middle.contains(before[0]))
    #expect(middle.last == before.last)
    #expect(Set(middle).isSubset(of: Set(before)))
    #expect(segmentBytesOnDisk(directory) == store.usage.bytes)
    #expect(try store.readBatch(after: nil, limit: 100).map(\.sequence) == Array(sequences.dropFirst(10)))

    // Everything consumed: one small segment remains (it keeps the numbering).
    for sequence in sequences.dropFirst(10) { try store.markConsumed(sequence) }
    try store.sync()
    let after = segmentFiles(directory)
    #expect(after.count == 1, "\(after)")
    #expect(store.usage.records == 0)
    #expect(store.usage.bytes < 64)
    #expect(segmentBytesOnDisk(directory) == store.usage.bytes)
    try store.close()

    let reopened = try DiskOverflowStore(directory: directory, segmentBytes: 4096)
    #expect(reopened.recoveryReport.recovered == 0)
    #expect(reopened.recoveryReport.segments == 1)
    #expect(try reopened.readBatch(after: nil, limit: 10).isEmpty)
    let next = try reopened.append(header(99), payload: [], enqueuedAtMilliseconds: 0)
    #expect(next > sequences.last!)
}

@Test func syncWritesForAKilledProcess() throws {
    let directory = temporaryDirectory("killed")
    defer { removeDirectory(directory) }
    // `first` is killed: a second store sees what sync() wrote, and not what was only buffered.
    let first = try DiskOverflowStore(directory: directory, fsync: .never)
    var records: [OverflowRecord] = []
    for number in 0..<3 {
        let body = payload(number, 300)
        let sequence = try first.append(header(number), payload: body, enqueuedAtMilliseconds: 7)
        records.append(OverflowRecord(sequence: sequence, header: header(number), payload: body, enqueuedAtMilliseconds: 7))
    }
    try first.markConsumed(records[1].sequence)
    try first.sync()
    _ = try first.append(header(3), payload: [3], enqueuedAtMilliseconds: 7)
    first.simulateKill()

    let second = try DiskOverflowStore(directory: directory, fsync: .never)
    expectSame(try second.readBatch(after: nil, limit: 10), [records[0], records[2]])
    #expect(second.recoveryReport == OverflowRecoveryReport(recovered: 2, corruptRecords: 0, truncatedBytes: 0, segments: 1))
}

@Test func damageFoundWhileReadingIsSkipped() throws {
    let directory = temporaryDirectory("late-damage")
    defer { removeDirectory(directory) }
    let records = try fill(directory, count: 3, payloadBytes: 2000)
    let store = try DiskOverflowStore(directory: directory)
    #expect(store.recoveryReport.recovered == 3)
    // Damage the middle record after the store scanned it.
    let path = directory + "/" + segmentFiles(directory)[0]
    var bytes = fileBytes(path)
    let offsets = recordOffsets(bytes)
    #expect(offsets.count == 4)  // NEXT, then three APPENDs
    bytes[offsets[2] + 1000] ^= 0x40
    try writeBytes(bytes, to: path)
    expectSame(try store.readBatch(after: nil, limit: 10), [records[0], records[2]])
    #expect(store.recoveryReport.corruptRecords == 1)
    #expect(store.usage.records == 2)
}

@Test func benchmarkRuns() throws {
    let directory = temporaryDirectory("bench")
    defer { removeDirectory(directory) }
    let result = try OverflowBenchmark.run(directory: directory, count: 200, payloadBytes: 512, policy: .never)
    #expect(result.appendPerSecond > 0 && result.drainPerSecond > 0)
    #expect(result.appendMBPerSecond > 0 && result.drainMBPerSecond > 0)
    #expect(segmentFiles(directory).count == 1)
    #expect(segmentBytesOnDisk(directory) < 64)
}

@Test func crc32cCheckValues() {
    #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
    #expect(CRC32C.checksum([]) == 0)
    #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
    #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
    // Continuing over a split gives the same result.
    let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 37) }
    let whole = CRC32C.checksum(bytes)
    let split = bytes.withUnsafeBytes { raw in
        CRC32C.update(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[..<333])), UnsafeRawBufferPointer(rebasing: raw[333...]))
    }
    #expect(whole == split)
}

@Test func fsyncPolicyParsing() throws {
    #expect(try FsyncPolicy.parse("every-batch") == .everyBatch)
    #expect(try FsyncPolicy.parse("never") == .never)
    #expect(try FsyncPolicy.parse("interval:50ms") == .interval(milliseconds: 50))
    #expect(try FsyncPolicy.parse("50ms") == .interval(milliseconds: 50))
    #expect(try FsyncPolicy.parse("interval:75") == .interval(milliseconds: 75))
    #expect(try FsyncPolicy.parse("2s") == .interval(milliseconds: 2000))
    #expect(try FsyncPolicy.parse(" Interval:1S ") == .interval(milliseconds: 1000))
    #expect(try FsyncPolicy.parse("NEVER") == .never)
    for policy in [FsyncPolicy.everyBatch, .never, .interval(milliseconds: 250)] {
        #expect(try FsyncPolicy.parse(policy.description) == policy)
    }
    for text in ["", "sometimes", "always", "interval:", "interval:ms", "-5ms", "50", "5 ms", "interval:50m", "99999999999ms", "2d"] {
        do throws(OverflowStoreError) {
            let policy = try FsyncPolicy.parse(text)
            Issue.record("'\(text)' parsed as \(policy)")
        } catch {
            #expect(error.message.contains("every-batch") && error.message.contains("never") && error.message.contains("50ms"),
                    "\(error)")
        }
    }
}

@Test("Issue 13 item 1: a second store on a directory in use is refused, naming the directory and the process; closing releases it")
func secondStoreOnOneDirectoryIsRefused() throws {
    let directory = temporaryDirectory("locked")
    defer { removeDirectory(directory) }
    let first = try DiskOverflowStore(directory: directory)
    do {
        _ = try DiskOverflowStore(directory: directory)
        Issue.record("a second store opened a directory that is in use")
    } catch {
        #expect(error.code == .unusable)
        #expect(error.message.contains("overflow directory \(directory) is in use by another broker"), "\(error)")
        #expect(error.message.contains("pid \(getpid())"), "\(error)")
    }
    try first.close()
    let second = try DiskOverflowStore(directory: directory)
    try second.close()
}

@Test("Issue 13 item 4: an abandoned store writes nothing more, not even its buffered consume marks at close")
func abandonedStoreWritesNothing() throws {
    let directory = temporaryDirectory("abandoned")
    defer { removeDirectory(directory) }
    var sequence: UInt64 = 0
    do {
        let store = try DiskOverflowStore(directory: directory)
        sequence = try store.append(header(1), payload: [1], enqueuedAtMilliseconds: 1)
        try store.sync()
        try store.markConsumed(sequence)  // buffered, not synced
        store.abandon()
        #expect(throws: OverflowStoreError.self) { try store.sync() }
        try? store.close()
    }
    // The broker withheld the activation for this run: it must come back.
    let reopened = try DiskOverflowStore(directory: directory)
    #expect(try reopened.readBatch(after: nil, limit: 10).map(\.sequence) == [sequence])
}
