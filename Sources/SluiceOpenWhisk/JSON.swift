// A small strict JSON reader (RFC 8259) for the OpenWhisk adapters.
//
// Written here rather than using JSONSerialization so that booleans and numbers stay apart on
// every platform, so that errors can name the field where the input went wrong (also for
// truncated input), and so that large opaque parts (action parameters, results) are only
// syntax-checked, never turned into a tree.

/// The type of a JSON value, for error messages.
enum JSONKind: Sendable {
    case null, bool, number, string, array, object

    /// "a string", "an object", ... as used in "expected ..., found ...".
    var phrase: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

/// A parsed JSON value.
enum JSON: Sendable {
    case null
    case bool(Bool)
    /// The number's literal text, exactly as written (so large integers lose nothing).
    case number(String)
    case string(String)
    case array([JSON])
    case object([String: JSON])
    /// A value that was syntax-checked but not built (see `JSONParser.parse(_:unbuilt:)`).
    case unbuilt(JSONKind)

    var kind: JSONKind {
        switch self {
        case .null: .null
        case .bool: .bool
        case .number: .number
        case .string: .string
        case .array: .array
        case .object: .object
        case .unbuilt(let kind): kind
        }
    }
}

/// Parses one JSON document from UTF-8 bytes.
struct JSONParser {
    /// Deeper nesting is refused.
    static let maxDepth = 1000
    /// Values nested deeper than this are syntax-checked, not built: the adapters read nothing
    /// deeper than 3 levels, and building recurses.
    static let maxBuiltDepth = 6

    private enum PathComponent {
        case key(String)
        case index(Int)
    }

    private let bytes: [UInt8]
    private var position = 0
    private var path: [PathComponent] = []
    private let unbuiltPaths: [[String]]
    private let longestUnbuiltPath: Int

    private init(bytes: [UInt8], unbuilt: [[String]]) {
        self.bytes = bytes
        self.unbuiltPaths = unbuilt
        self.longestUnbuiltPath = unbuilt.map(\.count).max() ?? 0
    }

    /// Parses `bytes` as exactly one JSON value (surrounding whitespace allowed).
    ///
    /// Values found at one of the `unbuilt` key paths (for example `["content"]`) are checked
    /// for correct syntax but returned as `.unbuilt(kind)`: the adapters only need their type.
    /// So are values nested deeper than `maxBuiltDepth`. Errors name the innermost field where parsing stopped; inside an unbuilt value, the
    /// unbuilt value's own field.
    static func parse(_ bytes: [UInt8], unbuilt: [[String]] = []) throws(OpenWhiskMessageError) -> JSON {
        var parser = JSONParser(bytes: bytes, unbuilt: unbuilt)
        parser.skipWhitespace()
        guard parser.position < bytes.count else {
            throw OpenWhiskMessageError(field: OpenWhiskMessageError.topLevel, problem: "empty input, expected a JSON object")
        }
        let value = try parser.parseValue(depth: 0, build: true)
        parser.skipWhitespace()
        guard parser.position == bytes.count else {
            throw parser.failure("unexpected data after the JSON value")
        }
        return value
    }

    // MARK: Errors

    private var renderedPath: String {
        guard !path.isEmpty else { return OpenWhiskMessageError.topLevel }
        var text = ""
        for component in path {
            switch component {
            case .key(let key):
                if !text.isEmpty { text += "." }
                text += key
            case .index(let index):
                text += "[\(index)]"
            }
        }
        return text
    }

    private func failure(_ problem: String) -> OpenWhiskMessageError {
        OpenWhiskMessageError(field: renderedPath, problem: "invalid JSON at byte \(position): \(problem)")
    }

    private func truncated() -> OpenWhiskMessageError {
        OpenWhiskMessageError(field: renderedPath, problem: "truncated JSON: the input ends at byte \(bytes.count) inside this value")
    }

    // MARK: Scanning

    private func peek() -> UInt8? { position < bytes.count ? bytes[position] : nil }

    private mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    private func isUnbuilt() -> Bool {
        guard longestUnbuiltPath > 0, path.count <= longestUnbuiltPath else { return false }
        return unbuiltPaths.contains { keys in
            guard keys.count == path.count else { return false }
            for (key, component) in zip(keys, path) {
                guard case .key(let name) = component, name == key else { return false }
            }
            return true
        }
    }

