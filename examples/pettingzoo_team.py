"""The JADE team as a PettingZoo AEC env: one agent per role, each with its own policy.

    python examples/pettingzoo_team.py

Here every agent is a scripted executor of ``jade_env.executors``, except the planner, which always decomposes;
replace any of them with your own policy (a function of the observation's system and user text).
"""

import json

import jade_env
from jade_env.executors import ScriptedTeam

env = jade_env.team_env("synthetic", n=100)
scripted = ScriptedTeam()
policies = {role: (lambda obs, role=role: scripted.act(role, obs)) for role in env.possible_agents}
policies["planner"] = lambda obs: "<workflow>QDS</workflow>" if json.loads(obs["fields"])["depth"] == 0 else "<workflow>R,AG</workflow>"

env.reset(seed=0)
returns = dict.fromkeys(env.possible_agents, 0.0)
for agent in env.agent_iter():
    obs, reward, terminated, truncated, info = env.last()
    returns[agent] += reward
    env.step(None if terminated or truncated else policies[agent](obs))
print(f"question: {info['question_id']}, prediction {info['prediction']!r}, F1 {info['metrics']['f1']:.2f}")
print("returns per agent:", {a: round(r, 2) for a, r in returns.items()})
env.close()
