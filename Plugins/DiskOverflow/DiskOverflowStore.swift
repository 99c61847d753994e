import Foundation
import SluicePluginAPI
import SluiceProtocol

/// The `disk` overflow store: activations no invoker has room for, kept in segmented
/// append-only files so they survive a broker restart (docs/ARCHITECTURE.md,
/// "Overflow"). A broker that never overflows writes no activation to disk: opening creates
/// the directory and its `LOCK` file, the first segment file comes only with the first append
/// (or consume).
///
/// ## Files
///
/// The directory holds segment files named `segment-<20-digit id>.log`; ids increase in
/// creation order (each open starts a new segment at its first write: existing segments are
/// never appended to, only truncated or deleted). Other files are ignored. In ABNF-like form
/// (all integers little-endian):
///
/// ```
/// segment-file   = *record
/// record         = length crc body
/// length         = u32                 ; bytes in body, 9 .. 268435456 (256 MiB)
/// crc            = u32                 ; CRC-32C (Castagnoli) of body
/// body           = append / consume / next / legacy-append
/// append         = %x04 sequence enqueued-at header-length header payload
/// consume        = %x02 sequence       ; that APPEND left the store
/// next           = %x03 sequence       ; first record of every segment: the next sequence
///                                      ; to assign, so numbering survives deleted segments
/// sequence       = u64                 ; >= 1
/// enqueued-at    = u64                 ; milliseconds since 1970
/// header-length  = u32                 ; bytes in header
/// header         = routing-header      ; exactly as ACTIVATE and DISPATCH carry it
///                                      ; (docs/PROTOCOL.md §4.6, Codec.encodeRoutingHeader)
/// payload        = *OCTET              ; the rest of the body
/// legacy-append  = %x01 ...            ; written by earlier brokers with their own header
///                                      ; encoding (no max-wait-ms); read, never written
/// ```
///
/// The directory also holds `LOCK`: the store takes an exclusive flock(2) on it when it opens
/// and writes its process id into it, so a second broker on the same directory refuses to
/// start instead of running the same work twice. The lock goes with the process.
///
/// A CONSUME record is always in the same segment as its APPEND or a newer one.
///
/// ## Writing, durability and space
///
/// Records go to a user-space buffer of the active segment; `sync()` writes it with
/// write(2) and then calls fsync as `FsyncPolicy` says:
///
/// - a process crash (SIGKILL) loses nothing `sync()` returned for, under every policy;
/// - an OS crash or power loss loses nothing `sync()` returned for under `everyBatch`; up to
///   the last N ms of syncs under `interval(N)` (more if no `sync()` follows); whatever the
///   kernel had not written back under `never`. Lost CONSUME records can make an activation
///   run twice, so at-most-once across an OS crash needs `everyBatch`.
///
/// Appends and marks not yet synced are lost by a process crash too, except what a full
/// buffer (1 MiB) already wrote. `everyBatch` also fsyncs the directory after creating a
/// segment and after each deletion (as `interval` does at deletions); on macOS fsync does
/// not flush the drive's cache (F_FULLFSYNC is not used). A new segment starts
/// when a record would take the active one past `segmentBytes` (a record bigger than that
/// gets a segment of its own). Space is reclaimed by deleting whole segments, oldest first,
/// once every APPEND in them is consumed; this happens in `sync()`, and only while this run
/// has an active segment (whose NEXT record keeps the numbering). When everything is
/// consumed, `sync()` rolls over to a fresh segment holding only its NEXT record and deletes
/// the old one, so a drained store occupies a few bytes. A segment holding one unconsumed
/// record keeps all its bytes: with the default 64 MiB segments, up to that much per
/// segment counts against the budget until its last record leaves.
///
/// `append` throws `budgetExceeded` when the bytes of all segment files (buffered bytes
/// included, consumed records included until their segment goes) plus the new record would
/// pass `budgetBytes`. CONSUME records are never refused.
///
/// ## Memory
///
/// The store keeps an index of the unconsumed records (sequence, segment, offset, length:
/// a few dozen bytes each), not their headers or payloads: `readBatch` reads records back
/// from the files with pread(2) and checks their CRC again. Records appended since the last
/// `sync()` stay in the write buffer (which `readBatch` writes out first), at most about
/// 1 MiB beyond the record that filled it.
///
/// ## Recovery
///
/// Opening scans every segment in id order:
/// - a record whose CRC (or body) is wrong is skipped and counted in `corruptRecords`;
///   scanning continues after it, since its length prefix is plausible. It may have been a
///   CONSUME, so every unconsumed APPEND before the last damage found is returned with
///   `consumedUnknown` set (counted in `uncertainRecords`): the broker answers those and
///   never runs them;
/// - a length prefix below 9 or above 256 MiB cannot be skipped safely: the rest of that
///   segment counts as one corrupt record and scanning moves on to the next segment (the
///   file is left as it is);
/// - a torn tail, where fewer than 8 bytes remain, or a plausible length runs past the end
///   of the file, or everything from a record on is zero bytes, is cut off with ftruncate
///   and counted in `truncatedBytes`.
/// Unconsumed APPENDs become the index; new sequences continue above every sequence and
/// NEXT value seen (a record lost with a torn tail may have its sequence reused: it is gone).
/// Only the broker's loop thread may use a store, and only one store may have a directory
/// open at a time (enforced by the `LOCK` file).
public final class DiskOverflowStore: OverflowStore {
    public let name = "disk"
    public let directory: String
    public let segmentBytes: Int
    public let budgetBytes: Int?
    public let fsyncPolicy: FsyncPolicy

