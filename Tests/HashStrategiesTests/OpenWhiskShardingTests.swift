import SluicePluginAPI
import SluiceProtocol
import SluiceStrategyOpenWhiskSharding
import SluiceTestKit
import Testing

private typealias Sharding = OpenWhiskShardingStrategy

private func request(_ action: String = "guest/hello", namespace: String = "guest", memoryMB: UInt32 = 256,
                     blackbox: Bool = false) -> PlacementRequest {
    PlacementRequest(header: RoutingHeader(activationID: "a1", namespace: namespace, action: action,
                                           memoryMB: memoryMB, blackbox: blackbox))
}

private func sharding(_ invokers: [InvokerSnapshot], controllers: Int = 1, forceWhenFull: Bool = true,
                      seed: UInt64 = 1) -> Sharding {
    var strategy = Sharding(controllers: controllers, forceWhenFull: forceWhenFull, seed: seed)
    for invoker in invokers { strategy.invokerJoined(invoker) }
    return strategy
}

private func idle(_ count: Int) -> [InvokerSnapshot] {
    (0..<count).map { StrategyConformance.snapshot($0) }
}

// "guest" / "guest/hello": hashCodes 98708952 and 86723035, XOR 13198339.
// With 10 positions the managed share is 9 (ceil(10 * 0.9)): home 13198339 % 9 = 1 (digit
// sum 37), step sizes [1, 2, 5, 7], step index 13198339 % 4 = 3, so step 7.
private let helloHash = 13_198_339
private let helloOrder = [1, 8, 6, 4, 2, 0, 7, 5, 3]

@Test func probeOrderMatchesOpenWhisksDocumentedExample() {
    // OpenWhisk's example: 10 invokers, hash 13: home 3, step sizes 1, 3, 7, 13 % 3 = 1, step 3.
    #expect(Sharding.pairwiseCoprimeNumbers(upTo: 10) == [1, 3, 7])
    #expect(Sharding.probeOrder(hash: 13, count: 10) == [3, 6, 9, 2, 5, 8, 1, 4, 7, 0])
    #expect(Sharding.pairwiseCoprimeNumbers(upTo: 9) == [1, 2, 5, 7])
    #expect(Sharding.pairwiseCoprimeNumbers(upTo: 12) == [1, 5, 7, 11])
    #expect(Sharding.pairwiseCoprimeNumbers(upTo: 1) == [1])
    #expect(Sharding.probeOrder(hash: helloHash, count: 9) == helloOrder)
}

@Test func probeOrderVisitsEveryPositionOnce() {
    for count in 1...40 {
        for hash in [0, 1, 13, 97, 12_345, helloHash, Int(Int32.max)] {
            let order = Sharding.probeOrder(hash: hash, count: count)
            #expect(order.count == count)
            #expect(Set(order) == Set(0..<count), "count \(count), hash \(hash)")
            #expect(order.first == hash % count)
        }
    }
}

@Test func javaHashCodeMatchesJava() {
    #expect(Sharding.javaHashCode("") == 0)
    #expect(Sharding.javaHashCode("a") == 97)
    #expect(Sharding.javaHashCode("hello") == 99_162_322)
    // "guest" by hand: g=103, u=117, e=101, s=115, t=116
    //   103
    //   103 * 31 + 117     = 3310
    //   3310 * 31 + 101    = 102711
    //   102711 * 31 + 115  = 3184156
    //   3184156 * 31 + 116 = 98708952 (no overflow)
    #expect(Sharding.javaHashCode("guest") == 98_708_952)
    // Wraps in 32 bits (Java: "guest/hello".hashCode() == 86723035).
    #expect(Sharding.javaHashCode("guest/hello") == 86_723_035)
    #expect(Sharding.javaHashCode("whisk.system") == -1_796_040_243)
    // UTF-16 code units: é is one unit (233); 😀 is the surrogate pair D83D DE00:
    // 0xD83D * 31 + 0xDE00 = 55357 * 31 + 56832 = 1772899.
    #expect(Sharding.javaHashCode("é") == 233)
    #expect(Sharding.javaHashCode("😀") == 1_772_899)
    // The well-known string whose hashCode is Integer.MIN_VALUE.
    #expect(Sharding.javaHashCode("polygenelubricants") == Int32.min)
}

@Test func generateHashIsTheAbsoluteXorOfBothHashCodes() {
    #expect(Sharding.generateHash(namespace: "guest", action: "guest/hello") == helloHash)
    #expect(Sharding.generateHash(namespace: "guest", action: "guest/hello") == Int(98_708_952 ^ 86_723_035))
    // Negative XOR: abs. hashCode("whisk.system") is negative, hashCode("") is 0.
    #expect(Sharding.generateHash(namespace: "whisk.system", action: "") == 1_796_040_243)
    // Java's abs(MIN_VALUE) stays negative; here it is 2^31 instead of a trap.
    #expect(Sharding.generateHash(namespace: "polygenelubricants", action: "") == 2_147_483_648)
}

