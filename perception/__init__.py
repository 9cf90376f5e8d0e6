"""The only package that imports the heavy ML stack: every model behind a small Protocol."""

import os

# Idle OpenMP threads sleep instead of spinning. torch's default spin-wait burns the cores that
# ffmpeg, PostgreSQL and the other scan threads need: on 2 shared cores MTCNN ran 8× slower in wall
# time (8 frames: 6.3 s against 0.73 s). Read when torch loads, so it is set before any model import.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