    /// Parses the value at the current position. Values are built (decoded into a tree) only
    /// down to `maxBuiltDepth`, and not at the unbuilt paths; all others are syntax-checked by
    /// `skipValue`, which does not recurse. So recursion stays shallow whatever the input.
    private mutating func parseValue(depth: Int, build: Bool) throws(OpenWhiskMessageError) -> JSON {
        guard build, depth <= Self.maxBuiltDepth else { return .unbuilt(try skipValue(depth: depth)) }
        guard let byte = peek() else { throw truncated() }
        switch byte {
        case UInt8(ascii: "{"):
            return try parseObject(depth: depth)
        case UInt8(ascii: "["):
            return try parseArray(depth: depth)
        case UInt8(ascii: "\""):
            return .string(try parseString(build: true)!)
        case UInt8(ascii: "t"):
            try expectLiteral("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expectLiteral("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try expectLiteral("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return .number(try parseNumber(build: true)!)
        default:
            throw failure("unexpected character '\(Self.show(byte))'")
        }
    }

    private mutating func parseObject(depth: Int) throws(OpenWhiskMessageError) -> JSON {
        position += 1  // {
        var fields: [String: JSON] = [:]
        skipWhitespace()
        if peek() == UInt8(ascii: "}") {
            position += 1
            return .object(fields)
        }
        while true {
            let key = try parseMemberName(build: true)!
            path.append(.key(key))
            let value = try parseValue(depth: depth + 1, build: !isUnbuilt())
            path.removeLast()
            fields[key] = value  // a repeated name: the last one wins, as in spray-json
            skipWhitespace()
            guard let separator = peek() else { throw truncated() }
            if separator == UInt8(ascii: ",") {
                position += 1
            } else if separator == UInt8(ascii: "}") {
                position += 1
                return .object(fields)
            } else {
                throw failure("expected ',' or '}' in an object")
            }
        }
    }

    private mutating func parseArray(depth: Int) throws(OpenWhiskMessageError) -> JSON {
        position += 1  // [
        var elements: [JSON] = []
        skipWhitespace()
        if peek() == UInt8(ascii: "]") {
            position += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            path.append(.index(elements.count))
            elements.append(try parseValue(depth: depth + 1, build: true))
            path.removeLast()
            skipWhitespace()
            guard let separator = peek() else { throw truncated() }
            if separator == UInt8(ascii: ",") {
                position += 1
            } else if separator == UInt8(ascii: "]") {
                position += 1
                return .array(elements)
            } else {
                throw failure("expected ',' or ']' in an array")
            }
        }
    }

    /// `"name"` then `:`, with whitespace around; positioned at the member's value afterwards.
    private mutating func parseMemberName(build: Bool) throws(OpenWhiskMessageError) -> String? {
        skipWhitespace()
        guard let quote = peek() else { throw truncated() }
        guard quote == UInt8(ascii: "\"") else { throw failure("expected a member name in double quotes") }
        let key = try parseString(build: build)
        skipWhitespace()
        guard let colon = peek() else { throw truncated() }
        guard colon == UInt8(ascii: ":") else { throw failure("expected ':' after a member name") }
        position += 1
        skipWhitespace()
        return key
    }

    /// Syntax-checks one value without building it and returns its kind. Iterative: nesting
    /// is tracked on a heap stack, so deep input cannot exhaust the thread's stack.
    private mutating func skipValue(depth: Int) throws(OpenWhiskMessageError) -> JSONKind {
        var open: [UInt8] = []  // the containers entered: "{" or "["
        var result: JSONKind? = nil
        var needValue = true
        while true {
            if needValue {
                guard depth + open.count <= Self.maxDepth else { throw failure("nesting deeper than \(Self.maxDepth) levels") }
                skipWhitespace()
                guard let byte = peek() else { throw truncated() }
                let kind: JSONKind
                switch byte {
                case UInt8(ascii: "{"):
                    position += 1
                    skipWhitespace()
                    if peek() == UInt8(ascii: "}") {
                        position += 1
                        kind = .object
                    } else {
                        open.append(byte)
                        if result == nil { result = .object }
                        _ = try parseMemberName(build: false)
                        continue
                    }
                case UInt8(ascii: "["):
                    position += 1
                    skipWhitespace()
                    if peek() == UInt8(ascii: "]") {
                        position += 1
                        kind = .array
                    } else {
                        open.append(byte)
                        if result == nil { result = .array }
                        continue
                    }
                case UInt8(ascii: "\""):
                    _ = try parseString(build: false)
                    kind = .string
                case UInt8(ascii: "t"):
                    try expectLiteral("true")
                    kind = .bool
                case UInt8(ascii: "f"):
                    try expectLiteral("false")
                    kind = .bool
                case UInt8(ascii: "n"):
                    try expectLiteral("null")
                    kind = .null
                case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                    _ = try parseNumber(build: false)
                    kind = .number
                default:
                    throw failure("unexpected character '\(Self.show(byte))'")
                }
                if result == nil { result = kind }
                needValue = false
            }
            // A value is complete; continue or close the innermost open container.
            guard let container = open.last else { return result! }
            skipWhitespace()
            guard let separator = peek() else { throw truncated() }
            let isObject = container == UInt8(ascii: "{")
            if separator == UInt8(ascii: ",") {
                position += 1
                if isObject { _ = try parseMemberName(build: false) }
                needValue = true
            } else if separator == (isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                position += 1
                open.removeLast()
            } else {
                throw failure(isObject ? "expected ',' or '}' in an object" : "expected ',' or ']' in an array")
            }
        }
    }

    /// Parses a string starting at its opening quote. Returns nil when not building (the
    /// escapes are still checked; UTF-8 validity is only checked for built strings).
    private mutating func parseString(build: Bool) throws(OpenWhiskMessageError) -> String? {
        position += 1  // opening quote
        var segmentStart = position
        var decoded: [UInt8]? = nil  // only once an escape was seen
        while true {
            guard position < bytes.count else { throw truncated() }
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                let end = position
                position += 1
                guard build else { return nil }
                let text: String?
                if var buffer = decoded {
                    buffer.append(contentsOf: bytes[segmentStart..<end])
                    text = String(validating: buffer, as: UTF8.self)
                } else {
                    text = String(validating: bytes[segmentStart..<end], as: UTF8.self)
                }
                guard let text else {
                    position = end
                    throw failure("a string is not valid UTF-8")
                }
                return text
            }
            if byte == UInt8(ascii: "\\") {
                if build {
                    if decoded == nil { decoded = [] }
                    decoded!.append(contentsOf: bytes[segmentStart..<position])
                }
                position += 1
                guard let escape = peek() else { throw truncated() }
                position += 1
                var scalar: Unicode.Scalar
                switch escape {
                case UInt8(ascii: "\""): scalar = "\""
                case UInt8(ascii: "\\"): scalar = "\\"
                case UInt8(ascii: "/"): scalar = "/"
                case UInt8(ascii: "b"): scalar = "\u{08}"
                case UInt8(ascii: "f"): scalar = "\u{0C}"
                case UInt8(ascii: "n"): scalar = "\n"
                case UInt8(ascii: "r"): scalar = "\r"
                case UInt8(ascii: "t"): scalar = "\t"
                case UInt8(ascii: "u"):
                    scalar = try parseUnicodeEscape()
                default:
                    position -= 1
                    throw failure("invalid escape '\\\(Self.show(escape))' in a string")
                }
                if build { UTF8.encode(scalar) { decoded!.append($0) } }
                segmentStart = position
                continue
            }
            if byte < 0x20 { throw failure("a control character in a string must be escaped") }
            position += 1
        }
    }

    /// After `\u`: four hex digits, and for a high surrogate the `\uXXXX` low surrogate too.
    private mutating func parseUnicodeEscape() throws(OpenWhiskMessageError) -> Unicode.Scalar {
        let unit = try parseHex4()
        if (0xD800...0xDBFF).contains(unit) {
            guard position + 2 <= bytes.count else { throw truncated() }
            guard bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") else {
                throw failure("a high surrogate escape must be followed by a low surrogate escape")
            }
            position += 2
            let low = try parseHex4()
            guard (0xDC00...0xDFFF).contains(low) else { throw failure("invalid low surrogate escape") }
            let value = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
            return Unicode.Scalar(value)!  // always in 0x10000...0x10FFFF
        }
        guard !(0xDC00...0xDFFF).contains(unit) else { throw failure("unpaired low surrogate escape") }
        return Unicode.Scalar(unit)!  // not a surrogate, so valid
    }

