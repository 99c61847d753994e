import Foundation

/// What the broker hands the writer: names still in the clear (the writer hashes them off the
/// loop thread), times in microseconds since the trace's start.
public enum TraceInput: Sendable {
    case arrival(sequence: UInt32, microseconds: UInt64, action: String, namespace: String, memoryMB: UInt32)
    case record(TraceRecord)
}

/// Writes a trace on its own thread: the broker's loop only appends inputs to a locked list.
/// Segments are `PATH`, `PATH.1`, `PATH.2`, ... of at most `segmentBytes` each; when all of
/// them together would pass `budgetBytes`, recording stops (and says why) instead of filling
/// the disk. Nothing is ever overwritten: a path that exists is refused.
public final class TraceWriter: @unchecked Sendable {
    public struct Status: Sendable, Equatable {
        public var records = 0
        public var bytes = 0
        public var segments = 0
        public var dropped = 0
        /// Why recording stopped (budget reached, a write failed), or nil while it runs.
        public var stopped: String?
    }

    public let path: String
    public let segmentBytes: Int
    public let budgetBytes: Int
    private let salt: TraceSalt
    private let header: TraceHeader
    private let condition = NSCondition()
    private var pending: [TraceInput] = []
    private var closing = false
    private var state = Status()
    private var thread: Thread?
    private var file: FileHandle?
    private var segmentSize = 0

    public init(path: String, startMilliseconds: UInt64, segmentBytes: Int = 64 << 20, budgetBytes: Int = 1 << 30,
                salt: TraceSalt = .random()) throws(TraceError) {
        guard segmentBytes >= TraceFormat.headerSize + TraceFormat.recordSize, budgetBytes >= segmentBytes else {
            throw TraceError("trace segment size must hold a record and the budget at least one segment (segment \(segmentBytes) B, budget \(budgetBytes) B)")
        }
        self.path = path
        self.segmentBytes = segmentBytes
        self.budgetBytes = budgetBytes
        self.salt = salt
        header = TraceHeader(startMilliseconds: startMilliseconds, traceID: UInt64.random(in: 1...UInt64.max), segment: 0)
        try openSegment(0)
        let thread = Thread { [weak self] in self?.run() }
        thread.name = "sluice-trace"
        self.thread = thread
        thread.start()
    }

    static func segmentPath(_ path: String, _ segment: UInt32) -> String { segment == 0 ? path : "\(path).\(segment)" }

    private func openSegment(_ segment: UInt32) throws(TraceError) {
        let name = Self.segmentPath(path, segment)
        if FileManager.default.fileExists(atPath: name) {
            throw TraceError("trace file \(name) already exists; record to a new path (a trace is never overwritten)")
        }
        guard FileManager.default.createFile(atPath: name, contents: nil), let handle = FileHandle(forWritingAtPath: name) else {
            throw TraceError("cannot create trace file \(name): \(String(cString: strerror(errno)))")
        }
        var segmentHeader = header
        segmentHeader.segment = segment
        do {
            try handle.write(contentsOf: segmentHeader.bytes)
        } catch {
            throw TraceError("cannot write trace file \(name): \(error)")
        }
        try? file?.close()
        file = handle
        segmentSize = TraceFormat.headerSize
        condition.lock()
        state.bytes += TraceFormat.headerSize
        state.segments += 1
        condition.unlock()
    }

    /// Queues inputs; never blocks on the disk.
    public func submit(_ inputs: [TraceInput]) {
        guard !inputs.isEmpty else { return }
        condition.lock()
        if state.stopped != nil || closing {
            state.dropped += inputs.count
        } else {
            pending.append(contentsOf: inputs)
        }
        condition.signal()
        condition.unlock()
    }

    public var status: Status {
        condition.lock()
        defer { condition.unlock() }
        return state
    }

    /// Writes what is queued and closes the file.
    public func close() {
        condition.lock()
        closing = true
        condition.signal()
        while thread != nil { condition.wait() }
        condition.unlock()
    }

    private func run() {
        var buffer: [UInt8] = []
        while true {
            condition.lock()
            while pending.isEmpty && !closing { condition.wait() }
            let batch = pending
            pending.removeAll(keepingCapacity: true)
            let done = closing
            condition.unlock()
            write(batch, buffer: &buffer)
            if done {
                condition.lock()
                try? file?.synchronize()
                try? file?.close()
                file = nil
                thread = nil
                condition.broadcast()
                condition.unlock()
                return
            }
        }
    }

