import CSluicePlugin

// An external routing strategy, built as a shared library and loaded by
// `sluice broker --plugin .build/debug/libSluiceFirstFitPlugin.so --strategy first-fit`.
//
// first-fit: the eligible invoker at the lowest position whose load is below `max-load`.
// It packs work onto as few invokers as it can, which keeps the others idle (and, in a
// real cluster, lets them scale down). It knows only the C entry point in sluice_plugin.h.

/// One strategy instance: its parameters.
final class FirstFit {
    let maxLoad: Double

    init(maxLoad: Double) { self.maxLoad = maxLoad }
}

private func create(_ parameters: UnsafePointer<CChar>?, _ error: UnsafeMutablePointer<CChar>?, _ errorSize: Int32) -> UnsafeMutableRawPointer? {
    var maxLoad = 1.0
    let text = parameters.map { String(cString: $0) } ?? ""
    for line in text.split(separator: "\n") {
        let pair = line.split(separator: "=", maxSplits: 1).map(String.init)
        guard pair.count == 2, pair[0] == "max-load", let value = Double(pair[1]), value > 0, value <= 1 else {
            let message = pair.first == "max-load"
                ? "routing.first-fit.max-load must be a number in (0, 1]; got '\(pair.count == 2 ? pair[1] : "")'"
                : "unknown parameter routing.first-fit.\(pair.first ?? ""); known: max-load"
            if let error, errorSize > 0 {
                let bytes = Array(message.utf8.prefix(Int(errorSize) - 1)).map { CChar(bitPattern: $0) } + [0]
                bytes.withUnsafeBufferPointer { error.update(from: $0.baseAddress!, count: bytes.count) }
            }
            return nil
        }
        maxLoad = value
    }
    return Unmanaged.passRetained(FirstFit(maxLoad: maxLoad)).toOpaque()
}

private func destroy(_ state: UnsafeMutableRawPointer?) {
    guard let state else { return }
    Unmanaged<FirstFit>.fromOpaque(state).release()
}

private func place(_ state: UnsafeMutableRawPointer?, _ request: UnsafePointer<sluice_request_t>?,
                   _ invokers: UnsafePointer<sluice_invoker_t>?, _ count: Int32, _ decision: UnsafeMutablePointer<sluice_decision_t>?) {
    guard let state, let decision else { return }
    let strategy = Unmanaged<FirstFit>.fromOpaque(state).takeUnretainedValue()
    decision.pointee.kind = Int32(SLUICE_DECISION_WAIT)
    guard let invokers, count > 0 else { return }
    var best: sluice_invoker_t?
    for index in 0..<Int(count) {
        let invoker = invokers[index]
        guard invoker.eligible == 1, invoker.slots > 0 else { continue }
        let load = Double(invoker.in_flight) / Double(invoker.slots)
        guard load < strategy.maxLoad else { continue }
        if best == nil || invoker.position < best!.position { best = invoker }
    }
    if let best {
        decision.pointee.kind = Int32(SLUICE_DECISION_PLACE)
        decision.pointee.position = best.position
    }
}

nonisolated(unsafe) private let table: UnsafeMutablePointer<sluice_strategy_plugin_t> = {
    let table = UnsafeMutablePointer<sluice_strategy_plugin_t>.allocate(capacity: 1)
    table.initialize(to: sluice_strategy_plugin_t(
        api_version: SLUICE_PLUGIN_API_VERSION,
        name: UnsafeRawPointer(("first-fit" as StaticString).utf8Start).assumingMemoryBound(to: CChar.self),
        summary: UnsafeRawPointer(("the lowest-position eligible invoker below max-load (packs work)" as StaticString).utf8Start)
            .assumingMemoryBound(to: CChar.self),
        create: create, destroy: destroy, place: place))
    return table
}()

/// The plugin's entry point (SLUICE_PLUGIN_ENTRY_POINT).
@_cdecl("sluice_strategy_plugin_v1")
public func sluiceStrategyPluginV1() -> UnsafePointer<sluice_strategy_plugin_t> {
    UnsafePointer(table)
}