    private mutating func parseHex4() throws(OpenWhiskMessageError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = peek() else { throw truncated() }
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw failure("expected a hexadecimal digit in a \\u escape")
            }
            value = value << 4 | UInt32(digit)
            position += 1
        }
        return value
    }

    private mutating func parseNumber(build: Bool) throws(OpenWhiskMessageError) -> String? {
        let start = position
        if peek() == UInt8(ascii: "-") { position += 1 }
        guard let first = peek() else { throw truncated() }
        if first == UInt8(ascii: "0") {
            position += 1
        } else if Self.isDigit(first) {
            skipDigits()
        } else {
            throw failure("invalid number")
        }
        if peek() == UInt8(ascii: ".") {
            position += 1
            try requireDigit()
            skipDigits()
        }
        if let exponent = peek(), exponent == UInt8(ascii: "e") || exponent == UInt8(ascii: "E") {
            position += 1
            if let sign = peek(), sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") { position += 1 }
            try requireDigit()
            skipDigits()
        }
        return build ? String(decoding: bytes[start..<position], as: UTF8.self) : nil
    }

    private func requireDigit() throws(OpenWhiskMessageError) {
        guard let byte = peek() else { throw truncated() }
        guard Self.isDigit(byte) else { throw failure("invalid number") }
    }

    private mutating func skipDigits() {
        while let byte = peek(), Self.isDigit(byte) { position += 1 }
    }

    private mutating func expectLiteral(_ literal: String) throws(OpenWhiskMessageError) {
        for byte in literal.utf8 {
            guard let actual = peek() else { throw truncated() }
            guard actual == byte else { throw failure("invalid literal, expected '\(literal)'") }
            position += 1
        }
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    private static func show(_ byte: UInt8) -> String {
        (0x21...0x7E).contains(byte) ? String(UnicodeScalar(byte)) : "0x" + String(byte, radix: 16, uppercase: true)
    }
}

