/// Anything that can lend its bytes for decoding: `[UInt8]` here, a ZeroMQ message frame in
/// the I/O modules. The codec only reads header frames; opaque frames are never touched.
public protocol FrameBytes {
    var count: Int { get }
    func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result
}

extension Array: FrameBytes where Element == UInt8 {}
extension ArraySlice: FrameBytes where Element == UInt8 {}

/// A frame lent by pointer: what the I/O modules decode through, so the codec is specialized
/// once, in this module, for every kind of frame (`Codec.decode`'s `@_specialize`), without
/// cross-module optimization (issue 13, item 15). Valid only while its owner keeps the bytes.
public struct RawFrame: FrameBytes {
    public let bytes: UnsafeRawBufferPointer

    public init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    public var count: Int { bytes.count }

    public func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try body(bytes)
    }
}

/// A frame held by a class instance (the broker's ZeroMQ messages).
public protocol FrameObject: AnyObject, FrameBytes {}

/// An opaque frame the core carries without knowing its class: one concrete payload type, so
/// `BrokerCore` is specialized once, in its own module, for the broker (issue 13, item 15).
/// Copying it retains the object; no bytes are copied.
public struct SharedFrame: FrameBytes {
    public let object: any FrameObject

    public init(_ object: any FrameObject) { self.object = object }

    public var count: Int { object.count }

    public func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try object.withUnsafeBytes(body)
    }
}
