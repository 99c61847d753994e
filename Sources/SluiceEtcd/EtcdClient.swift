import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A thin client for etcd's v3 API through its JSON gateway (etcd 3.4: `POST /v3/...`, keys and
/// values base64, 64-bit integers as JSON strings, fields at their default omitted). Just what a
/// Sluice cluster needs (docs/CLUSTER.md): leases and their keepalive, put, range over a prefix,
/// a create-if-absent transaction, delete, and a watch. Foundation's URLSession, so no package.
///
/// Every call tries the endpoints in order until one answers; an error etcd itself returns
/// (an HTTP status of 400 or more with `{"error","message","code"}`) is thrown at once.
public final class EtcdClient: Sendable {
    public let endpoints: [URL]
    let timeout: TimeInterval
    let session: URLSession

    /// - Parameter endpoints: client URLs such as `http://127.0.0.1:2379`.
    public init(endpoints: [URL], timeout: Duration = .seconds(5)) {
        precondition(!endpoints.isEmpty, "an etcd client needs at least one endpoint")
        self.endpoints = endpoints
        self.timeout = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = self.timeout
        configuration.timeoutIntervalForResource = self.timeout
        session = URLSession(configuration: configuration)
    }

    /// Parses `http://host:port[,http://host:port...]`.
    public convenience init(_ list: String, timeout: Duration = .seconds(5)) throws(EtcdError) {
        let urls = list.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.map { URL(string: $0) }
        guard !urls.isEmpty, urls.allSatisfy({ $0?.scheme == "http" && $0?.host != nil && $0?.port != nil }) else {
            throw EtcdError(kind: .invalidEndpoint, message: "'\(list)' is not a list of etcd client URLs such as http://127.0.0.1:2379")
        }
        self.init(endpoints: urls.compactMap { $0 }, timeout: timeout)
    }

    deinit { session.invalidateAndCancel() }

    // MARK: Leases

    /// Grants a lease of `ttl` seconds (etcd grants at least 2).
    public func grantLease(ttl: Int) async throws(EtcdError) -> EtcdLease {
        let reply = try await call("lease/grant", ["TTL": "\(ttl)"])
        guard let id = Int64(reply.string("ID") ?? "") else { throw EtcdError(kind: .badReply, message: "lease/grant gave no ID") }
        return EtcdLease(id: id, ttl: Int(reply.string("TTL") ?? "") ?? ttl)
    }

    /// Renews `lease` once; returns its TTL, or throws `.leaseExpired` if it is gone.
    @discardableResult
    public func keepAlive(_ lease: EtcdLease) async throws(EtcdError) -> Int {
        // The gateway streams keepalive replies for as long as the request is open: take the first.
        let first = try await firstStreamed("lease/keepalive", ["ID": "\(lease.id)"])
        let result = first.object("result") ?? first
        let ttl = Int(result.string("TTL") ?? "0") ?? 0
        guard ttl > 0 else { throw EtcdError(kind: .leaseExpired, message: "lease \(lease.id) has expired") }
        return ttl
    }

    public func revoke(_ lease: EtcdLease) async throws(EtcdError) {
        _ = try await call("lease/revoke", ["ID": "\(lease.id)"])
    }

    // MARK: Keys

    /// Puts `value` at `key`, attached to `lease` if given. Returns the store's revision.
    @discardableResult
    public func put(_ key: String, _ value: String, lease: EtcdLease? = nil) async throws(EtcdError) -> Int64 {
        var body: [String: Any] = ["key": Self.base64(key), "value": Self.base64(value)]
        if let lease { body["lease"] = "\(lease.id)" }
        return try await call("kv/put", body).revision
    }

    /// The key, if present.
    public func get(_ key: String) async throws(EtcdError) -> EtcdKeyValue? {
        try await range(["key": Self.base64(key)]).first
    }

    /// Every key starting with `prefix`, in key order.
    public func range(prefix: String) async throws(EtcdError) -> [EtcdKeyValue] {
        try await range(["key": Self.base64(prefix), "range_end": Self.base64(bytes: Self.prefixEnd(prefix))])
    }

