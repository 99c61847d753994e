/// A named preset: a cluster, workloads and what to vary. `sluice simulate --scenario NAME`.
public enum ScenarioName: String, Sendable, CaseIterable, Codable {
    /// The setup of the published Hermod evaluation: 8 invokers with 12 cores, 20-minute
    /// keep-alive, 1 s cold start, 50 actions in a balanced and a skewed mix, load swept.
    case hermod
    /// OpenWhisk micro: 2-10 ms actions on 10 invokers; two heavy actions share a home invoker
    /// under openwhisk-sharding.
    case micro
    /// An invoker joins, then another drains and leaves, mid-run.
    case churn
    /// The spread of execution times across actions swept at a fixed load.
    case variance
}

/// One workload of a scenario, with the label and the x value it is reported under.
public struct ScenarioPoint: Sendable {
    public var series: String
    public var label: String
    public var x: Double
    public var workload: Workload
    public var duration: Double
    public var settings: SimulationSettings
}

/// Builds the workloads of each preset. `scale` shortens runs (1: the documented length).
public struct Scenarios: Sendable {
    public var seed: UInt64
    /// Multiplies every run's length (the warm-up stays).
    public var scale: Double
    /// Offered utilisations of the Hermod load sweep.
    public var hermodLoads: [Double] = [0.2, 0.4, 0.6, 0.7, 0.8, 0.9, 1.0]
    public var varianceSigmas: [Double] = [0.5, 1.0, 1.5, 2.36, 3.0]
    /// Broker nodes sharing each scenario's invokers (`sluice simulate --brokers`).
    public var brokers = 1
    public var brokerChoice = BrokerChoice.actionAffinity

    public init(seed: UInt64 = 1, scale: Double = 1) {
        self.seed = seed
        self.scale = scale
    }

    public static func hermodCluster() -> ClusterModel {
        var cluster = ClusterModel()
        cluster.invokers = 8
        cluster.cores = 12
        cluster.memoryMB = 8192            // 32 slots of 256 MB per 12 cores
        cluster.coldStartSeconds = 1...1
        cluster.keepAliveSeconds = 1200
        return cluster
    }

    func minutes(_ base: Int) -> Int { max(2, Int((Double(base) * scale).rounded())) }

    func hermodSettings() -> SimulationSettings {
        var settings = SimulationSettings()
        settings.cluster = Self.hermodCluster()
        settings.warmUpSeconds = 60
        settings.seed = seed
        return settings
    }

    func mix(skewed: Bool, minutes: Int) -> SyntheticWorkload {
        var synthetic = SyntheticWorkload()
        synthetic.actions = 50
        synthetic.popularitySigma = skewed ? 2.0 : 0
        synthetic.burstyShare = skewed ? 0.2 : 0
        synthetic.minutes = minutes
        synthetic.seed = seed
        return synthetic
    }

    public func points(_ scenario: ScenarioName) -> [ScenarioPoint] {
        switch scenario {
        case .hermod: return hermod()
        case .micro: return [micro()]
        case .churn: return [churn()]
        case .variance: return variance()
        }
    }

    func hermod() -> [ScenarioPoint] {
        let settings = hermodSettings()
        let cores = settings.cluster.cores * settings.cluster.invokers
        let length = minutes(6)
        return [false, true].flatMap { (skewed: Bool) -> [ScenarioPoint] in
            let synthetic = mix(skewed: skewed, minutes: length)
            return hermodLoads.map { (load: Double) -> ScenarioPoint in
                let rate = synthetic.requestRate(forUtilisation: load, cores: cores)
                return ScenarioPoint(series: skewed ? "skewed" : "balanced", label: "load \(Int(load * 100))%", x: load,
                                     workload: synthetic.workload(requestRate: rate), duration: Double(length * 60),
                                     settings: settings)
            }
        }
    }

