import Foundation
import SluiceOverflowDisk
import SluicePluginAPI
import SluiceProtocol
import Testing

@Test func tornTailIsCutAndAppendingContinues() throws {
    let directory = temporaryDirectory("torn")
    defer { removeDirectory(directory) }
    let records = try fill(directory, count: 5, payloadBytes: 500)
    let files = segmentFiles(directory)
    #expect(files.count == 1)
    let path = directory + "/" + files[0]
    let bytes = fileBytes(path)
    // The last record is about 570 bytes: cut 300 off its end.
    let cut = bytes.count - 300
    try writeBytes(Array(bytes.prefix(cut)), to: path)

    var extra: OverflowRecord?
    do {
        let store = try DiskOverflowStore(directory: directory)
        let report = store.recoveryReport
        #expect(report.truncatedBytes > 0)
        #expect(report.corruptRecords == 0)
        #expect(report.recovered == 4)
        #expect(report.segments == 1)
        expectSame(try store.readBatch(after: nil, limit: 10), Array(records.prefix(4)))
        // The file now ends at the last good record.
        #expect(fileSize(path) + report.truncatedBytes == cut)
        #expect(recordOffsets(fileBytes(path)).count == 5)  // NEXT and four APPENDs

        let sequence = try store.append(header(50), payload: payload(50, 64), enqueuedAtMilliseconds: 99)
        #expect(sequence > records[3].sequence)
        extra = OverflowRecord(sequence: sequence, header: header(50), payload: payload(50, 64), enqueuedAtMilliseconds: 99)
        try store.sync()
        try store.close()
    }

    let again = try DiskOverflowStore(directory: directory)
    #expect(again.recoveryReport == OverflowRecoveryReport(recovered: 5, corruptRecords: 0, truncatedBytes: 0, segments: 2))
    expectSame(try again.readBatch(after: nil, limit: 10), Array(records.prefix(4)) + [extra].compactMap { $0 })
}

@Test func tornFrameHeaderIsCut() throws {
    let directory = temporaryDirectory("torn-header")
    defer { removeDirectory(directory) }
    let records = try fill(directory, count: 2, payloadBytes: 100)
    let path = directory + "/" + segmentFiles(directory)[0]
    let bytes = fileBytes(path)
    // Three bytes of a length prefix, and a plausible length whose body never arrived.
    for tail: [UInt8] in [[0x10, 0x00, 0x00], [0x40, 0x00, 0x00, 0x00, 1, 2, 3, 4, 5]] {
        try writeBytes(bytes + tail, to: path)
        let store = try DiskOverflowStore(directory: directory)
        #expect(store.recoveryReport == OverflowRecoveryReport(recovered: 2, corruptRecords: 0, truncatedBytes: tail.count, segments: 1))
        expectSame(try store.readBatch(after: nil, limit: 10), records)
        #expect(fileBytes(path) == bytes)
    }
}

@Test func bitFlipSkipsOnlyThatRecord() throws {
    let directory = temporaryDirectory("bitflip")
    defer { removeDirectory(directory) }
    let records = try fill(directory, count: 3, payloadBytes: 2000)
    let path = directory + "/" + segmentFiles(directory)[0]
    var bytes = fileBytes(path)
    let offsets = recordOffsets(bytes)
    #expect(offsets.count == 4)  // NEXT, then three APPENDs
    // The middle of the middle record: inside its payload.
    let middle = offsets[2] + (offsets[3] - offsets[2]) / 2
    bytes[middle] ^= 0x08
    try writeBytes(bytes, to: path)

    do {
        let store = try DiskOverflowStore(directory: directory)
        // The damaged record might have been a CONSUME of records[0]: that one may not run.
        #expect(store.recoveryReport == OverflowRecoveryReport(recovered: 2, corruptRecords: 1, uncertainRecords: 1, truncatedBytes: 0, segments: 1))
        expectSame(try store.readBatch(after: nil, limit: 10), [uncertain(records[0]), records[2]])
        // New records get sequences above the damaged one too.
        let sequence = try store.append(header(9), payload: [9], enqueuedAtMilliseconds: 9)
        #expect(sequence > records[2].sequence)
        try store.markConsumed(records[0].sequence)
        try store.sync()
        try store.close()
    }
    let again = try DiskOverflowStore(directory: directory)
    #expect(again.recoveryReport.corruptRecords == 1)
    #expect(try again.readBatch(after: nil, limit: 10).map(\.sequence) == [records[2].sequence, records[2].sequence + 1])
}

