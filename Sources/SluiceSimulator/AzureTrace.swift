import SluiceProtocol
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The Azure Functions trace's per-minute invocation file (`invocations_per_function_md.anon.d*.csv`):
/// a header `HashOwner,HashApp,HashFunction,Trigger,1,2,...,1440`, then one row per function
/// with its invocation count in each minute of the day.
///
/// The file has no execution times (the trace ships them separately), so each function gets a
/// median drawn from the published lognormal fit, seeded by its hashes: the same file always
/// gives the same workload. Each owner becomes a namespace. Fewer than 1,440 minute columns are
/// accepted (the samples under Examples/traces keep a few).
public struct AzureTrace: Sendable, Equatable {
    public struct Function: Sendable, Equatable {
        public var owner: String
        public var app: String
        public var function: String
        public var trigger: String
        public var counts: [Int]
    }

    public var functions: [Function]
    public var minutes: Int

    public struct ParseError: Error, CustomStringConvertible, Equatable {
        public var line: Int
        public var problem: String
        public var description: String { "trace line \(line): \(problem)" }

        public init(line: Int, problem: String) {
            self.line = line
            self.problem = problem
        }
    }

    public init(functions: [Function]) {
        self.functions = functions
        self.minutes = functions.map(\.counts.count).max() ?? 0
    }

    /// Parses the CSV text. Throws naming the line for a short row or a count that is not a
    /// whole number.
    public init(csv text: String) throws(ParseError) {
        var lines = text.split(whereSeparator: \.isNewline).map { String($0) }
        guard !lines.isEmpty else { throw ParseError(line: 1, problem: "empty file") }
        let header = lines.removeFirst().split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard header.count >= 5, header[0] == "HashOwner", header[1] == "HashApp", header[2] == "HashFunction", header[3] == "Trigger" else {
            throw ParseError(line: 1, problem: "expected the header HashOwner,HashApp,HashFunction,Trigger,1,2,...")
        }
        let minutes = header.count - 4
        var functions: [Function] = []
        for (index, line) in lines.enumerated() where !line.isEmpty {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            guard fields.count == header.count else {
                throw ParseError(line: index + 2, problem: "\(fields.count) fields; the header has \(header.count)")
            }
            var counts: [Int] = []
            counts.reserveCapacity(minutes)
            for field in fields[4...] {
                guard let count = Int(field), count >= 0 else {
                    throw ParseError(line: index + 2, problem: "'\(field)' is not a whole number of invocations")
                }
                counts.append(count)
            }
            functions.append(Function(owner: String(fields[0]), app: String(fields[1]), function: String(fields[2]),
                                      trigger: String(fields[3]), counts: counts))
        }
        self.init(functions: functions)
    }

    /// The CSV text, in the trace's format.
    public func csv() -> String {
        var out = "HashOwner,HashApp,HashFunction,Trigger"
        for minute in 1...max(minutes, 1) { out += ",\(minute)" }
        out += "\n"
        for function in functions {
            out += "\(function.owner),\(function.app),\(function.function),\(function.trigger)"
            for minute in 0..<max(minutes, 1) { out += ",\(minute < function.counts.count ? function.counts[minute] : 0)" }
            out += "\n"
        }
        return out
    }

    /// A synthetic workload's counts written as a trace (hashes made up from the indices).
    public init(_ synthetic: SyntheticWorkload, requestRate: Double) {
        let counts = synthetic.countsPerMinute(requestRate: requestRate)
        let (actions, _, _) = synthetic.profiles()
        let triggers = ["http", "timer", "queue", "event", "storage"]
        self.init(functions: actions.indices.map { index in
            let owner = Self.hex(UInt64(index % max(synthetic.namespaces, 1)) &+ synthetic.seed &* 7919)
            return Function(owner: owner, app: Self.hex(UInt64(index / 3) &+ 0x5EED &* synthetic.seed),
                            function: Self.hex(UInt64(index) &* 0x9E37_79B9_7F4A_7C15 ^ synthetic.seed),
                            trigger: triggers[index % triggers.count], counts: counts[index])
        })
    }

    /// The workload of the first `minutes` minutes (all when nil): one action per row, named
    /// `<owner prefix>/<function prefix>`, durations from the lognormal fit.
    public func workload(minutes limit: Int? = nil, durationMu: Double = -0.38, durationSigma: Double = 2.36,
                         jitterSigma: Double = 0.25, timeLimitSeconds: Double = 60, seed: UInt64 = 1) -> Workload {
        let keep = min(limit ?? minutes, minutes)
        var actions: [SimulatedAction] = []
        var counts: [[Int]] = []
        for function in functions {
            let namespace = "o" + String(function.owner.prefix(12))
            var random = SimulationRandom(seed: StableHash.fnv1a(function.owner + "/" + function.app + "/" + function.function) ^ seed)
            let median = min(max(exp(durationMu + durationSigma * random.normal()), 0.001), timeLimitSeconds)
            actions.append(SimulatedAction(name: "\(namespace)/f\(function.function.prefix(16))", namespace: namespace,
                                           medianSeconds: median, jitterSigma: jitterSigma, timeLimitSeconds: timeLimitSeconds))
            counts.append(Array(function.counts.prefix(keep)))
        }
        return Workload(actions: actions, countsPerMinute: counts, seed: seed)
    }


    static func hex(_ value: UInt64) -> String {
        var mixed = value &* 0xBF58_476D_1CE4_E5B9
        mixed ^= mixed >> 31
        let text = String(mixed, radix: 16)
        return String(repeating: "0", count: max(0, 16 - text.count)) + text
    }
}
