"""The only package that imports the heavy ML stack: every model behind a small Protocol."""
