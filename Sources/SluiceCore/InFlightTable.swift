/// The activations bound to invokers, stored compactly: this table is what grows with the
/// work in flight, so its size per activation is the broker's memory cost per activation
/// (docs/PERFORMANCE.md, "What the profile showed, and what changed").
///
/// - Records live in a slab of fixed-size pages and are named by a 32-bit `Handle`, stable
///   while the activation is in flight. The deadline wheel and each invoker's set hold
///   handles, not ids. Pages are never reallocated: a growing array would copy itself and
///   leave the old copy to the allocator, which keeps those pages (they show in RSS).
/// - Activation ids of up to 32 bytes (OpenWhisk's are 32 hex digits) are kept inline in the
///   record, so an activation costs no separate string allocation; longer ids (the protocol
///   allows 128 bytes) go to a side table.
/// - The id index is open addressing over handles with linear probing and backward-shift
///   deletion: 8 bytes a slot, no tombstones.
/// - When the table empties after a burst, its storage is given back.
struct InFlightTable {
    typealias Handle = Int32

    /// Records by handle: page `handle >> pageShift`, slot `handle & pageMask`.
    private var pages: [ContiguousArray<InFlightRecord>] = []
    /// Records ever created (live or free).
    private var created = 0
    private static let pageShift = 12
    private static let pageSize = 1 << pageShift
    private static let pageMask = pageSize - 1
    /// Handles of unused records, reused before the slab grows.
    private var free: [Handle] = []
    /// Ids longer than `InlineID.capacity`, by handle.
    private var longIDs: [Handle: String] = [:]
    /// Handle per index slot, `empty` if none; `hashes` holds each occupant's hash.
    private var slots: [Handle]
    private var hashes: [UInt32]
    private var mask: Int
    private(set) var count = 0

    /// The id `find` hashed last, with its hash: the insert (after a miss: a new ACTIVATE) or
    /// the removal (after a hit: a COMPLETION) that usually follows would hash the same bytes
    /// again. Only ever a cache of a pure function of the bytes, compared in full: an id of up
    /// to 32 bytes as four words and a length (a byte-by-byte comparison of the strings cost
    /// more than the hash it saved), a longer one as a string in `recentLong`.
    private var recent: (id: InlineID, hash: UInt32)?
    private var recentLong: String?

    private static let empty: Handle = -1
    private static let initialSlots = 64

    init() {
        slots = Array(repeating: Self.empty, count: Self.initialSlots)
        hashes = Array(repeating: 0, count: Self.initialSlots)
        mask = Self.initialSlots - 1
    }

    var isEmpty: Bool { count == 0 }

    /// The handle of the activation with this id, if it is in flight.
    ///
    /// No closure here (nor in `insert` and `remove`) touches `self`: one that did made the
    /// compiler copy the whole table for it, a retain and a release of each of its arrays.
    mutating func find(_ id: String) -> Handle? {
        let (hash, inline) = Self.withBytes(of: id) { bytes in (Self.hash(bytes), InlineID(bytes)) }
        recent = (inline, hash)
        recentLong = inline.isLong ? id : nil
        var slot = Int(hash) & mask
        while slots[slot] != Self.empty {
            let handle = slots[slot]
            if hashes[slot] == hash && self[handle].id == inline && (!inline.isLong || longIDs[handle] == id) { return handle }
            slot = (slot + 1) & mask
        }
        return nil
    }

    /// Adds an activation that is not in the table (the caller checked with `find`).
    mutating func insert(_ id: String, _ record: InFlightRecord) -> Handle {
        if (count + 1) * 4 > slots.count * 3 { growIndex() }
        var record = record
        record.id = Self.withBytes(of: id) { InlineID($0) }
        let hash = recentHash(of: record.id, long: id) ?? Self.withBytes(of: id) { Self.hash($0) }
        record.live = true
        let handle: Handle
        if let reused = free.popLast() {
            handle = reused
            self[handle] = record
        } else {
            precondition(created < Int(Int32.max), "more activations in flight than handles")
            handle = Handle(created)
            if created & Self.pageMask == 0 {
                var page = ContiguousArray<InFlightRecord>()
                page.reserveCapacity(Self.pageSize)
                pages.append(page)
            }
            pages[pages.count - 1].append(record)
            created += 1
        }
        if record.id.isLong { longIDs[handle] = id }
        var slot = Int(hash) & mask
        while slots[slot] != Self.empty { slot = (slot + 1) & mask }
        slots[slot] = handle
        hashes[slot] = hash
        count += 1
        return handle
    }

    /// The record of a live handle.
    subscript(handle: Handle) -> InFlightRecord {
        _read { yield pages[Int(handle) >> Self.pageShift][Int(handle) & Self.pageMask] }
        _modify { yield &pages[Int(handle) >> Self.pageShift][Int(handle) & Self.pageMask] }
    }

    /// The activation id of a live handle.
    func id(of handle: Handle) -> String {
        let record = self[handle]
        if record.id.isLong, let long = longIDs[handle] { return long }
        return record.id.string
    }

