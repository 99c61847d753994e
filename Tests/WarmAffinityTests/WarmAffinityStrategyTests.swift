import SluicePluginAPI
import SluiceProtocol
import SluiceStrategyWarmAffinity
import SluiceTestKit
import Testing

// Views are built with `ClusterView([snapshots])`: positions 0, 1, 2, ... in order, all of
// them managed (fewer than 10 invokers), warm index from each snapshot's `warm`.

private let action = "guest/a"

private func request(action: String = action, memoryMB: UInt32 = 256, requiredTags: [String] = []) -> PlacementRequest {
    PlacementRequest(header: RoutingHeader(activationID: "t", namespace: "guest", action: action,
                                           memoryMB: memoryMB, requiredTags: requiredTags))
}

/// With the strategy's defaults (spread, idle warm containers only) unless `pack`/`busyWarm`
/// ask for the earlier rule.
private func place(_ invokers: [InvokerSnapshot], threshold: Double = 0.8, _ request: PlacementRequest = request(),
                   pack: Bool = false, busyWarm: Bool = false) -> PlacementDecision {
    var strategy = WarmAffinityStrategy(loadThreshold: threshold, pack: pack, busyWarm: busyWarm)
    return strategy.place(request, in: ClusterView(invokers))
}

private func snapshot(_ position: Int, slots: UInt32 = 4, inFlight: Int = 0, memory: UInt32 = 2048,
                      health: InvokerHealth = .healthy, draining: Bool = false, tags: [String] = [],
                      warm: [String] = []) -> InvokerSnapshot {
    StrategyConformance.snapshot(position, slots: slots, inFlight: inFlight, memory: memory, health: health,
                                 draining: draining, tags: tags, warm: warm)
}

/// Warm for `action`, but every warm container busy (idle 0).
private func allBusy(_ invoker: InvokerSnapshot, _ name: String = action) -> InvokerSnapshot {
    var invoker = invoker
    invoker.warm[name] = WarmReport.Entry(action: name, idle: 0, total: 2)
    return invoker
}

private func make(_ values: [String: String]) throws(ParameterError) -> any RoutingStrategy {
    try WarmAffinityStrategy.factory.make(StrategyParameters(strategy: WarmAffinityStrategy.name, values: values))
}

@Suite struct WarmAffinityStrategyTests {
    @Test func conformance() {
        StrategyConformance.check(WarmAffinityStrategy.factory)
        StrategyConformance.check(WarmAffinityStrategy.factory, parameters: ["load-threshold": "0"])
        StrategyConformance.check(WarmAffinityStrategy.factory, parameters: ["load-threshold": "1"])
        StrategyConformance.check(WarmAffinityStrategy.factory, parameters: ["pack": "true", "busy-warm": "true"])
    }

    @Test func nameAndDefaults() throws {
        #expect(WarmAffinityStrategy.name == "warm-affinity")
        #expect(WarmAffinityStrategy.factory.name == "warm-affinity")
        #expect(WarmAffinityStrategy.factory.parameters.map(\.name) == ["load-threshold", "pack", "busy-warm"])
        #expect(WarmAffinityStrategy().loadThreshold == 0.8)
        #expect(!WarmAffinityStrategy().pack && !WarmAffinityStrategy().busyWarm)
        let made = try #require(try make([:]) as? WarmAffinityStrategy)
        #expect(made.loadThreshold == 0.8 && !made.pack && !made.busyWarm)
        let legacy = try #require(try make(["pack": "true", "busy-warm": "yes"]) as? WarmAffinityStrategy)
        #expect(legacy.pack && legacy.busyWarm)
        let configured = try #require(try make(["load-threshold": "0.5"]) as? WarmAffinityStrategy)
        #expect(configured.loadThreshold == 0.5)
    }

    // MARK: Warm preference

