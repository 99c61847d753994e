/// This build's version, as `sluice --version`, `/status` and `sluice_build_info` show it.
public enum SluiceVersion {
    public static let current = "0.1.0 (protocol SLU/1)"
}