    /// Removes a live handle and returns its record.
    @discardableResult
    mutating func remove(_ handle: Handle) -> InFlightRecord {
        let record = self[handle]
        precondition(record.live, "removing a handle that is not in flight")
        let hash: UInt32
        if record.id.isLong, let long = longIDs.removeValue(forKey: handle) {
            hash = recentHash(of: record.id, long: long) ?? Self.withBytes(of: long) { Self.hash($0) }
        } else {
            hash = recentHash(of: record.id, long: nil) ?? record.id.withBytes { Self.hash($0) }
        }
        var slot = Int(hash) & mask
        while slots[slot] != handle { slot = (slot + 1) & mask }
        // Backward shift: pull later entries of the probe run into the hole, so lookups never
        // meet a gap inside their run.
        var hole = slot
        var next = (slot + 1) & mask
        while slots[next] != Self.empty {
            let home = Int(hashes[next]) & mask
            if (next - home) & mask >= (next - hole) & mask {
                slots[hole] = slots[next]
                hashes[hole] = hashes[next]
                hole = next
            }
            next = (next + 1) & mask
        }
        slots[hole] = Self.empty
        // A free record lets go of its strings now, not when its handle is reused.
        self[handle].live = false
        self[handle].answerTo = ""
        self[handle].namespace = ""
        count -= 1
        if count == 0 && created > Self.pageSize {
            // A burst is over: give its storage back rather than keep it for the next one.
            self = InFlightTable()
        } else {
            free.append(handle)
        }
        return record
    }

    /// Calls `body` with every live record, in slab order, copying none.
    func forEachLive(_ body: (borrowing InFlightRecord) -> Void) {
        for page in pages {
            for index in page.indices where page[index].live { body(page[index]) }
        }
    }

    /// Every live handle, in slab order.
    var handles: [Handle] {
        (0..<created).compactMap { self[Handle($0)].live ? Handle($0) : nil }
    }

    /// The hash `find` computed, if it was for this id (`long` is the full id when `id` is long).
    private func recentHash(of id: InlineID, long: String?) -> UInt32? {
        guard let recent, recent.id == id else { return nil }
        if id.isLong { return long != nil && long == recentLong ? recent.hash : nil }
        return recent.hash
    }

    private mutating func growIndex() {
        let capacity = slots.count * 2
        var newSlots = [Handle](repeating: Self.empty, count: capacity)
        var newHashes = [UInt32](repeating: 0, count: capacity)
        let newMask = capacity - 1
        for (slot, handle) in slots.enumerated() where handle != Self.empty {
            var target = Int(hashes[slot]) & newMask
            while newSlots[target] != Self.empty { target = (target + 1) & newMask }
            newSlots[target] = handle
            newHashes[target] = hashes[slot]
        }
        slots = newSlots
        hashes = newHashes
        mask = newMask
    }

    private static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var hasher = Hasher()
        hasher.combine(bytes: bytes)
        return UInt32(truncatingIfNeeded: hasher.finalize())
    }

    private static func withBytes<T>(of id: String, _ body: (UnsafeRawBufferPointer) -> T) -> T {
        var id = id
        return id.withUTF8 { body(UnsafeRawBufferPointer($0)) }
    }
}

/// An activation bound to an invoker: what the broker needs until its completion, and no more.
/// (The DISPATCH carried the full routing header; the rest of it is not kept.)
struct InFlightRecord {
    fileprivate(set) var id = InlineID()
    /// A RESULT (or combined COMPLETION) already produced its answer.
    var answered = false
    fileprivate(set) var live = false
    var memoryMB: UInt32
    var timeLimitMilliseconds: UInt32
    /// The invoker's position in the cluster view; stable while the activation is in flight,
    /// since an invoker's work is released before it leaves.
    var invokerPosition: Int32
    var deadline: Timestamp
    /// When it arrived, kept so a DISPATCH that could not be sent waits with its real age.
    var enqueuedAt: Timestamp
    /// The controller that receives the answer.
    var answerTo: String
    var namespace: String

    init(memoryMB: UInt32, timeLimitMilliseconds: UInt32, invokerPosition: Int32, deadline: Timestamp,
         enqueuedAt: Timestamp, answerTo: String, namespace: String) {
        self.memoryMB = memoryMB
        self.timeLimitMilliseconds = timeLimitMilliseconds
        self.invokerPosition = invokerPosition
        self.deadline = deadline
        self.enqueuedAt = enqueuedAt
        self.answerTo = answerTo
        self.namespace = namespace
    }
}

/// Up to 32 bytes of id kept in place; `isLong` marks an id kept elsewhere.
struct InlineID: Equatable {
    static let capacity = 32
    private var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    /// Byte count, or `UInt8.max` for a long id.
    private var length: UInt8 = 0

    init() {}

    init(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count <= Self.capacity else {
            length = .max
            return
        }
        length = UInt8(bytes.count)
        withUnsafeMutableBytes(of: &words) { storage in
            storage.copyMemory(from: bytes)
        }
    }

    var isLong: Bool { length == .max }

    func withBytes<T>(_ body: (UnsafeRawBufferPointer) -> T) -> T {
        withUnsafeBytes(of: words) { body(UnsafeRawBufferPointer(rebasing: $0[0..<Int(length)])) }
    }

    var string: String { withBytes { String(decoding: $0, as: UTF8.self) } }

    static func == (lhs: InlineID, rhs: InlineID) -> Bool {
        lhs.length == rhs.length && lhs.words.0 == rhs.words.0 && lhs.words.1 == rhs.words.1
            && lhs.words.2 == rhs.words.2 && lhs.words.3 == rhs.words.3
    }
}