    @Test func prefersWarmOverLessLoadedColdBelowThreshold() {
        let invokers = [
            snapshot(0, inFlight: 0),                    // cold, idle
            snapshot(1, inFlight: 2, warm: [action]),    // warm, load 0.5
            snapshot(2, inFlight: 1, warm: ["guest/b"]), // warm for another action only
        ]
        #expect(place(invokers) == .place(invokerID: "invoker1"))
        // Also through the factory with the default threshold.
        var strategy = try! make([:])
        #expect(strategy.place(request(), in: ClusterView(invokers)) == .place(invokerID: "invoker1"))
        // Below a lower threshold the warm one is no longer preferred.
        #expect(place(invokers, threshold: 0.5) == .place(invokerID: "invoker0"))
        // Warm for another action does not count as warm for this one.
        #expect(place(invokers, request(action: "guest/c")) == .place(invokerID: "invoker0"))
        #expect(place(invokers, request(action: "guest/b")) == .place(invokerID: "invoker2"))
    }

    @Test func spreadsOverWarmInvokersByDefault() {
        let invokers = [
            snapshot(0, inFlight: 0),                    // cold
            snapshot(1, inFlight: 1, warm: [action]),    // 0.25, least loaded warm
            snapshot(2, inFlight: 3, warm: [action]),    // 0.75
            snapshot(3, inFlight: 2, warm: [action]),    // 0.5
        ]
        #expect(place(invokers) == .place(invokerID: "invoker1"))
        // Load is relative to slots: 2 of 8 (0.25) is less loaded than 1 of 2 (0.5).
        let relative = [
            snapshot(0, slots: 2, inFlight: 1, warm: [action]),
            snapshot(1, slots: 8, inFlight: 2, memory: 4096, warm: [action]),
            snapshot(2, slots: 4, inFlight: 2, warm: [action]),
        ]
        #expect(place(relative) == .place(invokerID: "invoker1"))
    }

    @Test func packsOntoTheBusierWarmInvokerWhenAskedTo() {
        let invokers = [
            snapshot(0, inFlight: 0),                    // cold
            snapshot(1, inFlight: 1, warm: [action]),    // 0.25
            snapshot(2, inFlight: 3, warm: [action]),    // 0.75, busiest below 0.8
            snapshot(3, inFlight: 2, warm: [action]),    // 0.5
        ]
        #expect(place(invokers, pack: true) == .place(invokerID: "invoker2"))
        var strategy = try! make(["pack": "true"])
        #expect(strategy.place(request(), in: ClusterView(invokers)) == .place(invokerID: "invoker2"))
        // Load is relative to slots: 5 of 8 (0.625) is busier than 2 of 4 (0.5).
        let relative = [
            snapshot(0, slots: 4, inFlight: 2, warm: [action]),
            snapshot(1, slots: 8, inFlight: 5, memory: 4096, warm: [action]),
            snapshot(2, slots: 2, inFlight: 0, warm: [action]),
        ]
        #expect(place(relative, pack: true) == .place(invokerID: "invoker1"))
    }

    @Test func equallyLoadedWarmInvokersGoToTheLowerPosition() {
        let invokers = [
            snapshot(0, inFlight: 0),
            snapshot(1, inFlight: 1, memory: 1024, warm: [action]),
            snapshot(2, inFlight: 1, memory: 4096, warm: [action]),
            snapshot(3, slots: 8, inFlight: 2, warm: [action]),  // also 0.25
        ]
        #expect(place(invokers) == .place(invokerID: "invoker1"))
        #expect(place(invokers, pack: true, busyWarm: true) == .place(invokerID: "invoker1"))
    }

    @Test func prefersAnIdleWarmContainer() {
        let invokers = [
            snapshot(0, inFlight: 0),
            allBusy(snapshot(1, inFlight: 3, warm: [action])), // busier, but no idle container
            snapshot(2, inFlight: 1, warm: [action]),          // idle container
            allBusy(snapshot(3, inFlight: 2, warm: [action])),
        ]
        #expect(place(invokers) == .place(invokerID: "invoker2"))
        #expect(place(invokers, pack: true, busyWarm: true) == .place(invokerID: "invoker2"))
        // With no idle container anywhere, being warm gains nothing (a container is created
        // anyway): least-loaded. With `busy-warm` and `pack`, the busiest below the threshold.
        let noneIdle = [
            snapshot(0, inFlight: 0),
            allBusy(snapshot(1, inFlight: 1, warm: [action])),
            allBusy(snapshot(2, inFlight: 3, warm: [action])),
        ]
        #expect(place(noneIdle) == .place(invokerID: "invoker0"))
        #expect(place(noneIdle, busyWarm: true) == .place(invokerID: "invoker1"))
        #expect(place(noneIdle, pack: true, busyWarm: true) == .place(invokerID: "invoker2"))
        // An idle container at/above the threshold does not count.
        let idleButBusy = [
            snapshot(0, slots: 5, inFlight: 4, warm: [action]), // 0.8, idle container
            allBusy(snapshot(1, inFlight: 1, warm: [action])),  // 0.25, no idle container
        ]
        #expect(place(idleButBusy) == .place(invokerID: "invoker1"))
        #expect(place(idleButBusy, pack: true, busyWarm: true) == .place(invokerID: "invoker1"))
    }

