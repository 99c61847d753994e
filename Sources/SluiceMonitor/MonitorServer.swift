import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// The monitoring endpoint: HTTP/1.1 on its own port and its own thread (a SwiftNIO event
/// loop), never the broker loop's. It serves `/metrics`, `/healthz`, `/readyz` and `/status`
/// from what the loop last published in a `MonitorFeed` (docs/OPERATIONS.md).
public final class MonitorServer: Sendable {
    /// `host:port` actually bound (the port resolved if 0 was asked for).
    public let address: String
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel
    private let state: MonitorState
    private let stopped = Atomic<Bool>(false)

    /// Binds `endpoint` (`host:port`) and starts serving. Throws `MonitorBindFailure`, which
    /// names the endpoint and the reason, if it cannot listen (a port in use, say).
    public static func start(endpoint: String, feed: MonitorFeed, limits: MetricLimits) async throws -> MonitorServer {
        let (host, port) = try parse(endpoint)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let state = MonitorState(feed: feed, limits: limits)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // An idle connection is closed after 60 s: scrapers reconnect, and idle ones
                    // must not hold descriptors the broker's sockets need.
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(allTimeout: .seconds(60)))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(MonitorHandler(state: state))
                }
            }
            .childChannelOption(.socketOption(.so_reuseaddr), value: 1)
        let channel: any Channel
        do {
            channel = try await bootstrap.bind(host: host, port: port).get()
        } catch {
            try? await group.shutdownGracefully()
            throw MonitorBindFailure(endpoint: endpoint, reason: "\(error)")
        }
        // Samples are taken into the histograms every second even if nobody scrapes.
        channel.eventLoop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in state.refresh() }
        let bound = channel.localAddress?.port ?? port
        return MonitorServer(address: "\(host):\(bound)", group: group, channel: channel, state: state)
    }

    private init(address: String, group: MultiThreadedEventLoopGroup, channel: any Channel, state: MonitorState) {
        self.address = address
        self.group = group
        self.channel = channel
        self.state = state
    }

    /// Requests answered, and requests refused as malformed (400), since start.
    public var requestCounts: (served: Int, malformed: Int) { state.counts }

    /// Stops listening and closes every connection. Only the first call does anything (a
    /// second close would wait forever for an event loop that is gone).
    public func stop() async {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        try? await channel.close()
        try? await group.shutdownGracefully()
    }

    /// `host:port`, with a clear error for anything else.
    static func parse(_ endpoint: String) throws -> (String, Int) {
        guard let colon = endpoint.lastIndex(of: ":"), let port = Int(endpoint[endpoint.index(after: colon)...]),
              (0...65535).contains(port), colon != endpoint.startIndex else {
            throw MonitorBindFailure(endpoint: endpoint, reason: "expected host:port, such as 127.0.0.1:5680")
        }
        var host = String(endpoint[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host, port)
    }
}

/// The monitoring endpoint could not listen.
public struct MonitorBindFailure: Error, CustomStringConvertible {
    public var endpoint: String
    public var reason: String

    public var description: String {
        "cannot serve monitoring on monitor-endpoint \(endpoint): \(reason); is the port free? (--monitor-endpoint off disables it)"
    }
}

/// What the handlers share: the feed, and the metrics built from it under a lock.
final class MonitorState: Sendable {
    let feed: MonitorFeed
    private let metrics: Mutex<BrokerMetrics>
    private let served = Atomic<Int>(0)
    private let malformed = Atomic<Int>(0)

    init(feed: MonitorFeed, limits: MetricLimits) {
        self.feed = feed
        metrics = Mutex(BrokerMetrics(limits: limits))
    }

    var counts: (served: Int, malformed: Int) { (served.load(ordering: .relaxed), malformed.load(ordering: .relaxed)) }

    func countServed() { served.add(1, ordering: .relaxed) }
    func countMalformed() { malformed.add(1, ordering: .relaxed) }

    /// Takes the pending samples and the latest snapshot into the metrics.
    func refresh() {
        let snapshot = feed.snapshot
        let samples = feed.takeSamples()
        metrics.withLock { metrics in
            metrics.record(samples)
            metrics.update(from: snapshot, startedAtSeconds: feed.startedAt.timeIntervalSince1970, version: feed.version)
        }
    }

    func exposition() -> [UInt8] {
        refresh()
        return metrics.withLock { $0.exposition() }
    }
}

/// One connection: reads requests, answers each from the current state. Runs on the
/// monitor's event loop.
final class MonitorHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let state: MonitorState
    private var request: HTTPRequestHead?

    init(state: MonitorState) { self.state = state }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            request = head
        case .body:
            break
        case .end:
            guard let head = request else { return }
            request = nil
            state.countServed()
            let response = route(head)
            respond(context: context, head: head, response: response)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // The protocol error handler before this one has answered 400 already.
        if error is HTTPParserError { state.countMalformed() }
        context.close(promise: nil)
    }

    struct Response {
        var status: HTTPResponseStatus
        var contentType: String
        var body: [UInt8]
        var extraHeaders: [(String, String)] = []
    }

    static let paths = ["/metrics", "/healthz", "/readyz", "/status"]

    func route(_ head: HTTPRequestHead) -> Response {
        guard head.method == .GET || head.method == .HEAD else {
            return Response(status: .methodNotAllowed, contentType: "text/plain; charset=utf-8",
                            body: Array("only GET and HEAD are served\n".utf8), extraHeaders: [("Allow", "GET, HEAD")])
        }
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        switch path {
        case "/metrics":
            return Response(status: .ok, contentType: "text/plain; version=0.0.4; charset=utf-8", body: state.exposition())
        case "/healthz":
            return health()
        case "/readyz":
            return readiness()
        case "/status":
            return Response(status: .ok, contentType: "application/json", body: Array(StatusDocument(feed: state.feed).json()))
        default:
            return Response(status: .notFound, contentType: "text/plain; charset=utf-8",
                            body: Array("no such page: \(path); this endpoint serves \(Self.paths.joined(separator: ", "))\n".utf8))
        }
    }

    /// Alive: the loop has ticked within `stallAfter` (and is not stopped).
    func health() -> Response {
        let text = { (status: HTTPResponseStatus, body: String) in
            Response(status: status, contentType: "text/plain; charset=utf-8", body: Array((body + "\n").utf8))
        }
        let feed = state.feed
        if feed.snapshot.state == .stopped { return text(.serviceUnavailable, "stopped: the broker loop has ended") }
        guard let since = feed.sinceLastBeat else { return text(.ok, "ok: starting") }
        if since > feed.stallAfter {
            return text(.serviceUnavailable, "stalled: the broker loop last ticked \(String(format: "%.1f", since.seconds)) s ago (limit \(feed.stallAfter))")
        }
        return text(.ok, "ok")
    }

    /// Ready: listening, the overflow store recovered, not shutting down.
    func readiness() -> Response {
        let current = state.feed.snapshot.state
        let ready = current == .running
        return Response(status: ready ? .ok : .serviceUnavailable, contentType: "text/plain; charset=utf-8",
                        body: Array((ready ? "ready\n" : "not ready: \(current.rawValue)\n").utf8))
    }

    func respond(context: ChannelHandlerContext, head: HTTPRequestHead, response: Response) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: response.contentType)
        headers.add(name: "Content-Length", value: "\(response.body.count)")
        headers.add(name: "Cache-Control", value: "no-store")
        for (name, value) in response.extraHeaders { headers.add(name: name, value: value) }
        let keepAlive = head.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: response.status, headers: headers))), promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: response.body)))), promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
