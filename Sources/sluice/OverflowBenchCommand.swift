import ArgumentParser
import Foundation
import SluiceOverflowDisk

/// Measures the disk overflow store: append and drain throughput per fsync policy.
struct OverflowBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "overflow-bench",
        abstract: "Measure disk overflow store throughput (append and drain) per fsync policy.",
        discussion: """
            Appends --count activations of --payload-bytes each (syncing every 64, as the \
            broker does per batch), then drains them (read, mark consumed, sync every 64), in a \
            fresh directory per fsync policy. Prints activations/s and MB/s. The directory is \
            removed afterwards. Use a release build on the disk you will run on:
              swift build -c release --product sluice && .build/release/sluice overflow-bench
            """
    )

    @Option(help: "Activations per run.")
    var count = 20_000

    @Option(help: "Payload size in bytes.")
    var payloadBytes = 1024

    @Option(help: "fsync policies to measure, comma separated (every-batch, never, or an interval like 50ms).")
    var policies = "every-batch,50ms,never"

    @Option(help: ArgumentHelp("Parent directory for the temporary stores.", valueName: "dir"))
    var directory = FileManager.default.temporaryDirectory.path

    func run() throws {
        print("fsync policy      append/s   append MB/s    drain/s   drain MB/s")
        for text in policies.split(separator: ",").map(String.init) {
            let policy: FsyncPolicy
            do { policy = try FsyncPolicy.parse(text) } catch { throw ValidationError("--policies '\(text)': \(error)") }
            let folder = URL(fileURLWithPath: directory).appendingPathComponent("sluice-overflow-bench-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: folder) }
            let result = try OverflowBenchmark.run(directory: folder, count: count, payloadBytes: payloadBytes, policy: policy)
            print(text.padding(toLength: 14, withPad: " ", startingAt: 0),
                  String(format: "%11.0f %13.1f %10.0f %12.1f", result.appendPerSecond, result.appendMBPerSecond,
                         result.drainPerSecond, result.drainMBPerSecond))
        }
    }
}