    // MARK: Threshold

    @Test func warmInvokerAtOrAboveThresholdIsSkippedForLeastLoaded() {
        let invokers = [
            snapshot(0, inFlight: 2),                          // cold 0.5
            snapshot(1, slots: 5, inFlight: 4, warm: [action]), // warm, exactly 0.8
            snapshot(2, inFlight: 1),                          // cold 0.25: least loaded
            snapshot(3, slots: 8, inFlight: 7, warm: [action]), // warm 0.875
        ]
        #expect(place(invokers) == .place(invokerID: "invoker2"))
        // The same through the factory with the threshold spelled out.
        var strategy = try! make(["load-threshold": "0.8"])
        #expect(strategy.place(request(), in: ClusterView(invokers)) == .place(invokerID: "invoker2"))
        // Raise the threshold and the warm ones qualify again; the least loaded wins (the
        // busiest when packing).
        #expect(place(invokers, threshold: 0.9) == .place(invokerID: "invoker1"))
        #expect(place(invokers, threshold: 0.9, pack: true) == .place(invokerID: "invoker3"))
        #expect(place(invokers, threshold: 0.85) == .place(invokerID: "invoker1"))
    }

    @Test func fallbackMayStillPickAWarmInvokerIfItIsLeastLoaded() {
        let invokers = [
            snapshot(0, inFlight: 3),                 // cold 0.75
            snapshot(1, inFlight: 2, warm: [action]), // warm 0.5, at the threshold
        ]
        #expect(place(invokers, threshold: 0.5) == .place(invokerID: "invoker1"))
    }

    @Test func thresholdZeroIsPlainLeastLoaded() {
        let invokers = [
            snapshot(0, inFlight: 1),
            snapshot(1, inFlight: 0, warm: [action]),
            snapshot(2, inFlight: 0),
            snapshot(3, inFlight: 2, warm: [action]),
        ]
        #expect(place(invokers, threshold: 0) == .place(invokerID: "invoker1"))
        let coldFirst = [
            snapshot(0, inFlight: 0, memory: 4096),
            snapshot(1, inFlight: 0, warm: [action]),
        ]
        #expect(place(coldFirst, threshold: 0) == .place(invokerID: "invoker0"))
    }

    @Test func thresholdOneTakesAnyWarmInvokerWithAFreeSlot() {
        let invokers = [
            snapshot(0, inFlight: 0),
            snapshot(1, slots: 8, inFlight: 7, warm: [action]), // 0.875
            snapshot(2, inFlight: 2, warm: [action]),
        ]
        #expect(place(invokers, threshold: 1.0, pack: true) == .place(invokerID: "invoker1"))
        #expect(place(invokers, threshold: 1.0) == .place(invokerID: "invoker2"))
    }

    // MARK: Eligibility

    @Test func ineligibleWarmInvokersAreNeverChosen() {
        // Threshold 1.0 so the threshold cannot be what excludes them.
        let invokers = [
            snapshot(0, inFlight: 3),                                  // cold, the only eligible one
            snapshot(1, inFlight: 4, warm: [action]),                  // no free slot
            snapshot(2, slots: 8, inFlight: 1, memory: 256, warm: [action]), // no free memory
            snapshot(3, health: .unhealthy, warm: [action]),
            snapshot(4, health: .unresponsive, warm: [action]),
            snapshot(5, inFlight: 1, health: .probing, warm: [action]), // probing with work in flight
            snapshot(6, draining: true, warm: [action]),
        ]
        #expect(place(invokers, threshold: 1.0) == .place(invokerID: "invoker0"))
        #expect(place(invokers, threshold: 0.8) == .place(invokerID: "invoker0"))
        // Not enough memory for this request on the warm one (1 GiB free, 1.5 GiB asked).
        let memory = [
            snapshot(0, inFlight: 2, memory: 2048),
            snapshot(1, inFlight: 0, memory: 1024, warm: [action]),
        ]
        #expect(place(memory, request(memoryMB: 1536)) == .place(invokerID: "invoker0"))
        // Probing with nothing in flight is eligible (§5).
        let probing = [
            snapshot(0, inFlight: 0),
            snapshot(1, inFlight: 0, health: .probing, warm: [action]),
        ]
        #expect(place(probing) == .place(invokerID: "invoker1"))
    }

