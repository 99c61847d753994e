import SluicePluginAPI
import SluiceProtocol

/// OpenWhisk's `ShardingContainerPoolBalancer` placement, reproduced so Sluice can be compared
/// with (and behave like) the controller it replaces.
///
/// - Hash: `abs(hashCode(namespace) XOR hashCode(action))`, with Java's `String.hashCode`
///   over UTF-16 code units. `namespace` is the invoking namespace of the routing header and
///   `action` the fully qualified name without version (`namespace/[package/]name`), the two
///   strings OpenWhisk hashes.
/// - Share: like OpenWhisk, a managed action probes only the managed positions (the first
///   `EligibilityPolicy.managedCount` of them) and a blackbox action only the blackbox
///   positions (the last `blackboxCount`); `n` is the size of that share, counted over every
///   position ever given out (OpenWhisk keeps offline invokers in its list too). A namespace
///   with dedicated invokers (a Sluice addition OpenWhisk's balancer does not know) ignores the
///   split, so it probes all positions.
/// - Home: `hash % n`. Step: `stepSizes[hash % stepSizes.count]`, where the step sizes are
///   OpenWhisk's `pairwiseCoprimeNumbersUntil(n)`. Probe order: home, home + step,
///   home + 2 * step, ... modulo `n`, which visits each of the `n` positions once
///   (n = 10, hash = 13: 3, 6, 9, 2, 5, 8, 1, 4, 7, 0).
/// - The first probed invoker that is eligible (`ClusterView.isEligible`: healthy, of the
///   right kind, a free slot and the action's memory free) gets the activation. This is
///   OpenWhisk's memory permit check, made against the invoker's whole capacity: Sluice has one
///   broker, so there is no per-controller split to honour.
/// - `controllers` > 1 emulates the static split the redesign removes: each of that many
///   controllers owns `memoryMB / controllers` of every invoker (at least 128 MB, OpenWhisk's
///   minimum action memory), and an invoker has room only if its memory in flight plus the
///   action's memory fits in that share.
/// - All full: with `force-when-full` (the default, as in OpenWhisk) the activation is forced
///   onto a random invoker of the share that `ClusterView.isAllowed` accepts (healthy, not
///   draining, right kind) and that could ever hold it (memory at least the action's); the
///   random choice is seeded (`seed`). With none such, or without `force-when-full`, it waits.
///   Forcing over-commits the invoker and breaks late binding: it is here for comparisons.
///
/// Cost: O(1) typical (the home invoker has room), O(n) when every probed invoker is full;
/// step sizes are cached per share size and recomputed when the position count changes.
public struct OpenWhiskShardingStrategy: RoutingStrategy {
    public static let name = "openwhisk-sharding"

    /// OpenWhisk's minimum action memory, the floor of a controller's share of an invoker.
    public static let minimumActionMemoryMB: UInt32 = 128

    /// Parameters: `controllers` (1...1000, default 1), `force-when-full` (default true),
    /// `seed` (default 1).
    public static let factory = StrategyFactory(
        name: name, summary: "OpenWhisk's hash-based home invoker with coprime-step probing; forces onto a random invoker when all are full",
        parameters: [
            (name: "controllers", description: "emulate OpenWhisk's static split of every invoker between this many controllers (1: no split)"),
            (name: "force-when-full", description: "when every invoker is full, force onto a random allowed invoker instead of waiting (default true)"),
            (name: "seed", description: "seed of the random choice of forced placements (default 1)"),
        ]
    ) { (parameters: StrategyParameters) throws(ParameterError) -> any RoutingStrategy in
        try parameters.rejectUnknown(["controllers", "force-when-full", "seed"])
        return OpenWhiskShardingStrategy(
            controllers: try parameters.int("controllers", default: 1, range: 1...1000),
            forceWhenFull: try parameters.bool("force-when-full", default: true),
            seed: UInt64(try parameters.int("seed", default: 1, range: 0...Int.max)))
    }

    /// Number of controllers whose static capacity split is emulated; 1 means none.
    public let controllers: Int
    /// Whether to force onto a random allowed invoker when every probed invoker is full.
    public let forceWhenFull: Bool
    private var generator: SeededGenerator
    /// Step sizes by share size, valid for `cachedPositionCount` positions.
    private var stepSizeCache: [Int: [Int]] = [:]
    private var cachedPositionCount = -1

    public init(controllers: Int = 1, forceWhenFull: Bool = true, seed: UInt64 = 1) {
        self.controllers = max(1, controllers)
        self.forceWhenFull = forceWhenFull
        self.generator = SeededGenerator(seed: seed)
    }

