/// Anything that can lend its bytes for decoding: `[UInt8]` here, a ZeroMQ message frame in
/// the I/O modules. The codec only reads header frames; opaque frames are never touched.
public protocol FrameBytes {
    var count: Int { get }
    func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result
}

extension Array: FrameBytes where Element == UInt8 {}
extension ArraySlice: FrameBytes where Element == UInt8 {}