    /// Puts `value` at `key` only if the key does not exist (its create revision is 0).
    /// Returns whether it was put.
    public func createIfAbsent(_ key: String, _ value: String, lease: EtcdLease? = nil) async throws(EtcdError) -> Bool {
        var put: [String: Any] = ["key": Self.base64(key), "value": Self.base64(value)]
        if let lease { put["lease"] = "\(lease.id)" }
        let reply = try await call("kv/txn", [
            "compare": [["key": Self.base64(key), "target": "CREATE", "result": "EQUAL", "create_revision": "0"]],
            "success": [["request_put": put]],
        ])
        return reply.bool("succeeded") ?? false
    }

    /// Deletes `key`; returns how many keys went (0 or 1).
    @discardableResult
    public func delete(_ key: String) async throws(EtcdError) -> Int {
        Int(try await call("kv/deleterange", ["key": Self.base64(key)]).string("deleted") ?? "0") ?? 0
    }

    // MARK: Watch

    /// Changes under `prefix` after `revision` (nil: from now), as they happen, until the task is
    /// cancelled or the connection ends (then the stream finishes with an error; resume from the
    /// last revision seen).
    public func watch(prefix: String, after revision: Int64? = nil) -> AsyncThrowingStream<[EtcdEvent], any Error> {
        var request: [String: Any] = ["key": Self.base64(prefix), "range_end": Self.base64(bytes: Self.prefixEnd(prefix))]
        if let revision { request["start_revision"] = "\(revision + 1)" }
        let body: [String: Any] = ["create_request": request]
        return AsyncThrowingStream { continuation in
            let stream = StreamedCall(client: self, path: "watch", body: body) { line in
                let result = line.object("result") ?? line
                if result.bool("canceled") == true {
                    continuation.finish(throwing: EtcdError(kind: .watchCanceled,
                                                            message: "watch canceled: \(result.string("cancel_reason") ?? "compacted past revision \(result.string("compact_revision") ?? "?")")"))
                    return false
                }
                let events = (result.array("events") ?? []).compactMap(EtcdEvent.init(json:))
                if !events.isEmpty { continuation.yield(events) }
                return true
            } done: { error in
                continuation.finish(throwing: error ?? EtcdError(kind: .unreachable, message: "the watch connection ended"))
            }
            continuation.onTermination = { _ in stream.cancel() }
            stream.start(endpointIndex: 0)
        }
    }

    // MARK: Plumbing

    func range(_ body: [String: Any]) async throws(EtcdError) -> [EtcdKeyValue] {
        let reply = try await call("kv/range", body)
        return (reply.array("kvs") ?? []).compactMap(EtcdKeyValue.init(json:))
    }

    /// One request-reply call, trying each endpoint in turn.
    func call(_ path: String, _ body: [String: Any]) async throws(EtcdError) -> JSONObject {
        let data: Data
        do {
            data = try JSONSerialization.data(withJSONObject: body)
        } catch {
            throw EtcdError(kind: .badReply, message: "cannot encode the request: \(error)")
        }
        var failures: [String] = []
        for endpoint in endpoints {
            var request = URLRequest(url: endpoint.appendingPathComponent("v3").appendingPathComponent(path))
            request.httpMethod = "POST"
            request.httpBody = data
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            let reply: (Data, URLResponse)
            do {
                reply = try await session.data(for: request)
            } catch {
                failures.append("\(endpoint.absoluteString): \(error.localizedDescription)")
                continue
            }
            let status = (reply.1 as? HTTPURLResponse)?.statusCode ?? 0
            let object = JSONObject(data: reply.0)
            if status >= 400 || object.string("error") != nil {
                let message = object.string("message") ?? object.string("error") ?? String(decoding: reply.0.prefix(300), as: UTF8.self)
                // An unavailable member: try the next one.
                if status == 503 || status == 500 && message.contains("timed out") {
                    failures.append("\(endpoint.absoluteString): HTTP \(status) \(message)")
                    continue
                }
                throw EtcdError(kind: message.contains("lease not found") ? .leaseExpired : .refused,
                                message: "etcd refused \(path): HTTP \(status): \(message)")
            }
            return object
        }
        throw EtcdError(kind: .unreachable, message: "no etcd endpoint answered \(path): \(failures.joined(separator: "; "))")
    }