// MARK: - Typed field access with errors that name the field

/// A JSON object together with its dotted path, for reading fields with precise errors.
struct JSONObject {
    let fields: [String: JSON]
    /// The object's own path; empty for the top level.
    let path: String

    /// Wraps `value`, which must be an object; `path` names it in errors.
    init(_ value: JSON, path: String) throws(OpenWhiskMessageError) {
        guard case .object(let fields) = value else {
            throw OpenWhiskMessageError(
                field: path.isEmpty ? OpenWhiskMessageError.topLevel : path,
                problem: path.isEmpty ? "expected a JSON object, found \(value.kind.phrase)" : "expected an object, found \(value.kind.phrase)")
        }
        self.fields = fields
        self.path = path
    }

    /// The path of `key` inside this object.
    func fieldPath(_ key: String) -> String { path.isEmpty ? key : path + "." + key }

    /// The value of `key`; nil when absent. (A JSON null is returned as `.null`.)
    func value(_ key: String) -> JSON? { fields[key] }

    /// Whether `key` is present with a value other than null.
    func hasValue(_ key: String) -> Bool {
        guard let value = fields[key] else { return false }
        return value.kind != .null
    }

    func missing(_ key: String) -> OpenWhiskMessageError {
        OpenWhiskMessageError(field: fieldPath(key), problem: "missing")
    }

    func mismatch(_ key: String, expected: String, found value: JSON) -> OpenWhiskMessageError {
        OpenWhiskMessageError(field: fieldPath(key), problem: "expected \(expected), found \(value.kind.phrase)")
    }

    /// The value of `key`, which must be present (null counts as present).
    func required(_ key: String) throws(OpenWhiskMessageError) -> JSON {
        guard let value = fields[key] else { throw missing(key) }
        return value
    }

