"""A trained agent in hand: load a trial's policy without Ray (`agents.load`), evaluate it
(`python -m agents.evaluate`), render it to an MP4 (`python -m agents.video`) and export it for plain torch
(`python -m agents.export`). docs/agents.md says how."""
