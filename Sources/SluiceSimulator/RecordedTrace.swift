import Foundation
import SluiceProtocol
import SluiceTrace

/// A placement trace recorded by a broker (`sluice broker --record-trace`, docs/TRACES.md),
/// turned into what the simulator replays: the recorded arrivals, each with the work it did,
/// on the recorded cluster's shape.
public struct RecordedTrace: Sendable {
    /// One activation: when it arrived, which action (index into `actions`), what it did.
    public struct Activation: Sendable, Equatable {
        public var arrival: Double
        public var action: Int32
        public var memoryMB: UInt32
        /// Seconds from DISPATCH to its answer, if it ran.
        public var ran: Double?
        public var warm: Bool
        public var kind: AnswerKind?
    }

    public var header: TraceHeader
    /// Actions by their salted hash, in order of first arrival; named `action-<hash>`.
    public var actionHashes: [UInt64]
    public var namespaceOfAction: [UInt64]
    public var activations: [Activation]
    /// The largest number of invokers registered at once, and their usual memory and slots.
    public var invokers: Int
    public var invokerMemoryMB: UInt32
    public var invokerSlots: UInt32
    /// Over time: (seconds, invokers registered).
    public var shape: [(seconds: Double, invokers: Int)]
    public var tornBytes: Int
    public var segments: Int

    public init(_ file: TraceFile) {
        header = file.header
        tornBytes = file.tornBytes
        segments = file.segments
        var actionIndex: [UInt64: Int32] = [:]
        var actionHashes: [UInt64] = []
        var namespaceOfAction: [UInt64] = []
        var activations: [Activation] = []
        var shape: [(seconds: Double, invokers: Int)] = []
        var bySequence: [UInt32: Int] = [:]
        var registered: [UInt32: (memory: UInt32, slots: UInt32)] = [:]
        var sizes: [String: Int] = [:]
        var most = 0
        for record in file.records {
            switch record {
            case .arrival(let sequence, let time, let action, let namespace, let memory):
                let index = actionIndex[action] ?? {
                    actionHashes.append(action)
                    namespaceOfAction.append(namespace)
                    actionIndex[action] = Int32(actionHashes.count - 1)
                    return Int32(actionHashes.count - 1)
                }()
                bySequence[sequence] = activations.count
                activations.append(Activation(arrival: Double(time) / 1e6, action: index, memoryMB: memory, ran: nil, warm: false, kind: nil))
            case .answered(let sequence, _, let kind, let ran, let ranMicroseconds, let warm, _):
                guard let at = bySequence.removeValue(forKey: sequence) else { continue }
                activations[at].ran = ran ? Double(ranMicroseconds) / 1e6 : nil
                activations[at].warm = warm
                activations[at].kind = AnswerKind(rawValue: kind)
            case .invoker(let position, let time, let memory, let slots):
                registered[position] = (memory, slots)
                sizes["\(memory)/\(slots)", default: 0] += 1
                most = max(most, registered.count)
                shape.append((Double(time) / 1e6, registered.count))
            case .invokerLeft(let position, let time):
                registered[position] = nil
                shape.append((Double(time) / 1e6, registered.count))
            }
        }
        self.actionHashes = actionHashes
        self.namespaceOfAction = namespaceOfAction
        self.activations = activations
        self.shape = shape
        invokers = max(most, 1)
        let usual = sizes.max { $0.value != $1.value ? $0.value < $1.value : $0.key > $1.key }?.key.split(separator: "/").compactMap { UInt32($0) }
        invokerMemoryMB = usual?.first ?? 4096
        invokerSlots = usual?.last ?? 16
    }

    /// Span from the first arrival to the last, seconds.
    public var span: Double {
        guard let first = activations.first?.arrival, let last = activations.last?.arrival else { return 0 }
        return max(last - first, 0)
    }

    public func actionName(_ index: Int) -> String { "action-" + Self.hex(actionHashes[index]) }