@Test func garbageAfterTheLastRecord() throws {
    let directory = temporaryDirectory("garbage")
    defer { removeDirectory(directory) }
    let records = try fill(directory, count: 3, payloadBytes: 300)
    let path = directory + "/" + segmentFiles(directory)[0]
    let bytes = fileBytes(path)
    let garbage = Array(repeating: [UInt8]([0xDE, 0xAD, 0xBE, 0xEF]), count: 25).flatMap { $0 }
    try writeBytes(bytes + garbage, to: path)

    var extra: UInt64 = 0
    do {
        let store = try DiskOverflowStore(directory: directory)
        let report = store.recoveryReport
        #expect(report.recovered == 3)
        #expect(report.corruptRecords == 1 && report.uncertainRecords == 3, "\(report)")
        // An impossible length could hide a CONSUME of any of them: none may run.
        expectSame(try store.readBatch(after: nil, limit: 10), records.map(uncertain))
        extra = try store.append(header(7), payload: [7, 7], enqueuedAtMilliseconds: 7)
        #expect(extra > records[2].sequence)
        try store.sync()
        try store.close()
    }
    let again = try DiskOverflowStore(directory: directory)
    #expect(again.recoveryReport.recovered == 4)
    #expect(try again.readBatch(after: nil, limit: 10).map(\.sequence) == records.map(\.sequence) + [extra])
}

@Test func zeroFilledTailIsCut() throws {
    let directory = temporaryDirectory("zeros")
    defer { removeDirectory(directory) }
    let records = try fill(directory, count: 3, payloadBytes: 300)
    let path = directory + "/" + segmentFiles(directory)[0]
    let bytes = fileBytes(path)
    try writeBytes(bytes + [UInt8](repeating: 0, count: 4096), to: path)

    let store = try DiskOverflowStore(directory: directory)
    #expect(store.recoveryReport == OverflowRecoveryReport(recovered: 3, corruptRecords: 0, truncatedBytes: 4096, segments: 1))
    expectSame(try store.readBatch(after: nil, limit: 10), records)
    #expect(fileBytes(path) == bytes)
}

@Test func zeroFilledSegmentIsCut() throws {
    let directory = temporaryDirectory("zero-segment")
    defer { removeDirectory(directory) }
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    try writeBytes([UInt8](repeating: 0, count: 8192), to: directory + "/segment-00000000000000000001.log")
    let store = try DiskOverflowStore(directory: directory)
    #expect(store.recoveryReport == OverflowRecoveryReport(recovered: 0, corruptRecords: 0, truncatedBytes: 8192, segments: 1))
    #expect(store.usage.bytes == 0)
}

@Test func garbageSegmentsDoNotCrash() throws {
    let directory = temporaryDirectory("garbage-segment")
    defer { removeDirectory(directory) }
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    var state: UInt64 = 0x1234_5678_9ABC_DEF0
    let random = (0..<10_000).map { _ -> UInt8 in
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return UInt8(truncatingIfNeeded: state >> 56)
    }
    try writeBytes(random, to: directory + "/segment-00000000000000000001.log")
    try writeBytes([], to: directory + "/segment-00000000000000000002.log")
    try writeBytes([1, 2, 3, 4, 5], to: directory + "/segment-00000000000000000003.log")
    // Plausible lengths with wrong checksums, then an implausible one.
    try writeBytes([0x09, 0, 0, 0, 0xAA, 0xBB, 0xCC, 0xDD] + [UInt8](repeating: 0x55, count: 9)
                   + [0xFF, 0xFF, 0xFF, 0x7F, 0, 0, 0, 0] + [UInt8](repeating: 0x66, count: 64),
                   to: directory + "/segment-00000000000000000004.log")
    try FileManager.default.createDirectory(atPath: directory + "/segment-00000000000000000005.log", withIntermediateDirectories: false)
    try writeBytes(Array("not a segment".utf8), to: directory + "/notes.txt")

    var sequence: UInt64 = 0
    do {
        let store = try DiskOverflowStore(directory: directory)
        let report = store.recoveryReport
        #expect(report.recovered == 0)
        #expect(report.segments == 4)
        #expect(report.corruptRecords >= 2, "\(report)")  // segment 4: a bad checksum and a bad length
        #expect(report.truncatedBytes >= 5, "\(report)")  // segment 3
        #expect(try store.readBatch(after: nil, limit: 10).isEmpty)
        sequence = try store.append(header(1), payload: [1], enqueuedAtMilliseconds: 1)
        try store.sync()
        try store.close()
    }
    let again = try DiskOverflowStore(directory: directory)
    #expect(again.recoveryReport.recovered == 1)
    #expect(try again.readBatch(after: nil, limit: 10).map(\.sequence) == [sequence])
    // Files that are not segments are left alone.
    #expect(allFiles(directory).contains("notes.txt"))
    #expect(allFiles(directory).contains("segment-00000000000000000005.log"))
}

/// `record` as recovery returns it when damage after it may have been its CONSUME.
func uncertain(_ record: OverflowRecord) -> OverflowRecord {
    var copy = record
    copy.consumedUnknown = true
    return copy
}

