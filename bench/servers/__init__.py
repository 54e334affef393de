"""The servers under test, each serving the same small app (join, echo, publish, mem)."""
