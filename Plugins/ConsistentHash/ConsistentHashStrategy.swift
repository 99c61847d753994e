import SluicePluginAPI
import SluiceProtocol

/// Consistent hashing with bounded loads (Mirrokni, Thorup and Zadimoghaddam, 2018): each
/// action keeps going to the same invoker, for warm containers, unless that invoker carries
/// more than its fair share, and adding or removing an invoker moves only about 1/n of the
/// actions.
///
/// - Ring: `virtual-nodes` points per invoker id (default 100), each a stable 64-bit hash of
///   `"<id>#<k>"` (FNV-1a 64, then a SplitMix64 finalizer), sorted. The ring holds the
///   invokers the strategy was told about (`invokerJoined` / `invokerLeft`) and is rebuilt
///   lazily at the next decision after a change. If it is empty while the view has invokers
///   (no notifications), it is built from the view.
/// - Key: the same hash of the fully qualified action name (`namespace/[package/]name`).
/// - Bound: an invoker may take the activation only if its `inFlight + 1` is at most
///   `max(min-bound, ceil(load-factor * (totalInFlight + 1) / registeredCount))` (default
///   `load-factor` 1.25, `min-bound` 1), and it is eligible (`ClusterView.isEligible`). At low
///   load the paper's bound is 1 or 2, so a second concurrent activation of an action already
///   leaves its home invoker; `min-bound` lets a home invoker keep that many regardless.
/// - Walk clockwise from the key's point, looking at each distinct invoker once and skipping
///   those not in the current view; the first that passes gets the activation. If none
///   passes, the activation waits: the bound is never exceeded.
///
/// Cost: O(log(n * v)) typical (binary search, then the first invoker passes); worst case a
/// walk around the ring, O(n * v) for v virtual nodes. Rebuilding the ring costs
/// O(n * v * log(n * v)), once per batch of membership changes.
public struct ConsistentHashStrategy: RoutingStrategy {
    public static let name = "consistent-hash"

    /// Parameters: `virtual-nodes` (1...1000, default 100), `load-factor` (1.0...10.0,
    /// default 1.25), `min-bound` (1...10,000, default 1: the paper's bound alone).
    public static let factory = StrategyFactory(
        name: name, summary: "consistent hashing of the action with bounded loads: sticky per action, never above load-factor times the average",
        parameters: [
            (name: "virtual-nodes", description: "points on the ring per invoker (default 100)"),
            (name: "load-factor", description: "no invoker takes more than this times the average in-flight count, rounded up (default 1.25)"),
            (name: "min-bound", description: "an invoker may always take this many, whatever the average (default 1)"),
        ]
    ) { (parameters: StrategyParameters) throws(ParameterError) -> any RoutingStrategy in
        try parameters.rejectUnknown(["virtual-nodes", "load-factor", "min-bound"])
        return ConsistentHashStrategy(
            virtualNodes: try parameters.int("virtual-nodes", default: 100, range: 1...1000),
            loadFactor: try parameters.double("load-factor", default: 1.25, range: 1.0...10.0),
            minBound: try parameters.int("min-bound", default: 1, range: 1...10_000))
    }

    public let virtualNodes: Int
    public let loadFactor: Double
    public let minBound: Int

    private struct Point {
        var hash: UInt64
        /// Index into `ringIDs`.
        var member: Int32
    }

    /// Invoker ids on the ring, as told by notifications.
    private var members: Set<String> = []
    /// Sorted by hash (ties by member), built from `ringIDs`.
    private var ring: [Point] = []
    /// The members when `ring` was built, sorted.
    private var ringIDs: [String] = []
    private var ringIsCurrent = true
    /// Last known position of each invoker id; checked against the view before use.
    private var positionByID: [String: Int] = [:]

    public init(virtualNodes: Int = 100, loadFactor: Double = 1.25, minBound: Int = 1) {
        self.virtualNodes = max(1, virtualNodes)
        self.loadFactor = loadFactor >= 1 ? loadFactor : 1
        self.minBound = max(1, minBound)
    }

    public mutating func invokerJoined(_ invoker: InvokerSnapshot) {
        positionByID[invoker.id] = invoker.position
        if members.insert(invoker.id).inserted { ringIsCurrent = false }
    }

    public mutating func invokerLeft(_ invoker: InvokerSnapshot) {
        positionByID[invoker.id] = nil
        if members.remove(invoker.id) != nil { ringIsCurrent = false }
    }

    public mutating func invokerChanged(_ invoker: InvokerSnapshot) {
        if members.contains(invoker.id) { positionByID[invoker.id] = invoker.position }
    }

