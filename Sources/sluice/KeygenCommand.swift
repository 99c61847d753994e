import ArgumentParser
import Foundation
import ZeroMQ

/// `sluice keygen`: make a CURVE key pair for the broker or a client (docs/SECURITY.md).
struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Make a CURVE key pair (Z85) for the broker, a controller or an invoker.",
        discussion: """
            With --out NAME, writes NAME.key (the secret key file, mode 0600) and NAME.pub \
            (the public key, safe to share). Without it, prints both keys.

            The broker names its own NAME.key in `security.key-file` and lists its clients \
            under `security.controller-keys` and `security.invoker-keys`, each key bound to \
            the one id it may use: NAME.pub binds the id NAME, and "ID=KEY" binds ID to a \
            Z85 key or a .pub file. Each client needs its own NAME.key and the broker's \
            public key. See docs/SECURITY.md.
            """
    )

    @Option(help: "Write <out>.key and <out>.pub instead of printing.")
    var out: String?

    @Flag(help: "Replace existing files.")
    var force = false

    func run() throws {
        guard ZMQContext.has("curve") else {
            throw ValidationError("this libzmq was built without CURVE support (zmq_has(\"curve\") is false)")
        }
        let pair = try CurveKeyPair.generate()
        guard let out else {
            print("public-key: \(pair.publicKey)")
            print("secret-key: \(pair.secretKey)")
            return
        }
        let secretPath = out + ".key", publicPath = out + ".pub"
        let manager = FileManager.default
        for path in [secretPath, publicPath] where manager.fileExists(atPath: path) && !force {
            throw ValidationError("\(path) already exists; pass --force to replace it")
        }
        // Created with 0600 before the secret is written, so it is never readable by others.
        guard manager.createFile(atPath: secretPath, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw ValidationError("cannot create \(secretPath)")
        }
        try manager.setAttributes([.posixPermissions: 0o600], ofItemAtPath: secretPath)
        try CurveKeyFile.secretFile(pair).write(toFile: secretPath, atomically: false, encoding: .utf8)
        try CurveKeyFile.publicFile(pair).write(toFile: publicPath, atomically: true, encoding: .utf8)
        print("wrote \(secretPath) (secret, mode 0600) and \(publicPath)")
        print("public-key: \(pair.publicKey)")
    }
}
