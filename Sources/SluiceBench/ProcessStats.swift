import Foundation

/// CPU time and resident memory of a process, from /proc (Linux).
public struct ProcessSample: Sendable {
    /// User plus system CPU time, seconds.
    public var cpuSeconds: Double
    /// Resident set size, bytes.
    public var residentBytes: Int

    /// A sample of process `pid`, or nil if it cannot be read.
    public static func of(pid: Int32) -> ProcessSample? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let (_, user, system) = parseStat(stat) else { return nil }
        var resident = 0
        if let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
           let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) {
            resident = (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
        }
        return ProcessSample(cpuSeconds: user + system, residentBytes: resident)
    }

    /// This process.
    public static var current: ProcessSample {
        of(pid: getpid()) ?? ProcessSample(cpuSeconds: 0, residentBytes: 0)
    }
}

/// The name and the user and system CPU seconds in a /proc `stat` line (of a process or of a
/// thread): fields after "(comm)" start with the state (field 3); utime is 14, stime 15.
func parseStat(_ stat: String) -> (name: String, user: Double, system: Double)? {
    guard let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")") else { return nil }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
    let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
    return (String(stat[stat.index(after: open)..<close]), user / ticks, system / ticks)
}

/// CPU time of each thread of a process (/proc/PID/task), to attribute a process's CPU to its
/// loop thread, libzmq's I/O threads and the rest.
public struct ThreadSample: Sendable {
    public var name: String
    /// User and system CPU time, seconds.
    public var userSeconds: Double
    public var systemSeconds: Double

    /// Every thread of `pid`, by thread id (empty if /proc cannot be read).
    public static func of(pid: Int32) -> [Int: ThreadSample] {
        var result: [Int: ThreadSample] = [:]
        guard let tasks = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task") else { return [:] }
        for task in tasks {
            guard let tid = Int(task), let stat = try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/stat", encoding: .utf8),
                  let (name, user, system) = parseStat(stat) else { continue }
            result[tid] = ThreadSample(name: name, userSeconds: user, systemSeconds: system)
        }
        return result
    }
}

/// A process's CPU over an interval, split by thread: its loop thread, libzmq's I/O threads
/// and everything else (in the broker: the monitoring endpoint, the trace writer).
public struct ThreadCPU: Codable, Sendable, Equatable {
    public struct Share: Codable, Sendable, Equatable {
        /// CPU seconds in the interval.
        public var seconds: Double
        /// The part of it spent in the kernel (system time), seconds.
        public var systemSeconds: Double

        mutating func add(user: Double, system: Double) {
            seconds += user + system
            systemSeconds += system
        }
    }

    public var loop = Share(seconds: 0, systemSeconds: 0)
    public var io = Share(seconds: 0, systemSeconds: 0)
    public var other = Share(seconds: 0, systemSeconds: 0)

    /// What the threads used between two samples of the same process (threads that started
    /// in between count from zero).
    public init(from start: [Int: ThreadSample], to end: [Int: ThreadSample], loopName: String, ioPrefix: String) {
        for (tid, last) in end {
            let first = start[tid]
            let user = last.userSeconds - (first?.userSeconds ?? 0)
            let system = last.systemSeconds - (first?.systemSeconds ?? 0)
            if last.name == loopName {
                loop.add(user: user, system: system)
            } else if last.name.hasPrefix(ioPrefix) {
                io.add(user: user, system: system)
            } else {
                other.add(user: user, system: system)
            }
        }
    }
}

/// Raises this process's open-file limit to its hard limit (1,000 invokers need 1,000 sockets).
public func raiseFileLimit() {
    var limit = rlimit()
    guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
    limit.rlim_cur = limit.rlim_max
    _ = setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
}