    public private(set) var recoveryReport = OverflowRecoveryReport()

    /// All segment files, oldest first; `active` (if any) is the last.
    private var segments: [Segment] = []
    /// The segment this run writes to; nil until the first write.
    private var active: Segment?
    /// Segments written since their last fsync (their descriptors stay open until then).
    private var unsynced: [Segment] = []
    private var directoryFD: Int32 = -1
    /// The open `LOCK` file holding this store's flock.
    private var lockFD: Int32 = -1
    private var directoryDirty = false
    private var nextSequence: UInt64 = 1
    private var nextSegmentID: UInt64 = 1
    private var index = LiveIndex()
    private var totalBytes = 0
    private var written = 0
    private var lastFsync: ContinuousClock.Instant?
    /// Set when an fsync failed: the kernel may have dropped the dirty pages, so nothing
    /// this store writes can be trusted any more.
    private var broken: OverflowStoreError?
    private var closed = false

    /// Past this many buffered bytes, `append` writes the buffer out before `sync()`.
    static let bufferFlushBytes = 1 << 20

    public init(
        directory: String, segmentBytes: Int = 64 * 1024 * 1024, budgetBytes: Int? = 1024 * 1024 * 1024,
        fsync: FsyncPolicy = .everyBatch
    ) throws(OverflowStoreError) {
        guard !directory.isEmpty else { throw OverflowStoreError(.unusable, "the overflow directory must not be empty") }
        guard segmentBytes > 0 else {
            throw OverflowStoreError(.unusable, "segment size must be positive; got \(segmentBytes) bytes")
        }
        if let budgetBytes, budgetBytes < 0 {
            throw OverflowStoreError(.unusable, "budget must not be negative; got \(budgetBytes) bytes")
        }
        if case .interval(let milliseconds) = fsync, milliseconds < 0 {
            throw OverflowStoreError(.unusable, "fsync interval must not be negative; got \(milliseconds) ms")
        }
        var path = directory
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        self.directory = path
        self.segmentBytes = segmentBytes
        self.budgetBytes = budgetBytes
        self.fsyncPolicy = fsync
        try lock()
        do {
            try recover()
        } catch {
            shutDown()
            throw error
        }
    }

    /// The lock file's name inside the directory.
    public static let lockFileName = "LOCK"

