"""The README's Python example runs as written (on the default backend) and produces activity."""

import os
import re

README = os.path.join(os.path.dirname(__file__), "..", "README.md")


def test_readme_python_example_runs():
    text = open(README, encoding="utf-8").read()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README has no python example"
    ns = {}
    exec(compile(blocks[0], "README.md", "exec"), ns)  # noqa: S102 - our own README
    times, ids, exc = ns["times"], ns["ids"], ns["exc"]
    assert len(times) == len(ids) > 100
    assert 1.0 < exc.rate() < 200.0
    t, v, _ = ns["t"], ns["v"], None
    assert v.shape == (len(t), 3)
