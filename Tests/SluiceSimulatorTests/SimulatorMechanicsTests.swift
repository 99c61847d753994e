import SluicePluginAPI
import SluiceProtocol
import SluiceSimulator
import Testing
import SluiceStrategies

// Tiny hand-computed cases: one or two invokers, known arrivals, fixed cold starts.
// Every expected number below is worked out in the comment next to it.

/// One invoker with `cores` cores and `containers` x 256 MB of memory (as many slots), a fixed
/// 0.5 s cold start, ticks every 0.1 s.
func settings(cores: Int = 1, containers: UInt32 = 2, invokers: Int = 1, keepAlive: Double = 1000,
              maxWaitingAge: Double = 60) -> SimulationSettings {
    var settings = SimulationSettings()
    settings.cluster.invokers = invokers
    settings.cluster.cores = cores
    settings.cluster.memoryMB = 256 * containers
    settings.cluster.coldStartSeconds = 0.5...0.5
    settings.cluster.keepAliveSeconds = keepAlive
    settings.maxWaitingAgeSeconds = maxWaitingAge
    return settings
}

func actions(_ names: [String]) -> [SimulatedAction] {
    names.map { SimulatedAction(name: "guest/\($0)", namespace: "guest", medianSeconds: 1) }
}

func arrivals(_ list: [(Double, Int32, Double)]) -> [Arrival] { list.map { Arrival(time: $0.0, action: $0.1, work: $0.2) } }

func strategy(_ name: String, _ parameters: [String: String] = [:]) throws -> any RoutingStrategy {
    try BuiltInStrategies.registry.make(name, parameters: parameters)
}

func close(_ actual: Double?, _ expected: Double, tolerance: Double = 1e-6) -> Bool {
    guard let actual else { return false }
    return abs(actual - expected) <= tolerance
}

@Suite struct ContainerTests {
    @Test func coldThenWarm() throws {
        // t=0: no container, cold start 0.5 s, runs 1 s alone: answered at 1.5.
        // t=10: the container is idle and warm: answered at 11.
        let workload = Workload(actions: actions(["a"]), arrivals: arrivals([(0, 0, 1), (10, 0, 1)]))
        let records = Simulator.trace(workload, settings: settings(), strategy: try strategy("least-loaded"))
        #expect(records.map(\.coldStart) == [true, false])
        #expect(close(records[0].latency, 1.5))
        #expect(close(records[1].latency, 1.0))
        #expect(records.allSatisfy { $0.kind == .success && $0.invoker == "invoker0" })
        let result = Simulator.run(workload, settings: settings(), strategy: try strategy("least-loaded"), duration: 20)
        #expect(result.containerCreations == 1 && result.evictions == 0 && result.coldStarts == 1)
        #expect(close(result.slowdownP50, 1.0) && close(result.slowdownP99, 1.5))
    }

    @Test func keepAliveEvictsIdleContainers() throws {
        // Keep-alive 5 s: idle from 1.5, evicted at the heartbeat at t=7 (1.5 <= 7 - 5).
        // t=20 starts cold again: latency 1.5. Two creations, one eviction.
        let workload = Workload(actions: actions(["a"]), arrivals: arrivals([(0, 0, 1), (20, 0, 1)]))
        let records = Simulator.trace(workload, settings: settings(keepAlive: 5), strategy: try strategy("least-loaded"))
        #expect(records.map(\.coldStart) == [true, true])
        #expect(close(records[1].latency, 1.5))
        let result = Simulator.run(workload, settings: settings(keepAlive: 5), strategy: try strategy("least-loaded"))
        #expect(result.containerCreations == 2 && result.evictions == 1)
    }

    @Test func leastRecentlyUsedIsEvictedUnderMemoryPressure() throws {
        // Room for two containers. a@0 cold, b@10 cold, a@20 warm (a last used 21, b 11.5),
        // c@30 cold evicts b (older), b@40 cold evicts a (21 < c's 31.5), c@50 warm.
        let workload = Workload(actions: actions(["a", "b", "c"]),
                                arrivals: arrivals([(0, 0, 1), (10, 1, 1), (20, 0, 1), (30, 2, 1), (40, 1, 1), (50, 2, 1)]))
        let records = Simulator.trace(workload, settings: settings(), strategy: try strategy("least-loaded"))
        #expect(records.map(\.coldStart) == [true, true, false, true, true, false])
        let result = Simulator.run(workload, settings: settings(), strategy: try strategy("least-loaded"))
        #expect(result.containerCreations == 4 && result.evictions == 2)
    }
}