    func micro() -> ScenarioPoint {
        var cluster = ClusterModel()
        cluster.invokers = 10
        cluster.cores = 4
        cluster.memoryMB = 4096            // 16 slots (and containers) of 256 MB per 4 cores
        cluster.coldStartSeconds = 0.2...1.0
        cluster.keepAliveSeconds = 600
        var settings = SimulationSettings()
        settings.cluster = cluster
        // Rates ramp up linearly over the first 10 s, so containers are created as the load
        // grows instead of in one storm (0.2-1 s cold starts against 6 ms actions); measured
        // from 15 s on.
        let ramp = 10.0
        settings.warmUpSeconds = 15
        settings.seed = seed
        // Managed actions use the first ceil(0.9 * 10) = 9 positions (the broker's default split).
        let share = settings.eligibility.managedCount(positions: cluster.invokers)
        let heavy = Self.collidingPair(share: share)
        var actions: [SimulatedAction] = []
        var rates: [Double] = []
        var random = SimulationRandom(seed: seed ^ 0x3A1C_40)
        for name in [heavy.0, heavy.1] {
            actions.append(SimulatedAction(name: "guest/\(name)", namespace: "guest", medianSeconds: 0.006, jitterSigma: 0.3,
                                           timeLimitSeconds: 60))
            rates.append(Self.microHeavyRate)
        }
        for index in 0..<10 {
            let namespace = "ns\(index % 5)"
            actions.append(SimulatedAction(name: "\(namespace)/light\(index)", namespace: namespace,
                                           medianSeconds: random.uniform(in: 0.002...0.010), jitterSigma: 0.3, timeLimitSeconds: 60))
            rates.append(random.lognormal(mu: log(5), sigma: 1.0))
        }
        let seconds = max(25, 45 * scale)
        var arrivals: [Arrival] = []
        for (index, rate) in rates.enumerated() {
            // Poisson arrivals: exponential gaps.
            var time = -log(max(random.uniform(), 1e-300)) / rate
            while time < seconds {
                let work = Workload.drawWork(actions[index], &random)
                if random.uniform() < min(1, time / ramp) {
                    arrivals.append(Arrival(time: time, action: Int32(index), work: work))
                }
                time += -log(max(random.uniform(), 1e-300)) / rate
            }
        }
        return ScenarioPoint(series: "micro", label: "heavy 2x\(Int(Self.microHeavyRate))/s", x: 0, workload: Workload(actions: actions, arrivals: arrivals),
                             duration: seconds, settings: settings)
    }

    /// Requests per second of each heavy action of the micro scenario: together about 4.8 cores
    /// of work, more than their shared home invoker's 4.
    public static let microHeavyRate = 400.0

    /// Two action names of namespace `guest` with the same OpenWhisk home among `share` invokers.
    public static func collidingPair(share: Int) -> (String, String) {
        let first = "hot-a"
        let home = SimulatorStrategies.openWhiskHome(namespace: "guest", action: "guest/\(first)", count: share)
        var index = 0
        while SimulatorStrategies.openWhiskHome(namespace: "guest", action: "guest/hot-b\(index)", count: share) != home { index += 1 }
        return (first, "hot-b\(index)")
    }

    func churn() -> ScenarioPoint {
        var settings = hermodSettings()
        let length = minutes(9)
        let seconds = Double(length * 60)
        settings.churn = ChurnPlan(joinAt: seconds / 3, drainAt: 2 * seconds / 3, leaverIndex: 3)
        let synthetic = mix(skewed: true, minutes: length)
        let rate = synthetic.requestRate(forUtilisation: 0.6, cores: settings.cluster.cores * settings.cluster.invokers)
        return ScenarioPoint(series: "churn", label: "load 60%, +1 at \(Int(seconds / 3)) s, -1 at \(Int(2 * seconds / 3)) s", x: 0.6,
                             workload: synthetic.workload(requestRate: rate), duration: seconds, settings: settings)
    }

    func variance() -> [ScenarioPoint] {
        let settings = hermodSettings()
        let length = minutes(6)
        return varianceSigmas.map { (sigma: Double) -> ScenarioPoint in
            var synthetic = mix(skewed: true, minutes: length)
            synthetic.durationSigma = sigma
            let rate = synthetic.requestRate(forUtilisation: 0.7, cores: settings.cluster.cores * settings.cluster.invokers)
            return ScenarioPoint(series: "variance", label: "sigma \(sigma)", x: sigma, workload: synthetic.workload(requestRate: rate),
                                 duration: Double(length * 60), settings: settings)
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
