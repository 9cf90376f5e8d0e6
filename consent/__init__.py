"""Cameos: enrollment with liveness, permissions, approvals, restrictions, revocation, co-ownership."""
