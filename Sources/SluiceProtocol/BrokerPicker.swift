/// How a controller of a cluster picks the broker for an activation (docs/PROTOCOL.md §9.3,
/// docs/CLUSTER.md). Pure: it sees only what the controller knows, each broker's last room
/// corrected by what the controller sent there and heard back since.
public enum BrokerPicker {
    public enum Rule: String, Sendable, CaseIterable {
        /// The action's home broker (rendezvous hash of the action over the serving brokers)
        /// while it has room and its load is within `affinityBound` times the mean; else the
        /// least loaded. Keeps an action's warm containers in one broker's share.
        case actionAffinity = "action-affinity"
        /// Two brokers at random; the one with more room.
        case powerOfTwo = "power-of-two"
    }

    /// What a controller knows of one serving broker.
    public struct Estimate: Sendable, Equatable {
        public var brokerID: String
        /// Its last advertised room (§9.3); nil until the first one arrives.
        public var room: Room?
        /// ACTIVATEs sent there since that room, and ANSWERs heard from there since.
        public var sentSince: Int
        public var answeredSince: Int

        public init(brokerID: String, room: Room?, sentSince: Int = 0, answeredSince: Int = 0) {
            self.brokerID = brokerID
            self.room = room
            self.sentSince = sentSince
            self.answeredSince = answeredSince
        }

        /// Free slots less waiting work, as the controller estimates it now.
        public var estimatedRoom: Int {
            guard let room else { return 0 }
            return room.available - sentSince + answeredSince
        }

        /// Share of its slots taken (above 1: work waits there). A broker without invokers
        /// (no slots) is infinitely loaded: work sent there could only wait.
        public var load: Double {
            let slots = Int(room?.slots ?? 0)
            guard slots > 0 else { return .infinity }
            return Double(slots - estimatedRoom) / Double(slots)
        }
    }

    /// How far over the mean load a home broker may be before its actions go elsewhere
    /// (1.25, 1.5 and 2 were measured: docs/CLUSTER.md, "What partitioning costs").
    public static let affinityBound = 1.5

    /// The index in `brokers` to send an activation of `action` to; nil when `brokers` is empty.
    public static func pick(action: String, among brokers: [Estimate], rule: Rule,
                            using random: inout some RandomNumberGenerator) -> Int? {
        guard !brokers.isEmpty else { return nil }
        guard brokers.count > 1 else { return 0 }
        switch rule {
        case .powerOfTwo:
            let first = Int.random(in: 0..<brokers.count, using: &random)
            var second = Int.random(in: 0..<(brokers.count - 1), using: &random)
            if second >= first { second += 1 }
            let (a, b) = (brokers[first].estimatedRoom, brokers[second].estimatedRoom)
            return a == b ? min(first, second) : (a > b ? first : second)
        case .actionAffinity:
            let home = self.home(of: action, among: brokers.map(\.brokerID))
            let loads = brokers.map(\.load)
            let mean = loads.reduce(0, +) / Double(loads.count)
            if loads[home] <= max(mean * affinityBound, 1e-9) && brokers[home].estimatedRoom > 0 { return home }
            var best = home
            for index in brokers.indices where loads[index] < loads[best] { best = index }
            return best
        }
    }

    /// The broker with the highest rendezvous hash of (`key`, broker id): when a broker joins
    /// or leaves, only the actions homed on it move.
    public static func home(of key: String, among brokerIDs: [String]) -> Int {
        var best = 0
        var bestScore: UInt64 = 0
        for (index, id) in brokerIDs.enumerated() {
            let score = mix(StableHash.fnv1a(key) ^ StableHash.fnv1a(id) &* 0x9E37_79B9_7F4A_7C15)
            if index == 0 || score > bestScore || (score == bestScore && id < brokerIDs[best]) {
                best = index
                bestScore = score
            }
        }
        return best
    }

    /// A finaliser (splitmix64) so that neighbouring inputs spread.
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
