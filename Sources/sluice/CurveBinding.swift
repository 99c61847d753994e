import Foundation
import SluiceProtocol
import ZeroMQ

/// One allow-list entry of `security.controller-keys` or `security.invoker-keys`: a client key
/// and the one id it may use in HELLO (docs/SECURITY.md, PROTOCOL.md §8).
///
/// - `ID=KEY`: `KEY` is a 40-character Z85 public key or a key file, bound to `ID`;
/// - `NAME.pub`: that file's key, bound to the id `NAME`;
/// - a bare Z85 key is refused: it would let its holder claim any id.
struct CurveBinding: Equatable {
    var id: String
    var key: String

    static func parse(_ entry: String, folder: String) throws(CurveBindingError) -> CurveBinding {
        let id: String
        let keyText: String
        // Z85 keys may contain '=', ids may not: a whole key first, then ID=KEY at the first '='.
        if Curve.isKey(entry) {
            throw CurveBindingError(description: "'\(entry.prefix(8))...' names no id: write ID=KEY, so that only that id may use the key")
        } else if let equals = entry.firstIndex(of: "="), Identifier.isValid(String(entry[..<equals]).trimmingCharacters(in: .whitespaces)) {
            id = String(entry[..<equals]).trimmingCharacters(in: .whitespaces)
            keyText = String(entry[entry.index(after: equals)...]).trimmingCharacters(in: .whitespaces)
        } else if entry.hasSuffix(".pub") {
            id = URL(fileURLWithPath: entry).deletingPathExtension().lastPathComponent
            keyText = entry
        } else {
            throw CurveBindingError(description: "'\(entry)' is neither ID=KEY nor a NAME.pub file")
        }
        guard Identifier.isValid(id) else {
            throw CurveBindingError(description: "'\(id)' in '\(entry)' is not a valid id (1..128 of [A-Za-z0-9._-], PROTOCOL.md §3.2)")
        }
        if Curve.isKey(keyText) { return CurveBinding(id: id, key: keyText) }
        let file = keyText.hasPrefix("/") ? keyText : folder + "/" + keyText
        do {
            return CurveBinding(id: id, key: try CurveKeyFile.readPublicKey(file))
        } catch {
            throw CurveBindingError(description: "'\(keyText)' in '\(entry)' is neither a 40-character Z85 key nor a readable key file (\(error))")
        }
    }
}

struct CurveBindingError: Error, CustomStringConvertible {
    var description: String
}
