import Prometheus
@testable import SluiceMonitor
import Testing

// The broker's latency histograms are kept in integers (LatencyHistogram), not in
// swift-prometheus's DurationHistogram; a scrape must read exactly what it read before.

@Suite("Latency histograms")
struct LatencyHistogramTests {
    /// Samples on, just below and just above bounds, zero, and beyond the last bound.
    static let samples: [UInt64] = [0, 1, 99_999, 100_000, 100_001, 250_000, 999_999, 1_000_000, 2_500_001,
                                    7_000_000, 60_000_000_000, 119_999_999_999, 120_000_000_000, 120_000_000_001,
                                    3_600_000_000_000, 42, 123_456_789]

    @Test("the exposition is byte for byte swift-prometheus's DurationHistogram's for the same samples")
    func sameTextAsPrometheus() {
        let registry = PrometheusCollectorRegistry()
        // No help text: the broker's exposition adds `# HELP` lines itself.
        let descriptor = MetricNameDescriptor(namespace: "sluice", metricName: "test", unitName: "seconds", helpText: "")
        let reference = registry.makeDurationHistogram(descriptor: descriptor, buckets: MetricTables.buckets)
        var histogram = LatencyHistogram(name: "sluice_test_seconds", buckets: MetricTables.buckets)
        for sample in Self.samples {
            reference.recordNanoseconds(Int64(sample))
            histogram.record(nanoseconds: sample)
        }
        var expected: [UInt8] = []
        registry.emit(into: &expected)
        var actual: [UInt8] = []
        histogram.emit(into: &actual)
        #expect(String(decoding: actual, as: UTF8.self) == String(decoding: expected, as: UTF8.self))
        #expect(histogram.count == UInt64(Self.samples.count))
    }

    @Test("an empty histogram still shows every bucket at zero")
    func empty() {
        var text: [UInt8] = []
        LatencyHistogram(name: "sluice_test_seconds", buckets: MetricTables.buckets).emit(into: &text)
        let lines = String(decoding: text, as: UTF8.self).split(separator: "\n")
        #expect(lines.first == "# TYPE sluice_test_seconds histogram")
        #expect(lines.count == 1 + MetricTables.buckets.count + 1 + 2)
        #expect(lines.filter { $0.contains("_bucket{") || $0.contains("_count ") }.allSatisfy { $0.hasSuffix(" 0") })
        #expect(lines.contains("sluice_test_seconds_sum 0.0"))
    }
}
