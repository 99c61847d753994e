import Foundation
import NIOCore
import SluiceHTTP

/// A thin client for etcd's v3 API through its JSON gateway (etcd 3.4: `POST /v3/...`, keys and
/// values base64, 64-bit integers as JSON strings, fields at their default omitted). Just what a
/// Sluice cluster needs (docs/CLUSTER.md): leases and their keepalive, put, range over a prefix,
/// a create-if-absent transaction, delete, and a watch. HTTP/1.1 over SwiftNIO, which the
/// monitoring endpoint already builds: Foundation's URLSession on Linux crashed when a
/// streaming call (keepalive, watch) was cancelled as it completed.
///
/// Every call tries the endpoints in order until one answers; an error etcd itself returns
/// (an HTTP status of 400 or more with `{"error","message","code"}`) is thrown at once.
public final class EtcdClient: Sendable {
    public let endpoints: [URL]
    let timeout: Duration

    /// - Parameter endpoints: client URLs such as `http://127.0.0.1:2379`.
    public init(endpoints: [URL], timeout: Duration = .seconds(5)) {
        precondition(!endpoints.isEmpty, "an etcd client needs at least one endpoint")
        self.endpoints = endpoints
        self.timeout = timeout
    }

    /// Parses `http://host:port[,http://host:port...]`.
    public convenience init(_ list: String, timeout: Duration = .seconds(5)) throws(EtcdError) {
        let urls = list.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.map { URL(string: $0) }
        guard !urls.isEmpty, urls.allSatisfy({ $0?.scheme == "http" && $0?.host != nil && $0?.port != nil }) else {
            throw EtcdError(kind: .invalidEndpoint, message: "'\(list)' is not a list of etcd client URLs such as http://127.0.0.1:2379")
        }
        self.init(endpoints: urls.compactMap { $0 }, timeout: timeout)
    }

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

