import Testing
import SluiceCore
import SluiceProtocol
import SluicePluginAPI
import SluiceStrategies

// Building blocks of the core: the deadline wheel behind the circuit breaker (§5) and the
// configuration check.

private func at(ms: Int64) -> Timestamp { Timestamp.zero + .milliseconds(ms) }

@Suite("DeadlineWheel (§5 circuit-breaker deadlines)")
struct DeadlineWheelTests {
    @Test("schedule, cancel, and advance across more than one revolution")
    func scheduleCancelAdvance() {
        // 8 buckets of 10 ms: one revolution is 80 ms.
        var wheel = DeadlineWheel<String>(granularity: .milliseconds(10), buckets: 8, start: .zero)
        wheel.schedule("a", at: at(ms: 30))
        wheel.schedule("b", at: at(ms: 250)) // three revolutions out, same bucket as "d"
        wheel.schedule("c", at: at(ms: 50))
        wheel.schedule("d", at: at(ms: 90))
        #expect(wheel.count == 4)

        wheel.cancel("c", deadline: at(ms: 50))
        #expect(wheel.count == 3)

        var fired: [String] = []
        wheel.advance(to: at(ms: 29), into: &fired)
        #expect(fired.isEmpty)
        wheel.advance(to: at(ms: 30), into: &fired)
        #expect(fired == ["a"])

        fired = []
        wheel.advance(to: at(ms: 89), into: &fired)
        #expect(fired.isEmpty) // "c" was cancelled
        wheel.advance(to: at(ms: 90), into: &fired)
        #expect(fired == ["d"]) // "b" shares the bucket but is not due

        fired = []
        wheel.advance(to: at(ms: 249), into: &fired)
        #expect(fired.isEmpty)
        wheel.advance(to: at(ms: 250), into: &fired)
        #expect(fired == ["b"])
        #expect(wheel.count == 0)

        // One jump of many revolutions fires everything due.
        wheel.schedule("e", at: at(ms: 400))
        wheel.schedule("f", at: at(ms: 1_000))
        wheel.schedule("g", at: at(ms: 5_000))
        fired = []
        wheel.advance(to: at(ms: 2_000), into: &fired)
        #expect(Set(fired) == ["e", "f"])
        #expect(wheel.count == 1)

        // A deadline already in the past fires at the next advance.
        wheel.schedule("late", at: at(ms: 100))
        fired = []
        wheel.advance(to: at(ms: 2_010), into: &fired)
        #expect(fired == ["late"])

        wheel.cancel("g", deadline: at(ms: 5_000))
        fired = []
        wheel.advance(to: at(ms: 10_000), into: &fired)
        #expect(fired.isEmpty)
        #expect(wheel.count == 0)
    }

    @Test("a deadline later in a bucket that an earlier advance already visited still fires")
    func deadlineInPartlyProcessedBucket() {
        var wheel = DeadlineWheel<String>(granularity: .milliseconds(10), buckets: 8, start: .zero)
        wheel.schedule("x", at: at(ms: 25))
        var fired: [String] = []
        wheel.advance(to: at(ms: 21), into: &fired) // same 10 ms bucket, before the deadline
        #expect(fired.isEmpty)
        wheel.advance(to: at(ms: 30), into: &fired)
        #expect(fired == ["x"])
    }
}

@Suite("BrokerConfiguration")
struct ConfigurationTests {
    private func invalidKey(_ configuration: BrokerConfiguration) -> String? {
        do {
            try configuration.validate()
            return nil
        } catch {
            return error.key
        }
    }

    @Test("defaults are valid and match docs/PROTOCOL.md")
    func defaults() {
        let config = BrokerConfiguration()
        #expect(invalidKey(config) == nil)
        #expect(config.heartbeatInterval == .seconds(1))
        #expect(config.liveness == 3)
        #expect(config.livenessWindow == .seconds(3))
        #expect(config.maxWaiting == 10_000)
        #expect(config.maxWaitingAge == .seconds(60))
        #expect(config.healthCooldown == .seconds(10))
        #expect(config.maxParkedAnswersPerController == 10_000)
        #expect(config.maxParkedAnswerAge == .seconds(300))
    }

