"""Spoken-digit recognition for the enrollment challenge: pocketsphinx 5 with its bundled en-us
acoustic model and dictionary, constrained by a digits-only JSGF grammar (nothing downloaded)."""

from __future__ import annotations

import os
import tempfile
import threading

import numpy as np

from gate.settings import Settings

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
# Any sequence of digit words. A grammar fixed to exactly N digits was measured as well and
# recognised the same strings on voices/digits (docs/ENROLLMENT.md), so the open form is kept.
GRAMMAR = "#JSGF V1.0;\ngrammar digits;\npublic <digits> = ( " + " | ".join(WORDS) + " )+ ;\n"


class PocketsphinxDigits:
    model_id = "pocketsphinx-5-en-us@digits-jsgf"

    def __init__(self) -> None:
        from pocketsphinx import Decoder, get_model_path

        model = get_model_path()
        with tempfile.NamedTemporaryFile("w", suffix=".gram", delete=False) as fh:
            fh.write(GRAMMAR)
            grammar_path = fh.name
        try:
            self._decoder = Decoder(
                hmm=os.path.join(model, "en-us", "en-us"),
                dict=os.path.join(model, "en-us", "cmudict-en-us.dict"),
                jsgf=grammar_path,
                samprate=16_000,
                loglevel="FATAL",
            )
        finally:
            os.unlink(grammar_path)
        self._lock = threading.Lock()  # one utterance at a time per decoder

    def digits(self, pcm16k: np.ndarray) -> str:
        pcm = np.asarray(pcm16k, np.float32)
        if pcm.size == 0:
            return ""
        peak = float(np.abs(pcm).max())
        if peak > 0:  # the acoustic model expects speech near full scale; quiet takes are missed
            pcm = pcm / peak * 0.8
        raw = (np.clip(pcm, -1.0, 1.0) * 32767).astype(np.int16).tobytes()
        with self._lock:
            self._decoder.start_utt()
            self._decoder.process_raw(raw, full_utt=True)
            self._decoder.end_utt()
            hyp = self._decoder.hyp()
        if hyp is None:
            return ""
        return "".join(str(WORDS.index(w)) for w in hyp.hypstr.split() if w in WORDS)


def load_recognizer(settings: Settings) -> PocketsphinxDigits:
    return PocketsphinxDigits()
