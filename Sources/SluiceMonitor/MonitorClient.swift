import Foundation
import SluiceHTTP

/// GETs from a monitoring endpoint, for `sluice status` and the tests (one request per
/// connection, the whole body collected; `SluiceHTTP` does the HTTP).
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
        guard let url = URL(string: "http://\(host):\(port)") else {
            throw Failure(description: "'\(endpoint)' is not host:port")
        }
        do {
            let reply = try await HTTPCall.request(.GET, url, path: path, timeout: timeout)
            return Response(status: reply.status, headers: reply.headers, body: Array(reply.body))
        } catch {
            throw Failure(description: "cannot read \(path) from the monitoring endpoint \(address): \(error); is the broker running with --monitor-endpoint \(address)?")
        }
    }
}
