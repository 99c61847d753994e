import ArgumentParser
import Logging
import SluiceMonitor

/// `--log-format`: text for people, JSON for log aggregation.
enum LogFormat: String, ExpressibleByArgument, CaseIterable {
    case text
    case json

    func handlerFactory(level: Logger.Level) -> @Sendable (String) -> any LogHandler {
        switch self {
        case .text:
            return { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
        case .json:
            return { label in JSONLogHandler(label: label, logLevel: level) }
        }
    }
}