    /// `range(prefix:)` and the store revision it was read at: a watch after that revision
    /// sees every later change.
    public func rangeAndRevision(prefix: String) async throws(EtcdError) -> (keys: [EtcdKeyValue], revision: Int64) {
        let reply = try await call("kv/range", ["key": Self.base64(prefix), "range_end": Self.base64(bytes: Self.prefixEnd(prefix))])
        return ((reply.array("kvs") ?? []).compactMap(EtcdKeyValue.init(json:)), reply.revision)
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

    /// The store's current revision (a watch after it misses nothing that comes later).
    public func revision() async throws(EtcdError) -> Int64 {
        try await call("kv/range", ["key": Self.base64("\u{0}"), "count_only": true]).revision
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
            let reply: HTTPReply
            do {
                reply = try await HTTPCall.request(.POST, endpoint, path: "/v3/" + path, body: data, timeout: timeout)
            } catch {
                failures.append("\(endpoint.absoluteString): \(error)")
                continue
            }
            let object = JSONObject(data: reply.body)
            if reply.status >= 400 || object.string("error") != nil {
                let message = object.string("message") ?? object.string("error") ?? String(decoding: reply.body.prefix(300), as: UTF8.self)
                // An unavailable member: try the next one.
                if reply.status == 503 || reply.status == 500 && message.contains("timed out") {
                    failures.append("\(endpoint.absoluteString): HTTP \(reply.status) \(message)")
                    continue
                }
                throw EtcdError(kind: message.contains("lease not found") ? .leaseExpired : .refused,
                                message: "etcd refused \(path): HTTP \(reply.status): \(message)")
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
            // A silent peer (a partition, no FIN) must not hold a keepalive for TCP's minutes.
            let timeout = self.timeout
            Task {
                try? await Task.sleep(for: timeout)
                if once.take() {
                    stream.cancel()
                    continuation.resume(returning: .failure(EtcdError(kind: .unreachable, message: "\(path): no reply within \(timeout)")))
                }
            }
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

    public init(id: Int64, ttl: Int) {
        self.id = id
        self.ttl = ttl
    }
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

    public init(kind: Kind, message: String) {
        self.kind = kind
        self.message = message
    }
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

/// A call whose reply is a stream of newline-separated JSON objects (watch, keepalive), tried
/// on each endpoint in turn until one connects. `line` gets each object; returning false ends
/// the call. `done` is called once: with nil when `line` ended it, else with the error or the
/// end of the stream. `cancel()` ends it without calling `done`.
final class StreamedCall: @unchecked Sendable {
    let client: EtcdClient
    let path: String
    let body: Data
    let onLine: (JSONObject) -> Bool
    let onDone: (EtcdError?) -> Void
    private let lock = NSLock()
    private var channel: (any Channel)?
    private var finished = false

    init(client: EtcdClient, path: String, body: [String: Any], line: @escaping (JSONObject) -> Bool,
         done: @escaping (EtcdError?) -> Void) {
        self.client = client
        self.path = path
        self.body = (try? JSONSerialization.data(withJSONObject: body)) ?? Data()
        onLine = line
        onDone = done
    }

    func start(endpointIndex: Int) {
        let endpoint = client.endpoints[endpointIndex]
        // The handler runs on the connection's event loop only.
        let buffer = EventLoopBox(Data())
        let status = EventLoopBox(0)
        let future = HTTPCall.open(.POST, endpoint, path: "/v3/" + path, body: body, connectTimeout: client.timeout, handler: { part in
            switch part {
            case .head(let code, _):
                status.value = code
                return true
            case .body(let bytes):
                buffer.value.append(contentsOf: bytes)
                while let newline = buffer.value.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = buffer.value[buffer.value.startIndex..<newline]
                    buffer.value.removeSubrange(buffer.value.startIndex...newline)
                    guard !line.isEmpty else { continue }
                    if !self.deliver(JSONObject(data: Data(line)), status: status.value) { return false }
                }
                return true
            case .end:
                if !buffer.value.isEmpty { _ = self.deliver(JSONObject(data: buffer.value), status: status.value) }
                self.finish(EtcdError(kind: .unreachable, message: "\(self.path) on \(endpoint.absoluteString): the stream ended"))
                return false
            case .failed(let error):
                self.finish(EtcdError(kind: .unreachable, message: "\(self.path) on \(endpoint.absoluteString): \(error)"))
                return false
            }
        })
        future.whenComplete { result in
            switch result {
            case .success(let channel):
                let closeNow = self.lock.withLock { () -> Bool in
                    self.channel = channel
                    return self.finished
                }
                if closeNow { channel.close(promise: nil) }
            case .failure(let error):
                if endpointIndex + 1 < self.client.endpoints.count {
                    self.start(endpointIndex: endpointIndex + 1)
                } else {
                    self.finish(EtcdError(kind: .unreachable, message: "\(self.path): no etcd endpoint answered (last: \(endpoint.absoluteString): \(error))"))
                }
            }
        }
    }

    /// Handles one line; false ends the call.
    private func deliver(_ object: JSONObject, status: Int) -> Bool {
        if lock.withLock({ finished }) { return false }
        if status >= 400 || object.object("error") != nil || object.string("error") != nil {
            let error = object.object("error") ?? object
            let message = error.string("message") ?? error.string("error") ?? "HTTP \(status)"
            finish(EtcdError(kind: message.contains("lease not found") ? .leaseExpired : .refused, message: "etcd refused \(path): \(message)"))
            return false
        }
        if !onLine(object) {
            finish(nil)
            return false
        }
        return true
    }

    func cancel() {
        let channel = lock.withLock { () -> (any Channel)? in
            finished = true
            return self.channel
        }
        channel?.close(promise: nil)
    }

    private func finish(_ error: EtcdError?) {
        let (first, channel) = lock.withLock { () -> (Bool, (any Channel)?) in
            defer { finished = true }
            return (!finished, self.channel)
        }
        guard first else { return }
        onDone(error)
        channel?.close(promise: nil)
    }
}

