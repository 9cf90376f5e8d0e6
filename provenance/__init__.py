"""C2PA signing and verification, watermarks, fingerprints, the manifest store."""