    @Test("validate() names the bad key")
    func validateNamesKey() {
        var config = BrokerConfiguration()
        config.liveness = 0
        #expect(invalidKey(config) == "liveness")

        config = BrokerConfiguration()
        config.brokerID = "no spaces"
        #expect(invalidKey(config) == "broker-id")

        config = BrokerConfiguration()
        config.heartbeatInterval = .milliseconds(1)
        #expect(invalidKey(config) == "heartbeat-interval")

        config = BrokerConfiguration()
        config.maxWaitingAge = .zero
        #expect(invalidKey(config) == "max-waiting-age")

        config = BrokerConfiguration()
        config.maxWaiting = -1
        #expect(invalidKey(config) == "max-waiting")

        config = BrokerConfiguration()
        config.completionTimeoutMultiplier = 0
        #expect(invalidKey(config) == "completion-timeout")

        config = BrokerConfiguration()
        config.healthWindow = 0
        #expect(invalidKey(config) == "health-window")

        config = BrokerConfiguration()
        config.liveness = 0
        do {
            try config.validate()
            Issue.record("validate() accepted liveness = 0")
        } catch {
            #expect(error.description.contains("liveness"))
        }
    }
}

@Suite("Warm reports reach the cluster view")
struct WarmReportTests {
    @Test("§4.12 a warm report in HEARTBEAT or COMPLETION replaces the last one; the view indexes warm positions per action")
    func warmReportsIndexPositions() {
        var h = Harness()
        h.controllerHello("c1")
        h.invokerHello("i1", memoryMB: 4096, slots: 2)
        h.invokerHello("i2", memoryMB: 4096, slots: 2)
        let i2 = h.core.invoker("i2")!.position
        h.receive(.invoker, from: "i2", .invokerHeartbeat(WarmReport([WarmReport.Entry(action: "guest/a", idle: 1, total: 1)])))
        #expect(h.core.clusterView.warmPositions["guest/a"] == [i2])
        #expect(h.core.invoker("i2")?.isWarm(for: "guest/a") == true)

        // A completion's report replaces it: guest/a is gone, guest/b is warm.
        #expect(h.activate("a1").placements == ["a1->i1"])
        #expect(h.activate("a2").placements == ["a2->i2"])
        h.receive(.invoker, from: "i2", .completion(CompletionHeader(
            activationID: "a2", includesResult: false, warm: WarmReport([WarmReport.Entry(action: "guest/b", idle: 0, total: 1)]))))
        #expect(h.core.clusterView.warmPositions["guest/a"] == nil)
        #expect(h.core.clusterView.warmPositions["guest/b"] == [i2])

        // An invoker that leaves takes its warm containers with it.
        h.invokerGoodbye("i2")
        #expect(h.core.clusterView.warmPositions["guest/b"] == nil)
        #expect(h.core.clusterView.invokers[i2] == nil)
    }

    @Test("§4.12 a DISPATCH counts the reported idle containers down until the next report: back-to-back activations of one action do not both go to one idle container")
    func dispatchesCountIdleDown() throws {
        var h = Harness(strategy: try BuiltInStrategies.registry.make("warm-affinity"))
        h.controllerHello("c1")
        h.invokerHello("i1", memoryMB: 4096, slots: 4)
        h.invokerHello("i2", memoryMB: 4096, slots: 4)
        h.receive(.invoker, from: "i1", .invokerHeartbeat(WarmReport([WarmReport.Entry(action: "guest/echo", idle: 1, total: 1)])))
        #expect(h.core.invoker("i1")?.hasIdleWarm(for: "guest/echo") == true)

        // The first takes i1's idle container; the second, right behind it, must not count on it.
        #expect(h.activate("a1").placements == ["a1->i1"])
        #expect(h.core.invoker("i1")?.warm["guest/echo"]?.idle == 0)
        #expect(h.core.invoker("i1")?.isWarm(for: "guest/echo") == true)
        #expect(h.activate("a2").placements == ["a2->i2"])

        // A COMPLETION without a report leaves the counted-down report in force.
        h.complete("a2", on: "i2")
        #expect(h.core.invoker("i1")?.warm["guest/echo"]?.idle == 0)
        // The next report replaces the count: i1's container is idle again.
        h.complete("a1", on: "i1")
        h.receive(.invoker, from: "i1", .invokerHeartbeat(WarmReport([WarmReport.Entry(action: "guest/echo", idle: 1, total: 1)])))
        #expect(h.core.invoker("i1")?.warm["guest/echo"]?.idle == 1)
        #expect(h.activate("a3").placements == ["a3->i1"])
        // Never below zero, and other actions' entries are not touched.
        h.receive(.invoker, from: "i2", .invokerHeartbeat(WarmReport([WarmReport.Entry(action: "guest/other", idle: 2, total: 2)])))
        #expect(h.activate("a4").placements.count == 1)
        #expect(h.core.invoker("i1")?.warm["guest/echo"]?.idle == 0)
        #expect(h.core.invoker("i2")?.warm["guest/other"]?.idle == 2)
    }

