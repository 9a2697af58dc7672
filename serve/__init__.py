"""Ray Serve applications of quantray (one module per app; see serve/README.md)."""
