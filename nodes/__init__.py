"""Graph nodes: one module per agent. Nodes are thin: they read state and call tools."""
