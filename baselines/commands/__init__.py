"""``jade-rag`` subcommands that live with the baselines (found through the ``jade_rag.commands`` entry points)."""