    @Test func warmInvokerMissingARequiredTagIsNeverChosen() {
        let invokers = [
            snapshot(0, inFlight: 3, tags: ["gpu"]),          // cold, has the tag
            snapshot(1, inFlight: 0, warm: [action]),          // warm, no tag
            snapshot(2, inFlight: 1, tags: ["ssd"], warm: [action]),
        ]
        #expect(place(invokers, request(requiredTags: ["gpu"])) == .place(invokerID: "invoker0"))
        // Without the requirement the warm ones win again: the least loaded (the busier one
        // when packing).
        #expect(place(invokers, request()) == .place(invokerID: "invoker1"))
        #expect(place(invokers, request(), pack: true) == .place(invokerID: "invoker2"))
    }

    @Test func waitsWhenOnlyIneligibleWarmInvokersExist() {
        let invokers = [
            snapshot(0, health: .unhealthy, warm: [action]),
            snapshot(1, inFlight: 4, warm: [action]),
            snapshot(2, draining: true, warm: [action]),
        ]
        #expect(place(invokers, threshold: 1.0) == .wait)
        #expect(place([]) == .wait)
    }

    @Test func staleWarmIndexEntriesAreIgnored() {
        // Position 0 left, position 7 was never given out, position 1 is no longer warm.
        let cold = snapshot(1, inFlight: 1)
        let warm = snapshot(2, inFlight: 2, warm: [action])
        let view = ClusterView(invokers: [nil, cold, warm], registeredCount: 2, totalInFlight: 3,
                               warmPositions: [action: [0, 1, 2, 7]])
        var strategy = WarmAffinityStrategy()
        #expect(strategy.place(request(), in: view) == .place(invokerID: "invoker2"))
        let onlyStale = ClusterView(invokers: [nil, cold], registeredCount: 1, totalInFlight: 1,
                                    warmPositions: [action: [0, 1, 7]])
        #expect(strategy.place(request(), in: onlyStale) == .place(invokerID: "invoker1"))
    }

    // MARK: No warm invoker

    @Test func withoutWarmInvokersBehavesLikeLeastLoaded() {
        // Lowest load relative to slots.
        let relative = [
            snapshot(0, slots: 2, inFlight: 1),   // 0.5
            snapshot(1, slots: 8, inFlight: 2),   // 0.25
            snapshot(2, slots: 4, inFlight: 2),   // 0.5
        ]
        #expect(place(relative) == .place(invokerID: "invoker1"))
        // Ties go to more free memory, then to the lower position.
        let memoryTie = [
            snapshot(0, inFlight: 3),
            snapshot(1, inFlight: 1, memory: 2048),
            snapshot(2, inFlight: 1, memory: 4096),
            snapshot(3, inFlight: 0, health: .unhealthy),
        ]
        #expect(place(memoryTie) == .place(invokerID: "invoker2"))
        let positionTie = [
            snapshot(0, inFlight: 2),
            snapshot(1, inFlight: 1),
            snapshot(2, inFlight: 1),
        ]
        #expect(place(positionTie) == .place(invokerID: "invoker1"))
        // Warm for other actions changes nothing.
        let otherWarm = [
            snapshot(0, inFlight: 2, warm: ["guest/b"]),
            snapshot(1, inFlight: 1, warm: ["other/c"]),
            snapshot(2, inFlight: 3, warm: ["guest/b", "other/c"]),
        ]
        #expect(place(otherWarm) == .place(invokerID: "invoker1"))
    }

