import CZeroMQ
import Foundation

/// A CURVE key pair in Z85 text (40 characters each), as `zmq_curve_keypair` makes them.
public struct CurveKeyPair: Sendable, Equatable {
    public let publicKey: String
    public let secretKey: String

    /// A new random key pair. Throws if libzmq was built without CURVE.
    public static func generate() throws(ZMQError) -> CurveKeyPair {
        var publicKey = [CChar](repeating: 0, count: 41)
        var secretKey = [CChar](repeating: 0, count: 41)
        guard zmq_curve_keypair(&publicKey, &secretKey) == 0 else { throw ZMQError.last("zmq_curve_keypair") }
        return CurveKeyPair(publicKey: Curve.text(publicKey), secretKey: Curve.text(secretKey))
    }

    /// The pair for `secretKey`, its public key derived. Nil if `secretKey` is not a Z85 key.
    public init?(secretKey: String) {
        guard Curve.isKey(secretKey) else { return nil }
        var publicKey = [CChar](repeating: 0, count: 41)
        guard zmq_curve_public(&publicKey, secretKey) == 0 else { return nil }
        self.publicKey = Curve.text(publicKey)
        self.secretKey = secretKey
    }

    init(publicKey: String, secretKey: String) {
        self.publicKey = publicKey
        self.secretKey = secretKey
    }
}

public enum Curve {
    /// Whether `key` is a Z85-encoded 32-byte key (40 characters that decode).
    public static func isKey(_ key: String) -> Bool {
        guard key.utf8.count == 40 else { return false }
        var bytes = [UInt8](repeating: 0, count: 32)
        return zmq_z85_decode(&bytes, key) != nil
    }

    /// The 32 bytes of a Z85 key, or nil.
    public static func decode(_ key: String) -> [UInt8]? {
        guard key.utf8.count == 40 else { return nil }
        var bytes = [UInt8](repeating: 0, count: 32)
        return zmq_z85_decode(&bytes, key) != nil ? bytes : nil
    }

    /// The text of a NUL-terminated C buffer (Z85 is ASCII).
    static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The Z85 text of 32 key bytes.
    public static func encode(_ bytes: [UInt8]) -> String? {
        guard bytes.count == 32 else { return nil }
        var text = [CChar](repeating: 0, count: 41)
        return zmq_z85_encode(&text, bytes, 32) != nil ? Curve.text(text) : nil
    }
}

extension ZMQSocket {
    private func setKey(_ option: Int32, _ key: String, name: String) throws(ZMQError) {
        guard let bytes = Curve.decode(key) else { throw ZMQError(errno: 22 /* EINVAL */, operation: "\(name): not a Z85 CURVE key") }
        let result = bytes.withUnsafeBytes { zmq_setsockopt(handle, option, $0.baseAddress, $0.count) }
        if result != 0 { throw ZMQError.last("zmq_setsockopt(\(name))") }
    }

    /// Makes this socket a CURVE server with `secretKey` (Z85). Clients must know its public key.
    /// Set before `bind`. Without a ZAP handler any client that knows the public key gets in.
    public func setCurveServer(secretKey: String) throws(ZMQError) {
        try setIntOption(ZMQ_CURVE_SERVER, 1, name: "ZMQ_CURVE_SERVER")
        try setKey(ZMQ_CURVE_SECRETKEY, secretKey, name: "ZMQ_CURVE_SECRETKEY")
    }

    /// Makes this socket a CURVE client of the server with `serverKey`, as `keys`. Set before `connect`.
    public func setCurveClient(serverKey: String, keys: CurveKeyPair) throws(ZMQError) {
        try setKey(ZMQ_CURVE_SERVERKEY, serverKey, name: "ZMQ_CURVE_SERVERKEY")
        try setKey(ZMQ_CURVE_PUBLICKEY, keys.publicKey, name: "ZMQ_CURVE_PUBLICKEY")
        try setKey(ZMQ_CURVE_SECRETKEY, keys.secretKey, name: "ZMQ_CURVE_SECRETKEY")
    }

    /// The ZAP domain this socket's connections are authenticated in (`ZMQ_ZAP_DOMAIN`).
    public func setZAPDomain(_ domain: String) throws(ZMQError) {
        let bytes = Array(domain.utf8)
        let result = bytes.withUnsafeBytes { zmq_setsockopt(handle, ZMQ_ZAP_DOMAIN, $0.baseAddress, $0.count) }
        if result != 0 { throw ZMQError.last("zmq_setsockopt(ZMQ_ZAP_DOMAIN)") }
    }
}

/// Sluice's key file: `public-key: <Z85>` and (for a secret file) `secret-key: <Z85>` lines;
/// a line starting with `#` is a comment. `sluice keygen` writes one.
public enum CurveKeyFile {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Reads the key pair in `path`: its secret key, and its public key (derived if absent).
    public static func readPair(_ path: String) throws(Failure) -> CurveKeyPair {
        let fields = try read(path)
        guard let secret = fields["secret-key"] else {
            throw Failure(description: "\(path) has no 'secret-key:' line (is it a .pub file? use the .key file)")
        }
        guard let pair = CurveKeyPair(secretKey: secret) else {
            throw Failure(description: "\(path): 'secret-key' is not a 40-character Z85 CURVE key")
        }
        if let listed = fields["public-key"], listed != pair.publicKey {
            throw Failure(description: "\(path): 'public-key' does not belong to 'secret-key'")
        }
        return pair
    }

    /// Reads the public key in `path` (a .pub or a .key file).
    public static func readPublicKey(_ path: String) throws(Failure) -> String {
        let fields = try read(path)
        if let key = fields["public-key"] {
            guard Curve.isKey(key) else { throw Failure(description: "\(path): 'public-key' is not a 40-character Z85 CURVE key") }
            return key
        }
        return try readPair(path).publicKey
    }

    static func read(_ path: String) throws(Failure) -> [String: String] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw Failure(description: "cannot read key file \(path)")
        }
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            // Z85 keys may contain '#' and ':': only whole lines are comments, and only the
            // first ':' separates the name.
            if line.trimmingCharacters(in: .whitespaces).hasPrefix("#") { continue }
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            fields[parts[0].trimmingCharacters(in: .whitespaces)] = parts[1].trimmingCharacters(in: .whitespaces)
        }
        return fields
    }

    /// The text of a secret key file.
    public static func secretFile(_ pair: CurveKeyPair) -> String {
        "# Sluice CURVE key pair, made by `sluice keygen`. Keep this file secret (mode 0600).\npublic-key: \(pair.publicKey)\nsecret-key: \(pair.secretKey)\n"
    }

    /// The text of a public key file.
    public static func publicFile(_ pair: CurveKeyPair) -> String {
        "# Sluice CURVE public key, made by `sluice keygen`. Safe to share.\npublic-key: \(pair.publicKey)\n"
    }
}
