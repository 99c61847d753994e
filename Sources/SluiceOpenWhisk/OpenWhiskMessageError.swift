/// Why an OpenWhisk message (or a value the caller supplied with it) could not be adapted.
///
/// Every error names the field it concerns, as a dotted path from the top of the message
/// (`"user.namespace.name"`, `"transid[1]"`), or `"(top level)"` for the document itself, so
/// an operator can tell what to fix. `message` reads `"<field>: <problem>"`, for example
/// `"activationId: missing"` or `"action.name: expected a string, found a number"`.
///
/// The adapters never return a partly filled value: any problem throws this error instead.
public struct OpenWhiskMessageError: Error, Equatable, Hashable, Sendable, CustomStringConvertible {
    /// The field concerned, as a dotted path (`"action.name"`), `"(top level)"` for the whole
    /// document, or `"hints.<name>"` for a value the caller supplied.
    public var field: String
    /// What is wrong with it (`"missing"`, `"expected a string, found a number"`).
    public var problem: String

    /// Creates an error about `field`.
    public init(field: String, problem: String) {
        self.field = field
        self.problem = problem
    }

    /// `"<field>: <problem>"`.
    public var message: String { "\(field): \(problem)" }

    /// Same as `message`.
    public var description: String { message }

    /// The name used for the document itself.
    public static let topLevel = "(top level)"
}