@Suite struct ProcessorSharingTests {
    @Test func twoActivationsShareOneCore() throws {
        // Both cold until 0.5, then each runs at half speed: 1 s of work ends at 0.5 + 2 = 2.5.
        let workload = Workload(actions: actions(["a", "b"]), arrivals: arrivals([(0, 0, 1), (0, 1, 1)]))
        let records = Simulator.trace(workload, settings: settings(), strategy: try strategy("least-loaded"))
        #expect(records.allSatisfy { close($0.latency, 2.5) })
    }

    @Test func staggeredActivations() throws {
        // a: starts 0.5, alone until 1.5 (1 of 2 s done), then shares: 1 s more at half speed,
        // done at 3.5. b: starts 1.5, 1 s done by 3.5, alone for the last 1 s: done at 4.5.
        // Latencies: a 3.5, b 4.5 - 1.0 = 3.5.
        let workload = Workload(actions: actions(["a", "b"]), arrivals: arrivals([(0, 0, 2), (1, 1, 2)]))
        let records = Simulator.trace(workload, settings: settings(), strategy: try strategy("least-loaded"))
        #expect(close(records[0].answeredAt, 3.5))
        #expect(close(records[1].answeredAt, 4.5))
    }

    @Test func moreCoresThanActivationsMeansNoSlowdown() throws {
        // Two cores, two activations: each runs at full speed, done at 1.5.
        let workload = Workload(actions: actions(["a", "b"]), arrivals: arrivals([(0, 0, 1), (0, 1, 1)]))
        let records = Simulator.trace(workload, settings: settings(cores: 2), strategy: try strategy("least-loaded"))
        #expect(records.allSatisfy { close($0.latency, 1.5) })
    }
}

@Suite struct BrokerSemanticsTests {
    @Test func lateBindingWaitsForTheSlot() throws {
        // One slot. The second waits in the broker until the first completes at 1.5, then
        // reuses its now idle container: done at 2.5, latency 2.4, warm.
        let workload = Workload(actions: actions(["a"]), arrivals: arrivals([(0, 0, 1), (0.1, 0, 1)]))
        let records = Simulator.trace(workload, settings: settings(containers: 1), strategy: try strategy("least-loaded"))
        #expect(records.map(\.coldStart) == [true, false])
        #expect(close(records[1].answeredAt, 2.5))
        #expect(close(records[1].latency, 2.4))
    }

    @Test func waitingPastTheAgeLimitIsExpired() throws {
        // One slot held for 10.5 s; the second may wait 2 s: expired at the first tick at or
        // after 2.1 (ticks every 0.1 s, expiry wheel granularity 50 ms).
        let workload = Workload(actions: actions(["a"]), arrivals: arrivals([(0, 0, 10), (0.1, 0, 1)]))
        let records = Simulator.trace(workload, settings: settings(containers: 1, maxWaitingAge: 2), strategy: try strategy("least-loaded"))
        #expect(records[0].kind == .success)
        #expect(records[1].kind == .expired)
        #expect((records[1].answeredAt ?? 0) >= 2.1 - 1e-9 && (records[1].answeredAt ?? 99) <= 2.25)
        #expect(records[1].invoker == nil)
        let result = Simulator.run(workload, settings: settings(containers: 1, maxWaitingAge: 2), strategy: try strategy("least-loaded"))
        #expect(result.expired == 1 && result.succeeded == 1)
    }

    @Test func forcedPlacementQueuesInTheInvoker() throws {
        // openwhisk-sharding forces b onto the full invoker. b's container needs memory that a's
        // busy container holds, so b queues in the invoker until a ends at 1.5, evicts a's idle
        // container, starts cold (0.5) and runs 1 s: done at 3.0.
        let workload = Workload(actions: actions(["a", "b"]), arrivals: arrivals([(0, 0, 1), (0.1, 1, 1)]))
        let records = Simulator.trace(workload, settings: settings(containers: 1), strategy: try strategy("openwhisk-sharding"))
        #expect(close(records[1].answeredAt, 3.0))
        let result = Simulator.run(workload, settings: settings(containers: 1), strategy: try strategy("openwhisk-sharding"))
        #expect(result.forcedPlacements == 1 && result.evictions == 1 && result.containerCreations == 2)
    }

    @Test func warmReportsReachTheStrategy() throws {
        // Two invokers. The first activation goes to invoker0 (least loaded, lower position).
        // At t=10, warm-affinity learns from the COMPLETION's warm report that invoker0 is
        // warm and goes there (warm start); round-robin goes on to invoker1 (cold).
        let workload = Workload(actions: actions(["a"]), arrivals: arrivals([(0, 0, 1), (10, 0, 1)]))
        let warm = Simulator.trace(workload, settings: settings(invokers: 2), strategy: try strategy("warm-affinity"))
        #expect(warm.map(\.invoker) == ["invoker0", "invoker0"])
        #expect(warm.map(\.coldStart) == [true, false])
        let roundRobin = Simulator.trace(workload, settings: settings(invokers: 2), strategy: try strategy("round-robin"))
        #expect(roundRobin.map(\.coldStart) == [true, true])
        #expect(Set(roundRobin.compactMap(\.invoker)) == ["invoker0", "invoker1"])
    }
}