    /// Takes the directory's exclusive lock, or throws naming the process that holds it.
    private func lock() throws(OverflowStoreError) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw OverflowStoreError(.unusable, "cannot use \(directory) as the overflow directory: \(error)")
        }
        let path = directory + "/" + Self.lockFileName
        let (fd, code) = Posix.openFile(path, Posix.readWrite | O_CREAT)
        guard fd >= 0 else {
            throw OverflowStoreError(.unusable, "cannot open the lock file \(path): \(Posix.describe(code))")
        }
        let lockCode = Posix.lockExclusively(fd)
        if lockCode != 0 {
            let holder = Posix.contents(fd).trimmingCharacters(in: .whitespacesAndNewlines)
            Posix.closeFile(fd)
            if lockCode == Posix.wouldBlock {
                throw OverflowStoreError(.unusable, "overflow directory \(directory) is in use by another broker (\(holder.isEmpty ? "process unknown" : holder), lock file \(path)); two brokers on one directory would run the same work twice: give each broker its own overflow.path")
            }
            throw OverflowStoreError(.unusable, "cannot lock \(path): \(Posix.describe(lockCode))")
        }
        _ = Posix.replaceContents(fd, "pid \(Posix.processID)\n")
        lockFD = fd
    }

    deinit {
        shutDown()
    }

    // MARK: OverflowStore

    public func append(_ header: RoutingHeader, payload: [UInt8], enqueuedAtMilliseconds: UInt64) throws(OverflowStoreError) -> UInt64 {
        try checkUsable()
        let headerBytes = RecordFormat.encodeHeader(header)
        let recordBytes = RecordFormat.appendBytes(header: headerBytes, payloadCount: payload.count)
        guard recordBytes - RecordFormat.frameHeaderBytes <= RecordFormat.maximumBodyBytes else {
            throw OverflowStoreError(.budgetExceeded, "a record of \(recordBytes) bytes is larger than the \(RecordFormat.maximumBodyBytes)-byte record limit")
        }
        if let budgetBytes {
            let needed = recordBytes + (needsNewSegment(recordBytes) ? RecordFormat.smallRecordBytes : 0)
            if totalBytes + needed > budgetBytes {
                throw OverflowStoreError(.budgetExceeded, "overflow store \(directory) uses \(totalBytes) of its \(budgetBytes)-byte budget; a record of \(needed) bytes does not fit")
            }
        }
        let segment = try writableSegment(recordBytes)
        let sequence = nextSequence
        let offset = segment.size
        RecordFormat.writeAppend(sequence: sequence, enqueuedAt: enqueuedAtMilliseconds, header: headerBytes, payload: payload,
                                 into: &segment.buffer)
        nextSequence += 1
        segment.size += recordBytes
        segment.live += 1
        totalBytes += recordBytes
        written += recordBytes
        index.append(LiveIndex.Entry(sequence: sequence, segment: segment, offset: offset, length: recordBytes))
        if segment.buffer.count >= Self.bufferFlushBytes {
            // The append has happened; a write error here surfaces at the next sync().
            try? flush(segment)
        }
        return sequence
    }

    public func markConsumed(_ sequence: UInt64) throws(OverflowStoreError) {
        try checkUsable()
        guard index.contains(sequence) else { return }
        // The segment first: if it cannot be created, the record stays unconsumed.
        let segment = try writableSegment(RecordFormat.smallRecordBytes)
        guard let entry = index.remove(sequence) else { return }
        entry.segment.live -= 1
        RecordFormat.writeSmall(.consume, sequence, into: &segment.buffer)
        segment.size += RecordFormat.smallRecordBytes
        totalBytes += RecordFormat.smallRecordBytes
        written += RecordFormat.smallRecordBytes
        if segment.buffer.count >= Self.bufferFlushBytes { try? flush(segment) }
    }

    public func sync() throws(OverflowStoreError) {
        try checkUsable()
        if let active { try flush(active) }
        try fsyncIfDue(force: false)
        // What this sync promised is durable now; reclaiming space is housekeeping. A failure
        // there (a full disk at rollover, a deletion refused) is retried at the next sync
        // rather than reported as a failed sync, which would withhold work already safe.
        do {
            try reclaim()
        } catch {
            if broken != nil { throw error }
        }
    }

    public func abandon() {
        if broken == nil { broken = OverflowStoreError(.unusable, "overflow store \(directory) was abandoned after a failure") }
        for segment in segments { segment.buffer.removeAll() }
    }

    public func readBatch(after sequence: UInt64?, limit: Int) throws(OverflowStoreError) -> [OverflowRecord] {
        try checkUsable()
        guard limit > 0 else { return [] }
        if let active { try flush(active) }
        var readers: [ObjectIdentifier: Int32] = [:]
        defer { for fd in readers.values { Posix.closeFile(fd) } }
        var records: [OverflowRecord] = []
        var cursor = sequence ?? 0
        while records.count < limit {
            let entries = index.batch(after: cursor, limit: limit - records.count)
            guard let last = entries.last else { break }
            for entry in entries {
                if let record = try read(entry, readers: &readers) {
                    records.append(record)
                } else {
                    // Damaged since it was scanned: dropped, as recovery would.
                    recoveryReport.corruptRecords += 1
                    if let dropped = index.remove(entry.sequence) { dropped.segment.live -= 1 }
                }
            }
            cursor = last.sequence
        }
        return records
    }

    public var usage: OverflowUsage {
        OverflowUsage(records: index.count, bytes: totalBytes, bytesWritten: written, budgetBytes: budgetBytes)
    }

    /// Writes and fsyncs (unless the policy is `never`) what is buffered, and closes the
    /// files. Later calls throw `unusable`. `deinit` does the same, ignoring errors.
    public func close() throws(OverflowStoreError) {
        guard !closed else { return }
        defer { shutDown() }
        try checkUsable()
        if let active { try flush(active) }
        try fsyncIfDue(force: true)
    }

    /// What a SIGKILL leaves: files as written so far, buffered bytes lost, every descriptor
    /// closed (the lock with them). For tests of recovery inside one process.
    package func simulateKill() {
        for segment in segments {
            segment.buffer.removeAll()
            Posix.closeFile(segment.fd)
            segment.fd = -1
        }
        unsynced.removeAll()
        closed = true
        Posix.closeFile(directoryFD)
        directoryFD = -1
        Posix.closeFile(lockFD)
        lockFD = -1
    }

    // MARK: Writing

    private func checkUsable() throws(OverflowStoreError) {
        if closed { throw OverflowStoreError(.unusable, "overflow store \(directory) is closed") }
        if let broken { throw broken }
    }

    private func needsNewSegment(_ recordBytes: Int) -> Bool {
        guard let active else { return true }
        return active.size > active.markerBytes && active.size + recordBytes > segmentBytes
    }

    private func writableSegment(_ recordBytes: Int) throws(OverflowStoreError) -> Segment {
        if let active, !needsNewSegment(recordBytes) { return active }
        return try startSegment()
    }

    /// Creates the next segment file, starts it with a NEXT record and makes it active. The
    /// previous active segment is written out first (nothing changes if that fails).
    private func startSegment() throws(OverflowStoreError) -> Segment {
        if let previous = active {
            try flush(previous)
        }
        var id = nextSegmentID
        var attempts = 0
        while true {
            let path = Self.path(directory, id)
            let (fd, code) = Posix.openFile(path, Posix.createNew)
            if fd >= 0 {
                nextSegmentID = id + 1
                if let previous = active, !previous.fsyncPending {
                    Posix.closeFile(previous.fd)
                    previous.fd = -1
                }
                let segment = Segment(id: id, path: path)
                segment.fd = fd
                RecordFormat.writeSmall(.next, nextSequence, into: &segment.buffer)
                segment.size = RecordFormat.smallRecordBytes
                segment.markerBytes = RecordFormat.smallRecordBytes
                totalBytes += segment.size
                written += segment.size
                segments.append(segment)
                active = segment
                directoryDirty = true
                return segment
            }
            attempts += 1
            guard code == Posix.alreadyExists, attempts < 1000 else {
                throw OverflowStoreError(.io, "cannot create segment \(path): \(Posix.describe(code))")
            }
            id += 1
        }
    }

    /// write(2)s the segment's buffer. After a partial write the rest stays buffered.
    private func flush(_ segment: Segment) throws(OverflowStoreError) {
        guard !segment.buffer.isEmpty else { return }
        let (count, code) = segment.buffer.withUnsafeBytes { Posix.writeAll(segment.fd, $0) }
        if count > 0 {
            if count == segment.buffer.count {
                segment.buffer.removeAll(keepingCapacity: segment.buffer.capacity <= 4 * Self.bufferFlushBytes)
            } else {
                segment.buffer.removeFirst(count)
            }
            segment.flushed += count
            if fsyncPolicy != .never && !segment.fsyncPending {
                segment.fsyncPending = true
                unsynced.append(segment)
            }
        }
        if code != 0 {
            throw OverflowStoreError(.io, "cannot write \(segment.path): \(Posix.describe(code))")
        }
    }

    private func fsyncIfDue(force: Bool) throws(OverflowStoreError) {
        guard !unsynced.isEmpty || directoryDirty else { return }
        switch fsyncPolicy {
        case .never:
            return
        case .everyBatch:
            break
        case .interval(let milliseconds):
            if !force, let lastFsync, ContinuousClock.now - lastFsync < .milliseconds(milliseconds) { return }
        }
        for segment in unsynced {
            let code = Posix.syncFile(segment.fd)
            if code != 0 {
                let error = OverflowStoreError(.io, "fsync of \(segment.path) failed: \(Posix.describe(code)); the store is unusable until reopened")
                broken = error
                throw error
            }
            segment.fsyncPending = false
            if segment !== active {
                Posix.closeFile(segment.fd)
                segment.fd = -1
            }
        }
        unsynced.removeAll()
        if directoryDirty { try syncDirectory() }
        lastFsync = .now
    }

    private func syncDirectory() throws(OverflowStoreError) {
        if directoryFD < 0 {
            let (fd, code) = Posix.openFile(directory, Posix.directory)
            guard fd >= 0 else { throw OverflowStoreError(.io, "cannot open directory \(directory): \(Posix.describe(code))") }
            directoryFD = fd
        }
        let code = Posix.syncFile(directoryFD)
        if code != 0 {
            let error = OverflowStoreError(.io, "fsync of directory \(directory) failed: \(Posix.describe(code)); the store is unusable until reopened")
            broken = error
            throw error
        }
        directoryDirty = false
    }

    /// Deletes fully consumed segments oldest first (never the active one), and rolls over
    /// when everything is consumed. Only while this run has an active segment, whose NEXT
    /// record keeps the numbering once older segments are gone.
    private func reclaim() throws(OverflowStoreError) {
        guard let current = active else { return }
        while let oldest = segments.first, oldest !== current, oldest.live == 0 {
            try delete(oldest)
        }
        if segments.count == 1, current.live == 0, current.size > current.markerBytes {
            let fresh = try startSegment()
            try flush(fresh)
            // The new NEXT record must be durable (as the policy allows) before the old
            // segment, the last holder of the numbering, goes.
            try fsyncIfDue(force: true)
            try delete(current)
        }
    }

    private func delete(_ segment: Segment) throws(OverflowStoreError) {
        if segment.fd >= 0 {
            Posix.closeFile(segment.fd)
            segment.fd = -1
        }
        let code = Posix.removeFile(segment.path)
        if code != 0 && code != Posix.notFound {
            throw OverflowStoreError(.io, "cannot delete segment \(segment.path): \(Posix.describe(code))")
        }
        unsynced.removeAll { $0 === segment }
        segment.fsyncPending = false
        segments.removeAll { $0 === segment }
        totalBytes -= segment.size
        // One directory fsync per deletion keeps deletions in order across an OS crash: a
        // resurrected old segment could otherwise bring back records whose CONSUMEs were
        // in a newer segment already gone.
        if fsyncPolicy != .never { try syncDirectory() }
    }

    private func shutDown() {
        if !closed && broken == nil {
            if let active { try? flush(active) }
            try? fsyncIfDue(force: true)
        }
        closed = true
        for segment in segments where segment.fd >= 0 {
            Posix.closeFile(segment.fd)
            segment.fd = -1
        }
        unsynced.removeAll()
        Posix.closeFile(directoryFD)
        directoryFD = -1
        // Closing the descriptor releases the flock; the file stays (removing it could race
        // with a broker that is opening it).
        Posix.closeFile(lockFD)
        lockFD = -1
    }

    // MARK: Reading

    private func read(_ entry: LiveIndex.Entry, readers: inout [ObjectIdentifier: Int32]) throws(OverflowStoreError) -> OverflowRecord? {
        let segment = entry.segment
        var fd = segment.fd
        if fd < 0 {
            if let open = readers[ObjectIdentifier(segment)] {
                fd = open
            } else {
                let (opened, code) = Posix.openFile(segment.path, Posix.readOnly)
                guard opened >= 0 else {
                    throw OverflowStoreError(.io, "cannot open segment \(segment.path): \(Posix.describe(code))")
                }
                readers[ObjectIdentifier(segment)] = opened
                fd = opened
            }
        }
        var bytes = [UInt8](repeating: 0, count: entry.length)
        let (count, code) = bytes.withUnsafeMutableBytes { Posix.readFully(fd, $0, at: entry.offset) }
        if code != 0 {
            throw OverflowStoreError(.io, "cannot read segment \(segment.path): \(Posix.describe(code))")
        }
        guard count == entry.length else { return nil }
        var record = bytes.withUnsafeBytes { RecordFormat.decodeAppendRecord($0, sequence: entry.sequence) }
        record?.consumedUnknown = entry.consumedUnknown
        return record
    }

    // MARK: Recovery

    static func path(_ directory: String, _ id: UInt64) -> String {
        let digits = String(id)
        return directory + "/segment-" + String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".log"
    }

    /// The id in a segment file name, or nil for any other name.
    static func segmentID(_ name: String) -> UInt64? {
        guard name.hasPrefix("segment-"), name.hasSuffix(".log") else { return nil }
        let digits = name.dropFirst("segment-".count).dropLast(".log".count)
        guard (1...20).contains(digits.count), digits.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
        else { return nil }
        return UInt64(digits)
    }

    private func recover() throws(OverflowStoreError) {
        let names: [String]
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw OverflowStoreError(.unusable, "cannot use \(directory) as the overflow directory: \(error)")
        }
        let files = names.compactMap { name in Self.segmentID(name).map { (id: $0, name: name) } }
            .sorted { ($0.id, $0.name) < ($1.id, $1.name) }
        if let highest = files.last?.id { nextSegmentID = highest == .max ? .max : highest + 1 }

        var scan = Scan()
        for file in files {
            let segment = Segment(id: file.id, path: directory + "/" + file.name)
            guard try scanSegment(segment, &scan) else { continue }
            segments.append(segment)
            totalBytes += segment.size
        }

        scan.appends.sort { $0.sequence < $1.sequence }
        var uncertain = 0
        for var entry in scan.appends where !scan.consumed.contains(entry.sequence) {
            // Damage after this record may have been its CONSUME: at-most-once says do not run it.
            if let damage = scan.lastDamage, (entry.segment.id, entry.offset) < damage {
                entry.consumedUnknown = true
                uncertain += 1
            }
            entry.segment.live += 1
            index.append(entry)
        }
        nextSequence = max(scan.next, 1)
        recoveryReport = OverflowRecoveryReport(recovered: index.count, corruptRecords: scan.corrupt, uncertainRecords: uncertain,
                                                truncatedBytes: scan.truncated, segments: segments.count)
    }

    private struct Scan {
        var appends: [LiveIndex.Entry] = []
        var seen: Set<UInt64> = []
        var consumed: Set<UInt64> = []
        /// One above every sequence seen, or the highest NEXT value.
        var next: UInt64 = 1
        var corrupt = 0
        var truncated = 0
        /// Where the last damaged record starts (segment id, offset): it may have been a
        /// CONSUME of any APPEND before it.
        var lastDamage: (UInt64, Int)?

        mutating func damaged(_ segment: Segment, at offset: Int) {
            corrupt += 1
            lastDamage = (segment.id, offset)
        }

        mutating func saw(_ sequence: UInt64) {
            next = max(next, sequence == .max ? .max : sequence + 1)
        }
    }

    /// Reads one segment into `scan`; false if it is not a regular file (then it is ignored).
    private func scanSegment(_ segment: Segment, _ scan: inout Scan) throws(OverflowStoreError) -> Bool {
        var (fd, code) = Posix.openFile(segment.path, Posix.readWrite)
        var writable = true
        if fd < 0 && [Posix.accessDenied, Posix.readOnlyFileSystem, Posix.permissionDenied].contains(code) {
            (fd, code) = Posix.openFile(segment.path, Posix.readOnly)
            writable = false
        }
        if fd < 0 && code == Posix.isDirectory { return false }
        guard fd >= 0 else { throw OverflowStoreError(.io, "cannot open segment \(segment.path): \(Posix.describe(code))") }
        defer { Posix.closeFile(fd) }
        let (size, statCode) = Posix.regularFileSize(fd)
        guard let fileSize = size else {
            if statCode != 0 { throw OverflowStoreError(.io, "cannot stat segment \(segment.path): \(Posix.describe(statCode))") }
            return false
        }

        var window = FileWindow(fd: fd, size: fileSize, path: segment.path)
        var offset = 0
        var tornAt: Int?
        while offset < fileSize {
            let remaining = fileSize - offset
            if remaining < RecordFormat.frameHeaderBytes {
                tornAt = offset
                break
            }
            let at = try window.load(offset, RecordFormat.frameHeaderBytes)
            let (length, crc) = window.buffer.withUnsafeBytes { raw in
                (Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt32.self))),
                 UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: at + 4, as: UInt32.self)))
            }
            if length == 0 && crc == 0, try window.isZero(from: offset) {
                tornAt = offset
                break
            }
            guard length >= RecordFormat.minimumBodyBytes, length <= RecordFormat.maximumBodyBytes else {
                // No plausible length to skip by: the rest of the segment is lost.
                scan.damaged(segment, at: offset)
                break
            }
            guard length <= remaining - RecordFormat.frameHeaderBytes else {
                tornAt = offset
                break
            }
            let start = try window.load(offset + RecordFormat.frameHeaderBytes, length)
            let body = window.buffer.withUnsafeBytes { raw -> RecordFormat.Body? in
                let bytes = UnsafeRawBufferPointer(rebasing: raw[start..<(start + length)])
                guard CRC32C.checksum(bytes) == crc else { return nil }
                return RecordFormat.parseBody(bytes)
            }
            let recordBytes = RecordFormat.frameHeaderBytes + length
            switch body {
            case .append(let sequence, _, _, _)?:
                scan.saw(sequence)
                if scan.seen.insert(sequence).inserted {
                    scan.appends.append(LiveIndex.Entry(sequence: sequence, segment: segment, offset: offset, length: recordBytes))
                }
            case .consume(let sequence)?:
                scan.saw(sequence)
                scan.consumed.insert(sequence)
            case .next(let sequence)?:
                scan.next = max(scan.next, sequence)
            case nil:
                scan.damaged(segment, at: offset)
            }
            offset += recordBytes
        }

        segment.size = fileSize
        if let tornAt {
            scan.truncated += fileSize - tornAt
            if writable {
                let code = Posix.truncateFile(fd, to: tornAt)
                if code != 0 { throw OverflowStoreError(.io, "cannot truncate the torn tail of \(segment.path): \(Posix.describe(code))") }
                segment.size = tornAt
            }
        }
        segment.flushed = segment.size
        return true
    }
}

