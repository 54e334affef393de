"""Side-by-side benchmarks: tidings, Node socket.io, python-socketio and a bare floor.

Run ``python -m bench --quick`` (or ``bench/run``) from the repository root; see bench/README.md.
"""
