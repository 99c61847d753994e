import Foundation

/// `/status` as text tables for `sluice status`; with a previous document, counters also show
/// their rate per second over the interval between the two.
public enum StatusView {
    public static func render(_ status: StatusDocument, endpoint: String, previous: StatusDocument? = nil,
                              interval: Double? = nil, maxRows: Int = 40) -> String {
        var lines: [String] = []
        lines.append("sluice \(status.version) · \(status.state) · up \(duration(status.uptimeSeconds)) · strategy \(status.strategy) · http://\(endpoint)")

        func counter(_ name: String) -> String {
            let value = status.counters[name, default: 0]
            var text = grouped(value)
            if let previous, let interval, interval > 0 {
                let rate = Double(value - previous.counters[name, default: 0]) / interval
                text += " (\(grouped(Int(rate.rounded())))/s)"
            }
            return text
        }
        lines.append("activations  received \(counter("activations_received")) · dispatched \(counter("dispatched")) · answered \(counter("answered"))")
        let kinds = status.counters.keys.filter { $0.hasPrefix("answered_") }.sorted()
        let answerParts = kinds.compactMap { name -> String? in
            let value = status.counters[name, default: 0]
            guard value > 0 || name == "answered_success" else { return nil }
            return "\(name.dropFirst("answered_".count)) \(counter(name))"
        }
        lines.append("answers      " + answerParts.joined(separator: " · "))
        let g = status.gauges
        let byState = Dictionary(grouping: status.invokers, by: \.state).mapValues(\.count)
        let states = byState.keys.sorted().map { "\(byState[$0]!) \($0)" }.joined(separator: ", ")
        lines.append("now          waiting \(grouped(g.waiting)) · in flight \(grouped(g.inFlight)) · parked answers \(grouped(g.parkedAnswers)) · controllers \(g.controllersConnected) · invokers \(g.invokers)\(states.isEmpty ? "" : " (\(states))")")
        lines.append("capacity     slots \(grouped(g.slotsFree)) free of \(grouped(g.slots)) · memory \(grouped(Int(g.memoryFreeMb))) MB free of \(grouped(Int(g.memoryMb))) MB")
        if let overflow = status.overflow {
            let budget = overflow.budgetBytes.map { " of \(bytes($0))" } ?? ""
            lines.append("overflow     \(overflow.store): \(grouped(overflow.records)) records, \(bytes(overflow.bytes))\(budget)\(overflow.broken.map { " · BROKEN: \($0)" } ?? "")")
        } else {
            lines.append("overflow     memory (nothing written to disk)")
        }
        lines.append("loop         last tick \(status.loop.lastTickSecondsAgo.map { String(format: "%.2f s ago", $0) } ?? "not yet") · slow turns \(status.loop.slowTurns) · late ticks \(status.loop.lateTicks) · protocol errors \(counter("protocol_errors"))")
        lines.append("")

        lines += table(["INVOKER", "STATE", "SLOTS USED", "MEMORY MB USED", "IN FLIGHT", "LAST SEEN", "WARM"],
                       status.invokers.prefix(maxRows).map { invoker in
                           [invoker.id, invoker.state, "\(invoker.slotsUsed)/\(invoker.slots)",
                            "\(invoker.memoryUsedMb)/\(invoker.memoryMb)", "\(invoker.inFlight)",
                            String(format: "%.1fs ago", invoker.lastSeenSecondsAgo), "\(invoker.warmActions)"]
                       }, empty: "no invokers connected")
        if status.invokers.count > maxRows { lines.append("… and \(status.invokers.count - maxRows) more invokers") }
        lines.append("")
        lines += table(["CONTROLLER", "CONNECTED", "IN FLIGHT", "PARKED"],
                       status.controllers.prefix(maxRows).map { [$0.id, $0.connected ? "yes" : "no", "\($0.inFlight)", "\($0.parked)"] },
                       empty: "no controllers")
        if status.controllers.count > maxRows { lines.append("… and \(status.controllers.count - maxRows) more controllers") }
        if let cluster = status.cluster {
            lines.append("")
            lines.append("cluster \(cluster.name) · etcd \(cluster.etcdReachable ? "reachable" : "UNREACHABLE (serving with the last view)")")
            lines += table(["BROKER", "STATE", "INVOKERS", "SLOTS", "CONTROLLER ENDPOINT", "INCARNATION"],
                           cluster.members.map { [$0.id, $0.state, "\($0.invokers)", "\($0.slots)", $0.controllerEndpoint, $0.incarnation] },
                           empty: "no members seen")
        }
        if !status.waitingByNamespace.isEmpty {
            lines.append("")
            lines += table(["NAMESPACE", "WAITING"], status.waitingByNamespace.prefix(maxRows).map { [$0.namespace, grouped($0.waiting)] }, empty: "")
            if status.waitingOtherNamespaces > 0 { lines.append("(other namespaces) \(grouped(status.waitingOtherNamespaces))") }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func table(_ header: [String], _ rows: [[String]], empty: String) -> [String] {
        guard !rows.isEmpty else { return [empty] }
        var widths = header.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count { widths[index] = max(widths[index], cell.count) }
        }
        func format(_ row: [String]) -> String {
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        return [format(header)] + rows.map(format)
    }

    /// 1234567 as 1,234,567.
    static func grouped(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var result = ""
        for (index, character) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { result.append(",") }
            result.append(character)
        }
        return (value < 0 ? "-" : "") + result
    }

    static func bytes(_ value: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var amount = Double(value)
        var unit = 0
        while amount >= 1024 && unit < units.count - 1 {
            amount /= 1024
            unit += 1
        }
        return unit == 0 ? "\(value) B" : String(format: "%.1f", amount) + " " + units[unit]
    }

    static func duration(_ seconds: Double) -> String {
        let total = Int(seconds)
        if total < 60 { return "\(total)s" }
        if total < 3600 { return "\(total / 60)m \(total % 60)s" }
        if total < 86400 { return "\(total / 3600)h \(total % 3600 / 60)m" }
        return "\(total / 86400)d \(total % 86400 / 3600)h"
    }
}
