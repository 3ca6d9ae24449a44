"""The README's boto3 example, run as written against a real server."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readme_boto3_example_runs(server, capsys):
    # The quick-start example creates a table, writes an item and prints it back.
    readme = (ROOT / "README.md").read_text()
    code = re.search(r"### boto3\n\n```python\n(.*?)```", readme, re.S).group(1)
    code = code.replace("http://127.0.0.1:8000", server.endpoint)
    code = code.replace('TableName="music"', 'TableName="readme_music"')
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "'artist': {'S': 'Nina'}" in out
    assert "'year': {'N': '1965'}" in out
