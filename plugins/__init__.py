"""Built-in vecbench plugins: in-house reference implementations and wrappers."""