    static func hex(_ value: UInt64) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: max(0, 16 - text.count)) + text
    }

    static func median(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        return sorted[sorted.count / 2]
    }

    /// Activations that ran to an answer from their invoker (not timed out, lost or refused).
    static func ranToCompletion(_ activation: Activation) -> Bool {
        guard activation.ran != nil, let kind = activation.kind else { return false }
        return kind == .success || kind == .applicationError || kind == .systemError
    }

    /// Per action (by index): the run times of its warm runs, of its cold runs, and its memory;
    /// one pass over the activations (a trace of an hour holds millions).
    func runsByAction() -> [(warm: [Double], cold: [Double], memoryMB: UInt32?)] {
        var runs = [(warm: [Double], cold: [Double], memoryMB: UInt32?)](repeating: ([], [], nil), count: actionHashes.count)
        for activation in activations {
            let index = Int(activation.action)
            if runs[index].memoryMB == nil { runs[index].memoryMB = activation.memoryMB }
            guard Self.ranToCompletion(activation), let ran = activation.ran else { continue }
            if activation.warm { runs[index].warm.append(ran) } else { runs[index].cold.append(ran) }
        }
        return runs
    }

    /// Cold start seconds the recording shows: per action, the median run of its cold starts
    /// less the median of its warm ones, then the median over actions (nil: no action had both).
    public var estimatedColdStartSeconds: Double? { Self.coldStart(runsByAction()) }

    static func coldStart(_ runs: [(warm: [Double], cold: [Double], memoryMB: UInt32?)]) -> Double? {
        median(runs.compactMap { action in
            guard let warm = median(action.warm), let cold = median(action.cold) else { return nil }
            return max(cold - warm, 0)
        })
    }

    /// The simulator's workload: every recorded arrival, in order, with its recorded work. A
    /// warm run's work is its run time; a cold run's recorded time includes the recorded
    /// cluster's cold start, which the simulator adds itself, so it takes the action's median
    /// warm run time when there is one. Activations that never ran take the action's median.
    public func workload() -> Workload {
        let runs = runsByAction()
        let warmMedian = runs.map { Self.median($0.warm) }
        let actions = actionHashes.indices.map { index in
            SimulatedAction(name: actionName(index), namespace: "ns-" + Self.hex(namespaceOfAction[index]),
                            medianSeconds: max(warmMedian[index] ?? Self.median(runs[index].warm + runs[index].cold) ?? 0.1, 0.000_5),
                            memoryMB: runs[index].memoryMB ?? 256)
        }
        let origin = activations.first?.arrival ?? 0
        let arrivals = activations.map { activation -> Arrival in
            let fallback = actions[Int(activation.action)].medianSeconds
            var work = fallback
            if Self.ranToCompletion(activation), let ran = activation.ran {
                work = activation.warm ? ran : (warmMedian[Int(activation.action)] ?? ran)
            }
            return Arrival(time: activation.arrival - origin, action: activation.action, work: min(max(work, 0.000_5), 60))
        }
        return Workload(actions: actions, arrivals: arrivals)
    }

    /// The recorded cluster's shape as the simulator models it: `invokers` alike, each with as
    /// many cores as slots.
    public var cluster: ClusterModel {
        var model = ClusterModel()
        model.invokers = invokers
        model.cores = Int(max(invokerSlots, 1))
        model.memoryMB = invokerMemoryMB
        model.slotMemoryMB = max(invokerMemoryMB / max(invokerSlots, 1), 1)
        if let cold = estimatedColdStartSeconds { model.coldStartSeconds = cold...cold }
        return model
    }
}

extension Report {
    /// One line: which strategy served the run best and by how much. Fewest activations not
    /// served (expired, overloaded, throttled, lost, failed) first, then the lowest p99
    /// slowdown, then the fewest cold starts.
    public static func recommendation(_ results: [SimulationResult]) -> String {
        func failures(_ result: SimulationResult) -> Int {
            result.expired + result.overloaded + result.throttled + result.invokerLost + result.otherFailures
        }
        let ranked = results.sorted { a, b in
            if failures(a) != failures(b) { return failures(a) < failures(b) }
            if a.slowdownP99 != b.slowdownP99 { return a.slowdownP99 < b.slowdownP99 }
            if a.coldStartRate != b.coldStartRate { return a.coldStartRate < b.coldStartRate }
            return a.strategy < b.strategy
        }
        guard let best = ranked.first else { return "recommendation: no strategy was run" }
        guard ranked.count > 1 else { return "recommendation: \(best.strategy) (the only strategy run)" }
        let next = ranked[1]
        if failures(best) == failures(next) && abs(best.slowdownP99 - next.slowdownP99) < 0.005
            && abs(best.coldStartRate - next.coldStartRate) < 0.000_5 {
            return String(format: "recommendation: none ahead: %@ and %@ tie (p99 slowdown %.2f, cold starts %.1f %%); keep the one you run",
                          best.strategy, next.strategy, best.slowdownP99, 100 * best.coldStartRate)
        }
        var margin: [String] = []
        if failures(best) != failures(next) {
            margin.append("\(failures(next) - failures(best)) fewer activations not served")
        }
        let p99 = next.slowdownP99 > 0 ? 100 * (next.slowdownP99 - best.slowdownP99) / next.slowdownP99 : 0
        margin.append(String(format: "p99 slowdown %.2f vs %.2f (%.0f %% lower)", best.slowdownP99, next.slowdownP99, p99))
        margin.append(String(format: "cold starts %.1f %% vs %.1f %%", 100 * best.coldStartRate, 100 * next.coldStartRate))
        return "recommendation: \(best.strategy), ahead of \(next.strategy): " + margin.joined(separator: "; ")
    }
}
