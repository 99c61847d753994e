import SluicePluginAPI
import SluiceProtocol
import SluiceStrategyConsistentHash
import SluiceTestKit
import Testing

/// Every position takes managed actions, so adding or removing an invoker does not also move
/// the managed/blackbox split.
private let allManaged = EligibilityPolicy(managedFraction: 1.0, blackboxFraction: 0.1)

private func request(_ action: String, namespace: String = "guest") -> PlacementRequest {
    PlacementRequest(header: RoutingHeader(activationID: "c1", namespace: namespace, action: action, memoryMB: 256))
}

private func invokers(_ count: Int, slots: UInt32 = 4, inFlight: Int = 0, memory: UInt32 = 2048) -> [InvokerSnapshot] {
    (0..<count).map { StrategyConformance.snapshot($0, slots: slots, inFlight: inFlight, memory: memory) }
}

private func joined(_ invokers: [InvokerSnapshot], loadFactor: Double = 1.25) -> ConsistentHashStrategy {
    var strategy = ConsistentHashStrategy(virtualNodes: 100, loadFactor: loadFactor)
    for invoker in invokers { strategy.invokerJoined(invoker) }
    return strategy
}

private func placed(_ decision: PlacementDecision) -> String? {
    if case .place(let id) = decision { return id }
    Issue.record("expected .place, got \(decision)")
    return nil
}

@Test func anActionSticksToItsInvokerWhileLoadAllows() {
    // 10 invokers with 10 in flight each: total 100.
    var snapshots = invokers(10, slots: 100, inFlight: 10, memory: 100_000)
    var strategy = joined(snapshots)
    let view = ClusterView(snapshots, policy: allManaged)
    guard let home = placed(strategy.place(request("guest/sticky"), in: view)) else { return }
    for _ in 0..<20 {
        #expect(strategy.place(request("guest/sticky"), in: view) == .place(invokerID: home))
    }
    // Another instance agrees (the ring depends only on the ids).
    var other = joined(snapshots.reversed())
    #expect(other.place(request("guest/sticky"), in: view) == .place(invokerID: home))

    // Placing for real: bound = ceil(1.25 * (total + 1) / 10) is 13 for totals 100...103, so
    // the home takes three more (11, 12, 13) and the fourth goes elsewhere.
    let index = snapshots.firstIndex { $0.id == home }!
    func add(_ id: String) {
        let i = snapshots.firstIndex { $0.id == id }!
        snapshots[i] = StrategyConformance.snapshot(i, slots: 100, inFlight: snapshots[i].inFlight + 1, memory: 100_000)
    }
    for round in 0..<3 {
        let decision = strategy.place(request("guest/sticky"), in: ClusterView(snapshots, policy: allManaged))
        #expect(decision == .place(invokerID: home), "round \(round)")
        add(home)
    }
    #expect(snapshots[index].inFlight == 13)
    guard let spill = placed(strategy.place(request("guest/sticky"), in: ClusterView(snapshots, policy: allManaged))) else { return }
    #expect(spill != home)
    add(spill)
    // The home's work completes: the action comes back.
    snapshots[index] = StrategyConformance.snapshot(index, slots: 100, inFlight: 10, memory: 100_000)
    #expect(strategy.place(request("guest/sticky"), in: ClusterView(snapshots, policy: allManaged)) == .place(invokerID: home))
}

@Test func noInvokerExceedsTheLoadBound() {
    var snapshots = invokers(10, slots: 1_000, memory: 1_000_000)
    var strategy = joined(snapshots)
    let actions = (0..<50).map { "guest/action\($0)" }
    var total = 0
    for step in 0..<1_000 {
        // Skewed: half the traffic is one action, the rest spread over all 50.
        let action = step.isMultiple(of: 2) ? actions[0] : actions[step % 50]
        let decision = strategy.place(request(action), in: ClusterView(snapshots, policy: allManaged))
        guard let id = placed(decision), let i = snapshots.firstIndex(where: { $0.id == id }) else { return }
        snapshots[i] = StrategyConformance.snapshot(i, slots: 1_000, inFlight: snapshots[i].inFlight + 1, memory: 1_000_000)
        total += 1
        let bound = Int((1.25 * Double(total) / 10).rounded(.up))
        let highest = snapshots.map(\.inFlight).max()!
        #expect(highest <= bound, "step \(step): \(highest) in flight on one invoker, bound \(bound)")
        if highest > bound { return }
    }
    #expect(snapshots.reduce(0) { $0 + $1.inFlight } == 1_000)
}

