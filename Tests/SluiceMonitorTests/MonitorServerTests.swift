import Foundation
import SluiceCore
@testable import SluiceMonitor
import SluiceTestKit
import Testing

/// The HTTP side alone, on a real loopback port, fed by hand.
@Suite("Monitoring endpoint (HTTP)")
struct MonitorServerTests {
    @Test("Probes follow the state: /readyz only while running, /healthz while the loop ticks")
    func probes() async throws {
        let feed = MonitorFeed(version: "test", configuration: [], stallAfter: .seconds(1))
        let server = try await MonitorServer.start(endpoint: "127.0.0.1:0", feed: feed, limits: MetricLimits())
        defer { Task { await server.stop() } }

        #expect(try await MonitorClient.get(server.address, path: "/readyz").status == 503, "starting: not ready")
        #expect(try await MonitorClient.get(server.address, path: "/healthz").status == 200, "starting is alive")
        feed.beat()
        feed.setState(.running)
        let ready = try await MonitorClient.get(server.address, path: "/readyz")
        #expect(ready.status == 200)
        #expect(ready.text == "ready\n")
        feed.setState(.draining)
        let draining = try await MonitorClient.get(server.address, path: "/readyz")
        #expect(draining.status == 503)
        #expect(draining.text.contains("draining"))
        #expect(try await MonitorClient.get(server.address, path: "/healthz").status == 200, "draining is still alive")
        feed.setState(.stopped)
        #expect(try await MonitorClient.get(server.address, path: "/healthz").status == 503)
    }

    @Test("/healthz fails once the loop has not ticked within stall-after")
    func stalledLoop() async throws {
        let feed = MonitorFeed(version: "test", configuration: [], stallAfter: .seconds(1))
        let server = try await MonitorServer.start(endpoint: "127.0.0.1:0", feed: feed, limits: MetricLimits())
        defer { Task { await server.stop() } }
        feed.setState(.running)
        feed.beat()
        #expect(try await MonitorClient.get(server.address, path: "/healthz").status == 200)
        // No more beats: wait (on the feed's own clock) until a second has passed.
        try await waitUntil("a second without a beat") { (feed.sinceLastBeat ?? .zero) > .seconds(1) }
        let stalled = try await MonitorClient.get(server.address, path: "/healthz")
        #expect(stalled.status == 503)
        #expect(stalled.text.contains("stalled"))
    }

    @Test("Every page answers with its content type; unknown pages 404, other methods 405")
    func pages() async throws {
        let server = try await runningServer(received: 7)
        defer { Task { await server.stop() } }

        let metrics = try await MonitorClient.get(server.address, path: "/metrics")
        #expect(metrics.status == 200)
        #expect(metrics.header("Content-Type")?.hasPrefix("text/plain; version=0.0.4") == true)
        #expect(parseExposition(metrics.body)["sluice_activations_received_total"] == 7)
        let status = try await MonitorClient.get(server.address, path: "/status")
        #expect(status.header("Content-Type") == "application/json")
        #expect(try StatusDocument.decode(Data(status.body)).counters["activations_received"] == 7)
        let missing = try await MonitorClient.get(server.address, path: "/nope")
        #expect(missing.status == 404)
        #expect(missing.text.contains("/metrics"), "the 404 lists what is served")

        let post = try rawRequest(server.address, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        #expect(post.hasPrefix("HTTP/1.1 405"), "\(post)")
    }

    @Test("A malformed request gets 400 and changes nothing; the endpoint keeps serving")
    func malformed() async throws {
        let server = try await runningServer(received: 3)
        defer { Task { await server.stop() } }
        let before = parseExposition(try await MonitorClient.get(server.address, path: "/metrics").body)

        let reply = try rawRequest(server.address, "THIS IS NOT HTTP\r\n\u{01}\u{02}\r\n\r\n")
        #expect(reply.hasPrefix("HTTP/1.1 400"), "\(reply)")
        #expect(server.requestCounts.malformed == 1)

        let after = parseExposition(try await MonitorClient.get(server.address, path: "/metrics").body)
        #expect(after["sluice_activations_received_total"] == before["sluice_activations_received_total"])
        #expect(try await MonitorClient.get(server.address, path: "/readyz").status == 200)
    }

    @Test("A port in use: start-up fails with an error naming the endpoint")
    func portInUse() async throws {
        let feed = MonitorFeed(version: "test", configuration: [])
        let first = try await MonitorServer.start(endpoint: "127.0.0.1:0", feed: feed, limits: MetricLimits())
        defer { Task { await first.stop() } }
        do {
            let second = try await MonitorServer.start(endpoint: first.address, feed: feed, limits: MetricLimits())
            await second.stop()
            Issue.record("a second server bound \(first.address)")
        } catch let failure as MonitorBindFailure {
            #expect(failure.description.contains("monitor-endpoint \(first.address)"))
            #expect(failure.description.lowercased().contains("address already in use"), "\(failure)")
        }
        await #expect(throws: MonitorBindFailure.self) {
            try await MonitorServer.start(endpoint: "no-port-here", feed: feed, limits: MetricLimits())
        }
    }
}

/// A server whose feed says the broker runs and has received `received` activations.
func runningServer(received: Int) async throws -> MonitorServer {
    let feed = MonitorFeed(version: "test", configuration: [])
    var snapshot = MonitorSnapshot()
    snapshot.state = .running
    snapshot.counters.activationsReceived = received
    feed.publish(snapshot)
    return try await MonitorServer.start(endpoint: "127.0.0.1:0", feed: feed, limits: MetricLimits())
}

/// Sends `request` as bytes over a plain TCP socket and returns what comes back until the
/// server closes (or 5 s pass).
func rawRequest(_ address: String, _ request: String) throws -> String {
    let parts = address.split(separator: ":")
    let port = UInt16(parts.last!)!
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw MonitorClient.Failure(description: "socket: \(errno)") }
    defer { close(fd) }
    var timeout = timeval(tv_sec: 5, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { throw MonitorClient.Failure(description: "connect: \(errno)") }
    let bytes = Array(request.utf8)
    _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
    var received: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count <= 0 { break }
        received += buffer[0..<count]
        // One answer is enough for a request the server keeps the connection open after.
        if let text = String(bytes: received, encoding: .utf8), text.contains("\r\n\r\n"),
           text.hasPrefix("HTTP/1.1 405") || text.hasPrefix("HTTP/1.1 200") {
            if let length = text.range(of: "Content-Length: ")
                .flatMap({ Int(text[$0.upperBound...].prefix(while: \.isNumber)) }),
               let bodyStart = text.range(of: "\r\n\r\n"), text[bodyStart.upperBound...].utf8.count >= length {
                break
            }
        }
    }
    return String(decoding: received, as: UTF8.self)
}