/// One segment file.
final class Segment {
    let id: UInt64
    let path: String
    /// Bytes in the file plus bytes buffered for it.
    var size = 0
    /// Bytes in the file.
    var flushed = 0
    /// Written by this run, not yet written to the file.
    var buffer: [UInt8] = []
    /// Open while active or waiting for fsync; -1 otherwise.
    var fd: Int32 = -1
    /// Unconsumed APPENDs in it.
    var live = 0
    /// Size of the NEXT record a segment of this run starts with (0 for older segments).
    var markerBytes = 0
    /// Written since the last fsync (then it is in the store's `unsynced`).
    var fsyncPending = false

    init(id: UInt64, path: String) {
        self.id = id
        self.path = path
    }
}

/// Unconsumed records in sequence order: an array of entries with tombstones, a map from
/// sequence to position, compacted once tombstones outnumber the live entries.
struct LiveIndex {
    struct Entry {
        var sequence: UInt64
        var segment: Segment
        /// Where the record (length prefix included) starts in its segment file.
        var offset: Int
        var length: Int
        var live = true
        /// Recovery could not tell whether it was consumed (`OverflowRecord.consumedUnknown`).
        var consumedUnknown = false
    }

    private var entries: [Entry] = []
    private var head = 0
    private var positions: [UInt64: Int] = [:]
    private(set) var count = 0
    private var dead = 0

