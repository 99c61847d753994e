import ArgumentParser
import Foundation
import SluiceProtocol
import SluiceSimulator
import SluiceTrace

/// `sluice trace inspect`: what a recorded placement trace holds (docs/TRACES.md).
struct TraceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace",
        abstract: "Look into a placement trace recorded by `sluice broker --record-trace`.",
        subcommands: [Inspect.self]
    )

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print what a trace holds: time span, rate over time, actions, memory mix, outcomes, cluster shape.",
            discussion: """
                Reads the trace's segments (PATH, PATH.1, ...), cuts a torn tail, and prints tables. \
                With --svg, also writes the arrival rate and the number of invokers over time as a chart. \
                Replay the trace through the strategies with `sluice simulate --trace PATH`.
                """
        )

        @Argument(help: "The trace's first segment file.")
        var path: String

        @Option(help: "Write a chart of the arrival rate and the invokers over time to this SVG file.")
        var svg: String?

        @Option(help: "Width of one bucket of the rate table and chart, seconds (default: a tenth of the span, at least 1).")
        var bucket: Double?

        func run() throws {
            let file: TraceFile
            do { file = try TraceFile(path: path) } catch { throw ValidationError(error.description) }
            let trace = RecordedTrace(file)
            let start = Date(timeIntervalSince1970: Double(file.header.startMilliseconds) / 1000)
            print("trace \(path): format version \(TraceFormat.version), \(file.segments) segment(s), \(file.records.count) records, started \(start)")
            if file.tornBytes > 0 { print("  a torn tail of \(file.tornBytes) bytes was cut (the recording did not end cleanly)") }
            let answered = trace.activations.filter { $0.kind != nil }
            print(String(format: "  %d activations over %.1f s (%.1f per second), %d answered, %d without an answer in the trace",
                         trace.activations.count, trace.span, Double(trace.activations.count) / max(trace.span, 1),
                         answered.count, trace.activations.count - answered.count))
            print("  cluster: up to \(trace.invokers) invokers at once, usually \(trace.invokerSlots) slots and \(trace.invokerMemoryMB) MB each")
            if let cold = trace.estimatedColdStartSeconds { print(String(format: "  cold start seen in the run times: %.2f s", cold)) }
            let ranCount = trace.activations.filter { $0.ran != nil }.count
            if ranCount > 0 {
                print(String(format: "  %.1f %% of the %d that ran found an idle warm container of their action when dispatched (%.1f %% cold, as the broker counted them, PROTOCOL.md §4.12)",
                             100 * Double(trace.activations.filter(\.warm).count) / Double(ranCount), ranCount,
                             100 - 100 * Double(trace.activations.filter(\.warm).count) / Double(ranCount)))
            }

            var kinds: [String: Int] = [:]
            for activation in answered { kinds[activation.kind.map { "\($0)" } ?? "?", default: 0] += 1 }
            print("\noutcomes:")
            for (kind, count) in kinds.sorted(by: { $0.value > $1.value }) { print(String(format: "  %-18@ %8d", kind as NSString, count)) }

            print("\nactions (names are salted hashes; top 10 by arrivals):")
            print("  action                     arrivals   median run   warm at dispatch")
            var perAction: [Int32: [RecordedTrace.Activation]] = [:]
            for activation in trace.activations { perAction[activation.action, default: []].append(activation) }
            for (action, list) in perAction.sorted(by: { $0.value.count != $1.value.count ? $0.value.count > $1.value.count : $0.key < $1.key }).prefix(10) {
                let runs = list.compactMap(\.ran).sorted()
                let median = runs.isEmpty ? "-" : String(format: "%.3f s", runs[runs.count / 2])
                let warm = list.filter(\.warm).count
                print(String(format: "  %-24@ %10d %12@ %10.0f %%", trace.actionName(Int(action)) as NSString, list.count, median as NSString,
                             100 * Double(warm) / Double(max(list.filter { $0.ran != nil }.count, 1))))
            }
            print("  \(trace.actionHashes.count) actions in all")

            var memory: [UInt32: Int] = [:]
            for activation in trace.activations { memory[activation.memoryMB, default: 0] += 1 }
            print("\nmemory mix:")
            for (size, count) in memory.sorted(by: { $0.key < $1.key }) {
                print(String(format: "  %6d MB %8d (%4.1f %%)", size, count, 100 * Double(count) / Double(max(trace.activations.count, 1))))
            }

            let width = bucket ?? max((trace.span / 10).rounded(.up), 1)
            guard width > 0 else { throw ValidationError("--bucket must be positive") }
            let origin = trace.activations.first?.arrival ?? 0
            var rates = [Int](repeating: 0, count: Int(trace.span / width) + 1)
            for activation in trace.activations { rates[min(Int((activation.arrival - origin) / width), rates.count - 1)] += 1 }
            print("\nrate over time (\(width) s buckets):")
            for (index, count) in rates.enumerated() {
                let invokers = trace.shape.last(where: { $0.seconds - origin <= Double(index + 1) * width })?.invokers ?? 0
                print(String(format: "  %8.0f s  %10.1f /s  %4d invokers  %@", Double(index) * width, Double(count) / width, invokers,
                             String(repeating: "#", count: min(60, count * 60 / max(rates.max() ?? 1, 1))) as NSString))
            }
            if let svg {
                try Self.chart(rates: rates.map { Double($0) / width }, width: width, trace: trace, origin: origin)
                    .write(toFile: svg, atomically: true, encoding: .utf8)
                print("\nwrote \(svg)")
            }
        }

        /// Arrival rate (line) and invokers registered (steps) per bucket.
        static func chart(rates: [Double], width: Double, trace: RecordedTrace, origin: Double) -> String {
            let w = 640.0, h = 240.0, left = 50.0, bottom = 30.0
            let top = max(rates.max() ?? 1, 1)
            let most = Double(max(trace.invokers, 1))
            func x(_ index: Double) -> Double { left + (w - left - 10) * index / Double(max(rates.count - 1, 1)) }
            func y(_ value: Double, _ scale: Double) -> Double { h - bottom - (h - bottom - 10) * value / scale }
            let rateLine = rates.enumerated().map { String(format: "%.1f,%.1f", x(Double($0.offset)), y($0.element, top)) }.joined(separator: " ")
            let invokerLine = rates.indices.map { index -> String in
                let count = trace.shape.last(where: { $0.seconds - origin <= Double(index + 1) * width })?.invokers ?? 0
                return String(format: "%.1f,%.1f", x(Double(index)), y(Double(count), most))
            }.joined(separator: " ")
            return """
                <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(w))" height="\(Int(h))" font-family="sans-serif" font-size="11">
                <rect width="100%" height="100%" fill="white"/>
                <line x1="\(left)" y1="\(h - bottom)" x2="\(w - 10)" y2="\(h - bottom)" stroke="black"/>
                <line x1="\(left)" y1="10" x2="\(left)" y2="\(h - bottom)" stroke="black"/>
                <text x="\(left)" y="\(h - 8)">0 s</text><text x="\(w - 60)" y="\(h - 8)">\(Int(Double(rates.count) * width)) s</text>
                <text x="4" y="16">\(Int(top))/s</text>
                <polyline fill="none" stroke="#1f77b4" stroke-width="2" points="\(rateLine)"/>
                <polyline fill="none" stroke="#ff7f0e" stroke-width="1.5" stroke-dasharray="4 3" points="\(invokerLine)"/>
                <text x="\(left + 10)" y="24" fill="#1f77b4">arrivals per second</text>
                <text x="\(left + 160)" y="24" fill="#ff7f0e">invokers (top = \(trace.invokers))</text>
                </svg>
                """
        }
    }
}
