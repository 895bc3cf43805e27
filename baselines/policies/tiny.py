"""A tiny randomly initialised chat model with a tokenizer trained on the fly: for tests, smoke runs and CI.

Nothing is downloaded: the byte-level BPE tokenizer is trained on text the project generates (role
prompts and Synthetic passages), and the Qwen2-architecture model (two layers, 64-dim) starts from
random weights with a fixed seed. It writes valid-looking tags only by chance; it exists to test the
plumbing (chat templates, batching, log-probabilities, PPO updates), not answer quality.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
SPECIAL_TOKENS = ["<|pad|>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>"]


def train_tokenizer(texts: Iterable[str], vocab_size: int = 800):
    """A byte-level BPE tokenizer trained on ``texts``, wrapped for ``transformers`` with a chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<|pad|>", eos_token="<|end|>")
    fast.chat_template = CHAT_TEMPLATE
    return fast


def corpus_texts(n_questions: int = 200, seed: int = 0) -> list[str]:
    """Training text for the tokenizer: every role's prompt and tags, plus Synthetic questions and passages."""
    from jade_env.data.synthetic import generate_world
    from jade_env.roles.ids import ROLES
    from jade_env.roles.prompts import system_text

    world = generate_world(n_questions=n_questions, seed=seed)
    texts = [system_text(r, few_shot=True) for r in ROLES]
    texts += ["<workflow>QR,R,DS,AG</workflow> <q1>a</q1><q2>b</q2> <query>q</query> <id>Document0,Document1</id> <answer>a</answer>"]
    texts += [e.question for e in world.examples] + [p.contents for p in world.corpus]
    return texts


def tiny_chat_model(seed: int = 0, hidden_size: int = 64, layers: int = 2, vocab_size: int = 800):
    """``(model, tokenizer)``: a random Qwen2-architecture model and a tokenizer trained on the fly."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tokenizer = train_tokenizer(corpus_texts(), vocab_size=vocab_size)
    torch.manual_seed(seed)
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=hidden_size * 2,
                         num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=4096, tie_word_embeddings=True,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    model = Qwen2ForCausalLM(config)
    model.eval()
    return model, tokenizer


def save_tiny_chat_model(path: str | Path, seed: int = 0) -> Path:
    """Write a tiny model and its tokenizer to ``path`` (loadable with ``HFChatPolicy.from_pretrained``)."""
    model, tokenizer = tiny_chat_model(seed=seed)
    path = Path(path)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