    @Test("§6.1 eligibility through the core: required tags and dedicated namespaces")
    func eligibilityThroughCore() {
        var h = Harness()
        h.controllerHello("c1")
        h.receive(.invoker, from: "plain", .invokerHello(InvokerHello(invokerID: "plain", memoryMB: 4096, slots: 4)))
        h.receive(.invoker, from: "gpu", .invokerHello(InvokerHello(invokerID: "gpu", memoryMB: 4096, slots: 4, tags: ["gpu"])))
        h.receive(.invoker, from: "team", .invokerHello(InvokerHello(invokerID: "team", memoryMB: 4096, slots: 4,
                                                                    dedicatedNamespaces: ["team"])))
        let tagged = h.receive(.controller, from: "c1", .activate(RoutingHeader(activationID: "t1", namespace: "guest", action: "guest/a",
                                                                                requiredTags: ["gpu"])), opaque: [1])
        #expect(tagged.placements == ["t1->gpu"])
        let dedicated = h.receive(.controller, from: "c1", .activate(RoutingHeader(activationID: "d1", namespace: "team", action: "team/a")),
                                  opaque: [1])
        #expect(dedicated.placements == ["d1->team"])
        // Everyone else never lands on the dedicated invoker.
        for n in 0..<6 {
            let placed = h.receive(.controller, from: "c1", .activate(RoutingHeader(activationID: "g\(n)", namespace: "guest", action: "guest/a")),
                                   opaque: [1])
            #expect(placed.dispatches.allSatisfy { $0.route != "team" })
        }
    }
}

/// Always forces work onto one invoker, as `openwhisk-sharding` does when everything is full.
struct ForceOntoFirst: RoutingStrategy {
    static let name = "force-onto-first"
    mutating func place(_ request: PlacementRequest, in cluster: ClusterView) -> PlacementDecision {
        for position in 0..<cluster.positionCount {
            if let invoker = cluster.invokers[position], cluster.isAllowed(invoker, for: request) { return .force(invokerID: invoker.id) }
        }
        return .wait
    }
}

@Suite("No peer-supplied number traps the broker (issue 13, item 8)")
struct ArithmeticTests {
    @Test("forced placements of the largest memory a header can carry over-commit, counted, and do not trap")
    func forcedLargeMemory() {
        var h = Harness(strategy: ForceOntoFirst())
        h.controllerHello("c1")
        h.invokerHello("i1", memoryMB: UInt32.max, slots: 1)
        // Three of 4 GiB-1 MB each on one invoker: 32-bit used memory trapped at the second.
        for n in 0..<3 { h.activate("big\(n)", memoryMB: UInt32.max) }
        #expect(h.log.dispatchedIDs == ["big0", "big1", "big2"])
        #expect(h.core.counters.forcedPlacements == 3)
        for n in 0..<3 { h.complete("big\(n)", on: "i1", result: bytes("r")) }
        #expect(h.log.answers.count == 3)
        #expect(h.core.inFlightCount == 0)
    }

    @Test("the longest time limit a header can carry does not wrap its deadline into the past")
    func longestTimeLimit() {
        var configuration = BrokerConfiguration()
        configuration.completionTimeoutMultiplier = Int.max
        var h = Harness(configuration: configuration)
        h.controllerHello("c1")
        h.invokerHello("i1")
        h.activate("long", timeLimitMilliseconds: UInt32.max)
        #expect(h.advance(by: .seconds(5)).answers.isEmpty, "a wrapped deadline would answer timeout at once")
        #expect(h.complete("long", on: "i1", result: bytes("r")).answers.map(\.kind) == [.success])
    }

    @Test("durations and timestamps saturate instead of trapping")
    func saturation() {
        #expect(Duration.seconds(Int64.max).nanoseconds == UInt64.max)
        #expect((Timestamp(nanoseconds: UInt64.max - 1) + .seconds(10)).nanoseconds == UInt64.max)
        #expect(Timestamp(nanoseconds: UInt64.max).since(.zero) == .nanoseconds(Int64.max))
        var configuration = BrokerConfiguration()
        configuration.liveness = .max
        configuration.completionTimeoutMultiplier = .max
        #expect(configuration.livenessWindow == .nanoseconds(Int64.max))
        #expect(configuration.completionTimeout(timeLimitMilliseconds: .max) == .nanoseconds(Int64.max))
    }
}
