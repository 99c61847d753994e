import SluicePluginAPI
import SluiceProtocol
import Testing

/// The conformance suite every `RoutingStrategy` runs in its own tests:
///
/// - it never places on an ineligible or full invoker (and forces only onto allowed ones,
///   and only if `allowsForce`);
/// - it is deterministic: two instances made with the same parameters (and seed) decide
///   the same on the same inputs;
/// - it answers `.wait` when nothing fits (no invoker, all full, all sick or draining);
/// - it survives invokers leaving between decisions, including one it just chose.
///
/// Call it from a `@Test`; failures are recorded as test issues at the caller's location.
public enum StrategyConformance {
    public static func check(
        _ factory: StrategyFactory,
        parameters: [String: String] = [:],
        allowsForce: Bool = false,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        func make() -> (any RoutingStrategy)? {
            do {
                return try factory.make(StrategyParameters(strategy: factory.name, values: parameters))
            } catch {
                Issue.record("\(factory.name): factory failed: \(error)", sourceLocation: sourceLocation)
                return nil
            }
        }
        guard var first = make(), var second = make() else { return }

        var generator = SeededGenerator(seed: 0x5EED)
        let clusters = (0..<40).map { _ in randomCluster(&generator) }
        for snapshot in clusters.flatMap({ $0 }) {
            first.invokerJoined(snapshot)
            second.invokerJoined(snapshot)
        }

        // Eligibility and determinism over random clusters and requests.
        for (index, invokers) in clusters.enumerated() {
            let view = ClusterView(invokers)
            for request in requests(&generator, count: 25) {
                let decision = first.place(request, in: view)
                let again = second.place(request, in: view)
                if decision != again {
                    Issue.record("\(factory.name): not deterministic on cluster \(index): \(decision) vs \(again)", sourceLocation: sourceLocation)
                }
                checkValid(decision, request, view, factory.name, allowsForce, sourceLocation)
                // Placing when something is eligible is not required (a strategy may wait for
                // a warm invoker, say), but waiting with nothing eligible is.
                if view.eligiblePositions(for: request).isEmpty, case .place = decision {
                    Issue.record("\(factory.name): placed although nothing was eligible", sourceLocation: sourceLocation)
                }
            }
        }

        // Nothing fits: empty cluster, all full, all sick, all draining.
        let request = PlacementRequest(header: RoutingHeader(activationID: "w", namespace: "guest", action: "guest/a", memoryMB: 256))
        let noRoom: [(String, [InvokerSnapshot])] = [
            ("no invokers", []),
            ("all full", (0..<4).map { snapshot($0, slots: 2, inFlight: 2) }),
            ("all unhealthy", (0..<4).map { snapshot($0, health: .unhealthy) }),
            ("all draining", (0..<4).map { snapshot($0, slots: 0, memory: 0, draining: true) }),
            ("too little memory", (0..<4).map { snapshot($0, memory: 128) }),
        ]
        for (name, invokers) in noRoom {
            guard var strategy = make() else { return }
            for invoker in invokers { strategy.invokerJoined(invoker) }
            let decision = strategy.place(request, in: ClusterView(invokers))
            switch decision {
            case .wait:
                break
            case .force where allowsForce && name == "all full":
                checkValid(decision, request, ClusterView(invokers), factory.name, allowsForce, sourceLocation)
            default:
                Issue.record("\(factory.name): expected .wait with \(name), got \(decision)", sourceLocation: sourceLocation)
            }
        }

        // Invokers leave between decisions, including the one just chosen.
        guard var strategy = make() else { return }
        var present = (0..<8).map { snapshot($0) }
        for invoker in present { strategy.invokerJoined(invoker) }
        for round in 0..<8 {
            let view = ClusterView(present)
            let decision = strategy.place(request, in: view)
            checkValid(decision, request, view, factory.name, allowsForce, sourceLocation)
            guard case .place(let chosen) = decision, let index = present.firstIndex(where: { $0.id == chosen }) else { continue }
            let gone = present.remove(at: index)
            strategy.invokerLeft(gone)
            let after = strategy.place(request, in: ClusterView(present))
            if case .place(let again) = after, again == gone.id {
                Issue.record("\(factory.name): placed on '\(gone.id)' after it left (round \(round))", sourceLocation: sourceLocation)
            }
            checkValid(after, request, ClusterView(present), factory.name, allowsForce, sourceLocation)
        }
    }

