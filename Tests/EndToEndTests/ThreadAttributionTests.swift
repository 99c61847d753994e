import Foundation
@testable import SluiceBench
import SluiceTestKit
import Testing
import ZeroMQ

/// `sluice bench` splits the broker's CPU per round trip by thread (docs/PERFORMANCE.md, issue
/// 17): the loop, libzmq's I/O threads, the rest. It finds the loop by the name the broker gives
/// its thread, which is also what an operator sees in `top -H` or `perf`.
@Suite("CPU attribution by thread (issue 17)")
struct ThreadAttributionTests {
    @Test("the broker's loop thread carries its name where the kernel shows it, beside libzmq's I/O thread")
    func loopThreadIsNamed() async throws {
        let broker = try BrokerProcess()
        defer { _ = try? broker.stop() }
        let pid = broker.child.process.processIdentifier
        // libzmq names its I/O thread from inside that thread, which may run after the broker
        // said it was ready: read the names until both are there (or the wait gives up).
        var names: [String] = []
        try? await waitUntil("the loop and libzmq's I/O thread named", timeout: .seconds(15)) {
            names = ThreadSample.of(pid: pid).values.map(\.name)
            return names.contains(ProcessThreads.loopName) && names.contains { $0.hasPrefix(ProcessThreads.ioPrefix) }
        }
        #expect(names.contains(ProcessThreads.loopName), "threads: \(names)")
        #expect(names.contains { $0.hasPrefix(ProcessThreads.ioPrefix) }, "threads: \(names)")
    }

    @Test("a process's CPU splits into its loop, libzmq's I/O threads and the rest, counted from the first sample")
    func attribution() {
        let start: [Int: ThreadSample] = [
            1: ThreadSample(name: "sluice-loop", userSeconds: 1, systemSeconds: 0.5),
            2: ThreadSample(name: "ZMQbg/IO/0", userSeconds: 2, systemSeconds: 3),
            3: ThreadSample(name: "NIO-ELT-1-#1", userSeconds: 0.25, systemSeconds: 0),
        ]
        let end: [Int: ThreadSample] = [
            1: ThreadSample(name: "sluice-loop", userSeconds: 3, systemSeconds: 1),
            2: ThreadSample(name: "ZMQbg/IO/0", userSeconds: 2.5, systemSeconds: 5),
            3: ThreadSample(name: "NIO-ELT-1-#1", userSeconds: 0.5, systemSeconds: 0),
            // Started after the first sample: all of its time is in the interval.
            4: ThreadSample(name: "ZMQbg/IO/1", userSeconds: 0.125, systemSeconds: 0.125),
        ]
        let cpu = ThreadCPU(from: start, to: end, loopName: "sluice-loop", ioPrefix: "ZMQbg/IO/")
        #expect(cpu.loop == ThreadCPU.Share(seconds: 2.5, systemSeconds: 0.5))
        #expect(cpu.io == ThreadCPU.Share(seconds: 2.75, systemSeconds: 2.125))
        #expect(cpu.other == ThreadCPU.Share(seconds: 0.25, systemSeconds: 0))
    }
}
