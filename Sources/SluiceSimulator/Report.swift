import Foundation

/// Text tables and SVG charts of simulation results.
public enum Report {
    // MARK: Tables

    /// The headline table: one row per strategy per scenario series.
    public static func summaryTable(_ summaries: [StrategySummary]) -> String {
        var out = ""
        var current = ""
        for summary in summaries {
            if summary.scenario != current {
                current = summary.scenario
                out += "\n\(current) (per-run columns at \(summary.reference))\n"
                out += "strategy             cold%  create/1k  evict/1k  p50 sd  p99 sd  rps@p99<5  imbal  remap+1  remap-1  expired  overl.\n"
            }
            out += pad(summary.strategy, 20)
            out += String(format: " %6.2f %10.1f %9.1f %7.2f %7.2f", 100 * summary.coldStartRate, summary.creationsPerThousand,
                          summary.evictionsPerThousand, summary.slowdownP50, summary.slowdownP99)
            out += " " + leftPad(summary.throughputAtP99Under5.map { String(format: "%.1f", $0) } ?? "-", 10)
            out += String(format: " %6.2f", summary.imbalance)
            out += " " + leftPad(summary.remappedOnJoin.map { String(format: "%.0f%%", 100 * $0) } ?? "-", 8)
            out += " " + leftPad(summary.remappedOnLeave.map { String(format: "%.0f%%", 100 * $0) } ?? "-", 8)
            out += String(format: " %8ld %7ld\n", summary.expired, summary.overloaded)
        }
        return out
    }

