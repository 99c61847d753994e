import Foundation
import SluiceOverflowDisk
import SluicePluginAPI
import SluiceProtocol
import Testing

/// A unique path under the temporary directory (not created: the store creates it).
func temporaryDirectory(_ label: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("sluice-overflow-\(label)-\(UUID().uuidString)").path
}

func removeDirectory(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}

func allFiles(_ directory: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
}

func segmentFiles(_ directory: String) -> [String] {
    allFiles(directory).filter { $0.hasPrefix("segment-") && $0.hasSuffix(".log") }
}

func fileBytes(_ path: String) -> [UInt8] {
    (try? Data(contentsOf: URL(fileURLWithPath: path))).map { [UInt8]($0) } ?? []
}

func writeBytes(_ bytes: [UInt8], to path: String) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

func fileSize(_ path: String) -> Int {
    fileBytes(path).count
}

/// Bytes of all segment files.
func segmentBytesOnDisk(_ directory: String) -> Int {
    segmentFiles(directory).reduce(0) { $0 + fileSize(directory + "/" + $1) }
}

func header(_ number: Int) -> RoutingHeader {
    RoutingHeader(activationID: "act-\(number)", namespace: "guest", action: "guest/hello")
}

/// A payload that differs for every `number`.
func payload(_ number: Int, _ count: Int) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ number &* 13 &+ 1) }
}

/// Opens a store in `directory`, appends `count` records, syncs and closes it.
func fill(_ directory: String, count: Int, payloadBytes: Int, segmentBytes: Int = 64 * 1024 * 1024) throws -> [OverflowRecord] {
    let store = try DiskOverflowStore(directory: directory, segmentBytes: segmentBytes)
    var records: [OverflowRecord] = []
    for number in 0..<count {
        let body = payload(number, payloadBytes)
        let at = 1_000 + UInt64(number)
        let sequence = try store.append(header(number), payload: body, enqueuedAtMilliseconds: at)
        records.append(OverflowRecord(sequence: sequence, header: header(number), payload: body, enqueuedAtMilliseconds: at))
    }
    try store.sync()
    try store.close()
    return records
}

/// Where each record (length prefix included) starts in a segment file, walking the length
/// prefixes of an undamaged file.
func recordOffsets(_ bytes: [UInt8]) -> [Int] {
    var offsets: [Int] = []
    var offset = 0
    while offset + 8 <= bytes.count {
        offsets.append(offset)
        let length = Int(bytes[offset]) | Int(bytes[offset + 1]) << 8 | Int(bytes[offset + 2]) << 16 | Int(bytes[offset + 3]) << 24
        offset += 8 + length
    }
    return offsets
}

func expectSame(_ got: [OverflowRecord], _ want: [OverflowRecord], sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(got.map(\.sequence) == want.map(\.sequence), sourceLocation: sourceLocation)
    #expect(got == want, "records differ", sourceLocation: sourceLocation)
}

func expectBudgetExceeded(_ body: () throws(OverflowStoreError) -> Void, sourceLocation: SourceLocation = #_sourceLocation) {
    do throws(OverflowStoreError) {
        try body()
        Issue.record("expected budgetExceeded, but it fit", sourceLocation: sourceLocation)
    } catch {
        #expect(error.code == .budgetExceeded, "\(error)", sourceLocation: sourceLocation)
    }
}
