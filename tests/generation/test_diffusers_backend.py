"""The diffusers backend, on the CPU, over a tiny randomly initialised text-to-video pipeline saved
to a temporary directory (the same loading path as a real model directory; nothing downloaded)."""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from gate.errors import BadRequest, ConfigurationError
from gate.settings import Settings
from generation.backends import AUDIO_RATE, RenderRequest, _speak
from generation.diffusers_backend import (
    DiffusersBackend,
    call_kwargs,
    fit_frames,
    generation_size,
    load_backend,
    snap_frames,
)

PROMPT = 'Shot 1: a red ball rolls across a table. Shot 2: a girl waves and says "hello there"'
STEPS = 2


def _tiny_tokenizer(directory: Path) -> Any:
    """A character-level CLIP tokenizer from a handmade vocabulary (no hub)."""
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for letter in "abcdefghijklmnopqrstuvwxyz":
        vocab[letter] = len(vocab)
        vocab[f"{letter}</w>"] = len(vocab)
    words = directory / "words"
    words.mkdir(exist_ok=True)
    (words / "vocab.json").write_text(json.dumps(vocab))
    (words / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(
        vocab=str(words / "vocab.json"), merges=str(words / "merges.txt"), model_max_length=77
    )


def _tiny_pipeline(directory: Path) -> Path:
    """ModelScope's architecture (TextToVideoSDPipeline) at toy size: a 2-level UNet3D, a 2-level
    VAE (native 32×32, so a 64×64 request is generated small and resized), a 2-layer CLIP text
    encoder and the handmade tokenizer."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, TextToVideoSDPipeline, UNet3DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    unet = UNet3DConditionModel(
        sample_size=16,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
        up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"),
        cross_attention_dim=32,
        attention_head_dim=4,
        norm_num_groups=32,
    )
    vae = AutoencoderKL(
        block_out_channels=(32, 64),
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        layers_per_block=1,
        sample_size=32,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=64,
            hidden_size=32,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=2,
            max_position_embeddings=77,
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
        )
    )
    tokenizer = _tiny_tokenizer(directory)
    scheduler = DDIMScheduler(beta_schedule="scaled_linear", clip_sample=False, set_alpha_to_one=False)
    pipe: Any = TextToVideoSDPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler
    )
    model_dir = directory / "tiny-t2v"
    pipe.save_pretrained(model_dir)
    # Fewer frames than a shot needs (6 at 8 fps over 0.75 s): the backend must hold frames.
    (model_dir / "cameogate.json").write_text(json.dumps({"steps": STEPS, "max_frames": 4}))
    return model_dir


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tiny_pipeline(tmp_path_factory.mktemp("diffusers"))


def _tiny_ltx(directory: Path, pipeline: str) -> Path:
    """LTX-Video's architecture at toy size (a transformer and a video VAE that compresses time
    4×, so frame counts must be 4k + 1), saved as `pipeline` (LTXPipeline or its image-to-video
    sibling, which share components)."""
    import diffusers
    import torch
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(0)
    transformer = diffusers.LTXVideoTransformer3DModel(
        in_channels=8,
        out_channels=8,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=4,
        attention_head_dim=8,
        cross_attention_dim=32,
        num_layers=1,
        caption_channels=32,
    )
    vae = diffusers.AutoencoderKLLTXVideo(
        latent_channels=8,
        block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, False, False),
        decoder_spatio_temporal_scaling=(True, True, False, False),
        decoder_inject_noise=(False, False, False, False, False),
        upsample_residual=(False, False, False, False),
        upsample_factor=(1, 1, 1, 1),
        timestep_conditioning=False,
        patch_size=1,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
    )
    text_encoder = T5EncoderModel(
        T5Config(vocab_size=64, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4, pad_token_id=1)
    )
    pipe: Any = getattr(diffusers, pipeline)(
        tokenizer=_tiny_tokenizer(directory),
        text_encoder=text_encoder,
        vae=vae,
        scheduler=diffusers.FlowMatchEulerDiscreteScheduler(),
        transformer=transformer,
    )
    model_dir = directory / pipeline
    pipe.save_pretrained(model_dir)
    return model_dir


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    import torch

    # One intra-op thread: on the shared 2-core machine torch's worker threads spin against
    # the other engineers' processes and made these toy renders 5-10× slower (measured).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def backend(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> DiffusersBackend:
    settings = Settings(var_dir=tmp_path_factory.mktemp("var"), diffusers_model_dir=model_dir)
    return load_backend(settings)


def _request(seed: int) -> RenderRequest:
    return RenderRequest(prompt=PROMPT, duration=1.5, width=64, height=64, fps=8, seed=seed)


@pytest.fixture(scope="module")
def clips(backend: DiffusersBackend, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Three renders shared by the tests below: seed 7 twice, seed 8 once."""
    out = tmp_path_factory.mktemp("clips")
    paths: dict[str, Path] = {}
    progress: list[float] = []
    for label, seed in (("a", 7), ("a_again", 7), ("b", 8)):
        paths[label] = out / f"{label}.mp4"
        backend.render(_request(seed), paths[label], progress=progress.append if label == "a" else _ignore)
    return {"paths": paths, "progress": progress}


