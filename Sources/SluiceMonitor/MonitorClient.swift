import NIOCore
import NIOHTTP1
import NIOPosix

/// A minimal HTTP/1.1 GET over SwiftNIO, for `sluice status` and the tests: one request per
/// connection, the whole body collected.
public enum MonitorClient {
    public struct Response: Sendable {
        public var status: Int
        public var headers: [(String, String)]
        public var body: [UInt8]

        public var text: String { String(decoding: body, as: UTF8.self) }
        public func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// GETs `path` from `endpoint` (`host:port`, or an `http://host:port` URL).
    public static func get(_ endpoint: String, path: String, timeout: Duration = .seconds(5)) async throws -> Response {
        let address = endpoint.hasPrefix("http://") ? String(endpoint.dropFirst("http://".count)) : endpoint
        let (host, port) = try MonitorServer.parse(address.split(separator: "/", maxSplits: 1).first.map(String.init) ?? address)
        let group = MultiThreadedEventLoopGroup.singleton
        let promise = group.next().makePromise(of: Response.self)
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(.nanoseconds(Int64(timeout.components.seconds) &* 1_000_000_000 &+ timeout.components.attoseconds / 1_000_000_000))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(ResponseCollector(promise: promise))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: host, port: port).get()
        } catch {
            promise.fail(error)
            throw Failure(description: "cannot reach the monitoring endpoint \(address): \(error); is the broker running with --monitor-endpoint \(address)?")
        }
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: address)
        headers.add(name: "Connection", value: "close")
        channel.write(HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)), promise: nil)
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        let timer = channel.eventLoop.scheduleTask(in: .nanoseconds(Int64(timeout.components.seconds) &* 1_000_000_000 &+ timeout.components.attoseconds / 1_000_000_000)) {
            promise.fail(Failure(description: "no answer from \(address)\(path) within \(timeout)"))
            channel.close(promise: nil)
        }
        defer { timer.cancel() }
        return try await promise.futureResult.get()
    }
}

/// Collects one response and completes the promise with it (or fails it if the connection ends first).
private final class ResponseCollector: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    let promise: EventLoopPromise<MonitorClient.Response>
    var response: MonitorClient.Response?

    init(promise: EventLoopPromise<MonitorClient.Response>) { self.promise = promise }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            response = MonitorClient.Response(status: Int(head.status.code), headers: head.headers.map { ($0.name, $0.value) }, body: [])
        case .body(var buffer):
            response?.body += buffer.readBytes(length: buffer.readableBytes) ?? []
        case .end:
            if let response { promise.succeed(response) }
            response = nil
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(MonitorClient.Failure(description: "the connection closed before a whole answer came"))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(error)
        context.close(promise: nil)
    }
}
