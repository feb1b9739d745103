"""Data shipped with the package: probe corpus, demo adapters, bundled snapshots."""