def _ignore(_: float) -> None:
    pass


def _decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def test_renders_an_h264_aac_mp4_of_the_requested_size_duration_and_rate(clips: dict[str, Any]) -> None:
    with av.open(str(clips["paths"]["a"])) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert video.codec_context.name == "h264"
        assert (video.codec_context.width, video.codec_context.height) == (64, 64)
        assert video.average_rate == 8
        assert audio.codec_context.name == "aac"
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        assert container.duration is not None
        assert abs(container.duration / 1_000_000 - 1.5) < 0.1
    assert len(frames) == 12  # 1.5 s × 8 fps, from 2 shots of 4 generated frames each
    assert all(f.shape == (64, 64, 3) for f in frames)
    assert float(np.std(frames[0])) > 1.0  # the model's pixels, not a blank frame


def test_the_soundtrack_speaks_the_quoted_line(clips: dict[str, Any]) -> None:
    with av.open(str(clips["paths"]["a"])) as container:
        pcm = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
    spoken = _speak("hello there")[: AUDIO_RATE // 2]
    # The second shot (from 0.75 s) should be that line, give or take the AAC encoder's delay.
    start = int(0.75 * AUDIO_RATE)
    window = pcm[start : start + len(spoken) + 4096]
    scores = np.correlate(window, spoken, mode="valid")
    energy = np.sqrt(np.convolve(window**2, np.ones(len(spoken)), mode="valid") * np.sum(spoken**2))
    assert float(np.max(scores / np.maximum(energy, 1e-9))) > 0.8


def test_the_same_seed_renders_identical_frames(clips: dict[str, Any]) -> None:
    first, again = _decoded(clips["paths"]["a"]), _decoded(clips["paths"]["a_again"])
    assert len(first) == len(again)
    assert all(np.array_equal(x, y) for x, y in zip(first, again, strict=True))


def test_another_seed_renders_different_frames(clips: dict[str, Any]) -> None:
    first, other = _decoded(clips["paths"]["a"]), _decoded(clips["paths"]["b"])
    diff = np.mean([np.abs(x.astype(int) - y.astype(int)).mean() for x, y in zip(first, other, strict=True)])
    assert diff > 2.0


def test_progress_reports_every_denoising_step_and_ends_at_one(clips: dict[str, Any]) -> None:
    progress = clips["progress"]
    assert len(progress) == STEPS * 2 + 1  # two shots, then the finished file
    assert progress == sorted(progress)
    assert progress[-1] == 1.0


def test_a_cancelled_job_stops_during_denoising(backend: DiffusersBackend, tmp_path: Path) -> None:
    class Cancelled(Exception):
        pass

    def cancel(_: float) -> None:
        raise Cancelled

    with pytest.raises(Cancelled):
        backend.render(_request(7), tmp_path / "cancelled.mp4", progress=cancel)


class _Spy:
    """Records the arguments each pipeline call received, then runs the real pipeline."""

    def __init__(self, pipe: Any) -> None:
        self.pipe = pipe
        self.calls: list[dict[str, Any]] = []

    def __call__(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        return self.pipe(**kwargs)


def test_a_transformer_pipeline_gets_frame_counts_its_vae_accepts(tmp_path: Path) -> None:
    backend = DiffusersBackend(_tiny_ltx(tmp_path, "LTXPipeline"), steps=STEPS)
    spy = backend.pipe = _Spy(backend.pipe)
    request = RenderRequest(prompt="a kite over a beach", duration=1.0, width=64, height=48, fps=8, seed=3)
    backend.render(request, tmp_path / "ltx.mp4", progress=_ignore)
    (call,) = spy.calls
    assert call["num_frames"] == 9  # 8 wanted at 8 fps, snapped to 4k + 1
    assert call["frame_rate"] == 8
    assert call["output_type"] == "np"
    frames = _decoded(tmp_path / "ltx.mp4")
    assert len(frames) == 8
    assert frames[0].shape == (48, 64, 3)


def test_an_input_image_conditions_an_image_to_video_pipeline(tmp_path: Path) -> None:
    backend = DiffusersBackend(_tiny_ltx(tmp_path, "LTXImageToVideoPipeline"), steps=STEPS)
    assert backend.requires_input_image
    spy = backend.pipe = _Spy(backend.pipe)
    red, blue = np.zeros((90, 160, 3), np.uint8), np.zeros((90, 160, 3), np.uint8)
    red[:, :80], blue[:, 80:] = (250, 40, 40), (40, 40, 250)
    for name, photo in (("red", red), ("blue", blue)):
        request = RenderRequest(
            prompt="a kite", duration=0.5, width=64, height=48, fps=8, seed=3, input_frames=[photo]
        )
        backend.render(request, tmp_path / f"{name}.mp4", progress=_ignore)
    assert spy.calls[0]["image"].size == (64, 64)  # resized to the generation size
    reds, blues = _decoded(tmp_path / "red.mp4"), _decoded(tmp_path / "blue.mp4")
    assert not all(np.array_equal(x, y) for x, y in zip(reds, blues, strict=True))
    with pytest.raises(BadRequest) as refused:
        backend.render(
            RenderRequest(**{**request.__dict__, "input_frames": []}), tmp_path / "x.mp4", progress=_ignore
        )
    assert refused.value.code == "input_image_required"
    assert not (tmp_path / "x.mp4").exists()


def test_an_unset_model_dir_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="CAMEOGATE_DIFFUSERS_MODEL_DIR"):
        load_backend(Settings(var_dir=tmp_path))


def test_a_missing_model_dir_names_the_setting(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path, diffusers_model_dir=tmp_path / "no-such-model")
    with pytest.raises(ConfigurationError, match="CAMEOGATE_DIFFUSERS_MODEL_DIR"):
        load_backend(settings)


def test_a_directory_without_a_pipeline_names_the_setting(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"\0" * 16)
    with pytest.raises(ConfigurationError, match=r"CAMEOGATE_DIFFUSERS_MODEL_DIR.*model_index.json"):
        DiffusersBackend(tmp_path)


def test_a_bad_options_file_names_the_setting(tmp_path: Path) -> None:
    (tmp_path / "model_index.json").write_text("{}")
    (tmp_path / "cameogate.json").write_text(json.dumps({"steps": "many"}))
    settings = Settings(var_dir=tmp_path / "var", diffusers_model_dir=tmp_path)
    with pytest.raises(ConfigurationError, match=r"CAMEOGATE_DIFFUSERS_MODEL_DIR.*steps"):
        load_backend(settings)


def test_frame_counts_follow_the_models_temporal_rule_within_its_cap() -> None:
    assert snap_frames(6, 1, 16) == 6
    assert snap_frames(40, 1, 16) == 16
    assert snap_frames(24, 4, 81) == 25  # Wan: 4k + 1
    assert snap_frames(240, 4, 81) == 81
    assert snap_frames(30, 8, 161) == 33  # LTX: 8k + 1
    assert snap_frames(1, 4, 81) == 1


def test_fewer_generated_frames_are_held_evenly_and_more_are_thinned() -> None:
    frames = [np.full((2, 2, 3), i, np.uint8) for i in range(4)]
    assert [int(f[0, 0, 0]) for f in fit_frames(frames, 10)] == [0, 0, 0, 1, 1, 2, 2, 2, 3, 3]
    assert [int(f[0, 0, 0]) for f in fit_frames(frames, 2)] == [0, 2]


def test_generation_keeps_the_aspect_ratio_within_the_native_area() -> None:
    assert generation_size(1280, 720, (832, 480)) == (832, 480)
    assert generation_size(64, 64, (32, 32)) == (32, 32)
    assert generation_size(320, 192, (1280, 720)) == (320, 192)  # never above the request


def _image_to_video(
    prompt: str,
    image: Any,
    num_frames: int = 49,
    height: int = 480,
    width: int = 720,
    num_inference_steps: int = 50,
    generator: Any = None,
    output_type: str = "pil",
    callback_on_step_end: Any = None,
) -> None: ...


def _text_to_video(prompt: str, num_frames: int = 16, height: int = 256, width: int = 256) -> None: ...


def _kwargs(fn: Any, image: np.ndarray | None, steps: list[int]) -> dict[str, Any]:
    return call_kwargs(
        inspect.signature(fn).parameters,
        prompt="a kite",
        num_frames=9,
        size=(64, 32),
        steps=3,
        fps=24,
        image=image,
        on_step=lambda: steps.append(1),
    )


def test_an_input_image_is_passed_to_pipelines_that_take_one() -> None:
    steps: list[int] = []
    kwargs = _kwargs(_image_to_video, np.zeros((90, 160, 3), np.uint8), steps)
    assert kwargs["image"].size == (64, 32)
    assert kwargs["output_type"] == "np"
    assert (kwargs["num_frames"], kwargs["width"], kwargs["height"]) == (9, 64, 32)
    assert kwargs["callback_on_step_end"](None, 0, 0, {}) == {}
    assert steps == [1]


def test_text_only_pipelines_ignore_an_input_image() -> None:
    kwargs = _kwargs(_text_to_video, np.zeros((32, 32, 3), np.uint8), [])
    assert set(kwargs) == {"prompt", "num_frames", "height", "width"}