@Test("Issue 13 item 5: a CONSUME with a bad CRC does not bring its record back to run; records after the damage are certain")
func damagedConsumeMakesEarlierRecordsUncertain() throws {
    let directory = temporaryDirectory("bad-consume")
    defer { removeDirectory(directory) }
    var records: [OverflowRecord] = []
    do {
        let store = try DiskOverflowStore(directory: directory)
        for number in 0..<2 {
            let sequence = try store.append(header(number), payload: payload(number, 100), enqueuedAtMilliseconds: 5)
            records.append(OverflowRecord(sequence: sequence, header: header(number), payload: payload(number, 100), enqueuedAtMilliseconds: 5))
        }
        try store.markConsumed(records[0].sequence)
        let sequence = try store.append(header(2), payload: payload(2, 100), enqueuedAtMilliseconds: 5)
        records.append(OverflowRecord(sequence: sequence, header: header(2), payload: payload(2, 100), enqueuedAtMilliseconds: 5))
        try store.sync()
        try store.close()
    }
    let path = directory + "/" + segmentFiles(directory)[0]
    var bytes = fileBytes(path)
    let offsets = recordOffsets(bytes)
    #expect(offsets.count == 5)  // NEXT, APPEND, APPEND, CONSUME, APPEND
    // Flip a bit in the CONSUME's sequence: its CRC no longer matches.
    bytes[offsets[3] + 10] ^= 0x01
    try writeBytes(bytes, to: path)

    let store = try DiskOverflowStore(directory: directory)
    #expect(store.recoveryReport == OverflowRecoveryReport(recovered: 3, corruptRecords: 1, uncertainRecords: 2, truncatedBytes: 0, segments: 1))
    // Before the fix records[0] came back as runnable: consumed work ran a second time.
    expectSame(try store.readBatch(after: nil, limit: 10), [uncertain(records[0]), uncertain(records[1]), records[2]])
}

@Test("Issue 13 item 5: an impossible length prefix loses the rest of its segment, and every record before it is uncertain")
func corruptLengthPrefixMakesEarlierRecordsUncertain() throws {
    let directory = temporaryDirectory("bad-length")
    defer { removeDirectory(directory) }
    var records: [OverflowRecord] = []
    do {
        let store = try DiskOverflowStore(directory: directory)
        for number in 0..<3 {
            let sequence = try store.append(header(number), payload: payload(number, 100), enqueuedAtMilliseconds: 5)
            records.append(OverflowRecord(sequence: sequence, header: header(number), payload: payload(number, 100), enqueuedAtMilliseconds: 5))
        }
        try store.markConsumed(records[0].sequence)
        try store.sync()
        try store.close()
    }
    let path = directory + "/" + segmentFiles(directory)[0]
    var bytes = fileBytes(path)
    let offsets = recordOffsets(bytes)
    #expect(offsets.count == 5)  // NEXT, three APPENDs, CONSUME
    // The third APPEND's length prefix becomes 0xFFFFFFFF: nothing after it can be framed,
    // so the CONSUME of records[0] is lost with it.
    for index in 0..<4 { bytes[offsets[3] + index] = 0xFF }
    try writeBytes(bytes, to: path)

    let store = try DiskOverflowStore(directory: directory)
    let report = store.recoveryReport
    #expect(report.corruptRecords == 1 && report.uncertainRecords == 2 && report.recovered == 2, "\(report)")
    expectSame(try store.readBatch(after: nil, limit: 10), [uncertain(records[0]), uncertain(records[1])])
}

@Test("Issue 13 item 2: a record written by the first format (no max-wait-ms) is still recovered")
func legacyRecordsAreRead() throws {
    let directory = temporaryDirectory("legacy")
    defer { removeDirectory(directory) }
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    // NEXT 1, then a kind-1 APPEND of "old-1" (guest, guest/a), as the first format wrote it.
    var header: [UInt8] = [0x01]  // flags: blocking
    header += [0x00, 0x01, 0x00, 0x00]  // memory-mb 256
    header += [0x60, 0xEA, 0x00, 0x00]  // time-limit-ms 60000
    for text in ["old-1", "guest", "guest/a", "", "", "c-1"] { header += [UInt8(text.utf8.count)] + Array(text.utf8) }
    header += [0x00]  // no tags
    var body: [UInt8] = [0x01] + le64(1) + le64(42) + le32(UInt32(header.count)) + header + [9, 9]
    var file = frame([0x03] + le64(1))
    file += frame(body)
    body.removeAll()
    try writeBytes(file, to: directory + "/segment-00000000000000000001.log")

    let store = try DiskOverflowStore(directory: directory)
    let got = try store.readBatch(after: nil, limit: 10)
    #expect(got.count == 1)
    #expect(got.first?.header == RoutingHeader(activationID: "old-1", namespace: "guest", action: "guest/a", answerTo: "c-1"))
    #expect(got.first?.payload == [9, 9])
    #expect(got.first?.enqueuedAtMilliseconds == 42)
}

func le32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
func le64(_ value: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }

/// A record frame: length, CRC-32C, body.
func frame(_ body: [UInt8]) -> [UInt8] {
    le32(UInt32(body.count)) + le32(body.withUnsafeBytes { CRC32C.checksum($0) }) + body
}
