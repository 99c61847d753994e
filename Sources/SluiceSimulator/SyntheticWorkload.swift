#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A synthetic workload shaped like the public Azure Functions trace (Shahrad et al., ATC'20):
///
/// - **Popularity** is heavily skewed: each action's share of the requests is a lognormal
///   weight (`popularitySigma`; 0 gives every action the same share, the balanced mix).
/// - **Durations** are lognormal across actions: each action's median execution time is
///   `exp(durationMu + durationSigma * z)` seconds with z standard normal (the published fit is
///   about mu -0.38, sigma 2.36), cut at the time limit; one activation varies around its
///   action's median by `jitterSigma`.
/// - **Arrivals** are Poisson per minute; a `burstyShare` of the actions are bursty: each
///   minute is "on" with probability `burstOnProbability` (rate multiplied so the mean stays
///   the same) and otherwise runs at `burstOffFactor` of the mean rate.
///
/// The same seed gives the same actions and counts. Actions are drawn from their own stream,
/// so two specs that differ only in `durationSigma` use the same z per action (common random
/// numbers: a sweep over the spread changes nothing else).
public struct SyntheticWorkload: Sendable {
    public var actions = 50
    public var namespaces = 10
    public var popularitySigma = 2.0
    public var durationMu = -0.38
    public var durationSigma = 2.36
    public var jitterSigma = 0.25
    public var timeLimitSeconds = 60.0
    public var minimumSeconds = 0.001
    public var memoryMB: UInt32 = 256
    public var burstyShare = 0.2
    public var burstOnProbability = 0.25
    public var burstOffFactor = 0.1
    public var minutes = 6
    public var seed: UInt64 = 1

    public init() {}

    /// The actions and each one's share of the requests (sums to 1).
    public func profiles() -> (actions: [SimulatedAction], shares: [Double], bursty: [Bool]) {
        var random = SimulationRandom(seed: seed &* 0x9E37_79B9 &+ 17)
        var actionsOut: [SimulatedAction] = []
        var weights: [Double] = []
        var bursty: [Bool] = []
        for index in 0..<actions {
            let z = random.normal()
            let popularity = random.normal()
            let burst = random.uniform()
            let namespace = "ns\(index % max(namespaces, 1))"
            let median = min(max(exp(durationMu + durationSigma * z), minimumSeconds), timeLimitSeconds)
            actionsOut.append(SimulatedAction(name: "\(namespace)/fn\(index)", namespace: namespace, medianSeconds: median,
                                              jitterSigma: jitterSigma, timeLimitSeconds: timeLimitSeconds, memoryMB: memoryMB))
            weights.append(exp(popularitySigma * popularity))
            bursty.append(burst < burstyShare)
        }
        let total = weights.reduce(0, +)
        return (actionsOut, weights.map { $0 / total }, bursty)
    }

    /// Requests per second that offer `utilisation` of `cores` (expected CPU demand / cores).
    public func requestRate(forUtilisation utilisation: Double, cores: Int) -> Double {
        let (actions, shares, _) = profiles()
        let meanWork = zip(actions, shares).reduce(0) { $0 + $1.0.meanSeconds * $1.1 }
        return utilisation * Double(cores) / meanWork
    }

    /// Invocation counts per action per minute at `requestRate` requests per second.
    public func countsPerMinute(requestRate: Double) -> [[Int]] {
        let (_, shares, bursty) = profiles()
        var random = SimulationRandom(seed: seed &* 0xD1B5_4A32_D192_ED03 &+ UInt64(requestRate * 1000))
        let onFactor = (1 - burstOffFactor * (1 - burstOnProbability)) / burstOnProbability
        return shares.indices.map { index in
            (0..<minutes).map { _ in
                var perMinute = shares[index] * requestRate * 60
                if bursty[index] { perMinute *= random.uniform() < burstOnProbability ? onFactor : burstOffFactor }
                return random.poisson(perMinute)
            }
        }
    }

    /// The workload at `requestRate` requests per second.
    public func workload(requestRate: Double) -> Workload {
        Workload(actions: profiles().actions, countsPerMinute: countsPerMinute(requestRate: requestRate), seed: seed)
    }
}
