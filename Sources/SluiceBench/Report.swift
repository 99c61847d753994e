import Foundation

/// Text, JSON and SVG renderings of bench results.
public enum BenchReport {
    public static func table(_ results: [BenchResult]) -> String {
        func pad(_ text: String, _ width: Int) -> String {
            text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
        }
        var lines = ["mode    " + [("rt/s", 11), ("p50 us", 10), ("p99 us", 10), ("p99.9 us", 10), ("max us", 10), ("broker CPU", 11),
                                  ("bench CPU", 10), ("answered", 10), ("lost", 6)].map { pad($0.0, $0.1) }.joined()]
        for result in results {
            let latency = result.latencyMicroseconds
            let mode = result.mode + (result.offeredRate.map { String(format: "@%.0f/s", $0) } ?? "")
            let cells: [(String, Int)] = [
                (String(format: "%.0f", result.roundTripsPerSecond), 11),
                (String(format: "%.1f", latency["p50"] ?? .nan), 10), (String(format: "%.1f", latency["p99"] ?? .nan), 10),
                (String(format: "%.1f", latency["p99.9"] ?? .nan), 10), (String(format: "%.1f", latency["max"] ?? .nan), 10),
                (result.brokerCPUPercent.map { String(format: "%.0f%%", $0) } ?? "-", 11),
                (String(format: "%.0f%%", result.clientCPUPercent), 10), ("\(result.answered)", 10), ("\(result.lost)", 6),
            ]
            lines.append(mode.padding(toLength: max(8, mode.count), withPad: " ", startingAt: 0) + cells.map { pad($0.0, $0.1) }.joined())
        }
        for result in results {
            let kinds = result.answersByKind.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            lines.append("\(result.mode) answers by kind: \(kinds.isEmpty ? "none" : kinds)")
            if result.roundTripsPerSecond > 0 && result.heldInFlight == nil {
                // CPU time per round trip: the figure to compare builds by, since round trips
                // per second also move with what else the two cores are doing.
                let perRoundTrip = { (percent: Double) in percent / 100 / result.roundTripsPerSecond * 1e6 }
                let broker = result.brokerCPUPercent.map { String(format: "broker %.1f us, ", perRoundTrip($0)) } ?? ""
                lines.append("\(result.mode) CPU per round trip: \(broker)bench \(String(format: "%.1f", perRoundTrip(result.clientCPUPercent))) us")
                if let threads = result.brokerThreadCPU, result.measuredSeconds > 0 {
                    lines.append("\(result.mode) CPU per round trip by thread: " + byThread(threads, roundTrips: result.roundTripsPerSecond * result.measuredSeconds))
                }
            }
            if let perInFlight = result.brokerBytesPerInFlight, let idle = result.brokerIdleRSSBytes, let peak = result.brokerPeakRSSBytes {
                lines.append(String(format: "\(result.mode) memory: broker RSS %.1f MiB idle, %.1f MiB with %d in flight: %.0f B per activation in flight",
                                    Double(idle) / 1_048_576, Double(peak) / 1_048_576, result.heldInFlight ?? result.sent, perInFlight))
            }
            if result.sessionsResumed > 0 {
                lines.append("\(result.mode) sessions resumed: \(result.sessionsResumed) (the broker ended a controller's session when its connection's send queue filled; the controller said HELLO again and got its kept answers, §6.4)")
            }
            if let failure = result.failure { lines.append("\(result.mode) FAILED: \(failure)") }
            if result.lost > 0 { lines.append("\(result.mode) FAILED: \(result.lost) activations were never answered") }
            if result.unexpected > 0 { lines.append("\(result.mode) FAILED: \(result.unexpected) unexpected or duplicate answers") }
        }
        return lines.joined(separator: "\n")
    }

    /// "loop 13.4 us (kernel 12 %), libzmq I/O 10.0 us (kernel 66 %), other 0.6 us".
    static func byThread(_ threads: ThreadCPU, roundTrips: Double) -> String {
        func part(_ name: String, _ share: ThreadCPU.Share) -> String {
            let kernel = share.seconds > 0 ? String(format: " (kernel %.0f %%)", share.systemSeconds / share.seconds * 100) : ""
            return String(format: "%@ %.1f us", name, share.seconds / roundTrips * 1e6) + kernel
        }
        return [part("loop", threads.loop), part("libzmq I/O", threads.io), String(format: "other %.1f us", threads.other.seconds / roundTrips * 1e6)]
            .joined(separator: ", ")
    }

    struct Document: Encodable {
        var runs: [BenchResult]
        var ratioBrokerToDirect: Double?
        var clean: Bool
    }

    /// Broker round trips per second divided by the direct baseline's, when both ran.
    public static func ratio(_ results: [BenchResult]) -> Double? {
        guard let broker = results.last(where: { $0.mode == "broker" && $0.offeredRate == nil }),
              let direct = results.last(where: { $0.mode == "direct" && $0.offeredRate == nil }), direct.roundTripsPerSecond > 0 else { return nil }
        return broker.roundTripsPerSecond / direct.roundTripsPerSecond
    }

    /// CPU seconds a process spent per round trip, in microseconds (broker or forwarder).
    public static func cpuPerRoundTrip(_ result: BenchResult) -> Double? {
        guard let cpu = result.brokerCPUPercent, result.roundTripsPerSecond > 0 else { return nil }
        return cpu / 100 / result.roundTripsPerSecond * 1e6
    }