@Test func waitsRatherThanExceedTheBound() {
    // invoker0 has free slots and memory but 3 in flight; invoker1 is sick. Bound:
    // ceil(1.25 * (3 + 1) / 2) = 3, so invoker0 may not take a fourth.
    let snapshots = [
        StrategyConformance.snapshot(0, slots: 8, inFlight: 3),
        StrategyConformance.snapshot(1, slots: 8, health: .unhealthy),
    ]
    var strategy = joined(snapshots)
    #expect(strategy.place(request("guest/a"), in: ClusterView(snapshots, policy: allManaged)) == .wait)
    #expect(ConsistentHashStrategy.loadBound(loadFactor: 1.25, totalInFlight: 3, registeredCount: 2) == 3)
    #expect(ConsistentHashStrategy.loadBound(loadFactor: 1.25, totalInFlight: 0, registeredCount: 10) == 1)
    #expect(ConsistentHashStrategy.loadBound(loadFactor: 1.25, totalInFlight: 1_000, registeredCount: 10) == 126)
}

private let keys = (0..<1_000).map { "guest/key\($0)" }

private func choices(_ strategy: inout ConsistentHashStrategy, _ view: ClusterView) -> [String?] {
    keys.map { placed(strategy.place(request($0), in: view)) }
}

@Test func addingAnInvokerMovesAboutOneEleventhOfTheKeys() {
    let ten = invokers(10)
    var strategy = joined(ten)
    let before = choices(&strategy, ClusterView(ten, policy: allManaged))
    #expect(Set(before.compactMap { $0 }).count == 10, "every invoker owns some keys")

    let newcomer = StrategyConformance.snapshot(10)
    strategy.invokerJoined(newcomer)
    let after = choices(&strategy, ClusterView(ten + [newcomer], policy: allManaged))
    let moved = zip(before, after).filter { $0 != $1 }
    let share = Double(moved.count) / Double(keys.count)
    #expect(share >= 0.03 && share <= 0.2, "moved \(moved.count) of \(keys.count) keys")
    // On an idle cluster a key moves only to the newcomer.
    #expect(moved.allSatisfy { $0.1 == "invoker10" })
}

@Test func removingAnInvokerMovesOnlyItsKeys() {
    let ten = invokers(10)
    var strategy = joined(ten)
    let before = choices(&strategy, ClusterView(ten, policy: allManaged))

    // invoker3 leaves: its position stays, empty, as in the broker.
    var remaining: [InvokerSnapshot?] = ten
    remaining[3] = nil
    strategy.invokerLeft(ten[3])
    let view = ClusterView(invokers: remaining, registeredCount: 9, totalInFlight: 0, policy: allManaged)
    let after = choices(&strategy, view)
    let orphaned = before.filter { $0 == "invoker3" }.count
    #expect(orphaned > 0)
    #expect(!after.contains("invoker3"))
    let movedOthers = zip(before, after).filter { $0.0 != "invoker3" && $0.0 != $0.1 }.count
    #expect(movedOthers <= 5, "\(movedOthers) keys moved that were not on the leaving invoker")
}

@Test func worksWithInvokersItWasNeverToldAbout() {
    let five = invokers(5)
    let view = ClusterView(five, policy: allManaged)
    // No notifications at all: the ring is built from the view.
    var silent = ConsistentHashStrategy()
    var told = joined(five)
    for key in keys.prefix(100) {
        let decision = silent.place(request(key), in: view)
        #expect(decision == told.place(request(key), in: view))
        guard let id = placed(decision), let position = view.invokers.firstIndex(where: { $0?.id == id }) else { continue }
        #expect(view.isEligible(position, for: request(key)))
    }

    // Told about five, but invoker2 is missing from the view (and positions shifted):
    // its ring entries are skipped.
    let shifted = ClusterView(five.filter { $0.id != "invoker2" }, policy: allManaged)
    for key in keys.prefix(200) {
        guard let id = placed(told.place(request(key), in: shifted)) else { continue }
        #expect(id != "invoker2")
        if let position = shifted.invokers.firstIndex(where: { $0?.id == id }) {
            #expect(shifted.isEligible(position, for: request(key)))
        } else {
            Issue.record("placed on \(id), which is not in the view")
        }
    }
}