@Test func placesOnTheHomeInvoker() {
    let invokers = idle(10)
    let view = ClusterView(invokers)
    let share = view.policy.managedCount(positions: 10)
    #expect(share == 9)
    let home = Sharding.generateHash(namespace: "guest", action: "guest/hello") % share
    #expect(home == 1)
    var strategy = sharding(invokers)
    #expect(strategy.place(request(), in: view) == .place(invokerID: "invoker\(home)"))
    // Another action: its own home.
    let other = Sharding.generateHash(namespace: "guest", action: "guest/pkg/other") % share
    #expect(strategy.place(request("guest/pkg/other"), in: view) == .place(invokerID: "invoker\(other)"))
}

@Test func blackboxActionsProbeOnlyTheBlackboxShare() {
    // 20 positions: the blackbox share is the last floor(20 * 0.1) = 2, positions 18 and 19.
    // helloHash is odd: home index 1 of the share (position 19), then index 0 (position 18).
    var invokers = idle(20)
    var strategy = sharding(invokers)
    #expect(strategy.place(request(blackbox: true), in: ClusterView(invokers)) == .place(invokerID: "invoker19"))
    invokers[19] = StrategyConformance.snapshot(19, slots: 2, inFlight: 2)
    #expect(strategy.place(request(blackbox: true), in: ClusterView(invokers)) == .place(invokerID: "invoker18"))
    // Both blackbox invokers full: forced onto one of them, never onto a managed one.
    invokers[18] = StrategyConformance.snapshot(18, slots: 2, inFlight: 2)
    for _ in 0..<20 {
        let decision = strategy.place(request(blackbox: true), in: ClusterView(invokers))
        #expect(decision == .force(invokerID: "invoker18") || decision == .force(invokerID: "invoker19"))
    }
}

@Test func skipsFullAndSickInvokersInProbeOrder() {
    var invokers = idle(10)
    invokers[helloOrder[0]] = StrategyConformance.snapshot(helloOrder[0], slots: 4, inFlight: 4)     // full
    invokers[helloOrder[1]] = StrategyConformance.snapshot(helloOrder[1], health: .unhealthy)        // sick
    invokers[helloOrder[2]] = StrategyConformance.snapshot(helloOrder[2], memory: 128)               // too small
    var strategy = sharding(invokers)
    #expect(strategy.place(request(), in: ClusterView(invokers)) == .place(invokerID: "invoker\(helloOrder[3])"))
    // Draining and unresponsive are skipped too.
    invokers[helloOrder[3]] = StrategyConformance.snapshot(helloOrder[3], slots: 0, memory: 0, draining: true)
    invokers[helloOrder[4]] = StrategyConformance.snapshot(helloOrder[4], health: .unresponsive)
    #expect(strategy.place(request(), in: ClusterView(invokers)) == .place(invokerID: "invoker\(helloOrder[5])"))
}

@Test func departedPositionsStillCount() {
    // Position 5 left: n stays 10 (share 9), so the home does not move.
    var invokers: [InvokerSnapshot?] = idle(10)
    invokers[5] = nil
    let view = ClusterView(invokers: invokers, registeredCount: 9, totalInFlight: 0)
    var strategy = sharding(idle(10))
    strategy.invokerLeft(StrategyConformance.snapshot(5))
    #expect(strategy.place(request(), in: view) == .place(invokerID: "invoker\(helloOrder[0])"))
    // A departed position in the probe order is skipped.
    invokers[helloOrder[0]] = nil
    let without = ClusterView(invokers: invokers, registeredCount: 8, totalInFlight: 0)
    #expect(strategy.place(request(), in: without) == .place(invokerID: "invoker\(helloOrder[1])"))
}

