"""Cameo enrollment: liveness challenge, capture verification, encrypted templates."""