    public mutating func place(_ request: PlacementRequest, in cluster: ClusterView) -> PlacementDecision {
        guard cluster.registeredCount > 0 else { return .wait }
        if members.isEmpty {
            for (position, invoker) in cluster.invokers.enumerated() {
                guard let invoker else { continue }
                members.insert(invoker.id)
                positionByID[invoker.id] = position
            }
            ringIsCurrent = false
        }
        if !ringIsCurrent { rebuildRing() }
        guard !ring.isEmpty else { return .wait }

        let bound = max(minBound, Self.loadBound(loadFactor: loadFactor, totalInFlight: cluster.totalInFlight,
                                                 registeredCount: cluster.registeredCount))
        var index = Self.firstIndex(atOrAfter: Self.hash64(request.header.action), in: ring)
        var refreshed = false
        var firstSeen: Int32 = -1
        var seen: Set<Int32> = []
        var distinct = 0
        for _ in 0..<ring.count {
            let member = ring[index].member
            index += 1
            if index == ring.count { index = 0 }
            if member == firstSeen || seen.contains(member) { continue }
            if firstSeen < 0 { firstSeen = member } else { seen.insert(member) }
            distinct += 1
            let id = ringIDs[Int(member)]
            if let position = position(of: id, in: cluster, refreshed: &refreshed),
               cluster.invokers[position]!.inFlight + 1 <= bound,
               cluster.isEligible(position, for: request) {
                return .place(invokerID: id)
            }
            if distinct == ringIDs.count { break }
        }
        return .wait
    }

    /// `ceil(loadFactor * (totalInFlight + 1) / registeredCount)`: the most activations one
    /// invoker may have in flight once the one being placed is added.
    public static func loadBound(loadFactor: Double, totalInFlight: Int, registeredCount: Int) -> Int {
        guard registeredCount > 0 else { return 0 }
        return Int((loadFactor * Double(totalInFlight + 1) / Double(registeredCount)).rounded(.up))
    }

    /// The point of `string` on the ring: FNV-1a 64 of its UTF-8 bytes, then SplitMix64's
    /// finalizer to spread nearby inputs.
    public static func hash64(_ string: String) -> UInt64 {
        finalize(fnv1a(string.utf8, from: fnvOffset))
    }

    /// The point of virtual node `k` of invoker `id`: `hash64("<id>#<k>")`.
    public static func virtualNodePoint(id: String, k: Int) -> UInt64 {
        virtualNodePoint(prefix: fnv1a(id.utf8, from: fnvOffset), k: k)
    }

    // MARK: - Internals

    private static let fnvOffset: UInt64 = 0xCBF2_9CE4_8422_2325
    private static let fnvPrime: UInt64 = 0x0000_0100_0000_01B3

    private static func fnv1a<Bytes: Sequence>(_ bytes: Bytes, from state: UInt64) -> UInt64 where Bytes.Element == UInt8 {
        var hash = state
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= fnvPrime
        }
        return hash
    }

    /// Continues the FNV-1a state of an id with `"#"` and the decimal digits of `k`.
    private static func virtualNodePoint(prefix: UInt64, k: Int) -> UInt64 {
        var hash = (prefix ^ UInt64(UInt8(ascii: "#"))) &* fnvPrime
        let k = max(0, k)
        var divisor = 1
        while divisor <= k / 10 { divisor *= 10 }
        repeat {
            hash = (hash ^ UInt64(UInt8(ascii: "0") + UInt8((k / divisor) % 10))) &* fnvPrime
            divisor /= 10
        } while divisor > 0
        return finalize(hash)
    }

    private static func finalize(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    private mutating func rebuildRing() {
        ringIDs = members.sorted()
        var points: [Point] = []
        points.reserveCapacity(ringIDs.count * virtualNodes)
        for (member, id) in ringIDs.enumerated() {
            let prefix = Self.fnv1a(id.utf8, from: Self.fnvOffset)
            for k in 0..<virtualNodes {
                points.append(Point(hash: Self.virtualNodePoint(prefix: prefix, k: k), member: Int32(member)))
            }
        }
        points.sort { $0.hash != $1.hash ? $0.hash < $1.hash : $0.member < $1.member }
        ring = points
        ringIsCurrent = true
    }

    /// Index of the first point at or after `key`, wrapping to 0. O(log(n * v)).
    private static func firstIndex(atOrAfter key: UInt64, in ring: [Point]) -> Int {
        var low = 0
        var high = ring.count
        while low < high {
            let middle = (low + high) / 2
            if ring[middle].hash < key { low = middle + 1 } else { high = middle }
        }
        return low == ring.count ? 0 : low
    }

    /// The position of `id` in this view, or nil if it is not there. Uses the remembered
    /// position when the view agrees; otherwise re-reads every position of the view, at most
    /// once per decision (O(n)), which happens only when invokers moved or left unannounced.
    private mutating func position(of id: String, in cluster: ClusterView, refreshed: inout Bool) -> Int? {
        if let position = positionByID[id], position < cluster.invokers.count, cluster.invokers[position]?.id == id {
            return position
        }
        guard !refreshed else { return nil }
        refreshed = true
        positionByID = [:]
        for (position, invoker) in cluster.invokers.enumerated() {
            if let invoker { positionByID[invoker.id] = position }
        }
        if let position = positionByID[id], position < cluster.invokers.count, cluster.invokers[position]?.id == id {
            return position
        }
        return nil
    }
}
