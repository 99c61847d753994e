#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Thin wrappers over the system calls the disk store uses. Each retries on EINTR and
/// reports failures as an errno value (0: success) so callers can name the file in the error.
/// The names differ from the C functions on purpose: `DiskOverflowStore` has members called
/// `sync()` and `close()`.
enum Posix {
    static func describe(_ code: Int32) -> String {
        "\(String(cString: strerror(code))) (errno \(code))"
    }

    static func openFile(_ path: String, _ flags: Int32, _ mode: mode_t = 0o644) -> (fd: Int32, errno: Int32) {
        while true {
            let fd = open(path, flags | O_CLOEXEC, mode)
            if fd >= 0 { return (fd, 0) }
            let code = errno
            if code != EINTR { return (-1, code) }
        }
    }

    static let readWrite = O_RDWR
    static let readOnly = O_RDONLY
    static let createNew = O_RDWR | O_CREAT | O_EXCL
    static let directory = O_RDONLY | O_DIRECTORY
    static let alreadyExists = EEXIST
    static let notFound = ENOENT
    static let isDirectory = EISDIR
    static let accessDenied = EACCES
    static let readOnlyFileSystem = EROFS
    static let permissionDenied = EPERM

    /// Writes all of `bytes` at the file offset. Returns how many were written (all of them
    /// unless an error stopped it) and the errno (0: none).
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> (written: Int, errno: Int32) {
        var done = 0
        while done < bytes.count {
            let count = write(fd, bytes.baseAddress! + done, bytes.count - done)
            if count > 0 {
                done += count
                continue
            }
            if count < 0 {
                let code = errno
                if code == EINTR { continue }
                return (done, code)
            }
            return (done, EIO)
        }
        return (done, 0)
    }

    /// Reads up to `buffer.count` bytes at `offset`; fewer only at end of file.
    static func readFully(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, at offset: Int) -> (read: Int, errno: Int32) {
        var done = 0
        while done < buffer.count {
            let count = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if count > 0 {
                done += count
                continue
            }
            if count == 0 { break }
            let code = errno
            if code == EINTR { continue }
            return (done, code)
        }
        return (done, 0)
    }

    static func syncFile(_ fd: Int32) -> Int32 {
        while fsync(fd) != 0 {
            let code = errno
            if code != EINTR { return code }
        }
        return 0
    }

    static func truncateFile(_ fd: Int32, to size: Int) -> Int32 {
        while ftruncate(fd, off_t(size)) != 0 {
            let code = errno
            if code != EINTR { return code }
        }
        return 0
    }

    static func closeFile(_ fd: Int32) {
        guard fd >= 0 else { return }
        _ = close(fd)
    }

    static func removeFile(_ path: String) -> Int32 {
        unlink(path) == 0 ? 0 : errno
    }

    /// Size of a regular file; nil (with errno 0) for anything else, such as a directory.
    static func regularFileSize(_ fd: Int32) -> (size: Int?, errno: Int32) {
        var info = stat()
        guard fstat(fd, &info) == 0 else { return (nil, errno) }
        guard (info.st_mode & 0o170000) == 0o100000 else { return (nil, 0) }
        return (Int(info.st_size), 0)
    }

    /// Takes an exclusive, non-blocking flock(2) on `fd`. Returns 0, or errno (EWOULDBLOCK:
    /// another open file description holds it, in this process or another).
    static func lockExclusively(_ fd: Int32) -> Int32 {
        while true {
            if flock(fd, LOCK_EX | LOCK_NB) == 0 { return 0 }
            if errno != EINTR { return errno }
        }
    }

    static let wouldBlock = EWOULDBLOCK

    /// Replaces the file's contents with `text`.
    static func replaceContents(_ fd: Int32, _ text: String) -> Int32 {
        guard ftruncate(fd, 0) == 0 else { return errno }
        var bytes = Array(text.utf8)
        let (_, code) = bytes.withUnsafeMutableBytes { raw -> (Int, Int32) in
            var done = 0
            while done < raw.count {
                let count = pwrite(fd, raw.baseAddress! + done, raw.count - done, off_t(done))
                if count < 0 {
                    if errno == EINTR { continue }
                    return (done, errno)
                }
                done += count
            }
            return (done, 0)
        }
        return code
    }

    /// The file's contents as text (at most 4 KiB); empty if it cannot be read.
    static func contents(_ fd: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let (count, _) = buffer.withUnsafeMutableBytes { readFully(fd, $0, at: 0) }
        return String(decoding: buffer.prefix(count), as: UTF8.self)
    }

    static var processID: Int32 { getpid() }
}