    /// The first line of a streaming call (then the call is closed).
    func firstStreamed(_ path: String, _ body: [String: Any]) async throws(EtcdError) -> JSONObject {
        let result: Result<JSONObject, EtcdError> = await withCheckedContinuation { continuation in
            let once = Once()
            let stream = StreamedCall(client: self, path: path, body: body) { line in
                if once.take() { continuation.resume(returning: .success(line)) }
                return false
            } done: { error in
                if once.take() {
                    continuation.resume(returning: .failure(error ?? EtcdError(kind: .badReply, message: "\(path) ended without a reply")))
                }
            }
            stream.start(endpointIndex: 0)
        }
        return try result.get()
    }

    static func base64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }
    static func base64(bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }

    /// The end of a prefix range: the prefix with its last byte plus one (carrying).
    static func prefixEnd(_ prefix: String) -> [UInt8] {
        var bytes = Array(prefix.utf8)
        while let last = bytes.last {
            if last < 0xFF {
                bytes[bytes.count - 1] = last + 1
                return bytes
            }
            bytes.removeLast()
        }
        return [0]  // every key
    }
}

public struct EtcdLease: Sendable, Equatable {
    public var id: Int64
    public var ttl: Int
}

public struct EtcdKeyValue: Sendable, Equatable {
    public var key: String
    public var value: String
    public var createRevision: Int64
    public var modRevision: Int64
    /// The lease it is attached to, 0 if none.
    public var lease: Int64

    init?(json: JSONObject) {
        guard let key = json.base64String("key") else { return nil }
        self.key = key
        value = json.base64String("value") ?? ""
        createRevision = Int64(json.string("create_revision") ?? "0") ?? 0
        modRevision = Int64(json.string("mod_revision") ?? "0") ?? 0
        lease = Int64(json.string("lease") ?? "0") ?? 0
    }
}

public struct EtcdEvent: Sendable, Equatable {
    public enum Kind: Sendable, Equatable { case put, delete }
    public var kind: Kind
    public var keyValue: EtcdKeyValue

    init?(json: JSONObject) {
        guard let kv = json.object("kv"), let keyValue = EtcdKeyValue(json: kv) else { return nil }
        // The gateway omits `type` for PUT (its default).
        kind = json.string("type") == "DELETE" ? .delete : .put
        self.keyValue = keyValue
    }
}

public struct EtcdError: Error, CustomStringConvertible, Equatable {
    public enum Kind: Sendable, Equatable {
        case invalidEndpoint, unreachable, refused, leaseExpired, watchCanceled, badReply
    }
    public var kind: Kind
    public var message: String
    public var description: String { message }
}

/// A parsed JSON object with the gateway's conventions (int64 as strings, base64 bytes).
struct JSONObject: @unchecked Sendable {
    let values: [String: Any]

    init(_ values: [String: Any]) { self.values = values }
    init(data: Data) { values = ((try? JSONSerialization.jsonObject(with: data)) as? [String: Any]) ?? [:] }

    func string(_ key: String) -> String? {
        switch values[key] {
        case let text as String: text
        case let number as NSNumber: number.stringValue
        default: nil
        }
    }
    func bool(_ key: String) -> Bool? { (values[key] as? NSNumber)?.boolValue ?? (values[key] as? Bool) }
    func object(_ key: String) -> JSONObject? { (values[key] as? [String: Any]).map(JSONObject.init) }
    func array(_ key: String) -> [JSONObject]? { (values[key] as? [Any])?.compactMap { ($0 as? [String: Any]).map(JSONObject.init) } }
    func base64String(_ key: String) -> String? {
        guard let text = values[key] as? String, let data = Data(base64Encoded: text) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }
    var revision: Int64 { Int64(object("header")?.string("revision") ?? "0") ?? 0 }
}

