"""Command-line applications (absl): train, sweep, estimate_mi."""
