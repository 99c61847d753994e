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
              let close = stat.lastIndex(of: ")") else { return nil }
        // Fields after "(comm)": state is field 3; utime is 14 and stime 15 (1-based).
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        var resident = 0
        if let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
           let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) {
            resident = (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
        }
        return ProcessSample(cpuSeconds: (user + system) / ticks, residentBytes: resident)
    }

    /// This process.
    public static var current: ProcessSample {
        of(pid: getpid()) ?? ProcessSample(cpuSeconds: 0, residentBytes: 0)
    }
}

/// CPU time of each thread of a process (/proc/PID/task), to attribute a process's CPU to its
/// loop thread, libzmq's I/O threads and the rest.
public struct ThreadSample: Sendable {
    public var name: String
    /// User and system CPU time, seconds.
    public var userSeconds: Double
    public var systemSeconds: Double

    public init(name: String, userSeconds: Double, systemSeconds: Double) {
        self.name = name
        self.userSeconds = userSeconds
        self.systemSeconds = systemSeconds
    }

    /// Every thread of `pid`, by thread id (empty if /proc cannot be read).
    public static func of(pid: Int32) -> [Int: ThreadSample] {
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        var result: [Int: ThreadSample] = [:]
        guard let tasks = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task") else { return [:] }
        for task in tasks {
            guard let tid = Int(task), let stat = try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/stat", encoding: .utf8),
                  let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { continue }
            result[tid] = ThreadSample(name: String(stat[stat.index(after: open)..<close]), userSeconds: user / ticks, systemSeconds: system / ticks)
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

        public init(seconds: Double, systemSeconds: Double) {
            self.seconds = seconds
            self.systemSeconds = systemSeconds
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
            let share = Share(seconds: user + system, systemSeconds: system)
            if last.name == loopName {
                loop.seconds += share.seconds
                loop.systemSeconds += share.systemSeconds
            } else if last.name.hasPrefix(ioPrefix) {
                io.seconds += share.seconds
                io.systemSeconds += share.systemSeconds
            } else {
                other.seconds += share.seconds
                other.systemSeconds += share.systemSeconds
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