@Suite struct BackToBackTests {
    @Test("§4.12 two activations of one action back to back use two invokers' idle warm containers, not one container twice")
    func backToBackActivationsUseBothWarmContainers() throws {
        // Two invokers, four slots and cores each; warm-affinity packing (the busiest warm
        // candidate wins). t=0: two activations of "a" at once go one per invoker (nothing is
        // warm yet: least loaded), both cold; each invoker keeps one idle warm container of "a"
        // (reported with the COMPLETION). t=10: two more at the same instant, before any
        // report. The first takes invoker0's idle container (a tie, the lower position). The
        // broker counts that container as taken (§4.12), so the second goes to invoker1's idle
        // one: both warm. Counting invoker0's report twice would pack the second onto
        // invoker0, now the busier, where it needs a second container: a cold start (the wire
        // case of issue 18).
        let workload = Workload(actions: actions(["a"]), arrivals: arrivals([(0, 0, 1), (0, 0, 1), (10, 0, 1), (10, 0, 1)]))
        let records = Simulator.trace(workload, settings: settings(cores: 4, containers: 4, invokers: 2),
                                      strategy: try strategy("warm-affinity", ["pack": "true"]))
        #expect(records.map(\.coldStart) == [true, true, false, false])
        #expect(records.map { $0.invoker ?? "-" } == ["invoker0", "invoker1", "invoker0", "invoker1"])
    }
}

@Suite struct WorkloadTests {
    @Test func sameSeedSameNumbers() throws {
        var synthetic = SyntheticWorkload()
        synthetic.actions = 20
        synthetic.minutes = 2
        var run = settings(cores: 4, containers: 16, invokers: 3)
        run.cluster.coldStartSeconds = 0.2...1.0
        let first = Simulator.run(synthetic.workload(requestRate: 20), settings: run, strategy: try strategy("power-of-two"))
        let second = Simulator.run(synthetic.workload(requestRate: 20), settings: run, strategy: try strategy("power-of-two"))
        #expect(first == second)
        #expect(first.activations > 1000)
        synthetic.seed = 2
        let other = Simulator.run(synthetic.workload(requestRate: 20), settings: run, strategy: try strategy("power-of-two"))
        #expect(other != first)
    }

    @Test func requestRateAndSkew() {
        var synthetic = SyntheticWorkload()
        synthetic.minutes = 10
        synthetic.burstyShare = 0
        let workload = synthetic.workload(requestRate: 50)
        // Poisson counts: 30,000 expected; within 2 %.
        #expect(abs(Double(workload.arrivals.count) - 30_000) < 600)
        // Skewed popularity: the most popular action takes a large share.
        var perAction = [Int](repeating: 0, count: workload.actions.count)
        for arrival in workload.arrivals { perAction[Int(arrival.action)] += 1 }
        #expect(Double(perAction.max()!) / Double(workload.arrivals.count) > 0.15)
        #expect(workload.arrivals.allSatisfy { $0.work <= 60 && $0.work > 0 })
    }

    @Test func azureTraceRoundTrip() throws {
        var synthetic = SyntheticWorkload()
        synthetic.actions = 5
        synthetic.minutes = 3
        let trace = AzureTrace(synthetic, requestRate: 1)
        let parsed = try AzureTrace(csv: trace.csv())
        #expect(parsed == trace)
        #expect(parsed.minutes == 3 && parsed.functions.count == 5)
        let total = parsed.functions.reduce(0) { $0 + $1.counts.reduce(0, +) }
        #expect(parsed.workload().arrivals.count == total)
        #expect(parsed.workload(minutes: 1).arrivals.allSatisfy { $0.time < 60 })
    }

    @Test func azureTraceErrorsNameTheLine() {
        let text = "HashOwner,HashApp,HashFunction,Trigger,1,2\no,a,f,http,1,2\no,a,g,http,3,x\n"
        #expect(throws: AzureTrace.ParseError(line: 3, problem: "'x' is not a whole number of invocations")) {
            _ = try AzureTrace(csv: text)
        }
    }

    @Test func microHeavyActionsCollide() {
        let (first, second) = Scenarios.collidingPair(share: 9)
        #expect(first != second)
        #expect(SimulatorStrategies.openWhiskHome(namespace: "guest", action: "guest/\(first)", count: 9)
                == SimulatorStrategies.openWhiskHome(namespace: "guest", action: "guest/\(second)", count: 9))
    }
}
