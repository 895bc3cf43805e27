"""Wrappers around the environments."""

from jade_env.wrappers.record_trajectories import RecordTrajectories, read_trajectories, replay

__all__ = ["RecordTrajectories", "read_trajectories", "replay"]
