"""`make bench` and the bfloat16 study: speed and numerics of the agent's updates on this machine."""