    /// Sequences must come in increasing order.
    mutating func append(_ entry: Entry) {
        positions[entry.sequence] = entries.count
        entries.append(entry)
        count += 1
    }

    func contains(_ sequence: UInt64) -> Bool {
        positions[sequence] != nil
    }

    mutating func remove(_ sequence: UInt64) -> Entry? {
        guard let position = positions.removeValue(forKey: sequence) else { return nil }
        entries[position].live = false
        let entry = entries[position]
        count -= 1
        dead += 1
        while head < entries.count && !entries[head].live { head += 1 }
        if dead > 1024 && dead > count { compact() }
        return entry
    }

    /// Up to `limit` live entries with a sequence above `after`, in order.
    func batch(after: UInt64, limit: Int) -> [Entry] {
        var low = head
        var high = entries.count
        while low < high {
            let middle = (low + high) / 2
            if entries[middle].sequence <= after { low = middle + 1 } else { high = middle }
        }
        var found: [Entry] = []
        var position = low
        while position < entries.count && found.count < limit {
            if entries[position].live { found.append(entries[position]) }
            position += 1
        }
        return found
    }

    private mutating func compact() {
        entries.removeAll { !$0.live }
        positions.removeAll(keepingCapacity: true)
        for (position, entry) in entries.enumerated() { positions[entry.sequence] = position }
        head = 0
        dead = 0
    }
}

