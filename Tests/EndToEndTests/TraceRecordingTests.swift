import Foundation
import SluiceProtocol
import SluiceSimulator
import SluiceStrategies
import SluiceTrace
import Testing

extension BrokerEndToEndTests {
    @Test("Issue 18: a real broker records a trace of a run (example controller and invokers as processes); it holds every arrival and answer in order, the cluster's shape, no names, ids or payload bytes, and replays deterministically")
    func recordAndReplayATrace() async throws {
        let directory = try Self.temporaryDirectory("trace")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("run.sltr").path
        let broker = try BrokerProcess(["--record-trace", path, "--strategy", "warm-affinity"])
        let invokers = try ["trace-inv-1", "trace-inv-2"].map { try startInvoker(broker, id: $0, slots: 4, duration: "2ms-8ms") }
        defer { for invoker in invokers { invoker.signal(SIGKILL) } }
        try await broker.waitForInvokers(["trace-inv-1", "trace-inv-2"])
        let count = 600
        let controller = try ChildProcess(Products.path("sluice-example-controller"), [
            "--endpoint", broker.controllerEndpoint, "--id", "trace-ctl", "--count", "\(count)", "--window", "8",
            "--actions", "4", "--action", "secretns/payroll-export", "--payload-bytes", "64",
        ])
        defer { controller.signal(SIGKILL) }
        let status = await controller.exit(timeout: .seconds(120))
        #expect(status == 0, "controller: \(controller.output.current.suffix(400)) \(controller.errors.current.suffix(400))")
        let counters = try broker.stop()
        #expect(counters["answered_success"] == count)

        let file = try TraceFile(path: path)
        #expect(file.tornBytes == 0, "a clean shutdown closes the trace")
        var arrivals: [UInt32: UInt64] = [:]
        var answered = 0
        var lastArrival: UInt64 = 0
        for record in file.records {
            switch record {
            case .arrival(let sequence, let time, _, _, let memory):
                #expect(arrivals[sequence] == nil, "sequence \(sequence) arrives once")
                #expect(time >= lastArrival, "arrivals are in order")
                #expect(memory == 256)
                lastArrival = time
                arrivals[sequence] = time
            case .answered(let sequence, let time, let kind, let ran, let ranMicroseconds, _, let invoker):
                let arrivedAt = try #require(arrivals[sequence], "answer \(sequence) follows its arrival")
                #expect(time >= arrivedAt && ran && ranMicroseconds <= time - arrivedAt)
                #expect(kind == AnswerKind.success.rawValue && invoker != nil)
                answered += 1
            default:
                break
            }
        }
        #expect(arrivals.count == count)
        #expect(answered == count)
        let trace = RecordedTrace(file)
        #expect(trace.actionHashes.count == 4)
        #expect(trace.invokers == 2 && trace.invokerSlots == 4)
        #expect(trace.activations.filter(\.warm).count > count / 2, "most runs found an idle container of their action (the invokers report warm sets)")

        // Privacy: nothing of the names, the ids or the payloads is in the file.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        for needle in ["secretns", "payroll", "trace-ctl", "trace-inv", "{\"n\":", String(repeating: "x", count: 16)] {
            #expect(bytes.range(of: Data(needle.utf8)) == nil, "'\(needle)' must not be in the trace")
        }

        // Replay: the same trace and seed give the same numbers.
        var settings = SimulationSettings()
        settings.cluster = trace.cluster
        let runs = try (0..<2).map { _ in
            Simulator.run(trace.workload(), settings: settings, strategy: try BuiltInStrategies.registry.make("least-loaded"), duration: trace.span + 1)
        }
        #expect(runs[0] == runs[1])
        #expect(runs[0].activations == count)

        // What an operator runs: the inspect table and chart, and the replay with its verdict.
        let svg = directory.appendingPathComponent("run.svg").path
        let inspect = try ChildProcess(Products.path("sluice"), ["trace", "inspect", path, "--svg", svg])
        #expect(await inspect.exit(timeout: .seconds(60)) == 0, "\(inspect.errors.current)")
        #expect(inspect.output.current.contains("\(count) activations"), "\(inspect.output.current)")
        #expect(inspect.output.current.contains("4 actions in all"))
        #expect((try? String(contentsOfFile: svg, encoding: .utf8))?.contains("<svg") == true)
        let replay = try ChildProcess(Products.path("sluice"), ["simulate", "--trace", path, "--strategy", "least-loaded,warm-affinity"])
        #expect(await replay.exit(timeout: .seconds(120)) == 0, "\(replay.errors.current)")
        #expect(replay.output.current.contains("replaying \(path): \(count) activations of 4 actions"), "\(replay.output.current)")
        #expect(replay.output.current.contains("recommendation: "))
    }
}

extension BrokerEndToEndTests {
    @Test("Issue 18: trace.* in the config file starts and stops recording in a running broker (SIGHUP); /status shows it; an existing file is refused and the broker goes on")
    func traceTurnsOnAndOffThroughReload() async throws {
        let directory = try Self.temporaryDirectory("trace-reload")
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("sluice.yaml")
        let tracePath = directory.appendingPathComponent("live.sltr").path
        let write: @Sendable (String) throws -> Void = { trace in
            try "broker:\n  heartbeat-interval: 500ms\n\(trace)".write(to: file, atomically: true, encoding: .utf8)
        }
        try write("")
        let broker = try BrokerProcess(["--config", file.path, "--log-level", "notice"])
        let invoker = try startInvoker(broker, id: "reload-inv", slots: 4, duration: "1ms-3ms")
        defer { invoker.signal(SIGKILL) }
        try await broker.waitForInvokers(["reload-inv"])
        #expect(try await broker.status().trace == nil)

        func run(_ count: Int, _ prefix: String) async throws {
            let controller = try ChildProcess(Products.path("sluice-example-controller"), [
                "--endpoint", broker.controllerEndpoint, "--id", prefix, "--count", "\(count)", "--window", "4", "--payload-bytes", "16",
            ])
            defer { controller.signal(SIGKILL) }
            #expect(await controller.exit(timeout: .seconds(60)) == 0)
        }
        try await run(50, "before")

        // On: recording starts with the next activations.
        try write("trace:\n  path: \(tracePath)\n")
        broker.child.signal(SIGHUP)
        try await broker.waitForStatus("/status shows the trace") { $0.trace?.path == tracePath }
        try await run(100, "during")
        // Each activation is an arrival and an answer (and the invoker's registration).
        try await broker.waitForStatus("the trace has the 100 activations") { ($0.trace?.records ?? 0) >= 201 }

        // Off: the trace is closed; later work is not recorded.
        try write("")
        broker.child.signal(SIGHUP)
        try await broker.waitForStatus("/status shows no trace") { $0.trace == nil }
        try await run(50, "after")
        let trace = try TraceFile(path: tracePath)
        #expect(trace.records.count { if case .arrival = $0 { true } else { false } } == 100)
        #expect(trace.records.count { if case .answered = $0 { true } else { false } } == 100)

        // On again at the same path: refused (never overwritten); the broker goes on without one.
        try write("trace:\n  path: \(tracePath)\n")
        broker.child.signal(SIGHUP)
        #expect(broker.child.errors.wait(for: "placement trace not changed", timeout: .seconds(10)) != nil)
        #expect(try await broker.status().trace == nil)
        try await run(20, "refused")
        let counters = try broker.stop()
        #expect(counters["answered_success"] == 220)
    }
}
