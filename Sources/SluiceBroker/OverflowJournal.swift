import SluicePluginAPI
import SluiceProtocol

/// The shell's side of "persist only the overflow": owns the rules that keep a journaled
/// activation at most once and answered exactly once across restarts (docs/ARCHITECTURE.md,
/// "Overflow", rules 1 to 4), so the broker loop only asks it two questions: may this message
/// leave now (`mustHold`), and is the turn's journal durable (`commit`).
///
/// 1. Consumed before it leaves: a DISPATCH or broker ANSWER of a journaled activation waits
///    until its consume mark has been synced.
/// 2. Group commit: one `sync()` per `commit()`, which the loop calls once per turn.
/// 3. A failed store is broken for the rest of the run: further appends are refused, and every
///    journaled activation is withheld (left in the store for the next run, never dispatched
///    or answered by this one); `takeWithheld()` hands their ids to the core once.
/// 4. Recovery hands back records the store cannot vouch for separately, to be answered.
///
/// Loop thread only, like the store it wraps.
final class OverflowJournal {
    let store: any OverflowStore
    /// Why the store is no longer used; nil while it works.
    private(set) var broken: OverflowStoreError?
    /// Store sequence of every journaled activation this run still holds, by activation id.
    private var sequences: [String: UInt64] = [:]
    /// Consume marks written since the last sync: messages about these activations are held.
    private var unsynced: Set<String> = []
    /// Appends or marks not yet synced.
    private var dirty = false
    /// Withheld when the store broke, not yet handed to the core.
    private var withheld: Set<String> = []
    /// Everything withheld this run: no message about these may ever leave.
    private var withheldEver: Set<String> = []

    init(store: any OverflowStore) {
        self.store = store
    }

    /// Journaled activations this run still holds.
    var journaledCount: Int { sequences.count }

    /// Keeps a waiting activation. Returns nil when kept, or the reason it was refused (the
    /// broker answers it `overloaded`): a full budget, or a broken store.
    func append(_ header: RoutingHeader, payload: [UInt8], enqueuedAtMilliseconds: UInt64) -> String? {
        if let broken { return "overflow store broken: \(broken.message)" }
        do {
            sequences[header.activationID] = try store.append(header, payload: payload, enqueuedAtMilliseconds: enqueuedAtMilliseconds)
            dirty = true
            return nil
        } catch where error.code == .budgetExceeded {
            return "\(error)"
        } catch {
            // It may be on disk or not; nothing this run does with it is safe any more.
            breakStore(error)
            return "overflow store broken: \(error.message)"
        }
    }

    /// Records that an activation left the waiting queue (dispatched, expired or answered).
    /// Until the next successful `commit()`, `mustHold` is true for it.
    func consume(_ id: String) {
        guard broken == nil, let sequence = sequences[id] else { return }
        do {
            try store.markConsumed(sequence)
            sequences.removeValue(forKey: id)
            unsynced.insert(id)
            dirty = true
        } catch {
            breakStore(error)
        }
    }

    /// Whether a DISPATCH or ANSWER of `id` must wait for the next `commit()` (rule 1). Once
    /// the store is broken this is also true of every activation it withholds.
    func mustHold(_ id: String) -> Bool {
        guard !unsynced.isEmpty || broken != nil else { return false }
        return unsynced.contains(id) || (broken != nil && withheldEver.contains(id))
    }

    /// The result of a commit, for the loop.
    enum Commit: Equatable {
        /// Held messages may leave now.
        case durable
        /// The store broke (now or earlier): held messages must be dropped; `takeWithheld()`
        /// names the activations.
        case broken
    }

    /// Makes everything appended and consumed since the last commit durable with one sync.
    func commit() -> Commit {
        if broken != nil { return .broken }
        guard dirty else { return .durable }
        do {
            try store.sync()
            dirty = false
            unsynced.removeAll(keepingCapacity: true)
            return .durable
        } catch {
            breakStore(error)
            return .broken
        }
    }

    /// The activations withheld since the last call (rule 3), once each.
    func takeWithheld() -> [String] {
        guard !withheld.isEmpty else { return [] }
        defer { withheld.removeAll() }
        return withheld.sorted()
    }

    private func breakStore(_ error: OverflowStoreError) {
        guard broken == nil else { return }
        broken = error
        // Consumed but not synced: the mark may be lost, so neither send nor answer. Still
        // journaled: they stay in the store for the next run.
        withheld = unsynced.union(sequences.keys)
        withheldEver = withheld
        unsynced.removeAll()
        sequences.removeAll()
        dirty = false
        // Nothing buffered may reach the disk later (at close, say): a consume mark of a
        // withheld activation written after all would lose it for the next run too.
        store.abandon()
    }

    // MARK: Recovery

    /// What a previous run left in the store.
    struct Recovered {
        /// To queue again, in append order.
        var records: [OverflowRecord] = []
        /// The store cannot tell whether these were consumed: answer them, never run them.
        var uncertain: [RoutingHeader] = []
        /// Second records of an id already recovered (a consume mark lost to an OS crash under
        /// a lax fsync policy): retired without running.
        var duplicates = 0
    }

    /// Reads every unconsumed record, in order. Throws if the store cannot be read.
    func recover() throws(OverflowStoreError) -> Recovered {
        var result = Recovered()
        var after: UInt64?
        while true {
            let batch = try store.readBatch(after: after, limit: 1024)
            guard let last = batch.last else { break }
            after = last.sequence
            for record in batch {
                let id = record.header.activationID
                if sequences[id] != nil {
                    try store.markConsumed(record.sequence)
                    dirty = true
                    result.duplicates += 1
                    continue
                }
                sequences[id] = record.sequence
                if record.consumedUnknown {
                    result.uncertain.append(record.header)
                } else {
                    result.records.append(record)
                }
            }
        }
        return result
    }
}

extension Message {
    /// The activation a DISPATCH or ANSWER is about: the messages the journal may hold back.
    var journaledActivationID: String? {
        switch self {
        case .dispatch(let header): header.activationID
        case .answer(let answer): answer.activationID
        default: nil
        }
    }
}