@Test func ringPointsAreStable() {
    // Fixed inputs give fixed points across runs and processes (no per-process seeding).
    #expect(ConsistentHashStrategy.hash64("guest/a") == ConsistentHashStrategy.hash64("guest/a"))
    #expect(ConsistentHashStrategy.hash64("guest/a") != ConsistentHashStrategy.hash64("guest/b"))
    #expect(ConsistentHashStrategy.virtualNodePoint(id: "invoker0", k: 17) == ConsistentHashStrategy.hash64("invoker0#17"))
    #expect(ConsistentHashStrategy.virtualNodePoint(id: "invoker12", k: 0) == ConsistentHashStrategy.hash64("invoker12#0"))
    #expect(ConsistentHashStrategy.virtualNodePoint(id: "x", k: 999) == ConsistentHashStrategy.hash64("x#999"))
    #expect(ConsistentHashStrategy.virtualNodePoint(id: "x", k: 100) == ConsistentHashStrategy.hash64("x#100"))
}

@Test func consistentHashParameterErrorsNameTheKey() {
    func key(_ values: [String: String]) -> String? {
        do {
            _ = try ConsistentHashStrategy.factory.make(StrategyParameters(strategy: ConsistentHashStrategy.name, values: values))
            return nil
        } catch {
            return error.key
        }
    }
    #expect(key([:]) == nil)
    #expect(key(["virtual-nodes": "1000", "load-factor": "1.0"]) == nil)
    #expect(key(["load-factor": "0.5"]) == "routing.consistent-hash.load-factor")
    #expect(key(["load-factor": "10.5"]) == "routing.consistent-hash.load-factor")
    #expect(key(["load-factor": "lots"]) == "routing.consistent-hash.load-factor")
    #expect(key(["virtual-nodes": "0"]) == "routing.consistent-hash.virtual-nodes")
    #expect(key(["virtual-nodes": "1001"]) == "routing.consistent-hash.virtual-nodes")
    #expect(key(["replicas": "3"]) == "routing.consistent-hash.replicas")
    #expect(key(["min-bound": "8"]) == nil)
    #expect(key(["min-bound": "0"]) == "routing.consistent-hash.min-bound")
    #expect(ConsistentHashStrategy.name == "consistent-hash")
    #expect(ConsistentHashStrategy.factory.name == "consistent-hash")
}

@Test func minBoundKeepsAnActionHomeAtLowLoad() {
    // 10 idle invokers: the paper's bound is ceil(1.25 * 1 / 10) = 1, then 1 while 1 is in
    // flight (ceil(1.25 * 2 / 10)), so the second concurrent activation leaves its home.
    func placements(minBound: Int) -> [String] {
        var snapshots = invokers(10, slots: 8)
        var strategy = ConsistentHashStrategy(virtualNodes: 100, loadFactor: 1.25, minBound: minBound)
        for invoker in snapshots { strategy.invokerJoined(invoker) }
        var chosen: [String] = []
        for _ in 0..<4 {
            guard let id = placed(strategy.place(request("guest/sticky"), in: ClusterView(snapshots, policy: allManaged))) else { return chosen }
            chosen.append(id)
            let i = snapshots.firstIndex { $0.id == id }!
            snapshots[i] = StrategyConformance.snapshot(i, slots: 8, inFlight: snapshots[i].inFlight + 1, memory: 2048)
        }
        return chosen
    }
    let paper = placements(minBound: 1)
    #expect(Set(paper).count > 1, "without a floor the action must spill at once: \(paper)")
    let floored = placements(minBound: 4)
    #expect(Set(floored).count == 1, "with min-bound 4, four concurrent activations stay home: \(floored)")
    #expect(floored.first == paper.first)
}