    func string(_ key: String) throws(OpenWhiskMessageError) -> String {
        let value = try required(key)
        guard case .string(let text) = value else { throw mismatch(key, expected: "a string", found: value) }
        return text
    }

    /// A string, or nil when the field is absent or null.
    func optionalString(_ key: String) throws(OpenWhiskMessageError) -> String? {
        guard let value = fields[key] else { return nil }
        switch value {
        case .null: return nil
        case .string(let text): return text
        default: throw mismatch(key, expected: "a string", found: value)
        }
    }

    func bool(_ key: String) throws(OpenWhiskMessageError) -> Bool {
        let value = try required(key)
        guard case .bool(let flag) = value else { throw mismatch(key, expected: "a boolean", found: value) }
        return flag
    }

    /// A boolean, or nil when the field is absent or null.
    func optionalBool(_ key: String) throws(OpenWhiskMessageError) -> Bool? {
        guard let value = fields[key] else { return nil }
        switch value {
        case .null: return nil
        case .bool(let flag): return flag
        default: throw mismatch(key, expected: "a boolean", found: value)
        }
    }

    func integer(_ key: String) throws(OpenWhiskMessageError) -> Int {
        let value = try required(key)
        return try JSONObject.integer(value, field: fieldPath(key))
    }

    /// An integer, or nil when the field is absent or null.
    func optionalInteger(_ key: String) throws(OpenWhiskMessageError) -> Int? {
        guard let value = fields[key] else { return nil }
        if case .null = value { return nil }
        return try JSONObject.integer(value, field: fieldPath(key))
    }

    func object(_ key: String) throws(OpenWhiskMessageError) -> JSONObject {
        let value = try required(key)
        guard case .object = value else { throw mismatch(key, expected: "an object", found: value) }
        return try JSONObject(value, path: fieldPath(key))
    }

    /// An object, or nil when the field is absent or null.
    func optionalObject(_ key: String) throws(OpenWhiskMessageError) -> JSONObject? {
        guard let value = fields[key] else { return nil }
        switch value {
        case .null: return nil
        case .object: return try JSONObject(value, path: fieldPath(key))
        default: throw mismatch(key, expected: "an object", found: value)
        }
    }

    /// The elements of an array, or nil when the field is absent or null.
    func optionalArray(_ key: String) throws(OpenWhiskMessageError) -> [JSON]? {
        guard let value = fields[key] else { return nil }
        switch value {
        case .null: return nil
        case .array(let elements): return elements
        default: throw mismatch(key, expected: "an array", found: value)
        }
    }

    /// Checks that `key`, when present and not null, has type `kind` (also for unbuilt values).
    func checkOptional(_ key: String, is kind: JSONKind) throws(OpenWhiskMessageError) {
        guard let value = fields[key] else { return }
        // A null that was only syntax-checked arrives as .unbuilt(.null): compare kinds.
        if value.kind == .null { return }
        guard value.kind == kind else { throw mismatch(key, expected: kind.phrase, found: value) }
    }

    /// An integer from a JSON number, or an error naming `field`.
    static func integer(_ value: JSON, field: String) throws(OpenWhiskMessageError) -> Int {
        guard case .number(let literal) = value else {
            throw OpenWhiskMessageError(field: field, problem: "expected an integer, found \(value.kind.phrase)")
        }
        if let integer = Int(literal) { return integer }
        if literal.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) {
            throw OpenWhiskMessageError(field: field, problem: "expected an integer, found \(literal)")
        }
        throw OpenWhiskMessageError(field: field, problem: "integer \(literal) is out of range")
    }

    /// A list of strings from an array, or an error naming the offending element.
    static func strings(_ elements: [JSON], field: String) throws(OpenWhiskMessageError) -> [String] {
        var result: [String] = []
        result.reserveCapacity(elements.count)
        for (index, element) in elements.enumerated() {
            guard case .string(let text) = element else {
                throw OpenWhiskMessageError(field: "\(field)[\(index)]", problem: "expected a string, found \(element.kind.phrase)")
            }
            result.append(text)
        }
        return result
    }
}

/// Shortens a value for an error message.
func shown(_ value: String) -> String {
    value.count > 40 ? String(value.prefix(40)) + "..." : value
}