/// A window of a file read in chunks of at least 1 MiB, for the recovery scan.
struct FileWindow {
    let fd: Int32
    let size: Int
    let path: String
    private(set) var buffer: [UInt8] = []
    private var start = 0

    init(fd: Int32, size: Int, path: String) {
        self.fd = fd
        self.size = size
        self.path = path
    }

    /// Makes file bytes offset..<offset+count available; returns where they start in `buffer`.
    /// `offset + count` must not pass the end of the file.
    mutating func load(_ offset: Int, _ count: Int) throws(OverflowStoreError) -> Int {
        if offset >= start && offset + count <= start + buffer.count { return offset - start }
        let want = min(max(count, 1 << 20), size - offset)
        var fresh = [UInt8](repeating: 0, count: want)
        let fd = self.fd
        let (read, code) = fresh.withUnsafeMutableBytes { Posix.readFully(fd, $0, at: offset) }
        if code != 0 { throw OverflowStoreError(.io, "cannot read segment \(path): \(Posix.describe(code))") }
        guard read >= count else {
            throw OverflowStoreError(.io, "segment \(path) shrank while it was read (\(offset + read) of \(size) bytes)")
        }
        buffer = fresh
        start = offset
        return 0
    }

    /// Whether every byte from `offset` to the end of the file is zero.
    mutating func isZero(from offset: Int) throws(OverflowStoreError) -> Bool {
        var position = offset
        while position < size {
            let count = min(1 << 20, size - position)
            let at = try load(position, count)
            let zero = buffer.withUnsafeBytes { raw in
                UnsafeRawBufferPointer(rebasing: raw[at..<(at + count)]).allSatisfy { $0 == 0 }
            }
            guard zero else { return false }
            position += count
        }
        return true
    }
}