    /// One line per baseline that ran beside the broker: the throughput ratio, and for the
    /// forwarder both processes' CPU per round trip.
    public static func comparisons(_ results: [BenchResult]) -> [String] {
        var lines: [String] = []
        if let ratio = ratio(results) { lines.append(String(format: "ratio broker/direct (round trips per second): %.2f", ratio)) }
        let open = results.last { $0.mode == "broker" }?.offeredRate
        if let broker = results.last(where: { $0.mode == "broker" && $0.offeredRate == open }),
           let forwarder = results.last(where: { $0.mode == "forwarder" }), forwarder.roundTripsPerSecond > 0 {
            lines.append(String(format: "ratio broker/forwarder (round trips per second): %.2f", broker.roundTripsPerSecond / forwarder.roundTripsPerSecond))
            if let brokerCPU = cpuPerRoundTrip(broker), let forwarderCPU = cpuPerRoundTrip(forwarder) {
                lines.append(String(format: "CPU per round trip: broker %.1f us, forwarder %.1f us (broker/forwarder %.2f)",
                                    brokerCPU, forwarderCPU, brokerCPU / forwarderCPU))
            }
        }
        return lines
    }

    public static func json(_ results: [BenchResult]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        let document = Document(runs: results, ratioBrokerToDirect: ratio(results), clean: results.allSatisfy(\.isClean))
        return String(decoding: try encoder.encode(document), as: UTF8.self)
    }

    /// Two panels over time: round trips per second, and p50/p99 latency; one colour per run.
    public static func svg(_ results: [BenchResult], title: String) -> String {
        let width = 900.0, panelHeight = 220.0, left = 80.0, right = 20.0, top = 40.0, gap = 60.0
        let plotWidth = width - left - right
        let colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
        let maxTime = max(results.flatMap { $0.timeline.map(\.second) }.max() ?? 1, 1)
        var svg = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(top + 2 * panelHeight + gap + 50))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(left)" y="20" font-size="14">\(escape(title))</text>

        """
        func panel(_ index: Int, label: String, values: [(run: Int, dashed: Bool, points: [(Double, Double)])]) {
            let y0 = top + Double(index) * (panelHeight + gap)
            let maxValue = max(values.flatMap { $0.points.map(\.1) }.filter { $0.isFinite }.max() ?? 1, 1e-9) * 1.1
            svg += "<rect x=\"\(left)\" y=\"\(y0)\" width=\"\(plotWidth)\" height=\"\(panelHeight)\" fill=\"none\" stroke=\"#888\"/>\n"
            svg += "<text x=\"10\" y=\"\(y0 - 8)\">\(escape(label))</text>\n"
            for tick in 0...4 {
                let value = maxValue * Double(tick) / 4
                let y = y0 + panelHeight - panelHeight * Double(tick) / 4
                svg += "<text x=\"\(left - 6)\" y=\"\(y + 4)\" text-anchor=\"end\">\(String(format: value >= 100 ? "%.0f" : "%.1f", value))</text>\n"
                svg += "<line x1=\"\(left)\" x2=\"\(left + plotWidth)\" y1=\"\(y)\" y2=\"\(y)\" stroke=\"#eee\"/>\n"
            }
            for tick in 0...5 {
                let seconds = maxTime * Double(tick) / 5
                let x = left + plotWidth * Double(tick) / 5
                svg += "<text x=\"\(x)\" y=\"\(y0 + panelHeight + 16)\" text-anchor=\"middle\">\(String(format: "%.0fs", seconds))</text>\n"
            }
            for series in values where !series.points.isEmpty {
                let coordinates = series.points.map { point in
                    String(format: "%.1f,%.1f", left + plotWidth * point.0 / maxTime, y0 + panelHeight - panelHeight * min(point.1, maxValue) / maxValue)
                }.joined(separator: " ")
                svg += "<polyline fill=\"none\" stroke=\"\(colours[series.run % colours.count])\" stroke-width=\"2\"\(series.dashed ? " stroke-dasharray=\"5,4\"" : "") points=\"\(coordinates)\"/>\n"
            }
        }
        panel(0, label: "round trips per second", values: results.enumerated().map { index, result in
            (index, false, result.timeline.map { ($0.second, $0.answersPerSecond) })
        })
        panel(1, label: "latency, microseconds (solid p50, dashed p99)", values: results.enumerated().flatMap { index, result in
            [(index, false, result.timeline.map { ($0.second, $0.p50Microseconds) }),
             (index, true, result.timeline.map { ($0.second, $0.p99Microseconds) })]
        })
        let legendY = top + 2 * panelHeight + gap + 36
        for (index, result) in results.enumerated() {
            let x = left + Double(index) * 200
            svg += "<line x1=\"\(x)\" x2=\"\(x + 24)\" y1=\"\(legendY - 4)\" y2=\"\(legendY - 4)\" stroke=\"\(colours[index % colours.count])\" stroke-width=\"3\"/>\n"
            svg += "<text x=\"\(x + 30)\" y=\"\(legendY)\">\(escape(result.mode)) (\(String(format: "%.0f", result.roundTripsPerSecond)) rt/s)</text>\n"
        }
        return svg + "</svg>\n"
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
