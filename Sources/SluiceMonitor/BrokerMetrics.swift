import CoreMetrics
import Prometheus

/// Sluice's metrics through swift-metrics, exported by swift-prometheus. Each broker has its
/// own registry (no global `MetricsSystem.bootstrap`, so brokers in one process never mix).
///
/// `update(from:)` turns a published snapshot into swift-metrics calls: counters move by the
/// difference since the last update (the core's counters are monotonic), gauges are set, and
/// a series whose label value went away (an invoker left, a namespace fell out of the top N)
/// is destroyed, so the exposition never grows without bound. The latency histograms are the
/// exception: `LatencyHistogram`s of this class's own, written into the same exposition (they
/// take several samples per activation). Not thread-safe: the monitor server calls it under
/// its own lock.
final class BrokerMetrics {
    let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory
    let limits: MetricLimits
    private var counters: [String: (counter: CoreMetrics.Counter, last: Double)] = [:]
    private var gauges: [String: Meter] = [:]
    /// The latency histograms, kept here rather than in the registry (`LatencyHistogram`).
    private var histograms: [LatencyHistogram]
    /// Samples the feed could not keep because nobody took them in time.
    private var samplesDropped: CoreMetrics.Counter

    init(limits: MetricLimits) {
        self.limits = limits
        let factory = PrometheusMetricsFactory(registry: registry)
        self.factory = factory
        samplesDropped = CoreMetrics.Counter(label: "sluice_monitor_samples_dropped_total", dimensions: [], factory: factory)
        histograms = MetricTables.histograms.map { LatencyHistogram(name: $0.name, buckets: MetricTables.buckets) }
    }

    func update(from snapshot: MonitorSnapshot, startedAtSeconds: Double, version: String) {
        for series in MetricTables.counters(snapshot) {
            let key = series.key
            if let entry = counters[key] {
                if series.value > entry.last {
                    entry.counter.increment(by: Int64(series.value - entry.last))
                    counters[key]!.last = series.value
                }
            } else {
                let counter = CoreMetrics.Counter(label: series.name, dimensions: series.dimensions, factory: factory)
                if series.value > 0 { counter.increment(by: Int64(series.value)) }
                counters[key] = (counter, series.value)
            }
        }
        var present = Set<String>()
        let info = [
            MetricSeries("sluice_build_info", [("version", version)], 1),
            MetricSeries("sluice_start_time_seconds", [], startedAtSeconds),
        ]
        for series in MetricTables.gauges(snapshot, limits: limits) + info {
            let key = series.key
            present.insert(key)
            let gauge = gauges[key] ?? {
                let made = Meter(label: series.name, dimensions: series.dimensions, factory: factory)
                gauges[key] = made
                return made
            }()
            gauge.set(series.value)
        }
        for (key, gauge) in gauges where !present.contains(key) {
            gauge.destroy()
            gauges[key] = nil
        }
    }

    func record(_ samples: PendingSamples) {
        for (index, histogram) in MetricTables.histograms.enumerated() {
            for nanoseconds in samples[keyPath: histogram.kind] {
                histograms[index].record(nanoseconds: nanoseconds)
            }
        }
        if samples.dropped > 0 { samplesDropped.increment(by: Int64(samples.dropped)) }
    }

    /// The Prometheus text exposition (format 0.0.4), with a `# HELP` line before each
    /// family's `# TYPE` line.
    func exposition() -> [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(16_384)
        registry.emit(into: &buffer)
        for histogram in histograms { histogram.emit(into: &buffer) }
        var result: [UInt8] = []
        result.reserveCapacity(buffer.count + 4096)
        let typePrefix = Array("# TYPE ".utf8)
        for line in buffer.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            if line.starts(with: typePrefix) {
                let name = String(decoding: line.dropFirst(typePrefix.count).prefix { $0 != UInt8(ascii: " ") }, as: UTF8.self)
                if let help = MetricTables.help[name] { result += Array("# HELP \(name) \(help)\n".utf8) }
            }
            result += line
            result.append(UInt8(ascii: "\n"))
        }
        if result.last == UInt8(ascii: "\n") && buffer.last == UInt8(ascii: "\n") { result.removeLast() }
        return result
    }
}
