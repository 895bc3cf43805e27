"""Language-model policies: a local HuggingFace chat model, or an OpenAI-compatible endpoint."""

from baselines.policies.hf_chat import Generation, HFChatPolicy

__all__ = ["Generation", "HFChatPolicy"]
