"""Rights holders' opt-outs, the FAISS indexes, prompt and media scans, disputes."""
