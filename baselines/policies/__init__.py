"""Language-model policies: a local HuggingFace chat model, or an OpenAI-compatible endpoint.

Both constrain every role output to its grammar by default (:mod:`jade_env.roles.grammars`); see
docs/language_models.md. ``jade-rag model get smollm2`` obtains a real small instruct model.
"""

from baselines.policies.hf_chat import Generation, HFChatPolicy
from baselines.policies.openai_chat import OpenAIChatPolicy

__all__ = ["Generation", "HFChatPolicy", "OpenAIChatPolicy"]