    @Test func agreesWithAReferenceOverRandomClusters() {
        var generator = SeededGenerator(seed: 0xA1F1_2022)
        let actions = ["guest/a", "guest/b", "other/c"]
        for round in 0..<300 {
            let count = Int.random(in: 0...9, using: &generator)
            let invokers: [InvokerSnapshot] = (0..<count).map { position in
                let slots = UInt32.random(in: 1...8, using: &generator)
                var invoker = snapshot(
                    position, slots: slots, inFlight: Int.random(in: 0...Int(slots), using: &generator),
                    memory: [1024, 2048, 4096].randomElement(using: &generator)!,
                    health: [.healthy, .healthy, .healthy, .probing, .unhealthy].randomElement(using: &generator)!,
                    draining: Int.random(in: 0..<10, using: &generator) == 0,
                    tags: Bool.random(using: &generator) ? ["gpu"] : [],
                    warm: actions.filter { _ in Bool.random(using: &generator) })
                for name in invoker.warm.keys where Bool.random(using: &generator) {
                    invoker.warm[name] = WarmReport.Entry(action: name, idle: 0, total: 1)
                }
                return invoker
            }
            let view = ClusterView(invokers)
            let threshold = [0.0, 0.25, 0.5, 0.8, 1.0].randomElement(using: &generator)!
            let pack = Bool.random(using: &generator)
            let busyWarm = Bool.random(using: &generator)
            var strategy = WarmAffinityStrategy(loadThreshold: threshold, pack: pack, busyWarm: busyWarm)
            for name in actions + ["team/d"] {
                let req = request(action: name, memoryMB: [256, 1024].randomElement(using: &generator)!,
                                  requiredTags: Bool.random(using: &generator) ? ["gpu"] : [])
                let expected = reference(req, view, threshold: threshold, pack: pack, busyWarm: busyWarm)
                let decision = strategy.place(req, in: view)
                #expect(decision == expected, "round \(round), \(name), threshold \(threshold), pack \(pack), busy-warm \(busyWarm)")
            }
        }
    }

    // MARK: Parameters

    @Test(arguments: ["1.5", "-0.1", "abc", "", "nan", "inf", "80%"])
    func rejectsBadThresholds(_ text: String) {
        let error = #expect(throws: ParameterError.self) { try make(["load-threshold": text]) }
        #expect(error?.key == "routing.warm-affinity.load-threshold")
        #expect(error?.description.contains("routing.warm-affinity.load-threshold") == true)
    }

    @Test(arguments: ["0", "0.0", "0.5", "0.8", "1", "1.0"])
    func acceptsThresholdsInRange(_ text: String) throws {
        let strategy = try #require(try make(["load-threshold": text]) as? WarmAffinityStrategy)
        #expect(strategy.loadThreshold == Double(text))
    }

    @Test func rejectsUnknownParameters() {
        let error = #expect(throws: ParameterError.self) { try make(["threshold": "0.5"]) }
        #expect(error?.key == "routing.warm-affinity.threshold")
        #expect(error?.problem.contains("load-threshold") == true)
    }
}

/// The rule written the slow, obvious way: sort the eligible invokers.
private func reference(_ request: PlacementRequest, _ view: ClusterView, threshold: Double,
                       pack: Bool, busyWarm: Bool) -> PlacementDecision {
    let action = request.header.action
    let eligible = view.eligiblePositions(for: request).compactMap { view.invokers[$0] }
    func load(_ invoker: InvokerSnapshot) -> Double { Double(invoker.inFlight) / Double(invoker.slots) }
    let warm = eligible.filter { $0.warm[action] != nil && load($0) < threshold && (busyWarm || $0.warm[action]!.idle > 0) }
    if let pick = warm.min(by: { a, b in
        let aIdle = a.warm[action]!.idle > 0, bIdle = b.warm[action]!.idle > 0
        if aIdle != bIdle { return aIdle }
        if load(a) != load(b) { return pack ? load(a) > load(b) : load(a) < load(b) }
        return a.position < b.position
    }) {
        return .place(invokerID: pick.id)
    }
    if let pick = eligible.min(by: { a, b in
        if load(a) != load(b) { return load(a) < load(b) }
        if a.freeMemoryMB != b.freeMemoryMB { return a.freeMemoryMB > b.freeMemoryMB }
        return a.position < b.position
    }) {
        return .place(invokerID: pick.id)
    }
    return .wait
}
