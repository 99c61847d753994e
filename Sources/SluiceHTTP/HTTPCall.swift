import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

public struct HTTPReply: Sendable {
    public var status: Int
    public var headers: [(String, String)] = []
    public var body: Data

    public init(status: Int, body: Data) {
        self.status = status
        self.body = body
    }

    public func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
}

/// HTTP/1.1 requests over SwiftNIO, one connection each: the etcd client's calls and
/// `sluice status`'s reads of a monitoring endpoint (both on loopback or a private network,
/// where a connection per call is cheap).
public enum HTTPCall {
    public enum Part {
        case head(Int, [(String, String)])
        case body([UInt8])
        case end
        case failed(any Error)
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// A whole reply, within `timeout`.
    public static func request(_ method: HTTPMethod, _ endpoint: URL, path: String, body: Data? = nil,
                               timeout: Duration) async throws -> HTTPReply {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<HTTPReply, any Error>) in
            let once = Once()
            let reply = EventLoopBox(HTTPReply(status: 0, body: Data()))
            let opened = open(method, endpoint, path: path, body: body, connectTimeout: timeout) { part in
                switch part {
                case .head(let status, let headers):
                    reply.value.status = status
                    reply.value.headers = headers
                case .body(let bytes): reply.value.body.append(contentsOf: bytes)
                case .end: if once.take() { continuation.resume(returning: reply.value) }
                case .failed(let error): if once.take() { continuation.resume(throwing: error) }
                }
                return true
            }
            opened.whenComplete { result in
                switch result {
                case .failure(let error):
                    if once.take() { continuation.resume(throwing: error) }
                case .success(let channel):
                    channel.eventLoop.scheduleTask(in: .nanoseconds(timeout.wholeNanoseconds)) {
                        if once.take() { continuation.resume(throwing: Failure(description: "no reply within \(timeout)")) }
                        channel.close(promise: nil)
                    }
                }
            }
        }
    }

    /// Connects, sends the request, and feeds `handler` the reply's parts (on the channel's event
    /// loop); `handler` returning false closes the connection. The future is the connected channel.
    public static func open(_ method: HTTPMethod, _ endpoint: URL, path: String, body: Data?, connectTimeout: Duration,
                            handler: @escaping @Sendable (Part) -> Bool) -> EventLoopFuture<any Channel> {
        let group = MultiThreadedEventLoopGroup.singleton
        let host = endpoint.host ?? "127.0.0.1"
        let port = endpoint.port ?? 2379
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(.nanoseconds(connectTimeout.wholeNanoseconds))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(ReplyHandler(handler: handler))
                }
            }
        return bootstrap.connect(host: host, port: port).map { channel in
            var headers = HTTPHeaders()
            headers.add(name: "Host", value: "\(host):\(port)")
            if let body {
                headers.add(name: "Content-Type", value: "application/json")
                headers.add(name: "Content-Length", value: "\(body.count)")
            } else {
                headers.add(name: "Connection", value: "close")
            }
            channel.write(HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: method, uri: path, headers: headers)), promise: nil)
            if let body { channel.write(HTTPClientRequestPart.body(.byteBuffer(channel.allocator.buffer(bytes: body))), promise: nil) }
            channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
            return channel
        }
    }

    final class ReplyHandler: ChannelInboundHandler {
        typealias InboundIn = HTTPClientResponsePart
        let handler: @Sendable (Part) -> Bool
        var ended = false

        init(handler: @escaping @Sendable (Part) -> Bool) { self.handler = handler }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard !ended else { return }
            let keep: Bool
            switch unwrapInboundIn(data) {
            case .head(let head): keep = handler(.head(Int(head.status.code), head.headers.map { ($0.name, $0.value) }))
            case .body(var buffer): keep = handler(.body(buffer.readBytes(length: buffer.readableBytes) ?? []))
            case .end:
                ended = true
                _ = handler(.end)
                keep = false
            }
            if !keep {
                ended = true
                context.close(promise: nil)
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            if !ended {
                ended = true
                _ = handler(.failed(Failure(description: "the connection closed before the reply ended")))
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            if !ended {
                ended = true
                _ = handler(.failed(error))
            }
            context.close(promise: nil)
        }
    }
}

/// State touched only on one connection's event loop (so never concurrently).
public final class EventLoopBox<Value>: @unchecked Sendable {
    public var value: Value
    public init(_ value: Value) { self.value = value }
}

extension Duration {
    /// Whole nanoseconds, saturating.
    public var wholeNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? .max : scaled &+ attoseconds / 1_000_000_000
    }
}

/// True for the first caller only.
public final class Once: @unchecked Sendable {
    private let lock = NSLock()
    private var taken = false
    public init() {}
    public func take() -> Bool {
        lock.withLock {
            defer { taken = true }
            return !taken
        }
    }
}