    /// Encodes a batch and writes it with one write per segment it touches (not per record).
    private func write(_ batch: [TraceInput], buffer: inout [UInt8]) {
        condition.lock()
        let stopped = state.stopped != nil
        if stopped { state.dropped += batch.count }
        condition.unlock()
        if stopped { return }
        buffer.removeAll(keepingCapacity: true)
        var written = 0
        for (index, input) in batch.enumerated() {
            if segmentSize + TraceFormat.recordSize > segmentBytes {
                do throws(TraceError) {
                    try flush(&buffer, records: &written)
                    condition.lock()
                    let total = state.bytes
                    condition.unlock()
                    guard total + TraceFormat.headerSize + TraceFormat.recordSize <= budgetBytes else {
                        stop("the trace budget of \(budgetBytes) bytes is reached", dropping: batch.count - index)
                        return
                    }
                    try openSegment(header.segment + UInt32(segmentCount))
                } catch {
                    stop(error.description, dropping: batch.count - index)
                    return
                }
            }
            switch input {
            case .arrival(let sequence, let time, let action, let namespace, let memory):
                TraceRecord.arrival(sequence: sequence, microseconds: time, action: salt.hash(action), namespace: salt.hash(namespace),
                                    memoryMB: memory).write(into: &buffer)
            case .record(let record):
                record.write(into: &buffer)
            }
            segmentSize += TraceFormat.recordSize
            written += 1
        }
        do throws(TraceError) {
            try flush(&buffer, records: &written)
        } catch {
            stop(error.description, dropping: written)
        }
    }

    private var segmentCount: Int {
        condition.lock()
        defer { condition.unlock() }
        return state.segments
    }

    /// Writes the encoded records and counts them.
    private func flush(_ buffer: inout [UInt8], records: inout Int) throws(TraceError) {
        guard !buffer.isEmpty, let file else { return }
        do {
            try file.write(contentsOf: buffer)
        } catch {
            throw TraceError("writing the trace failed: \(error)")
        }
        condition.lock()
        state.records += records
        state.bytes += buffer.count
        condition.unlock()
        records = 0
        buffer.removeAll(keepingCapacity: true)
    }

    private func stop(_ reason: String, dropping count: Int) {
        condition.lock()
        if state.stopped == nil { state.stopped = reason }
        state.dropped += count
        condition.unlock()
    }
}

/// A trace read back: its segments in order, with a torn tail cut.
public struct TraceFile: Sendable {
    public var header: TraceHeader
    public var records: [TraceRecord]
    public var segments: Int
    /// Bytes after the last whole record of a segment (a crash mid-write), not read.
    public var tornBytes: Int

    /// Reads `path`, then `path.1`, `path.2`, ... while they exist and belong to the same trace.
    public init(path: String) throws(TraceError) {
        guard let first = FileManager.default.contents(atPath: path) else {
            throw TraceError("\(path): cannot read (\(FileManager.default.fileExists(atPath: path) ? "permission denied" : "no such file"))")
        }
        var data = Array(first)
        header = try TraceHeader(data[...], path: path)
        records = []
        segments = 0
        tornBytes = 0
        var segment: UInt32 = 0
        while true {
            let name = TraceWriter.segmentPath(path, segment)
            let segmentHeader = try TraceHeader(data[...], path: name)
            guard segmentHeader.traceID == header.traceID, segmentHeader.segment == segment else {
                throw TraceError("\(name): belongs to another trace or is out of order (segment \(segmentHeader.segment), expected \(segment))")
            }
            segments += 1
            var offset = TraceFormat.headerSize
            while offset + TraceFormat.recordSize <= data.count, let record = TraceRecord(data[offset..<offset + TraceFormat.recordSize]) {
                records.append(record)
                offset += TraceFormat.recordSize
            }
            tornBytes += data.count - offset
            segment += 1
            guard let next = FileManager.default.contents(atPath: TraceWriter.segmentPath(path, segment)) else { break }
            data = Array(next)
        }
    }
}