    public mutating func place(_ request: PlacementRequest, in cluster: ClusterView) -> PlacementDecision {
        let share = Self.share(for: request.header, in: cluster)
        let count = share.count
        guard count > 0 else { return .wait }
        let steps = stepSizes(count: count, positionCount: cluster.positionCount)
        let hash = Self.generateHash(namespace: request.header.namespace, action: request.header.action)
        let step = steps[hash % steps.count]
        var index = hash % count
        for _ in 0..<count {
            let position = share.lowerBound + index
            if hasRoom(position, for: request, in: cluster) {
                return .place(invokerID: cluster.invokers[position]!.id)
            }
            index = (index + step) % count
        }
        guard forceWhenFull else { return .wait }
        var candidates: [String] = []
        for position in share {
            guard let invoker = cluster.invokers[position] else { continue }
            if invoker.slots > 0, invoker.memoryMB >= request.header.memoryMB, cluster.isAllowed(invoker, for: request) {
                candidates.append(invoker.id)
            }
        }
        guard !candidates.isEmpty else { return .wait }
        return .force(invokerID: candidates[Int.random(in: 0..<candidates.count, using: &generator)])
    }

    /// Eligible, and, when a controller split is emulated, within this controller's share.
    private func hasRoom(_ position: Int, for request: PlacementRequest, in cluster: ClusterView) -> Bool {
        guard cluster.isEligible(position, for: request) else { return false }
        guard controllers > 1, let invoker = cluster.invokers[position] else { return true }
        let share = max(invoker.memoryMB / UInt32(controllers), Self.minimumActionMemoryMB)
        let used = invoker.memoryMB - min(invoker.freeMemoryMB, invoker.memoryMB)
        return UInt64(used) + UInt64(request.header.memoryMB) <= UInt64(share)
    }

    private mutating func stepSizes(count: Int, positionCount: Int) -> [Int] {
        if positionCount != cachedPositionCount {
            stepSizeCache = [:]
            cachedPositionCount = positionCount
        }
        if let cached = stepSizeCache[count] { return cached }
        let computed = Self.pairwiseCoprimeNumbers(upTo: count)
        stepSizeCache[count] = computed
        return computed
    }

    /// The positions OpenWhisk would probe for `header`: the managed share (from the front),
    /// the blackbox share (from the back), or all positions for a namespace with dedicated
    /// invokers. Empty without positions.
    public static func share(for header: RoutingHeader, in cluster: ClusterView) -> Range<Int> {
        let positions = cluster.positionCount
        guard positions > 0 else { return 0..<0 }
        if cluster.dedicatedNamespaceCounts[header.namespace, default: 0] > 0 { return 0..<positions }
        if header.blackbox {
            return (positions - min(positions, cluster.policy.blackboxCount(positions: positions)))..<positions
        }
        return 0..<min(positions, cluster.policy.managedCount(positions: positions))
    }

    /// Java's `String.hashCode`: `h = 31 * h + c` over UTF-16 code units, wrapping in 32 bits.
    public static func javaHashCode(_ string: String) -> Int32 {
        var hash: Int32 = 0
        for unit in string.utf16 {
            hash = 31 &* hash &+ Int32(unit)
        }
        return hash
    }

    /// OpenWhisk's `generateHash`: `abs(hashCode(namespace) XOR hashCode(action))`, never
    /// negative. Where Java's `abs(Int.MinValue)` stays negative (one hash in 2^32, on which
    /// OpenWhisk would index out of range), this gives 2^31.
    public static func generateHash(namespace: String, action: String) -> Int {
        Int((javaHashCode(namespace) ^ javaHashCode(action)).magnitude)
    }

    /// OpenWhisk's `pairwiseCoprimeNumbersUntil(n)`: the numbers 1...n coprime with `n` and with
    /// every number already chosen (n = 10: 1, 3, 7).
    public static func pairwiseCoprimeNumbers(upTo n: Int) -> [Int] {
        guard n >= 1 else { return [] }
        var chosen: [Int] = []
        for candidate in 1...n where gcd(candidate, n) == 1 && chosen.allSatisfy({ gcd($0, candidate) == 1 }) {
            chosen.append(candidate)
        }
        return chosen
    }

    /// The probe order over a share of `count` positions (indices 0..<count within the share)
    /// for `hash`: home `hash % count`, then steps of `stepSizes[hash % stepSizes.count]`.
    /// n = 10, hash = 13 gives 3, 6, 9, 2, 5, 8, 1, 4, 7, 0.
    public static func probeOrder(hash: Int, count: Int) -> [Int] {
        guard count > 0, hash >= 0 else { return [] }
        let steps = pairwiseCoprimeNumbers(upTo: count)
        let step = steps[hash % steps.count]
        var index = hash % count
        var order: [Int] = []
        order.reserveCapacity(count)
        for _ in 0..<count {
            order.append(index)
            index = (index + step) % count
        }
        return order
    }

    private static func gcd(_ a: Int, _ b: Int) -> Int {
        var (a, b) = (a, b)
        while b != 0 { (a, b) = (b, a % b) }
        return a
    }
}
