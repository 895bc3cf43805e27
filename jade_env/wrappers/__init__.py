"""Wrappers around the environments."""

from jade_env.wrappers.record_trajectories import RecordTrajectories, TrajectoryRecorder, read_trajectories, replay

__all__ = ["RecordTrajectories", "TrajectoryRecorder", "read_trajectories", "replay"]
