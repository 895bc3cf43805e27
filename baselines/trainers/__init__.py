"""Integrations with the RL engines LLM researchers use: TRL (:mod:`.trl_grpo`) and verl (:mod:`.verl_agent_loop`).

:mod:`.samples` turns played episodes into the samples each of them trains on.
"""