@Test func forcesOntoARandomAllowedInvokerWhenAllAreFull() {
    var invokers = (0..<10).map { StrategyConformance.snapshot($0, slots: 2, inFlight: 2) }
    invokers[0] = StrategyConformance.snapshot(0, slots: 2, inFlight: 2, health: .unhealthy)
    invokers[2] = StrategyConformance.snapshot(2, slots: 2, inFlight: 2, health: .unresponsive)
    let view = ClusterView(invokers)
    // Managed share: positions 0...8; 0 and 2 are sick; 9 takes only blackbox actions.
    let allowed = Set([1, 3, 4, 5, 6, 7, 8].map { "invoker\($0)" })
    var strategy = sharding(invokers)
    var chosen: Set<String> = []
    for _ in 0..<50 {
        let decision = strategy.place(request(), in: view)
        guard case .force(let id) = decision else {
            Issue.record("expected .force, got \(decision)")
            continue
        }
        #expect(allowed.contains(id), "forced onto \(id)")
        if let invoker = invokers.first(where: { $0.id == id }) { #expect(view.isAllowed(invoker, for: request())) }
        chosen.insert(id)
    }
    #expect(chosen.count > 1, "the forced choice is random")

    // The same seed gives the same forced choices.
    var first = sharding(invokers, seed: 9)
    var second = sharding(invokers, seed: 9)
    for _ in 0..<20 { #expect(first.place(request(), in: view) == second.place(request(), in: view)) }

    // Without force-when-full, or with nobody healthy, it waits.
    var patient = sharding(invokers, forceWhenFull: false)
    #expect(patient.place(request(), in: view) == .wait)
    let allSick = (0..<10).map { StrategyConformance.snapshot($0, slots: 2, inFlight: 2, health: .unhealthy) }
    var forcing = sharding(allSick)
    #expect(forcing.place(request(), in: ClusterView(allSick)) == .wait)
}

@Test func controllersParameterEmulatesTheStaticSplit() {
    // 2048 MB per invoker; the home invoker has 4 * 256 = 1024 MB in flight and free slots.
    var invokers = (0..<10).map { StrategyConformance.snapshot($0, slots: 8) }
    invokers[helloOrder[0]] = StrategyConformance.snapshot(helloOrder[0], slots: 8, inFlight: 4)
    var single = sharding(invokers)
    #expect(single.place(request(), in: ClusterView(invokers)) == .place(invokerID: "invoker\(helloOrder[0])"))
    // Two controllers: 1024 MB each; 1024 + 256 does not fit, so the next in probe order.
    var split = sharding(invokers, controllers: 2)
    #expect(split.place(request(), in: ClusterView(invokers)) == .place(invokerID: "invoker\(helloOrder[1])"))
    // 768 + 256 = 1024 fits exactly.
    invokers[helloOrder[0]] = StrategyConformance.snapshot(helloOrder[0], slots: 8, inFlight: 3)
    #expect(split.place(request(), in: ClusterView(invokers)) == .place(invokerID: "invoker\(helloOrder[0])"))
    // Four controllers: 512 MB each; 768 in flight is over.
    var quarter = sharding(invokers, controllers: 4)
    #expect(quarter.place(request(), in: ClusterView(invokers)) == .place(invokerID: "invoker\(helloOrder[1])"))
    // Every invoker at its share: forced (it is "full" for this controller), or wait without forcing.
    let atShare = (0..<10).map { StrategyConformance.snapshot($0, slots: 8, inFlight: 4) }
    var forcing = sharding(atShare, controllers: 2)
    guard case .force = forcing.place(request(), in: ClusterView(atShare)) else {
        Issue.record("expected .force with every invoker at its share")
        return
    }
    var patient = sharding(atShare, controllers: 2, forceWhenFull: false)
    #expect(patient.place(request(), in: ClusterView(atShare)) == .wait)
}

@Test func sameActionAlwaysStartsAtTheSameHome() {
    let actions = ["guest/hello", "guest/pkg/a", "other/b", "whisk.system/utils/echo"]
    for action in actions {
        let namespace = String(action.prefix { $0 != "/" })
        let hash = Sharding.generateHash(namespace: namespace, action: action)
        let home = hash % 9
        var homes: Set<String> = []
        for seed in [UInt64(1), 2, 99] {
            // Load elsewhere does not move the home.
            var invokers = idle(10)
            invokers[(home + 1) % 9] = StrategyConformance.snapshot((home + 1) % 9, inFlight: 3)
            var strategy = sharding(invokers, seed: seed)
            for _ in 0..<3 {
                if case .place(let id) = strategy.place(request(action, namespace: namespace), in: ClusterView(invokers)) {
                    homes.insert(id)
                } else {
                    Issue.record("expected a placement for \(action)")
                }
            }
        }
        #expect(homes == ["invoker\(home)"], "\(action)")
    }
    // The invoking namespace is part of the hash (OpenWhisk hashes the user's namespace).
    #expect(Sharding.generateHash(namespace: "guest", action: "shared/pkg/a")
            != Sharding.generateHash(namespace: "other", action: "shared/pkg/a"))
}

@Test func shardingParameterErrorsNameTheKey() {
    func key(_ values: [String: String]) -> String? {
        do {
            _ = try Sharding.factory.make(StrategyParameters(strategy: Sharding.name, values: values))
            return nil
        } catch {
            return error.key
        }
    }
    #expect(key([:]) == nil)
    #expect(key(["controllers": "3", "force-when-full": "no", "seed": "0"]) == nil)
    #expect(key(["controllers": "0"]) == "routing.openwhisk-sharding.controllers")
    #expect(key(["controllers": "1001"]) == "routing.openwhisk-sharding.controllers")
    #expect(key(["force-when-full": "maybe"]) == "routing.openwhisk-sharding.force-when-full")
    #expect(key(["seed": "-1"]) == "routing.openwhisk-sharding.seed")
    #expect(key(["step": "3"]) == "routing.openwhisk-sharding.step")
    #expect(Sharding.name == "openwhisk-sharding")
    #expect(Sharding.factory.name == "openwhisk-sharding")
}