/// True for the first caller only.
final class Once: @unchecked Sendable {
    private let lock = NSLock()
    private var taken = false
    func take() -> Bool {
        lock.withLock {
            defer { taken = true }
            return !taken
        }
    }
}

/// A call whose reply is a stream of newline-separated JSON objects (watch, keepalive). `line`
/// gets each; returning false ends the call. `done` is called once, with the error if the call
/// failed (nil when `line` ended it or it was cancelled).
final class StreamedCall: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    let client: EtcdClient
    let path: String
    let body: Data
    let onLine: (JSONObject) -> Bool
    let onDone: (EtcdError?) -> Void
    private let lock = NSLock()
    private var buffer = Data()
    private var session: URLSession?
    private var finished = false
    private var gotData = false

    init(client: EtcdClient, path: String, body: [String: Any], line: @escaping (JSONObject) -> Bool,
         done: @escaping (EtcdError?) -> Void) {
        self.client = client
        self.path = path
        self.body = (try? JSONSerialization.data(withJSONObject: body)) ?? Data()
        onLine = line
        onDone = done
    }

    func start(endpointIndex: Int) {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = client.timeout
        // A watch lasts as long as it is wanted.
        configuration.timeoutIntervalForResource = path == "watch" ? 7 * 24 * 3600 : client.timeout
        let session = URLSession(configuration: configuration, delegate: self, delegateQueue: nil)
        var request = URLRequest(url: client.endpoints[endpointIndex].appendingPathComponent("v3").appendingPathComponent(path))
        request.httpMethod = "POST"
        request.httpBody = body
        if path == "watch" { request.timeoutInterval = 7 * 24 * 3600 }
        lock.withLock {
            self.session = session
            self.endpointIndex = endpointIndex
        }
        session.dataTask(with: request).resume()
    }

    private var endpointIndex = 0

    func cancel() {
        let session = lock.withLock { () -> URLSession? in
            finished = true
            return self.session
        }
        session?.invalidateAndCancel()
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        var lines: [Data] = []
        lock.withLock {
            gotData = true
            buffer.append(data)
            while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                lines.append(buffer[buffer.startIndex..<newline])
                buffer.removeSubrange(buffer.startIndex...newline)
            }
        }
        for line in lines where !line.isEmpty {
            if lock.withLock({ finished }) { return }
            let object = JSONObject(data: line)
            if let error = object.object("error") ?? (object.string("error") != nil ? object : nil) {
                finish(EtcdError(kind: .refused, message: "etcd refused \(path): \(error.string("message") ?? error.string("error") ?? "?")"))
                return
            }
            if !onLine(object) {
                finish(nil)
                return
            }
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        let (alreadyFinished, received, index) = lock.withLock { (finished, gotData, endpointIndex) }
        if alreadyFinished { return }
        // A line without its newline at the end of the stream.
        let rest = lock.withLock { () -> Data in defer { buffer.removeAll() }; return buffer }
        if !rest.isEmpty, !onLine(JSONObject(data: rest)) {
            finish(nil)
            return
        }
        if error != nil, !received, index + 1 < client.endpoints.count {
            // Nothing came from this endpoint: try the next.
            session.finishTasksAndInvalidate()
            start(endpointIndex: index + 1)
            return
        }
        finish(error.map { EtcdError(kind: .unreachable, message: "\(path) on \(client.endpoints[index].absoluteString): \($0.localizedDescription)") })
    }

    private func finish(_ error: EtcdError?) {
        let session = lock.withLock { () -> URLSession? in
            guard !finished else { return nil }
            finished = true
            return self.session
        }
        guard let session else { return }
        onDone(error)
        session.invalidateAndCancel()
    }
}