    /// One metric across the points of a sweep: a row per strategy, a column per point.
    public static func sweepTable(_ runs: [ScenarioRun], title: String, metric: (SimulationResult) -> Double,
                                  format: String = "%.2f") -> String {
        guard let first = runs.first else { return "" }
        var out = "\n\(title)\nstrategy            "
        for run in runs { out += leftPad(run.label.replacingOccurrences(of: "load ", with: ""), 11) }
        out += "\n" + pad("(requests/s)", 20)
        for run in runs { out += leftPad(String(format: "%.1f", run.results.first?.requestRate ?? 0), 11) }
        out += "\n"
        for (index, result) in first.results.enumerated() {
            out += pad(result.strategy, 20)
            for run in runs { out += leftPad(String(format: format, metric(run.results[index])), 11) }
            out += "\n"
        }
        return out
    }

    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }

    static func leftPad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
    }

    // MARK: Charts

    static let colors = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#ff7f0e", "#17becf", "#7f7f7f"]

    /// Line chart: p99 slowdown (log scale) against request rate, one line per strategy.
    public static func slowdownChart(_ runs: [ScenarioRun], title: String) -> String {
        guard let first = runs.first else { return "" }
        let width = 720.0, height = 420.0, left = 70.0, right = 190.0, top = 40.0, bottom = 50.0
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        let rates = runs.compactMap { $0.results.first?.requestRate }
        let minX = rates.min() ?? 0, maxX = max(rates.max() ?? 1, minX + 1e-9)
        let values = runs.flatMap { $0.results.map { max($0.slowdownP99, 1) } }
        let maxY = pow(10, (log10(values.max() ?? 10)).rounded(.up))
        let minY = 1.0
        func xPosition(_ x: Double) -> Double { left + (x - minX) / (maxX - minX) * plotWidth }
        func yPosition(_ y: Double) -> Double {
            top + plotHeight - (log10(max(y, minY)) - log10(minY)) / max(log10(maxY) - log10(minY), 1e-9) * plotHeight
        }
        var svg = header(width, height, title)
        svg += axes(left: left, top: top, plotWidth: plotWidth, plotHeight: plotHeight)
        var decade = minY
        while decade <= maxY * 1.0001 {
            let y = yPosition(decade)
            svg += line(left, y, left + plotWidth, y, stroke: "#dddddd")
            svg += text(left - 8, y + 4, decade >= 1000 ? String(format: "%.0e", decade) : String(format: "%g", decade), anchor: "end")
            decade *= 10
        }
        let limitY = yPosition(5)
        svg += line(left, limitY, left + plotWidth, limitY, stroke: "#999999", dash: true)
        svg += text(left + plotWidth - 4, limitY - 4, "p99 = 5", anchor: "end", size: 11)
        for rate in rates {
            svg += text(xPosition(rate), top + plotHeight + 18, String(format: "%.0f", rate))
        }
        svg += text(left + plotWidth / 2, height - 10, "requests per second (offered load 20 % ... 100 % of the cores)")
        svg += "<text x=\"18\" y=\"\(fmt(top + plotHeight / 2))\" transform=\"rotate(-90 18 \(fmt(top + plotHeight / 2)))\" text-anchor=\"middle\" font-size=\"13\">p99 slowdown (log)</text>\n"
        for (index, result) in first.results.enumerated() {
            let color = colors[index % colors.count]
            let points = runs.map { "\(fmt(xPosition($0.results[index].requestRate))),\(fmt(yPosition($0.results[index].slowdownP99)))" }
            svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(points.joined(separator: " "))\"/>\n"
            for run in runs {
                svg += "<circle cx=\"\(fmt(xPosition(run.results[index].requestRate)))\" cy=\"\(fmt(yPosition(run.results[index].slowdownP99)))\" r=\"3\" fill=\"\(color)\"/>\n"
            }
            let legendY = top + 10 + Double(index) * 20
            svg += line(width - right + 15, legendY, width - right + 40, legendY, stroke: color, strokeWidth: 3)
            svg += text(width - right + 46, legendY + 4, result.strategy, anchor: "start")
        }
        return svg + "</svg>\n"
    }

    /// Grouped bars: cold-start rate per strategy, one group per (scenario, label).
    public static func coldStartChart(_ groups: [(name: String, results: [SimulationResult])], title: String) -> String {
        guard let first = groups.first else { return "" }
        let width = 760.0, height = 420.0, left = 60.0, right = 190.0, top = 40.0, bottom = 60.0
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        let maxRate = groups.flatMap { $0.results.map(\.coldStartRate) }.max() ?? 0.01
        let step = niceStep(maxRate * 100)
        let maxY = max(step, (maxRate * 100 / step).rounded(.up) * step)
        func yPosition(_ percent: Double) -> Double { top + plotHeight - percent / maxY * plotHeight }
        var svg = header(width, height, title)
        svg += axes(left: left, top: top, plotWidth: plotWidth, plotHeight: plotHeight)
        var tick = 0.0
        while tick <= maxY + 1e-9 {
            svg += line(left, yPosition(tick), left + plotWidth, yPosition(tick), stroke: "#dddddd")
            svg += text(left - 8, yPosition(tick) + 4, String(format: "%g%%", tick), anchor: "end")
            tick += step
        }
        let groupWidth = plotWidth / Double(groups.count)
        let barWidth = groupWidth * 0.8 / Double(first.results.count)
        for (groupIndex, group) in groups.enumerated() {
            let groupLeft = left + Double(groupIndex) * groupWidth + groupWidth * 0.1
            for (index, result) in group.results.enumerated() {
                let x = groupLeft + Double(index) * barWidth
                let y = yPosition(100 * result.coldStartRate)
                svg += "<rect x=\"\(fmt(x))\" y=\"\(fmt(y))\" width=\"\(fmt(barWidth - 1))\" height=\"\(fmt(top + plotHeight - y))\" fill=\"\(colors[index % colors.count])\"/>\n"
            }
            svg += text(groupLeft + groupWidth * 0.4, top + plotHeight + 18, group.name)
        }
        for (index, result) in first.results.enumerated() {
            let legendY = top + 10 + Double(index) * 20
            svg += "<rect x=\"\(fmt(width - right + 15))\" y=\"\(fmt(legendY - 6))\" width=\"20\" height=\"12\" fill=\"\(colors[index % colors.count])\"/>\n"
            svg += text(width - right + 42, legendY + 4, result.strategy, anchor: "start")
        }
        svg += "<text x=\"18\" y=\"\(fmt(top + plotHeight / 2))\" transform=\"rotate(-90 18 \(fmt(top + plotHeight / 2)))\" text-anchor=\"middle\" font-size=\"13\">cold-start rate</text>\n"
        return svg + "</svg>\n"
    }

    static func niceStep(_ maximum: Double) -> Double {
        let raw = max(maximum, 0.1) / 5
        let magnitude = pow(10, floor(log10(raw)))
        for multiple in [1.0, 2.0, 5.0, 10.0] where multiple * magnitude >= raw { return multiple * magnitude }
        return 10 * magnitude
    }

    static func header(_ width: Double, _ height: Double, _ title: String) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(fmt(width))\" height=\"\(fmt(height))\" viewBox=\"0 0 \(fmt(width)) \(fmt(height))\" font-family=\"sans-serif\">\n"
            + "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n" + text(width / 2, 24, title, size: 15)
    }

    static func axes(left: Double, top: Double, plotWidth: Double, plotHeight: Double) -> String {
        line(left, top, left, top + plotHeight, stroke: "#333333") + line(left, top + plotHeight, left + plotWidth, top + plotHeight, stroke: "#333333")
    }

    static func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, stroke: String, strokeWidth: Double = 1, dash: Bool = false) -> String {
        "<line x1=\"\(fmt(x1))\" y1=\"\(fmt(y1))\" x2=\"\(fmt(x2))\" y2=\"\(fmt(y2))\" stroke=\"\(stroke)\" stroke-width=\"\(fmt(strokeWidth))\"\(dash ? " stroke-dasharray=\"5,4\"" : "")/>\n"
    }

    static func text(_ x: Double, _ y: Double, _ content: String, anchor: String = "middle", size: Int = 12) -> String {
        let escaped = content.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        return "<text x=\"\(fmt(x))\" y=\"\(fmt(y))\" text-anchor=\"\(anchor)\" font-size=\"\(size)\">\(escaped)</text>\n"
    }

    static func fmt(_ value: Double) -> String { String(format: "%.1f", value) }
}