    static func checkValid(_ decision: PlacementDecision, _ request: PlacementRequest, _ view: ClusterView,
                           _ name: String, _ allowsForce: Bool, _ sourceLocation: SourceLocation) {
        switch decision {
        case .place(let id):
            guard let position = view.invokers.firstIndex(where: { $0?.id == id }) else {
                Issue.record("\(name): placed on unknown invoker '\(id)'", sourceLocation: sourceLocation)
                return
            }
            if !view.isEligible(position, for: request) {
                Issue.record("\(name): placed \(request.header.activationID) on ineligible or full invoker '\(id)'", sourceLocation: sourceLocation)
            }
        case .force(let id):
            guard allowsForce else {
                Issue.record("\(name): forced a placement, which this strategy must not do", sourceLocation: sourceLocation)
                return
            }
            guard let invoker = view.invokers.compactMap({ $0 }).first(where: { $0.id == id }), view.isAllowed(invoker, for: request) else {
                Issue.record("\(name): forced onto '\(id)', which is not allowed (sick, draining or wrong kind)", sourceLocation: sourceLocation)
                return
            }
        case .wait, .reject:
            break
        }
    }

    /// An invoker at `position` with the given state (ids are `invoker<position>`).
    public static func snapshot(_ position: Int, slots: UInt32 = 4, inFlight: Int = 0, memory: UInt32 = 2048,
                                health: InvokerHealth = .healthy, draining: Bool = false, tags: [String] = [],
                                dedicated: [String] = [], warm: [String] = []) -> InvokerSnapshot {
        let usedMemory = UInt32(inFlight) * 256
        return InvokerSnapshot(
            id: "invoker\(position)", position: position, memoryMB: memory, slots: slots,
            freeMemoryMB: memory > usedMemory ? memory - usedMemory : 0,
            freeSlots: slots > UInt32(inFlight) ? slots - UInt32(inFlight) : 0,
            inFlight: inFlight, health: health, draining: draining, tags: tags, dedicatedNamespaces: dedicated,
            warm: Dictionary(uniqueKeysWithValues: warm.map { ($0, WarmReport.Entry(action: $0, idle: 1, total: 1)) }))
    }

    static func randomCluster(_ generator: inout SeededGenerator) -> [InvokerSnapshot] {
        let count = Int.random(in: 1...12, using: &generator)
        return (0..<count).map { position in
            let slots = UInt32.random(in: 1...8, using: &generator)
            let inFlight = Int.random(in: 0...Int(slots), using: &generator)
            let health: InvokerHealth = [.healthy, .healthy, .healthy, .unhealthy, .probing, .unresponsive].randomElement(using: &generator)!
            return snapshot(position, slots: slots, inFlight: inFlight, memory: [512, 1024, 2048].randomElement(using: &generator)!,
                            health: health, draining: Int.random(in: 0..<10, using: &generator) == 0,
                            tags: Bool.random(using: &generator) ? ["gpu"] : [],
                            dedicated: Int.random(in: 0..<8, using: &generator) == 0 ? ["team"] : [],
                            warm: ["guest/a", "guest/b", "other/c"].filter { _ in Bool.random(using: &generator) })
        }
    }

    static func requests(_ generator: inout SeededGenerator, count: Int) -> [PlacementRequest] {
        (0..<count).map { index in
            PlacementRequest(header: RoutingHeader(
                activationID: "r\(index)",
                namespace: ["guest", "other", "team"].randomElement(using: &generator)!,
                action: ["guest/a", "guest/b", "other/c", "team/d"].randomElement(using: &generator)!,
                memoryMB: [128, 256, 512].randomElement(using: &generator)!,
                blackbox: Int.random(in: 0..<5, using: &generator) == 0,
                requiredTags: Int.random(in: 0..<4, using: &generator) == 0 ? ["gpu"] : []))
        }
    }
}
